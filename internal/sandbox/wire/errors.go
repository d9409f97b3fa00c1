package wire

import (
	"bytes"
	"encoding/json"
	"errors"
	"fmt"
	"net/http"
	"strconv"
)

// APIError is the one error type handlers return. WriteError renders it the
// way the service does, so SDKs see ErrorCode() == Code.
type APIError struct {
	Code    string // e.g. "InvalidAMIID.NotFound", "NoSuchEntity", "NotFoundException"
	Message string
	// Status is the HTTP status. 0 means: the status the service model
	// declares for Code if any, else a well-known default for common codes
	// (e.g. 503 for RequestLimitExceeded), else 500 if Retryable, else 400.
	Status int
	// Retryable marks a server-side (Receiver, 5xx) failure. SDKs retry
	// 5xx statuses and throttling codes (Throttling, ThrottlingException,
	// RequestLimitExceeded, …) regardless of this flag.
	Retryable bool
	// Fields are further members of the error's shape, written beside the
	// message by the JSON protocol (Organizations' InvalidInputException
	// Reason); the XML protocols have no place for them and leave them out.
	Fields map[string]string
}

// Error implements error as "Code: Message".
func (e *APIError) Error() string {
	if e.Message == "" {
		return e.Code
	}
	return e.Code + ": " + e.Message
}

// ErrorCode returns Code (mirrors smithy.APIError).
func (e *APIError) ErrorCode() string { return e.Code }

// ErrorMessage returns Message (mirrors smithy.APIError).
func (e *APIError) ErrorMessage() string { return e.Message }

// Errorf returns a client (Sender, 4xx) error with a formatted message.
func Errorf(code, format string, args ...any) *APIError {
	return &APIError{Code: code, Message: fmt.Sprintf(format, args...)}
}

// InternalError returns a retryable 500 error with code "InternalError".
func InternalError(message string) *APIError {
	return &APIError{Code: "InternalError", Message: message, Status: http.StatusInternalServerError, Retryable: true}
}

// AsAPIError returns err as an *APIError: err itself (or one it wraps) when it
// is one, otherwise a retryable 500 InternalError carrying err's text.
// It returns nil for a nil err.
func AsAPIError(err error) *APIError {
	if err == nil {
		return nil
	}
	var ae *APIError
	if errors.As(err, &ae) {
		return ae
	}
	return InternalError(err.Error())
}

// wellKnownStatus holds HTTP statuses of common codes the models do not declare.
var wellKnownStatus = map[string]int{
	"RequestLimitExceeded":        http.StatusServiceUnavailable,
	"ServiceUnavailable":          http.StatusServiceUnavailable,
	"Unavailable":                 http.StatusServiceUnavailable,
	"InternalError":               http.StatusInternalServerError,
	"InternalFailure":             http.StatusInternalServerError,
	"ServiceFailure":              http.StatusInternalServerError,
	"KMSInternalException":        http.StatusInternalServerError,
	"InternalServerError":         http.StatusInternalServerError,
	"AccessDenied":                http.StatusForbidden,
	"MissingAuthenticationToken":  http.StatusForbidden,
	"InvalidClientTokenId":        http.StatusForbidden,
	"SignatureDoesNotMatch":       http.StatusForbidden,
	"UnrecognizedClientException": http.StatusBadRequest,
	"AccessDeniedException":       http.StatusBadRequest,
}

// jsonMessageKey is the error message member of JSON services that do not
// use "message" (see WriteError).
var jsonMessageKey = map[string]string{"cloudtrail": "Message"}

// HTTPStatus is the status WriteError uses for e on service s (s may be nil).
func (s *Service) HTTPStatus(e *APIError) int {
	if e.Status != 0 {
		return e.Status
	}
	if s != nil {
		if st, ok := s.ErrorStatus(e.Code); ok {
			return st
		}
	}
	if st, ok := wellKnownStatus[e.Code]; ok {
		return st
	}
	if e.Retryable {
		return http.StatusInternalServerError
	}
	return http.StatusBadRequest
}

