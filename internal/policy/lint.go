package policy

import (
	"fmt"
	"strings"
)

// Finding severities.
const (
	SeverityWarning = "warning" // works, but grants more than meant or not what the author thought
	SeverityError   = "error"   // KMS refuses the policy, or a statement has no effect / opens the key to everyone
)

// Finding is one problem Lint found in a key policy.
type Finding struct {
	Severity string // SeverityWarning or SeverityError
	Sid      string // the statement's Sid or statement[i]; empty for the whole policy
	Message  string
}

// String writes the finding as one line, e.g.
// `warning: statement "Admins": allows kms:* to ...`.
func (f Finding) String() string {
	if f.Sid == "" {
		return f.Severity + ": " + f.Message
	}
	return fmt.Sprintf("%s: statement %q: %s", f.Severity, f.Sid, f.Message)
}

// whoConditionKeys narrow a statement to particular principals; a root
// principal limited by one of them may well mean only the root user.
var whoConditionKeys = []string{"aws:userid", "aws:PrincipalArn", "aws:PrincipalType", "aws:username"}

// Lint reviews a key policy of a key owned by keyAccount and reports:
//   - kms:* granted to anyone but the account root (key administration);
//   - a wildcard principal without both kms:ViaService and kms:CallerAccount
//     conditions (an error with no condition at all);
//   - kms:CreateGrant allowed without kms:GrantIsForAWSResource (statements
//     of the account root, and those limited to calls via a service, excepted);
//   - a root principal (arn:aws:iam::X:root) with conditions but none on
//     aws:userid or another condition that narrows who: that principal means
//     every principal of X whose IAM policy allows it, not the root user alone
//     (seed 000's footnote);
//   - statements without a principal or resource (no effect), NotPrincipal
//     with Allow, duplicate Sids;
//   - characters KMS refuses, and a policy over 32 KB (KeyPolicySizeLimit), as
//     written by Marshal.
func Lint(doc *Document, keyAccount string) []Finding {
	var out []Finding
	add := func(sev, sid, format string, args ...any) {
		out = append(out, Finding{Severity: sev, Sid: sid, Message: fmt.Sprintf(format, args...)})
	}
	if doc == nil || len(doc.Statements) == 0 {
		add(SeverityError, "", "the key policy has no statements")
		return out
	}
	rootARN := "arn:aws:iam::" + keyAccount + ":root"
	seen := map[string]bool{}
	for i := range doc.Statements {
		s := &doc.Statements[i]
		sid := s.Label(i)
		if s.Sid != "" {
			if seen[s.Sid] {
				add(SeverityWarning, sid, "the Sid is used by another statement too; tools that edit statements by Sid (amicrypt among them) will treat them as one")
			}
			seen[s.Sid] = true
		}
		if s.Principal == nil && s.NotPrincipal == nil {
			add(SeverityError, sid, "has no Principal; KMS requires one in every key policy statement")
			continue
		}
		if s.Resource == nil && s.NotResource == nil {
			add(SeverityError, sid, `has no Resource; KMS accepts the policy but the statement has no effect (use "Resource": "*")`)
		}
		if s.Effect != Allow {
			continue
		}
		if s.NotPrincipal != nil {
			add(SeverityWarning, sid, "uses NotPrincipal with Allow, which allows every principal except those named, anonymous callers included; name the principals in Principal instead")
			continue
		}
		others := principalsOtherThan(s.Principal, keyAccount)
		if grantsEverything(s) && len(others) > 0 {
			add(SeverityWarning, sid, "allows kms:* to %s; only the account root (%s) should hold every KMS permission (key administration): give others only the actions they use",
				strings.Join(others, ", "), rootARN)
		}
		if isWildcard(s.Principal) {
			via, callerAcct := hasConditionKey(s, "kms:ViaService"), hasConditionKey(s, "kms:CallerAccount")
			switch {
			case len(s.Condition) == 0:
				add(SeverityError, sid, `allows every AWS principal ("*") with no condition: any account whose own IAM policy allows it can use the key; limit it with StringEquals kms:CallerAccount = %q and kms:ViaService = "ec2.<region>.amazonaws.com"`, keyAccount)
			case !via || !callerAcct:
				var missing []string
				if !callerAcct {
					missing = append(missing, fmt.Sprintf("kms:CallerAccount (= %q)", keyAccount))
				}
				if !via {
					missing = append(missing, `kms:ViaService (= "ec2.<region>.amazonaws.com")`)
				}
				add(SeverityWarning, sid, `allows every AWS principal ("*") without a condition on %s; the aws/ebs pattern limits it with both kms:CallerAccount and kms:ViaService`, strings.Join(missing, " and "))
			}
		}
		if actionApplies(s, "kms:CreateGrant") && !hasConditionKey(s, "kms:GrantIsForAWSResource") &&
			!hasConditionKey(s, "kms:ViaService") && len(others) > 0 {
			add(SeverityWarning, sid, `allows kms:CreateGrant to %s without Bool kms:GrantIsForAWSResource = "true": whoever holds it can give the key to anyone; the condition limits grants to AWS services such as EC2`,
				strings.Join(others, ", "))
		}
		for _, acct := range rootPrincipals(s.Principal) {
			narrowed := false
			for _, k := range whoConditionKeys {
				narrowed = narrowed || hasConditionKey(s, k)
			}
			mentionsRootUser := strings.Contains(strings.ToLower(s.Sid), "root user")
			if narrowed || (len(s.Condition) == 0 && !mentionsRootUser) {
				continue
			}
			why := "its Sid speaks of the root user"
			if len(s.Condition) > 0 {
				why = "its conditions (" + conditionKeys(s) + ") limit how the key is used, not who uses it"
			}
			add(SeverityWarning, sid, `names arn:aws:iam::%s:root, which means every principal of account %s whose IAM policy allows it, not only the root user, and %s; to mean only the root user add StringEquals "aws:userid": %q`,
				acct, acct, why, acct)
		}
	}
	data, err := doc.Marshal()
	if err != nil {
		add(SeverityError, "", "the key policy cannot be written: %v", err)
		return out
	}
	if len(data) > KeyPolicySizeLimit {
		add(SeverityError, "", "the key policy is %d bytes; KMS accepts at most %d", len(data), KeyPolicySizeLimit)
	}
	for _, r := range string(data) {
		if !keyPolicyRune(r) {
			add(SeverityError, "", "the key policy holds %q (U+%04X); KMS accepts only printable ASCII and Latin-1 characters, tab, line feed and carriage return", r, r)
			break
		}
	}
	return out
}

