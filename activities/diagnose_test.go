package activities

import (
	"errors"
	"fmt"
	"strings"
	"testing"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/smithy-go"
)

func TestDiagnoseKeepsThrottlingAndServerErrorsRetryable(t *testing.T) {
	w := where{Account: payments, Region: region, Resource: "image ami-1"}
	for _, code := range []string{"RequestLimitExceeded", "ThrottlingException", "Throttling", "InternalError", "ServiceUnavailable", "ResourceLimitExceeded"} {
		err := fmt.Errorf("copying, %w", &smithy.GenericAPIError{Code: code, Message: "slow down"})
		if got := diagnose(err, "ec2:CopyImage", w); got != err {
			t.Errorf("%s: got %v, want the error itself (retryable)", code, got)
		}
		if _, ok := DiagnosisOf(diagnose(err, "ec2:CopyImage", w)); ok {
			t.Errorf("%s was diagnosed", code)
		}
	}
	if !IsThrottled(&smithy.GenericAPIError{Code: "RequestLimitExceeded"}) || IsThrottled(errors.New("x")) {
		t.Errorf("IsThrottled")
	}
}

func TestDiagnoseNamesCallAccountRegionAndMessage(t *testing.T) {
	w := where{Account: payments, Region: region, Resource: "image ami-1"}
	err := &smithy.GenericAPIError{Code: "UnauthorizedOperation", Message: "You are not authorized to perform this operation."}
	d, ok := DiagnosisOf(diagnose(err, "ec2:CopyImage", w))
	if !ok || d.Code != Other {
		t.Fatalf("got %+v", d)
	}
	for _, want := range []string{"ec2:CopyImage", payments, region, "ami-1", "not authorized"} {
		if !strings.Contains(d.Cause, want) {
			t.Errorf("cause lacks %q: %s", want, d.Cause)
		}
	}
	if !strings.Contains(d.Fix, "Allow ec2:CopyImage") {
		t.Errorf("fix: %s", d.Fix)
	}
}

func TestDiagnoseRecognisesF1AndKeyStates(t *testing.T) {
	w := where{Account: builderAcct, Region: region, Resource: "source image ami-1"}
	f1 := []error{
		&smithy.GenericAPIError{Code: "InvalidParameter", Message: "Snapshots encrypted with the AWS Managed CMK can't be shared. Specify another snapshot."},
		&smithy.GenericAPIError{Code: "InvalidRequest", Message: "Snapshot snap-1 is encrypted. Creating an unencrypted copy from an encrypted snapshot is not supported."},
	}
	for _, err := range f1 {
		if d, ok := DiagnosisOf(diagnose(err, "ec2:ModifyImageAttribute", w)); !ok || d.Code != F1 || !strings.Contains(d.Fix, "disable-ebs-encryption-by-default") {
			t.Errorf("%v: got %+v", err, d)
		}
	}
	err := &smithy.GenericAPIError{Code: "KMSInvalidStateException", Message: "arn:aws:kms:...:key/1 is pending deletion."}
	if d, ok := DiagnosisOf(diagnose(err, "kms:CreateGrant", w)); !ok || d.Code != F5 {
		t.Errorf("got %+v", d)
	}
}

func TestCopyNameFollowsAMINameRules(t *testing.T) {
	if got := copyName("base 2026/11:x*", "ami-1", ""); got != "base 2026/11-x--ami-1" {
		t.Errorf("got %q", got)
	}
	long := copyName(strings.Repeat("n", 200), "ami-0b0000000000a0001", "arn:aws:kms:us-east-1:1:key/k")
	if len(long) != 128 || !strings.HasSuffix(long, "-ami-0b0000000000a0001-"+long[len(long)-8:]) {
		t.Errorf("got %q (%d)", long, len(long))
	}
}

// A refusal of a call deploy/'s roles allow only under a condition names
// that condition: the publish path, the shareable tag.
func TestADeniedCallNamesTheConditionDeploysRolesPut(t *testing.T) {
	w := where{Account: payments, Region: region, Resource: "parameter /team/ami"}
	denied := &smithy.GenericAPIError{Code: "AccessDeniedException", Message: "not authorized to perform: ssm:GetParameter"}
	d, _ := DiagnosisOf(diagnose(denied, "ssm:GetParameter", w))
	if !strings.Contains(d.Fix, "PublishParameterPath") || !strings.Contains(d.Fix, "/amicrypt/") {
		t.Errorf("ssm:GetParameter refused: fix %q names no publish path", d.Fix)
	}
	d, _ = DiagnosisOf(diagnose(&smithy.GenericAPIError{Code: "UnauthorizedOperation", Message: "no"}, "ec2:ModifyImageAttribute", where{Account: "111111111111", Region: region}))
	if !strings.Contains(d.Fix, "amicrypt:shareable=true") {
		t.Errorf("ec2:ModifyImageAttribute refused: fix %q names no shareable tag", d.Fix)
	}
	d, _ = DiagnosisOf(diagnose(&smithy.GenericAPIError{Code: "UnauthorizedOperation", Message: "no"}, "ec2:CopyImage", w))
	if strings.Contains(d.Fix, "deploy/") {
		t.Errorf("ec2:CopyImage refused: fix %q names a condition of another call", d.Fix)
	}
}

// Credentials that expire between signing and AWS's reading of a request
// (a busy worker, seconds from expiry) are refreshed early and, when AWS
// refuses them anyway, retried: by the SDK's retryer signed anew, and by
// Temporal when the call's attempts run out — never a target's failure.
func TestCredentialsThatExpiredInFlightAreRetried(t *testing.T) {
	w := where{Account: builderAcct, Region: region, Resource: "source image ami-1"}
	f := NewClientFactory(aws.Config{Region: region}, ClientOptions{})
	for _, code := range []string{"ExpiredToken", "ExpiredTokenException", "RequestExpired"} {
		err := fmt.Errorf("unsharing, %w", &smithy.GenericAPIError{Code: code, Message: "The security token included in the request is expired"})
		if got := diagnose(err, "ec2:ModifySnapshotAttribute", w); got != err {
			t.Errorf("%s: diagnosed as %v, want the error itself (retryable)", code, got)
		}
		if !f.retryer().IsErrorRetryable(err) {
			t.Errorf("%s: the SDK's retryer gives up on it", code)
		}
	}
	if f.retryer().IsErrorRetryable(&smithy.GenericAPIError{Code: "AccessDenied"}) {
		t.Error("the retryer retries AccessDenied")
	}
	if CredentialsExpiryWindow < time.Minute {
		t.Errorf("credentials are refreshed %s before they expire; a busy worker takes seconds to send what it signed", CredentialsExpiryWindow)
	}
}
