package activities

import (
	"strings"
	"testing"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/ec2"
	"github.com/aws/aws-sdk-go-v2/service/kms"
	kmstypes "github.com/aws/aws-sdk-go-v2/service/kms/types"
)

// rotatedAway rotates payments' key (rotationSetup) with retire_after 0s
// and a 0s retention grace, and returns the harness, the target, the old
// (now disabled) key and a ciphertext made under it before the rotation.
func rotatedAway(t *testing.T) (*harness, Target, string, []byte) {
	h, tg, old, image := rotationSetup(t)
	zero := time.Duration(0)
	tg.RetireAfter, tg.RetentionGrace = &zero, &zero
	blob, err := h.rootKMS(payments).GenerateDataKeyWithoutPlaintext(h.ctx, &kms.GenerateDataKeyWithoutPlaintextInput{KeyId: aws.String(old), KeySpec: kmstypes.DataKeySpecAes256})
	if err != nil {
		t.Fatal(err)
	}
	prep := must[PrepareRotationResult](h, h.acts.PrepareRotation, PrepareRotationInput{Target: tg, RotationID: "rot-1", Reason: ReasonLeaked, Operator: "alice", Pipeline: pipelineARN, NewKey: true})
	found := must[FindKeyedImagesResult](h, h.acts.FindKeyedImages, FindKeyedImagesInput{Target: tg, Keep: prep.NewKey})
	images := map[string]string{}
	for _, im := range found.Images {
		c := must[CopyImageResult](h, h.acts.ReencryptImage, ReencryptImageInput{Target: tg, Image: im, NewKey: prep.NewKey, RotationID: "rot-1"})
		must[CopiedImage](h, h.acts.WaitAndVerify, WaitAndVerifyInput{Target: tg, ImageID: c.ImageID, KeyARN: prep.NewKey, Started: true})
		images[im.ImageID] = c.ImageID
	}
	must[SwitchKeyResult](h, h.acts.SwitchKey, SwitchKeyInput{Target: tg, NewKey: prep.NewKey, OldKeys: []string{old}, Images: images, MoveAlias: true})
	ret := must[RetireOldKeysResult](h, h.acts.RetireOldKeys, RetireOldKeysInput{Target: tg, OldImages: []string{image}, NewKey: prep.NewKey, OldKeys: []string{old}, Retire: []string{old}, DeletionWindowDays: 7})
	// Only disabled in the rotation, even with retire_after 0s.
	if len(ret.Keys) != 1 || ret.Keys[0].State != "Disabled" || ret.Keys[0].DeletionDate != nil {
		t.Fatalf("after the rotation: %+v, want the old key only disabled", ret.Keys)
	}
	return h, tg, old, blob.CiphertextBlob
}

func TestASweepSchedulesTheDeletionOfAnOldKeyNothingHoldsOrTried(t *testing.T) {
	h, tg, old, _ := rotatedAway(t)
	// A dry sweep says so and changes nothing.
	dry := must[KeyHealth](h, h.acts.InspectKey, InspectKeyInput{Target: tg, Pipeline: pipelineARN, DeletionWindowDays: 7, DryRun: true})
	if len(dry.OldKeys) != 1 || len(dry.OldKeys[0].Actions) != 1 || dry.OldKeys[0].Actions[0].Do != ActScheduleKeyDeletion || dry.Writes != 0 {
		t.Fatalf("dry sweep: %+v", dry)
	}
	if st := h.keyState(payments, old); st != kmstypes.KeyStateDisabled {
		t.Fatalf("after the dry sweep the old key is %s", st)
	}
	health := must[KeyHealth](h, h.acts.InspectKey, InspectKeyInput{Target: tg, Pipeline: pipelineARN, DeletionWindowDays: 7})
	if len(health.OldKeys) != 1 || health.OldKeys[0].State != "PendingDeletion" || health.OldKeys[0].DeletionDate == nil || health.Writes == 0 {
		t.Fatalf("sweep: %+v, want the old key's deletion scheduled", health.OldKeys)
	}
	if d := time.Until(*health.OldKeys[0].DeletionDate); d < 6*24*time.Hour || d > 8*24*time.Hour {
		t.Errorf("deletion in %v, want 7 days", d)
	}
	if st := h.keyState(payments, old); st != kmstypes.KeyStatePendingDeletion {
		t.Errorf("old key %s", st)
	}
}

