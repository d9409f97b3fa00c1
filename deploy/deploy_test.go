package deploy

import (
	"fmt"
	"go/ast"
	"go/parser"
	"go/token"
	"maps"
	"os"
	"path/filepath"
	"regexp"
	"slices"
	"sort"
	"strings"
	"testing"

	"github.com/amicrypt/amicrypt/activities"
	"github.com/amicrypt/amicrypt/internal/config"
	"github.com/amicrypt/amicrypt/internal/policy"
)

// The templates are written with CloudFormation's short-form tags (!Sub, !Ref,
// !If, ...); cfn_test.go reads them through goccy/go-yaml's AST and resolves
// the intrinsic functions for a sample builder and target account.

const (
	builderTemplate = "cloudformation/builder-role.yaml"
	targetTemplate  = "cloudformation/target-role.yaml"
	readerTemplate  = "cloudformation/organization-reader.yaml"

	builderAccount = "111111111111"
	targetAccount  = "222222222222"
	keyOwner       = "444444444444" // owns a key a target names with key_arn
	// managementAccount is the organization's management account, where
	// the organization reader lives (or a delegated administrator would).
	managementAccount = "555555555555"
	otherAccount      = "999999999999"
	region            = "us-east-1"
	externalID        = "amicrypt-7f3a"
	orgID             = "o-a1b2c3d4e5"
)

// Sample resources of the target account (and of others).
var (
	pipelineRoleARN = "arn:aws:iam::" + builderAccount + ":role/amicrypt-pipeline"
	targetRoleARN   = "arn:aws:iam::" + targetAccount + ":role/amicrypt-target"
	ownKey          = "arn:aws:kms:" + region + ":" + targetAccount + ":key/0b5c3f1e-6d2a-4c8e-9f71-2a3b4c5d6e7f"
	oldKey          = "arn:aws:kms:" + region + ":" + targetAccount + ":key/5d6e7f0b-2a3b-4c5d-8e9f-71a2b3c4d5e6" // a rotation's old key (ownKey its successor)
	foreignKey      = "arn:aws:kms:" + region + ":" + keyOwner + ":key/mrk-6d2a4c8e9f712a3b4c5d6e7f0b5c3f1e"
	otherKey        = "arn:aws:kms:" + region + ":" + otherAccount + ":key/9f712a3b-4c5d-6e7f-0b5c-3f1e6d2a4c8e"
	builderKey      = "arn:aws:kms:" + region + ":" + builderAccount + ":key/2a3b4c5d-6e7f-0b5c-3f1e-6d2a4c8e9f71"
	alias           = "arn:aws:kms:" + region + ":" + targetAccount + ":alias/amicrypt"
	sourceImage     = "arn:aws:ec2:" + region + "::image/ami-0b0000000000a0001"
	sourceSnapshot  = "arn:aws:ec2:" + region + "::snapshot/snap-0b0000000000a0001"
	copiedImage     = "arn:aws:ec2:" + region + "::image/ami-0c0000000000a0001"
	copiedSnapshot  = "arn:aws:ec2:" + region + "::snapshot/snap-0c0000000000a0001"
	launchTemplate  = "arn:aws:ec2:" + region + ":" + targetAccount + ":launch-template/lt-0c0000000000a0001"
	ssmParameter    = "arn:aws:ssm:" + region + ":" + targetAccount + ":parameter/amicrypt/base/ami-id"
	slr             = policy.ServiceLinkedRoleARN("aws", targetAccount, "")
	slrSuffix       = policy.ServiceLinkedRoleARN("aws", targetAccount, "CMK")
	bootProofGroup  = func() string {
		group, _ := activities.BootProofInput{RunID: "run-1", Target: activities.Target{Account: targetAccount, Region: region}}.BootProofNames()
		return "arn:aws:autoscaling:" + region + ":" + targetAccount + ":autoScalingGroup:6f1e2d3c-4b5a-6978-8a9b-0c1d2e3f4a5b:autoScalingGroupName/" + group
	}()
	eksProvider = "oidc.eks." + region + ".amazonaws.com/id/EXAMPLED539D4633E53DE1B71EXAMPLE"
	// The organization reader and what it reads: Organizations' ARNs name
	// the management account and the organization.
	readerRoleARN = "arn:aws:iam::" + managementAccount + ":role/amicrypt-organization-reader"
	orgRoot       = "arn:aws:organizations::" + managementAccount + ":root/" + orgID + "/r-ab12"
	orgUnit       = "arn:aws:organizations::" + managementAccount + ":ou/" + orgID + "/ou-ab12-cd34ef56"
	orgAccount    = "arn:aws:organizations::" + managementAccount + ":account/" + orgID + "/" + targetAccount
	// launchPrincipal: a role of the target account a target names in
	// launch_principals (with a path: IAM checks the role's full ARN).
	launchPrincipal = "arn:aws:iam::" + targetAccount + ":role/apps/web-launcher"
)

// Condition keys of the sample requests.
var (
	managedKey    = map[string][]string{"aws:ResourceTag/amicrypt:managed": {"true"}}
	amicryptImage = map[string][]string{"aws:ResourceTag/amicrypt:source-image": {"ami-0b0000000000a0001"}}
	// shareable is a builder image (or snapshot) tagged for amicrypt to share.
	shareable = map[string][]string{"aws:ResourceTag/amicrypt:shareable": {"true"}}
	// publishTemplate is the launch template amicrypt publishes to, which it created tagged.
	publishTemplate = map[string][]string{"aws:ResourceTag/amicrypt:managed": {"true"}}
	bootProofTmpl   = map[string][]string{"aws:ResourceTag/amicrypt:run": {"run-1"}}
	viaEC2          = map[string][]string{"kms:ViaService": {policy.EC2ViaService(region)}}
	newKey          = map[string][]string{"aws:RequestTag/amicrypt:managed": {"true"}, "kms:KeySpec": {"SYMMETRIC_DEFAULT"}, "kms:KeyUsage": {"ENCRYPT_DECRYPT"}}
	// rotatedKey: a key amicrypt rotated away from (rotate.go
	// finishSuccessor tagged it with its successor); an adopted one, without
	// amicrypt:managed, the harder case.
	rotatedKey = map[string][]string{"aws:ResourceTag/" + activities.TagSuccessor: {ownKey}}
	// successorTags: CreateKey's Tags on a rotation's new key (rotate.go).
	successorTags = map[string][]string{
		"aws:TagKeys":                                    {"amicrypt:managed", activities.TagKeyAlias, activities.TagPredecessor, activities.TagRotation, activities.TagRotationReason, activities.TagRotatedBy},
		"aws:RequestTag/amicrypt:managed":                {"true"},
		"aws:RequestTag/" + activities.TagKeyAlias:       {"alias/amicrypt"},
		"aws:RequestTag/" + activities.TagPredecessor:    {oldKey},
		"aws:RequestTag/" + activities.TagRotation:       {"rot-1"},
		"aws:RequestTag/" + activities.TagRotationReason: {activities.ReasonLeaked},
		"aws:RequestTag/" + activities.TagRotatedBy:      {"alice"},
	}
	// oldKeyTags: finishSuccessor's tags on the old key.
	oldKeyTags = map[string][]string{
		"aws:TagKeys": {activities.TagSuccessor, activities.TagRotationReason, activities.TagRotatedBy},
		"aws:RequestTag/" + activities.TagSuccessor:      {ownKey},
		"aws:RequestTag/" + activities.TagRotationReason: {activities.ReasonLeaked},
		"aws:RequestTag/" + activities.TagRotatedBy:      {"alice"},
	}
	// dedicatedKeyTags: key.go's CreateKey Tags on the dedicated key.
	dedicatedKeyTags = map[string][]string{
		"aws:TagKeys":                              {activities.TagManagedKey, activities.TagKeyAlias},
		"aws:RequestTag/amicrypt:managed":          {"true"},
		"aws:RequestTag/" + activities.TagKeyAlias: {"alias/amicrypt"},
	}
	// disabledKeyRequest: RetireOldKeys's tags on an old key just before
	// DisableKey (rotate.go tagKeyDisabled); disabledKeyTags the same on
	// the key, which carries the amicrypt:successor tag PrepareRotation
	// set (rotatedKey).
	disabledKeyRequest = map[string][]string{
		"aws:TagKeys": {activities.TagKeyDisabledAt, activities.TagKeyDisabledReason},
		"aws:RequestTag/" + activities.TagKeyDisabledAt:     {"2026-12-07T10:00:00Z"},
		"aws:RequestTag/" + activities.TagKeyDisabledReason: {"key rotation: replaced by " + ownKey},
	}
	disabledKeyTags = merged(rotatedKey, disabledKeyRequest)
	// reenabledKey: a key amicrypt disabled (keyretire.go reads
	// amicrypt:disabled-at) that someone tried to use since;
	// reenabledKeyTags: enableTriedKey's tags on it.
	reenabledKey     = with(disabledKeyTags, "aws:ResourceTag/"+activities.TagKeyDisabledAt, "2026-12-07T10:00:00Z")
	reenabledKeyTags = with(with(with(rotatedKey,
		"aws:TagKeys", activities.TagKeyReenabledAt, activities.TagKeyReenabledReason),
		"aws:RequestTag/"+activities.TagKeyReenabledAt, "2026-12-20T10:00:00Z"),
		"aws:RequestTag/"+activities.TagKeyReenabledReason, "tried while disabled: Decrypt by arn:aws:sts::"+targetAccount+":assumed-role/app/i-1")
	// disabledImageTags: retire's tags on an image before DisableImage
	// (images.go), dropped again by DeleteTags when it is enabled again.
	disabledImageTags = map[string][]string{"aws:TagKeys": {activities.TagDisabledAt, activities.TagDisabledReason}}
	// managedTags: amicrypt:managed=true in a request, as the tags of the
	// publish parameter (PutParameter) and template (CreateLaunchTemplate).
	managedTags = map[string][]string{"aws:TagKeys": {activities.TagManagedKey}, "aws:RequestTag/amicrypt:managed": {"true"}}
	// viaImageReferences: what EC2's AMI reference check
	// (DescribeImageReferences) reads on the caller's behalf.
	viaImageReferences = map[string][]string{"aws:CalledVia": {"ec2-images.amazonaws.com"}}
)

func grantTo(grantee string, ops ...string) map[string][]string {
	return map[string][]string{"kms:GranteePrincipal": {grantee}, "kms:GrantOperations": ops}
}

// merged is the union of request contexts (later ones win).
func merged(ms ...map[string][]string) map[string][]string {
	out := map[string][]string{}
	for _, m := range ms {
		maps.Copy(out, m)
	}
	return out
}

func with(m map[string][]string, k string, v ...string) map[string][]string {
	out := maps.Clone(m)
	if out == nil {
		out = map[string][]string{}
	}
	out[k] = v
	return out
}

// use is one permission a role needs.
type use struct {
	Role     string // "builder", "target" or "organization" (the organization reader)
	Action   string
	Resource string // a sample resource; "*" when the action takes none
	Context  map[string][]string
	// Call is the SDK call in activities/ that needs the permission: Action
	// itself for a direct call (checked against the code below), or the call
	// because of which AWS checks Action.
	Call string
	// Where is the file(s) making Call.
	Where string
	// Foreign: only for targets naming another account's key (key_arn); the
	// target stack allows it only with ExternalKeyArns.
	Foreign bool
	// NoPermission: AWS requires no permission (sts:GetCallerIdentity).
	NoPermission bool
	// Reader: only for configs with organization targets read through a
	// role (organization.role_arn); the builder stack allows it only with
	// OrganizationReaderRoleArn.
	Reader bool
}

