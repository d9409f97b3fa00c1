package activities

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"strings"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/aws/retry"
	"github.com/aws/aws-sdk-go-v2/service/kms"
	kmstypes "github.com/aws/aws-sdk-go-v2/service/kms/types"
	"github.com/aws/smithy-go"
	smithyhttp "github.com/aws/smithy-go/transport/http"
	"go.temporal.io/sdk/temporal"

	"github.com/amicrypt/amicrypt/internal/policy"
)

// This file is the one edge where AWS errors become amicrypt's: throttling,
// 5xx and connection trouble stay plain errors (Temporal retries the
// activity); everything else becomes a non-retryable Diagnosed error whose
// Cause names the account, region and resource and whose Fix says what to do.

func codeSet(codes ...string) map[string]bool {
	m := make(map[string]bool, len(codes))
	for _, c := range codes {
		m[c] = true
	}
	return m
}

var (
	notFoundCodes = codeSet(
		"NotFoundException", "NoSuchEntity", "ParameterNotFound",
		"InvalidAMIID.NotFound", "InvalidAMIID.Unavailable", "InvalidSnapshot.NotFound",
		"InvalidLaunchTemplateId.NotFound", "InvalidLaunchTemplateName.NotFoundException",
		"InvalidInstanceID.NotFound", "InvalidVolume.NotFound", "InvalidGrantId", "InvalidGrantIdException",
	)
	throttleCodes = codeSet(
		"Throttling", "ThrottlingException", "ThrottledException", "RequestThrottled", "RequestThrottledException",
		"TooManyRequestsException", "RequestLimitExceeded", "EC2ThrottledException", "SlowDown",
		"PriorRequestNotComplete", "BandwidthLimitExceeded",
	)
	// Codes that clear with time: retried by Temporal, not diagnosed.
	transientCodes = codeSet(
		"InternalError", "InternalFailure", "InternalServerError", "ServiceUnavailable", "Unavailable",
		"KMSInternalException", "DependencyTimeoutException", "RequestTimeout", "RequestTimeoutException",
		"ResourceLimitExceeded",     // concurrent AMI copies: wait for some to finish
		"ScalingActivityInProgress", // Auto Scaling is busy with the group
		"ResourceContention",        // Auto Scaling
		"ConcurrentModification",    // IAM
		"ConcurrentModificationException",
		"IncorrectState", // EC2: the resource is between states
		// Credentials that expired in flight (CredentialsExpiryWindow): the
		// next attempt signs with fresh ones.
		"ExpiredToken", "ExpiredTokenException", "RequestExpired",
	)
	accessDeniedCodes = codeSet(
		"AccessDenied", "AccessDeniedException", "UnauthorizedOperation", "NotAuthorizedException",
		"AuthFailure", "UnauthorizedAccess",
	)
	// KMS answers for a key that is disabled, pending deletion or unusable.
	keyStateCodes = codeSet(
		"DisabledException", "KMSInvalidStateException", "KeyUnavailableException", "InvalidKeyUsageException",
		"IncorrectKeyException",
	)
)

// APICode is the AWS error code of err ("" when err is not an AWS API error).
func APICode(err error) string {
	var ae smithy.APIError
	if errors.As(err, &ae) {
		return ae.ErrorCode()
	}
	return ""
}

func apiMessage(err error) string {
	var ae smithy.APIError
	if errors.As(err, &ae) {
		return ae.ErrorMessage()
	}
	return err.Error()
}

// IsNotFound reports whether AWS said the thing asked about does not exist.
func IsNotFound(err error) bool {
	code := APICode(err)
	if notFoundCodes[code] {
		return true
	}
	// Auto Scaling says "ValidationError: AutoScalingGroup name not found".
	return code == "ValidationError" && strings.Contains(strings.ToLower(apiMessage(err)), "not found")
}

// IsThrottled reports whether AWS refused the call for its request rate.
func IsThrottled(err error) bool { return throttleCodes[APICode(err)] }

