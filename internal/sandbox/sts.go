package sandbox

import (
	"bytes"
	"compress/flate"
	"encoding/json"
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
	// SourceIdentity: 2–64 characters of [\w+=,.@-], not starting with
	// "aws:" (STS API Reference, AssumeRole).
	sourceIdentityRE = regexp.MustCompile(`^[\w+=,.@-]{2,64}$`)
)

// Session policies (STS API Reference, AssumeRole, Policy): "The plaintext
// that you use for both inline and managed session policies can't exceed
// 2,048 characters"; AWS then packs them into a binary format with "a
// separate limit", reported as PackedPolicySize, a percentage of it. AWS does
// not publish the packed format; the sandbox packs the policy's compact JSON
// with DEFLATE against packedPolicyLimit bytes, so a policy of 2,048
// characters that compresses badly (long random names) fails as on AWS.
const (
	maxSessionPolicyChars = 2048
	packedPolicyLimit     = 1024
)

// packedPolicySize is the percentage of the packed limit a session policy
// takes (see packedPolicyLimit).
func packedPolicySize(doc string) int64 {
	var compact bytes.Buffer
	if err := json.Compact(&compact, []byte(doc)); err != nil {
		compact.Reset()
		compact.WriteString(doc)
	}
	var packed bytes.Buffer
	w, _ := flate.NewWriter(&packed, flate.BestCompression)
	_, _ = w.Write(compact.Bytes())
	_ = w.Close()
	return int64((packed.Len()*100 + packedPolicyLimit - 1) / packedPolicyLimit)
}

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
	sessionPolicy := wire.Str(c.in, "Policy")
	var packed int64
	if sessionPolicy != "" {
		if n := len([]rune(sessionPolicy)); n > maxSessionPolicyChars {
			return nil, apiErr("ValidationError", "1 validation error detected: Value at 'policy' failed to satisfy constraint: Member must have length less than or equal to %d", maxSessionPolicyChars)
		}
		if _, err := parsePolicy(sessionPolicy); err != nil {
			return nil, apiErr("MalformedPolicyDocument", "The policy is not in the valid JSON format: %v", err)
		}
		if packed = packedPolicySize(sessionPolicy); packed > 100 {
			return nil, apiErr("PackedPolicyTooLarge", "Packed size of the session policies and session tags combined was too large: %d%% of the limit. Use fewer or smaller session policies.", packed)
		}
	}
	// A source identity, once set, stays with every session chained from
	// it and cannot be changed ("Monitor and control actions taken with
	// assumed roles", IAM User Guide).
	sourceIdentity := wire.Str(c.in, "SourceIdentity")
	if _, set := c.in["SourceIdentity"]; set {
		if !sourceIdentityRE.MatchString(sourceIdentity) {
			return nil, apiErr("ValidationError", "1 validation error detected: Value '%s' at 'sourceIdentity' failed to satisfy constraint: Member must satisfy regular expression pattern: [\\w+=,.@-]* and have length between 2 and 64", sourceIdentity)
		}
		if strings.HasPrefix(strings.ToLower(sourceIdentity), "aws:") {
			return nil, apiErr("ValidationError", "SourceIdentity %s is invalid: the prefix aws: is reserved for AWS internal use", sourceIdentity)
		}
	}
	if inherited := c.caller.SourceIdentity; inherited != "" {
		if sourceIdentity != "" && sourceIdentity != inherited {
			return nil, apiErr("ValidationError", "SourceIdentity %s differs from the source identity %s of the calling session, which cannot be changed", sourceIdentity, inherited)
		}
		sourceIdentity = inherited
	}
	ctx := c.c.baseContext(c.caller)
	if ext := wire.Str(c.in, "ExternalId"); ext != "" {
		ctx["sts:ExternalId"] = []string{ext}
	}
	if sourceIdentity != "" {
		ctx["sts:SourceIdentity"] = []string{sourceIdentity}
	}
	req := policy.Request{Principal: c.caller.principal(), Action: "sts:AssumeRole", Resource: roleARN, Context: ctx}
	d := policy.EvaluateTrust(trust, acct.ID, req)
	if !d.Allowed {
		return nil, deny(d.Reason)
	}
	// Setting a source identity is an action of its own: the role's trust
	// policy must allow sts:SetSourceIdentity (and, as for sts:AssumeRole,
	// the caller's identity policy when the trust policy reaches it only
	// through its account or it is of another account).
	if sourceIdentity != "" {
		req.Action = "sts:SetSourceIdentity"
		if d := policy.EvaluateTrust(trust, acct.ID, req); !d.Allowed {
			return nil, accessDenied("sts", c.caller.ARN, "sts:SetSourceIdentity", roleARN, d.Reason)
		}
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

		SourceIdentity: sourceIdentity,
		Policy:         sessionPolicy,
	}
	if c.c.state.Sessions == nil {
		c.c.state.Sessions = map[string]*Session{}
	}
	c.c.expireSessions(now)
	c.c.state.Sessions[sess.AccessKeyID] = sess
	c.c.markDirty()
	out := map[string]any{
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
	}
	if sessionPolicy != "" {
		out["PackedPolicySize"] = packed
	}
	if sourceIdentity != "" {
		out["SourceIdentity"] = sourceIdentity
	}
	return out, nil
}

// expireSessions drops sessions that ended, so a long-running sandbox stays small.
func (c *Cloud) expireSessions(now time.Time) {
	for k, s := range c.state.Sessions {
		if now.After(s.Expires) {
			delete(c.state.Sessions, k)
		}
	}
}