// permissions is THE list of what amicrypt does in AWS: every call the
// activities make (activities/*.go, non-test), as which role, and the
// permissions AWS checks because of them. TestPermissionsMatchTheActivities
// derives the calls from the code and fails when they and this list differ;
// the other tests check the templates' policies allow every entry. The
// README's permissions table says the same in prose.
func permissions(grantOps []string) []use {
	b, t, o := "builder", "target", "organization"
	return []use{
		// Builder account (share.go: ShareSource / UnshareSource / PlanShare,
		// preflight.go: describeSourceFacts, with the builder's access), and
		// the worker's own credentials (aws.go).
		{Role: b, Action: "ec2:DescribeImages", Resource: "*", Call: "ec2:DescribeImages", Where: "share.go, preflight.go (describeSourceFacts: the source as a plan and PrepareTarget see it)"},
		{Role: b, Action: "ec2:DescribeSnapshots", Resource: "*", Call: "ec2:DescribeSnapshots", Where: "share.go, preflight.go (describeSourceFacts: the keys of the source's snapshots)"},
		{Role: b, Action: "ec2:DescribeImageAttribute", Resource: sourceImage, Call: "ec2:DescribeImageAttribute", Where: "share.go (FindPreexistingShares: launch permissions before amicrypt; PlanShare: the accounts it is shared with, against the sharing quota)"},
		{Role: b, Action: "ec2:DescribeSnapshotAttribute", Resource: sourceSnapshot, Call: "ec2:DescribeSnapshotAttribute", Where: "share.go (FindPreexistingShares: create-volume permissions before amicrypt)"},
		{Role: b, Action: "ec2:ModifyImageAttribute", Resource: sourceImage, Context: merged(shareable, map[string][]string{"ec2:Add/userId": {targetAccount}}), Call: "ec2:ModifyImageAttribute", Where: "share.go"},
		{Role: b, Action: "ec2:ModifyImageAttribute", Resource: sourceImage, Context: map[string][]string{"ec2:Remove/userId": {targetAccount}}, Call: "ec2:ModifyImageAttribute", Where: "share.go (unshare)"},
		{Role: b, Action: "ec2:ModifySnapshotAttribute", Resource: sourceSnapshot, Context: merged(shareable, map[string][]string{"ec2:Add/userId": {targetAccount}}), Call: "ec2:ModifySnapshotAttribute", Where: "share.go"},
		{Role: b, Action: "ec2:ModifySnapshotAttribute", Resource: sourceSnapshot, Context: map[string][]string{"ec2:Remove/userId": {targetAccount}}, Call: "ec2:ModifySnapshotAttribute", Where: "share.go (unshare, whatever the snapshot's tags)"},
		{Role: b, Action: "kms:DescribeKey", Resource: builderKey, Call: "kms:DescribeKey", Where: "share.go (F1 pre-check), preflight.go (describeSourceFacts: AWS managed or not)"},
		{Role: b, Action: "kms:GetKeyPolicy", Resource: builderKey, Call: "kms:GetKeyPolicy", Where: "preflight.go (describeSourceFacts: may the target accounts use the source's key through EC2, F1; a refusal is a warning)"},
		{Role: b, Action: "sts:AssumeRole", Resource: targetRoleARN, Call: "sts:AssumeRole", Where: "aws.go (stscreds, the worker's own credentials)"},
		{Role: b, Action: "sts:AssumeRole", Resource: pipelineRoleARN, Call: "sts:AssumeRole", Where: "worker/ownrole.go (the role assumes itself for each run's shares)"},
		{Role: b, Action: "sts:SetSourceIdentity", Resource: pipelineRoleARN, Call: "sts:AssumeRole", Where: "worker/ownrole.go (with the run's operator)"},
		{Role: b, Action: "sts:AssumeRole", Resource: readerRoleARN, Call: "sts:AssumeRole", Where: "aws.go (stscreds: the organization reader, organization.role_arn; orgtargets.go organizationAccess)", Reader: true},
		{Role: b, Action: "sts:SetSourceIdentity", Resource: readerRoleARN, Call: "sts:AssumeRole", Where: "aws.go (the organization reader's session carries the run's operator)", Reader: true},

		// The organization reader (orgtargets.go, with organizationAccess:
		// the config's organization.role_arn, in the management account or
		// a delegated administrator), as a run starts.
		{Role: o, Action: "organizations:ListRoots", Resource: "*", Call: "organizations:ListRoots", Where: "orgtargets.go (ListOrganizationUnits: the organization's root)"},
		{Role: o, Action: "organizations:DescribeOrganization", Resource: "*", Call: "organizations:DescribeOrganization", Where: "orgtargets.go (ListOrganizationUnits: the organization's id for the run's report; a refusal leaves it out)"},
		{Role: o, Action: "organizations:ListChildren", Resource: orgRoot, Call: "organizations:ListChildren", Where: "orgtargets.go (ListOrganizationUnits: the units below the root, organization: true)"},
		{Role: o, Action: "organizations:ListChildren", Resource: orgUnit, Call: "organizations:ListChildren", Where: "orgtargets.go (ListOrganizationUnits: the units below a unit, every level)"},
		{Role: o, Action: "organizations:DescribeOrganizationalUnit", Resource: orgUnit, Call: "organizations:DescribeOrganizationalUnit", Where: "orgtargets.go (ListOrganizationUnits: a unit's name; a selector's unit exists)"},
		{Role: o, Action: "organizations:ListParents", Resource: orgUnit, Call: "organizations:ListParents", Where: "orgtargets.go (ListOrganizationUnits: the unit above a selector's unit)"},
		{Role: o, Action: "organizations:ListAccountsForParent", Resource: orgRoot, Call: "organizations:ListAccountsForParent", Where: "orgtargets.go (ListOrganizationAccounts: the accounts directly under the root)"},
		{Role: o, Action: "organizations:ListAccountsForParent", Resource: orgUnit, Call: "organizations:ListAccountsForParent", Where: "orgtargets.go (ListOrganizationAccounts: a unit's own accounts, page by page)"},
		{Role: o, Action: "organizations:DescribeAccount", Resource: orgAccount, Call: "organizations:DescribeAccount", Where: "orgtargets.go (DescribeOrganizationAccounts: the status of accounts the config lists one by one)"},

		// Target account (the target's access).
		{Role: t, Action: "sts:GetCallerIdentity", Resource: "*", Call: "sts:GetCallerIdentity", Where: "assume.go", NoPermission: true},
		{Role: t, Action: "organizations:DescribeOrganization", Resource: "*", Call: "organizations:DescribeOrganization", Where: "organization.go (verifyOrganization: the target account's own organization, for a worker with --allow-organization)"},
		{Role: t, Action: "iam:GetRole", Resource: slr, Call: "iam:GetRole", Where: "slr.go"},
		{Role: t, Action: "iam:GetRole", Resource: slrSuffix, Call: "iam:GetRole", Where: "slr.go (service_linked_role_suffix)"},
		{Role: t, Action: "iam:CreateServiceLinkedRole", Resource: slr, Context: map[string][]string{"iam:AWSServiceName": {"autoscaling.amazonaws.com"}}, Call: "iam:CreateServiceLinkedRole", Where: "slr.go"},
		{Role: t, Action: "iam:CreateServiceLinkedRole", Resource: slrSuffix, Context: map[string][]string{"iam:AWSServiceName": {"autoscaling.amazonaws.com"}}, Call: "iam:CreateServiceLinkedRole", Where: "slr.go (service_linked_role_suffix)"},
		{Role: t, Action: "iam:ListRolePolicies", Resource: launchPrincipal, Call: "iam:ListRolePolicies", Where: "preflight.go (checkLaunchPrincipals, F4: a launch principal's inline policies)"},
		{Role: t, Action: "iam:GetRolePolicy", Resource: launchPrincipal, Call: "iam:GetRolePolicy", Where: "preflight.go (checkLaunchPrincipals, F4: each inline policy, evaluated with the key's policy)"},
		{Role: t, Action: "iam:ListAttachedRolePolicies", Resource: launchPrincipal, Call: "iam:ListAttachedRolePolicies", Where: "preflight.go (checkLaunchPrincipals, F4: are managed policies attached, which are not read)"},

		{Role: t, Action: "kms:DescribeKey", Resource: ownKey, Call: "kms:DescribeKey", Where: "key.go, diagnose.go, rotate.go (also keyHolders: the key an EBS default alias names), retention.go (configKeys), sweep.go"},
		{Role: t, Action: "kms:DescribeKey", Resource: oldKey, Call: "kms:DescribeKey", Where: "rotate.go (RetireOldKeys: an old key's state), keyretire.go (finishKeyRetirement)"},
		{Role: t, Action: "kms:CreateKey", Resource: "*", Context: newKey, Call: "kms:CreateKey", Where: "key.go"},
		{Role: t, Action: "kms:TagResource", Resource: ownKey, Context: dedicatedKeyTags, Call: "kms:CreateKey", Where: "key.go (CreateKey's Tags: amicrypt:managed=true, amicrypt:alias)"},
		{Role: t, Action: "kms:CreateKey", Resource: "*", Context: with(with(successorTags, "kms:KeySpec", "SYMMETRIC_DEFAULT"), "kms:KeyUsage", "ENCRYPT_DECRYPT"), Call: "kms:CreateKey", Where: "rotate.go (PrepareRotation: the successor key)"},
		{Role: t, Action: "kms:TagResource", Resource: ownKey, Context: successorTags, Call: "kms:CreateKey", Where: "rotate.go (the successor's CreateKey Tags: managed, predecessor, rotation, reason, operator)"},
		{Role: t, Action: "kms:TagResource", Resource: oldKey, Context: oldKeyTags, Call: "kms:TagResource", Where: "rotate.go (finishSuccessor: the old key, managed or adopted, names its successor)"},
		{Role: t, Action: "kms:TagResource", Resource: oldKey, Context: disabledKeyTags, Call: "kms:TagResource", Where: "rotate.go (RetireOldKeys, tagKeyDisabled: when and why, just before DisableKey)"},
		{Role: t, Action: "kms:ListKeys", Resource: "*", Call: "kms:ListKeys", Where: "rotate.go (findSuccessorByScan: a retried PrepareRotation)"},
		{Role: t, Action: "kms:CreateAlias", Resource: alias, Call: "kms:CreateAlias", Where: "key.go"},
		{Role: t, Action: "kms:CreateAlias", Resource: ownKey, Call: "kms:CreateAlias", Where: "key.go (checked on the key too)"},
		{Role: t, Action: "kms:UpdateAlias", Resource: alias, Call: "kms:UpdateAlias", Where: "rotate.go (SwitchKey: the alias to the successor)"},
		{Role: t, Action: "kms:UpdateAlias", Resource: oldKey, Context: rotatedKey, Call: "kms:UpdateAlias", Where: "rotate.go (checked on the alias's current key, which PrepareRotation tagged amicrypt:successor)"},
		{Role: t, Action: "kms:UpdateAlias", Resource: ownKey, Context: managedKey, Call: "kms:UpdateAlias", Where: "rotate.go (checked on the new key, which amicrypt created)"},
		{Role: t, Action: "kms:GetKeyRotationStatus", Resource: ownKey, Call: "kms:GetKeyRotationStatus", Where: "key.go, rotate.go, sweep.go"},
		{Role: t, Action: "kms:EnableKeyRotation", Resource: ownKey, Call: "kms:EnableKeyRotation", Where: "key.go, rotate.go (the successor), sweep.go (managed or manage_key_policy)"},
		{Role: t, Action: "kms:ListResourceTags", Resource: ownKey, Call: "kms:ListResourceTags", Where: "key.go, rotate.go, sweep.go"},
		{Role: t, Action: "kms:ListResourceTags", Resource: oldKey, Call: "kms:ListResourceTags", Where: "rotate.go (every key of the account in findSuccessorByScan; an old key's amicrypt:successor), keyretire.go (amicrypt:disabled-at, amicrypt:reenabled-at)"},
		{Role: t, Action: "kms:GetKeyPolicy", Resource: ownKey, Call: "kms:GetKeyPolicy", Where: "key.go, diagnose.go, sweep.go"},
		{Role: t, Action: "kms:GetKeyPolicy", Resource: oldKey, Call: "kms:GetKeyPolicy", Where: "rotate.go (the old key's statements, kept on the successor)"},
		{Role: t, Action: "kms:PutKeyPolicy", Resource: ownKey, Context: managedKey, Call: "kms:PutKeyPolicy", Where: "key.go, sweep.go (a key amicrypt created; any key only with ManageAdoptedKeyPolicies)"},
		{Role: t, Action: "kms:ListGrants", Resource: ownKey, Call: "kms:ListGrants", Where: "key.go, diagnose.go"},
		{Role: t, Action: "kms:ListGrants", Resource: oldKey, Call: "kms:ListGrants", Where: "rotate.go (revokeAmicryptGrants; keyHolders: grants other than amicrypt's hold the key)"},
		{Role: t, Action: "kms:RevokeGrant", Resource: oldKey, Call: "kms:RevokeGrant", Where: "rotate.go (RetireOldKeys: amicrypt's grants on every old key)"},
		{Role: t, Action: "kms:DisableKey", Resource: oldKey, Context: rotatedKey, Call: "kms:DisableKey", Where: "rotate.go (RetireOldKeys: an old key of the alias's line nothing holds)"},
		{Role: t, Action: "kms:ScheduleKeyDeletion", Resource: oldKey, Context: rotatedKey, Call: "kms:ScheduleKeyDeletion", Where: "keyretire.go (finishKeyRetirement: a key of the alias's line amicrypt disabled, untried for rotation.retire_after, nothing holding it)"},
		{Role: t, Action: "kms:EnableKey", Resource: oldKey, Context: reenabledKey, Call: "kms:EnableKey", Where: "keyretire.go (enableTriedKey: a key amicrypt disabled that someone tried to use since, CloudTrail says)"},
		{Role: t, Action: "kms:TagResource", Resource: oldKey, Context: reenabledKeyTags, Call: "kms:TagResource", Where: "keyretire.go (enableTriedKey: amicrypt:reenabled-at, amicrypt:reenabled-reason)"},
		{Role: t, Action: "kms:UntagResource", Resource: oldKey, Context: with(rotatedKey, "aws:TagKeys", activities.TagKeyDisabledAt, activities.TagKeyDisabledReason), Call: "kms:UntagResource", Where: "keyretire.go (enableTriedKey: the disabled-at and disabled-reason tags go)"},
		{Role: t, Action: "kms:GetKeyLastUsage", Resource: oldKey, Call: "kms:GetKeyLastUsage", Where: "keyretire.go (lastUse: an old key's last successful use, for the report; a refusal is tolerated)"},
		{Role: t, Action: "cloudtrail:LookupEvents", Resource: "*", Call: "cloudtrail:LookupEvents", Where: "keyretire.go (refusedAttempts: requests refused because an old key is disabled)"},
		{Role: t, Action: "kms:CreateGrant", Resource: ownKey, Context: grantTo(slr, grantOps...), Call: "kms:CreateGrant", Where: "key.go (grant_service_linked_role)"},
		{Role: t, Action: "kms:CreateGrant", Resource: ownKey, Context: grantTo(slrSuffix, grantOps...), Call: "kms:CreateGrant", Where: "key.go (grant to a custom-suffix role)"},
		{Role: t, Action: "kms:ScheduleKeyDeletion", Resource: ownKey, Context: managedKey, Call: "kms:ScheduleKeyDeletion", Where: "key.go (the orphan of a lost alias race)"},

		{Role: t, Action: "ec2:DescribeImages", Resource: "*", Call: "ec2:DescribeImages", Where: "copy.go, bootproof.go, verify.go, images.go (scopedImages), publish.go (newerBuild, otherFamily), rotate.go, sweep.go"},
		{Role: t, Action: "ec2:CopyImage", Resource: sourceImage, Context: map[string][]string{"ec2:Owner": {builderAccount}}, Call: "ec2:CopyImage", Where: "copy.go (the builder's shared source)"},
		{Role: t, Action: "ec2:CopyImage", Resource: copiedImage, Context: map[string][]string{"ec2:Owner": {targetAccount}}, Call: "ec2:CopyImage", Where: "rotate.go (ReencryptImage: the account's own image under another key)"},
		{Role: t, Action: "ec2:CopyImage", Resource: copiedImage, Call: "ec2:CopyImage", Where: "copy.go, rotate.go (the new image, which has no owner yet)"},
		{Role: t, Action: "ec2:CreateTags", Resource: copiedImage, Context: map[string][]string{"ec2:CreateAction": {"CopyImage"}}, Call: "ec2:CopyImage", Where: "copy.go, rotate.go (TagSpecifications)"},
		{Role: t, Action: "ec2:CreateTags", Resource: copiedSnapshot, Context: map[string][]string{"ec2:CreateAction": {"CopyImage"}}, Call: "ec2:CopyImage", Where: "copy.go, rotate.go (TagSpecifications)"},
		{Role: t, Action: "kms:GenerateDataKeyWithoutPlaintext", Resource: ownKey, Context: viaEC2, Call: "ec2:CopyImage", Where: "copy.go (EC2 encrypts the copy)"},
		{Role: t, Action: "kms:Decrypt", Resource: ownKey, Context: viaEC2, Call: "ec2:CopyImage", Where: "copy.go"},
		{Role: t, Action: "kms:ReEncryptFrom", Resource: ownKey, Context: viaEC2, Call: "ec2:CopyImage", Where: "copy.go"},
		{Role: t, Action: "kms:ReEncryptTo", Resource: ownKey, Context: viaEC2, Call: "ec2:CopyImage", Where: "copy.go"},
		{Role: t, Action: "kms:DescribeKey", Resource: ownKey, Context: viaEC2, Call: "ec2:CopyImage", Where: "copy.go"},
		{Role: t, Action: "kms:CreateGrant", Resource: ownKey, Context: with(viaEC2, "kms:GrantIsForAWSResource", "true"), Call: "ec2:CopyImage", Where: "copy.go"},
		// A re-encrypting copy (rotate.go ReencryptImage): EC2 reads the
		// snapshots under the old key and writes them under the new one
		// (ownKey above), both on the role's behalf.
		{Role: t, Action: "kms:Decrypt", Resource: oldKey, Context: viaEC2, Call: "ec2:CopyImage", Where: "rotate.go (the old key)"},
		{Role: t, Action: "kms:ReEncryptFrom", Resource: oldKey, Context: viaEC2, Call: "ec2:CopyImage", Where: "rotate.go (the old key)"},
		{Role: t, Action: "kms:DescribeKey", Resource: oldKey, Context: viaEC2, Call: "ec2:CopyImage", Where: "rotate.go (the old key)"},
		{Role: t, Action: "kms:CreateGrant", Resource: oldKey, Context: with(viaEC2, "kms:GrantIsForAWSResource", "true"), Call: "ec2:CopyImage", Where: "rotate.go (the old key)"},
		{Role: t, Action: "ec2:DeregisterImage", Resource: copiedImage, Context: amicryptImage, Call: "ec2:DeregisterImage", Where: "images.go (retire: retention's and a rotation's old images, disabled for the grace and unused), copy.go (a failed copy), rotate.go (a failed re-encrypted copy)"},
		{Role: t, Action: "ec2:DeleteSnapshot", Resource: copiedSnapshot, Context: amicryptImage, Call: "ec2:DeregisterImage", Where: "images.go (DeleteAssociatedSnapshots)"},
		{Role: t, Action: "ec2:DisableImage", Resource: copiedImage, Context: amicryptImage, Call: "ec2:DisableImage", Where: "images.go (retire: an image retention or a rotation retires, nothing using it; retention.go, rotate.go RetireOldKeys)"},
		{Role: t, Action: "ec2:EnableImage", Resource: copiedImage, Context: amicryptImage, Call: "ec2:EnableImage", Where: "images.go (retire: an image amicrypt disabled that something came to use)"},
		{Role: t, Action: "ec2:CreateTags", Resource: copiedImage, Context: merged(disabledImageTags, amicryptImage), Call: "ec2:CreateTags", Where: "images.go (retire: amicrypt:disabled-at, amicrypt:disabled-reason before DisableImage)"},
		{Role: t, Action: "ec2:DeleteTags", Resource: copiedImage, Context: disabledImageTags, Call: "ec2:DeleteTags", Where: "images.go (retire: the same two tags, after EnableImage)"},
		{Role: t, Action: "ec2:DescribeImageReferences", Resource: "*", Call: "ec2:DescribeImageReferences", Where: "images.go (imageUsers: instances, SSM parameters and Image Builder recipes using an image to retire)"},
		// What EC2's reference check reads as the caller (AWS: "Identify your
		// resources referencing specified AMIs", required IAM permissions).
		{Role: t, Action: "ec2:DescribeInstances", Resource: "*", Context: viaImageReferences, Call: "ec2:DescribeImageReferences", Where: "images.go (ec2:Instance references)"},
		{Role: t, Action: "ssm:DescribeParameters", Resource: "*", Context: viaImageReferences, Call: "ec2:DescribeImageReferences", Where: "images.go (ssm:Parameter references)"},
		{Role: t, Action: "ssm:GetParameters", Resource: ssmParameter, Context: viaImageReferences, Call: "ec2:DescribeImageReferences", Where: "images.go (ssm:Parameter references)"},
		{Role: t, Action: "imagebuilder:ListImageRecipes", Resource: "*", Context: viaImageReferences, Call: "ec2:DescribeImageReferences", Where: "images.go (imagebuilder:ImageRecipe references)"},
		{Role: t, Action: "imagebuilder:ListContainerRecipes", Resource: "*", Context: viaImageReferences, Call: "ec2:DescribeImageReferences", Where: "images.go (imagebuilder:ContainerRecipe references)"},
		{Role: t, Action: "imagebuilder:GetContainerRecipe", Resource: "arn:aws:imagebuilder:" + region + ":" + targetAccount + ":container-recipe/app/1.0.0", Context: viaImageReferences, Call: "ec2:DescribeImageReferences", Where: "images.go (imagebuilder:ContainerRecipe references)"},
		{Role: t, Action: "autoscaling:DescribeLaunchConfigurations", Resource: "*", Call: "autoscaling:DescribeLaunchConfigurations", Where: "images.go (imageUsers: the image of each group's launch configuration)"},
		{Role: t, Action: "ec2:GetEbsDefaultKmsKeyId", Resource: "*", Call: "ec2:GetEbsDefaultKmsKeyId", Where: "rotate.go (keyHolders: the account's EBS default key holds an old key)"},
		{Role: t, Action: "ec2:DescribeSnapshots", Resource: "*", Call: "ec2:DescribeSnapshots", Where: "verify.go, rotate.go (snapshotKeys, for images.go's scope too; keyHolders), sweep.go"},

		{Role: t, Action: "ec2:CreateLaunchTemplate", Resource: launchTemplate, Context: map[string][]string{"aws:TagKeys": {activities.TagRun, activities.TagWorkflow, activities.TagWorkflowRun, activities.TagExpires}}, Call: "ec2:CreateLaunchTemplate", Where: "bootproof.go (tagged amicrypt:run)"},
		{Role: t, Action: "ec2:CreateLaunchTemplate", Resource: launchTemplate, Context: managedTags, Call: "ec2:CreateLaunchTemplate", Where: "publish.go (publishLaunchTemplate: tagged amicrypt:managed=true)"},
		{Role: t, Action: "ec2:CreateTags", Resource: launchTemplate, Context: map[string][]string{"ec2:CreateAction": {"CreateLaunchTemplate"}}, Call: "ec2:CreateLaunchTemplate", Where: "bootproof.go (TagSpecifications: amicrypt:run)"},
		{Role: t, Action: "ec2:CreateTags", Resource: launchTemplate, Context: with(managedTags, "ec2:CreateAction", "CreateLaunchTemplate"), Call: "ec2:CreateLaunchTemplate", Where: "publish.go (publishLaunchTemplate: the publish template's TagSpecifications, amicrypt:managed=true)"},
		{Role: t, Action: "autoscaling:CreateAutoScalingGroup", Resource: bootProofGroup, Call: "autoscaling:CreateAutoScalingGroup", Where: "bootproof.go"},
		{Role: t, Action: "ec2:RunInstances", Resource: launchTemplate, Context: merged(bootProofTmpl, map[string][]string{"ec2:LaunchTemplate": {launchTemplate}}), Call: "autoscaling:CreateAutoScalingGroup", Where: "bootproof.go (a group from the boot proof's launch template)"},
		{Role: t, Action: "ec2:RunInstances", Resource: "arn:aws:ec2:" + region + ":" + targetAccount + ":instance/*", Context: map[string][]string{"ec2:LaunchTemplate": {launchTemplate}}, Call: "autoscaling:CreateAutoScalingGroup", Where: "bootproof.go (the instance, volume, network interface, subnet ... of a launch from it)"},
		{Role: t, Action: "iam:PassRole", Resource: slr, Call: "autoscaling:CreateAutoScalingGroup", Where: "bootproof.go (ServiceLinkedRoleARN)"},
		{Role: t, Action: "iam:PassRole", Resource: slrSuffix, Call: "autoscaling:CreateAutoScalingGroup", Where: "bootproof.go (a custom-suffix role)"},
		{Role: t, Action: "kms:CreateGrant", Resource: ownKey, Context: with(viaEC2, "kms:GrantIsForAWSResource", "true"), Call: "autoscaling:CreateAutoScalingGroup", Where: "bootproof.go (the template's encrypted root volume)"},
		{Role: t, Action: "autoscaling:DescribeAutoScalingGroups", Resource: "*", Call: "autoscaling:DescribeAutoScalingGroups", Where: "bootproof.go, leftovers.go (boot proofs abandoned by terminated workflows), images.go (imageUsers: groups launching an image)"},
		{Role: t, Action: "ec2:DescribeLaunchTemplates", Resource: "*", Call: "ec2:DescribeLaunchTemplates", Where: "leftovers.go (boot-proof templates abandoned by terminated workflows), publish.go (publishOwner: who created the publish template), images.go (imageUsers), rotate.go (keyHolders)"},
		{Role: t, Action: "autoscaling:DescribeScalingActivities", Resource: "*", Call: "autoscaling:DescribeScalingActivities", Where: "bootproof.go"},
		{Role: t, Action: "ec2:DescribeInstances", Resource: "*", Call: "ec2:DescribeInstances", Where: "bootproof.go (F8)"},
		{Role: t, Action: "ec2:DescribeVolumes", Resource: "*", Call: "ec2:DescribeVolumes", Where: "bootproof.go (F8), rotate.go (keyHolders: volumes still under an old key)"},
		{Role: t, Action: "autoscaling:DeleteAutoScalingGroup", Resource: bootProofGroup, Call: "autoscaling:DeleteAutoScalingGroup", Where: "bootproof.go"},
		// What the boot proof will need, read before anything is made
		// (preflight.go: a plan, and PrepareTarget).
		{Role: t, Action: "ec2:DescribeInstanceTypes", Resource: "*", Call: "ec2:DescribeInstanceTypes", Where: "preflight.go (checkArchitecture: the boot-proof instance type runs the source's architecture)"},
		{Role: t, Action: "ec2:DescribeSubnets", Resource: "*", Call: "ec2:DescribeSubnets", Where: "preflight.go (checkProofRoom: boot_proof.subnet_ids exist)"},
		{Role: t, Action: "ec2:DescribeAccountAttributes", Resource: "*", Call: "ec2:DescribeAccountAttributes", Where: "preflight.go (checkProofRoom: a default VPC, without subnet_ids)"},
		{Role: t, Action: "autoscaling:DescribeAccountLimits", Resource: "*", Call: "autoscaling:DescribeAccountLimits", Where: "preflight.go (checkProofRoom: room for one more group)"},
		{Role: t, Action: "ec2:DeleteLaunchTemplate", Resource: launchTemplate, Context: bootProofTmpl, Call: "ec2:DeleteLaunchTemplate", Where: "bootproof.go"},

		{Role: t, Action: "ec2:CreateTags", Resource: copiedImage, Context: merged(amicryptImage, map[string][]string{"aws:TagKeys": {activities.TagProven, activities.TagProvenReason}}), Call: "ec2:CreateTags", Where: "publish.go (MarkImage)"},
		{Role: t, Action: "ec2:DeleteTags", Resource: copiedImage, Context: map[string][]string{"aws:TagKeys": {activities.TagProvenReason}}, Call: "ec2:DeleteTags", Where: "publish.go (MarkImage)"},
		{Role: t, Action: "ssm:GetParameter", Resource: ssmParameter, Call: "ssm:GetParameter", Where: "publish.go (publishOwner: PrepareTarget, FinishTarget, SwitchKey)"},
		{Role: t, Action: "ssm:DescribeParameters", Resource: "*", Call: "ssm:DescribeParameters", Where: "publish.go (publishOwner: the parameter's last writer and data type; PrepareTarget, FinishTarget, SwitchKey)"},
		{Role: t, Action: "ssm:PutParameter", Resource: ssmParameter, Call: "ssm:PutParameter", Where: "publish.go (putImageParameter: FinishTarget, and SwitchKey repointing to the re-encrypted image)"},
		{Role: t, Action: "ssm:AddTagsToResource", Resource: ssmParameter, Context: managedTags, Call: "ssm:PutParameter", Where: "publish.go (putImageParameter: a new parameter's Tags, amicrypt:managed=true)"},
		{Role: t, Action: "ec2:DescribeLaunchTemplateVersions", Resource: "*", Call: "ec2:DescribeLaunchTemplateVersions", Where: "publish.go, rotate.go (SwitchKey; keyHolders), images.go (imageUsers: every version naming an image)"},
		{Role: t, Action: "ec2:CreateLaunchTemplateVersion", Resource: launchTemplate, Context: publishTemplate, Call: "ec2:CreateLaunchTemplateVersion", Where: "publish.go, rotate.go (SwitchKey: the new image, block devices under the new key)"},
		{Role: t, Action: "ec2:ModifyLaunchTemplate", Resource: launchTemplate, Context: publishTemplate, Call: "ec2:ModifyLaunchTemplate", Where: "publish.go, rotate.go (SwitchKey: the new default version)"},

		// A key of another account (key_arn; key.go ensureForeignKey).
		{Role: t, Action: "kms:DescribeKey", Resource: foreignKey, Call: "kms:DescribeKey", Where: "key.go, sweep.go (key_arn)", Foreign: true},
		{Role: t, Action: "kms:CreateGrant", Resource: foreignKey, Context: grantTo(slr, grantOps...), Call: "kms:CreateGrant", Where: "key.go (key_arn)", Foreign: true},
		{Role: t, Action: "kms:ListGrants", Resource: foreignKey, Call: "kms:ListGrants", Where: "key.go (key_arn), rotate.go (an old key of another account: images made while a target had key_arn)", Foreign: true},
		{Role: t, Action: "kms:RevokeGrant", Resource: foreignKey, Call: "kms:RevokeGrant", Where: "rotate.go (revokeAmicryptGrants on such an old key)", Foreign: true},
		{Role: t, Action: "kms:GenerateDataKeyWithoutPlaintext", Resource: foreignKey, Context: viaEC2, Call: "ec2:CopyImage", Where: "copy.go (key_arn)", Foreign: true},
		{Role: t, Action: "kms:CreateGrant", Resource: foreignKey, Context: with(viaEC2, "kms:GrantIsForAWSResource", "true"), Call: "ec2:CopyImage", Where: "copy.go (key_arn)", Foreign: true},
	}
}

