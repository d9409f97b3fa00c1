package policy

import (
	"fmt"
	"reflect"
	"slices"
	"strings"

	"github.com/amicrypt/amicrypt/internal/awsregion"
)

// The Auto Scaling service-linked role: AWSServiceRoleForAutoScaling, or
// AWSServiceRoleForAutoScaling_<suffix> when created with --custom-suffix, at
// path /aws-service-role/autoscaling.amazonaws.com/.
const (
	DefaultServiceLinkedRoleName = "AWSServiceRoleForAutoScaling"
	AutoScalingServiceRolePath   = "/aws-service-role/autoscaling.amazonaws.com/"
)

// KeyPolicySizeLimit is the largest key policy KMS accepts, in bytes.
const KeyPolicySizeLimit = 32768

// Sids of the statements amicrypt requires in a key policy it manages. They are
// stable: MergeRequired finds and corrects its own statements by them. KMS
// accepts any printable character in a key policy Sid (IAM policies do not).
const (
	SidPrefix                  = "amicrypt:"
	SidRootAdministration      = "amicrypt:RootAdministration"
	SidEC2ViaService           = "amicrypt:EC2ViaServiceUse"
	SidServiceLinkedRoleUse    = "amicrypt:ServiceLinkedRoleUse"
	SidServiceLinkedRoleGrants = "amicrypt:ServiceLinkedRoleGrants"
	SidPipelineRoleUse         = "amicrypt:PipelineRoleUse"
	SidPipelineRoleGrants      = "amicrypt:PipelineRoleGrants"
)

// keyUseActions are what a principal needs to use a key for EBS volumes
// (seed 003: Encrypt, Decrypt, ReEncryptFrom/To, GenerateDataKey[WithoutPlaintext], DescribeKey).
var keyUseActions = []string{"kms:Encrypt", "kms:Decrypt", "kms:ReEncrypt*", "kms:GenerateDataKey*", "kms:DescribeKey"}

// ec2ViaServiceActions are those of the aws/ebs-style statement (seed 004).
var ec2ViaServiceActions = []string{"kms:Encrypt", "kms:Decrypt", "kms:ReEncrypt*", "kms:GenerateDataKey*", "kms:CreateGrant", "kms:DescribeKey"}

// probeUseActions are the concrete calls EC2 makes with a key while launching
// from an encrypted snapshot, used to test whether a policy allows them.
var probeUseActions = []string{"kms:Encrypt", "kms:Decrypt", "kms:ReEncryptFrom", "kms:ReEncryptTo", "kms:GenerateDataKey", "kms:GenerateDataKeyWithoutPlaintext", "kms:DescribeKey"}

// RequiredParams says whose key amicrypt's required policy is for.
type RequiredParams struct {
	Account, Region string
	// ServiceLinkedRoleARNs are the Auto Scaling service-linked roles that must
	// use the key; empty means the default role of Account.
	ServiceLinkedRoleARNs []string
	// PipelineRoleARN is the role amicrypt acts as in the account; may be empty.
	PipelineRoleARN string
	// TargetRoleARN is the role amicrypt assumes in the account. When set,
	// the policy denies every other principal amicrypt's tags on the key
	// (SidTagsOnlyByAmicrypt, see GuardsAmicryptTags).
	TargetRoleARN string
	// KeyARN is the key's ARN when known. MissingStatements evaluates against
	// it, so owner statements whose Resource names the key count; without it a
	// placeholder ARN in Account and Region is used.
	KeyARN string
}

func (p RequiredParams) partition() string { return PartitionForRegion(p.Region) }

func (p RequiredParams) serviceLinkedRoles() []string {
	if len(p.ServiceLinkedRoleARNs) > 0 {
		return p.ServiceLinkedRoleARNs
	}
	return []string{ServiceLinkedRoleARN(p.partition(), p.Account, "")}
}

func (p RequiredParams) keyARN() string {
	if p.KeyARN != "" {
		return p.KeyARN
	}
	return fmt.Sprintf("arn:%s:kms:%s:%s:key/00000000-0000-0000-0000-000000000000", p.partition(), p.Region, p.Account)
}

// PartitionForRegion is the ARN partition of a region: aws-cn for cn-*,
// aws-us-gov for us-gov-*, aws otherwise.
func PartitionForRegion(region string) string { return awsregion.Partition(region) }

