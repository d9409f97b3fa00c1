package sandbox

import (
	"bytes"
	"crypto/sha256"
	"encoding/base64"
	"encoding/binary"
	"encoding/hex"
	"fmt"
	"regexp"
	"sort"
	"strconv"
	"strings"
	"time"

	"github.com/amicrypt/amicrypt/internal/policy"
	"github.com/amicrypt/amicrypt/internal/sandbox/wire"
	"github.com/amicrypt/amicrypt/internal/sandbox/world"
)

// KMS as the AWS Key Management Service API Reference and Developer Guide
// describe it: keys, aliases, key policies, grants, rotation, deletion, tags and
// the two cryptographic operations EBS relies on. Every call on a key is
// authorized by the policy evaluator from the key policy, the key's grants and
// the caller's identity policies; calls that create or list keys and aliases by
// the caller's identity policies. Where AWS documents an error code but not its
// message, or does not document a behaviour at all, a comment says so.

// keyPolicyMaxBytes is KMS's key policy size quota (32 KiB).
const keyPolicyMaxBytes = 32768

// Quotas from the KMS quotas page.
const (
	maxGrantsPerKey  = 50000
	maxAliasesPerKey = 50
	maxTagsPerKey    = 50
)

// kmsCrossAccountOps are the operations the API Reference marks "Cross-account
// use: Yes"; the others only work on keys of the caller's own account.
var kmsCrossAccountOps = map[string]bool{
	"CreateGrant": true, "Decrypt": true, "DescribeKey": true, "Encrypt": true,
	"GenerateDataKey": true, "GenerateDataKeyPair": true, "GenerateDataKeyPairWithoutPlaintext": true,
	"GenerateDataKeyWithoutPlaintext": true, "GenerateMac": true, "GetKeyRotationStatus": true,
	"GetPublicKey": true, "ListGrants": true, "ReEncrypt": true, "RetireGrant": true,
	"RevokeGrant": true, "Sign": true, "Verify": true, "VerifyMac": true, "DeriveSharedSecret": true,
}

var keyUsages = []string{"ENCRYPT_DECRYPT", "SIGN_VERIFY", "GENERATE_VERIFY_MAC", "KEY_AGREEMENT"}

// grantOperations are the values of CreateGrant's Operations.
var grantOperations = []string{
	"Decrypt", "Encrypt", "GenerateDataKey", "GenerateDataKeyWithoutPlaintext", "ReEncryptFrom", "ReEncryptTo",
	"Sign", "Verify", "GetPublicKey", "CreateGrant", "RetireGrant", "DescribeKey", "GenerateDataKeyPair",
	"GenerateDataKeyPairWithoutPlaintext", "GenerateMac", "VerifyMac", "DeriveSharedSecret",
}

// grantOperationsFor lists the grant operations a key of this spec and usage
// supports (the "grant operations" table of the Developer Guide).
func grantOperationsFor(k *Key) map[string]bool {
	ops := map[string]bool{"CreateGrant": true, "RetireGrant": true, "DescribeKey": true}
	add := func(names ...string) {
		for _, n := range names {
			ops[n] = true
		}
	}
	switch {
	case k.Spec == "SYMMETRIC_DEFAULT":
		add("Decrypt", "Encrypt", "GenerateDataKey", "GenerateDataKeyWithoutPlaintext", "ReEncryptFrom", "ReEncryptTo",
			"GenerateDataKeyPair", "GenerateDataKeyPairWithoutPlaintext")
	case k.Usage == "ENCRYPT_DECRYPT":
		add("Decrypt", "Encrypt", "ReEncryptFrom", "ReEncryptTo", "GetPublicKey")
	case k.Usage == "SIGN_VERIFY":
		add("Sign", "Verify", "GetPublicKey")
	case k.Usage == "GENERATE_VERIFY_MAC":
		add("GenerateMac", "VerifyMac")
	case k.Usage == "KEY_AGREEMENT":
		add("DeriveSharedSecret", "GetPublicKey")
	}
	return ops
}

func (s *Server) registerKMS() {
	h := func(op string, fn handler) { s.handle("kms", op, fn) }
	h("CreateKey", kmsCreateKey)
	h("DescribeKey", kmsDescribeKey)
	h("ListKeys", kmsListKeys)
	h("CreateAlias", kmsCreateAlias)
	h("UpdateAlias", kmsUpdateAlias)
	h("DeleteAlias", kmsDeleteAlias)
	h("ListAliases", kmsListAliases)
	h("GetKeyPolicy", kmsGetKeyPolicy)
	h("PutKeyPolicy", kmsPutKeyPolicy)
	h("EnableKeyRotation", kmsEnableKeyRotation)
	h("DisableKeyRotation", kmsDisableKeyRotation)
	h("GetKeyRotationStatus", kmsGetKeyRotationStatus)
	h("RotateKeyOnDemand", kmsRotateKeyOnDemand)
	h("CreateGrant", kmsCreateGrant)
	h("ListGrants", kmsListGrants)
	h("RetireGrant", kmsRetireGrant)
	h("RevokeGrant", kmsRevokeGrant)
	h("EnableKey", kmsSetKeyState("EnableKey", "Enabled"))
	h("DisableKey", kmsSetKeyState("DisableKey", "Disabled"))
	h("ScheduleKeyDeletion", kmsScheduleKeyDeletion)
	h("CancelKeyDeletion", kmsCancelKeyDeletion)
	h("TagResource", kmsTagResource)
	h("UntagResource", kmsUntagResource)
	h("ListResourceTags", kmsListResourceTags)
	h("GenerateDataKeyWithoutPlaintext", kmsGenerateDataKeyWithoutPlaintext)
	h("Decrypt", kmsDecrypt)
	h("GetKeyLastUsage", kmsGetKeyLastUsage)
}

// ---------------------------------------------------------------------------
// Time: deletion and automatic rotation

// advanceKey lets time act on a key (see due.go): a key whose deletion
// waiting period is over is deleted with its aliases and grants, and an
// enabled key with automatic rotation records the rotations that came due.
func (c *Cloud) advanceKey(k *Key, now time.Time) {
	if k.State == "PendingDeletion" && !k.DeletionDate.IsZero() && !now.Before(k.DeletionDate) {
		c.deleteKey(k.ID, k)
		return
	}
	if k.RotationEnabled && k.State == "Enabled" {
		period := rotationPeriod(k)
		anchor := rotationAnchor(k)
		for due := anchor.Add(period); !due.After(now); due = anchor.Add(period) {
			anchor = due
			k.Rotations = append(k.Rotations, due)
			k.RotationAnchor = anchor
			c.markDirty()
		}
	}
}

// deleteKey removes a key at the end of its waiting period. Its aliases go with
// it (the Developer Guide: deleting a KMS key deletes its aliases too, they no
// longer refer to anything).
func (c *Cloud) deleteKey(id string, k *Key) {
	delete(c.keyIndex, id)
	if r := c.region(k.Account, k.Region); r != nil {
		delete(r.Keys, id)
		for alias, target := range r.Aliases {
			if target == id {
				delete(r.Aliases, alias)
				delete(r.AliasDates, alias)
			}
		}
	}
	c.markDirty()
}

// rotationAnchor is what a key's next automatic rotation counts from: its
// last one, else when rotation was enabled, else its creation.
func rotationAnchor(k *Key) time.Time {
	if k.RotationAnchor.IsZero() {
		return k.Created
	}
	return k.RotationAnchor
}

func rotationPeriod(k *Key) time.Duration {
	days := k.RotationPeriodDays
	if days <= 0 {
		days = 365
	}
	return time.Duration(days) * 24 * time.Hour
}

// ---------------------------------------------------------------------------
// Key look-up, authorization and state

// isAliasRef reports whether a KeyId names an alias (alias name or alias ARN).
func isAliasRef(ref string) bool {
	return strings.HasPrefix(ref, "alias/") || (strings.HasPrefix(ref, "arn:") && strings.Contains(ref, ":alias/"))
}

// aliasName returns "alias/x" for an alias name or alias ARN.
func aliasName(ref string) string {
	if i := strings.Index(ref, ":alias/"); i >= 0 {
		return ref[i+1:]
	}
	return ref
}

// keyRef is a key resolved from a request's KeyId.
type keyRef struct {
	k     *Key
	alias string // the alias the request named, for kms:RequestAlias
}

// kmsKey resolves the KeyId-like member of the request for operation op.
// aliasOK: the operation accepts an alias name or alias ARN (DescribeKey and
// the cryptographic operations); management operations take only a key id or
// key ARN. A key of another account is refused for operations that are not
// cross-account.
func (c *call) kmsKey(member, op string, aliasOK bool) (keyRef, error) {
	ref := strings.TrimSpace(wire.Str(c.in, member))
	if ref == "" {
		return keyRef{}, errValidation(member, "Member must not be null")
	}
	if isAliasRef(ref) && !aliasOK {
		// What KMS answers when a management operation gets an alias; the code
		// is documented (NotFoundException), the exact text is not.
		return keyRef{}, notFound(fmt.Sprintf("Invalid keyId %s", ref))
	}
	k, err := c.c.resolveKey(c.caller.Account, c.region, ref)
	if err != nil {
		return keyRef{}, err
	}
	if k == nil {
		return keyRef{}, notFound(fmt.Sprintf("Key '%s' does not exist", ref))
	}
	if k.Region != c.region {
		// A regional KMS endpoint knows only its own region's keys. AWS does not
		// document the error for another region's ARN; NotFoundException is the
		// sandbox's choice.
		return keyRef{}, notFound(fmt.Sprintf("Key '%s' does not exist", k.ARN))
	}
	c.noteKMSKey(k)
	if k.Account != c.caller.Account && !kmsCrossAccountOps[op] {
		// The API Reference says "Cross-account use: No" for op; the error AWS
		// returns is not documented. AccessDeniedException is the sandbox's choice.
		return keyRef{}, accessDenied("kms", c.caller.ARN, "kms:"+op, k.ARN,
			fmt.Sprintf("kms:%s cannot be used on a KMS key in another AWS account (the key is in account %s, the caller in %s)", op, k.Account, c.caller.Account))
	}
	out := keyRef{k: k}
	if isAliasRef(ref) {
		out.alias = aliasName(ref)
	}
	return out, nil
}

