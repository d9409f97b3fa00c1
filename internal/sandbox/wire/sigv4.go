package wire

import (
	"errors"
	"fmt"
	"net/http"
	"strings"
)

// Scope is the SigV4 credential scope of a request, plus its session token.
// Signatures are not verified.
type Scope struct {
	AccessKeyID   string   // "AKIA…" / "ASIA…"
	Date          string   // yyyymmdd, e.g. "20261123"
	Region        string   // e.g. "us-east-1"
	Service       string   // signing name, e.g. "ec2", "kms", "sts"
	SecurityToken string   // X-Amz-Security-Token, "" for long-term credentials
	SignedHeaders []string // lower-case header names; nil for presigned requests without them
	Presigned     bool     // scope came from X-Amz-Credential query parameters
}

// ErrMissingAuth is returned (wrapped) by ParseCredentialScope when the
// request carries no SigV4 authentication; servers answer it with
// MissingAuthenticationToken.
var ErrMissingAuth = errors.New("request is not signed with SigV4")

// ParseCredentialScope extracts the credential scope from the
// "Authorization: AWS4-HMAC-SHA256 Credential=AKID/20261123/us-east-1/ec2/aws4_request,
// SignedHeaders=…, Signature=…" header or, for presigned requests, from the
// X-Amz-Credential query parameter, together with X-Amz-Security-Token
// (header or query). A request with neither returns an error wrapping
// ErrMissingAuth; a malformed one returns another error.
func ParseCredentialScope(r *http.Request) (Scope, error) {
	var sc Scope
	q := r.URL.Query()
	auth := strings.TrimSpace(r.Header.Get("Authorization"))
	var credential, signedHeaders string
	switch {
	case auth != "":
		alg, rest, _ := strings.Cut(auth, " ")
		if alg != "AWS4-HMAC-SHA256" && alg != "AWS4-ECDSA-P256-SHA256" {
			return sc, fmt.Errorf("unsupported authorization algorithm %q", alg)
		}
		for _, part := range strings.Split(rest, ",") {
			k, v, _ := strings.Cut(strings.TrimSpace(part), "=")
			switch k {
			case "Credential":
				credential = v
			case "SignedHeaders":
				signedHeaders = v
			}
		}
		if credential == "" {
			return sc, errors.New("authorization header has no Credential")
		}
	case q.Get("X-Amz-Credential") != "":
		credential = q.Get("X-Amz-Credential")
		signedHeaders = q.Get("X-Amz-SignedHeaders")
		sc.Presigned = true
	default:
		return sc, fmt.Errorf("%w: no Authorization header or X-Amz-Credential parameter", ErrMissingAuth)
	}
	parts := strings.Split(credential, "/")
	if len(parts) == 4 && parts[3] == "aws4_request" {
		// SigV4a scopes have no region; it travels in X-Amz-Region-Set.
		region := r.Header.Get("X-Amz-Region-Set")
		if region == "" {
			region = q.Get("X-Amz-Region-Set")
		}
		parts = []string{parts[0], parts[1], region, parts[2], parts[3]}
	}
	if len(parts) != 5 || parts[4] != "aws4_request" || parts[0] == "" {
		return sc, fmt.Errorf("malformed credential scope %q", credential)
	}
	sc.AccessKeyID, sc.Date, sc.Region, sc.Service = parts[0], parts[1], parts[2], parts[3]
	if signedHeaders != "" {
		sc.SignedHeaders = strings.Split(signedHeaders, ";")
	}
	sc.SecurityToken = r.Header.Get("X-Amz-Security-Token")
	if sc.SecurityToken == "" {
		sc.SecurityToken = q.Get("X-Amz-Security-Token")
	}
	return sc, nil
}

// ServiceForRequest picks the sandbox service a request is addressed to:
// by X-Amz-Target prefix for json services (TrentService → kms,
// AmazonSSM → ssm), else by the SigV4 scope's service name.
func ServiceForRequest(r *http.Request) (*Service, error) {
	if target := r.Header.Get("X-Amz-Target"); target != "" {
		if i := strings.LastIndexByte(target, '.'); i > 0 {
			for _, name := range Services() {
				s, err := Load(name)
				if err == nil && s.Protocol == ProtocolJSON && s.HasTargetPrefix(target[:i]) {
					return s, nil
				}
			}
		}
	}
	sc, err := ParseCredentialScope(r)
	if err != nil {
		return nil, err
	}
	for _, name := range Services() {
		s, err := Load(name)
		if err == nil && s.SigningName == sc.Service {
			return s, nil
		}
	}
	return nil, fmt.Errorf("no sandbox service for signing name %q", sc.Service)
}