func TestASweepEnablesADisabledKeySomeoneTriedAndNamesThem(t *testing.T) {
	h, tg, old, blob := rotatedAway(t)
	// Something the rotation did not know about still decrypts with it.
	_, err := h.rootKMS(payments).Decrypt(h.ctx, &kms.DecryptInput{CiphertextBlob: blob, KeyId: aws.String(old)})
	if APICode(err) != "DisabledException" {
		t.Fatalf("decrypt with the disabled key: %v, want DisabledException", err)
	}
	health := must[KeyHealth](h, h.acts.InspectKey, InspectKeyInput{Target: tg, Pipeline: pipelineARN, DeletionWindowDays: 7})
	if len(health.OldKeys) != 1 {
		t.Fatalf("old keys: %+v", health.OldKeys)
	}
	fate := health.OldKeys[0]
	if fate.State != "Enabled" || len(fate.Tried) == 0 || !strings.Contains(fate.Tried[0], "Decrypt by arn:aws:iam::222222222222:root") {
		t.Fatalf("the tried key: %+v, want enabled again and the caller named", fate)
	}
	if st := h.keyState(payments, old); st != kmstypes.KeyStateEnabled {
		t.Errorf("old key %s, want Enabled", st)
	}
	if tags := h.keyTagMap(old); tags[TagKeyReenabledAt] == "" || tags[TagKeyDisabledAt] != "" {
		t.Errorf("old key's tags: %v", tags)
	}
	// In use again (the decrypt now succeeds): a later rotation's retirement
	// leaves it enabled while its last use is younger than retire_after.
	if _, err := h.rootKMS(payments).Decrypt(h.ctx, &kms.DecryptInput{CiphertextBlob: blob, KeyId: aws.String(old)}); err != nil {
		t.Fatal(err)
	}
	cur := h.keyARN(payments, "alias/amicrypt")
	hour := time.Hour
	tg.RetireAfter = &hour // used within the last retire_after: in use
	ret := must[RetireOldKeysResult](h, h.acts.RetireOldKeys, RetireOldKeysInput{Target: tg, NewKey: cur, OldKeys: []string{old}, Retire: []string{old}, DeletionWindowDays: 7})
	if ret.Keys[0].State != "Enabled" || !strings.Contains(ret.Keys[0].Note, "in use") || ret.Keys[0].LastUsed == "" {
		t.Errorf("retiring the key in use again: %+v", ret.Keys[0])
	}
}

// An old key that is the account's EBS default key holds every new volume
// of the account: it stays enabled, and the report names why.
func TestAnOldKeyThatIsTheEBSDefaultKeyStaysEnabled(t *testing.T) {
	h, tg, old, image := rotationSetup(t)
	zero := time.Duration(0)
	tg.RetireAfter, tg.RetentionGrace = &zero, &zero
	if _, err := h.rootEC2(payments).ModifyEbsDefaultKmsKeyId(h.ctx, &ec2.ModifyEbsDefaultKmsKeyIdInput{KmsKeyId: aws.String(old)}); err != nil {
		t.Fatal(err)
	}
	prep := must[PrepareRotationResult](h, h.acts.PrepareRotation, PrepareRotationInput{Target: tg, RotationID: "rot-1", Reason: ReasonScheduled, Operator: "alice", Pipeline: pipelineARN, NewKey: true})
	must[SwitchKeyResult](h, h.acts.SwitchKey, SwitchKeyInput{Target: tg, NewKey: prep.NewKey, OldKeys: []string{old}, MoveAlias: true})
	ret := must[RetireOldKeysResult](h, h.acts.RetireOldKeys, RetireOldKeysInput{Target: tg, OldImages: []string{image}, NewKey: prep.NewKey, OldKeys: []string{old}, Retire: []string{old}, DeletionWindowDays: 7})
	fate := ret.Keys[0]
	if fate.State != "Enabled" || !strings.Contains(strings.Join(fate.HeldBy, " "), "the EBS default key of us-east-1") {
		t.Fatalf("old key: %+v, want enabled and named as the EBS default key", fate)
	}
	if st := h.keyState(payments, old); st != kmstypes.KeyStateEnabled {
		t.Errorf("old key %s", st)
	}
}

