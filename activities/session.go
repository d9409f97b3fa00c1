package activities

import (
	"context"
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"strings"

	"go.temporal.io/sdk/activity"

	"github.com/amicrypt/amicrypt/internal/operator"
)

// Sessions. Every role amicrypt assumes is assumed per run and step class:
// the session is named amicrypt-<run>-<class> (RoleSessionName: 2–64 of
// [\w+=,.@-]), carries the run's operator as its SourceIdentity, and has an
// inline session policy no wider than the class needs, so CloudTrail tells
// which run, step and operator did what, and a read-only step cannot write
// whatever its role may do. Credentials are cached per role, external id,
// session name and policy (ClientFactory): a run assumes each role once per
// class it uses, not once per target or call.

// SessionClass is a kind of step and what its sessions may do.
type SessionClass struct {
	// Name is the session name's last part.
	Name string
	// Actions are what the session policy allows, on any resource (the
	// role's own policies say on which). Nil: no session policy.
	Actions []string
	// Grant, when set, allows kms:CreateGrant for Auto Scaling's
	// service-linked role only (a plan's DryRun of the grant amicrypt would
	// give it; KMS has no condition on DryRun).
	Grant bool
}

// reads are what every class may do: describe, get, list.
var reads = []string{
	"ec2:Describe*", "ec2:Get*", "kms:Describe*", "kms:Get*", "kms:List*",
	"iam:Get*", "iam:List*", "autoscaling:Describe*", "ssm:Describe*", "ssm:GetParameter*",
	"cloudtrail:LookupEvents", "organizations:Describe*", "organizations:List*", "sts:GetCallerIdentity",
}

// ebsKeyUse is what EBS does with a key on the caller's behalf when it
// copies an image or launches from it.
var ebsKeyUse = []string{"kms:CreateGrant", "kms:Decrypt", "kms:Encrypt", "kms:GenerateDataKey*", "kms:ReEncrypt*"}

func with(groups ...[]string) []string {
	var out []string
	for _, g := range groups {
		out = append(out, g...)
	}
	return out
}

// The session classes.
var (
	// ReadSession: inspections, plans and dry runs.
	ReadSession = SessionClass{Name: "read", Actions: reads, Grant: true}
	// PrepareSession: the service-linked role, the key, abandoned proofs.
	PrepareSession = SessionClass{Name: "prepare", Actions: with(reads, []string{
		"iam:CreateServiceLinkedRole", "kms:CreateKey", "kms:CreateAlias", "kms:EnableKeyRotation",
		"kms:PutKeyPolicy", "kms:TagResource", "kms:CreateGrant", "kms:ScheduleKeyDeletion",
		"ec2:DeleteLaunchTemplate", "autoscaling:DeleteAutoScalingGroup",
	})}
	// CopySession: the encrypted copy (and a rotation's re-encryption).
	CopySession = SessionClass{Name: "copy", Actions: with(reads, ebsKeyUse, []string{
		"ec2:CopyImage", "ec2:CreateTags", "ec2:DeregisterImage", "ec2:DeleteSnapshot",
	})}
	// BootSession: the boot proof's template and group, and their removal.
	BootSession = SessionClass{Name: "boot", Actions: with(reads, ebsKeyUse, []string{
		"ec2:CreateLaunchTemplate", "ec2:CreateLaunchTemplateVersion", "ec2:ModifyLaunchTemplate", "ec2:DeleteLaunchTemplate",
		"ec2:RunInstances", "ec2:CreateTags", "ec2:TerminateInstances", "iam:PassRole",
		"autoscaling:CreateAutoScalingGroup", "autoscaling:UpdateAutoScalingGroup", "autoscaling:DeleteAutoScalingGroup", "autoscaling:CreateOrUpdateTags",
	})}
	// FinishSession: marking, publishing and retention.
	FinishSession = SessionClass{Name: "finish", Actions: with(reads, []string{
		"ec2:CreateTags", "ec2:DeleteTags", "ec2:DisableImage", "ec2:EnableImage", "ec2:DeregisterImage", "ec2:DeleteSnapshot",
		"ec2:CreateLaunchTemplate", "ec2:CreateLaunchTemplateVersion", "ec2:ModifyLaunchTemplate",
		"ssm:PutParameter", "ssm:AddTagsToResource",
	})}
	// ShareSession: the builder's source shared and unshared.
	ShareSession = SessionClass{Name: "share", Actions: with(reads, []string{"ec2:ModifyImageAttribute", "ec2:ModifySnapshotAttribute"})}
	// RotateSession: a rotation's keys, pointers and retirements.
	RotateSession = SessionClass{Name: "rotate", Actions: with(reads, []string{
		"iam:CreateServiceLinkedRole", "kms:CreateKey", "kms:CreateAlias", "kms:UpdateAlias", "kms:TagResource", "kms:UntagResource", "kms:PutKeyPolicy",
		"kms:EnableKeyRotation", "kms:CreateGrant", "kms:RevokeGrant", "kms:RetireGrant", "kms:DisableKey", "kms:EnableKey", "kms:ScheduleKeyDeletion",
		"ec2:CreateTags", "ec2:DeleteTags", "ec2:DisableImage", "ec2:EnableImage", "ec2:DeregisterImage", "ec2:DeleteSnapshot",
		"ec2:CreateLaunchTemplateVersion", "ec2:ModifyLaunchTemplate", "ssm:PutParameter",
	})}
	// SweepSession: a sweep's repairs (key policy, rotation, abandoned
	// proofs) and second steps (old keys' deletion, images' retirement).
	SweepSession = SessionClass{Name: "sweep", Actions: with(reads, []string{
		"kms:PutKeyPolicy", "kms:EnableKeyRotation", "kms:TagResource", "kms:UntagResource", "kms:EnableKey", "kms:DisableKey", "kms:ScheduleKeyDeletion",
		"ec2:CreateTags", "ec2:DeleteTags", "ec2:DisableImage", "ec2:EnableImage", "ec2:DeregisterImage", "ec2:DeleteSnapshot",
		"ec2:DeleteLaunchTemplate", "ec2:TerminateInstances", "autoscaling:DeleteAutoScalingGroup",
	})}
)

