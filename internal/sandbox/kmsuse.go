package sandbox

import (
	"fmt"
	"slices"
	"strings"
	"time"

	"github.com/amicrypt/amicrypt/internal/policy"
)

// What EC2 asks KMS for, on a principal's behalf, when it works with encrypted
// EBS data (the EBS encryption documentation: EBS sends GenerateDataKeyWithoutPlaintext
// and CreateGrant when it creates an encrypted volume or snapshot copy, Decrypt when
// the volume is attached, ReEncrypt when the data moves to another key). The
// principal is the caller (RunInstances, CopyImage, CreateImage) or the Auto Scaling
// group's service-linked role (group launches).
var (
	// ebsCreateFromKeyActions: use an encrypted snapshot as the source of a volume.
	ebsReadActions = []string{"kms:DescribeKey", "kms:CreateGrant", "kms:Decrypt"}
	// ebsWriteActions: encrypt new data (a copy, a new volume) under a key.
	ebsWriteActions = []string{"kms:DescribeKey", "kms:CreateGrant", "kms:GenerateDataKeyWithoutPlaintext"}
	// ebsReEncryptActions: move data from one key to another.
	ebsReEncryptFrom = []string{"kms:ReEncryptFrom"}
	ebsReEncryptTo   = []string{"kms:ReEncryptTo"}
)

// ebsKeyProblem says whether EC2 can, for principal p, move data from storage
// under srcKey in srcRegion ("" = unencrypted) to new storage under dstKey in
// dstRegion ("" = unencrypted): read the source, write (or re-encrypt into) the
// destination, and — when attach is set, for a volume an instance uses — decrypt
// the destination's data key.
func (c *Cloud) ebsKeyProblem(use *kmsUse, p policy.Principal, userID, srcRegion, srcKey, dstRegion, dstKey string, attach bool) *KeyUseProblem {
	if dstKey == "" {
		return nil
	}
	if srcKey == dstKey {
		return c.useKeyViaEC2(use, p, userID, dstRegion, dstKey, ebsReadActions)
	}
	dstActions := slices.Clone(ebsWriteActions)
	if srcKey != "" {
		if prob := c.useKeyViaEC2(use, p, userID, srcRegion, srcKey, slices.Concat(ebsReadActions, ebsReEncryptFrom)); prob != nil {
			return prob
		}
		dstActions = append(dstActions, ebsReEncryptTo...)
	}
	if attach {
		dstActions = append(dstActions, "kms:Decrypt")
	}
	return c.useKeyViaEC2(use, p, userID, dstRegion, dstKey, dstActions)
}

// kmsUse is who EC2 makes its KMS requests for, and when: each request is
// recorded in CloudTrail (cloudtrail.go) as that principal's, invoked by the
// service, and a successful cryptographic one is the key's last usage.
type kmsUse struct {
	actor trailActor
	at    time.Time
}

// ec2Use is EC2 acting for the request's caller (CopyImage, RunInstances,
// StartInstances).
func (cl *call) ec2Use() *kmsUse {
	return &kmsUse{actor: callerActor(cl.caller, cl.sourceIP, cl.userAgent).invokedBy("ec2.amazonaws.com"), at: cl.now}
}

// kmsAPIName is the KMS operation behind a permission EC2 needs:
// kms:ReEncryptFrom and kms:ReEncryptTo are the two keys' sides of ReEncrypt.
func kmsAPIName(action string) string {
	op := strings.TrimPrefix(action, "kms:")
	if strings.HasPrefix(op, "ReEncrypt") {
		return "ReEncrypt"
	}
	return op
}

// record writes the event of one KMS request EC2 made (use may be nil: nothing is recorded).
func (u *kmsUse) record(c *Cloud, region, action, keyID string, k *Key, errCode, errMsg string) {
	if u == nil {
		return
	}
	op := kmsAPIName(action)
	params := map[string]any{"keyId": keyID}
	switch op {
	case "GenerateDataKeyWithoutPlaintext":
		params["keySpec"] = "AES_256"
	case "Decrypt", "ReEncrypt":
		params["encryptionAlgorithm"] = "SYMMETRIC_DEFAULT"
	case "CreateGrant":
		params["operations"] = ebsGrantOperations
	}
	var keys []*Key
	if k != nil {
		keys = []*Key{k}
	}
	c.recordKMS(kmsEvent{actor: u.actor, at: u.at, region: region, name: op, params: params, keys: keys, errCode: errCode, errMsg: errMsg})
}