// IsAccessDenied reports whether AWS refused the call for lack of permission.
func IsAccessDenied(err error) bool { return accessDeniedCodes[APICode(err)] }

// isRetryable reports whether err clears with time: throttling, 5xx,
// connection trouble, or a transient state.
func isRetryable(err error) bool {
	if IsThrottled(err) || transientCodes[APICode(err)] {
		return true
	}
	var re *smithyhttp.ResponseError
	if errors.As(err, &re) && re.HTTPStatusCode() >= 500 {
		return true
	}
	if APICode(err) != "" {
		return false
	}
	return retry.IsErrorRetryables(retry.DefaultRetryables).IsErrorRetryable(err) == aws.TrueTernary
}

// where says whom a failure concerns, for messages.
type where struct {
	Account, Region string
	// Resource names the thing the call was about ("image ami-...", "key arn:...").
	Resource string
}

func (w where) String() string {
	s := "account " + w.Account
	if w.Region != "" {
		s += ", " + w.Region
	}
	if w.Resource != "" {
		s += ", " + w.Resource
	}
	return s
}

// diagnose turns the error of an AWS call (call is its IAM action name,
// "ec2:CopyImage") into what the activity returns: nil, the error itself when
// it is worth retrying, or a Diagnosed error.
func diagnose(err error, call string, w where) error {
	if err == nil {
		return nil
	}
	var appErr *temporal.ApplicationError
	if errors.As(err, &appErr) {
		return err // already diagnosed
	}
	if errors.Is(err, context.Canceled) || errors.Is(err, context.DeadlineExceeded) {
		return err
	}
	var are *AssumeRoleError
	if errors.As(err, &are) {
		if isRetryable(are.Err) {
			return err
		}
		return Diagnosed(assumeRoleDiagnosis(w, are), err)
	}
	if isRetryable(err) {
		return err
	}
	code, msg := APICode(err), apiMessage(err)
	if d, ok := f1Diagnosis(w, code, msg); ok {
		return Diagnosed(d, err)
	}
	if keyStateCodes[code] {
		return Diagnosed(Diagnosis{
			Code:  F5,
			Cause: fmt.Sprintf("%s in %s refused: the KMS key is not usable (%s: %s)", call, w, code, msg),
			Fix:   "Enable the key (aws kms enable-key), cancel its deletion (aws kms cancel-key-deletion), or name another symmetric encryption key, then replay the target.",
		}, err)
	}
	if code == "" {
		return Diagnosed(Diagnosis{
			Code:  Other,
			Cause: fmt.Sprintf("%s in %s failed before AWS answered: %v", call, w, err),
			Fix:   "This is not an AWS refusal: check the request amicrypt built (it may be a bug) and the endpoint configuration, then replay the target.",
		}, err)
	}
	fix := "AWS refused the call; its message says why. Correct what it names (the target's configuration, a role's permissions, a resource's state) and replay the target."
	if accessDeniedCodes[code] {
		fix = fmt.Sprintf("Allow %s to the role amicrypt acts as in account %s (its identity policy; for a KMS key also the key policy), then replay the target.", call, w.Account) + deployHint[call]
	}
	return Diagnosed(Diagnosis{
		Code:  Other,
		Cause: fmt.Sprintf("%s in %s failed: %s: %s", call, w, code, msg),
		Fix:   fix,
	}, err)
}

// deployHint says, for a call deploy/'s roles allow only under a
// condition, which condition a refusal most likely met.
var deployHint = map[string]string{
	"ssm:GetParameter":            " deploy/'s target role reads and writes only parameters under its stack's PublishParameterPath (default /amicrypt/): publish under it, or deploy the stack with the path of publish.ssm_parameter.",
	"ssm:PutParameter":            " deploy/'s target role reads and writes only parameters under its stack's PublishParameterPath (default /amicrypt/): publish under it, or deploy the stack with the path of publish.ssm_parameter.",
	"ec2:ModifyImageAttribute":    " deploy/'s builder role shares only images and snapshots tagged amicrypt:shareable=true (Packer: tags and snapshot_tags; or ShareOnlyTaggedImages=false), and with TargetAccountIds only those accounts.",
	"ec2:ModifySnapshotAttribute": " deploy/'s builder role shares only images and snapshots tagged amicrypt:shareable=true (Packer: tags and snapshot_tags; or ShareOnlyTaggedImages=false), and with TargetAccountIds only those accounts.",
}

