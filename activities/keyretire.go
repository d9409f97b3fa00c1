package activities

import (
	"context"
	"encoding/json"
	"fmt"
	"slices"
	"sort"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/cloudtrail"
	cttypes "github.com/aws/aws-sdk-go-v2/service/cloudtrail/types"
	"github.com/aws/aws-sdk-go-v2/service/kms"
	kmstypes "github.com/aws/aws-sdk-go-v2/service/kms/types"
)

// A key's retirement, the way AWS recommends deleting a KMS key: a rotation
// only disables the key it replaced (RetireOldKeys), tagged with when and
// why. A later sweep or rotation (finishKeyRetirement) then looks at every
// key of the alias's line amicrypt disabled:
//
//   - someone tried to use it since — CloudTrail has a request refused with
//     DisabledException or KMSInvalidStateException naming it — it is
//     enabled again at once, the caller named, and tagged as re-enabled;
//   - it has been disabled for rotation.retire_after, and nothing holds it
//     (keyHolders, amicrypt's own disabled images included) — its deletion
//     is scheduled, with the deletion window;
//   - otherwise it stays disabled, and the report says until when.
//
// A key amicrypt enabled again is not disabled again while it is in use:
// its last successful use (GetKeyLastUsage) younger than retire_after.

// Tags of a key amicrypt enabled again after someone tried to use it.
const (
	TagKeyReenabledAt     = "amicrypt:reenabled-at"
	TagKeyReenabledReason = "amicrypt:reenabled-reason"
)

// KeyAttempt is a request CloudTrail recorded against a disabled key.
type KeyAttempt struct {
	EventName string    `json:"event_name"`
	Time      time.Time `json:"time"`
	Caller    string    `json:"caller"`
	// InvokedBy is the AWS service that made the request on the caller's
	// behalf (ec2.amazonaws.com), if any.
	InvokedBy string `json:"invoked_by,omitempty"`
	ErrorCode string `json:"error_code"`
	EventID   string `json:"event_id,omitempty"`
}

// String names the attempt for a report.
func (k KeyAttempt) String() string {
	s := fmt.Sprintf("%s by %s at %s (%s)", k.EventName, k.Caller, k.Time.UTC().Format(time.RFC3339), k.ErrorCode)
	if k.InvokedBy != "" {
		s = fmt.Sprintf("%s by %s through %s at %s (%s)", k.EventName, k.Caller, k.InvokedBy, k.Time.UTC().Format(time.RFC3339), k.ErrorCode)
	}
	return s
}

// refusedAttempts reads CloudTrail for the requests made against key since
// since that KMS refused because the key is disabled (DisabledException,
// KMSInvalidStateException), newest first, at most max.
func refusedAttempts(ctx context.Context, ct CloudTrailAPI, key string, since time.Time, max int) ([]KeyAttempt, error) {
	var out []KeyAttempt
	p := cloudtrail.NewLookupEventsPaginator(ct, &cloudtrail.LookupEventsInput{
		LookupAttributes: []cttypes.LookupAttribute{{AttributeKey: cttypes.LookupAttributeKeyResourceName, AttributeValue: aws.String(key)}},
		StartTime:        aws.Time(since),
		EndTime:          aws.Time(time.Now().Add(time.Minute)),
	})
	for pages := 0; p.HasMorePages() && pages < 20 && len(out) < max; pages++ {
		page, err := p.NextPage(ctx)
		if err != nil {
			return nil, err
		}
		for _, ev := range page.Events {
			var rec struct {
				ErrorCode    string `json:"errorCode"`
				EventSource  string `json:"eventSource"`
				UserIdentity struct {
					Type      string `json:"type"`
					ARN       string `json:"arn"`
					AccountID string `json:"accountId"`
					InvokedBy string `json:"invokedBy"`
				} `json:"userIdentity"`
			}
			if err := json.Unmarshal([]byte(aws.ToString(ev.CloudTrailEvent)), &rec); err != nil {
				continue
			}
			if rec.EventSource != "" && rec.EventSource != "kms.amazonaws.com" {
				continue
			}
			if rec.ErrorCode != "DisabledException" && rec.ErrorCode != "KMSInvalidStateException" {
				continue
			}
			caller := rec.UserIdentity.ARN
			if caller == "" {
				caller = aws.ToString(ev.Username)
			}
			if caller == "" {
				caller = rec.UserIdentity.Type + " of account " + rec.UserIdentity.AccountID
			}
			out = append(out, KeyAttempt{EventName: aws.ToString(ev.EventName), Time: aws.ToTime(ev.EventTime), Caller: caller,
				InvokedBy: rec.UserIdentity.InvokedBy, ErrorCode: rec.ErrorCode, EventID: aws.ToString(ev.EventId)})
			if len(out) >= max {
				break
			}
		}
	}
	return out, nil
}

