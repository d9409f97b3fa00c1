package sandbox

import (
	"regexp"
	"strings"
	"time"

	"github.com/amicrypt/amicrypt/internal/policy"
	"github.com/amicrypt/amicrypt/internal/sandbox/wire"
)

func (s *Server) registerSTS() {
	s.handle("sts", "GetCallerIdentity", s.stsGetCallerIdentity)
	s.handle("sts", "AssumeRole", s.stsAssumeRole)
}

func (s *Server) stsGetCallerIdentity(c *call) (map[string]any, error) {
	return map[string]any{"UserId": c.caller.UserID, "Account": c.caller.Account, "Arn": c.caller.ARN}, nil
}

var (
	roleARNRE     = regexp.MustCompile(`^arn:aws:iam::(\d{12}):role(/(?:[^/]+/)*)?([\w+=,.@-]+)$`)
	sessionNameRE = regexp.MustCompile(`^[\w+=,.@-]{2,64}$`)
)

// stsAssumeRole checks the role's trust policy (and, across accounts, the caller's
// own identity policy) with the evaluator and hands out credentials bound to the role.
func (s *Server) stsAssumeRole(c *call) (map[string]any, error) {
	roleARN := wire.Str(c.in, "RoleArn")
	session := wire.Str(c.in, "RoleSessionName")
	if !sessionNameRE.MatchString(session) {
		return nil, apiErr("ValidationError", "1 validation error detected: Value '%s' at 'roleSessionName' failed to satisfy constraint: Member must satisfy regular expression pattern: [\\w+=,.@-]*", session)
	}
	duration := wire.Int(c.in, "DurationSeconds")
	if duration == 0 {
		duration = 3600
	}
	if duration < 900 || duration > 43200 {
		return nil, apiErr("ValidationError", "1 validation error detected: Value '%d' at 'durationSeconds' failed to satisfy constraint: Member must have value between 900 and 43200", duration)
	}
	m := roleARNRE.FindStringSubmatch(roleARN)
	if m == nil {
		return nil, apiErr("ValidationError", "%s is invalid", roleARN)
	}
	deny := func(why string) error {
		return accessDenied("sts", c.caller.ARN, "sts:AssumeRole", roleARN, why)
	}
	acct := c.c.state.Accounts[m[1]]
	var role *Role
	if acct != nil {
		role = acct.Roles[m[3]]
	}
	if role == nil || role.ARN != roleARN {
		// AWS does not say whether the role exists; it refuses the same way.
		return nil, deny("no role with this ARN exists or its trust policy does not allow the caller")
	}
	if role.ServiceName != "" {
		return nil, deny("service-linked roles can only be assumed by their service")
	}
	trust, err := parsePolicy(string(role.Trust))
	if err != nil {
		return nil, deny("the role's trust policy does not parse: " + err.Error())
	}
	ctx := c.c.baseContext(c.caller)
	if ext := wire.Str(c.in, "ExternalId"); ext != "" {
		ctx["sts:ExternalId"] = []string{ext}
	}
	d := policy.EvaluateTrust(trust, acct.ID, policy.Request{Principal: c.caller.principal(), Action: "sts:AssumeRole", Resource: roleARN, Context: ctx})
	if !d.Allowed {
		return nil, deny(d.Reason)
	}
	now := c.now.UTC().Truncate(time.Second)
	sess := &Session{
		AccessKeyID:  "ASIA" + strings.ToUpper(c.c.nextToken("akid", 16)),
		SessionToken: "FwoGZXIvYXdzE" + c.c.nextToken("token", 120),
		Account:      acct.ID,
		RoleName:     role.Name,
		SessionName:  session,
		Expires:      now.Add(time.Duration(duration) * time.Second),
		SourceARN:    c.caller.ARN,
		Issued:       now.UTC().Truncate(time.Second),
	}
	if c.c.state.Sessions == nil {
		c.c.state.Sessions = map[string]*Session{}
	}
	c.c.expireSessions(now)
	c.c.state.Sessions[sess.AccessKeyID] = sess
	c.c.markDirty()
	return map[string]any{
		"Credentials": map[string]any{
			"AccessKeyId":     sess.AccessKeyID,
			"SecretAccessKey": c.c.nextToken("secret", 40),
			"SessionToken":    sess.SessionToken,
			"Expiration":      sess.Expires,
		},
		"AssumedRoleUser": map[string]any{
			"AssumedRoleId": role.RoleID + ":" + session,
			"Arn":           "arn:aws:sts::" + acct.ID + ":assumed-role/" + role.Name + "/" + session,
		},
		"PackedPolicySize": int64(0),
	}, nil
}

// expireSessions drops sessions that ended, so a long-running sandbox stays small.
func (c *Cloud) expireSessions(now time.Time) {
	for k, s := range c.state.Sessions {
		if now.After(s.Expires) {
			delete(c.state.Sessions, k)
		}
	}
}
