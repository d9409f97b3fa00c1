package policy

import (
	"fmt"
	"strconv"
	"strings"
)

// What the evaluator does not model, and so never grants or denies on:
// service control policies, resource control policies, permission boundaries,
// VPC endpoint policies, policy variables such as
// ${aws:username} (their text is compared literally), and the key state
// (disabled, pending deletion). The boot proof through Auto Scaling remains the
// ground truth for those.

// Request is one call to evaluate.
type Request struct {
	Principal Principal
	Action    string // "kms:CreateGrant"; case-insensitive
	Resource  string // "arn:aws:kms:us-east-1:222222222222:key/<uuid>"; "*" for actions without a resource
	// Context holds the request's condition keys, named in any letter case:
	// kms:ViaService, kms:CallerAccount, kms:GrantIsForAWSResource ("true" or
	// "false"), kms:GrantOperations (several values), aws:userid,
	// aws:PrincipalOrgID, sts:ExternalId, kms:EncryptionContext:<key>, ...
	// Keys derived from the principal are added when absent: aws:PrincipalAccount,
	// aws:PrincipalArn, aws:PrincipalType, aws:userid and aws:username where they
	// follow from the ARN, and kms:CallerAccount for KMS requests.
	Context map[string][]string
}

// Grant is a KMS grant on a key.
type Grant struct {
	ID, KeyARN, GranteePrincipal, RetiringPrincipal string
	// Operations are KMS operation names without "kms:", e.g. "Decrypt",
	// "CreateGrant" (which lets the grantee create grants in turn).
	Operations []string
	// Grant constraints. The sandbox does not model the encryption context EBS
	// sends, so a constraint is only checked when the request carries
	// kms:EncryptionContext:<key> values; a request without any is taken to
	// meet it.
	EncryptionContextEquals, EncryptionContextSubset map[string]string
}

// Decision is the answer to a request and why.
type Decision struct {
	Allowed bool
	// Reason is one sentence a user can act on: what allowed the call, or what
	// is missing for it to be allowed.
	Reason string
	// DecidedBy names what decided it: key or trust policy statements by Sid
	// (or "statement[i]" without one), identity policy statements as
	// "identity:<Sid>" (or "identity:policy[j].statement[i]"), grants as
	// "grant:<id>". Empty for an implicit deny.
	DecidedBy    []string
	ExplicitDeny bool
}

// EvaluateKMS decides a KMS request on a key owned by keyAccount: the key
// policy, the key's grants and, where the key policy allows the caller's
// account (arn:aws:iam::<acct>:root, delegating to IAM) or the caller is in
// another account, the caller's identity policies.
//
//   - An explicit Deny in the key policy or an identity policy wins over all.
//   - A statement naming the caller, its role, or "*" allows a caller of the
//     key's own account without any identity policy.
//   - A statement naming the caller's account allows it only together with an
//     identity policy that allows the action on the key (the root user always).
//   - A caller of another account needs both the key policy (naming its
//     account, itself or "*") and its own identity policy.
//   - A grant to the caller for the operation allows it on its own, also
//     across accounts.
//
// keyAccount may be empty when req.Resource is the key's ARN.
func EvaluateKMS(keyPolicy *Document, keyAccount string, grants []Grant, req Request) Decision {
	t := target{policy: "key policy", resource: req.Resource, account: keyAccount, kms: true}
	if t.resource == "" {
		t.resource = "the key"
	}
	if t.account == "" {
		t.account = arnAccount(req.Resource)
	}
	return evaluateResource(t, keyPolicy, grants, req)
}

// EvaluateTrust decides whether the caller may assume a role owned by
// roleAccount (sts:AssumeRole and friends; req.Resource is the role ARN): the
// trust policy must allow the caller with its conditions (sts:ExternalId, ...);
// a caller of another account, or one allowed only through its account
// (arn:aws:iam::<acct>:root), also needs its identity policy to allow the
// action on the role. Root users and service principals need no identity policy.
func EvaluateTrust(trust *Document, roleAccount string, req Request) Decision {
	t := target{policy: "trust policy", resource: req.Resource, account: roleAccount}
	if t.resource == "" {
		t.resource = "the role"
	}
	if t.account == "" {
		t.account = arnAccount(req.Resource)
	}
	return evaluateResource(t, trust, nil, req)
}

