package pipelinerun

import (
	"bytes"
	"strings"
	"testing"
	"time"

	"github.com/amicrypt/amicrypt/activities"
	"github.com/amicrypt/amicrypt/workflows"
)

const (
	oldKey = "arn:aws:kms:us-east-1:222222222222:key/11111111-1111-4111-8111-111111111111"
	newKey = "arn:aws:kms:us-east-1:222222222222:key/22222222-2222-4222-8222-222222222222"
)

func TestWriteRotation(t *testing.T) {
	start := time.Date(2026, 11, 23, 14, 0, 0, 0, time.UTC)
	end := start.Add(42 * time.Second)
	deletion := time.Date(2026, 12, 23, 14, 0, 0, 0, time.UTC)
	r := &workflows.Report{RunID: "rotation-222222222222-20261123T140000", Kind: workflows.KindRotation, Reason: "leaked", Operator: "alice@host",
		Targets: []workflows.TargetReport{
			{Account: "222222222222", Name: "payments-prod", Region: "us-east-1", Status: workflows.StatusSucceeded, StartedAt: &start, FinishedAt: &end,
				OldKeyARN: oldKey, KeyARN: newKey, AliasMoved: true,
				Images:       []activities.RekeyedImage{{OldImageID: "ami-0c0000000000a0001", NewImageID: "ami-0c0000000000a0009", Status: "proven", Boot: activities.BootResult{Result: activities.BootInService, InstanceID: "i-0123"}}},
				Published:    []string{"ssm:/images/base", "launch-template:base"},
				Deregistered: []string{"ami-0c0000000000a0001"},
				OldKeys:      []activities.OldKeyFate{{KeyARN: oldKey, State: "PendingDeletion", DeletionDate: &deletion, RevokedGrants: []string{"g1"}}}},
			{Account: "222222222222", Name: "payments-prod", Region: "eu-west-1", Status: workflows.StatusSucceeded,
				OldKeyARN: "arn:aws:kms:eu-west-1:222222222222:key/33333333-3333-4333-8333-333333333333", KeyARN: "arn:aws:kms:eu-west-1:222222222222:key/44444444-4444-4444-8444-444444444444", AliasMoved: true,
				OldKeys: []activities.OldKeyFate{{KeyARN: "arn:aws:kms:eu-west-1:222222222222:key/33333333-3333-4333-8333-333333333333", State: "Enabled", HeldBy: []string{"vol-0abc (in-use by i-0def)"}}}},
			{Account: "222222222222", Region: "ap-south-1", Status: workflows.StatusFailed, Step: workflows.StepBootProof, OldKeyARN: oldKey, KeyARN: newKey,
				Images:    []activities.RekeyedImage{{OldImageID: "ami-1", NewImageID: "ami-2", Status: "failed", Boot: activities.BootResult{Result: activities.BootFailed, Message: "Client.InternalError: Client error on launch"}}},
				Diagnosis: &activities.Diagnosis{Code: "F2", Cause: "the new key's policy leaves Auto Scaling out", Fix: "add the statements"}},
		}}
	r.Summary = workflows.Summary(r.Targets)
	var b bytes.Buffer
	WriteTable(&b, r)
	out := b.String()
	for _, want := range []string{
		"rotation rotation-222222222222-20261123T140000 (reason leaked, by alice@host)\n",
		"11111111-1111-4111-8111-111111111111 → 22222222-2222-4222-8222-222222222222  moved  1/1 proven  42s",
		"  key          " + oldKey + " → " + newKey + "  (alias moved)\n",
		"  image        ami-0c0000000000a0001 → ami-0c0000000000a0009  proven, boot InService (i-0123)\n",
		"  repointed    ssm:/images/base, launch-template:base\n",
		"  deregistered ami-0c0000000000a0001 (with their snapshots)\n",
		"  old key      " + oldKey + " PendingDeletion until 2026-12-23; 1 amicrypt grant(s) revoked\n",
		"still Enabled, held by vol-0abc (in-use by i-0def)\n",
		"  image        none under the old key\n",
		"failed, boot Failed: Client.InternalError: Client error on launch",
		"222222222222 ap-south-1 (-) failed at boot-proof: F2 the new key's policy leaves Auto Scaling out\n  fix: add the statements\n",
		"the alias and everything published still name the old key 11111111-1111-4111-8111-111111111111",
		"3 targets: 2 succeeded, 1 failed\n",
	} {
		if !strings.Contains(out, want) {
			t.Errorf("the rotation's report lacks %q:\n%s", want, out)
		}
	}
}