// assumeRoleDiagnosis is F7: which role, and the condition to check.
func assumeRoleDiagnosis(w where, are *AssumeRoleError) Diagnosis {
	cond := "If the trust policy requires an sts:ExternalId, set the target's external_id to that value."
	if are.ExternalID != "" {
		// The value is the target account's secret against the confused
		// deputy: never printed (reports, logs and Packer artifacts keep it).
		cond = fmt.Sprintf("amicrypt passes sts:ExternalId, the target's external_id (%d characters, not shown): the trust policy's condition (StringEquals sts:ExternalId) must name exactly that value.", len(are.ExternalID))
	}
	return Diagnosis{
		Code:  F7,
		Cause: fmt.Sprintf("amicrypt cannot assume role %s (account %s): %s", are.RoleARN, w.Account, apiMessage(are.Err)),
		Fix: fmt.Sprintf("Let the worker's identity (the caller named in AWS's message) assume %s: the role's trust policy must allow it sts:AssumeRole. %s "+
			"Across accounts the caller's own identity policy must also allow sts:AssumeRole on %s. Then replay the target.", are.RoleARN, cond, are.RoleARN),
	}
}

// f1Diagnosis recognises a builder image under the AWS managed key.
func f1Diagnosis(w where, code, msg string) (Diagnosis, bool) {
	lower := strings.ToLower(msg)
	if !(code == "InvalidParameter" && strings.Contains(lower, "aws managed")) &&
		!(code == "InvalidRequest" && strings.Contains(lower, "unencrypted copy from an encrypted snapshot")) {
		return Diagnosis{}, false
	}
	return Diagnosis{
		Code:  F1,
		Cause: fmt.Sprintf("the source image in %s has snapshots encrypted with the AWS managed key aws/ebs, which cannot be shared with other accounts (%s: %s)", w, code, msg),
		Fix:   f1Fix(w.Region),
	}, true
}

func f1Fix(region string) string {
	return fmt.Sprintf("The builder account's EBS encryption by default is the cause. Build the source unencrypted "+
		"(aws ec2 disable-ebs-encryption-by-default --region %s in the builder account, and no encrypt_boot in the Packer template), "+
		"or encrypt it with a customer managed key whose key policy lets the target accounts use it; rebuild, then run again.", region)
}

// ---- key diagnoses: F2, F3, F5, F6 ----

// keyGrantOperations are what the service-linked role needs on a key (seed 003).
var keyGrantOperations = []kmstypes.GrantOperation{
	kmstypes.GrantOperationEncrypt, kmstypes.GrantOperationDecrypt,
	kmstypes.GrantOperationReEncryptFrom, kmstypes.GrantOperationReEncryptTo,
	kmstypes.GrantOperationGenerateDataKey, kmstypes.GrantOperationGenerateDataKeyWithoutPlaintext,
	kmstypes.GrantOperationDescribeKey, kmstypes.GrantOperationCreateGrant,
}

func grantOperationNames() []string {
	out := make([]string, len(keyGrantOperations))
	for i, op := range keyGrantOperations {
		out[i] = string(op)
	}
	return out
}

// accountOfARN is the account field of an ARN ("" when it has none).
func accountOfARN(arn string) string {
	parts := strings.SplitN(arn, ":", 6)
	if len(parts) < 6 {
		return ""
	}
	return parts[4]
}

// regionOfARN is the region field of an ARN.
func regionOfARN(arn string) string {
	parts := strings.SplitN(arn, ":", 6)
	if len(parts) < 6 {
		return ""
	}
	return parts[3]
}