// EvaluateIdentity decides a request that only identity-based policies
// govern (EC2, IAM, Auto Scaling, SSM, ...). The root user may do everything
// in its own account; resource-based policies of other accounts are not
// consulted.
func EvaluateIdentity(req Request) Decision {
	c := newCaller(req.Principal)
	ctx := buildContext(req, c, false)
	who := c.describe()
	if c.root {
		return Decision{Allowed: true, Reason: fmt.Sprintf("%s is the root user of account %s, which may call every action in its own account", who, c.account)}
	}
	if c.isService() {
		return Decision{Reason: fmt.Sprintf("%s is an AWS service principal; it has no identity-based policies to allow %s", who, req.Action)}
	}
	id := scanIdentity(c, req.Action, req.Resource, ctx)
	sess, limited := scanSession(c, req.Action, req.Resource, ctx)
	if len(id.denies) > 0 || len(sess.denies) > 0 {
		return denyDecision(nil, append(id.denies, sess.denies...), who, req.Action, "")
	}
	if len(id.allows) > 0 && limited && len(sess.allows) == 0 {
		return Decision{Reason: sessionMiss(who, req.Action, req.Resource, id.allows[0].name) + joinClauses(sess.misses)}
	}
	if len(id.allows) > 0 {
		h := id.allows[0]
		return Decision{Allowed: true, DecidedBy: []string{h.label},
			Reason: fmt.Sprintf("identity policy statement %q allows %s %s on %s", h.name, who, req.Action, req.Resource)}
	}
	reason := fmt.Sprintf("no identity policy of %s allows %s on %s", who, req.Action, req.Resource)
	if len(req.Principal.IdentityPolicies) == 0 {
		reason = fmt.Sprintf("%s has no identity policy, so nothing allows it %s on %s", who, req.Action, req.Resource)
	}
	return Decision{Reason: reason + joinClauses(id.misses)}
}

// scanSession scans the caller's session policies; limited says whether it
// has any (without, nothing limits the session).
func scanSession(c caller, action, resource string, ctx requestContext) (policyScan, bool) {
	if len(c.p.SessionPolicies) == 0 {
		return policyScan{}, false
	}
	return scanDocuments(c.p.SessionPolicies, "session", action, resource, ctx), true
}

// sessionMiss says that the session policy, not the role, refuses.
func sessionMiss(who, action, resource, allowedBy string) string {
	return fmt.Sprintf("%q allows %s %s on %s, but no statement of the session policy it was assumed with does (a session may do only what both its role's policies and its session policy allow)",
		allowedBy, who, action, resource)
}

// target is the resource a resource-based policy protects.
type target struct {
	policy   string // "key policy" or "trust policy"
	resource string
	account  string
	kms      bool
}

// hit is a statement that applies to a request.
type hit struct {
	label string // for DecidedBy
	name  string // for messages: Sid or statement[i]
	match matchKind
	// namesSession: the statement names the caller's session ARN itself,
	// which a session policy does not limit.
	namesSession bool
}

type policyScan struct {
	allows, denies []hit
	misses         []string // statements that nearly applied, and why they did not
}