// kmsContext is the condition context of a request on key k: the global keys
// of the caller plus the key's own (kms:KeySpec, kms:KeyUsage, kms:KeyOrigin,
// kms:MultiRegion, kms:ResourceAliases, aws:ResourceTag/...), and extra.
func (c *call) kmsContext(k *Key, extra map[string][]string) map[string][]string {
	ctx := c.c.baseContext(c.caller)
	if k != nil {
		ctx["kms:KeySpec"] = []string{k.Spec}
		ctx["kms:KeyUsage"] = []string{k.Usage}
		ctx["kms:KeyOrigin"] = []string{"AWS_KMS"}
		ctx["kms:MultiRegion"] = []string{strconv.FormatBool(isMultiRegion(k))}
		if aliases := c.c.keyAliases(k); len(aliases) > 0 {
			ctx["kms:ResourceAliases"] = aliases
		}
		for tk, tv := range k.Tags {
			ctx["aws:ResourceTag/"+tk] = []string{tv}
		}
	}
	for key, v := range extra {
		ctx[key] = v
	}
	return ctx
}

// kmsAuthorize evaluates the caller's request for kms:<op> on key k against
// the key policy, the key's grants and the caller's identity policies.
func (c *call) kmsAuthorize(k *Key, op string, extra map[string][]string) error {
	d, err := c.kmsDecide(k, op, extra)
	if err != nil {
		return err
	}
	if !d.Allowed {
		return accessDenied("kms", c.caller.ARN, "kms:"+op, k.ARN, d.Reason)
	}
	return nil
}

func (c *call) kmsDecide(k *Key, op string, extra map[string][]string) (policy.Decision, error) {
	doc, err := parsePolicy(k.Policy)
	if err != nil {
		return policy.Decision{}, accessDenied("kms", c.caller.ARN, "kms:"+op, k.ARN, "the key policy does not parse: "+err.Error())
	}
	return policy.EvaluateKMS(doc, k.Account, policyGrants(k), policy.Request{
		Principal: c.caller.principal(), Action: "kms:" + op, Resource: k.ARN, Context: c.kmsContext(k, extra),
	}), nil
}

// kmsIdentity authorizes an action governed by identity policies only
// (CreateKey, ListKeys, ListAliases, and the alias side of alias operations).
func (c *call) kmsIdentity(op, resource string, extra map[string][]string) error {
	if c.caller.IsRoot {
		return nil
	}
	ctx := c.c.baseContext(c.caller)
	for k, v := range extra {
		ctx[k] = v
	}
	d := policy.EvaluateIdentity(policy.Request{Principal: c.caller.principal(), Action: "kms:" + op, Resource: resource, Context: ctx})
	if d.Allowed {
		return nil
	}
	return accessDenied("kms", c.caller.ARN, "kms:"+op, resource, d.Reason)
}

// keyAliases lists the aliases that point at k.
func (c *Cloud) keyAliases(k *Key) []string {
	r := c.region(k.Account, k.Region)
	if r == nil {
		return nil
	}
	var out []string
	for _, name := range sortedKeys(r.Aliases) {
		if r.Aliases[name] == k.ID {
			out = append(out, name)
		}
	}
	return out
}

func isMultiRegion(k *Key) bool { return strings.HasPrefix(k.ID, "mrk-") }

// Key-state errors, with the messages of the Developer Guide's key state table.
func errDisabled(k *Key) error {
	return apiErr("DisabledException", "%s is disabled.", k.ARN)
}

func errPendingDeletion(k *Key) error {
	return apiErr("KMSInvalidStateException", "%s is pending deletion.", k.ARN)
}

// requireUsable is the key state rule of cryptographic operations and
// CreateGrant: Disabled -> DisabledException, PendingDeletion ->
// KMSInvalidStateException. (The table allows DisabledException "is pending
// deletion." for some pending-deletion cases; the sandbox always answers
// KMSInvalidStateException.)
func requireUsable(k *Key) error {
	switch k.State {
	case "Enabled":
		return nil
	case "Disabled":
		return errDisabled(k)
	case "PendingDeletion":
		return errPendingDeletion(k)
	}
	return apiErr("KMSInvalidStateException", "%s is %s.", k.ARN, strings.ToLower(k.State))
}

// requireNotPendingDeletion is the rule of management operations that change
// the key (EnableKey, DisableKey, tags, aliases, ScheduleKeyDeletion).
func requireNotPendingDeletion(k *Key) error {
	if k.State == "PendingDeletion" {
		return errPendingDeletion(k)
	}
	return nil
}

// ---------------------------------------------------------------------------
// Validation helpers

func validationf(format string, args ...any) error {
	return apiErr("ValidationException", format, args...)
}

func enumErr(member, value string, allowed []string) error {
	return validationf("1 validation error detected: Value '%s' at '%s' failed to satisfy constraint: Member must satisfy enum value set: [%s]",
		value, lowerFirst(member), strings.Join(allowed, ", "))
}

func rangeErr(member string, v, lo, hi int64) error {
	if v < lo {
		return validationf("1 validation error detected: Value '%d' at '%s' failed to satisfy constraint: Member must have value greater than or equal to %d", v, lowerFirst(member), lo)
	}
	return validationf("1 validation error detected: Value '%d' at '%s' failed to satisfy constraint: Member must have value less than or equal to %d", v, lowerFirst(member), hi)
}

// intIn reads an optional integer member, checks its range and defaults it.
func intIn(in map[string]any, member string, lo, hi, def int64) (int64, error) {
	v, ok := wire.IntOK(in, member)
	if !ok {
		return def, nil
	}
	if v < lo || v > hi {
		return 0, rangeErr(member, v, lo, hi)
	}
	return v, nil
}

func contains(list []string, s string) bool {
	for _, e := range list {
		if e == s {
			return true
		}
	}
	return false
}

var (
	aliasNameRE = regexp.MustCompile(`^alias/[a-zA-Z0-9/_-]+$`)
	grantNameRE = regexp.MustCompile(`^[a-zA-Z0-9:/_-]+$`)
	// An IAM or STS principal ARN as key policies and grants name them.
	principalARNRE = regexp.MustCompile(`^arn:aws(?:-cn|-us-gov)?:(iam|sts)::(\d{12}):(.+)$`)
	servicePrincRE = regexp.MustCompile(`^[a-z0-9][a-z0-9.-]*\.amazonaws\.com(\.cn)?$`)
)

// validateAliasName checks an alias name for CreateAlias and UpdateAlias. The
// codes follow the API Reference; the messages are the sandbox's where AWS
// does not document them.
func validateAliasName(name string) error {
	if len(name) > 256 {
		return validationf("1 validation error detected: Value '%s' at 'aliasName' failed to satisfy constraint: Member must have length less than or equal to 256", name)
	}
	if !strings.HasPrefix(name, "alias/") {
		return validationf("Alias must start with the prefix \"alias/\". Please see https://docs.aws.amazon.com/kms/latest/developerguide/kms-alias.html")
	}
	if strings.HasPrefix(name, "alias/aws/") {
		// Reserved for AWS managed keys. The code NotAuthorizedException is what
		// KMS is reported to answer (it is not in KMS's published error list).
		return apiErr("NotAuthorizedException", "The alias prefix alias/aws/ is reserved for AWS managed keys")
	}
	if !aliasNameRE.MatchString(name) {
		return apiErr("InvalidAliasNameException", "Alias %s contains characters that are not valid: use letters, digits, /, _ and -", name)
	}
	return nil
}

// validateTags checks KMS tags (TagKey 1-128, TagValue 0-256, aws: reserved).
func validateTags(tags []map[string]any) (Tags, []string, error) {
	out := Tags{}
	var keys []string
	for _, t := range tags {
		k, v := wire.Str(t, "TagKey"), wire.Str(t, "TagValue")
		if k == "" || len(k) > 128 {
			return nil, nil, apiErr("TagException", "Tag key %q must be 1 to 128 characters", k)
		}
		if len(v) > 256 {
			return nil, nil, apiErr("TagException", "Tag value for key %q must be at most 256 characters", k)
		}
		if strings.HasPrefix(strings.ToLower(k), "aws:") {
			return nil, nil, apiErr("TagException", "Tags beginning with aws: are reserved for AWS use (tag key %q)", k)
		}
		out[k] = v
		keys = append(keys, k)
	}
	return out, keys, nil
}

func requestTagContext(tags Tags, keys []string) map[string][]string {
	ctx := map[string][]string{}
	for k, v := range tags {
		ctx["aws:RequestTag/"+k] = []string{v}
	}
	if len(keys) > 0 {
		ctx["aws:TagKeys"] = keys
	}
	return ctx
}

// checkKeyPolicy validates a key policy as CreateKey and PutKeyPolicy do: size
// (32 KiB), JSON and IAM grammar, and principals. A principal ARN that is not a
// valid principal ARN is "An ARN in the specified key policy is invalid."; an
// IAM user or role of an account the sandbox models that does not exist is
// "Policy contains a statement with one or more invalid principals." (both are
// KMS's MalformedPolicyDocumentException texts). Principals of accounts outside
// the world cannot be checked and are accepted.
func (c *Cloud) checkKeyPolicy(text string) (*policy.Document, error) {
	if len(text) > keyPolicyMaxBytes {
		// The quota is documented (32 KiB); the exact message is not.
		return nil, apiErr("LimitExceededException", "The key policy is %d bytes; the key policy size quota is %d bytes (32 KiB)", len(text), keyPolicyMaxBytes)
	}
	doc, err := policy.Parse([]byte(text))
	if err != nil {
		return nil, apiErr("MalformedPolicyDocumentException", "%v", err)
	}
	for i, st := range doc.Statements {
		if st.Principal == nil && st.NotPrincipal == nil {
			// Resource-based policies need a principal; the exact KMS text is not documented.
			return nil, apiErr("MalformedPolicyDocumentException", "Policy contains a statement with no principal (%s)", st.Label(i))
		}
		for _, ps := range []*policy.Principals{st.Principal, st.NotPrincipal} {
			if ps == nil {
				continue
			}
			for _, p := range ps.AWS {
				if err := c.checkPolicyPrincipal(p); err != nil {
					return nil, err
				}
			}
		}
	}
	return doc, nil
}

