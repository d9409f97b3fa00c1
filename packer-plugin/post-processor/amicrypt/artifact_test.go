package amicrypt

import (
	"encoding/json"
	"reflect"
	"strings"
	"testing"

	packersdk "github.com/hashicorp/packer-plugin-sdk/packer"
	registryimage "github.com/hashicorp/packer-plugin-sdk/packer/registry/image"

	"github.com/amicrypt/amicrypt/activities"
	"github.com/amicrypt/amicrypt/workflows"
)

var _ packersdk.Artifact = (*Artifact)(nil)

func TestSourcesFromAmazonArtifacts(t *testing.T) {
	for _, c := range []struct {
		builderID, id string
		want          map[string]string
	}{
		{"mitchellh.amazonebs", "us-east-1:ami-0123456789abcdef0", map[string]string{"us-east-1": "ami-0123456789abcdef0"}},
		// amazon-ebs with ami_regions: one AMI per region, sorted by region.
		{"mitchellh.amazonebs", "eu-west-1:ami-0b0000000000e0001,us-east-1:ami-0b0000000000a0001", map[string]string{"eu-west-1": "ami-0b0000000000e0001", "us-east-1": "ami-0b0000000000a0001"}},
		{"mitchellh.amazon.chroot", "us-west-2:ami-12345678", map[string]string{"us-west-2": "ami-12345678"}},
		{"mitchellh.amazon.ebssurrogate", "ap-southeast-2:ami-12345678", map[string]string{"ap-southeast-2": "ami-12345678"}},
		{"mitchellh.amazon.instance", "us-east-1:ami-12345678", map[string]string{"us-east-1": "ami-12345678"}},
		{"packer.post-processor.amazon-import", "us-east-1:ami-12345678", map[string]string{"us-east-1": "ami-12345678"}},
		// Another component passing an amazon artifact's id on.
		{"example.wrapper", "us-east-1:ami-12345678", map[string]string{"us-east-1": "ami-12345678"}},
	} {
		got, err := sourcesFromArtifact(c.builderID, c.id)
		if err != nil {
			t.Errorf("%s %q: %v", c.builderID, c.id, err)
			continue
		}
		if !reflect.DeepEqual(got, c.want) {
			t.Errorf("%s %q: got %v, want %v", c.builderID, c.id, got, c.want)
		}
	}
}

func TestArtifactsWithoutAnAMIAreClearErrors(t *testing.T) {
	for _, c := range []struct{ builderID, id, want string }{
		{"mitchellh.amazonebs", "", "the input artifact (amazon-ebs) has no AMI"},
		{"packer.null", "Did not export anything. This is the null builder", "is not an AMI"},
		{"mitchellh.amazon.ebsvolume", "us-east-1:vol-0123456789abcdef0", "holds EBS volumes"},
		{"packer.docker", "sha256:abc", "is not an AMI"},
		{BuilderID, "222222222222:us-east-1:ami-12345678", "amicrypt's own encrypted AMIs"},
		{"mitchellh.amazonebs", "us-est-1:ami-12345678", "us-est-1"},
		{"mitchellh.amazonebs", "us-east-1:ami-1,us-east-1:ami-12345678", "ami-1"},
	} {
		_, err := sourcesFromArtifact(c.builderID, c.id)
		if err == nil || !strings.Contains(err.Error(), c.want) {
			t.Errorf("%s %q: want an error containing %q, got %v", c.builderID, c.id, c.want, err)
		}
		if err != nil && !strings.Contains(err.Error(), "source_amis") && c.builderID != "mitchellh.amazonebs" {
			t.Errorf("%s: the error should say source_amis is the way out: %v", c.builderID, err)
		}
	}
}

func sampleReport() *workflows.Report {
	return &workflows.Report{
		RunID:   "1cabcc552c3c",
		Sources: map[string]string{"us-east-1": "ami-0b0000000000a0001"},
		Targets: []workflows.TargetReport{
			{Account: "444444444444", Name: "legacy-batch", Region: "us-east-1", Status: workflows.StatusFailed,
				Step: "key", Diagnosis: &activities.Diagnosis{Code: activities.F2, Cause: "the key policy leaves Auto Scaling out", Fix: "add the statements"}},
			{Account: "222222222222", Name: "payments-prod", Region: "us-east-1", Status: workflows.StatusSucceeded, EncryptedImageID: "ami-0c0000000000a0001", SourceImageID: "ami-0b0000000000a0001", KeyARN: "arn:aws:kms:us-east-1:222222222222:key/k"},
			{Account: "222222222222", Name: "payments-prod", Region: "eu-west-1", Status: workflows.StatusSucceeded, EncryptedImageID: "ami-0c0000000000e0001", SourceImageID: "ami-0b0000000000e0001"},
		},
		Summary: map[string]int{workflows.StatusSucceeded: 2, workflows.StatusFailed: 1},
	}
}

