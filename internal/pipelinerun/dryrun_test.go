package pipelinerun

import (
	"bytes"
	"strings"
	"testing"

	"github.com/amicrypt/amicrypt/activities"
	"github.com/amicrypt/amicrypt/workflows"
)

// TestWriteRotationDryRun: 'rotate --dry-run' prints in the plan's form,
// every action as "would …" with its evidence, and what keeps an image or a
// key with it.
func TestWriteRotationDryRun(t *testing.T) {
	euOld := "arn:aws:kms:eu-west-1:222222222222:key/33333333-3333-4333-8333-333333333333"
	r := &workflows.Report{RunID: "rotation-222222222222-20261123T140000", Kind: workflows.KindRotation, DryRun: true, Reason: "scheduled", Operator: "alice@host",
		Targets: []workflows.TargetReport{
			{Account: "222222222222", Name: "payments-prod", Region: "us-east-1", Status: workflows.StatusSucceeded, Step: workflows.StepDone, OldKeyARN: oldKey,
				Images:     []activities.RekeyedImage{{OldImageID: "ami-0c0000000000a0001", Status: "planned"}, {OldImageID: "ami-0c0000000000a0002", Status: "planned"}},
				Published:  []string{"ssm:/images/base"},
				Retirement: &activities.Retirement{Disabled: []string{"ami-0c0000000000a0001"}, Kept: []string{"ami-0c0000000000a0002: in use by instance i-0123"}, OutOfScope: []string{"ami-0dd: not made by CopyImage from ami-0b1"}},
				OldKeys:    []activities.OldKeyFate{{KeyARN: oldKey, State: "Enabled", HeldBy: []string{"ami-0c0000000000a0002 (kept)"}}},
				Warnings:   []string{"would not re-encrypt: ami-0c0000000000a0003 (unproven)"},
				Actions: []activities.Action{
					{Do: activities.ActCreate, Resource: "key (successor of " + oldKey + ", alias alias/amicrypt)", Evidence: "amicrypt's required policy merged with the old key's, keeping []"},
					{Do: activities.ActReencrypt, Resource: "ami-0c0000000000a0001", Evidence: "proven, amicrypt's copy of ami-0b1, under " + oldKey + "; copied under the new key"},
					{Do: activities.ActRepoint, Resource: "ssm:/images/base", Evidence: "ami-0c0000000000a0001 → (its re-encrypted copy)"},
					{Do: activities.ActMoveAlias, Resource: "alias/amicrypt", Evidence: oldKey + " → the new key"},
					{Do: activities.ActDisableImage, Resource: "ami-0c0000000000a0001", Evidence: "amicrypt's, retired, nothing uses it"},
				}},
			{Account: "222222222222", Name: "payments-prod", Region: "eu-west-1", Status: workflows.StatusSucceeded, OldKeyARN: euOld, KeyARN: euOld},
			{Account: "222222222222", Name: "payments-prod", Region: "ap-south-1", Status: workflows.StatusFailed, Step: workflows.StepSuccessorKey, OldKeyARN: oldKey,
				Diagnosis: &activities.Diagnosis{Code: "F2", Cause: "a Deny kept from the old policy leaves Auto Scaling out", Fix: "remove the Deny\nthen rotate again"}},
		}}
	var b bytes.Buffer
	WriteTable(&b, r)
	out := b.String()
	for _, want := range []string{
		"DRY RUN: nothing was changed in AWS; every action below is what the real command would do, with its evidence\n" +
			"rotation rotation-222222222222-20261123T140000 (reason scheduled, by alice@host)\n\n",
		"\n\n222222222222 ap-south-1 (payments-prod): will-fail\n" +
			"  would fail at successor-key: F2 a Deny kept from the old policy leaves Auto Scaling out\n" +
			"  fix: remove the Deny\n       then rotate again\n" +
			"  key          " + oldKey + " → (new)\n",
		"\n\n222222222222 us-east-1 (payments-prod): will-change\n" +
			"  key          " + oldKey + " → (new)\n" +
			"  old image    kept image ami-0c0000000000a0002: in use by instance i-0123\n" +
			"  old image    left alone image ami-0dd: not made by CopyImage from ami-0b1\n" +
			"  old key      " + oldKey + " still Enabled, held by ami-0c0000000000a0002 (kept)\n" +
			"  would create key (successor of " + oldKey + ", alias alias/amicrypt) (amicrypt's required policy merged with the old key's, keeping [])\n" +
			"  would re-encrypt image ami-0c0000000000a0001 (proven, amicrypt's copy of ami-0b1, under " + oldKey + "; copied under the new key)\n" +
			"  would repoint ssm:/images/base (ami-0c0000000000a0001 → (its re-encrypted copy))\n" +
			"  would move alias alias/amicrypt (" + oldKey + " → the new key)\n" +
			"  would disable image ami-0c0000000000a0001 (amicrypt's, retired, nothing uses it)\n" +
			"      aws ec2 enable-image --image-id ami-0c0000000000a0001 undoes it\n" +
			"  warning      would not re-encrypt: ami-0c0000000000a0003 (unproven)\n",
		"\n\n222222222222 eu-west-1 (payments-prod): ok\n" +
			"  key          " + euOld + " → " + euOld + "\n" +
			"  image        none under the old key\n",
		"\ndry run of rotation rotation-222222222222-20261123T140000: 3 targets: 1 ok, 1 will change, 1 will fail\n",
	} {
		if !strings.Contains(out, want) {
			t.Errorf("the rotation's dry run lacks\n%s\nin\n%s", want, out)
		}
	}
	for _, want := range []string{
		"OUTCOME NAME KEY (OLD → NEW) CHANGES PREDICTED FAILURE\n",
		"will-fail 222222222222 ap-south-1 payments-prod 11111111-1111-4111-8111-111111111111 → (new) 0 F2 (successor-key)\n" +
			"will-change 222222222222 us-east-1 payments-prod 11111111-1111-4111-8111-111111111111 → (new) 5 -\n" +
			"ok 222222222222 eu-west-1 payments-prod 33333333-3333-4333-8333-333333333333 → 33333333-3333-4333-8333-333333333333 0 -\n",
	} {
		if got := strings.ReplaceAll(squeeze(out), "OUTCOME ACCOUNT REGION ", "OUTCOME "); !strings.Contains(got, want) {
			t.Errorf("the rotation's dry-run table lacks\n%s\nin\n%s", want, out)
		}
	}
	for _, gone := range []string{"  action ", "STATUS", "disabled image"} {
		if strings.Contains(out, gone) {
			t.Errorf("the dry run still prints %q (the report's form, or a past tense):\n%s", gone, out)
		}
	}
}