// WriteError renders e as the service's protocol does:
//
//	ec2:   <Response><Errors><Error><Code/><Message/></Error></Errors><RequestID/></Response>
//	query: <ErrorResponse xmlns=NS><Error><Type>Sender|Receiver</Type><Code/><Message/></Error><RequestId/></ErrorResponse>
//	json:  {"__type":"Code","message":"…"} with X-Amzn-ErrorType: Code
//
// Every response also carries the x-amzn-RequestId header.
//
// The member holding a JSON service's error message is "message" for KMS and
// SSM (their models' exception shapes) and "Message" for CloudTrail, whose
// botocore exceptions declare no member but whose Smithy model (what
// aws-sdk-go-v2 decodes errors with) names it Message, as its error snapshots
// show.
func (s *Service) WriteError(w http.ResponseWriter, e *APIError, requestID string) {
	if e == nil {
		e = InternalError("nil error")
	}
	status := s.HTTPStatus(e)
	var body []byte
	var ctype string
	switch s.Protocol {
	case ProtocolJSON:
		key := "message"
		if k, ok := jsonMessageKey[s.Name]; ok {
			key = k
		}
		doc := map[string]string{}
		for k, v := range e.Fields {
			doc[k] = v
		}
		doc["__type"], doc[key] = e.Code, e.Message
		b, _ := json.Marshal(doc)
		body, ctype = b, "application/x-amz-json-"+s.JSONVersion
		w.Header().Set("X-Amzn-ErrorType", e.Code)
	case ProtocolEC2:
		var b bytes.Buffer
		b.WriteString(xmlHeader)
		b.WriteString("<Response><Errors><Error><Code>")
		escape(&b, e.Code)
		b.WriteString("</Code><Message>")
		escape(&b, e.Message)
		b.WriteString("</Message></Error></Errors><RequestID>")
		escape(&b, requestID)
		b.WriteString("</RequestID></Response>")
		body, ctype = b.Bytes(), "text/xml;charset=UTF-8"
	default:
		fault := "Sender"
		if e.Retryable || status >= 500 {
			fault = "Receiver"
		}
		var b bytes.Buffer
		b.WriteString(xmlHeader)
		b.WriteString(`<ErrorResponse xmlns="`)
		escape(&b, s.XMLNamespace)
		b.WriteString(`"><Error><Type>`)
		b.WriteString(fault)
		b.WriteString("</Type><Code>")
		escape(&b, e.Code)
		b.WriteString("</Code><Message>")
		escape(&b, e.Message)
		b.WriteString("</Message></Error><RequestId>")
		escape(&b, requestID)
		b.WriteString("</RequestId></ErrorResponse>")
		body, ctype = b.Bytes(), "text/xml"
	}
	writeBody(w, status, ctype, requestID, body)
}

func writeBody(w http.ResponseWriter, status int, ctype, requestID string, body []byte) {
	h := w.Header()
	h.Set("Content-Type", ctype)
	h.Set("Content-Length", strconv.Itoa(len(body)))
	if requestID != "" {
		h.Set("X-Amzn-RequestId", requestID)
	}
	w.WriteHeader(status)
	_, _ = w.Write(body)
}

// Error codes and helpers used by the decoders.

func (s *Service) missingParam(path string) *APIError {
	switch s.Protocol {
	case ProtocolEC2:
		return &APIError{Code: "MissingParameter", Message: "The request must contain the parameter " + path}
	case ProtocolQuery:
		return &APIError{Code: "ValidationError", Message: fmt.Sprintf(
			"1 validation error detected: Value null at '%s' failed to satisfy constraint: Member must not be null", path)}
	default:
		return &APIError{Code: "ValidationException", Message: fmt.Sprintf(
			"1 validation error detected: Value null at '%s' failed to satisfy constraint: Member must not be null", path)}
	}
}

func (s *Service) invalidParam(path, value, typ string) *APIError {
	if len(value) > 64 {
		value = value[:64] + "…"
	}
	switch s.Protocol {
	case ProtocolEC2:
		return &APIError{Code: "InvalidParameterValue", Message: fmt.Sprintf(
			"Value (%s) for parameter %s is invalid. Expected a valid %s.", value, path, typ)}
	case ProtocolQuery:
		return &APIError{Code: "ValidationError", Message: fmt.Sprintf(
			"1 validation error detected: Value '%s' at '%s' failed to satisfy constraint: Member must be a valid %s", value, path, typ)}
	default:
		return &APIError{Code: "ValidationException", Message: fmt.Sprintf(
			"1 validation error detected: Value '%s' at '%s' failed to satisfy constraint: Member must be a valid %s", value, path, typ)}
	}
}

func (s *Service) unknownOperation(name string) *APIError {
	switch s.Protocol {
	case ProtocolJSON:
		if name == "" {
			return &APIError{Code: "UnknownOperationException", Message: "Missing or malformed X-Amz-Target header"}
		}
		return &APIError{Code: "UnknownOperationException", Message: "Unknown operation " + name}
	default:
		if name == "" {
			return &APIError{Code: "InvalidAction", Message: "The request must contain the parameter Action"}
		}
		return &APIError{Code: "InvalidAction", Message: fmt.Sprintf(
			"The action %s is not valid for this web service (%s %s).", name, s.ServiceID, s.APIVersion)}
	}
}