// ServiceLinkedRoleARN is the ARN of an account's Auto Scaling service-linked
// role; suffix "" gives the default role, "CMK" gives AWSServiceRoleForAutoScaling_CMK.
func ServiceLinkedRoleARN(partition, account, suffix string) string {
	name := DefaultServiceLinkedRoleName
	if suffix != "" {
		name += "_" + suffix
	}
	return fmt.Sprintf("arn:%s:iam::%s:role%s%s", partition, account, AutoScalingServiceRolePath, name)
}

// EC2ViaService is the kms:ViaService value of EC2 calls in a region,
// "ec2.<region>.amazonaws.com". (Whether the China regions use
// amazonaws.com.cn here is not documented; this assumes amazonaws.com.)
func EC2ViaService(region string) string {
	return "ec2." + region + ".amazonaws.com"
}

// ViaEC2Context is the KMS condition context of a call EC2 makes on a
// principal's behalf: kms:ViaService and kms:CallerAccount.
func ViaEC2Context(region, callerAccount string) map[string][]string {
	return map[string][]string{
		"kms:ViaService":    {EC2ViaService(region)},
		"kms:CallerAccount": {callerAccount},
	}
}

// RequiredKeyPolicy is the key policy amicrypt requires: root administration
// (so the account can never be locked out), EC2 via-service use for every
// principal of the account, use and grant creation (for AWS resources only)
// by the Auto Scaling service-linked role(s), the same for the pipeline role,
// and — with TargetRoleARN — no one but that role setting amicrypt's tags.
func RequiredKeyPolicy(p RequiredParams) *Document {
	root := fmt.Sprintf("arn:%s:iam::%s:root", p.partition(), p.Account)
	d := &Document{Version: Version2012, ID: "amicrypt-key-policy", Statements: []Statement{
		{
			Sid: SidRootAdministration, Effect: Allow,
			Principal: &Principals{AWS: []string{root}},
			Action:    []string{"kms:*"}, Resource: []string{"*"},
		},
		{
			Sid: SidEC2ViaService, Effect: Allow,
			Principal: &Principals{AWS: []string{"*"}},
			Action:    cloneStrings(ec2ViaServiceActions), Resource: []string{"*"},
			Condition: []Condition{
				{Operator: "StringEquals", Key: "kms:ViaService", Values: []string{EC2ViaService(p.Region)}},
				{Operator: "StringEquals", Key: "kms:CallerAccount", Values: []string{p.Account}},
			},
		},
		{
			Sid: SidServiceLinkedRoleUse, Effect: Allow,
			Principal: &Principals{AWS: cloneStrings(p.serviceLinkedRoles())},
			Action:    cloneStrings(keyUseActions), Resource: []string{"*"},
		},
		{
			Sid: SidServiceLinkedRoleGrants, Effect: Allow,
			Principal: &Principals{AWS: cloneStrings(p.serviceLinkedRoles())},
			Action:    []string{"kms:CreateGrant"}, Resource: []string{"*"},
			Condition: grantForAWSResource(),
		},
	}}
	if p.PipelineRoleARN != "" {
		d.Statements = append(d.Statements,
			Statement{
				Sid: SidPipelineRoleUse, Effect: Allow,
				Principal: &Principals{AWS: []string{p.PipelineRoleARN}},
				Action:    cloneStrings(keyUseActions), Resource: []string{"*"},
			},
			Statement{
				Sid: SidPipelineRoleGrants, Effect: Allow,
				Principal: &Principals{AWS: []string{p.PipelineRoleARN}},
				Action:    []string{"kms:CreateGrant"}, Resource: []string{"*"},
				Condition: grantForAWSResource(),
			})
	}
	if p.TargetRoleARN != "" {
		d.Statements = append(d.Statements, tagGuardStatement(p.TargetRoleARN))
	}
	return d
}

// grantForAWSResource limits kms:CreateGrant to grants for AWS resources
// (seeds 002 and 003): EC2 and Auto Scaling can attach volumes, no one can hand
// the key to a person.
func grantForAWSResource() []Condition {
	return []Condition{{Operator: "Bool", Key: "kms:GrantIsForAWSResource", Values: []string{"true"}}}
}