// refusal is something a role must not be able to do.
type refusal struct {
	Role, Action, Resource string
	Context                map[string][]string
	Why                    string
}

func refusals() []refusal {
	b, t := "builder", "target"
	return []refusal{
		{t, "kms:ScheduleKeyDeletion", otherKey, nil, "another account's key"},
		{t, "kms:ScheduleKeyDeletion", ownKey, nil, "a key amicrypt did not create (no amicrypt:managed tag)"},
		{t, "kms:PutKeyPolicy", ownKey, nil, "an adopted key's policy, without ManageAdoptedKeyPolicies"},
		{t, "kms:PutKeyPolicy", otherKey, managedKey, "another account's key"},
		{t, "kms:DisableKey", ownKey, managedKey, "a key amicrypt did not rotate away from (no amicrypt:successor tag), even its own"},
		{t, "kms:DisableKey", ownKey, nil, "a key of the account amicrypt never rotated"},
		{t, "kms:ScheduleKeyDeletion", otherKey, rotatedKey, "another account's key, whatever its tags"},
		{t, "kms:DisableKey", foreignKey, rotatedKey, "another account's key, whatever its tags"},
		{t, "kms:UpdateAlias", ownKey, nil, "moving an alias from or to a key neither amicrypt's nor rotated away from"},
		{t, "kms:UpdateAlias", otherKey, managedKey, "another account's key"},
		{t, "kms:DeleteAlias", alias, nil, "never called"},
		{t, "kms:RevokeGrant", otherKey, nil, "another account's key not in ExternalKeyArns"},
		{t, "kms:TagResource", oldKey, with(oldKeyTags, "aws:RequestTag/"+activities.TagSuccessor, otherKey), "naming another account's key as the successor"},
		{t, "kms:TagResource", oldKey, map[string][]string{"aws:TagKeys": {activities.TagRotationReason}, "aws:RequestTag/" + activities.TagRotationReason: {"leaked"}}, "rotation tags without the successor (on an old key) or amicrypt:managed=true (on a new key)"},
		{t, "kms:TagResource", oldKey, with(with(oldKeyTags, "aws:TagKeys", activities.TagSuccessor, "amicrypt:managed"), "aws:RequestTag/amicrypt:managed", "true"), "marking a key both amicrypt's and rotated away from in one call"},
		{t, "kms:TagResource", ownKey, map[string][]string{"aws:TagKeys": {activities.TagRetire}, "aws:RequestTag/" + activities.TagRetire: {"policy"}}, "amicrypt:retire, which operators set to ask a sweep for a rotation"},
		{t, "kms:UntagResource", oldKey, with(rotatedKey, "aws:TagKeys", activities.TagSuccessor), "removing amicrypt:successor (only amicrypt:disabled-* go, when a key is enabled again)"},
		{t, "kms:UntagResource", ownKey, map[string][]string{"aws:TagKeys": {activities.TagKeyDisabledAt}}, "untagging a key amicrypt did not rotate away from"},
		{t, "kms:EnableKey", oldKey, rotatedKey, "a rotated key amicrypt did not disable (no amicrypt:disabled-at)"},
		{t, "kms:EnableKey", ownKey, map[string][]string{"aws:ResourceTag/" + activities.TagKeyDisabledAt: {"2026-12-07T10:00:00Z"}}, "a key amicrypt did not rotate away from"},
		{t, "kms:EnableKey", otherKey, reenabledKey, "another account's key, whatever its tags"},
		{t, "kms:CancelKeyDeletion", oldKey, rotatedKey, "never called"},
		{t, "kms:Decrypt", ownKey, nil, "direct use of the key, not through EC2"},
		{t, "kms:Decrypt", ownKey, map[string][]string{"kms:ViaService": {"s3." + region + ".amazonaws.com"}}, "use through another service"},
		{t, "kms:CreateGrant", ownKey, grantTo("arn:aws:iam::"+targetAccount+":role/admin", "Decrypt"), "a grant to anyone but the service-linked role"},
		{t, "kms:CreateGrant", ownKey, grantTo(slr, "Decrypt", "RetireGrant"), "a grant of more than EBS needs"},
		{t, "kms:CreateKey", "*", map[string][]string{"kms:KeySpec": {"SYMMETRIC_DEFAULT"}, "kms:KeyUsage": {"ENCRYPT_DECRYPT"}}, "a key not tagged as amicrypt's"},
		{t, "kms:CreateKey", "*", with(newKey, "kms:KeySpec", "RSA_2048"), "an asymmetric key"},
		{t, "kms:TagResource", ownKey, map[string][]string{"aws:TagKeys": {"owner"}}, "tags other than amicrypt's"},
		{t, "kms:DescribeKey", foreignKey, nil, "another account's key without ExternalKeyArns"},
		{t, "kms:CreateGrant", foreignKey, grantTo(slr, "Decrypt"), "another account's key without ExternalKeyArns"},
		{t, "iam:CreateServiceLinkedRole", "arn:aws:iam::" + targetAccount + ":role/aws-service-role/spot.amazonaws.com/AWSServiceRoleForEC2Spot", map[string][]string{"iam:AWSServiceName": {"spot.amazonaws.com"}}, "another service's role"},
		{t, "iam:CreateServiceLinkedRole", slr, map[string][]string{"iam:AWSServiceName": {"elasticloadbalancing.amazonaws.com"}}, "another service"},
		{t, "iam:PassRole", "arn:aws:iam::" + targetAccount + ":role/admin", nil, "passing any other role"},
		{t, "iam:CreateRole", "arn:aws:iam::" + targetAccount + ":role/x", nil, "creating roles"},
		{t, "iam:AttachRolePolicy", targetRoleARN, nil, "escalating its own permissions"},
		{t, "iam:GetRolePolicy", "arn:aws:iam::" + otherAccount + ":role/apps/web-launcher", nil, "reading another account's roles"},
		{t, "iam:ListRolePolicies", "arn:aws:iam::" + targetAccount + ":user/alice", nil, "reading anything of IAM but roles"},
		{t, "iam:PutRolePolicy", launchPrincipal, nil, "changing a launch principal's policies (amicrypt only reads them)"},
		{t, "iam:AttachRolePolicy", launchPrincipal, nil, "changing a launch principal's policies (amicrypt only reads them)"},
		{t, "sts:AssumeRole", "arn:aws:iam::" + otherAccount + ":role/amicrypt-target", nil, "hopping on to other accounts"},
		{t, "ec2:ModifyImageAttribute", copiedImage, nil, "sharing images (the builder does that)"},
		{t, "ec2:ModifySnapshotAttribute", copiedSnapshot, nil, "sharing snapshots"},
		{t, "ec2:DeregisterImage", copiedImage, nil, "an image amicrypt did not make"},
		{t, "ec2:DisableImage", copiedImage, nil, "an image amicrypt did not make"},
		{t, "ec2:EnableImage", copiedImage, nil, "an image amicrypt did not make (someone else disabled it)"},
		{t, "kms:TagResource", ownKey, merged(managedKey, disabledKeyRequest), "amicrypt:disabled-* on a key amicrypt did not rotate away from (no amicrypt:successor tag), even its own"},
		{t, "kms:TagResource", otherKey, disabledKeyTags, "another account's key, whatever its tags"},
		{t, "kms:TagResource", oldKey, with(disabledKeyTags, "aws:TagKeys", activities.TagKeyDisabledAt, "owner"), "other tags alongside amicrypt:disabled-*"},
		{t, "ssm:AddTagsToResource", ssmParameter, map[string][]string{"aws:TagKeys": {"owner"}, "aws:RequestTag/amicrypt:managed": {"true"}}, "tags other than amicrypt:managed on a parameter"},
		{t, "ssm:AddTagsToResource", ssmParameter, map[string][]string{"aws:TagKeys": {activities.TagManagedKey}, "aws:RequestTag/amicrypt:managed": {"false"}}, "amicrypt:managed other than true"},
		{t, "ssm:AddTagsToResource", "arn:aws:ssm:" + region + ":" + otherAccount + ":parameter/x", managedTags, "another account's parameter"},
		{t, "ssm:GetParameters", ssmParameter, nil, "reading parameters itself: only EC2's reference check may"},
		{t, "imagebuilder:GetContainerRecipe", "*", map[string][]string{"aws:CalledVia": {"cloudformation.amazonaws.com"}}, "Image Builder through anything but EC2's reference check"},
		{t, "ec2:DeleteSnapshot", copiedSnapshot, nil, "a snapshot amicrypt did not make"},
		{t, "ec2:DeleteTags", copiedImage, map[string][]string{"aws:TagKeys": {"Name"}}, "other tags"},
		{t, "ec2:DeleteLaunchTemplate", launchTemplate, nil, "a launch template not made by a boot proof"},
		{t, "ec2:TerminateInstances", "*", nil, "never called"},
		{t, "autoscaling:DeleteAutoScalingGroup", "arn:aws:autoscaling:" + region + ":" + targetAccount + ":autoScalingGroup:6f1e2d3c-4b5a-6978-8a9b-0c1d2e3f4a5b:autoScalingGroupName/web-prod", nil, "a group not named amicrypt-proof-*"},
		{t, "autoscaling:UpdateAutoScalingGroup", bootProofGroup, nil, "never called"},
		{t, "ssm:PutParameter", "arn:aws:ssm:" + region + ":" + otherAccount + ":parameter/x", nil, "another account's parameter"},
		{t, "ssm:DeleteParameter", ssmParameter, nil, "never called"},
		{t, "ec2:CreateTags", "arn:aws:ec2:" + region + ":" + targetAccount + ":instance/i-0123456789abcdef0", nil, "tagging instances"},
		// What an insider who may only tag would need amicrypt to do for him:
		// put amicrypt's tags on something amicrypt did not just create.
		{t, "ec2:CreateTags", copiedImage, map[string][]string{"aws:TagKeys": {activities.TagSourceImage}}, "amicrypt:source-image on an existing image (only in CopyImage's own request)"},
		{t, "ec2:CreateTags", copiedImage, merged(amicryptImage, map[string][]string{"aws:TagKeys": {activities.TagSourceImage}}), "amicrypt:source-image after creation, even on amicrypt's image"},
		{t, "ec2:CreateTags", copiedImage, map[string][]string{"aws:TagKeys": {activities.TagDisabledAt}}, "amicrypt's retirement record on an image not tagged as amicrypt's"},
		{t, "ec2:CreateTags", launchTemplate, map[string][]string{"aws:TagKeys": {activities.TagManagedKey}}, "amicrypt:managed on an existing launch template"},
		{t, "ec2:CreateTags", copiedSnapshot, map[string][]string{"aws:TagKeys": {activities.TagSourceImage}}, "amicrypt's tags on an existing snapshot"},
		{t, "ec2:CopyImage", "arn:aws:ec2:" + region + "::image/ami-0e0000000000e0001", map[string][]string{"ec2:Owner": {otherAccount}}, "copying another account's image"},
		{t, "ec2:CopyImage", "arn:aws:ec2:" + region + "::image/ami-0e0000000000e0001", map[string][]string{"ec2:Owner": {"amazon"}}, "copying a public image"},
		{t, "ec2:CreateLaunchTemplate", launchTemplate, map[string][]string{"aws:TagKeys": {"Name"}}, "a launch template that is neither a boot proof's nor a publish template"},
		{t, "ec2:CreateLaunchTemplateVersion", launchTemplate, nil, "a version of a template amicrypt did not create"},
		{t, "ec2:ModifyLaunchTemplate", launchTemplate, nil, "the default version of a template amicrypt did not create"},
		{t, "ec2:RunInstances", launchTemplate, map[string][]string{"ec2:LaunchTemplate": {launchTemplate}}, "launching from a template not made by a boot proof"},
		{t, "ec2:RunInstances", "arn:aws:ec2:" + region + ":" + targetAccount + ":instance/*", nil, "launching without a launch template"},
		{t, "ssm:PutParameter", "arn:aws:ssm:" + region + ":" + targetAccount + ":parameter/team/db-password", nil, "a parameter outside PublishParameterPath"},
		{t, "ssm:GetParameter", "arn:aws:ssm:" + region + ":" + targetAccount + ":parameter/team/db-password", nil, "reading a parameter outside PublishParameterPath (a SecureString's value)"},

		{b, "ec2:CopyImage", "*", nil, "copies are the targets'"},
		{b, "ec2:ModifyImageAttribute", sourceImage, map[string][]string{"ec2:Add/userId": {targetAccount}}, "sharing an image not tagged amicrypt:shareable=true"},
		{b, "ec2:ModifySnapshotAttribute", sourceSnapshot, map[string][]string{"ec2:Add/userId": {targetAccount}, "aws:ResourceTag/amicrypt:shareable": {"false"}}, "sharing a snapshot not tagged amicrypt:shareable=true"},
		{b, "ec2:ModifyImageAttribute", sourceImage, merged(shareable, map[string][]string{"ec2:Add/userId": {otherAccount}}), "sharing with an account outside TargetAccountIds"},
		{b, "ec2:ModifySnapshotAttribute", sourceSnapshot, merged(shareable, map[string][]string{"ec2:Add/userId": {targetAccount, otherAccount}}), "sharing with an account outside TargetAccountIds, among others"},
		{b, "ec2:DeregisterImage", sourceImage, nil, "the builder's images are Packer's"},
		{b, "ec2:ModifyImageAttribute", sourceImage, map[string][]string{"ec2:Add/group": {"all"}}, "making the source public"},
		{b, "ec2:ModifySnapshotAttribute", sourceSnapshot, map[string][]string{"ec2:Add/group": {"all"}}, "making the source's snapshot public"},
		{b, "sts:AssumeRole", "arn:aws:iam::" + targetAccount + ":role/admin", nil, "any role but the target role"},
		{b, "kms:DescribeKey", otherKey, nil, "another account's key"},
		{b, "kms:GetKeyPolicy", otherKey, nil, "another account's key"},
		{b, "kms:CreateKey", "*", nil, "keys are the targets'"},
		{b, "iam:PassRole", "*", nil, "never called"},
	}
}