func evaluateResource(t target, doc *Document, grants []Grant, req Request) Decision {
	c := newCaller(req.Principal)
	ctx := buildContext(req, c, t.kms)
	who := c.describe()
	var rp policyScan
	if doc != nil {
		rp = scanResourcePolicy(doc, c, req.Action, req.Resource, ctx)
	}
	var id policyScan
	if !c.root && !c.isService() {
		id = scanIdentity(c, req.Action, req.Resource, ctx)
	}
	sess, limited := scanSession(c, req.Action, req.Resource, ctx)
	if len(rp.denies) > 0 || len(id.denies) > 0 || len(sess.denies) > 0 {
		return denyDecision(rp.denies, append(id.denies, sess.denies...), who, req.Action, t.policy)
	}
	// A session policy limits what the role's policies allow, and what a
	// resource-based policy allows the role or the account; not what one
	// allows the session by its own ARN.
	sessionAllows := !limited || len(sess.allows) > 0
	identityAllowed := c.root || (len(id.allows) > 0 && sessionAllows)
	crossAccount := !c.isService() && c.account != t.account

	var needIdentity []hit
	sessionRefused := ""
	for _, h := range rp.allows {
		if !h.namesSession && !sessionAllows {
			sessionRefused = h.name
			continue
		}
		if h.match == matchDirect && (!crossAccount || identityAllowed) {
			if !crossAccount || c.root {
				return Decision{Allowed: true, DecidedBy: []string{h.label},
					Reason: fmt.Sprintf("%s statement %q allows %s %s", t.policy, h.name, who, req.Action)}
			}
			return Decision{Allowed: true, DecidedBy: append([]string{h.label}, id.allows[0].label),
				Reason: fmt.Sprintf("%s statement %q allows %s %s, and its own identity policy statement %q allows it on %s (it is in account %s, the %s's owner is %s)",
					t.policy, h.name, who, req.Action, id.allows[0].name, t.resource, c.account, resourceNoun(t), t.account)}
		}
		if h.match == matchDelegated && identityAllowed {
			// The root user matches its account's statements directly, so a
			// delegated match always has an identity policy behind it here.
			return Decision{Allowed: true, DecidedBy: []string{h.label, id.allows[0].label},
				Reason: fmt.Sprintf("%s statement %q leaves %s to account %s's IAM policies, and identity policy statement %q allows %s %s on %s",
					t.policy, h.name, req.Action, c.account, id.allows[0].name, who, req.Action, t.resource)}
		}
		needIdentity = append(needIdentity, h)
	}

	op := kmsOperation(req.Action)
	var grantMisses []string
	if t.kms && op != "" {
		for _, g := range grants {
			if g.KeyARN != "" && req.Resource != "" && g.KeyARN != req.Resource {
				continue
			}
			m := c.matchGrantee(g.GranteePrincipal)
			if m == matchNone {
				continue
			}
			if !grantHasOperation(g, op) {
				grantMisses = append(grantMisses, fmt.Sprintf("grant %s gives it only %s", g.ID, strings.Join(g.Operations, ", ")))
				continue
			}
			if !sessionAllows {
				grantMisses = append(grantMisses, fmt.Sprintf("grant %s gives %s, but the session policy %s was assumed with does not allow %s", g.ID, op, who, req.Action))
				continue
			}
			if m == matchDelegated && !identityAllowed {
				grantMisses = append(grantMisses, fmt.Sprintf("grant %s is for account %s, and no identity policy of %s allows %s on %s", g.ID, c.account, who, req.Action, t.resource))
				continue
			}
			if ok, why := g.constraintsHold(req.Context); !ok {
				grantMisses = append(grantMisses, fmt.Sprintf("grant %s gives %s but %s", g.ID, op, why))
				continue
			}
			return Decision{Allowed: true, DecidedBy: []string{"grant:" + g.ID},
				Reason: fmt.Sprintf("grant %s gives %s %s on %s", g.ID, who, op, t.resource)}
		}
	}

	// Implicit deny: say what is missing.
	var main string
	switch {
	case sessionRefused != "":
		main = sessionMiss(who, req.Action, t.resource, t.policy+" statement "+strconv.Quote(sessionRefused))
	case len(needIdentity) == 0 && len(id.allows) > 0 && !sessionAllows:
		main = sessionMiss(who, req.Action, t.resource, "identity policy statement "+strconv.Quote(id.allows[0].name))
	case len(needIdentity) > 0 && needIdentity[0].match == matchDelegated:
		h := needIdentity[0]
		main = fmt.Sprintf("%s statement %q leaves %s to account %s's IAM policies, but no identity policy of %s allows %s on %s",
			t.policy, h.name, req.Action, c.account, who, req.Action, t.resource)
	case len(needIdentity) > 0:
		h := needIdentity[0]
		main = fmt.Sprintf("%s statement %q allows %s %s, but %s is in account %s and the %s in account %s, so its own identity policy must allow %s on %s too; none does",
			t.policy, h.name, who, req.Action, who, c.account, resourceNoun(t), t.account, req.Action, t.resource)
	case crossAccount && len(id.allows) > 0:
		main = fmt.Sprintf("identity policy statement %q of %s allows %s on %s, but %s is in account %s and the %s in account %s, and no statement in the %s allows account %s or %s to call %s",
			id.allows[0].name, who, req.Action, t.resource, who, c.account, resourceNoun(t), t.account, t.policy, c.account, who, req.Action)
	case doc == nil:
		main = fmt.Sprintf("%s has no %s, so nothing allows %s to call %s", t.resource, t.policy, who, req.Action)
	default:
		main = fmt.Sprintf("no statement in the %s of %s allows %s to call %s", t.policy, t.resource, who, req.Action)
	}
	if t.kms && op != "" && len(grantMisses) == 0 {
		main += ", and no grant gives it " + op
	}
	if t.kms && len(needIdentity) > 0 && c.isServiceLinkedRole() {
		main += " (a service-linked role's permissions policy is AWS-managed and allows no customer managed key: the key policy must name the role or allow it through EC2, or a grant must give it " + op + ")"
	}
	clauses := append(grantMisses, rp.misses...)
	if len(needIdentity) > 0 || crossAccount {
		clauses = append(clauses, id.misses...)
	}
	return Decision{Reason: main + joinClauses(clauses)}
}