func (c *Cloud) checkPolicyPrincipal(p string) error {
	if p == "*" || accountKeyRE.MatchString(p) {
		return nil
	}
	invalidARN := apiErr("MalformedPolicyDocumentException", "An ARN in the specified key policy is invalid.")
	invalidPrincipal := apiErr("MalformedPolicyDocumentException", "Policy contains a statement with one or more invalid principals.")
	switch c.principalExists(p) {
	case principalMalformed:
		return invalidARN
	case principalMissing:
		return invalidPrincipal
	}
	return nil
}

type principalCheck int

const (
	principalOK principalCheck = iota
	principalMalformed
	principalMissing
)

// principalExists checks an IAM/STS principal ARN: well formed, and for an
// account of the world, naming a user or role that exists (role and user ARNs
// must match with their path).
func (c *Cloud) principalExists(p string) principalCheck {
	m := principalARNRE.FindStringSubmatch(p)
	if m == nil {
		return principalMalformed
	}
	svc, acctID, res := m[1], m[2], m[3]
	kind, rest, _ := strings.Cut(res, "/")
	switch {
	case svc == "iam" && res == "root":
	case svc == "iam" && (kind == "role" || kind == "user") && rest != "":
	case svc == "sts" && kind == "assumed-role" && strings.Count(rest, "/") >= 1:
	case svc == "sts" && kind == "federated-user" && rest != "":
	default:
		return principalMalformed
	}
	acct := c.state.Accounts[acctID]
	if acct == nil || res == "root" || kind == "federated-user" {
		return principalOK
	}
	switch kind {
	case "role":
		name := rest[strings.LastIndex(rest, "/")+1:]
		if r := acct.Roles[name]; r == nil || r.ARN != p {
			return principalMissing
		}
	case "assumed-role":
		name, _, _ := strings.Cut(rest, "/")
		if acct.Roles[name] == nil {
			return principalMissing
		}
	case "user":
		name := rest[strings.LastIndex(rest, "/")+1:]
		if u := acct.Users[name]; u == nil || u.ARN != p {
			return principalMissing
		}
	}
	return principalOK
}

// lockoutCheck is KMS's policy lockout safety check: the new policy must allow
// the caller to call PutKeyPolicy on the key afterwards. The sandbox evaluates
// the new policy for the caller as it evaluates any request, identity policies
// included. (Whether KMS's check consults the caller's identity policies when
// the policy delegates to the account is not documented.)
func (c *call) lockoutCheck(doc *policy.Document, k *Key) error {
	d := policy.EvaluateKMS(doc, k.Account, nil, policy.Request{
		Principal: c.caller.principal(), Action: "kms:PutKeyPolicy", Resource: k.ARN, Context: c.kmsContext(k, nil),
	})
	if !d.Allowed {
		return apiErr("MalformedPolicyDocumentException", "The new key policy will not allow you to update the key policy in the future.")
	}
	return nil
}

// ---------------------------------------------------------------------------
// Output shapes

// keyMetadata is DescribeKey's KeyMetadata.
func keyMetadata(k *Key) map[string]any {
	manager := k.Manager
	if manager == "" {
		manager = "CUSTOMER"
	}
	m := map[string]any{
		"AWSAccountId":          k.Account,
		"KeyId":                 k.ID,
		"Arn":                   k.ARN,
		"CreationDate":          k.Created,
		"Enabled":               k.State == "Enabled",
		"Description":           k.Description,
		"KeyUsage":              k.Usage,
		"KeyState":              k.State,
		"Origin":                "AWS_KMS",
		"KeyManager":            manager,
		"CustomerMasterKeySpec": k.Spec,
		"KeySpec":               k.Spec,
		"MultiRegion":           isMultiRegion(k),
	}
	if k.State == "PendingDeletion" && !k.DeletionDate.IsZero() {
		m["DeletionDate"] = k.DeletionDate
	}
	switch k.Usage {
	case "ENCRYPT_DECRYPT":
		switch {
		case k.Spec == "SYMMETRIC_DEFAULT":
			m["EncryptionAlgorithms"] = []string{"SYMMETRIC_DEFAULT"}
		case k.Spec == "SM2":
			m["EncryptionAlgorithms"] = []string{"SM2PKE"}
		default:
			m["EncryptionAlgorithms"] = []string{"RSAES_OAEP_SHA_1", "RSAES_OAEP_SHA_256"}
		}
	case "SIGN_VERIFY":
		m["SigningAlgorithms"] = signingAlgorithms(k.Spec)
	case "GENERATE_VERIFY_MAC":
		m["MacAlgorithms"] = []string{"HMAC_SHA_" + strings.TrimPrefix(k.Spec, "HMAC_")}
	case "KEY_AGREEMENT":
		m["KeyAgreementAlgorithms"] = []string{"ECDH"}
	}
	if k.Spec == "SYMMETRIC_DEFAULT" {
		m["CurrentKeyMaterialId"] = keyMaterialID(k)
	}
	if isMultiRegion(k) {
		m["MultiRegionConfiguration"] = map[string]any{
			"MultiRegionKeyType": "PRIMARY",
			"PrimaryKey":         map[string]any{"Arn": k.ARN, "Region": k.Region},
			"ReplicaKeys":        []any{},
		}
	}
	return m
}

func signingAlgorithms(spec string) []string {
	switch {
	case strings.HasPrefix(spec, "RSA_"):
		return []string{"RSASSA_PKCS1_V1_5_SHA_256", "RSASSA_PKCS1_V1_5_SHA_384", "RSASSA_PKCS1_V1_5_SHA_512", "RSASSA_PSS_SHA_256", "RSASSA_PSS_SHA_384", "RSASSA_PSS_SHA_512"}
	case spec == "ECC_NIST_P384":
		return []string{"ECDSA_SHA_384"}
	case spec == "ECC_NIST_P521":
		return []string{"ECDSA_SHA_512"}
	case spec == "ECC_NIST_EDWARDS25519":
		return []string{"ED25519_SHA_512", "ED25519_PH_SHA_512"}
	case spec == "SM2":
		return []string{"SM2DSA"}
	case strings.HasPrefix(spec, "ML_DSA_"):
		return []string{"ML_DSA_SHAKE_256"}
	}
	return []string{"ECDSA_SHA_256"}
}

// keyMaterialID identifies the key's current key material: it changes with
// every rotation (64 hex digits, as KMS shows it).
func keyMaterialID(k *Key) string {
	sum := sha256.Sum256([]byte(fmt.Sprintf("key-material/%s/%d", k.ARN, len(k.Rotations))))
	return hex.EncodeToString(sum[:])
}

func aliasARN(region, account, name string) string {
	return fmt.Sprintf("arn:aws:kms:%s:%s:%s", region, account, name)
}

func issuingAccountARN(s string) string {
	if accountKeyRE.MatchString(s) {
		return "arn:aws:iam::" + s + ":root"
	}
	return s
}

func grantEntry(k *Key, g *Grant) map[string]any {
	e := map[string]any{
		"KeyId":            k.ARN,
		"GrantId":          g.ID,
		"CreationDate":     g.Created,
		"GranteePrincipal": g.GranteePrincipal,
		"IssuingAccount":   issuingAccountARN(g.IssuingAccount),
		"Operations":       append([]string{}, g.Operations...),
	}
	if g.Name != "" {
		e["Name"] = g.Name
	}
	if g.RetiringPrincipal != "" {
		e["RetiringPrincipal"] = g.RetiringPrincipal
	}
	if len(g.ContextEquals) > 0 || len(g.ContextSubset) > 0 {
		cons := map[string]any{}
		if len(g.ContextEquals) > 0 {
			cons["EncryptionContextEquals"] = g.ContextEquals
		}
		if len(g.ContextSubset) > 0 {
			cons["EncryptionContextSubset"] = g.ContextSubset
		}
		e["Constraints"] = cons
	}
	return e
}

// pageOut builds a KMS list response: the list, Truncated and NextMarker. A
// marker this listing did not hand out is InvalidMarkerException.
func pageOut(member string, items []any, marker string, limit int64) (map[string]any, error) {
	if marker != "" {
		var n int
		if _, err := fmt.Sscanf(marker, "p%d", &n); err != nil || n < 0 || n > len(items) {
			return nil, apiErr("InvalidMarkerException", "The request was rejected because the marker that specifies where pagination should next begin is not valid.")
		}
	}
	page, next := paginate(items, marker, int(limit), int(limit))
	out := map[string]any{member: page, "Truncated": next != ""}
	if next != "" {
		out["NextMarker"] = next
	}
	return out, nil
}

// ---------------------------------------------------------------------------
// Keys

