package policy

import (
	"fmt"
	"strings"
)

// Principal is who makes a request.
type Principal struct {
	// ARN is the caller as sts:GetCallerIdentity reports it, e.g.
	// arn:aws:iam::222222222222:root, arn:aws:iam::222222222222:user/John,
	// arn:aws:iam::222222222222:role/aws-service-role/autoscaling.amazonaws.com/AWSServiceRoleForAutoScaling,
	// arn:aws:sts::222222222222:assumed-role/R/session.
	ARN string
	// Account is the caller's 12-digit account id; taken from ARN when empty.
	Account string
	// Service is set when the caller is an AWS service principal, e.g.
	// "ec2.amazonaws.com"; ARN may then be empty.
	Service string
	// Federated is the identity provider of an AssumeRoleWithSAML or
	// AssumeRoleWithWebIdentity caller, matched against Principal {"Federated": ...}.
	Federated string
	// RoleARN is the IAM role behind an assumed-role session, with its path
	// (arn:aws:iam::A:role/aws-service-role/autoscaling.amazonaws.com/R). A
	// session ARN carries no path; when RoleARN is set, a policy naming the
	// role with another path does not match, as the role it names is another one.
	RoleARN string
	// IdentityPolicies are the caller's identity-based policies (attached to its
	// user or role). Ignored for the account root user.
	IdentityPolicies []*Document
	// SessionPolicies are the session policies the session was created
	// with (sts:AssumeRole's Policy). When there are any, the session may do
	// only what both they and its identity policies allow, an explicit deny
	// in either denying; a resource-based policy naming the role limits
	// itself to them too, one naming the session ARN itself does not (IAM
	// User Guide, "Session policies").
	SessionPolicies []*Document
	// IsRoot marks the account's root user: its identity side is implicitly
	// allowed in its own account. Also implied by an ARN ending in ":root".
	IsRoot bool
}

type principalKind int

const (
	kindUnknown       principalKind = iota
	kindAny                         // "*"
	kindAccount                     // arn:aws:iam::A:root or the bare account id
	kindUser                        // arn:aws:iam::A:user/path/name
	kindRole                        // arn:aws:iam::A:role/path/name
	kindSession                     // arn:aws:sts::A:assumed-role/name/session
	kindFederatedUser               // arn:aws:sts::A:federated-user/name
)

// principalRef is a parsed AWS principal, from a policy or from a caller.
type principalRef struct {
	kind      principalKind
	partition string // empty for a bare account id
	account   string
	path      string // users and roles: "/" or "/a/b/"; empty when not known
	name      string // user, role (also for sessions) or federated user name
	session   string
}

func isAccountID(s string) bool {
	if len(s) != 12 {
		return false
	}
	for _, r := range s {
		if r < '0' || r > '9' {
			return false
		}
	}
	return true
}

// parseAWSPrincipal reads one value of Principal {"AWS": ...}. Values it does
// not recognise, such as the unique id (AROA...) AWS shows in place of a deleted
// role, are kindUnknown and match no caller.
func parseAWSPrincipal(s string) principalRef {
	if s == "*" {
		return principalRef{kind: kindAny}
	}
	if isAccountID(s) {
		return principalRef{kind: kindAccount, account: s}
	}
	parts := strings.SplitN(s, ":", 6)
	if len(parts) != 6 || parts[0] != "arn" || parts[3] != "" || !isAccountID(parts[4]) {
		return principalRef{}
	}
	ref := principalRef{partition: parts[1], account: parts[4]}
	res := parts[5]
	switch parts[2] {
	case "iam":
		switch {
		case res == "root":
			ref.kind = kindAccount
		case strings.HasPrefix(res, "user/"):
			ref.kind = kindUser
			ref.path, ref.name = splitPath(strings.TrimPrefix(res, "user/"))
		case strings.HasPrefix(res, "role/"):
			ref.kind = kindRole
			ref.path, ref.name = splitPath(strings.TrimPrefix(res, "role/"))
		}
	case "sts":
		switch {
		case strings.HasPrefix(res, "assumed-role/"):
			rs := strings.SplitN(strings.TrimPrefix(res, "assumed-role/"), "/", 2)
			if len(rs) == 2 && rs[0] != "" && rs[1] != "" {
				ref.kind, ref.name, ref.session = kindSession, rs[0], rs[1]
			}
		case strings.HasPrefix(res, "federated-user/"):
			ref.kind, ref.name = kindFederatedUser, strings.TrimPrefix(res, "federated-user/")
		}
	}
	if ref.kind != kindAccount && ref.name == "" {
		return principalRef{}
	}
	return ref
}