// arnAccount is the account field of an ARN, "" when there is none.
func arnAccount(arn string) string {
	if parts := strings.SplitN(arn, ":", 6); len(parts) == 6 && parts[0] == "arn" {
		return parts[4]
	}
	return ""
}

func resourceNoun(t target) string {
	if t.kms {
		return "key"
	}
	return "role"
}

func joinClauses(clauses []string) string {
	if len(clauses) == 0 {
		return ""
	}
	return "; " + strings.Join(clauses, "; ")
}

func denyDecision(resourceDenies, identityDenies []hit, who, action, policyName string) Decision {
	d := Decision{ExplicitDeny: true}
	var parts []string
	for _, h := range resourceDenies {
		d.DecidedBy = append(d.DecidedBy, h.label)
		parts = append(parts, fmt.Sprintf("%s statement %q explicitly denies %s %s", policyName, h.name, who, action))
	}
	for _, h := range identityDenies {
		d.DecidedBy = append(d.DecidedBy, h.label)
		kind, _, _ := strings.Cut(h.label, ":") // identity or session
		parts = append(parts, fmt.Sprintf("%s policy statement %q explicitly denies %s %s", kind, h.name, who, action))
	}
	d.Reason = strings.Join(parts, "; ") + "; an explicit deny wins over every allow"
	return d
}

// scanResourcePolicy finds the statements of a key or trust policy that apply
// to the request. A statement without Principal or NotPrincipal applies to
// no one (AWS requires one in resource-based policies); one without Resource
// or NotResource applies to the resource the policy is attached to (trust
// policies have none).
func scanResourcePolicy(doc *Document, c caller, action, resource string, ctx requestContext) policyScan {
	var out policyScan
	for i := range doc.Statements {
		s := &doc.Statements[i]
		name := s.Label(i)
		m := matchNone
		switch {
		case s.Principal != nil:
			m = c.matchPrincipals(s.Principal)
		case s.NotPrincipal != nil && !c.excludedBy(s.NotPrincipal):
			m = matchDirect
		}
		if !actionApplies(s, action) || !resourceApplies(s, resource, true) {
			continue
		}
		if m == matchNone {
			if arn := c.rolePathMismatch(s.Principal); arn != "" && s.Effect == Allow {
				out.misses = append(out.misses, fmt.Sprintf("statement %q names %s, but the caller's role is %s: the path differs, so it names another role",
					name, arn, c.roleARN()))
			}
			continue
		}
		if cond, ok := conditionsHold(s.Condition, ctx); !ok {
			if s.Effect == Allow {
				out.misses = append(out.misses, fmt.Sprintf("statement %q would allow it but its condition %s", name, cond.explain(ctx)))
			}
			continue
		}
		h := hit{label: name, name: name, match: m, namesSession: c.namesSession(s.Principal)}
		if s.Effect == Deny {
			out.denies = append(out.denies, h)
		} else {
			out.allows = append(out.allows, h)
		}
	}
	return out
}

