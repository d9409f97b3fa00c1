package wire

import (
	"context"
	"fmt"
	"net/http"
	"net/http/httptest"
	"sync"
	"testing"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	awsmiddleware "github.com/aws/aws-sdk-go-v2/aws/middleware"
	"github.com/aws/aws-sdk-go-v2/aws/retry"
	"github.com/aws/smithy-go/middleware"
)

func awsmiddlewareRequestID(md middleware.Metadata) (string, bool) {
	return awsmiddleware.GetRequestIDMetadata(md)
}

// handlerFunc is what a fake service does with a decoded request.
type handlerFunc func(op *Operation, in map[string]any) (map[string]any, error)

// fakeAWS is an httptest server answering one service with the wire codec.
type fakeAWS struct {
	*httptest.Server
	t    *testing.T
	svc  *Service // nil: all services
	mu   sync.Mutex
	seen []string // operation names, one per attempt
	fn   handlerFunc
}

// newFake starts a fake for one service, or for all services (routed with
// ServiceForRequest, like the sandbox) when service is "".
func newFake(t *testing.T, service string, fn handlerFunc) *fakeAWS {
	t.Helper()
	f := &fakeAWS{t: t, fn: fn}
	if service != "" {
		svc, err := Load(service)
		if err != nil {
			t.Fatal(err)
		}
		f.svc = svc
	}
	f.Server = httptest.NewServer(http.HandlerFunc(f.serve))
	t.Cleanup(f.Close)
	return f
}

func (f *fakeAWS) serve(w http.ResponseWriter, r *http.Request) {
	f.mu.Lock()
	n := len(f.seen)
	f.mu.Unlock()

	svc, err := ServiceForRequest(r)
	if err != nil {
		svc = f.svc
		if svc == nil {
			svc = MustLoad("sts")
		}
		svc.WriteError(w, &APIError{Code: "MissingAuthenticationToken", Message: err.Error(), Status: 403}, "req-unrouted")
		return
	}
	if f.svc != nil && svc != f.svc {
		f.t.Errorf("ServiceForRequest = %s, want %s", svc.Name, f.svc.Name)
	}
	reqID := fmt.Sprintf("req-%s-%d", svc.Name, n+1)
	sc, err := ParseCredentialScope(r)
	if err != nil || sc.Service != svc.SigningName || sc.Region != "us-east-1" || sc.AccessKeyID != testAKID {
		f.t.Errorf("credential scope = %+v, %v; want service %s", sc, err, svc.SigningName)
	}

	op, in, err := svc.DecodeRequest(r)
	name := "?"
	if op != nil {
		name = op.Name
	}
	f.mu.Lock()
	f.seen = append(f.seen, name)
	f.mu.Unlock()
	if err != nil {
		svc.WriteError(w, AsAPIError(err), reqID)
		return
	}
	out, err := f.fn(op, in)
	if err != nil {
		svc.WriteError(w, AsAPIError(err), reqID)
		return
	}
	if err := svc.WriteResponse(w, op, out, reqID); err != nil {
		f.t.Errorf("WriteResponse(%s): %v", op.Name, err)
		svc.WriteError(w, InternalError(err.Error()), reqID)
	}
}

func (f *fakeAWS) attempts() []string {
	f.mu.Lock()
	defer f.mu.Unlock()
	return append([]string(nil), f.seen...)
}

const testAKID = "AKIDWIRETEST"

var testCreds = aws.CredentialsProviderFunc(func(context.Context) (aws.Credentials, error) {
	return aws.Credentials{AccessKeyID: testAKID, SecretAccessKey: "secret", SessionToken: "session-token", Source: "test"}, nil
})

// noRetry is a retryer making exactly one attempt.
func noRetry() aws.Retryer {
	return retry.AddWithMaxAttempts(retry.NewStandard(), 1)
}

// fastRetry is the SDK's standard retryer (3 attempts) without backoff delay.
func fastRetry() aws.Retryer {
	return retry.NewStandard(func(o *retry.StandardOptions) {
		o.Backoff = retry.BackoffDelayerFunc(func(int, error) (time.Duration, error) { return 0, nil })
	})
}

func ctx(t *testing.T) context.Context {
	c, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	t.Cleanup(cancel)
	return c
}