// grantOperations reads activities/diagnose.go's keyGrantOperations: the
// operations of the grant amicrypt gives the service-linked role.
func grantOperations(t *testing.T) []string {
	t.Helper()
	f, err := parser.ParseFile(token.NewFileSet(), "../activities/diagnose.go", nil, 0)
	if err != nil {
		t.Fatal(err)
	}
	var ops []string
	ast.Inspect(f, func(n ast.Node) bool {
		vs, ok := n.(*ast.ValueSpec)
		if !ok || len(vs.Names) != 1 || vs.Names[0].Name != "keyGrantOperations" || len(vs.Values) != 1 {
			return true
		}
		lit, ok := vs.Values[0].(*ast.CompositeLit)
		if !ok {
			t.Fatalf("keyGrantOperations is not a composite literal")
		}
		for _, e := range lit.Elts {
			sel, ok := e.(*ast.SelectorExpr)
			if !ok || !strings.HasPrefix(sel.Sel.Name, "GrantOperation") {
				t.Fatalf("keyGrantOperations holds %T, not kmstypes.GrantOperationX", e)
			}
			ops = append(ops, strings.TrimPrefix(sel.Sel.Name, "GrantOperation"))
		}
		return false
	})
	if len(ops) == 0 {
		t.Fatal("keyGrantOperations not found in activities/diagnose.go")
	}
	return ops
}

