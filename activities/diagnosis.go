package activities

import (
	"errors"
	"fmt"

	"go.temporal.io/sdk/temporal"
)

// Diagnosis codes: the failure modes of DESIGN.md, or "other".
const (
	F1 = "F1" // builder snapshots under the AWS managed key
	F2 = "F2" // key policy lacks the Auto Scaling service-linked role
	F3 = "F3" // custom-suffix service-linked role not in the key policy
	F4 = "F4" // principal without kms:CreateGrant (GrantIsForAWSResource)
	F5 = "F5" // asymmetric, disabled or pending-deletion key
	F6 = "F6" // key of another account, no grant for the service-linked role
	F7 = "F7" // target role cannot be assumed
	F8 = "F8" // root volume not under the dedicated key
	// What a plan also predicts, beyond DESIGN.md's failure modes.
	SourceUnusable = "source"       // source missing, instance-store backed
	Architecture   = "architecture" // boot-proof instance type cannot run the image
	NoSubnet       = "subnet"       // no subnet for the boot proof
	Quota          = "quota"        // an AWS quota the run would exceed
	// An account the worker may not serve (its --allow-accounts).
	NotAllowed = "not-allowed"
	Other      = "other"
)

// Diagnosis explains a failure: which known failure it is, its cause in one
// line naming account, region and resource, and the fix (for a key policy, the
// JSON statements to add; for F6 the CreateGrant call).
type Diagnosis struct {
	Code  string `json:"code"`
	Cause string `json:"cause"`
	Fix   string `json:"fix"`
	// Step is the target step that failed (assume-role, key, copy,
	// wait-available, boot-proof, ...), when an activity runs several.
	Step string `json:"step,omitempty"`
}

func (d Diagnosis) String() string {
	return fmt.Sprintf("%s: %s. Fix: %s", d.Code, d.Cause, d.Fix)
}

// ErrorType is the Temporal application error type of a diagnosed failure:
// "amicrypt.F2" and so on. All of them are non-retryable.
func ErrorType(code string) string { return "amicrypt." + code }

// NonRetryableErrorTypes lists every diagnosed error type, for retry policies.
func NonRetryableErrorTypes() []string {
	codes := []string{F1, F2, F3, F4, F5, F6, F7, F8, SourceUnusable, Architecture, NoSubnet, Quota, NotAllowed, Other}
	out := make([]string, 0, len(codes))
	for _, c := range codes {
		out = append(out, ErrorType(c))
	}
	return out
}

// Diagnosed returns a non-retryable Temporal error carrying the diagnosis.
func Diagnosed(d Diagnosis, cause error) error {
	return temporal.NewNonRetryableApplicationError(d.Cause, ErrorType(d.Code), cause, d)
}

// DiagnosisOf extracts the diagnosis an activity error carries (ok false when
// the error is not a diagnosed one).
func DiagnosisOf(err error) (Diagnosis, bool) {
	var appErr *temporal.ApplicationError
	if !errors.As(err, &appErr) || !appErr.HasDetails() {
		return Diagnosis{}, false
	}
	var d Diagnosis
	if appErr.Details(&d) != nil || d.Code == "" {
		return Diagnosis{}, false
	}
	return d, true
}

// atStep names the step a diagnosed error happened in (unless it already
// names one); other errors pass unchanged.
func atStep(step string, err error) error {
	d, ok := DiagnosisOf(err)
	if !ok || d.Step != "" {
		return err
	}
	d.Step = step
	var appErr *temporal.ApplicationError
	errors.As(err, &appErr)
	cause := appErr.Unwrap()
	if br, ok := BootResultOf(err); ok {
		return temporal.NewNonRetryableApplicationError(d.Cause, ErrorType(d.Code), cause, d, br)
	}
	return Diagnosed(d, cause)
}
