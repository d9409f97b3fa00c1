package metrics

import (
	"context"
	"errors"
	"strings"

	awsmiddleware "github.com/aws/aws-sdk-go-v2/aws/middleware"
	"github.com/aws/aws-sdk-go-v2/aws/retry"
	"github.com/aws/smithy-go/middleware"
)

// awsMiddlewareID names the middleware in a client's stack.
const awsMiddlewareID = "amicrypt.Metrics"

// isThrottle is the SDK's own classification, the one its retryers use.
var isThrottle = retry.IsErrorThrottles(retry.DefaultThrottles)

// CountAWSCalls returns an aws-sdk-go-v2 API option (aws.Config.APIOptions)
// that counts every attempt of every call in AWSCalls, AWSThrottles and
// AWSErrors. It sits in the Finalize step right after the retry middleware,
// so it runs once per attempt: a call the SDK retried twice counts three.
// An error expected says is an answer, not a failure (not found, when
// amicrypt looks before it creates), is not counted as an error. A nil
// *Metrics adds nothing.
func (m *Metrics) CountAWSCalls(expected func(error) bool) func(*middleware.Stack) error {
	return func(stack *middleware.Stack) error {
		if m == nil {
			return nil
		}
		mw := middleware.FinalizeMiddlewareFunc(awsMiddlewareID, func(ctx context.Context, in middleware.FinalizeInput, next middleware.FinalizeHandler) (middleware.FinalizeOutput, middleware.Metadata, error) {
			out, md, err := next.HandleFinalize(ctx, in)
			failed := err
			if err != nil && expected != nil && expected(err) {
				failed = nil
			}
			m.awsAttempt(ServiceLabel(awsmiddleware.GetServiceID(ctx)), awsmiddleware.GetOperationName(ctx), failed)
			return out, md, err
		})
		if err := stack.Finalize.Insert(mw, (&retry.Attempt{}).ID(), middleware.After); err != nil {
			// A client without the retry middleware: each call is one attempt.
			return stack.Finalize.Add(mw, middleware.After)
		}
		return nil
	}
}

func (m *Metrics) awsAttempt(service, action string, err error) {
	m.awsCalls.WithLabelValues(service, action).Inc()
	if err == nil || errors.Is(err, context.Canceled) {
		return
	}
	m.awsErrors.WithLabelValues(service, action).Inc()
	if isThrottle.IsErrorThrottle(err).Bool() {
		m.awsThrottles.WithLabelValues(service, action).Inc()
	}
}

// ServiceLabel is the service label of an SDK service id: lower case
// without spaces, as IAM's action prefixes ("Auto Scaling" → autoscaling,
// "EC2" → ec2).
func ServiceLabel(serviceID string) string {
	return strings.ToLower(strings.ReplaceAll(serviceID, " ", ""))
}