// sessionClasses maps each activity (by its registered name) to its class;
// a run marked read-only (operator.Attribution.ReadOnly: plans, dry runs)
// uses ReadSession throughout. TestEveryActivityHasASessionClass holds it
// against the worker's list.
var sessionClasses = map[string]SessionClass{
	"VerifyTargets":                ReadSession,
	"FindPreexistingShares":        ReadSession,
	"CountSourceShares":            ReadSession,
	"PlanShare":                    ReadSession,
	"PlanTargets":                  ReadSession,
	"WaitAndVerify":                ReadSession,
	"FindKeyedImages":              ReadSession,
	"ListOrganizationUnits":        ReadSession,
	"ListOrganizationAccounts":     ReadSession,
	"DescribeOrganizationAccounts": ReadSession,
	"PrepareTarget":                PrepareSession,
	"CopyEncrypted":                CopySession,
	"ReencryptImage":               CopySession,
	"ProveBoot":                    BootSession,
	"DeleteBootProof":              BootSession,
	"FinishTarget":                 FinishSession,
	"MarkImage":                    FinishSession,
	"ShareSource":                  ShareSession,
	"UnshareSource":                ShareSession,
	"PrepareRotation":              RotateSession,
	"SwitchKey":                    RotateSession,
	"RetireOldKeys":                RotateSession,
	"InspectKey":                   SweepSession,
}

// SessionClassOf is the class of an activity; false for one without.
func SessionClassOf(activityName string) (SessionClass, bool) {
	c, ok := sessionClasses[activityName]
	return c, ok
}

// Policy is the class's session policy (compact JSON), "" for none.
func (c SessionClass) Policy() string {
	if c.Actions == nil {
		return ""
	}
	type statement struct {
		Sid       string         `json:"Sid"`
		Effect    string         `json:"Effect"`
		Action    []string       `json:"Action"`
		Resource  string         `json:"Resource"`
		Condition map[string]any `json:"Condition,omitempty"`
	}
	doc := struct {
		Version   string      `json:"Version"`
		Statement []statement `json:"Statement"`
	}{Version: "2012-10-17", Statement: []statement{{Sid: "AmicryptStep", Effect: "Allow", Action: c.Actions, Resource: "*"}}}
	if c.Grant {
		doc.Statement = append(doc.Statement, statement{Sid: "PlanGrantDryRun", Effect: "Allow", Action: []string{"kms:CreateGrant"}, Resource: "*",
			Condition: map[string]any{"StringLike": map[string]string{"kms:GranteePrincipal": "arn:aws:iam::*:role/aws-service-role/autoscaling.amazonaws.com/*"}}})
	}
	b, _ := json.Marshal(doc)
	return string(b)
}

// session is how one activity assumes its roles.
type session struct {
	name, sourceIdentity, policy string
}

// sessionPrefix and the limits of a RoleSessionName.
const (
	sessionPrefix     = "amicrypt-"
	maxSessionNameLen = 64
)

// sessionFor is the session of the activity ctx runs (its run's operator
// and name, its class's policy); ok false outside an activity or for an
// activity without a class (the factory's default session).
func sessionFor(ctx context.Context) (session, bool) {
	if ctx == nil || !activity.IsActivity(ctx) {
		return session{}, false
	}
	info := activity.GetInfo(ctx)
	at := operator.From(ctx)
	class, ok := SessionClassOf(info.ActivityType.Name)
	if at.ReadOnly {
		class, ok = ReadSession, true
	}
	if !ok {
		return session{}, false
	}
	run := at.Run
	if run == "" {
		run = info.WorkflowExecution.ID
	}
	return session{name: SessionName(run, class.Name), sourceIdentity: at.Operator, policy: class.Policy()}, true
}

// SessionName is amicrypt-<run>-<step> within STS's limits: the run (a
// workflow id; its "amicrypt-" dropped) with characters STS refuses made
// '-', shortened when too long to its start and a hash of the whole, so
// that names stay distinct and stable.
func SessionName(run, step string) string {
	r := strings.TrimPrefix(run, sessionPrefix)
	b := []byte(r)
	for i, c := range b {
		if !(c == '_' || c == '+' || c == '=' || c == ',' || c == '.' || c == '@' || c == '-' ||
			c >= 'a' && c <= 'z' || c >= 'A' && c <= 'Z' || c >= '0' && c <= '9') {
			b[i] = '-'
		}
	}
	r = string(b)
	room := maxSessionNameLen - len(sessionPrefix) - 1 - len(step)
	if len(r) > room {
		sum := sha256.Sum256([]byte(run))
		h := hex.EncodeToString(sum[:])[:8]
		r = strings.TrimRight(r[:room-len(h)-1], "-") + "-" + h
	}
	return sessionPrefix + r + "-" + step
}
