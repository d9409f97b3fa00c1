package sandbox

import (
	"fmt"
	"regexp"
	"strings"
	"sync"
	"time"

	"github.com/amicrypt/amicrypt/internal/policy"
	"github.com/amicrypt/amicrypt/internal/sandbox/wire"
)

// Caller is who signed a request.
type Caller struct {
	Account string
	// ARN is what sts:GetCallerIdentity reports: arn:aws:iam::A:root or
	// arn:aws:sts::A:assumed-role/R/session.
	ARN string
	// UserID is aws:userid: the account id for root, "AROA...:session" for a role session.
	UserID string
	IsRoot bool
	// RoleARN is the IAM role behind an assumed-role session.
	RoleARN string
	// Policies are the caller's identity-based policies (JSON).
	Policies []string
	// What CloudTrail's userIdentity says of the caller: the access key id
	// that signed the request, the IAM user's name, and for a role session the
	// role's name and id, the session's name and when it was issued.
	AccessKeyID   string
	UserName      string
	RoleName      string
	RoleID        string
	SessionName   string
	SessionIssued time.Time
	// SourceIdentity and SessionPolicy are what the session was assumed
	// with (sts:AssumeRole's SourceIdentity and Policy).
	SourceIdentity string
	SessionPolicy  string
}

var accountKeyRE = regexp.MustCompile(`^\d{12}$`)

// identify maps an access key id (and session token) to a caller. A 12-digit
// access key id acts as that account's root user with any secret; an IAM user's
// AKIA… key (see /_sandbox/state) acts as the user; ASIA… keys are sessions
// handed out by sts:AssumeRole. Must be called with the lock held.
func (c *Cloud) identify(scope wire.Scope) (*Caller, *wire.APIError) {
	key := scope.AccessKeyID
	if accountKeyRE.MatchString(key) {
		if _, ok := c.state.Accounts[key]; !ok {
			return nil, apiErrStatus(403, "InvalidClientTokenId", "The security token included in the request is invalid. (account %s is not in this sandbox's world)", key)
		}
		return &Caller{Account: key, ARN: "arn:aws:iam::" + key + ":root", UserID: key, IsRoot: true, AccessKeyID: key}, nil
	}
	if ref, ok := c.userKeys[key]; ok {
		return &Caller{Account: ref.account, ARN: ref.user.ARN, UserID: ref.user.UserID, Policies: policyList(ref.user.Policies),
			AccessKeyID: key, UserName: ref.user.Name}, nil
	}
	s, ok := c.state.Sessions[key]
	if !ok {
		return nil, apiErrStatus(403, "InvalidClientTokenId", "The security token included in the request is invalid.")
	}
	if scope.SecurityToken != s.SessionToken {
		return nil, apiErrStatus(403, "InvalidClientTokenId", "The security token included in the request is invalid.")
	}
	if c.clock().After(s.Expires) {
		return nil, apiErrStatus(400, "ExpiredToken", "The security token included in the request is expired")
	}
	acct := c.state.Accounts[s.Account]
	role := acct.Roles[s.RoleName]
	if role == nil {
		return nil, apiErrStatus(403, "InvalidClientTokenId", "The security token included in the request is invalid. (role %s was deleted)", s.RoleName)
	}
	return &Caller{
		Account:  s.Account,
		ARN:      fmt.Sprintf("arn:aws:sts::%s:assumed-role/%s/%s", s.Account, role.Name, s.SessionName),
		UserID:   role.RoleID + ":" + s.SessionName,
		RoleARN:  role.ARN,
		Policies: policyList(role.Policies),

		AccessKeyID: key, RoleName: role.Name, RoleID: role.RoleID, SessionName: s.SessionName, SessionIssued: s.Issued,
		SourceIdentity: s.SourceIdentity, SessionPolicy: s.Policy,
	}, nil
}

func policyList(m map[string]string) []string {
	out := make([]string, 0, len(m))
	for _, k := range sortedKeys(m) {
		out = append(out, m[k])
	}
	return out
}

// parsedPolicies caches parsed policy documents by their JSON text: the same
// role policies are evaluated on every call.
var parsedPolicies sync.Map // string -> *policy.Document

func parsePolicy(doc string) (*policy.Document, error) {
	if v, ok := parsedPolicies.Load(doc); ok {
		return v.(*policy.Document), nil
	}
	d, err := policy.Parse([]byte(doc))
	if err != nil {
		return nil, err
	}
	parsedPolicies.Store(doc, d)
	return d, nil
}

// principal turns a caller into the evaluator's principal. Unparseable stored
// policies cannot occur: they are validated when stored.
func (cl *Caller) principal() policy.Principal {
	p := policy.Principal{ARN: cl.ARN, Account: cl.Account, IsRoot: cl.IsRoot}
	if cl.RoleARN != "" {
		p.RoleARN = cl.RoleARN
	}
	for _, doc := range cl.Policies {
		if d, err := parsePolicy(doc); err == nil {
			p.IdentityPolicies = append(p.IdentityPolicies, d)
		}
	}
	if cl.SessionPolicy != "" {
		if d, err := parsePolicy(cl.SessionPolicy); err == nil {
			p.SessionPolicies = []*policy.Document{d}
		}
	}
	return p
}

// baseContext holds the global condition keys every request carries.
func (c *Cloud) baseContext(cl *Caller) map[string][]string {
	ctx := map[string][]string{
		"aws:userid":           {cl.UserID},
		"aws:PrincipalArn":     {principalARNForConditions(cl)},
		"aws:PrincipalAccount": {cl.Account},
		"kms:CallerAccount":    {cl.Account},
	}
	if org := c.organizationOf(cl.Account); org != "" {
		ctx["aws:PrincipalOrgID"] = []string{org}
	}
	if cl.SourceIdentity != "" {
		ctx["aws:SourceIdentity"] = []string{cl.SourceIdentity}
	}
	return ctx
}

// principalARNForConditions is aws:PrincipalArn: the role ARN for a role session.
func principalARNForConditions(cl *Caller) string {
	if cl.RoleARN != "" {
		return cl.RoleARN
	}
	return cl.ARN
}

// authorize checks the caller's identity policies for a non-KMS action.
func (c *Cloud) authorize(cl *Caller, service, action, resource string) *wire.APIError {
	if cl.IsRoot {
		return nil
	}
	if resource == "" {
		resource = "*"
	}
	full := service + ":" + action
	d := policy.EvaluateIdentity(policy.Request{Principal: cl.principal(), Action: full, Resource: resource, Context: c.baseContext(cl)})
	if d.Allowed {
		return nil
	}
	why := "no identity-based policy allows the " + full + " action"
	if d.ExplicitDeny {
		why = "an explicit deny in an identity-based policy: " + strings.Join(d.DecidedBy, ", ")
	}
	return accessDenied(service, cl.ARN, full, resource, why)
}