// sdkCalls derives from activities/*.go (non-test) every AWS call the
// activities make, as "<role> <service>:<Operation>": a call of a method of
// the narrow client interfaces (clients.go) or of a paginator over one
// (kms.NewListGrantsPaginator); and the assume-role credentials provider
// (aws.go), which calls sts:AssumeRole with the worker's own credentials: the
// builder's pipeline role. The value says where: "file.go (function)".
//
// Who makes a call is decided per function (see callRoles): a function that
// reaches the builder (builderAccess) acts as the builder, one that reaches a
// target (targetAccess) as the target, one that reads the organization
// (organizationAccess) as the organization reader, and a helper handed a
// client by its caller (describeSource, rolePolicies) as whoever calls it.
// So a file may hold several (preflight.go reads the source as the builder
// and the target's subnets as the target).
func sdkCalls(t *testing.T) map[string]string {
	t.Helper()
	files, err := filepath.Glob("../activities/*.go")
	if err != nil {
		t.Fatal(err)
	}
	fset := token.NewFileSet()
	var parsed []*ast.File
	for _, path := range files {
		if strings.HasSuffix(path, "_test.go") {
			continue
		}
		f, err := parser.ParseFile(fset, path, nil, 0)
		if err != nil {
			t.Fatal(err)
		}
		parsed = append(parsed, f)
	}
	services := map[string]string{"EC2API": "ec2", "KMSAPI": "kms", "IAMAPI": "iam", "AutoScalingAPI": "autoscaling", "SSMAPI": "ssm", "STSAPI": "sts", "CloudTrailAPI": "cloudtrail", "OrganizationsAPI": "organizations"}
	methods := map[string]string{} // method -> service
	for _, f := range parsed {
		ast.Inspect(f, func(n ast.Node) bool {
			ts, ok := n.(*ast.TypeSpec)
			if !ok {
				return true
			}
			svc, ok := services[ts.Name.Name]
			it, isIface := ts.Type.(*ast.InterfaceType)
			if !ok || !isIface {
				return true
			}
			for _, m := range it.Methods.List {
				for _, name := range m.Names {
					if prev, dup := methods[name.Name]; dup {
						t.Fatalf("method %s is on both the %s and %s interfaces; this derivation needs unique names", name.Name, prev, svc)
					}
					methods[name.Name] = svc
				}
			}
			return false
		})
	}
	if len(methods) == 0 {
		t.Fatal("no client interfaces found in activities/clients.go")
	}
	roles := callRoles(t, fset, parsed)
	paginator := regexp.MustCompile(`^New(\w+)Paginator$`)
	calls := map[string]string{} // "role service:Op" -> where
	record := func(where string, as []string, body ast.Node) {
		ast.Inspect(body, func(n ast.Node) bool {
			c, ok := n.(*ast.CallExpr)
			if !ok {
				return true
			}
			sel, ok := c.Fun.(*ast.SelectorExpr)
			if !ok {
				return true
			}
			op := sel.Sel.Name
			if m := paginator.FindStringSubmatch(op); m != nil {
				op = m[1]
			}
			if x, ok := sel.X.(*ast.Ident); ok && x.Name == "stscreds" && op == "NewAssumeRoleProvider" {
				calls["builder sts:AssumeRole"] = where
				return true
			}
			if svc, ok := methods[op]; ok {
				for _, role := range as {
					calls[role+" "+svc+":"+op] = where
				}
			}
			return true
		})
	}
	for _, f := range parsed {
		file := filepath.Base(fset.Position(f.Pos()).Filename)
		for _, d := range f.Decls {
			if fd, ok := d.(*ast.FuncDecl); ok {
				record(file+" ("+fd.Name.Name+")", roles[fd], fd)
			} else {
				record(file, []string{"target"}, d) // a package-level var's func literal, say
			}
		}
	}
	return calls
}

// callRoles says as whom each function of activities/ calls AWS. A function
// that calls builderAccess acts as the builder, one that calls targetAccess
// as the target, one that calls organizationAccess as the organization
// reader (one calling two of them is refused: this derivation could not
// tell its calls apart; split it). A function that calls neither is handed
// its clients (or what it passes them to) by its callers: it acts as every
// role of the functions that call or reference it (a method value, a
// closure), transitively. One that no function with a role reaches (an
// activity's entry point) acts as the target, as amicrypt does by default.
func callRoles(t *testing.T, fset *token.FileSet, parsed []*ast.File) map[*ast.FuncDecl][]string {
	t.Helper()
	access := map[string]string{"builderAccess": "builder", "targetAccess": "target", "organizationAccess": "organization"}
	byName := map[string][]*ast.FuncDecl{}
	for _, f := range parsed {
		for _, d := range f.Decls {
			if fd, ok := d.(*ast.FuncDecl); ok && fd.Body != nil {
				byName[fd.Name.Name] = append(byName[fd.Name.Name], fd)
			}
		}
	}
	own := map[*ast.FuncDecl]map[string]bool{}
	refs := map[*ast.FuncDecl][]*ast.FuncDecl{} // what a function calls or references
	for _, fds := range byName {
		for _, fd := range fds {
			own[fd] = map[string]bool{}
			ast.Inspect(fd.Body, func(n ast.Node) bool {
				if c, ok := n.(*ast.CallExpr); ok {
					if id, ok := c.Fun.(*ast.Ident); ok && access[id.Name] != "" {
						own[fd][access[id.Name]] = true
					}
				}
				// Every identifier naming a function of the package: a call,
				// a method value, or a same-named field or variable (which
				// only widens the result).
				if id, ok := n.(*ast.Ident); ok && access[id.Name] == "" {
					refs[fd] = append(refs[fd], byName[id.Name]...)
				}
				return true
			})
			if len(own[fd]) > 1 {
				t.Fatalf("%s: %s calls more than one of builderAccess, targetAccess and organizationAccess (%v); split it so each function acts as one role (sdkCalls classifies per function)",
					fset.Position(fd.Pos()), fd.Name.Name, slices.Sorted(maps.Keys(own[fd])))
			}
		}
	}
	acts := map[*ast.FuncDecl]map[string]bool{}
	for fd, r := range own {
		acts[fd] = maps.Clone(r)
	}
	for changed := true; changed; {
		changed = false
		for caller, callees := range refs {
			for _, fd := range callees {
				if len(own[fd]) > 0 {
					continue // it reaches AWS as its own role
				}
				for r := range acts[caller] {
					if !acts[fd][r] {
						acts[fd][r], changed = true, true
					}
				}
			}
		}
	}
	out := map[*ast.FuncDecl][]string{}
	for fd, r := range acts {
		if len(r) == 0 {
			r = map[string]bool{"target": true}
		}
		out[fd] = slices.Sorted(maps.Keys(r))
	}
	return out
}