func kmsCreateKey(c *call) (map[string]any, error) {
	spec, cmkSpec := wire.Str(c.in, "KeySpec"), wire.Str(c.in, "CustomerMasterKeySpec")
	if spec != "" && cmkSpec != "" && spec != cmkSpec {
		// CustomerMasterKeySpec is the deprecated name of KeySpec; KMS's answer to
		// two different values is not documented.
		return nil, validationf("KeySpec %s and CustomerMasterKeySpec %s differ; specify only KeySpec (CustomerMasterKeySpec is deprecated)", spec, cmkSpec)
	}
	if spec == "" {
		spec = cmkSpec
	}
	if spec == "" {
		spec = "SYMMETRIC_DEFAULT"
	}
	allowedUsages := world.KeyUsages(spec)
	ok := len(allowedUsages) > 0
	if !ok {
		return nil, enumErr("KeySpec", spec, world.KeySpecs)
	}
	usage := wire.Str(c.in, "KeyUsage")
	if usage == "" {
		usage = "ENCRYPT_DECRYPT" // KMS's default, valid only for encryption keys
	}
	if !contains(keyUsages, usage) {
		return nil, enumErr("KeyUsage", usage, keyUsages)
	}
	if !contains(allowedUsages, usage) {
		// The rule is documented (CreateKey, KeyUsage); the message is not.
		return nil, validationf("KeyUsage %s is not compatible with KeySpec %s (valid: %s)", usage, spec, strings.Join(allowedUsages, ", "))
	}
	if origin := wire.Str(c.in, "Origin"); origin != "" && origin != "AWS_KMS" {
		if !contains([]string{"AWS_KMS", "EXTERNAL", "AWS_CLOUDHSM", "EXTERNAL_KEY_STORE"}, origin) {
			return nil, enumErr("Origin", origin, []string{"AWS_KMS", "EXTERNAL", "AWS_CLOUDHSM", "EXTERNAL_KEY_STORE"})
		}
		return nil, apiErr("UnsupportedOperationException", "Origin %s is valid in KMS but this sandbox models only keys with AWS_KMS key material", origin)
	}
	if ks := wire.Str(c.in, "CustomKeyStoreId"); ks != "" {
		return nil, apiErr("CustomKeyStoreNotFoundException", "Custom key store %s does not exist (this sandbox models no custom key stores)", ks)
	}
	desc := wire.Str(c.in, "Description")
	if len(desc) > 8192 {
		return nil, validationf("1 validation error detected: Value at 'description' failed to satisfy constraint: Member must have length less than or equal to 8192")
	}
	tags, tagKeys, err := validateTags(wire.Structs(c.in, "Tags"))
	if err != nil {
		return nil, err
	}
	if len(tags) > maxTagsPerKey {
		return nil, apiErr("TagException", "A KMS key can have at most %d tags", maxTagsPerKey)
	}
	multi := wire.Bool(c.in, "MultiRegion")
	bypass := wire.Bool(c.in, "BypassPolicyLockoutSafetyCheck")

	ctx := requestTagContext(tags, tagKeys)
	ctx["kms:KeySpec"] = []string{spec}
	ctx["kms:KeyUsage"] = []string{usage}
	ctx["kms:KeyOrigin"] = []string{"AWS_KMS"}
	ctx["kms:MultiRegion"] = []string{strconv.FormatBool(multi)}
	ctx["kms:BypassPolicyLockoutSafetyCheck"] = []string{strconv.FormatBool(bypass)}
	if err := c.kmsIdentity("CreateKey", "*", ctx); err != nil {
		return nil, err
	}
	if len(tags) > 0 {
		// "To use the Tags parameter, you must have kms:TagResource permission in an IAM policy."
		if err := c.kmsIdentity("TagResource", "*", ctx); err != nil {
			return nil, err
		}
	}

	id := c.c.nextUUID(c.caller.Account + c.region + "key")
	if multi {
		// A multi-Region primary key: its id starts with mrk-. Replication is not modelled.
		id = "mrk-" + strings.ReplaceAll(id, "-", "")
	}
	k := &Key{
		ID: id, ARN: keyARN(c.region, c.caller.Account, id), Account: c.caller.Account, Region: c.region,
		Spec: spec, Usage: usage, State: "Enabled", Manager: "CUSTOMER", Description: desc,
		Created: c.now.UTC().Truncate(time.Millisecond),
	}
	if len(tags) > 0 {
		k.Tags = tags
	}
	if text, given := wire.StrOK(c.in, "Policy"); given {
		doc, err := c.c.checkKeyPolicy(text)
		if err != nil {
			return nil, err
		}
		if !bypass {
			if err := c.lockoutCheck(doc, k); err != nil {
				return nil, err
			}
		}
		k.Policy = text
	} else {
		k.Policy = defaultKeyPolicy(c.caller.Account)
	}
	r := c.c.region(c.caller.Account, c.region)
	r.Keys[id] = k
	c.c.keyIndex[id] = k
	c.noteKMSKey(k)
	c.c.markDirty()
	return map[string]any{"KeyMetadata": keyMetadata(k)}, nil
}

func kmsDescribeKey(c *call) (map[string]any, error) {
	ref, err := c.kmsKey("KeyId", "DescribeKey", true)
	if err != nil {
		return nil, err
	}
	if err := c.kmsAuthorize(ref.k, "DescribeKey", requestAliasCtx(ref)); err != nil {
		return nil, err
	}
	return map[string]any{"KeyMetadata": keyMetadata(ref.k)}, nil
}

func requestAliasCtx(ref keyRef) map[string][]string {
	if ref.alias == "" {
		return nil
	}
	return map[string][]string{"kms:RequestAlias": {ref.alias}}
}

func kmsListKeys(c *call) (map[string]any, error) {
	limit, err := intIn(c.in, "Limit", 1, 1000, 100)
	if err != nil {
		return nil, err
	}
	if err := c.kmsIdentity("ListKeys", "*", nil); err != nil {
		return nil, err
	}
	r := c.c.region(c.caller.Account, c.region)
	items := []any{}
	for _, id := range sortedKeys(r.Keys) {
		k := r.Keys[id]
		items = append(items, map[string]any{"KeyId": k.ID, "KeyArn": k.ARN})
	}
	return pageOut("Keys", items, wire.Str(c.in, "Marker"), limit)
}

// kmsSetKeyState answers EnableKey and DisableKey; neither applies to a key
// pending deletion.
func kmsSetKeyState(op, state string) handler {
	return func(c *call) (map[string]any, error) {
		ref, err := c.kmsKey("KeyId", op, false)
		if err != nil {
			return nil, err
		}
		if err := c.kmsAuthorize(ref.k, op, nil); err != nil {
			return nil, err
		}
		if err := requireNotPendingDeletion(ref.k); err != nil {
			return nil, err
		}
		if ref.k.State != state {
			ref.k.State = state
			c.c.scheduleKey(ref.k)
			c.c.markDirty()
		}
		return nil, nil
	}
}

// kmsScheduleKeyDeletion puts the key in PendingDeletion for 7-30 days. Its
// aliases stay until the key is deleted. AWS managed keys cannot be deleted:
// their policy allows nobody kms:ScheduleKeyDeletion, so the call is denied.
//
// PendingWindowInDays: the model's type allows 1-365, the API Reference says
// "it must be between 7 and 30, inclusive" (default 30), which KMS enforces
// itself. A value outside is ValidationException here, in the wording of a
// model constraint; AWS does not document the code for it.
func kmsScheduleKeyDeletion(c *call) (map[string]any, error) {
	days, err := intIn(c.in, "PendingWindowInDays", 7, 30, 30)
	if err != nil {
		return nil, err
	}
	ref, err := c.kmsKey("KeyId", "ScheduleKeyDeletion", false)
	if err != nil {
		return nil, err
	}
	k := ref.k
	if err := c.kmsAuthorize(k, "ScheduleKeyDeletion", nil); err != nil {
		return nil, err
	}
	if k.Manager == "AWS" {
		return nil, accessDenied("kms", c.caller.ARN, "kms:ScheduleKeyDeletion", k.ARN, "the key is an AWS managed key, which cannot be deleted")
	}
	if err := requireNotPendingDeletion(k); err != nil {
		return nil, err
	}
	// KMS reports a DeletionDate PendingWindowInDays after the request; whether it
	// rounds the date (to a day boundary, say) is not documented.
	k.State = "PendingDeletion"
	k.PendingWindowInDays = days
	k.DeletionDate = c.now.UTC().Truncate(time.Second).Add(time.Duration(days) * 24 * time.Hour)
	c.c.scheduleKey(k)
	c.c.markDirty()
	return map[string]any{"KeyId": k.ARN, "DeletionDate": k.DeletionDate, "KeyState": k.State, "PendingWindowInDays": days}, nil
}

// kmsCancelKeyDeletion ends a pending deletion; the key comes back Disabled,
// as KMS documents.
func kmsCancelKeyDeletion(c *call) (map[string]any, error) {
	ref, err := c.kmsKey("KeyId", "CancelKeyDeletion", false)
	if err != nil {
		return nil, err
	}
	k := ref.k
	if err := c.kmsAuthorize(k, "CancelKeyDeletion", nil); err != nil {
		return nil, err
	}
	if k.State != "PendingDeletion" {
		return nil, apiErr("KMSInvalidStateException", "%s is not pending deletion.", k.ARN)
	}
	k.State = "Disabled"
	k.DeletionDate = time.Time{}
	k.PendingWindowInDays = 0
	c.c.markDirty()
	return map[string]any{"KeyId": k.ARN}, nil
}

// ---------------------------------------------------------------------------
// Key policies

func checkPolicyName(in map[string]any) error {
	if name, ok := wire.StrOK(in, "PolicyName"); ok && name != "default" {
		// "The only valid policy name is default"; the error for another name is
		// not documented.
		return notFound(fmt.Sprintf("No such policy exists: %s (the only valid policy name is default)", name))
	}
	return nil
}

func kmsGetKeyPolicy(c *call) (map[string]any, error) {
	ref, err := c.kmsKey("KeyId", "GetKeyPolicy", false)
	if err != nil {
		return nil, err
	}
	if err := c.kmsAuthorize(ref.k, "GetKeyPolicy", nil); err != nil {
		return nil, err
	}
	if err := checkPolicyName(c.in); err != nil {
		return nil, err
	}
	return map[string]any{"Policy": ref.k.Policy, "PolicyName": "default"}, nil
}