// MergeReport says what MergeRequired did.
type MergeReport struct {
	Added     []string // required Sids that were missing and were appended
	Corrected []string // required Sids present with other content (drift), replaced in place
	// Kept lists every statement left as it was, in order: the owner's (by
	// Sid, or statement[i] by its index in the existing policy) and required
	// ones that were already correct.
	Kept []string
	// AlreadySatisfied maps a required Sid that was not added to the owner
	// statement that already grants exactly the same under another Sid.
	AlreadySatisfied map[string]string
	Changed          bool // whether the merged policy differs from the existing one
}

// MergeRequired reconciles an existing key policy with the required one. Every
// owner statement is kept, in order; a statement whose Sid is a required Sid is
// replaced by the required statement when its content drifted (and a second
// statement with the same required Sid is dropped); a missing required
// statement is appended, unless an owner statement already grants exactly the
// same under another Sid. Merging twice changes nothing. Neither input is modified.
func MergeRequired(existing, required *Document) (*Document, MergeReport) {
	report := MergeReport{AlreadySatisfied: map[string]string{}}
	var out *Document
	if existing == nil {
		out = &Document{}
		if required != nil {
			out.Version, out.ID = required.Version, required.ID
		}
	} else {
		out = existing.Clone()
	}
	requiredBySid := map[string]Statement{}
	if required != nil {
		for _, r := range required.Statements {
			if r.Sid != "" {
				requiredBySid[r.Sid] = r
			}
		}
	}
	placed := map[string]bool{}
	var merged []Statement
	for i, s := range out.Statements {
		r, isRequired := requiredBySid[s.Sid]
		switch {
		case !isRequired:
			merged = append(merged, s)
			report.Kept = append(report.Kept, s.Label(i))
		case placed[s.Sid]:
			if !slices.Contains(report.Corrected, s.Sid) {
				report.Corrected = append(report.Corrected, s.Sid)
			}
			report.Changed = true
		case equivalentStatements(s, r, true):
			placed[s.Sid] = true
			merged = append(merged, s)
			report.Kept = append(report.Kept, s.Sid)
		default:
			placed[s.Sid] = true
			merged = append(merged, r.Clone())
			report.Corrected = append(report.Corrected, s.Sid)
			report.Changed = true
		}
	}
	if required != nil {
		for _, r := range required.Statements {
			if r.Sid != "" && placed[r.Sid] {
				continue
			}
			if owner, ok := findEquivalent(out.Statements, r, requiredBySid); ok {
				if r.Sid != "" {
					report.AlreadySatisfied[r.Sid] = owner
				}
				continue
			}
			merged = append(merged, r.Clone())
			report.Added = append(report.Added, r.Sid)
			report.Changed = true
		}
	}
	out.Statements = merged
	return out, report
}

// findEquivalent finds an owner statement (one whose Sid is not required)
// granting exactly what r grants.
func findEquivalent(stmts []Statement, r Statement, requiredBySid map[string]Statement) (string, bool) {
	for i, s := range stmts {
		if _, isRequired := requiredBySid[s.Sid]; isRequired {
			continue
		}
		if equivalentStatements(s, r, false) {
			return s.Label(i), true
		}
	}
	return "", false
}