// ebsGrantOperations are the operations of the grants EC2 creates for EBS.
var ebsGrantOperations = []string{"Decrypt", "GenerateDataKeyWithoutPlaintext", "ReEncryptFrom", "ReEncryptTo", "CreateGrant", "DescribeKey"}

// KeyUseProblem explains why EC2 could not use a key for a principal.
type KeyUseProblem struct {
	KeyARN    string
	Principal string
	Action    string
	// State is set when the key itself is unusable (disabled, pending deletion,
	// asymmetric, missing).
	State  string
	Reason string
}

func (p *KeyUseProblem) Error() string {
	if p.State != "" {
		return fmt.Sprintf("key %s is %s", p.KeyARN, p.State)
	}
	return fmt.Sprintf("%s cannot call %s on %s through EC2: %s", p.Principal, p.Action, p.KeyARN, p.Reason)
}

// keyByARN finds a key by ARN (nil when it does not exist).
func (c *Cloud) keyByARN(arn string) *Key {
	i := strings.LastIndex(arn, "/")
	if i < 0 {
		return nil
	}
	k := c.keyIndex[arn[i+1:]]
	if k == nil || k.ARN != arn {
		return nil
	}
	return k
}

// keyUsable reports whether the key can protect EBS data at all.
func keyUsable(k *Key) string {
	switch {
	case k.State == "Disabled":
		return "disabled"
	case k.State == "PendingDeletion":
		return "pending deletion"
	case k.State != "Enabled":
		return strings.ToLower(k.State)
	case k.Spec != "SYMMETRIC_DEFAULT":
		return "asymmetric (" + k.Spec + "); EBS accepts only symmetric encryption keys"
	}
	return ""
}

// useKeyViaEC2 evaluates every action EC2 would call on the principal's behalf in
// region, with kms:ViaService = ec2.<region>.amazonaws.com and kms:CallerAccount =
// the principal's account, against the key policy, the key's grants and the
// principal's identity policies. CreateGrant is evaluated with
// kms:GrantIsForAWSResource = true, as EC2's grants are.
//
// Each request EC2 makes is recorded with use: for a key that does not exist,
// the first one fails (NotFoundException); for a key that is not usable,
// DescribeKey (which answers in every key state) succeeds and the next
// request fails with the key state's error (DisabledException,
// KMSInvalidStateException), or — for an asymmetric key, which EBS sees from
// DescribeKey it cannot use — no further request is made; otherwise each
// request succeeds until one is denied (AccessDeniedException).
func (c *Cloud) useKeyViaEC2(use *kmsUse, p policy.Principal, userID, region, keyARN string, actions []string) *KeyUseProblem {
	k := c.keyByARN(keyARN)
	if k == nil {
		use.record(c, region, actions[0], keyARN, nil, "NotFoundException", fmt.Sprintf("Key '%s' does not exist", keyARN))
		return &KeyUseProblem{KeyARN: keyARN, State: "not found"}
	}
	doc, err := parsePolicy(k.Policy)
	if err != nil {
		return &KeyUseProblem{KeyARN: keyARN, Principal: p.ARN, Reason: "the key policy does not parse: " + err.Error()}
	}
	grants := policyGrants(k)
	decide := func(action string) policy.Decision {
		ctx := map[string][]string{
			"kms:ViaService":       {"ec2." + region + ".amazonaws.com"},
			"kms:CallerAccount":    {p.Account},
			"aws:PrincipalAccount": {p.Account},
			"aws:PrincipalArn":     {principalARNOfSession(p.ARN)},
		}
		if userID != "" {
			ctx["aws:userid"] = []string{userID}
		}
		if org := c.organizationOf(p.Account); org != "" {
			ctx["aws:PrincipalOrgID"] = []string{org}
		}
		if action == "kms:CreateGrant" {
			ctx["kms:GrantIsForAWSResource"] = []string{"true"}
			ctx["kms:GrantOperations"] = []string{"Decrypt", "GenerateDataKeyWithoutPlaintext", "ReEncryptFrom", "ReEncryptTo", "CreateGrant", "DescribeKey"}
		}
		return policy.EvaluateKMS(doc, k.Account, grants, policy.Request{Principal: p, Action: action, Resource: k.ARN, Context: ctx})
	}
	denied := func(action string, d policy.Decision) {
		use.record(c, region, action, k.ARN, k, "AccessDeniedException", accessDenied("kms", p.ARN, action, k.ARN, d.Reason).Message)
	}
	if st := keyUsable(k); st != "" {
		for _, action := range actions {
			if d := decide(action); !d.Allowed {
				denied(action, d)
				break
			}
			if action == "kms:DescribeKey" {
				use.record(c, region, action, k.ARN, k, "", "")
				continue
			}
			if k.Spec == "SYMMETRIC_DEFAULT" {
				e := asAPIError(requireUsable(k))
				use.record(c, region, action, k.ARN, k, e.Code, e.Message)
			}
			break
		}
		return &KeyUseProblem{KeyARN: keyARN, State: st}
	}
	for _, action := range actions {
		d := decide(action)
		if !d.Allowed {
			denied(action, d)
			return &KeyUseProblem{KeyARN: keyARN, Principal: p.ARN, Action: action, Reason: d.Reason}
		}
		use.record(c, region, action, k.ARN, k, "", "")
	}
	return nil
}