// lastUse is a key's last successful cryptographic use, as KMS tracks it
// ("" when none since tracking began), and when.
func lastUse(ctx context.Context, kc KMSAPI, key string) (string, time.Time, error) {
	out, err := kc.GetKeyLastUsage(ctx, &kms.GetKeyLastUsageInput{KeyId: aws.String(key)})
	if err != nil {
		return "", time.Time{}, err
	}
	u := out.KeyLastUsage
	if u == nil || u.Timestamp == nil {
		return "", time.Time{}, nil
	}
	s := fmt.Sprintf("kms:%s at %s", u.Operation, aws.ToTime(u.Timestamp).UTC().Format(time.RFC3339))
	if id := aws.ToString(u.CloudTrailEventId); id != "" {
		s += " (CloudTrail event " + id + ")"
	}
	return s, aws.ToTime(u.Timestamp), nil
}

// finishKeyRetirement is the second step of each key's retirement (see
// above) for keys, the alias's line but its current key. window is the
// deletion window in days. With dry, nothing is changed: the fates say what
// would be done.
func (a *Activities) finishKeyRetirement(ctx context.Context, t Target, keys []string, window int, dry bool) ([]OldKeyFate, error) {
	if len(keys) == 0 {
		return nil, nil
	}
	if window == 0 {
		window = MaxDeletionWindowDays
	}
	acc := targetAccess(t)
	kc := a.clients.KMS(acc)
	log := a.logFor(t.Account, t.Region)
	now := time.Now().UTC()
	after := t.KeyRetireAfter()
	var fates []OldKeyFate
	var due []string // disabled long enough, untried: their holders decide
	byKey := map[string]*OldKeyFate{}
	for _, key := range keys {
		w := where{Account: t.Account, Region: t.Region, Resource: "old key " + key}
		md, err := describeKey(ctx, kc, key)
		if IsNotFound(err) {
			continue
		}
		if err != nil {
			return nil, diagnose(err, "kms:DescribeKey", w)
		}
		fate := OldKeyFate{KeyARN: key, State: string(md.KeyState)}
		tags, err := keyTags(ctx, kc, key)
		if err != nil {
			return nil, diagnose(err, "kms:ListResourceTags", w)
		}
		switch {
		case md.KeyState == kmstypes.KeyStatePendingDeletion:
			fate.DeletionDate = md.DeletionDate
		case md.KeyState == kmstypes.KeyStateEnabled:
			if tags[TagKeyReenabledAt] != "" {
				use, _, err := lastUse(ctx, kc, key)
				if err != nil && !IsAccessDenied(err) {
					return nil, diagnose(err, "kms:GetKeyLastUsage", w)
				}
				fate.LastUsed = use
				fate.Note = "enabled again by amicrypt (" + tags[TagKeyReenabledReason] + "); not disabled again while it is in use"
			}
		case md.KeyState == kmstypes.KeyStateDisabled:
			since, err := time.Parse(time.RFC3339, tags[TagKeyDisabledAt])
			if err != nil {
				fate.Note = "disabled, but not by amicrypt: left as it is"
				break
			}
			attempts, err := refusedAttempts(ctx, a.clients.CloudTrail(acc), key, since, 5)
			if err != nil {
				return nil, diagnose(err, "cloudtrail:LookupEvents", w)
			}
			if use, _, err := lastUse(ctx, kc, key); err == nil {
				fate.LastUsed = use
			} else if !IsAccessDenied(err) {
				return nil, diagnose(err, "kms:GetKeyLastUsage", w)
			}
			if len(attempts) > 0 {
				for _, at := range attempts {
					fate.Tried = append(fate.Tried, at.String())
				}
				fate.Actions = append(fate.Actions, Action{Do: ActEnableKey, Resource: key, Evidence: "tried while disabled: " + attempts[0].String()})
				if !dry {
					if err := enableTriedKey(ctx, kc, key, attempts[0]); err != nil {
						return nil, tagConditionedError(err, "kms:EnableKey", w)
					}
					fate.State = string(kmstypes.KeyStateEnabled)
					log.Warn().Str("key", key).Str("caller", attempts[0].Caller).Str("call", attempts[0].EventName).Msg("a disabled old key was still in use: enabled again")
				}
				fate.Note = "something tried to use it while disabled: enabled again; it stays enabled while it is in use"
				break
			}
			if left := since.Add(after).Sub(now); left > 0 {
				fate.Note = fmt.Sprintf("disabled since %s; its deletion is scheduled once rotation.retire_after (%s) is over, in %s, if nothing holds or tries it", since.Format(time.RFC3339), after, left.Round(time.Minute))
				break
			}
			due = append(due, key)
		}
		fates = append(fates, fate)
		byKey[key] = &fates[len(fates)-1]
	}
	if len(due) == 0 {
		return fates, nil
	}
	holders, err := a.keyHolders(ctx, t, due, nil)
	if err != nil {
		return nil, diagnose(err, "ec2:DescribeVolumes", where{Account: t.Account, Region: t.Region, Resource: "resources under the old keys"})
	}
	for _, key := range due {
		fate := byKey[key]
		w := where{Account: t.Account, Region: t.Region, Resource: "old key " + key}
		if h := holders[key]; len(h) > 0 {
			fate.HeldBy = h
			fate.Note = fmt.Sprintf("disabled, and %d holder(s) still need it: its deletion waits until they are gone", len(h))
			continue
		}
		fate.Actions = append(fate.Actions, Action{Do: ActScheduleKeyDeletion, Resource: key,
			Evidence: fmt.Sprintf("disabled by amicrypt for at least %s; nothing holds it; no request tried it since (CloudTrail)", after)})
		if dry {
			fate.Note = fmt.Sprintf("would be scheduled for deletion in %d days", window)
			continue
		}
		out, err := kc.ScheduleKeyDeletion(ctx, &kms.ScheduleKeyDeletionInput{KeyId: aws.String(key), PendingWindowInDays: aws.Int32(int32(window))})
		if err != nil {
			return nil, tagConditionedError(err, "kms:ScheduleKeyDeletion", w)
		}
		fate.State = string(kmstypes.KeyStatePendingDeletion)
		fate.DeletionDate = out.DeletionDate
		fate.Note = fmt.Sprintf("scheduled for deletion (aws kms cancel-key-deletion --key-id %s undoes it until then)", key)
		log.Info().Str("key", key).Time("deletion", aws.ToTime(out.DeletionDate)).Msg("old key scheduled for deletion")
	}
	return fates, nil
}