// statementsJSON renders policy statements as the JSON list to paste into a
// policy's "Statement".
func statementsJSON(stmts []policy.Statement) string {
	if len(stmts) == 0 {
		return "[]"
	}
	doc := &policy.Document{Version: policy.Version2012, Statements: stmts}
	b, err := doc.MarshalJSON()
	if err != nil {
		return fmt.Sprintf("(the statements could not be written: %v)", err)
	}
	var raw struct {
		Statement json.RawMessage
	}
	if err := json.Unmarshal(b, &raw); err != nil {
		return string(b)
	}
	var out bytes.Buffer
	if err := json.Indent(&out, raw.Statement, "", "  "); err != nil {
		return string(raw.Statement)
	}
	return out.String()
}

// createGrantCommand is the CLI call that lets the service-linked role use a
// key of another account (seed 003, case 2), run from the group's account.
func createGrantCommand(keyARN, slrARN, region string) string {
	return fmt.Sprintf("aws kms create-grant --key-id %s --grantee-principal %s --operations %s --region %s",
		keyARN, slrARN, strings.Join(grantOperationNames(), " "), region)
}

// crossAccountKeyDiagnosis is F6: the key belongs to another account and the
// service-linked role has no grant on it.
func crossAccountKeyDiagnosis(t Target, keyARN, slrARN, observed string) Diagnosis {
	owner := accountOfARN(keyARN)
	region := regionOfARN(keyARN)
	if region == "" {
		region = t.Region
	}
	root := fmt.Sprintf("arn:%s:iam::%s:root", policy.PartitionForRegion(region), t.Account)
	keyPolicy := []policy.Statement{
		{
			Sid: "AllowUseOfTheKeyByAccount" + t.Account, Effect: policy.Allow,
			Principal: &policy.Principals{AWS: []string{root}},
			Action:    []string{"kms:Encrypt", "kms:Decrypt", "kms:ReEncrypt*", "kms:GenerateDataKey*", "kms:DescribeKey"},
			Resource:  []string{"*"},
		},
		{
			Sid: "AllowGrantsByAccount" + t.Account, Effect: policy.Allow,
			Principal: &policy.Principals{AWS: []string{root}},
			Action:    []string{"kms:CreateGrant"}, Resource: []string{"*"},
		},
	}
	identity := []policy.Statement{{
		Sid: "AllowCreationOfGrant", Effect: policy.Allow,
		Action: []string{"kms:CreateGrant"}, Resource: []string{keyARN},
	}}
	who := "a principal of the account"
	if t.RoleARN != "" {
		who = "the role amicrypt assumes there (" + t.RoleARN + ")"
	}
	return Diagnosis{
		Code: F6,
		Cause: fmt.Sprintf("key %s belongs to account %s, and the Auto Scaling service-linked role %s of account %s has no grant on it in %s%s",
			keyARN, owner, slrARN, t.Account, t.Region, observedSuffix(observed)),
		Fix: fmt.Sprintf("From account %s (the group's account, not the key's), run:\n%s\n"+
			"For that call to be allowed, the key policy of %s (account %s) needs these statements:\n%s\n"+
			"and %s needs this identity policy statement:\n%s\nThen replay the target.",
			t.Account, createGrantCommand(keyARN, slrARN, t.Region), keyARN, owner, statementsJSON(keyPolicy), who, statementsJSON(identity)),
	}
}

func observedSuffix(observed string) string {
	if observed == "" {
		return ""
	}
	return " (" + observed + ")"
}

// slrKeyUse are the calls EC2 makes on the service-linked role's behalf when
// an Auto Scaling group launches from, and writes volumes under, the key.
var slrKeyUse = []string{"kms:DescribeKey", "kms:CreateGrant", "kms:Decrypt", "kms:GenerateDataKeyWithoutPlaintext", "kms:ReEncryptFrom", "kms:ReEncryptTo"}