// principalARNOfSession maps an assumed-role session ARN to its role ARN for
// aws:PrincipalArn (the path is not known from the session ARN; the sandbox's
// service-linked roles are passed as role ARNs already).
func principalARNOfSession(arn string) string { return arn }

// policyGrants converts a key's grants for the evaluator.
func policyGrants(k *Key) []policy.Grant {
	out := make([]policy.Grant, 0, len(k.Grants))
	for _, g := range k.Grants {
		out = append(out, policy.Grant{
			ID: g.ID, KeyARN: k.ARN, GranteePrincipal: g.GranteePrincipal, RetiringPrincipal: g.RetiringPrincipal,
			Operations: g.Operations, EncryptionContextEquals: g.ContextEquals, EncryptionContextSubset: g.ContextSubset,
		})
	}
	return out
}

// rolePrincipal builds the evaluator principal for an IAM role acting itself
// (a service-linked role used by Auto Scaling).
func (c *Cloud) rolePrincipal(account string, r *Role) policy.Principal {
	p := policy.Principal{ARN: r.ARN, Account: account}
	for _, doc := range policyList(r.Policies) {
		if d, err := parsePolicy(doc); err == nil {
			p.IdentityPolicies = append(p.IdentityPolicies, d)
		}
	}
	return p
}

// volumeKeyPlan decides the key a new volume made from a snapshot ends up under,
// and which KMS actions that needs. requestedEncrypted/requestedKey come from the
// block device mapping (launch template or RunInstances); the account's EBS
// encryption-by-default setting applies when the mapping does not name a key.
//
// Rules (EBS "encryption outcomes" documentation): an encrypted snapshot gives an
// encrypted volume under the snapshot's key unless a key is named; a named key
// re-encrypts; an unencrypted snapshot gives an unencrypted volume unless
// Encrypted=true or encryption by default is on, then the named key or the
// account default key. Where AWS's documentation leaves the combination
// "encrypted snapshot + encryption by default on + no key named" open (with
// Encrypted=true in the mapping, or a snapshot of another account), the sandbox
// re-encrypts under the account's default key — what the Bedrock write-up (seed
// 001) saw ("by default, it was the account KMS Key that was used").
func (c *Cloud) volumeKeyPlan(account, region string, snap *Snapshot, requestedEncrypted bool, requestedKey string) (encrypted bool, keyARN string, err error) {
	r := c.region(account, region)
	defaultKey := func() string {
		if r.EBSDefaultKMSKeyID != "" {
			if k := c.keyIndex[r.EBSDefaultKMSKeyID]; k != nil {
				return k.ARN
			}
		}
		return c.ensureAWSManagedKey(account, region, "alias/aws/ebs").ARN
	}
	if requestedKey != "" {
		k, kerr := c.resolveKey(account, region, requestedKey)
		if kerr != nil {
			return false, "", kerr
		}
		return true, k.ARN, nil
	}
	switch {
	case snap != nil && snap.Encrypted && r.EBSEncryptionByDefault && (requestedEncrypted || snap.Owner != account):
		// Unknown in AWS's documentation; the sandbox's choice (see above).
		return true, defaultKey(), nil
	case snap != nil && snap.Encrypted:
		return true, snap.KMSKeyID, nil
	case requestedEncrypted || r.EBSEncryptionByDefault:
		return true, defaultKey(), nil
	}
	return false, "", nil
}