// TestPermissionsMatchTheActivities keeps permissions() and the code in step:
// every AWS call the activities make is in the list, as the role that makes
// it, and every direct call in the list is still made.
func TestPermissionsMatchTheActivities(t *testing.T) {
	derived := sdkCalls(t)
	uses := permissions(grantOperations(t))
	listed := map[string]bool{}
	for _, u := range uses {
		if u.Action == u.Call {
			listed[u.Role+" "+u.Action] = true
		}
	}
	for _, u := range uses {
		if !listed[u.Role+" "+u.Call] {
			t.Errorf("%s %s is listed because of %s, which is not a call of the list", u.Role, u.Action, u.Call)
		}
	}
	for _, c := range slices.Sorted(maps.Keys(derived)) {
		if !listed[c] {
			t.Errorf("activities/%s calls %s, which permissions() does not list: add it (and to the templates and the README)", derived[c], c)
		}
	}
	for _, c := range slices.Sorted(maps.Keys(listed)) {
		if _, ok := derived[c]; !ok {
			t.Errorf("permissions() lists %s as a call, but no activity makes it any more: remove it (and from the templates and the README)", c)
		}
	}
	t.Logf("%d AWS calls derived from activities/*.go", len(derived))
}

// templates

func loadT(t *testing.T, path string) *template {
	t.Helper()
	tpl, err := loadTemplate(path)
	if err != nil {
		t.Fatal(err)
	}
	return tpl
}

func instantiate(t *testing.T, path, account string, params map[string]string) *stack {
	t.Helper()
	s, err := loadT(t, path).instantiate(account, region, params)
	if err != nil {
		t.Fatalf("%s with %v: %v", path, params, err)
	}
	return s
}

func roleOf(t *testing.T, s *stack, logical string) *iamRole {
	t.Helper()
	r, err := s.role(logical)
	if err != nil {
		t.Fatal(err)
	}
	return r
}

// The stacks of the tests: a target with the defaults, one with every option,
// and the builder (IRSA, limited to the sample targets and organization).
func targetDefaults() map[string]string {
	return map[string]string{"PipelineRoleArn": pipelineRoleARN, "ExternalId": externalID}
}

func targetEverything() map[string]string {
	p := targetDefaults()
	p["OrganizationId"] = orgID
	p["ExternalKeyArns"] = foreignKey + ",arn:aws:kms:eu-west-1:" + keyOwner + ":key/mrk-6d2a4c8e9f712a3b4c5d6e7f0b5c3f1e"
	p["ManageAdoptedKeyPolicies"] = "true"
	p["CreateServiceLinkedRole"] = "true"
	p["ServiceLinkedRoleSuffix"] = "CMK"
	return p
}

func builderIRSA() map[string]string {
	return map[string]string{"EksOidcProvider": eksProvider, "TargetAccountIds": targetAccount + "," + keyOwner, "TargetOrganizationId": orgID}
}

// builderWithReader is builderIRSA whose pipeline role may assume the
// organization reader.
func builderWithReader() map[string]string {
	p := builderIRSA()
	p["OrganizationReaderRoleArn"] = readerRoleARN
	return p
}

// The organization reader's stacks: the defaults (no external id), and with
// an external id.
func readerDefaults() map[string]string {
	return map[string]string{"PipelineRoleArn": pipelineRoleARN, "OrganizationId": orgID}
}

func readerWithExternalID() map[string]string {
	p := readerDefaults()
	p["ExternalId"] = "org-" + externalID
	return p
}

func session(roleARN string) policy.Principal {
	parts := strings.SplitN(roleARN, ":", 6)
	name := roleARN[strings.LastIndex(roleARN, "/")+1:]
	return policy.Principal{ARN: "arn:" + parts[1] + ":sts::" + parts[4] + ":assumed-role/" + name + "/amicrypt-worker", RoleARN: roleARN}
}

func (r *iamRole) principal() policy.Principal {
	p := session(r.ARN)
	p.IdentityPolicies = r.Identity
	return p
}

func describe(role, action, resource string, ctx map[string][]string) string {
	s := role + " " + action + " on " + resource
	if len(ctx) > 0 {
		var kv []string
		for _, k := range slices.Sorted(maps.Keys(ctx)) {
			kv = append(kv, k+"="+strings.Join(ctx[k], "|"))
		}
		s += " with " + strings.Join(kv, ", ")
	}
	return s
}

func TestTemplatesParseAndReferenceOnlyWhatExists(t *testing.T) {
	for _, path := range []string{builderTemplate, targetTemplate, readerTemplate} {
		tpl := loadT(t, path)
		for _, p := range tpl.checkReferences() {
			t.Errorf("%s: %s", path, p)
		}
		for _, section := range []string{"Parameters", "Resources", "Outputs"} {
			if len(tpl.section(section)) == 0 {
				t.Errorf("%s: no %s", path, section)
			}
		}
		for name, raw := range tpl.section("Parameters") {
			p, _ := raw.(map[string]any)
			if d, ok := p["Default"]; ok {
				if err := checkParameter(name, p, fmt.Sprint(d)); err != nil {
					t.Errorf("%s: the default breaks the parameter's own constraints: %v", path, err)
				}
			}
			if p["Description"] == nil {
				t.Errorf("%s: parameter %s has no Description", path, name)
			}
		}
	}
}

func TestParameterConstraints(t *testing.T) {
	bad := []struct {
		path   string
		params map[string]string
		want   string
	}{
		{targetTemplate, map[string]string{"ExternalId": externalID}, "PipelineRoleArn has no default"},
		{targetTemplate, map[string]string{"PipelineRoleArn": "amicrypt-pipeline", "ExternalId": externalID}, "does not match"},
		{targetTemplate, map[string]string{"PipelineRoleArn": pipelineRoleARN, "ExternalId": "x"}, "MinLength"},
		{targetTemplate, map[string]string{"PipelineRoleArn": pipelineRoleARN, "ExternalId": "has space"}, "does not match"},
		{targetTemplate, map[string]string{"PipelineRoleArn": pipelineRoleARN, "ExternalId": externalID, "ManageAdoptedKeyPolicies": "yes"}, "is not one of"},
		{targetTemplate, map[string]string{"PipelineRoleArn": pipelineRoleARN, "ExternalId": externalID, "OrganizationId": "org-1"}, "does not match"},
		{builderTemplate, map[string]string{}, "rule OneTrust"},
		{builderTemplate, map[string]string{"EksOidcProvider": eksProvider, "TrustedPrincipalArns": "arn:aws:iam::333333333333:role/x"}, "rule OneTrust"},
		{builderTemplate, map[string]string{"EksOidcProvider": "https://" + eksProvider}, "does not match"},
		{builderTemplate, map[string]string{"TrustedPrincipalArns": "arn:aws:iam::333333333333:role/x", "TargetRolePath": "team"}, "does not match"},
		{builderTemplate, map[string]string{"EksOidcProvider": eksProvider, "OrganizationReaderRoleArn": "amicrypt-organization-reader"}, "does not match"},
		{readerTemplate, map[string]string{"OrganizationId": orgID}, "PipelineRoleArn has no default"},
		{readerTemplate, map[string]string{"PipelineRoleArn": pipelineRoleARN}, "OrganizationId has no default"},
		{readerTemplate, map[string]string{"PipelineRoleArn": pipelineRoleARN, "OrganizationId": "r-ab12"}, "does not match"},
		{readerTemplate, map[string]string{"PipelineRoleArn": pipelineRoleARN, "OrganizationId": orgID, "ExternalId": "x"}, "does not match"},
	}
	for _, c := range bad {
		_, err := loadT(t, c.path).instantiate(targetAccount, region, c.params)
		if err == nil || !strings.Contains(err.Error(), c.want) {
			t.Errorf("%s with %v: got %v, want an error containing %q", c.path, c.params, err, c.want)
		}
	}
}

// TestTargetRoleAllowsWhatTheActivitiesDo evaluates every entry of
// permissions() for the target role with the project's IAM evaluator.
func TestTargetRoleAllowsWhatTheActivitiesDo(t *testing.T) {
	ops := grantOperations(t)
	for name, params := range map[string]map[string]string{"defaults": targetDefaults(), "every option": targetEverything()} {
		role := roleOf(t, instantiate(t, targetTemplate, targetAccount, params), "TargetRole")
		if role.ARN != targetRoleARN {
			t.Errorf("%s: role ARN %s, want %s", name, role.ARN, targetRoleARN)
		}
		foreign := params["ExternalKeyArns"] != ""
		for _, u := range permissions(ops) {
			if u.Role != "target" || u.NoPermission {
				continue
			}
			d := policy.EvaluateIdentity(policy.Request{Principal: role.principal(), Action: u.Action, Resource: u.Resource, Context: u.Context})
			want := !u.Foreign || foreign
			if d.Allowed != want {
				t.Errorf("%s: %s (%s, %s): allowed=%v, want %v: %s", name, describe("target", u.Action, u.Resource, u.Context), u.Call, u.Where, d.Allowed, want, d.Reason)
			}
		}
	}
}

// TestBuilderRoleAllowsWhatTheActivitiesDo evaluates every builder entry of
// permissions() for the pipeline role; the organization reader's only with
// OrganizationReaderRoleArn.
func TestBuilderRoleAllowsWhatTheActivitiesDo(t *testing.T) {
	for name, params := range map[string]map[string]string{
		"IRSA, limited targets":           builderIRSA(),
		"trusted principals":              {"TrustedPrincipalArns": "arn:aws:iam::333333333333:role/eks-nodes"},
		"IRSA, organization reader":       builderWithReader(),
		"principals, organization reader": {"TrustedPrincipalArns": "arn:aws:iam::333333333333:role/eks-nodes", "OrganizationReaderRoleArn": readerRoleARN},
	} {
		s := instantiate(t, builderTemplate, builderAccount, params)
		role := roleOf(t, s, "PipelineRole")
		if role.ARN != pipelineRoleARN {
			t.Errorf("%s: role ARN %s, want %s", name, role.ARN, pipelineRoleARN)
		}
		reader := params["OrganizationReaderRoleArn"] != ""
		for _, u := range permissions(nil) {
			if u.Role != "builder" || u.NoPermission {
				continue
			}
			ctx := u.Context
			if u.Action == "sts:AssumeRole" {
				// What AWS knows of the role being assumed.
				ctx = map[string][]string{"aws:ResourceAccount": {accountOf(u.Resource)}, "aws:ResourceOrgID": {orgID}}
			}
			d := policy.EvaluateIdentity(policy.Request{Principal: role.principal(), Action: u.Action, Resource: u.Resource, Context: ctx})
			if want := !u.Reader || reader; d.Allowed != want {
				t.Errorf("%s: %s (%s): allowed=%v, want %v: %s", name, describe("builder", u.Action, u.Resource, ctx), u.Where, d.Allowed, want, d.Reason)
			}
		}
	}
}

// accountOf is the account of an IAM ARN.
func accountOf(arn string) string {
	parts := strings.SplitN(arn, ":", 6)
	if len(parts) < 5 {
		return ""
	}
	return parts[4]
}