// evaluateSLRUse predicts with the evaluator whether the service-linked role
// may use the key through EC2 in the target's region: the key policy, the
// grants, and the role's own permissions policy, which grants no KMS action.
// It returns the first refused call and why (allowed true when none is).
func evaluateSLRUse(doc *policy.Document, grants []policy.Grant, t Target, keyARN, slrARN string) (allowed bool, action, reason string) {
	p := policy.Principal{ARN: slrARN, Account: t.Account, RoleARN: slrARN}
	for _, act := range slrKeyUse {
		ctx := policy.ViaEC2Context(t.Region, t.Account)
		if act == "kms:CreateGrant" {
			ctx["kms:GrantIsForAWSResource"] = []string{"true"}
		}
		d := policy.EvaluateKMS(doc, accountOfARN(keyARN), grants, policy.Request{Principal: p, Action: act, Resource: keyARN, Context: ctx})
		if !d.Allowed {
			return false, act, d.Reason
		}
	}
	return true, "", ""
}

// requiredParams are the inputs of amicrypt's required key policy for a target.
func requiredParams(t Target, keyARN, slrARN, pipelineRoleARN string) policy.RequiredParams {
	return policy.RequiredParams{
		Account: t.Account, Region: t.Region,
		ServiceLinkedRoleARNs: []string{slrARN},
		PipelineRoleARN:       pipelineRoleARN,
		TargetRoleARN:         t.RoleARN,
		KeyARN:                keyARN,
	}
}

// slrKeyDiagnosis is F2 (default role) or F3 (custom-suffix role): the key
// policy does not let the service-linked role use the key. The fix holds the
// statements policy.MissingStatements computes from the actual policy; doc
// nil means the policy could not be read (readErr says why).
func slrKeyDiagnosis(t Target, keyARN, slrARN string, doc *policy.Document, grants []policy.Grant, readErr error, observed string) Diagnosis {
	code := F2
	if t.ServiceLinkedRoleSuffix != "" {
		code = F3
	}
	cause := fmt.Sprintf("the Auto Scaling service-linked role %s cannot use key %s of account %s through EC2 in %s%s",
		slrARN, keyARN, t.Account, t.Region, observedSuffix(observed))
	params := requiredParams(t, keyARN, slrARN, "")
	var missing []policy.Statement
	var note string
	if doc == nil {
		missing = policy.MissingStatements(&policy.Document{}, params)
		note = fmt.Sprintf(" (amicrypt could not read the key policy: %s; these are all the statements amicrypt requires for the role)", apiMessageOr(readErr))
	} else {
		missing = policy.MissingStatements(doc, params)
	}
	suffixNote := ""
	if code == F3 {
		suffixNote = fmt.Sprintf(" The group uses the custom-suffix role %s: the key policy must name that role; naming %s is not enough.",
			t.ServiceLinkedRoleName(), policy.DefaultServiceLinkedRoleName)
	}
	if len(missing) == 0 {
		why := ""
		if ok, act, reason := evaluateSLRUse(doc, grants, t, keyARN, slrARN); !ok {
			why = fmt.Sprintf(" The evaluator refuses %s: %s.", act, reason)
		}
		return Diagnosis{
			Code:  code,
			Cause: cause,
			Fix: fmt.Sprintf("The key policy already holds every statement amicrypt requires for %s, so something else refuses it: an explicit Deny in the key policy, "+
				"a service control policy or a permissions boundary.%s Remove the refusal, or give the role a grant (grant_service_linked_role: true), then replay the target.%s",
				slrARN, why, suffixNote),
		}
	}
	return Diagnosis{
		Code:  code,
		Cause: cause,
		Fix: fmt.Sprintf("Add these statements to the \"Statement\" list of the key policy of %s%s "+
			"(aws kms get-key-policy --key-id %s --policy-name default --region %s; edit; aws kms put-key-policy), "+
			"or let amicrypt do it (manage_key_policy: true), or give the role a grant instead (grant_service_linked_role: true); then replay the target.%s\n%s",
			keyARN, note, keyARN, t.Region, suffixNote, statementsJSON(missing)),
	}
}

func apiMessageOr(err error) string {
	if err == nil {
		return "no policy returned"
	}
	return apiMessage(err)
}