// kmsPutKeyPolicy replaces a key policy (allowed in every key state). The
// policy of an AWS managed key cannot be changed: that policy allows nobody
// kms:PutKeyPolicy, so KMS's own authorization refuses the call with
// AccessDeniedException, which is what the sandbox answers too (AWS documents
// no UnsupportedOperationException for it).
func kmsPutKeyPolicy(c *call) (map[string]any, error) {
	ref, err := c.kmsKey("KeyId", "PutKeyPolicy", false)
	if err != nil {
		return nil, err
	}
	k := ref.k
	bypass := wire.Bool(c.in, "BypassPolicyLockoutSafetyCheck")
	if err := c.kmsAuthorize(k, "PutKeyPolicy", map[string][]string{"kms:BypassPolicyLockoutSafetyCheck": {strconv.FormatBool(bypass)}}); err != nil {
		return nil, err
	}
	if k.Manager == "AWS" {
		return nil, accessDenied("kms", c.caller.ARN, "kms:PutKeyPolicy", k.ARN, "the key is an AWS managed key, whose key policy cannot be changed")
	}
	if err := checkPolicyName(c.in); err != nil {
		return nil, err
	}
	text := wire.Str(c.in, "Policy")
	doc, err := c.c.checkKeyPolicy(text)
	if err != nil {
		return nil, err
	}
	if !bypass {
		if err := c.lockoutCheck(doc, k); err != nil {
			return nil, err
		}
	}
	k.Policy = text
	c.c.markDirty()
	return nil, nil
}

// ---------------------------------------------------------------------------
// Rotation

// requireRotatable: automatic and on-demand rotation need an enabled (not
// disabled: DisabledException; not pending deletion: KMSInvalidStateException)
// symmetric encryption key with KMS key material.
func requireRotatable(k *Key) error {
	if err := requireUsable(k); err != nil {
		return err
	}
	if k.Spec != "SYMMETRIC_DEFAULT" {
		// Documented as unsupported; the message is the sandbox's.
		return apiErr("UnsupportedOperationException", "%s key spec %s is not valid for this operation: only symmetric encryption keys can be rotated.", k.ARN, k.Spec)
	}
	return nil
}

// kmsEnableKeyRotation turns on automatic rotation, every RotationPeriodInDays
// (90-2560, default 365). AWS managed keys always rotate and their policy
// allows nobody to change that, so the call is denied for them.
func kmsEnableKeyRotation(c *call) (map[string]any, error) {
	period, hasPeriod := wire.IntOK(c.in, "RotationPeriodInDays")
	if hasPeriod && (period < 90 || period > 2560) {
		return nil, rangeErr("RotationPeriodInDays", period, 90, 2560)
	}
	ref, err := c.kmsKey("KeyId", "EnableKeyRotation", false)
	if err != nil {
		return nil, err
	}
	k := ref.k
	if err := c.kmsAuthorize(k, "EnableKeyRotation", nil); err != nil {
		return nil, err
	}
	if k.Manager == "AWS" {
		return nil, apiErr("UnsupportedOperationException", "%s is an AWS managed key: KMS rotates it every year and its rotation cannot be changed.", k.ARN)
	}
	if err := requireRotatable(k); err != nil {
		return nil, err
	}
	switch {
	case !k.RotationEnabled:
		k.RotationEnabled = true
		k.RotationAnchor = c.now.UTC().Truncate(time.Second)
		if !hasPeriod {
			period = 365
		}
		k.RotationPeriodDays = period
	case hasPeriod:
		// Changing the period of an enabled schedule: the next rotation counts
		// from the last one (or from when rotation was enabled).
		k.RotationPeriodDays = period
	}
	c.c.scheduleKey(k)
	c.c.markDirty()
	return nil, nil
}

func kmsDisableKeyRotation(c *call) (map[string]any, error) {
	ref, err := c.kmsKey("KeyId", "DisableKeyRotation", false)
	if err != nil {
		return nil, err
	}
	k := ref.k
	if err := c.kmsAuthorize(k, "DisableKeyRotation", nil); err != nil {
		return nil, err
	}
	if k.Manager == "AWS" {
		return nil, apiErr("UnsupportedOperationException", "%s is an AWS managed key: KMS rotates it every year and its rotation cannot be changed.", k.ARN)
	}
	if err := requireRotatable(k); err != nil {
		return nil, err
	}
	if k.RotationEnabled {
		k.RotationEnabled = false
		c.c.markDirty()
	}
	return nil, nil
}

// kmsGetKeyRotationStatus works in every key state and across accounts. For a
// key that cannot rotate (asymmetric, HMAC) it reports rotation off; whether KMS
// answers UnsupportedOperationException there instead is not documented.
func kmsGetKeyRotationStatus(c *call) (map[string]any, error) {
	ref, err := c.kmsKey("KeyId", "GetKeyRotationStatus", false)
	if err != nil {
		return nil, err
	}
	k := ref.k
	if err := c.kmsAuthorize(k, "GetKeyRotationStatus", nil); err != nil {
		return nil, err
	}
	out := map[string]any{"KeyId": k.ARN, "KeyRotationEnabled": k.RotationEnabled}
	if k.RotationEnabled {
		next := rotationAnchor(k).Add(rotationPeriod(k))
		for !next.After(c.now) {
			next = next.Add(rotationPeriod(k))
		}
		days := k.RotationPeriodDays
		if days <= 0 {
			days = 365
		}
		out["RotationPeriodInDays"] = days
		out["NextRotationDate"] = next
	}
	return out, nil
}

// kmsRotateKeyOnDemand rotates the key material now. KMS does it
// asynchronously within moments; the sandbox records it at once, so
// OnDemandRotationStartDate is never reported. On-demand rotation does not
// move the automatic schedule. (KMS limits a key to 25 on-demand rotations; the
// sandbox does not count them apart from automatic ones and does not enforce it.)
func kmsRotateKeyOnDemand(c *call) (map[string]any, error) {
	ref, err := c.kmsKey("KeyId", "RotateKeyOnDemand", false)
	if err != nil {
		return nil, err
	}
	k := ref.k
	if err := c.kmsAuthorize(k, "RotateKeyOnDemand", nil); err != nil {
		return nil, err
	}
	if k.Manager == "AWS" {
		return nil, apiErr("UnsupportedOperationException", "%s is an AWS managed key, which KMS rotates itself.", k.ARN)
	}
	if err := requireRotatable(k); err != nil {
		return nil, err
	}
	k.Rotations = append(k.Rotations, c.now.UTC())
	c.c.markDirty()
	return map[string]any{"KeyId": k.ARN}, nil
}

// ---------------------------------------------------------------------------
// Aliases

func (c *call) aliasDates(r *Region, name string) *AliasDates {
	if d, ok := r.AliasDates[name]; ok && d != nil {
		return d
	}
	if k := c.c.keyIndex[r.Aliases[name]]; k != nil {
		return &AliasDates{Created: k.Created, Updated: k.Created}
	}
	return &AliasDates{}
}

func setAliasDates(r *Region, name string, d *AliasDates) {
	if r.AliasDates == nil {
		r.AliasDates = map[string]*AliasDates{}
	}
	r.AliasDates[name] = d
}

// kmsCreateAlias needs kms:CreateAlias on the alias (identity policy) and on the
// key (key policy). The target must be a key of the caller's account and region.
func kmsCreateAlias(c *call) (map[string]any, error) {
	name := wire.Str(c.in, "AliasName")
	if err := validateAliasName(name); err != nil {
		return nil, err
	}
	target := wire.Str(c.in, "TargetKeyId")
	if isAliasRef(target) {
		return nil, validationf("Aliases must refer to keys. Not aliases")
	}
	ref, err := c.kmsKey("TargetKeyId", "CreateAlias", false)
	if err != nil {
		return nil, err
	}
	k := ref.k
	arn := aliasARN(c.region, c.caller.Account, name)
	if err := c.kmsIdentity("CreateAlias", arn, nil); err != nil {
		return nil, err
	}
	if err := c.kmsAuthorize(k, "CreateAlias", nil); err != nil {
		return nil, err
	}
	if err := requireNotPendingDeletion(k); err != nil {
		return nil, err
	}
	r := c.c.region(c.caller.Account, c.region)
	if _, exists := r.Aliases[name]; exists {
		return nil, apiErr("AlreadyExistsException", "An alias with the name %s already exists", arn)
	}
	if len(c.c.keyAliases(k)) >= maxAliasesPerKey {
		return nil, apiErr("LimitExceededException", "Key %s already has %d aliases, the quota for one KMS key", k.ARN, maxAliasesPerKey)
	}
	r.Aliases[name] = k.ID
	now := c.now.UTC().Truncate(time.Millisecond)
	setAliasDates(r, name, &AliasDates{Created: now, Updated: now})
	c.c.markDirty()
	return nil, nil
}

// kmsUpdateAlias points an alias at another key of the same type and usage. It
// needs kms:UpdateAlias on the alias (identity policy) and on both keys (key
// policies). The current key may be pending deletion, the new one may not.
func kmsUpdateAlias(c *call) (map[string]any, error) {
	name := wire.Str(c.in, "AliasName")
	if err := validateAliasName(name); err != nil {
		return nil, err
	}
	if isAliasRef(wire.Str(c.in, "TargetKeyId")) {
		return nil, validationf("Aliases must refer to keys. Not aliases")
	}
	r := c.c.region(c.caller.Account, c.region)
	arn := aliasARN(c.region, c.caller.Account, name)
	curID, ok := r.Aliases[name]
	if !ok {
		return nil, notFound(fmt.Sprintf("Alias %s is not found.", arn))
	}
	ref, err := c.kmsKey("TargetKeyId", "UpdateAlias", false)
	if err != nil {
		return nil, err
	}
	newKey := ref.k
	if err := c.kmsIdentity("UpdateAlias", arn, nil); err != nil {
		return nil, err
	}
	if cur := c.c.keyIndex[curID]; cur != nil {
		if err := c.kmsAuthorize(cur, "UpdateAlias", nil); err != nil {
			return nil, err
		}
		if keyClass(cur) != keyClass(newKey) || cur.Usage != newKey.Usage {
			// Documented rule ("same type and same key usage"); the message is the sandbox's.
			return nil, validationf("Alias %s points to a %s key with key usage %s; it can only be updated to a key of the same type and usage, not %s with %s",
				name, keyClass(cur), cur.Usage, keyClass(newKey), newKey.Usage)
		}
	}
	if err := c.kmsAuthorize(newKey, "UpdateAlias", nil); err != nil {
		return nil, err
	}
	if err := requireNotPendingDeletion(newKey); err != nil {
		return nil, err
	}
	d := c.aliasDates(r, name)
	r.Aliases[name] = newKey.ID
	setAliasDates(r, name, &AliasDates{Created: d.Created, Updated: c.now.UTC().Truncate(time.Millisecond)})
	c.c.markDirty()
	return nil, nil
}