// TestWriteSweepDryRun: 'sweep --dry-run' prints in the plan's form, a row
// per key with the dry run of its rotation merged in; the sweep's own
// repairs and second steps are "would …" lines with their evidence, and the
// findings that do not only repeat them stay.
func TestWriteSweepDryRun(t *testing.T) {
	r := &workflows.Report{RunID: "dryrun-20261123T160000.000Z", Kind: workflows.KindSweep, DryRun: true, Operator: "alice@host",
		Keys: []activities.KeyHealth{
			{Account: "222222222222", Region: "us-east-1", Alias: "alias/amicrypt", KeyARN: newKey, Managed: true, RotationEnabled: true, AgeDays: 12},
			{Account: "333333333333", Region: "us-east-1", Alias: "alias/amicrypt", KeyARN: newKey, Managed: true, AgeDays: 40,
				PolicyDrift: []string{"AllowAutoScalingUse"},
				Retirement:  activities.Retirement{Deregistered: []string{"ami-0aa"}, Kept: []string{"ami-0bb: in use by instance i-0bb"}},
				OldKeys: []activities.OldKeyFate{{KeyARN: oldKey, State: "Disabled", Tried: []string{}, Actions: []activities.Action{
					{Do: activities.ActScheduleKeyDeletion, Resource: oldKey, Evidence: "disabled by amicrypt for 9d (retire_after 7d), nothing holds it, no request refused since"}}}},
				Findings: []string{
					"automatic rotation is off: would be turned on",
					"key policy drifted ([AllowAutoScalingUse]): would be reconciled, the owner's statements kept",
					"deregistered image ami-0aa with its snapshots",
					"kept image ami-0bb: in use by instance i-0bb",
					activities.Action{Do: activities.ActScheduleKeyDeletion, Resource: oldKey, Evidence: "disabled by amicrypt for 9d (retire_after 7d), nothing holds it, no request refused since"}.String(),
				}},
			{Account: "444444444444", Region: "us-east-1", Alias: "alias/amicrypt", KeyARN: oldKey, Managed: true, RotationEnabled: true, RetireTag: "leaked", Due: "leaked",
				OldKeys:  []activities.OldKeyFate{{KeyARN: oldKey, State: "Enabled"}},
				Findings: []string{`tagged amicrypt:retire="leaked": rotation due (leaked)`}},
			{Account: "666666666666", Region: "us-east-1", Alias: "alias/amicrypt", Missing: true, Findings: []string{"no key under alias/amicrypt yet: the next run creates it"}},
			{Account: "777777777777", Region: "us-east-1", Alias: "alias/amicrypt", Error: &activities.Diagnosis{Code: "F7", Cause: "cannot assume the role", Fix: "fix the trust policy"}},
			{Account: "888888888888", Region: "us-east-1"},
		},
		Rotations: []string{"amicrypt-rotate-444444444444-dryrun-20261123T160000.000Z"},
		Targets: []workflows.TargetReport{{Account: "444444444444", Name: "legacy", Region: "us-east-1", Status: workflows.StatusSucceeded, OldKeyARN: oldKey,
			Images:  []activities.RekeyedImage{{OldImageID: "ami-0cc", Status: "planned"}},
			OldKeys: []activities.OldKeyFate{{KeyARN: oldKey, State: "Enabled", Note: "would be disabled"}},
			Actions: []activities.Action{
				{Do: activities.ActReencrypt, Resource: "ami-0cc", Evidence: "proven, amicrypt's copy of ami-0b1"},
				{Do: activities.ActDisableKey, Resource: oldKey, Evidence: "replaced by the new key; nothing holds it"},
			}}},
	}
	var b bytes.Buffer
	WriteTable(&b, r)
	out := b.String()
	for _, want := range []string{
		"DRY RUN: nothing was changed in AWS; every action below is what the real command would do, with its evidence\n" +
			"sweep dryrun-20261123T160000.000Z (by alice@host)\n\n",
		"\n\n777777777777 us-east-1 (alias/amicrypt): will-fail\n" +
			"  would fail at inspect-key: F7 cannot assume the role\n  fix: fix the trust policy\n",
		"\n\n333333333333 us-east-1 (alias/amicrypt): will-change\n" +
			"  finding      automatic rotation is off: would be turned on\n" +
			"  finding      key policy drifted ([AllowAutoScalingUse]): would be reconciled, the owner's statements kept\n" +
			"  finding      kept image ami-0bb: in use by instance i-0bb\n" +
			"  old key      " + oldKey + " Disabled\n" +
			"  would enable key rotation key " + newKey + " (automatic rotation is off)\n" +
			"  would update key policy key " + newKey + " (drifted: AllowAutoScalingUse; the owner's statements kept)\n" +
			"  would deregister image with its snapshots ami-0aa (disabled for the retention grace, nothing uses it)\n" +
			"  would schedule key deletion " + oldKey + " (disabled by amicrypt for 9d (retire_after 7d), nothing holds it, no request refused since)\n",
		"\n\n444444444444 us-east-1 (alias/amicrypt): will-change\n" +
			"  finding      tagged amicrypt:retire=\"leaked\": rotation due (leaked)\n" +
			"  key          " + oldKey + " → (new)\n" +
			"  old key      " + oldKey + " Enabled (would be disabled)\n" +
			"  would re-encrypt image ami-0cc (proven, amicrypt's copy of ami-0b1)\n" +
			"  would disable key " + oldKey + " (replaced by the new key; nothing holds it)\n",
		"\n\n666666666666 us-east-1 (alias/amicrypt): ok\n" +
			"  finding      no key under alias/amicrypt yet: the next run creates it\n",
		"\nrotations due (dry runs): amicrypt-rotate-444444444444-dryrun-20261123T160000.000Z\n",
		"\ndry run of sweep dryrun-20261123T160000.000Z: 6 keys: 2 ok, 2 will change, 1 will fail, 1 under way; 1 rotation(s) due\n",
	} {
		if !strings.Contains(out, want) {
			t.Errorf("the sweep's dry run lacks\n%s\nin\n%s", want, out)
		}
	}
	for _, want := range []string{
		"OUTCOME ACCOUNT REGION KEY ROTATION AGE DRIFT STALE IMAGES DUE CHANGES PREDICTED FAILURE\n" +
			"will-fail 777777777777 us-east-1 error: F7 - - - - - 0 F7 (inspect-key)\n" +
			"will-change 333333333333 us-east-1 22222222-2222-4222-8222-222222222222 off 40d 1 - - 4 -\n" +
			"will-change 444444444444 us-east-1 11111111-1111-4111-8111-111111111111 on 0d - - rotate (leaked) 2 -\n" +
			"ok 222222222222 us-east-1 22222222-2222-4222-8222-222222222222 on 12d - - - 0 -\n" +
			"ok 666666666666 us-east-1 missing - - - - - 0 -\n" +
			"pending 888888888888 us-east-1 - - - - - - 0 -\n",
	} {
		if !strings.Contains(squeeze(out), want) {
			t.Errorf("the sweep's dry-run table lacks\n%s\nin\n%s", want, out)
		}
	}
	if strings.Contains(out, "  old key      "+oldKey+" Enabled\n") {
		t.Errorf("an old key the rotation's dry run describes is described again by the sweep:\n%s", out)
	}
	if strings.Count(out, "schedule key deletion") != 1 || strings.Contains(out, "finding      deregistered") {
		t.Errorf("a finding that only repeats an action is printed twice:\n%s", out)
	}
}