// splitPath splits "a/b/name" into the IAM path "/a/b/" and the name.
func splitPath(s string) (path, name string) {
	i := strings.LastIndexByte(s, '/')
	if i < 0 {
		return "/", s
	}
	return "/" + s[:i+1], s[i+1:]
}

func samePartition(a, b string) bool { return a == "" || b == "" || a == b }
func pathsAgree(a, b string) bool    { return a == "" || b == "" || a == b }

// caller is a request's principal, prepared for matching.
type caller struct {
	p       Principal
	ref     principalRef // the caller's own ARN
	role    principalRef // the role behind a role or session caller
	account string
	root    bool
}

func newCaller(p Principal) caller {
	c := caller{p: p, ref: parseAWSPrincipal(p.ARN), account: p.Account}
	if c.ref.kind == kindAny {
		c.ref = principalRef{}
	}
	if c.account == "" {
		c.account = c.ref.account
	}
	c.root = p.IsRoot || c.ref.kind == kindAccount
	switch c.ref.kind {
	case kindRole:
		c.role = c.ref
	case kindSession:
		c.role = principalRef{kind: kindRole, partition: c.ref.partition, account: c.ref.account, name: c.ref.name}
		if r := parseAWSPrincipal(p.RoleARN); r.kind == kindRole && r.name == c.ref.name && r.account == c.ref.account {
			c.role = r
		}
	}
	return c
}

// isServiceLinkedRole reports whether the caller is (a session of) a
// service-linked role: path /aws-service-role/..., or a name AWSServiceRoleFor...
// when the path is not known.
func (c caller) isServiceLinkedRole() bool {
	return c.role.kind == kindRole && (strings.HasPrefix(c.role.path, "/aws-service-role/") ||
		c.role.path == "" && strings.HasPrefix(c.role.name, "AWSServiceRoleFor"))
}

func (c caller) isService() bool { return c.p.Service != "" && c.ref.kind == kindUnknown && !c.root }

// describe names the caller in messages.
func (c caller) describe() string {
	switch {
	case c.p.ARN != "":
		return c.p.ARN
	case c.root:
		return fmt.Sprintf("arn:aws:iam::%s:root", c.account)
	case c.p.Service != "":
		return c.p.Service
	case c.p.Federated != "":
		return "a user federated by " + c.p.Federated
	}
	return "an anonymous caller"
}

// matchKind says how a policy's principal covers the caller.
type matchKind int

const (
	matchNone matchKind = iota
	// matchDelegated: the policy names the caller's account
	// (arn:aws:iam::A:root), so it applies to every principal of A whose
	// identity-based policies also allow the request.
	matchDelegated
	// matchDirect: the policy names the caller itself, its role, its account
	// as the root user, or everyone ("*").
	matchDirect
)