// keyClass is the "type" UpdateAlias compares: symmetric, asymmetric or HMAC.
func keyClass(k *Key) string {
	switch {
	case k.Spec == "SYMMETRIC_DEFAULT":
		return "symmetric encryption"
	case strings.HasPrefix(k.Spec, "HMAC_"):
		return "HMAC"
	}
	return "asymmetric"
}

func kmsDeleteAlias(c *call) (map[string]any, error) {
	name := wire.Str(c.in, "AliasName")
	if !strings.HasPrefix(name, "alias/") {
		return nil, validationf("Alias must start with the prefix \"alias/\". Please see https://docs.aws.amazon.com/kms/latest/developerguide/kms-alias.html")
	}
	r := c.c.region(c.caller.Account, c.region)
	arn := aliasARN(c.region, c.caller.Account, name)
	id, ok := r.Aliases[name]
	if !ok {
		return nil, notFound(fmt.Sprintf("Alias %s is not found.", arn))
	}
	if err := c.kmsIdentity("DeleteAlias", arn, nil); err != nil {
		return nil, err
	}
	if k := c.c.keyIndex[id]; k != nil {
		c.noteKMSKey(k)
		if err := c.kmsAuthorize(k, "DeleteAlias", nil); err != nil {
			return nil, err
		}
	}
	delete(r.Aliases, name)
	delete(r.AliasDates, name)
	c.c.markDirty()
	return nil, nil
}

// kmsListAliases lists the aliases of the caller's account and region, or of
// one key. AWS also lists predefined AWS aliases (alias/aws/...) that have no
// key yet, without TargetKeyId; the sandbox lists an AWS alias only once its
// AWS managed key exists (it does not model the predefined set).
func kmsListAliases(c *call) (map[string]any, error) {
	limit, err := intIn(c.in, "Limit", 1, 100, 50)
	if err != nil {
		return nil, err
	}
	if err := c.kmsIdentity("ListAliases", "*", nil); err != nil {
		return nil, err
	}
	var only *Key
	if wire.Str(c.in, "KeyId") != "" {
		ref, err := c.kmsKey("KeyId", "ListAliases", false)
		if err != nil {
			return nil, err
		}
		only = ref.k
	}
	r := c.c.region(c.caller.Account, c.region)
	items := []any{}
	for _, name := range sortedKeys(r.Aliases) {
		id := r.Aliases[name]
		if only != nil && id != only.ID {
			continue
		}
		d := c.aliasDates(r, name)
		e := map[string]any{
			"AliasName":   name,
			"AliasArn":    aliasARN(c.region, c.caller.Account, name),
			"TargetKeyId": id,
		}
		if !d.Created.IsZero() {
			e["CreationDate"] = d.Created
			e["LastUpdatedDate"] = d.Updated
		}
		items = append(items, e)
	}
	return pageOut("Aliases", items, wire.Str(c.in, "Marker"), limit)
}

// ---------------------------------------------------------------------------
// Grants

// grantToken encodes the key and grant a token belongs to, so RetireGrant can
// find the grant from the token alone (KMS's tokens are opaque but also carry
// the grant). Every CreateGrant call returns a new token, also for a grant it
// found by Name.
func (c *Cloud) grantToken(k *Key, g *Grant) string {
	raw := "sbx1|" + k.ARN + "|" + g.ID + "|" + c.nextToken("grant-token", 32)
	return "AQpA" + base64.RawURLEncoding.EncodeToString([]byte(raw))
}

// grantByToken finds the grant a token names: one the sandbox made, or the
// token recorded on a grant (grants loaded from a world file).
func (c *Cloud) grantByToken(token string) (*Key, *Grant) {
	if raw, err := base64.RawURLEncoding.DecodeString(strings.TrimPrefix(token, "AQpA")); err == nil && strings.HasPrefix(token, "AQpA") {
		parts := strings.Split(string(raw), "|")
		if len(parts) == 4 && parts[0] == "sbx1" {
			if k := c.keyByARN(parts[1]); k != nil {
				for _, g := range k.Grants {
					if g.ID == parts[2] {
						return k, g
					}
				}
			}
			return nil, nil
		}
	}
	for _, k := range c.keyIndex {
		for _, g := range k.Grants {
			if g.Token != "" && g.Token == token {
				return k, g
			}
		}
	}
	return nil, nil
}

var grantIDRE = regexp.MustCompile(`^[0-9a-fA-F]{64}$`)

// findGrant looks a grant up by id: InvalidGrantIdException for a malformed id,
// NotFoundException for one that is not on the key (the API Reference lists
// both codes; which one KMS gives for a well-formed unknown id is not documented).
func findGrant(k *Key, id string) (int, error) {
	for i, g := range k.Grants {
		if g.ID == id {
			return i, nil
		}
	}
	if !grantIDRE.MatchString(id) {
		return -1, apiErr("InvalidGrantIdException", "Grant id %s is not valid", id)
	}
	return -1, notFound(fmt.Sprintf("Grant ID %s not found on key %s", id, k.ARN))
}

// checkGrantPrincipal validates a grantee or retiring principal: the ARN of an
// account, user, role, assumed-role session or federated user, or an AWS
// service principal. A malformed ARN, or a user or role that does not exist in
// an account the sandbox models, is InvalidArnException (what KMS answers for a
// principal it cannot resolve; the message is the sandbox's).
func (c *Cloud) checkGrantPrincipal(member, p string) error {
	if servicePrincRE.MatchString(p) {
		return nil
	}
	switch c.principalExists(p) {
	case principalMalformed:
		return apiErr("InvalidArnException", "%s %s is not a valid principal ARN: use the ARN of an AWS account, IAM user, IAM role, assumed-role session or federated user", member, p)
	case principalMissing:
		return apiErr("InvalidArnException", "%s %s does not refer to an existing principal", member, p)
	}
	return nil
}

func sameSet(a, b []string) bool {
	if len(a) != len(b) {
		return false
	}
	x := append([]string{}, a...)
	y := append([]string{}, b...)
	sort.Strings(x)
	sort.Strings(y)
	for i := range x {
		if x[i] != y[i] {
			return false
		}
	}
	return true
}

func sameMap(a, b map[string]string) bool {
	if len(a) != len(b) {
		return false
	}
	for k, v := range a {
		if w, ok := b[k]; !ok || w != v {
			return false
		}
	}
	return true
}

// kmsCreateGrant creates a grant. The caller needs kms:CreateGrant on the key,
// evaluated with kms:GrantOperations, kms:GranteePrincipal,
// kms:RetiringPrincipal, kms:GrantConstraintType and kms:GrantIsForAWSResource
// ("false": a direct API call, not an AWS service acting for the caller). A
// caller of another account needs the key policy and its own identity policy
// (seed 003, case 2). With Name, a retry with the same parameters returns the
// same GrantId (and a new GrantToken), as KMS documents.
func kmsCreateGrant(c *call) (map[string]any, error) {
	grantee := wire.Str(c.in, "GranteePrincipal")
	retiring := wire.Str(c.in, "RetiringPrincipal")
	ops := wire.Strs(c.in, "Operations")
	name := wire.Str(c.in, "Name")
	if len(ops) == 0 {
		return nil, validationf("1 validation error detected: Value '[]' at 'operations' failed to satisfy constraint: Member must have length greater than or equal to 1")
	}
	for _, op := range ops {
		if !contains(grantOperations, op) {
			return nil, validationf("1 validation error detected: Value '[%s]' at 'operations' failed to satisfy constraint: Member must satisfy constraint: [Member must satisfy enum value set: [%s]]",
				strings.Join(ops, ", "), strings.Join(grantOperations, ", "))
		}
	}
	if name != "" && (len(name) > 256 || !grantNameRE.MatchString(name)) {
		return nil, validationf("1 validation error detected: Value '%s' at 'name' failed to satisfy constraint: Member must satisfy regular expression pattern: ^[a-zA-Z0-9:/_-]+$", name)
	}
	cons := wire.Struct(c.in, "Constraints")
	equals, subset := wire.StrMap(cons, "EncryptionContextEquals"), wire.StrMap(cons, "EncryptionContextSubset")
	for _, m := range []map[string]string{equals, subset} {
		if len(m) > 8 {
			return nil, validationf("A grant constraint can hold at most 8 encryption context pairs")
		}
		for ck, cv := range m {
			if len(cv) > 384 {
				return nil, validationf("Encryption context value for %q in a grant constraint exceeds 384 characters", ck)
			}
		}
	}
	if err := c.c.checkGrantPrincipal("GranteePrincipal", grantee); err != nil {
		return nil, err
	}
	if retiring != "" {
		if err := c.c.checkGrantPrincipal("RetiringPrincipal", retiring); err != nil {
			return nil, err
		}
	}
	ref, err := c.kmsKey("KeyId", "CreateGrant", false)
	if err != nil {
		return nil, err
	}
	k := ref.k

	ctx := map[string][]string{
		"kms:GrantOperations":       ops,
		"kms:GranteePrincipal":      {grantee},
		"kms:GrantIsForAWSResource": {"false"},
	}
	if retiring != "" {
		ctx["kms:RetiringPrincipal"] = []string{retiring}
	}
	var constraintTypes []string
	if len(equals) > 0 {
		constraintTypes = append(constraintTypes, "EncryptionContextEquals")
	}
	if len(subset) > 0 {
		constraintTypes = append(constraintTypes, "EncryptionContextSubset")
	}
	if len(constraintTypes) > 0 {
		ctx["kms:GrantConstraintType"] = constraintTypes
	}
	if err := c.kmsAuthorize(k, "CreateGrant", ctx); err != nil {
		return nil, err
	}
	if wire.Bool(c.in, "DryRun") {
		return nil, apiErr("DryRunOperationException", "The request would have succeeded, but the DryRun option is set.")
	}
	if err := requireUsable(k); err != nil {
		return nil, err
	}
	valid := grantOperationsFor(k)
	for _, op := range ops {
		if !valid[op] {
			// Documented rule (operations must suit the key's type); the message is the sandbox's.
			return nil, validationf("Grant operation %s is not valid for %s, a %s key with key usage %s", op, k.ARN, k.Spec, k.Usage)
		}
	}
	if len(constraintTypes) > 0 && k.Spec != "SYMMETRIC_DEFAULT" {
		return nil, validationf("Encryption context grant constraints are valid only for symmetric encryption keys; %s is %s", k.ARN, k.Spec)
	}
	if name != "" {
		for _, g := range k.Grants {
			if g.Name == name && g.GranteePrincipal == grantee && g.RetiringPrincipal == retiring &&
				sameSet(g.Operations, ops) && sameMap(g.ContextEquals, equals) && sameMap(g.ContextSubset, subset) {
				return map[string]any{"GrantId": g.ID, "GrantToken": c.c.grantToken(k, g)}, nil
			}
		}
	}
	if len(k.Grants) >= maxGrantsPerKey {
		return nil, apiErr("LimitExceededException", "Key %s already has %d grants, the quota for one KMS key", k.ARN, maxGrantsPerKey)
	}
	g := &Grant{
		ID: c.c.nextToken("grant/"+k.ARN, 64), Name: name, GranteePrincipal: grantee, RetiringPrincipal: retiring,
		IssuingAccount: "arn:aws:iam::" + c.caller.Account + ":root", Operations: append([]string{}, ops...),
		Created: c.now.UTC().Truncate(time.Millisecond),
	}
	if len(equals) > 0 {
		g.ContextEquals = equals
	}
	if len(subset) > 0 {
		g.ContextSubset = subset
	}
	token := c.c.grantToken(k, g)
	g.Token = token
	k.Grants = append(k.Grants, g)
	c.c.markDirty()
	return map[string]any{"GrantId": g.ID, "GrantToken": token}, nil
}