// scanIdentity finds the statements of the caller's identity policies that
// apply to the request. Principal elements in them are ignored (IAM refuses
// them there); a statement without Resource or NotResource applies to nothing.
func scanIdentity(c caller, action, resource string, ctx requestContext) policyScan {
	return scanDocuments(c.p.IdentityPolicies, "identity", action, resource, ctx)
}

// scanDocuments scans identity-side policies (identity or session
// policies: kind labels their statements in DecidedBy and messages).
func scanDocuments(docs []*Document, kind, action, resource string, ctx requestContext) policyScan {
	var out policyScan
	for j, doc := range docs {
		if doc == nil {
			continue
		}
		for i := range doc.Statements {
			s := &doc.Statements[i]
			if !actionApplies(s, action) || !resourceApplies(s, resource, false) {
				continue
			}
			name := s.Sid
			if name == "" {
				name = fmt.Sprintf("policy[%d].statement[%d]", j, i)
			}
			if cond, ok := conditionsHold(s.Condition, ctx); !ok {
				if s.Effect == Allow {
					out.misses = append(out.misses, fmt.Sprintf("%s policy statement %q would allow it but its condition %s", kind, name, cond.explain(ctx)))
				}
				continue
			}
			h := hit{label: kind + ":" + name, name: name, match: matchDirect}
			if s.Effect == Deny {
				out.denies = append(out.denies, h)
			} else {
				out.allows = append(out.allows, h)
			}
		}
	}
	return out
}

func actionApplies(s *Statement, action string) bool {
	if s.Action != nil {
		_, ok := anyMatch(s.Action, func(p string) bool { return actionMatches(p, action) })
		return ok
	}
	_, excluded := anyMatch(s.NotAction, func(p string) bool { return actionMatches(p, action) })
	return !excluded
}

func resourceApplies(s *Statement, resource string, resourcePolicy bool) bool {
	switch {
	case s.Resource != nil:
		_, ok := anyMatch(s.Resource, func(p string) bool { return resourceMatches(p, resource) })
		return ok
	case s.NotResource != nil:
		_, excluded := anyMatch(s.NotResource, func(p string) bool { return resourceMatches(p, resource) })
		return !excluded
	}
	return resourcePolicy
}

// roleARN is the caller's role ARN with its path: RoleARN for a session, or
// the ARN itself when the caller is given as a role.
func (c caller) roleARN() string {
	if c.p.RoleARN != "" {
		return c.p.RoleARN
	}
	return c.p.ARN
}

