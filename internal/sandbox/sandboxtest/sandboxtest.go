// Package sandboxtest starts an AWS sandbox for other packages' tests.
package sandboxtest

import (
	"net/http/httptest"
	"testing"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/aws/retry"
	"github.com/aws/aws-sdk-go-v2/credentials"

	"github.com/amicrypt/amicrypt/internal/sandbox"
	"github.com/amicrypt/amicrypt/internal/sandbox/world"
)

// Sandbox is a sandbox serving on a local test HTTP server.
type Sandbox struct {
	*sandbox.Server
	URL   string
	World *world.World
}

// Start serves a world (YAML; empty: the default world) until the test ends.
// clock may be nil (wall clock).
func Start(t testing.TB, worldYAML string, clock func() time.Time) *Sandbox {
	t.Helper()
	w := world.Default()
	if worldYAML != "" {
		var err error
		if w, err = world.Parse([]byte(worldYAML), t.Name()+".yaml"); err != nil {
			t.Fatalf("world: %v", err)
		}
	}
	srv, err := sandbox.New(w, sandbox.Options{Clock: clock})
	if err != nil {
		t.Fatalf("sandbox: %v", err)
	}
	hs := httptest.NewServer(srv)
	t.Cleanup(hs.Close)
	return &Sandbox{Server: srv, URL: hs.URL, World: w}
}

// RootConfig is an aws.Config acting as an account's root user in a region.
func (s *Sandbox) RootConfig(account, region string) aws.Config {
	return aws.Config{
		Region:       region,
		Credentials:  credentials.NewStaticCredentialsProvider(account, "sandbox", ""),
		BaseEndpoint: aws.String(s.URL),
		Retryer:      func() aws.Retryer { return retry.NewStandard() },
	}
}