func kmsListGrants(c *call) (map[string]any, error) {
	limit, err := intIn(c.in, "Limit", 1, 100, 50)
	if err != nil {
		return nil, err
	}
	ref, err := c.kmsKey("KeyId", "ListGrants", false)
	if err != nil {
		return nil, err
	}
	k := ref.k
	if err := c.kmsAuthorize(k, "ListGrants", nil); err != nil {
		return nil, err
	}
	gid, grantee := wire.Str(c.in, "GrantId"), wire.Str(c.in, "GranteePrincipal")
	items := []any{}
	for _, g := range k.Grants {
		if (gid != "" && g.ID != gid) || (grantee != "" && g.GranteePrincipal != grantee) {
			continue
		}
		items = append(items, grantEntry(k, g))
	}
	return pageOut("Grants", items, wire.Str(c.in, "Marker"), limit)
}

// kmsRetireGrant deletes a grant, named by its token or by key ARN and grant
// id. Who may retire a grant is decided by the grant (API Reference; Developer
// Guide, "Retiring and revoking grants"): its retiring principal, its grantee
// when the grant includes RetireGrant, and the account that created it — its
// root user, and the principals of that account it delegates to with
// kms:RetireGrant in an IAM policy. "The kms:RetireGrant permission alone does
// not allow principals to retire a grant" and it "is not effective in a key
// policy": a key policy statement allowing kms:RetireGrant lets nobody retire.
func kmsRetireGrant(c *call) (map[string]any, error) {
	var k *Key
	var g *Grant
	if token := wire.Str(c.in, "GrantToken"); token != "" {
		k, g = c.c.grantByToken(token)
		if g == nil {
			// The code is documented; the message is the sandbox's.
			return nil, apiErr("InvalidGrantTokenException", "The grant token is not valid or its grant no longer exists")
		}
		c.noteKMSKey(k)
	} else {
		if wire.Str(c.in, "KeyId") == "" || wire.Str(c.in, "GrantId") == "" {
			return nil, validationf("Specify either GrantToken, or both KeyId and GrantId")
		}
		ref, err := c.kmsKey("KeyId", "RetireGrant", false)
		if err != nil {
			return nil, err
		}
		k = ref.k
		i, err := findGrant(k, wire.Str(c.in, "GrantId"))
		if err != nil {
			return nil, err
		}
		g = k.Grants[i]
	}
	pg := policy.Grant{ID: g.ID, KeyARN: k.ARN, GranteePrincipal: g.GranteePrincipal, RetiringPrincipal: g.RetiringPrincipal, Operations: g.Operations}
	if !pg.RetirableBy(c.caller.principal()) {
		issuer := issuingAccountARN(g.IssuingAccount)
		why := fmt.Sprintf("it is not grant %s's retiring principal, not its grantee with the RetireGrant operation, and not of the account that created it (%s)", g.ID, issuer)
		if issuer == "arn:aws:iam::"+c.caller.Account+":root" {
			d := policy.EvaluateIdentity(policy.Request{Principal: c.caller.principal(), Action: "kms:RetireGrant", Resource: k.ARN, Context: c.kmsContext(k, nil)})
			if !d.Allowed {
				why = fmt.Sprintf("it is not grant %s's retiring principal nor its grantee with the RetireGrant operation; it is of the account that created the grant, but no IAM policy of its allows kms:RetireGrant (a key policy cannot): %s", g.ID, d.Reason)
				return nil, accessDenied("kms", c.caller.ARN, "kms:RetireGrant", k.ARN, why)
			}
		} else {
			return nil, accessDenied("kms", c.caller.ARN, "kms:RetireGrant", k.ARN, why)
		}
	}
	if wire.Bool(c.in, "DryRun") {
		return nil, apiErr("DryRunOperationException", "The request would have succeeded, but the DryRun option is set.")
	}
	removeGrant(k, g.ID)
	c.c.markDirty()
	return nil, nil
}

func removeGrant(k *Key, id string) {
	out := k.Grants[:0]
	for _, g := range k.Grants {
		if g.ID != id {
			out = append(out, g)
		}
	}
	for i := len(out); i < len(k.Grants); i++ {
		k.Grants[i] = nil
	}
	k.Grants = out
}

// kmsRevokeGrant deletes a grant; it needs kms:RevokeGrant on the key.
func kmsRevokeGrant(c *call) (map[string]any, error) {
	ref, err := c.kmsKey("KeyId", "RevokeGrant", false)
	if err != nil {
		return nil, err
	}
	k := ref.k
	if err := c.kmsAuthorize(k, "RevokeGrant", nil); err != nil {
		return nil, err
	}
	i, err := findGrant(k, wire.Str(c.in, "GrantId"))
	if err != nil {
		return nil, err
	}
	if wire.Bool(c.in, "DryRun") {
		return nil, apiErr("DryRunOperationException", "The request would have succeeded, but the DryRun option is set.")
	}
	removeGrant(k, k.Grants[i].ID)
	c.c.markDirty()
	return nil, nil
}

// ---------------------------------------------------------------------------
// Tags

func kmsTagResource(c *call) (map[string]any, error) {
	tags, keys, err := validateTags(wire.Structs(c.in, "Tags"))
	if err != nil {
		return nil, err
	}
	ref, err := c.kmsKey("KeyId", "TagResource", false)
	if err != nil {
		return nil, err
	}
	k := ref.k
	if err := c.kmsAuthorize(k, "TagResource", requestTagContext(tags, keys)); err != nil {
		return nil, err
	}
	if err := requireNotPendingDeletion(k); err != nil {
		return nil, err
	}
	merged := Tags{}
	for tk, tv := range k.Tags {
		merged[tk] = tv
	}
	for tk, tv := range tags {
		merged[tk] = tv
	}
	if len(merged) > maxTagsPerKey {
		return nil, apiErr("LimitExceededException", "A KMS key can have at most %d tags; this request would give %s %d", maxTagsPerKey, k.ARN, len(merged))
	}
	k.Tags = merged
	c.c.markDirty()
	return nil, nil
}

func kmsUntagResource(c *call) (map[string]any, error) {
	keys := wire.Strs(c.in, "TagKeys")
	ref, err := c.kmsKey("KeyId", "UntagResource", false)
	if err != nil {
		return nil, err
	}
	k := ref.k
	if err := c.kmsAuthorize(k, "UntagResource", map[string][]string{"aws:TagKeys": keys}); err != nil {
		return nil, err
	}
	if err := requireNotPendingDeletion(k); err != nil {
		return nil, err
	}
	for _, tk := range keys {
		delete(k.Tags, tk)
	}
	if len(k.Tags) == 0 {
		k.Tags = nil
	}
	c.c.markDirty()
	return nil, nil
}

func kmsListResourceTags(c *call) (map[string]any, error) {
	limit, err := intIn(c.in, "Limit", 1, 50, 50)
	if err != nil {
		return nil, err
	}
	ref, err := c.kmsKey("KeyId", "ListResourceTags", false)
	if err != nil {
		return nil, err
	}
	if err := c.kmsAuthorize(ref.k, "ListResourceTags", nil); err != nil {
		return nil, err
	}
	items := []any{}
	for _, tk := range sortedKeys(ref.k.Tags) {
		items = append(items, map[string]any{"TagKey": tk, "TagValue": ref.k.Tags[tk]})
	}
	return pageOut("Tags", items, wire.Str(c.in, "Marker"), limit)
}

// ---------------------------------------------------------------------------
// Cryptographic operations (minimal): GenerateDataKeyWithoutPlaintext and Decrypt.
//
// A ciphertext blob is: 0x01 0x02 0x02 0x00 (the version bytes KMS's symmetric
// ciphertexts start with), the key ARN (uint16 length + bytes), the data key
// length (uint16), a 16-byte nonce, the SHA-256 of the encryption context and a
// 16-byte integrity tag. The data key is derived from the key ARN and the nonce,
// so Decrypt returns the same bytes every time without the sandbox storing it.
// Nothing here is real cryptography.