// Tags do not decide: a principal who may only tag puts amicrypt's tags on
// another team's key — managed, the alias, a successor link both ways, even
// "disabled by amicrypt" — and neither a sweep nor a rotation disables,
// deletes or re-encrypts anything because of them.
func TestAnotherTeamsKeyWithAmicryptsTagsIsLeftAlone(t *testing.T) {
	h, tg, cur, _ := rotationSetup(t)
	zero := time.Duration(0)
	tg.RetireAfter, tg.RetentionGrace = &zero, &zero
	kc := h.rootKMS(payments)
	team, err := kc.CreateKey(h.ctx, &kms.CreateKeyInput{Description: aws.String("another team's key")})
	if err != nil {
		t.Fatal(err)
	}
	victim := aws.ToString(team.KeyMetadata.Arn)
	tag := func(key string, kv map[string]string) {
		if _, err := kc.TagResource(h.ctx, &kms.TagResourceInput{KeyId: aws.String(key), Tags: kmsTags(kv)}); err != nil {
			t.Fatal(err)
		}
	}
	tag(victim, map[string]string{TagManagedKey: "true", TagKeyAlias: "alias/amicrypt", TagSuccessor: cur, TagKeyDisabledAt: "2020-01-01T00:00:00Z"})
	// amicrypt's own key refuses them: its policy keeps amicrypt's tags to amicrypt's role.
	_, err = kc.TagResource(h.ctx, &kms.TagResourceInput{KeyId: aws.String(cur), Tags: kmsTags(map[string]string{TagPredecessor: victim})})
	if !IsAccessDenied(err) {
		t.Fatalf("the account's root tagged amicrypt's key with %s: %v", TagPredecessor, err)
	}
	if _, err := kc.UntagResource(h.ctx, &kms.UntagResourceInput{KeyId: aws.String(cur), TagKeys: []string{TagManagedKey}}); !IsAccessDenied(err) {
		t.Fatalf("the account's root untagged amicrypt's key: %v", err)
	}
	tag(cur, map[string]string{"team": "payments"})

	health := must[KeyHealth](h, h.acts.InspectKey, InspectKeyInput{Target: tg, Pipeline: pipelineARN, DeletionWindowDays: 7})
	if health.Rekey || len(health.OldKeys) != 0 || health.Writes != 0 {
		t.Errorf("sweep: %+v, want nothing due and nothing done", health)
	}
	prep := must[PrepareRotationResult](h, h.acts.PrepareRotation, PrepareRotationInput{Target: tg, RotationID: "rot-1", Reason: ReasonScheduled, Operator: "alice", Pipeline: pipelineARN, NewKey: false})
	ret := must[RetireOldKeysResult](h, h.acts.RetireOldKeys, RetireOldKeysInput{Target: tg, NewKey: prep.NewKey, OldKeys: []string{victim}, DeletionWindowDays: 7})
	if len(ret.Keys) != 1 || ret.Keys[0].State != "Enabled" || !strings.Contains(ret.Keys[0].Note, "not amicrypt's") {
		t.Errorf("retirement: %+v, want the team's key left as it is", ret.Keys)
	}
	if st := h.keyState(payments, victim); st != kmstypes.KeyStateEnabled {
		t.Errorf("the team's key is %s", st)
	}
}