func TestWriteSweep(t *testing.T) {
	r := &workflows.Report{RunID: "amicrypt-sweep-2026-11-23T16:00:00Z", Kind: workflows.KindSweep, Operator: "schedule amicrypt-sweep",
		Keys: []activities.KeyHealth{
			{Account: "222222222222", Region: "us-east-1", Alias: "alias/amicrypt", KeyARN: newKey, Managed: true, RotationEnabled: true, AgeDays: 12},
			{Account: "333333333333", Region: "us-east-1", Alias: "alias/amicrypt", KeyARN: oldKey, Managed: true, RotationEnabled: true, RotationRepaired: true, AgeDays: 400,
				PolicyDrift: []string{"AllowAutoScalingUse", "AllowAttachment"}, PolicyRepaired: true, Due: "scheduled", Writes: 3,
				Findings: []string{"the policy lacked 2 required statements: put back, keeping the owner's"}},
			{Account: "444444444444", Region: "us-east-1", Alias: "alias/amicrypt", KeyARN: oldKey, RetireTag: "leaked", Due: "leaked"},
			{Account: "555555555555", Region: "eu-west-1", Alias: "alias/amicrypt", KeyARN: newKey, Managed: true, StaleImages: []string{"ami-0aa"}, StaleKeys: []string{oldKey}, Rekey: true},
			{Account: "666666666666", Region: "us-east-1", Alias: "alias/amicrypt", Missing: true},
			{Account: "777777777777", Region: "us-east-1", Alias: "alias/amicrypt", Error: &activities.Diagnosis{Code: "F7", Cause: "cannot assume the role", Fix: "fix the trust policy"}},
		},
		Rotations: []string{"amicrypt-rotate-333333333333", "amicrypt-rotate-444444444444"},
	}
	var b bytes.Buffer
	WriteTable(&b, r)
	out := squeeze(b.String())
	for _, want := range []string{
		"sweep amicrypt-sweep-2026-11-23T16:00:00Z (by schedule amicrypt-sweep)\n",
		"ACCOUNT REGION KEY ROTATION AGE DRIFT STALE IMAGES DUE WRITES\n",
		"222222222222 us-east-1 22222222-2222-4222-8222-222222222222 on 12d - - - 0\n",
		"333333333333 us-east-1 11111111-1111-4111-8111-111111111111 on (turned on) 400d 2 repaired - rotate (scheduled) 3\n",
		"444444444444 us-east-1 11111111-1111-4111-8111-111111111111 (adopted) off 0d - - rotate (leaked) 0\n",
		"555555555555 eu-west-1 22222222-2222-4222-8222-222222222222 off 0d - ami-0aa re-encrypt 0\n",
		"666666666666 us-east-1 missing - - - - - 0\n",
		"777777777777 us-east-1 error: F7 - - - - - 0\n",
		"- the policy lacked 2 required statements: put back, keeping the owner's\n",
		"not inspected: F7 cannot assume the role\nfix: fix the trust policy\n",
		"rotations started: amicrypt-rotate-333333333333, amicrypt-rotate-444444444444\n",
		"6 keys: 1 healthy, 3 due, 1 missing, 1 not inspected; 3 write call(s); 2 rotation(s) started\n",
	} {
		if !strings.Contains(out, want) {
			t.Errorf("the sweep's report lacks %q:\n%s", want, out)
		}
	}
}

func TestProgressTrackerFollowsASweep(t *testing.T) {
	p := NewProgressTracker()
	p.Now = func() time.Time { return time.Date(2026, 11, 23, 14, 0, 0, 0, time.UTC) }
	r := &workflows.Report{Kind: workflows.KindSweep, Keys: []activities.KeyHealth{{Account: "222222222222", Region: "us-east-1", KeyARN: newKey}}}
	if got := p.Changes(r); len(got) != 1 || !strings.HasSuffix(got[0], "inspected: healthy") {
		t.Fatalf("first key: %q", got)
	}
	r.Keys = append(r.Keys, activities.KeyHealth{Account: "333333333333", Region: "us-east-1", KeyARN: oldKey, Due: "leaked"})
	r.Rotations = []string{"amicrypt-rotate-333333333333"}
	got := p.Changes(r)
	want := []string{
		"14:00:00  333333333333 -              us-east-1  inspected: rotation due (leaked)",
		"14:00:00  rotation amicrypt-rotate-333333333333 started",
	}
	if strings.Join(got, "\n") != strings.Join(want, "\n") {
		t.Errorf("got\n%s\nwant\n%s", strings.Join(got, "\n"), strings.Join(want, "\n"))
	}
	if got := p.Changes(r); len(got) != 0 {
		t.Errorf("nothing moved, got %q", got)
	}
}

func TestRotationAndSweepIDs(t *testing.T) {
	now := time.Date(2026, 11, 23, 17, 4, 5, 0, time.FixedZone("CET", 3600))
	if got := RotationID("222222222222", now); got != "rotation-222222222222-20261123T160405" {
		t.Errorf("RotationID = %s", got)
	}
	if got := SweepID(now); got != "20261123T160405.000Z" {
		t.Errorf("SweepID = %s", got)
	}
}

// squeeze turns every run of spaces into one and drops leading spaces, so a
// table's rows compare without their column widths.
func squeeze(s string) string {
	lines := strings.Split(s, "\n")
	for i, l := range lines {
		lines[i] = strings.Join(strings.Fields(l), " ")
	}
	return strings.Join(lines, "\n")
}
