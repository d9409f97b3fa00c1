package amicrypt

import (
	"encoding/json"
	"fmt"
	"sort"
	"strings"

	registryimage "github.com/hashicorp/packer-plugin-sdk/packer/registry/image"

	"github.com/amicrypt/amicrypt/internal/pipelinerun"
	"github.com/amicrypt/amicrypt/workflows"
)

// BuilderID identifies the post-processor's artifacts.
const BuilderID = "amicrypt.post-processor.amicrypt"

// State keys of the artifact besides "generated_data" and HCP Packer's
// registry metadata.
const (
	// StateReport is the run's full report, as JSON (amicrypt run --json's).
	StateReport = "amicrypt.report"
	// StateRunID is the run id (`amicrypt status RUN`).
	StateRunID = "amicrypt.run_id"
)

// Artifact is the encrypted AMIs of a run: one per target account and region
// that succeeded. Without `wait` it names the started run only; when the
// preflight's predicted failures kept the run from starting (and fail_on let
// the build go on) it holds no AMI.
type Artifact struct {
	RunID string
	// WorkflowID is the run's workflow; empty when the run was not started.
	WorkflowID string
	// Sources are the unencrypted source AMIs, region → AMI id.
	Sources map[string]string
	// Report is the run's report; nil when the post-processor did not wait,
	// or did not start the run.
	Report *workflows.Report
	// Preflight is the preflight's plan when its predicted failures kept the
	// run from starting: nothing was shared or copied, Report is nil.
	Preflight *workflows.PlanReport
}

// Image is one encrypted AMI.
type Image struct {
	Account, Name, Region, ImageID, SourceImageID, KeyARN string
}

// Images are the encrypted AMIs of the targets that succeeded, by account
// then region.
func (a *Artifact) Images() []Image {
	if a.Report == nil {
		return nil
	}
	var out []Image
	for _, t := range a.Report.Targets {
		if t.Status != workflows.StatusSucceeded || t.EncryptedImageID == "" {
			continue
		}
		out = append(out, Image{Account: t.Account, Name: t.Name, Region: t.Region, ImageID: t.EncryptedImageID, SourceImageID: t.SourceImageID, KeyARN: t.KeyARN})
	}
	sort.Slice(out, func(i, j int) bool {
		if out[i].Account != out[j].Account {
			return out[i].Account < out[j].Account
		}
		return out[i].Region < out[j].Region
	})
	return out
}

// BuilderId is the post-processor's own id.
func (a *Artifact) BuilderId() string { return BuilderID }

// Files is empty: the artifact is AMIs.
func (a *Artifact) Files() []string { return nil }

// Id lists account:region:ami-id of every encrypted AMI, comma-separated.
func (a *Artifact) Id() string {
	images := a.Images()
	parts := make([]string, len(images))
	for i, im := range images {
		parts[i] = im.Account + ":" + im.Region + ":" + im.ImageID
	}
	return strings.Join(parts, ",")
}

// String is a readable summary: the run, then one line per encrypted AMI.
func (a *Artifact) String() string {
	var b strings.Builder
	if a.Preflight != nil {
		predicted := pipelinerun.PredictedFailures(a.Preflight)
		fmt.Fprintf(&b, "amicrypt run %s from %s not started: no AMI was copied; the preflight predicted %d of %d targets to fail (%s)",
			a.RunID, describeSources(a.Sources), len(predicted), len(a.Preflight.Targets), strings.Join(predicted, ", "))
		return b.String()
	}
	if a.Report == nil {
		fmt.Fprintf(&b, "amicrypt run %s started from %s (not waited for; follow it with: amicrypt status %s)", a.RunID, describeSources(a.Sources), a.RunID)
		return b.String()
	}
	images := a.Images()
	noun := "AMIs"
	if len(images) == 1 {
		noun = "AMI"
	}
	fmt.Fprintf(&b, "amicrypt run %s: %d encrypted %s from %s (%s)", a.RunID, len(images), noun, describeSources(a.Sources), pipelinerun.SummaryLine(a.Report))
	for _, im := range images {
		fmt.Fprintf(&b, "\n%s %s (%s): %s", im.Account, im.Region, pipelinerun.Dash(im.Name), im.ImageID)
	}
	return b.String()
}

// State answers "generated_data" (for later post-processors such as
// manifest), HCP Packer's registry metadata, and the report and run id.
func (a *Artifact) State(name string) interface{} {
	switch name {
	case "generated_data":
		return a.generatedData()
	case StateReport:
		return a.reportJSON()
	case StateRunID:
		return a.RunID
	case registryimage.ArtifactStateURI:
		var out []*registryimage.Image
		for _, im := range a.Images() {
			out = append(out, &registryimage.Image{
				ImageID: im.ImageID, ProviderName: "aws", ProviderRegion: im.Region, SourceImageID: im.SourceImageID,
				Labels: map[string]string{"account": im.Account, "name": im.Name, "kms_key_arn": im.KeyARN, "amicrypt_run": a.RunID},
			})
		}
		return out
	}
	return nil
}

// generatedData holds strings only, so it crosses Packer's RPC as is.
func (a *Artifact) generatedData() map[string]interface{} {
	return map[string]interface{}{
		"AmicryptRunID":      a.RunID,
		"AmicryptWorkflowID": a.WorkflowID,
		"AmicryptSourceAMIs": describeSources(a.Sources),
		"AmicryptImages":     a.Id(),
		"AmicryptReport":     a.reportJSON(),
	}
}

func (a *Artifact) reportJSON() string {
	if a.Report == nil {
		return ""
	}
	b, err := json.Marshal(a.Report)
	if err != nil {
		return ""
	}
	return string(b)
}

// Destroy does nothing: the encrypted AMIs live in the target accounts,
// which the post-processor has no credentials for; amicrypt's retention
// (`keep`) retires old ones.
func (a *Artifact) Destroy() error { return nil }