// MissingStatements returns what to add to a key policy so the Auto Scaling
// service-linked role(s) and EC2 can use the key, decided by evaluating the
// existing policy rather than by looking for names: an owner statement that
// covers a role (a wildcard principal limited by kms:ViaService and
// kms:CallerAccount, say) leaves nothing missing for it. The statements are
// the required ones (SidServiceLinkedRoleUse naming only the roles that lack
// use, SidServiceLinkedRoleGrants, SidEC2ViaService), in that policy's order.
// Empty for a policy that already allows everything. An explicit Deny in the
// existing policy is not lifted by adding statements; evaluate to explain it.
func MissingStatements(existing *Document, p RequiredParams) []Statement {
	key := p.keyARN()
	allowed := func(pr Principal, action string, grantForAWSResource bool) bool {
		ctx := ViaEC2Context(p.Region, p.Account)
		if grantForAWSResource {
			ctx["kms:GrantIsForAWSResource"] = []string{"true"}
		}
		return EvaluateKMS(existing, p.Account, nil, Request{Principal: pr, Action: action, Resource: key, Context: ctx}).Allowed
	}

	var lackUse, lackGrants []string
	for _, role := range p.serviceLinkedRoles() {
		pr := Principal{ARN: role, Account: p.Account, RoleARN: role}
		for _, a := range probeUseActions {
			if !allowed(pr, a, false) {
				lackUse = append(lackUse, role)
				break
			}
		}
		if !allowed(pr, "kms:CreateGrant", true) {
			lackGrants = append(lackGrants, role)
		}
	}
	// Any principal of the account, with no identity policy, launching through EC2.
	probe := Principal{ARN: fmt.Sprintf("arn:%s:sts::%s:assumed-role/amicrypt-probe/probe", p.partition(), p.Account), Account: p.Account}
	lackEC2 := !allowed(probe, "kms:CreateGrant", true)
	for _, a := range probeUseActions {
		lackEC2 = lackEC2 || !allowed(probe, a, false)
	}

	required := RequiredKeyPolicy(p)
	var out []Statement
	for _, r := range required.Statements {
		switch {
		case r.Sid == SidEC2ViaService && lackEC2:
			out = append(out, r.Clone())
		case r.Sid == SidServiceLinkedRoleUse && len(lackUse) > 0:
			s := r.Clone()
			s.Principal.AWS = lackUse
			out = append(out, s)
		case r.Sid == SidServiceLinkedRoleGrants && len(lackGrants) > 0:
			s := r.Clone()
			s.Principal.AWS = lackGrants
			out = append(out, s)
		}
	}
	return out
}

// canonicalStatement is a statement reduced to what it grants: lists are
// sorted sets, action names and condition operators and keys lower-cased,
// account ids written as root ARNs, {"AWS": "*"} the same as "*".
type canonicalStatement struct {
	Sid                     string
	Effect                  Effect
	Principal, NotPrincipal []string
	Action, NotAction       []string
	Resource, NotResource   []string
	Condition               []string
}

// equivalentStatements reports whether two statements grant exactly the same
// (and, with compareSid, carry the same Sid).
func equivalentStatements(a, b Statement, compareSid bool) bool {
	ca, cb := canonical(a), canonical(b)
	if !compareSid {
		ca.Sid, cb.Sid = "", ""
	}
	return reflect.DeepEqual(ca, cb)
}

func canonical(s Statement) canonicalStatement {
	lower := func(in []string) []string {
		if in == nil {
			return nil
		}
		out := make([]string, len(in))
		for i, v := range in {
			out[i] = strings.ToLower(v)
		}
		return sortedSet(out)
	}
	c := canonicalStatement{
		Sid: s.Sid, Effect: s.Effect,
		Principal: canonicalPrincipals(s.Principal), NotPrincipal: canonicalPrincipals(s.NotPrincipal),
		Action: lower(s.Action), NotAction: lower(s.NotAction),
		Resource: sortedSet(cloneStrings(s.Resource)), NotResource: sortedSet(cloneStrings(s.NotResource)),
	}
	for _, cond := range s.Condition {
		vals := cloneStrings(cond.Values)
		if op, err := parseOperator(cond.Operator); err == nil && (op.name == "Bool" || op.null) {
			vals = lower(vals) // "true", "True" and true are one value
		}
		c.Condition = append(c.Condition, fmt.Sprintf("%s %s %q", strings.ToLower(cond.Operator), strings.ToLower(cond.Key), sortedSet(vals)))
	}
	c.Condition = sortedSet(c.Condition)
	return c
}

func canonicalPrincipals(p *Principals) []string {
	if p == nil {
		return nil
	}
	if p.All || slices.Contains(p.AWS, "*") {
		return []string{"*"}
	}
	var out []string
	for _, a := range p.AWS {
		if isAccountID(a) {
			a = "arn:aws:iam::" + a + ":root"
		}
		out = append(out, "AWS "+a)
	}
	for _, v := range p.Service {
		out = append(out, "Service "+strings.ToLower(v))
	}
	for _, v := range p.Federated {
		out = append(out, "Federated "+v)
	}
	for _, v := range p.CanonicalUser {
		out = append(out, "CanonicalUser "+v)
	}
	return sortedSet(out)
}

func sortedSet(in []string) []string {
	if in == nil {
		return nil
	}
	slices.Sort(in)
	return slices.Compact(in)
}