var blobMagic = []byte{0x01, 0x02, 0x02, 0x00}

const blobSecret = "sandbox-kms-ciphertext-v1"

func encryptionContextDigest(ec map[string]string) []byte {
	h := sha256.New()
	for _, k := range sortedKeys(ec) {
		h.Write([]byte(k))
		h.Write([]byte{0})
		h.Write([]byte(ec[k]))
		h.Write([]byte{0})
	}
	return h.Sum(nil)
}

func blobTag(body []byte) []byte {
	sum := sha256.Sum256(append([]byte(blobSecret), body...))
	return sum[:16]
}

func makeCiphertext(keyARN string, n int, nonce []byte, ec map[string]string) []byte {
	var b bytes.Buffer
	b.Write(blobMagic)
	_ = binary.Write(&b, binary.BigEndian, uint16(len(keyARN)))
	b.WriteString(keyARN)
	_ = binary.Write(&b, binary.BigEndian, uint16(n))
	b.Write(nonce)
	b.Write(encryptionContextDigest(ec))
	b.Write(blobTag(b.Bytes()))
	return b.Bytes()
}

type ciphertext struct {
	keyARN   string
	n        int
	nonce    []byte
	ecDigest []byte
}

func parseCiphertext(blob []byte) (*ciphertext, bool) {
	if len(blob) < 4+2 || !bytes.Equal(blob[:4], blobMagic) {
		return nil, false
	}
	l := int(binary.BigEndian.Uint16(blob[4:6]))
	rest := blob[6:]
	if len(rest) != l+2+16+32+16 {
		return nil, false
	}
	body, tag := blob[:len(blob)-16], blob[len(blob)-16:]
	if !bytes.Equal(blobTag(body), tag) {
		return nil, false
	}
	ct := &ciphertext{keyARN: string(rest[:l])}
	rest = rest[l:]
	ct.n = int(binary.BigEndian.Uint16(rest[:2]))
	ct.nonce = rest[2:18]
	ct.ecDigest = rest[18:50]
	return ct, true
}

func dataKey(keyARN string, nonce []byte, n int) []byte {
	var out []byte
	for i := 0; len(out) < n; i++ {
		sum := sha256.Sum256([]byte(fmt.Sprintf("sandbox-data-key/%s/%x/%d", keyARN, nonce, i)))
		out = append(out, sum[:]...)
	}
	return out[:n]
}

// cryptoContext is the condition context of a cryptographic request:
// kms:EncryptionContext:<key>, kms:EncryptionContextKeys, kms:RequestAlias.
func cryptoContext(ref keyRef, ec map[string]string) map[string][]string {
	ctx := map[string][]string{}
	for k, v := range ec {
		ctx["kms:EncryptionContext:"+k] = []string{v}
	}
	if len(ec) > 0 {
		ctx["kms:EncryptionContextKeys"] = sortedKeys(ec)
	}
	if ref.alias != "" {
		ctx["kms:RequestAlias"] = []string{ref.alias}
	}
	return ctx
}

func requireEncryptDecrypt(k *Key, op string) error {
	if k.Spec != "SYMMETRIC_DEFAULT" || k.Usage != "ENCRYPT_DECRYPT" {
		// The code is documented; the message is the sandbox's.
		return apiErr("InvalidKeyUsageException", "%s is a %s key with key usage %s, which is not valid for %s", k.ARN, k.Spec, k.Usage, op)
	}
	return nil
}

func kmsGenerateDataKeyWithoutPlaintext(c *call) (map[string]any, error) {
	n, hasN := wire.IntOK(c.in, "NumberOfBytes")
	spec := wire.Str(c.in, "KeySpec")
	switch {
	case hasN && spec != "":
		return nil, validationf("Specify either KeySpec or NumberOfBytes, not both")
	case hasN && (n < 1 || n > 1024):
		return nil, rangeErr("NumberOfBytes", n, 1, 1024)
	case spec == "AES_256":
		n = 32
	case spec == "AES_128":
		n = 16
	case spec != "":
		return nil, enumErr("KeySpec", spec, []string{"AES_256", "AES_128"})
	case !hasN:
		return nil, validationf("Please specify either number of bytes or key spec.")
	}
	ref, err := c.kmsKey("KeyId", "GenerateDataKeyWithoutPlaintext", true)
	if err != nil {
		return nil, err
	}
	k := ref.k
	ec := wire.StrMap(c.in, "EncryptionContext")
	if err := c.kmsAuthorize(k, "GenerateDataKeyWithoutPlaintext", cryptoContext(ref, ec)); err != nil {
		return nil, err
	}
	if wire.Bool(c.in, "DryRun") {
		return nil, apiErr("DryRunOperationException", "The request would have succeeded, but the DryRun option is set.")
	}
	if err := requireUsable(k); err != nil {
		return nil, err
	}
	if err := requireEncryptDecrypt(k, "GenerateDataKeyWithoutPlaintext"); err != nil {
		return nil, err
	}
	nonce, _ := hex.DecodeString(c.c.nextToken("data-key/"+k.ARN, 32))
	return map[string]any{
		"CiphertextBlob": makeCiphertext(k.ARN, int(n), nonce, ec),
		"KeyId":          k.ARN,
		"KeyMaterialId":  keyMaterialID(k),
	}, nil
}

// kmsDecrypt decrypts a blob made by GenerateDataKeyWithoutPlaintext. A blob
// that is not one, or whose encryption context differs, is
// InvalidCiphertextException; a KeyId naming another key than the blob's is
// IncorrectKeyException, as the API Reference describes.
func kmsDecrypt(c *call) (map[string]any, error) {
	blob := wire.Blob(c.in, "CiphertextBlob")
	if len(blob) == 0 {
		return nil, validationf("1 validation error detected: Value null at 'ciphertextBlob' failed to satisfy constraint: Member must not be null")
	}
	if wire.Has(c.in, "Recipient") {
		return nil, validationf("Recipient (Nitro Enclaves attestation) is not modelled by this sandbox")
	}
	if alg := wire.Str(c.in, "EncryptionAlgorithm"); alg != "" && alg != "SYMMETRIC_DEFAULT" {
		return nil, apiErr("IncorrectKeyException", "The encryption algorithm %s does not match the ciphertext's (SYMMETRIC_DEFAULT)", alg)
	}
	ct, ok := parseCiphertext(blob)
	if !ok {
		return nil, apiErr("InvalidCiphertextException", "")
	}
	k := c.c.keyByARN(ct.keyARN)
	if k == nil {
		return nil, notFound(fmt.Sprintf("Key '%s' does not exist", ct.keyARN))
	}
	if k.Region != c.region {
		// A ciphertext can only be decrypted in its key's region; the error is
		// not documented.
		return nil, apiErr("InvalidCiphertextException", "")
	}
	c.noteKMSKey(k)
	ref := keyRef{k: k}
	if wire.Str(c.in, "KeyId") != "" {
		given, err := c.kmsKey("KeyId", "Decrypt", true)
		if err != nil {
			return nil, err
		}
		if given.k != k {
			return nil, apiErr("IncorrectKeyException", "The key ID in the request does not identify a KMS key that can perform this operation.")
		}
		ref = given
	}
	ec := wire.StrMap(c.in, "EncryptionContext")
	ctx := cryptoContext(ref, ec)
	ctx["kms:EncryptionAlgorithm"] = []string{"SYMMETRIC_DEFAULT"}
	if err := c.kmsAuthorize(k, "Decrypt", ctx); err != nil {
		return nil, err
	}
	if wire.Bool(c.in, "DryRun") {
		return nil, apiErr("DryRunOperationException", "The request would have succeeded, but the DryRun option is set.")
	}
	if err := requireUsable(k); err != nil {
		return nil, err
	}
	if !bytes.Equal(encryptionContextDigest(ec), ct.ecDigest) {
		return nil, apiErr("InvalidCiphertextException", "")
	}
	return map[string]any{
		"KeyId":               k.ARN,
		"Plaintext":           dataKey(k.ARN, ct.nonce, ct.n),
		"EncryptionAlgorithm": "SYMMETRIC_DEFAULT",
	}, nil
}

// ---------------------------------------------------------------------------
// Last usage

// kmsGetKeyLastUsage reports a key's last successful cryptographic operation
// (Decrypt, GenerateDataKeyWithoutPlaintext, ReEncrypt... the
// KeyLastUsageTrackingOperation values), whether the caller made it or EC2
// made it for a principal, with its time, the CloudTrail event id in the key
// owner's account and the KMS request id. "Cross-account use: No"; it needs
// kms:GetKeyLastUsage in the key policy; alias names are not supported. The
// API Reference lists no KMSInvalidStateException, so it answers in every
// key state. TrackingStartDate is when the sandbox began tracking (its
// world's start) or the key's creation, whichever is later. AWS does not say
// whether KeyId is the key id or its ARN ("the globally unique identifier"):
// the sandbox answers the key id.
func kmsGetKeyLastUsage(c *call) (map[string]any, error) {
	ref, err := c.kmsKey("KeyId", "GetKeyLastUsage", false)
	if err != nil {
		return nil, err
	}
	k := ref.k
	if err := c.kmsAuthorize(k, "GetKeyLastUsage", nil); err != nil {
		return nil, err
	}
	tracking := k.Created
	if start := c.c.state.TrackingStart; start.After(tracking) {
		tracking = start
	}
	out := map[string]any{"KeyId": k.ID, "KeyCreationDate": k.Created, "TrackingStartDate": tracking}
	// "If the key has not been used since tracking began, this response
	// element is empty": present, without members.
	last := map[string]any{}
	if u := k.LastUsage; u != nil {
		last = map[string]any{"Operation": u.Operation, "Timestamp": u.Time, "CloudTrailEventId": u.EventID, "KmsRequestId": u.RequestID}
	}
	out["KeyLastUsage"] = last
	return out, nil
}