func TestRolesRefuseWhatTheyMustNotDo(t *testing.T) {
	target := roleOf(t, instantiate(t, targetTemplate, targetAccount, targetDefaults()), "TargetRole")
	builder := roleOf(t, instantiate(t, builderTemplate, builderAccount, builderIRSA()), "PipelineRole")
	roles := map[string]*iamRole{"target": target, "builder": builder}
	for _, r := range refusals() {
		d := policy.EvaluateIdentity(policy.Request{Principal: roles[r.Role].principal(), Action: r.Action, Resource: r.Resource, Context: r.Context})
		if d.Allowed {
			t.Errorf("%s is allowed (%s), but must not be (%s)", describe(r.Role, r.Action, r.Resource, r.Context), d.Reason, r.Why)
		}
	}

	// The builder's limits on which target roles it assumes.
	assume := func(ctx map[string][]string) policy.Decision {
		return policy.EvaluateIdentity(policy.Request{Principal: builder.principal(), Action: "sts:AssumeRole", Resource: "arn:aws:iam::" + otherAccount + ":role/amicrypt-target", Context: ctx})
	}
	if d := assume(map[string][]string{"aws:ResourceAccount": {otherAccount}, "aws:ResourceOrgID": {orgID}}); d.Allowed {
		t.Errorf("the builder may assume the target role of %s, outside TargetAccountIds: %s", otherAccount, d.Reason)
	}
	if d := assume(map[string][]string{"aws:ResourceAccount": {targetAccount}, "aws:ResourceOrgID": {"o-zzzzzzzzzz"}}); d.Allowed {
		t.Errorf("the builder may assume a target role outside TargetOrganizationId: %s", d.Reason)
	}
	untagged := roleOf(t, instantiate(t, builderTemplate, builderAccount, map[string]string{"EksOidcProvider": eksProvider, "ShareOnlyTaggedImages": "false"}), "PipelineRole")
	if d := policy.EvaluateIdentity(policy.Request{Principal: untagged.principal(), Action: "ec2:ModifyImageAttribute", Resource: sourceImage, Context: map[string][]string{"ec2:Add/userId": {otherAccount}}}); !d.Allowed {
		t.Errorf("ShareOnlyTaggedImages=false, no TargetAccountIds: sharing an untagged image refused: %s", d.Reason)
	}
	open := roleOf(t, instantiate(t, builderTemplate, builderAccount, map[string]string{"EksOidcProvider": eksProvider}), "PipelineRole")
	if d := policy.EvaluateIdentity(policy.Request{Principal: open.principal(), Action: "sts:AssumeRole", Resource: "arn:aws:iam::" + otherAccount + ":role/amicrypt-target"}); !d.Allowed {
		t.Errorf("without TargetAccountIds, the builder should assume any account's amicrypt-target: %s", d.Reason)
	}

	// With ManageAdoptedKeyPolicies the role may reconcile any key of its
	// account, still not another account's.
	everything := roleOf(t, instantiate(t, targetTemplate, targetAccount, targetEverything()), "TargetRole")
	if d := policy.EvaluateIdentity(policy.Request{Principal: everything.principal(), Action: "kms:PutKeyPolicy", Resource: ownKey}); !d.Allowed {
		t.Errorf("ManageAdoptedKeyPolicies=true: kms:PutKeyPolicy on an adopted key refused: %s", d.Reason)
	}
	for _, key := range []string{otherKey, foreignKey} {
		if d := policy.EvaluateIdentity(policy.Request{Principal: everything.principal(), Action: "kms:PutKeyPolicy", Resource: key}); d.Allowed {
			t.Errorf("kms:PutKeyPolicy allowed on %s: %s", key, d.Reason)
		}
	}
	if d := policy.EvaluateIdentity(policy.Request{Principal: everything.principal(), Action: "kms:DescribeKey", Resource: otherKey}); d.Allowed {
		t.Errorf("kms:DescribeKey allowed on %s, which is not in ExternalKeyArns: %s", otherKey, d.Reason)
	}
}

// TestKeyPoliciesAndTheRoleTogether evaluates KMS the way KMS does, key policy
// and identity policy together: a key whose policy only delegates to the
// account (the default key policy) is usable through EC2 by the target role
// because of its identity policy, and another account's key needs both its
// owner's policy and ExternalKeyArns.
func TestKeyPoliciesAndTheRoleTogether(t *testing.T) {
	rootOnly := func(account string, extra ...string) *policy.Document {
		return &policy.Document{Version: policy.Version2012, Statements: []policy.Statement{{
			Sid: "Enable IAM User Permissions", Effect: policy.Allow,
			Principal: &policy.Principals{AWS: append([]string{"arn:aws:iam::" + account + ":root"}, extra...)},
			Action:    []string{"kms:*"}, Resource: []string{"*"},
		}}}
	}
	target := roleOf(t, instantiate(t, targetTemplate, targetAccount, targetDefaults()), "TargetRole")
	everything := roleOf(t, instantiate(t, targetTemplate, targetAccount, targetEverything()), "TargetRole")
	for _, action := range []string{"kms:GenerateDataKeyWithoutPlaintext", "kms:Decrypt", "kms:ReEncryptFrom", "kms:DescribeKey"} {
		d := policy.EvaluateKMS(rootOnly(targetAccount), targetAccount, nil, policy.Request{Principal: target.principal(), Action: action, Resource: ownKey, Context: viaEC2})
		if !d.Allowed {
			t.Errorf("default key policy: %s via EC2 refused: %s", action, d.Reason)
		}
	}
	// Seed 003 case 2: the key's owner lets the target account in.
	ownerPolicy := rootOnly(keyOwner, "arn:aws:iam::"+targetAccount+":root")
	req := policy.Request{Action: "kms:CreateGrant", Resource: foreignKey, Context: grantTo(slr, grantOperations(t)...)}
	req.Principal = everything.principal()
	if d := policy.EvaluateKMS(ownerPolicy, keyOwner, nil, req); !d.Allowed {
		t.Errorf("ExternalKeyArns: kms:CreateGrant on %s refused: %s", foreignKey, d.Reason)
	}
	req.Principal = target.principal()
	if d := policy.EvaluateKMS(ownerPolicy, keyOwner, nil, req); d.Allowed {
		t.Errorf("without ExternalKeyArns, kms:CreateGrant on %s allowed: %s", foreignKey, d.Reason)
	}
}

// TestAnInsiderWhoMayOnlyTagHasNoTwoStepPath plays the two steps of a
// confused deputy: a principal of the target account allowed only
// kms:TagResource and ec2:CreateTags tags something, then amicrypt's role
// acts on it because of the tag. Step one fails on what amicrypt made (its
// keys' policies refuse amicrypt's tags to everyone but its role); where step
// one succeeds (another team's key or image) IAM alone would let step two
// through, so the worker's own check decides — and refuses.
func TestAnInsiderWhoMayOnlyTagHasNoTwoStepPath(t *testing.T) {
	role := roleOf(t, instantiate(t, targetTemplate, targetAccount, targetDefaults()), "TargetRole")
	otherOwnKey := "arn:aws:kms:" + region + ":" + targetAccount + ":key/0f1e2d3c-4b5a-6978-8a9b-0c1d2e3f4a5b"
	onlyTag := &policy.Document{Version: policy.Version2012, Statements: []policy.Statement{{Effect: policy.Allow, Action: []string{"kms:TagResource", "ec2:CreateTags"}, Resource: []string{"*"}}}}
	insider := policy.Principal{ARN: "arn:aws:iam::" + targetAccount + ":user/tagger", Account: targetAccount, IdentityPolicies: []*policy.Document{onlyTag}}
	amicryptKey := policy.RequiredKeyPolicy(policy.RequiredParams{Account: targetAccount, Region: region, TargetRoleARN: role.ARN, KeyARN: ownKey})
	teamKey := &policy.Document{Version: policy.Version2012, Statements: []policy.Statement{{Sid: "Enable IAM User Permissions", Effect: policy.Allow,
		Principal: &policy.Principals{AWS: []string{"arn:aws:iam::" + targetAccount + ":root"}}, Action: []string{"kms:*"}, Resource: []string{"*"}}}}
	steer := []map[string][]string{
		merged(managedKey, map[string][]string{"aws:TagKeys": {activities.TagManagedKey}}),
		{"aws:TagKeys": {activities.TagSuccessor}, "aws:RequestTag/amicrypt:successor": {ownKey}},
		{"aws:TagKeys": {activities.TagKeyDisabledAt}},
		{"aws:TagKeys": {activities.TagRetire}},
	}
	for _, ctx := range steer {
		// Step one on amicrypt's key: refused, however the key is tagged.
		if d := policy.EvaluateKMS(amicryptKey, targetAccount, nil, policy.Request{Principal: insider, Action: "kms:TagResource", Resource: ownKey, Context: ctx}); d.Allowed {
			t.Errorf("the insider may tag amicrypt's key with %v: %s", ctx["aws:TagKeys"], d.Reason)
		}
		if d := policy.EvaluateKMS(amicryptKey, targetAccount, nil, policy.Request{Principal: insider, Action: "kms:UntagResource", Resource: ownKey, Context: map[string][]string{"aws:TagKeys": ctx["aws:TagKeys"]}}); d.Allowed {
			t.Errorf("the insider may untag %v from amicrypt's key: %s", ctx["aws:TagKeys"], d.Reason)
		}
		// ... while amicrypt's role may (CreateKey's tags, a rotation's).
		if d := policy.EvaluateKMS(amicryptKey, targetAccount, nil, policy.Request{Principal: role.principal(), Action: "kms:TagResource", Resource: ownKey, Context: ctx}); d.ExplicitDeny {
			t.Errorf("amicrypt's key policy denies its own role %v: %s", ctx["aws:TagKeys"], d.Reason)
		}
		// Step one on the team's key succeeds ...
		if d := policy.EvaluateKMS(teamKey, targetAccount, nil, policy.Request{Principal: insider, Action: "kms:TagResource", Resource: otherOwnKey, Context: ctx}); !d.Allowed {
			t.Fatalf("the insider may not tag the team's key (the test's premise): %s", d.Reason)
		}
	}
	// ... and step two, by IAM alone, would too: a tag is all the role's
	// policy can see. So the worker trusts no amicrypt tag on a key whose
	// policy does not refuse them to others (activities/keytags.go).
	if ok, _ := policy.GuardsAmicryptTags(teamKey, otherOwnKey, role.ARN); ok {
		t.Error("the worker would trust amicrypt's tags on the team's key")
	}
	if ok, why := policy.GuardsAmicryptTags(amicryptKey, ownKey, role.ARN); !ok {
		t.Errorf("the worker would not trust amicrypt's tags on amicrypt's key: %s", why)
	}
	// Images: the role tags nothing after creation but its verdicts and
	// retirement records, and those only on images already carrying
	// amicrypt:source-image; an insider can put that tag on another
	// image, so the worker judges images by what EC2 records and no one
	// can tag (activities/images.go evidence: SourceImageId, the snapshots'
	// keys).
	if d := policy.EvaluateIdentity(policy.Request{Principal: role.principal(), Action: "ec2:CreateTags", Resource: copiedImage, Context: map[string][]string{"aws:TagKeys": {activities.TagSourceImage}}}); d.Allowed {
		t.Errorf("the role may tag an existing image amicrypt:source-image: %s", d.Reason)
	}
}

// TestTargetTrustAdmitsThePipelineRoleWithItsExternalID plays the builder's
// pipeline role (with the builder stack's identity policy) assuming the
// target role.
func TestTargetTrustAdmitsThePipelineRoleWithItsExternalID(t *testing.T) {
	builder := roleOf(t, instantiate(t, builderTemplate, builderAccount, builderIRSA()), "PipelineRole")
	for name, params := range map[string]map[string]string{"defaults": targetDefaults(), "with organization": targetEverything()} {
		target := roleOf(t, instantiate(t, targetTemplate, targetAccount, params), "TargetRole")
		try := func(p policy.Principal, ctx map[string][]string) policy.Decision {
			ctx = with(ctx, "aws:ResourceAccount", targetAccount)
			ctx["aws:ResourceOrgID"] = []string{orgID}
			return policy.EvaluateTrust(target.Trust, targetAccount, policy.Request{Principal: p, Action: "sts:AssumeRole", Resource: target.ARN, Context: ctx})
		}
		good := map[string][]string{"sts:ExternalId": {externalID}, "aws:PrincipalOrgID": {orgID}}
		if d := try(builder.principal(), good); !d.Allowed {
			t.Errorf("%s: the pipeline role with external id %q refused: %s", name, externalID, d.Reason)
		}
		if d := try(builder.principal(), map[string][]string{"aws:PrincipalOrgID": {orgID}}); d.Allowed {
			t.Errorf("%s: the pipeline role WITHOUT an external id admitted: %s", name, d.Reason)
		}
		if d := try(builder.principal(), map[string][]string{"sts:ExternalId": {"guess"}, "aws:PrincipalOrgID": {orgID}}); d.Allowed {
			t.Errorf("%s: the pipeline role with the wrong external id admitted: %s", name, d.Reason)
		}
		other := session("arn:aws:iam::" + builderAccount + ":role/packer")
		other.IdentityPolicies = builder.Identity
		if d := try(other, good); d.Allowed {
			t.Errorf("%s: another role of the builder account admitted: %s", name, d.Reason)
		}
		if params["OrganizationId"] != "" {
			if d := try(builder.principal(), map[string][]string{"sts:ExternalId": {externalID}, "aws:PrincipalOrgID": {"o-zzzzzzzzzz"}}); d.Allowed {
				t.Errorf("%s: the pipeline role from another organization admitted: %s", name, d.Reason)
			}
		}
		// Across accounts the caller's own policy must allow it too.
		bare := builder.principal()
		bare.IdentityPolicies = nil
		if d := try(bare, good); d.Allowed {
			t.Errorf("%s: a pipeline role without sts:AssumeRole in its own policy admitted: %s", name, d.Reason)
		}
	}
}