// enableTriedKey enables a disabled key someone tried to use, and records
// on it that amicrypt did and why (the disabled-at tag goes).
func enableTriedKey(ctx context.Context, kc KMSAPI, key string, at KeyAttempt) error {
	if _, err := kc.EnableKey(ctx, &kms.EnableKeyInput{KeyId: aws.String(key)}); err != nil {
		return err
	}
	if _, err := kc.TagResource(ctx, &kms.TagResourceInput{KeyId: aws.String(key), Tags: kmsTags(map[string]string{
		TagKeyReenabledAt:     time.Now().UTC().Format(time.RFC3339),
		TagKeyReenabledReason: "tried while disabled: " + at.String(),
	})}); err != nil {
		return err
	}
	_, err := kc.UntagResource(ctx, &kms.UntagResourceInput{KeyId: aws.String(key), TagKeys: []string{TagKeyDisabledAt, TagKeyDisabledReason}})
	return err
}

// lineKeys are the keys of the alias's line (configKeys) other than the
// alias's current key and key, sorted.
func (a *Activities) lineKeys(ctx context.Context, t Target, key string) ([]string, error) {
	line, current, err := a.keyLine(ctx, t, key)
	if err != nil {
		return nil, err
	}
	return othersOf(line, current, key, t.KeyARN), nil
}

// othersOf are the keys of line but the ones named, sorted.
func othersOf(line map[string]bool, but ...string) []string {
	var out []string
	for k := range line {
		if !slices.Contains(but, k) {
			out = append(out, k)
		}
	}
	sort.Strings(out)
	return out
}

// What amicrypt does to AWS resources that cannot be taken back at once, as
// Action.Do names it.
const (
	ActDisableImage        = "disable image"
	ActEnableImage         = "enable image"
	ActDeregisterImage     = "deregister image with its snapshots"
	ActDisableKey          = "disable key"
	ActEnableKey           = "enable key"
	ActScheduleKeyDeletion = "schedule key deletion"
	ActReencrypt           = "re-encrypt image"
	ActRepoint             = "repoint"
	ActMoveAlias           = "move alias"
	ActCreate              = "create"
	ActUpdatePolicy        = "update key policy"
	ActEnableRotation      = "enable key rotation"
	ActCreateGrant         = "create grant"
	ActShare               = "share"
	ActPublish             = "publish"
)

// Action is one destructive or overwriting step amicrypt took (or, in a dry
// run, would take), on what, and the evidence it acted on.
type Action struct {
	Do       string `json:"do"`
	Resource string `json:"resource"`
	Evidence string `json:"evidence,omitempty"`
	// Detail is what exactly would be written, for a plan: the key policy
	// statements as JSON, the CreateGrant call.
	Detail string `json:"detail,omitempty"`
}

// String is "disable key arn:… (evidence)".
func (x Action) String() string {
	if x.Evidence == "" {
		return x.Do + " " + x.Resource
	}
	return x.Do + " " + x.Resource + " (" + x.Evidence + ")"
}