func TestArtifactListsTheEncryptedAMIs(t *testing.T) {
	a := &Artifact{RunID: "1cabcc552c3c", WorkflowID: "amicrypt-run-1cabcc552c3c", Sources: map[string]string{"us-east-1": "ami-0b0000000000a0001"}, Report: sampleReport()}
	if a.BuilderId() != BuilderID || a.Files() != nil || a.Destroy() != nil {
		t.Error("builder id, files or destroy")
	}
	if got, want := a.Id(), "222222222222:eu-west-1:ami-0c0000000000e0001,222222222222:us-east-1:ami-0c0000000000a0001"; got != want {
		t.Errorf("Id() = %q, want %q", got, want)
	}
	s := a.String()
	for _, want := range []string{"run 1cabcc552c3c: 2 encrypted AMIs", "3 targets: 2 succeeded, 1 failed", "222222222222 us-east-1 (payments-prod): ami-0c0000000000a0001"} {
		if !strings.Contains(s, want) {
			t.Errorf("String() lacks %q:\n%s", want, s)
		}
	}
	gd, ok := a.State("generated_data").(map[string]interface{})
	if !ok {
		t.Fatalf("generated_data is %T", a.State("generated_data"))
	}
	var back workflows.Report
	if err := json.Unmarshal([]byte(gd["AmicryptReport"].(string)), &back); err != nil || len(back.Targets) != 3 || back.Targets[0].Diagnosis.Code != activities.F2 {
		t.Errorf("generated_data's report: %v %+v", err, back)
	}
	if gd["AmicryptImages"] != a.Id() || gd["AmicryptRunID"] != "1cabcc552c3c" {
		t.Errorf("generated_data %v", gd)
	}
	if a.State(StateReport) != gd["AmicryptReport"] || a.State(StateRunID) != "1cabcc552c3c" || a.State("nothing") != nil {
		t.Error("report, run id or unknown state")
	}
	images, ok := a.State(registryimage.ArtifactStateURI).([]*registryimage.Image)
	if !ok || len(images) != 2 || images[1].ProviderRegion != "us-east-1" || images[1].ImageID != "ami-0c0000000000a0001" || images[1].Labels["account"] != "222222222222" {
		t.Errorf("registry metadata %+v", images)
	}
}

func TestArtifactOfARunNotWaitedFor(t *testing.T) {
	a := &Artifact{RunID: "1cabcc552c3c", Sources: map[string]string{"us-east-1": "ami-0b0000000000a0001"}}
	if a.Id() != "" || !strings.Contains(a.String(), "amicrypt status 1cabcc552c3c") {
		t.Errorf("Id %q String %q", a.Id(), a.String())
	}
}

func TestFailedTargetsCarryTheirDiagnosis(t *testing.T) {
	lines := failedTargets(sampleReport())
	if len(lines) != 1 || !strings.Contains(lines[0], "444444444444 us-east-1 (legacy-batch): failed") || !strings.Contains(lines[0], "F2 the key policy leaves Auto Scaling out") || !strings.Contains(lines[0], "failed at key: F2") {
		t.Errorf("%q", lines)
	}
}

// A run the preflight kept from starting: no AMI, and the predicted failures
// say why.
func TestArtifactOfARunNotStarted(t *testing.T) {
	plan := &workflows.PlanReport{RunID: "1cabcc552c3c", Targets: []activities.TargetPlan{
		{Account: "222222222222", Region: "us-east-1", Outcome: activities.PlanChange},
		{Account: "444444444444", Region: "us-east-1", Outcome: activities.PlanFail, Failures: []activities.Diagnosis{{Code: activities.F2, Cause: "c", Fix: "f"}}},
	}}
	a := &Artifact{RunID: "1cabcc552c3c", Sources: map[string]string{"us-east-1": "ami-0b0000000000a0001"}, Preflight: plan}
	if a.Id() != "" || len(a.Images()) != 0 || a.State(StateReport) != "" {
		t.Errorf("Id %q, images %v, report %q: want none", a.Id(), a.Images(), a.State(StateReport))
	}
	s := a.String()
	for _, want := range []string{"run 1cabcc552c3c from us-east-1:ami-0b0000000000a0001 not started: no AMI was copied", "predicted 1 of 2 targets to fail (444444444444/us-east-1 F2)"} {
		if !strings.Contains(s, want) {
			t.Errorf("String() lacks %q:\n%s", want, s)
		}
	}
	if gd := a.State("generated_data").(map[string]interface{}); gd["AmicryptImages"] != "" || gd["AmicryptWorkflowID"] != "" {
		t.Errorf("generated_data %v", gd)
	}
}
