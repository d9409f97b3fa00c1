package sandbox

import (
	"fmt"

	"github.com/amicrypt/amicrypt/internal/sandbox/wire"
)

// Error constructors with AWS's codes and messages. Each service spells the same
// idea differently (EC2 "InvalidParameterValue", query services "ValidationError",
// JSON services "ValidationException"); handlers pick the one their service uses.

func apiErr(code, format string, args ...any) *wire.APIError {
	return &wire.APIError{Code: code, Message: fmt.Sprintf(format, args...)}
}

func apiErrStatus(status int, code, format string, args ...any) *wire.APIError {
	return &wire.APIError{Code: code, Message: fmt.Sprintf(format, args...), Status: status}
}

// notFound is KMS's NotFoundException.
func notFound(msg string) *wire.APIError {
	return &wire.APIError{Code: "NotFoundException", Message: msg}
}

// errValidation is KMS's / SSM's ValidationException for a named parameter.
func errValidation(param, problem string) *wire.APIError {
	return &wire.APIError{Code: "ValidationException", Message: fmt.Sprintf("1 validation error detected: Value at '%s' failed to satisfy constraint: %s", lowerFirst(param), problem)}
}

func lowerFirst(s string) string {
	if s == "" {
		return s
	}
	b := []byte(s)
	if b[0] >= 'A' && b[0] <= 'Z' {
		b[0] += 'a' - 'A'
	}
	return string(b)
}

// accessDenied renders an authorization failure the way each service words it.
func accessDenied(service, callerARN, action, resource, why string) *wire.APIError {
	switch service {
	case "ec2":
		return &wire.APIError{Code: "UnauthorizedOperation", Message: fmt.Sprintf("You are not authorized to perform this operation. User: %s is not authorized to perform: %s on resource: %s because %s", callerARN, action, resource, why), Status: 403}
	case "kms", "ssm":
		return &wire.APIError{Code: "AccessDeniedException", Message: fmt.Sprintf("User: %s is not authorized to perform: %s on resource: %s because %s", callerARN, action, resource, why)}
	case "organizations":
		// Organizations' AccessDeniedException has no HTTP status in its model: 400.
		return &wire.APIError{Code: "AccessDeniedException", Message: fmt.Sprintf("User: %s is not authorized to perform: %s on resource: %s because %s", callerARN, action, resource, why)}
	case "cloudtrail":
		// CloudTrail's AccessDeniedException is HTTP 403 (its Smithy model).
		return &wire.APIError{Code: "AccessDeniedException", Message: fmt.Sprintf("User: %s is not authorized to perform: %s on resource: %s because %s", callerARN, action, resource, why), Status: 403}
	default:
		return &wire.APIError{Code: "AccessDenied", Message: fmt.Sprintf("User: %s is not authorized to perform: %s on resource: %s because %s", callerARN, action, resource, why), Status: 403}
	}
}

// throttled renders a rate-limit refusal with each service's code.
func throttled(service string) *wire.APIError {
	switch service {
	case "ec2":
		return &wire.APIError{Code: "RequestLimitExceeded", Message: "Request limit exceeded.", Status: 503, Retryable: true}
	case "kms", "ssm", "cloudtrail":
		return &wire.APIError{Code: "ThrottlingException", Message: "Rate exceeded", Status: 400, Retryable: true}
	case "organizations":
		return &wire.APIError{Code: "TooManyRequestsException", Message: "AWS Organizations can't complete your request because it exceeded the allowed rate.", Status: 400, Retryable: true}
	default:
		return &wire.APIError{Code: "Throttling", Message: "Rate exceeded", Status: 400, Retryable: true}
	}
}

// lostResponse answers a call that was applied but whose response is lost:
// the service's internal error, HTTP 500. EC2, KMS, SSM and IAM model one;
// STS and Auto Scaling answer the common error of query APIs, InternalFailure.
// Unknown in AWS's documentation: what a caller sees when AWS applies a call
// and fails to answer it (a 500, a reset connection, a timeout); the sandbox
// answers the 500, which every SDK retries.
func lostResponse(service string) *wire.APIError {
	switch service {
	case "ec2":
		return &wire.APIError{Code: "InternalError", Message: "An internal error has occurred", Status: 500, Retryable: true}
	case "kms":
		return &wire.APIError{Code: "KMSInternalException", Message: "An internal error has occurred", Status: 500, Retryable: true}
	case "ssm":
		return &wire.APIError{Code: "InternalServerError", Message: "An internal error has occurred", Status: 500, Retryable: true}
	case "iam":
		return &wire.APIError{Code: "ServiceFailure", Message: "The request processing has failed because of an unknown error, exception or failure.", Status: 500, Retryable: true}
	case "organizations":
		return &wire.APIError{Code: "ServiceException", Message: "AWS Organizations can't complete your request because of an internal service error.", Status: 500, Retryable: true}
	default:
		return &wire.APIError{Code: "InternalFailure", Message: "The request processing has failed because of an unknown error, exception or failure.", Status: 500, Retryable: true}
	}
}

// internalError is the injected server-side fault (error_rate).
func internalError(service string) *wire.APIError {
	switch service {
	case "ec2":
		return &wire.APIError{Code: "InternalError", Message: "An internal error has occurred", Status: 500, Retryable: true}
	case "kms":
		return &wire.APIError{Code: "KMSInternalException", Message: "An internal error has occurred", Status: 500, Retryable: true}
	case "ssm":
		return &wire.APIError{Code: "InternalServerError", Message: "An internal error has occurred", Status: 500, Retryable: true}
	case "organizations":
		return &wire.APIError{Code: "ServiceException", Message: "AWS Organizations can't complete your request because of an internal service error.", Status: 500, Retryable: true}
	default:
		return &wire.APIError{Code: "ServiceUnavailable", Message: "Service is unavailable", Status: 503, Retryable: true}
	}
}