func keyPolicyRune(r rune) bool {
	return r == '\t' || r == '\n' || r == '\r' || (r >= 0x20 && r <= 0x7e) || (r >= 0xa0 && r <= 0xff)
}

// grantsEverything reports whether an Allow statement grants every KMS action.
func grantsEverything(s *Statement) bool {
	if s.NotAction != nil {
		// A NotAction that still lets the principal administer the key.
		return actionApplies(s, "kms:PutKeyPolicy") && actionApplies(s, "kms:ScheduleKeyDeletion")
	}
	for _, a := range s.Action {
		if a == "*" || strings.EqualFold(a, "kms:*") {
			return true
		}
	}
	return false
}

func isWildcard(p *Principals) bool {
	if p == nil {
		return false
	}
	if p.All {
		return true
	}
	for _, a := range p.AWS {
		if a == "*" {
			return true
		}
	}
	return false
}

// principalsOtherThan lists a Principal's entries other than keyAccount's root.
func principalsOtherThan(p *Principals, keyAccount string) []string {
	if p == nil {
		return nil
	}
	if p.All {
		return []string{`"*"`}
	}
	var out []string
	for _, a := range p.AWS {
		if e := parseAWSPrincipal(a); e.kind == kindAccount && e.account == keyAccount {
			continue
		}
		if a == "*" {
			a = `"*"`
		}
		out = append(out, a)
	}
	out = append(out, p.Service...)
	out = append(out, p.Federated...)
	out = append(out, p.CanonicalUser...)
	return out
}

// rootPrincipals lists the accounts a Principal names as arn:aws:iam::X:root or X.
func rootPrincipals(p *Principals) []string {
	if p == nil {
		return nil
	}
	var out []string
	for _, a := range p.AWS {
		if e := parseAWSPrincipal(a); e.kind == kindAccount {
			out = append(out, e.account)
		}
	}
	return out
}

// hasConditionKey reports whether a statement conditions on key with a
// positive (not negated) operator.
func hasConditionKey(s *Statement, key string) bool {
	for _, c := range s.Condition {
		if !strings.EqualFold(c.Key, key) {
			continue
		}
		if op, err := parseOperator(c.Operator); err == nil && !op.negated && !op.null {
			return true
		}
	}
	return false
}

func conditionKeys(s *Statement) string {
	var keys []string
	for _, c := range s.Condition {
		keys = append(keys, c.Key)
	}
	return strings.Join(keys, ", ")
}
