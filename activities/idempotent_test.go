package activities

import (
	"testing"

	"github.com/amicrypt/amicrypt/internal/policy"
	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/kms"
	kmstypes "github.com/aws/aws-sdk-go-v2/service/kms/types"
)

// makeKey creates a key in account/us-east-1 with tags, as an earlier
// attempt of amicrypt's would have — amicrypt's policy for tg, whose role
// alone may set amicrypt's tags — without an alias (the answer to CreateKey
// lost, or the worker gone before CreateAlias). tg nil: the default key
// policy, which lets anyone allowed kms:TagResource set such tags.
func (h *harness) makeKey(account string, tags map[string]string, tg *Target) string {
	h.t.Helper()
	in := &kms.CreateKeyInput{Tags: kmsTags(tags)}
	if tg != nil {
		text, err := policy.RequiredKeyPolicy(requiredParams(*tg, "", tg.ServiceLinkedRoleARN(), pipelineARN)).Marshal()
		if err != nil {
			h.t.Fatal(err)
		}
		in.Policy = aws.String(string(text))
	}
	out, err := h.rootKMS(account).CreateKey(h.ctx, in)
	if err != nil {
		h.t.Fatal(err)
	}
	return aws.ToString(out.KeyMetadata.Arn)
}

func (h *harness) keyState(account, arn string) kmstypes.KeyState {
	h.t.Helper()
	out, err := h.rootKMS(account).DescribeKey(h.ctx, &kms.DescribeKeyInput{KeyId: aws.String(arn)})
	if err != nil {
		h.t.Fatal(err)
	}
	return out.KeyMetadata.KeyState
}

// Keys made by attempts whose answers were lost are found by their alias
// tag: the oldest is adopted under the alias and its policy reconciled, the
// others (never used) are scheduled for deletion, and no key is created.
func TestPrepareTargetAdoptsAKeyAnEarlierAttemptMade(t *testing.T) {
	h := newHarness(t)
	tg := target(payments)
	mark := map[string]string{TagManagedKey: "true", TagKeyAlias: "alias/amicrypt"}
	first := h.makeKey(payments, mark, &tg)
	second := h.makeKey(payments, mark, &tg)
	other := h.makeKey(payments, map[string]string{TagManagedKey: "true", TagKeyAlias: "alias/another"}, &tg)
	// Tagged the same by someone who may only tag: not amicrypt's.
	decoy := h.makeKey(payments, mark, nil)
	creates := h.calls(payments, "kms:CreateKey")

	res := must[PrepareTargetResult](h, h.acts.PrepareTarget, PrepareTargetInput{Target: tg, RunID: "run-1", Pipeline: pipelineARN})
	// The oldest is adopted; made within the same second, either may be.
	adopted, second := first, second
	if res.Key.KeyARN == second {
		adopted, second = second, first
	}
	if res.Key.KeyARN != adopted || res.Key.Created || !res.Key.Managed {
		t.Fatalf("key %+v, want %s or %s adopted", res.Key, first, second)
	}
	if got := h.keyARN(payments, "alias/amicrypt"); got != adopted {
		t.Errorf("alias/amicrypt names %s, want %s", got, adopted)
	}
	if n := h.calls(payments, "kms:CreateKey"); n != creates {
		t.Errorf("kms:CreateKey called %d times, want none", n-creates)
	}
	if len(res.Key.RetiredKeys) != 1 || res.Key.RetiredKeys[0] != second || h.keyState(payments, second) != kmstypes.KeyStatePendingDeletion {
		t.Errorf("retired %v (%s is %s), want the second key pending deletion", res.Key.RetiredKeys, second, h.keyState(payments, second))
	}
	if st := h.keyState(payments, other); st != kmstypes.KeyStateEnabled {
		t.Errorf("a key made for another alias is %s, want it left alone", st)
	}
	if st := h.keyState(payments, decoy); st != kmstypes.KeyStateEnabled || res.Key.KeyARN == decoy {
		t.Errorf("a key tagged as amicrypt's under a policy that lets anyone tag is %s (adopted: %v), want it left alone", st, res.Key.KeyARN == decoy)
	}
	rot, err := h.rootKMS(payments).GetKeyRotationStatus(h.ctx, &kms.GetKeyRotationStatusInput{KeyId: aws.String(adopted)})
	if err != nil || !rot.KeyRotationEnabled {
		t.Errorf("rotation of the adopted key: %v, %v", rot, err)
	}
}

// A successor an earlier rotation made (another rotation id: a re-run after
// a failure) whose old key was never tagged is found and used: one
// successor per key, however many times the rotation runs.
func TestPrepareRotationFindsTheSuccessorOfAnEarlierRun(t *testing.T) {
	h := newHarness(t)
	tg := target(payments)
	must[PrepareTargetResult](h, h.acts.PrepareTarget, PrepareTargetInput{Target: tg, RunID: "run-1", Pipeline: pipelineARN})
	old := h.keyARN(payments, "alias/amicrypt")
	decoy := h.makeKey(payments, map[string]string{TagManagedKey: "true", TagPredecessor: old, TagRotation: "rot-failed"}, nil)
	earlier := h.makeKey(payments, map[string]string{TagManagedKey: "true", TagPredecessor: old, TagRotation: "rot-failed"}, &tg)
	creates := h.calls(payments, "kms:CreateKey")

	for _, id := range []string{"rot-2", "rot-3"} {
		in := PrepareRotationInput{Target: tg, RotationID: id, Reason: ReasonLeaked, Operator: "alice", Pipeline: pipelineARN, NewKey: true}
		prep := must[PrepareRotationResult](h, h.acts.PrepareRotation, in)
		if prep.NewKey != earlier || prep.Created {
			t.Fatalf("%s prepared %+v, want the successor %s of the earlier run", id, prep, earlier)
		}
	}
	if n := h.calls(payments, "kms:CreateKey"); n != creates {
		t.Errorf("kms:CreateKey called %d more times, want none", n-creates)
	}
	if tags := h.keyTagMap(old); tags[TagSuccessor] != earlier {
		t.Errorf("the old key's successor tag: %v", tags)
	}
	if st := h.keyState(payments, decoy); st != kmstypes.KeyStateEnabled {
		t.Errorf("a key tagged as a successor under a policy that lets anyone tag is %s, want it left alone", st)
	}
}
