package activities

import (
	"context"
	"strings"

	"github.com/aws/aws-sdk-go-v2/aws"
	kmstypes "github.com/aws/aws-sdk-go-v2/service/kms/types"

	"github.com/amicrypt/amicrypt/internal/policy"
)

// A key's amicrypt:* tags say which keys amicrypt made (amicrypt:managed),
// for which alias, and which it rotated away from (amicrypt:successor,
// amicrypt:predecessor, amicrypt:disabled-at): they decide which keys it
// reconciles, disables and deletes. Anyone allowed kms:TagResource could set
// them, so they count only on a key whose policy keeps them to amicrypt's
// target role — the statement policy.SidTagsOnlyByAmicrypt, which amicrypt
// writes into every key it creates or manages, checked by evaluating the
// policy (policy.GuardsAmicryptTags), never by its Sid.

// tagsGuarded says whether key's policy keeps amicrypt's tags to the
// target's role; why says what lets others set them. An unreadable policy
// counts as not.
func (a *Activities) tagsGuarded(ctx context.Context, kc KMSAPI, t Target, key string) (bool, string, error) {
	doc, err := a.keyPolicy(ctx, kc, key)
	if IsAccessDenied(err) || IsNotFound(err) {
		return false, "its policy cannot be read: " + apiMessageOr(err), nil
	}
	if err != nil {
		return false, "", err
	}
	ok, why := policy.GuardsAmicryptTags(doc, key, t.RoleARN)
	return ok, why, nil
}

// keyDescriptionPrefix starts the description of every key amicrypt
// creates (kms:CreateKey sets it; changing it takes
// kms:UpdateKeyDescription, not tagging).
const keyDescriptionPrefix = "amicrypt: dedicated key of account "

// managedKey says whether amicrypt made key, the alias's: tagged
// amicrypt:managed=true, and more than the tag says so — its policy keeps
// amicrypt's tags to the target's role, or its description is the one
// amicrypt gives the keys it creates (a key made before the policy
// statement existed, or whose policy an administrator rewrote: reconciling
// the policy then puts the statement back). doc nil: unreadable.
func managedKey(t Target, md *kmstypes.KeyMetadata, tags map[string]string, doc *policy.Document) bool {
	if tags[TagManagedKey] != "true" || md == nil {
		return false
	}
	return guarded(t, aws.ToString(md.Arn), doc) || strings.HasPrefix(aws.ToString(md.Description), keyDescriptionPrefix)
}

// guarded is tagsGuarded on a policy already read (nil: unreadable).
func guarded(t Target, key string, doc *policy.Document) bool {
	ok, _ := policy.GuardsAmicryptTags(doc, key, t.RoleARN)
	return ok
}