// matchAWS matches one value of Principal {"AWS": ...} against the caller.
// User and role names are compared exactly. IAM keeps names unique regardless
// of letter case; whether a policy naming "myrole" covers role "MyRole" is not
// documented, so it does not match here.
func (c caller) matchAWS(entry string) matchKind {
	e := parseAWSPrincipal(entry)
	if e.kind == kindAny {
		return matchDirect
	}
	if c.isService() || e.kind == kindUnknown || e.account != c.account || !samePartition(e.partition, c.ref.partition) {
		return matchNone
	}
	switch e.kind {
	case kindAccount:
		if c.root {
			return matchDirect
		}
		return matchDelegated
	case kindUser:
		if c.ref.kind == kindUser && c.ref.name == e.name && pathsAgree(c.ref.path, e.path) {
			return matchDirect
		}
	case kindRole:
		// A role in a policy covers the role and every session of it. AWS
		// resolves the ARN to the role's unique id when the policy is saved, so
		// a role ARN with the wrong path names no role at all (KMS refuses such
		// a policy); here it simply does not match.
		if c.role.kind == kindRole && c.role.name == e.name && pathsAgree(c.role.path, e.path) {
			return matchDirect
		}
	case kindSession:
		if c.ref.kind == kindSession && c.ref.name == e.name && c.ref.session == e.session {
			return matchDirect
		}
	case kindFederatedUser:
		if c.ref.kind == kindFederatedUser && c.ref.name == e.name {
			return matchDirect
		}
	}
	return matchNone
}

// namesSession reports whether a Principal element names the caller's
// session itself (arn:aws:sts::A:assumed-role/R/S), not its role or account.
func (c caller) namesSession(ps *Principals) bool {
	if ps == nil || c.ref.kind != kindSession {
		return false
	}
	for _, entry := range ps.AWS {
		e := parseAWSPrincipal(entry)
		if e.kind == kindSession && e.account == c.account && e.name == c.ref.name && e.session == c.ref.session {
			return true
		}
	}
	return false
}

// rolePathMismatch returns the policy's role ARN when it names the caller's
// role by account and name but with another path (a common slip with
// service-linked roles, whose path is /aws-service-role/<service>/).
func (c caller) rolePathMismatch(ps *Principals) string {
	if ps == nil || c.role.kind != kindRole || c.role.path == "" {
		return ""
	}
	for _, entry := range ps.AWS {
		e := parseAWSPrincipal(entry)
		if e.kind == kindRole && e.account == c.account && e.name == c.role.name && e.path != c.role.path {
			return entry
		}
	}
	return ""
}

// matchPrincipals matches a Principal element against the caller.
func (c caller) matchPrincipals(ps *Principals) matchKind {
	if ps == nil {
		return matchNone
	}
	if ps.All {
		return matchDirect
	}
	best := matchNone
	for _, e := range ps.AWS {
		if m := c.matchAWS(e); m > best {
			best = m
		}
	}
	if c.p.Service != "" {
		for _, s := range ps.Service {
			if strings.EqualFold(s, c.p.Service) {
				return matchDirect
			}
		}
	}
	if c.p.Federated != "" {
		for _, f := range ps.Federated {
			if f == c.p.Federated {
				return matchDirect
			}
		}
	}
	return best
}

// excludedBy reports whether a NotPrincipal element excludes the caller. AWS
// may check the account, then the role, then the session, so a principal is
// only excluded when every one of those is named (as the IAM documentation's
// NotPrincipal examples do); otherwise the statement still applies to it.
func (c caller) excludedBy(ps *Principals) bool {
	if ps.All {
		return true
	}
	if c.isService() {
		for _, s := range ps.Service {
			if strings.EqualFold(s, c.p.Service) {
				return true
			}
		}
		return false
	}
	named := func(want principalKind) bool {
		for _, entry := range ps.AWS {
			e := parseAWSPrincipal(entry)
			if e.kind == kindAny {
				return true
			}
			if e.kind != want || e.account != c.account {
				continue
			}
			switch want {
			case kindAccount:
				return true
			case kindRole:
				if e.name == c.role.name && pathsAgree(e.path, c.role.path) {
					return true
				}
			case kindUser, kindFederatedUser:
				if e.name == c.ref.name && pathsAgree(e.path, c.ref.path) {
					return true
				}
			case kindSession:
				if e.name == c.ref.name && e.session == c.ref.session {
					return true
				}
			}
		}
		return false
	}
	if c.account == "" || !named(kindAccount) {
		return false
	}
	switch c.ref.kind {
	case kindSession:
		return named(kindRole) && named(kindSession)
	case kindRole:
		return named(kindRole)
	case kindUser, kindFederatedUser:
		return named(c.ref.kind)
	}
	return c.root
}