// keyStateDiagnosis is F5 for a key EBS cannot use: not enabled, or not a
// symmetric encryption key. alias is the alias it was found by ("" when not
// known). ok false when the key is fine.
func keyStateDiagnosis(t Target, md *kmstypes.KeyMetadata, alias string) (Diagnosis, bool) {
	arn := aws.ToString(md.Arn)
	where := fmt.Sprintf("key %s in account %s, %s", arn, accountOfARN(arn), t.Region)
	other := "or name another symmetric encryption key"
	switch {
	case t.KeyARN != "":
		other = "or set key_arn to another symmetric encryption key"
	case alias != "":
		where = fmt.Sprintf("key %s (%s) in account %s, %s", arn, alias, accountOfARN(arn), t.Region)
		other = fmt.Sprintf("or point %s at another symmetric encryption key (or delete the alias so amicrypt creates one)", alias)
	}
	switch {
	case md.KeySpec != kmstypes.KeySpecSymmetricDefault || md.KeyUsage != kmstypes.KeyUsageTypeEncryptDecrypt:
		return Diagnosis{
			Code:  F5,
			Cause: fmt.Sprintf("%s is a %s key for %s; EBS encrypts only with symmetric encryption keys (SYMMETRIC_DEFAULT, ENCRYPT_DECRYPT)", where, md.KeySpec, md.KeyUsage),
			Fix:   "Name a symmetric encryption key: " + strings.TrimPrefix(other, "or ") + "; then replay the target.",
		}, true
	case md.KeyState == kmstypes.KeyStateDisabled:
		return Diagnosis{
			Code:  F5,
			Cause: where + " is disabled",
			Fix:   fmt.Sprintf("Enable it (aws kms enable-key --key-id %s --region %s), %s; then replay the target.", arn, t.Region, other),
		}, true
	case md.KeyState == kmstypes.KeyStatePendingDeletion || md.KeyState == kmstypes.KeyStatePendingReplicaDeletion:
		return Diagnosis{
			Code:  F5,
			Cause: where + " is pending deletion",
			Fix: fmt.Sprintf("Cancel its deletion and enable it (aws kms cancel-key-deletion --key-id %s --region %s; aws kms enable-key --key-id %s --region %s), %s; then replay the target.",
				arn, t.Region, arn, t.Region, other),
		}, true
	case md.KeyState != kmstypes.KeyStateEnabled:
		return Diagnosis{
			Code:  F5,
			Cause: fmt.Sprintf("%s is %s, not Enabled", where, md.KeyState),
			Fix:   fmt.Sprintf("Wait until it is Enabled, %s; then replay the target.", other),
		}, true
	}
	return Diagnosis{}, false
}

// keyUseDiagnosis explains why the service-linked role (or EC2 for amicrypt)
// could not use the key: F6 for another account's key, F5 for a key that is
// not usable, F2/F3 from the actual key policy otherwise. observed is what AWS
// said (a scaling activity's message, a copy's state reason).
func (a *Activities) keyUseDiagnosis(ctx context.Context, t Target, keyARN, slrARN, observed string) Diagnosis {
	if slrARN == "" {
		slrARN = t.ServiceLinkedRoleARN()
	}
	acc := targetAccess(t)
	kc := a.clients.KMS(acc)
	if md, err := kc.DescribeKey(ctx, &kms.DescribeKeyInput{KeyId: aws.String(keyARN)}); err == nil && md.KeyMetadata != nil {
		if d, bad := keyStateDiagnosis(t, md.KeyMetadata, ""); bad {
			d.Cause += observedSuffix(observed)
			return d
		}
	}
	if owner := accountOfARN(keyARN); owner != "" && owner != t.Account {
		return crossAccountKeyDiagnosis(t, keyARN, slrARN, observed)
	}
	doc, readErr := a.keyPolicy(ctx, kc, keyARN)
	grants, _ := a.keyGrants(ctx, kc, keyARN)
	return slrKeyDiagnosis(t, keyARN, slrARN, doc, grants, readErr, observed)
}