// buildContext is the request's condition keys plus those that follow from
// the principal, where the request did not set them.
func buildContext(req Request, c caller, kms bool) requestContext {
	ctx := newRequestContext(req.Context)
	ctx.setDefault("aws:PrincipalAccount", c.account)
	partition := c.ref.partition
	if partition == "" {
		partition = "aws"
	}
	switch {
	case c.root:
		ctx.setDefault("aws:PrincipalArn", fmt.Sprintf("arn:%s:iam::%s:root", partition, c.account))
		ctx.setDefault("aws:PrincipalType", "Account")
		ctx.setDefault("aws:userid", c.account)
	case c.ref.kind == kindUser:
		ctx.setDefault("aws:PrincipalArn", c.p.ARN)
		ctx.setDefault("aws:PrincipalType", "User")
		ctx.setDefault("aws:username", c.ref.name)
	case c.ref.kind == kindRole:
		ctx.setDefault("aws:PrincipalArn", c.p.ARN)
		ctx.setDefault("aws:PrincipalType", "AssumedRole")
	case c.ref.kind == kindSession:
		// aws:PrincipalArn of a session is its role's ARN, path included:
		// only known when the caller says which role it is.
		if c.role.path != "" {
			ctx.setDefault("aws:PrincipalArn", c.p.RoleARN)
		}
		ctx.setDefault("aws:PrincipalType", "AssumedRole")
	case c.ref.kind == kindFederatedUser:
		ctx.setDefault("aws:PrincipalArn", c.p.ARN)
		ctx.setDefault("aws:PrincipalType", "FederatedUser")
	}
	if c.isService() {
		ctx.setDefault("aws:PrincipalServiceName", c.p.Service)
	}
	if kms && !c.isService() {
		ctx.setDefault("kms:CallerAccount", c.account)
	}
	return ctx
}

// kmsOperation turns "kms:Decrypt" into "Decrypt"; "" for other services.
func kmsOperation(action string) string {
	if len(action) > 4 && strings.EqualFold(action[:4], "kms:") {
		return action[4:]
	}
	return ""
}

func grantHasOperation(g Grant, op string) bool {
	for _, o := range g.Operations {
		if strings.EqualFold(o, op) {
			return true
		}
	}
	return false
}

// matchGrantee matches a grant's grantee principal: an account, user, role,
// assumed-role session or service principal. A grant to an account is taken,
// like a key policy naming the account, to need the caller's identity policy
// as well (AWS does not document this case).
func (c caller) matchGrantee(grantee string) matchKind {
	if grantee == "" {
		return matchNone
	}
	if !strings.HasPrefix(grantee, "arn:") && !isAccountID(grantee) {
		if c.p.Service != "" && strings.EqualFold(grantee, c.p.Service) {
			return matchDirect
		}
		return matchNone
	}
	if grantee == "*" {
		return matchNone
	}
	return c.matchAWS(grantee)
}

// constraintsHold checks the grant's encryption context constraints against
// the kms:EncryptionContext:<key> values the request carries.
func (g Grant) constraintsHold(context map[string][]string) (bool, string) {
	if len(g.EncryptionContextEquals) == 0 && len(g.EncryptionContextSubset) == 0 {
		return true, ""
	}
	ec := map[string]string{}
	const prefix = "kms:encryptioncontext:"
	for k, vs := range context {
		if len(k) > len(prefix) && strings.EqualFold(k[:len(prefix)], prefix) && len(vs) > 0 {
			ec[k[len(prefix):]] = vs[0]
		}
	}
	if len(ec) == 0 {
		return true, "" // encryption context not modelled for this call: assume the constraint is met
	}
	if len(g.EncryptionContextEquals) > 0 {
		if len(ec) != len(g.EncryptionContextEquals) {
			return false, fmt.Sprintf("only with encryption context exactly %v (request has %v)", g.EncryptionContextEquals, ec)
		}
		for k, v := range g.EncryptionContextEquals {
			if got, ok := ec[k]; !ok || got != v {
				return false, fmt.Sprintf("only with encryption context exactly %v (request has %v)", g.EncryptionContextEquals, ec)
			}
		}
	}
	for k, v := range g.EncryptionContextSubset {
		if got, ok := ec[k]; !ok || got != v {
			return false, fmt.Sprintf("only with encryption context including %s=%s (request has %v)", k, v, ec)
		}
	}
	return true, ""
}

// RetirableBy reports whether p may retire the grant: its retiring principal,
// or its grantee when the grant includes the RetireGrant operation. (AWS also
// lets the account that created the grant retire it; Grant does not record it.)
func (g Grant) RetirableBy(p Principal) bool {
	c := newCaller(p)
	if g.RetiringPrincipal != "" && c.matchGrantee(g.RetiringPrincipal) == matchDirect {
		return true
	}
	return grantHasOperation(g, "RetireGrant") && c.matchGrantee(g.GranteePrincipal) == matchDirect
}