func TestBuilderTrust(t *testing.T) {
	irsa := roleOf(t, instantiate(t, builderTemplate, builderAccount, builderIRSA()), "PipelineRole")
	provider := "arn:aws:iam::" + builderAccount + ":oidc-provider/" + eksProvider
	web := func(sub string) policy.Decision {
		return policy.EvaluateTrust(irsa.Trust, builderAccount, policy.Request{
			Principal: policy.Principal{Federated: provider, Account: builderAccount},
			Action:    "sts:AssumeRoleWithWebIdentity", Resource: irsa.ARN,
			Context: map[string][]string{eksProvider + ":sub": {sub}, eksProvider + ":aud": {"sts.amazonaws.com"}},
		})
	}
	if d := web("system:serviceaccount:amicrypt:amicrypt-worker"); !d.Allowed {
		t.Errorf("IRSA: the worker's service account refused: %s", d.Reason)
	}
	if d := web("system:serviceaccount:default:default"); d.Allowed {
		t.Errorf("IRSA: another service account admitted: %s", d.Reason)
	}
	if d := policy.EvaluateTrust(irsa.Trust, builderAccount, policy.Request{Principal: session("arn:aws:iam::" + builderAccount + ":role/admin"), Action: "sts:AssumeRole", Resource: irsa.ARN}); d.Allowed {
		t.Errorf("IRSA: sts:AssumeRole by a role of the account admitted: %s", d.Reason)
	}

	// The role itself, again for each run's shares, with the run's
	// operator; no other role of the account, even one allowed to ask.
	for name, params := range map[string]map[string]string{"IRSA": builderIRSA(), "trusted principals": {"TrustedPrincipalArns": "arn:aws:iam::333333333333:role/eks-nodes"}} {
		role := roleOf(t, instantiate(t, builderTemplate, builderAccount, params), "PipelineRole")
		for _, action := range []string{"sts:AssumeRole", "sts:SetSourceIdentity"} {
			req := policy.Request{Principal: role.principal(), Action: action, Resource: role.ARN, Context: map[string][]string{"aws:SourceIdentity": {"alice"}}}
			if d := policy.EvaluateTrust(role.Trust, builderAccount, req); !d.Allowed {
				t.Errorf("%s: the pipeline role may not %s itself: %s", name, action, d.Reason)
			}
		}
		admin := session("arn:aws:iam::" + builderAccount + ":role/admin")
		admin.IdentityPolicies = []*policy.Document{{Version: policy.Version2012, Statements: []policy.Statement{{Effect: policy.Allow, Action: []string{"sts:*"}, Resource: []string{"*"}}}}}
		if d := policy.EvaluateTrust(role.Trust, builderAccount, policy.Request{Principal: admin, Action: "sts:AssumeRole", Resource: role.ARN}); d.Allowed {
			t.Errorf("%s: another role of the account, allowed sts:*, admitted: %s", name, d.Reason)
		}
	}

	nodes := "arn:aws:iam::333333333333:role/eks-nodes"
	for _, xid := range []string{"", "builder-xid"} {
		params := map[string]string{"TrustedPrincipalArns": nodes}
		if xid != "" {
			params["TrustExternalId"] = xid
		}
		role := roleOf(t, instantiate(t, builderTemplate, builderAccount, params), "PipelineRole")
		caller := session(nodes)
		caller.IdentityPolicies = []*policy.Document{{Version: policy.Version2012, Statements: []policy.Statement{{
			Effect: policy.Allow, Action: []string{"sts:AssumeRole"}, Resource: []string{role.ARN},
		}}}}
		ctx := map[string][]string{}
		if xid != "" {
			ctx["sts:ExternalId"] = []string{xid}
		}
		if d := policy.EvaluateTrust(role.Trust, builderAccount, policy.Request{Principal: caller, Action: "sts:AssumeRole", Resource: role.ARN, Context: ctx}); !d.Allowed {
			t.Errorf("TrustedPrincipalArns (external id %q): %s refused: %s", xid, nodes, d.Reason)
		}
		if xid != "" {
			if d := policy.EvaluateTrust(role.Trust, builderAccount, policy.Request{Principal: caller, Action: "sts:AssumeRole", Resource: role.ARN}); d.Allowed {
				t.Errorf("TrustExternalId %q: admitted without it: %s", xid, d.Reason)
			}
		}
		stranger := session("arn:aws:iam::333333333333:role/other")
		stranger.IdentityPolicies = caller.IdentityPolicies
		if d := policy.EvaluateTrust(role.Trust, builderAccount, policy.Request{Principal: stranger, Action: "sts:AssumeRole", Resource: role.ARN, Context: ctx}); d.Allowed {
			t.Errorf("TrustedPrincipalArns: another role admitted: %s", d.Reason)
		}
	}
}

// TestExampleConfigFitsTheStacks: the config's builder.role_arn is the builder
// stack's role, and every target of internal/config's example, expanded,
// names the target stack's role and passes its trust policy with the
// config's external id.
func TestExampleConfigFitsTheStacks(t *testing.T) {
	cfg, err := config.Parse(config.Example(), "example.yaml")
	if err != nil {
		t.Fatal(err)
	}
	b, _, targets, err := cfg.Expand(map[string]string{"us-east-1": "ami-0b0000000000a0001", "eu-west-1": "ami-0b0000000000e0001"})
	if err != nil {
		t.Fatal(err)
	}
	builder := roleOf(t, instantiate(t, builderTemplate, b.Account, map[string]string{"EksOidcProvider": eksProvider}), "PipelineRole")
	if b.RoleARN != builder.ARN {
		t.Errorf("example builder.role_arn %s, the builder stack makes %s", b.RoleARN, builder.ARN)
	}
	for _, tg := range targets {
		params := map[string]string{"PipelineRoleArn": builder.ARN, "ExternalId": tg.ExternalID}
		target := roleOf(t, instantiate(t, targetTemplate, tg.Account, params), "TargetRole")
		if tg.RoleARN != target.ARN {
			t.Errorf("target %s: config role %s, the target stack makes %s", tg.ID(), tg.RoleARN, target.ARN)
		}
		d := policy.EvaluateTrust(target.Trust, tg.Account, policy.Request{Principal: builder.principal(), Action: "sts:AssumeRole", Resource: tg.RoleARN,
			Context: map[string][]string{"sts:ExternalId": {tg.ExternalID}}})
		if !d.Allowed {
			t.Errorf("target %s: the pipeline role may not assume %s with external id %q: %s", tg.ID(), tg.RoleARN, tg.ExternalID, d.Reason)
		}
	}
}

// TestPoliciesLintCleanAndFitIAMLimits runs every document through
// policy.Lint (no errors; warnings are logged) and checks IAM's size quotas.
// Lint reviews resource-based policies, which must name a principal: an
// identity policy is linted as the same statements granted to the role.
func TestPoliciesLintCleanAndFitIAMLimits(t *testing.T) {
	cases := []struct {
		name, account string
		role          *iamRole
	}{
		{"target (defaults)", targetAccount, roleOf(t, instantiate(t, targetTemplate, targetAccount, targetDefaults()), "TargetRole")},
		{"target (every option)", targetAccount, roleOf(t, instantiate(t, targetTemplate, targetAccount, targetEverything()), "TargetRole")},
		{"builder (IRSA)", builderAccount, roleOf(t, instantiate(t, builderTemplate, builderAccount, builderIRSA()), "PipelineRole")},
		{"builder (principals)", builderAccount, roleOf(t, instantiate(t, builderTemplate, builderAccount, map[string]string{"TrustedPrincipalArns": "arn:aws:iam::333333333333:role/eks-nodes", "TrustExternalId": "x-1"}), "PipelineRole")},
		{"builder (organization reader)", builderAccount, roleOf(t, instantiate(t, builderTemplate, builderAccount, builderWithReader()), "PipelineRole")},
		{"organization reader (defaults)", managementAccount, readerRole(t, readerDefaults())},
		{"organization reader (external id)", managementAccount, readerRole(t, readerWithExternalID())},
	}
	for _, c := range cases {
		lint := func(what string, doc *policy.Document) {
			for _, f := range policy.Lint(doc, c.account) {
				if f.Severity == policy.SeverityError {
					t.Errorf("%s %s: %s", c.name, what, f)
				} else {
					t.Logf("%s %s: %s", c.name, what, f)
				}
			}
		}
		// A trust policy's resource is the role itself: IAM refuses a
		// Resource element in it, which Lint (written for key policies) asks for.
		trust := c.role.Trust.Clone()
		for j := range trust.Statements {
			s := &trust.Statements[j]
			if s.Resource != nil || s.NotResource != nil {
				t.Errorf("%s trust policy: statement %s has a Resource, which IAM refuses in a trust policy", c.name, s.Label(j))
			}
			s.Resource = []string{c.role.ARN}
		}
		lint("trust policy", trust)
		for i, doc := range c.role.Identity {
			asGranted := doc.Clone()
			for j := range asGranted.Statements {
				s := &asGranted.Statements[j]
				if s.Principal != nil || s.NotPrincipal != nil {
					t.Errorf("%s identity policy %d: statement %s names a principal, which IAM refuses in an identity policy", c.name, i, s.Label(j))
				}
				s.Principal = &policy.Principals{AWS: []string{c.role.ARN}}
			}
			lint("identity policy", asGranted)
			sids := map[string]bool{}
			for j, s := range doc.Statements {
				if s.Sid == "" || sids[s.Sid] {
					t.Errorf("%s identity policy %d: statement %d has an empty or repeated Sid %q", c.name, i, j, s.Sid)
				}
				sids[s.Sid] = true
			}
		}
		// IAM quotas: a role trust policy 2,048 characters, a role's inline
		// policies together 10,240 (whitespace not counted; these are compact).
		if n := len(c.role.TrustJSON); n > 2048 {
			t.Errorf("%s: trust policy is %d characters, IAM's default limit is 2048", c.name, n)
		}
		total := 0
		for _, text := range c.role.IdentityJSON {
			total += len(text)
		}
		if total > 10240 {
			t.Errorf("%s: inline policies are %d characters, IAM allows 10240", c.name, total)
		}
		t.Logf("%s: trust policy %d characters, inline policies %d", c.name, len(c.role.TrustJSON), total)
	}
}

func TestServiceLinkedRoleResource(t *testing.T) {
	s := instantiate(t, targetTemplate, targetAccount, targetDefaults())
	if r, err := s.resource("AutoScalingServiceLinkedRole"); err != nil || r != nil {
		t.Errorf("by default the stack must not create the service-linked role: %v %v", r, err)
	}
	s = instantiate(t, targetTemplate, targetAccount, targetEverything())
	r, err := s.resource("AutoScalingServiceLinkedRole")
	if err != nil || r == nil {
		t.Fatalf("CreateServiceLinkedRole=true: no resource (%v)", err)
	}
	props, _ := r["Properties"].(map[string]any)
	if props["AWSServiceName"] != "autoscaling.amazonaws.com" || props["CustomSuffix"] != "CMK" || r["DeletionPolicy"] != "Retain" {
		t.Errorf("service-linked role resource: %v", r)
	}
	out, err := s.resolve(s.t.section("Outputs")["ServiceLinkedRoleArn"])
	if err != nil {
		t.Fatal(err)
	}
	if got := out.(map[string]any)["Value"]; got != slrSuffix {
		t.Errorf("ServiceLinkedRoleArn output %v, want %s", got, slrSuffix)
	}
	// Without a suffix: the default role, which the role may also pass.
	p := targetEverything()
	p["ServiceLinkedRoleSuffix"] = ""
	r, err = instantiate(t, targetTemplate, targetAccount, p).resource("AutoScalingServiceLinkedRole")
	if err != nil || r == nil {
		t.Fatal(err)
	}
	if _, has := r["Properties"].(map[string]any)["CustomSuffix"]; has {
		t.Errorf("no suffix: CustomSuffix must be left out, got %v", r["Properties"])
	}
}

// TestReadmeListsEveryPermission: deploy/README.md's permissions table names
// every action of permissions().
func TestReadmeListsEveryPermission(t *testing.T) {
	data, err := os.ReadFile("README.md")
	if err != nil {
		t.Fatal(err)
	}
	readme := string(data)
	seen := map[string]bool{}
	for _, u := range permissions(nil) {
		if seen[u.Action] {
			continue
		}
		seen[u.Action] = true
		if !strings.Contains(readme, "`"+u.Action+"`") {
			t.Errorf("README.md does not mention `%s` (%s, %s)", u.Action, u.Role, u.Where)
		}
	}
	var actions []string
	for a := range seen {
		actions = append(actions, a)
	}
	sort.Strings(actions)
	t.Logf("%d distinct actions: %s", len(actions), strings.Join(actions, " "))
}
