package cli

import (
	"context"
	"errors"

	"github.com/rs/zerolog"
)

// EmbeddedTemporal is the embedded Temporal dev server that 'dev' and
// 'demo' start (internal/devserver). The cli package does not link it: the
// server is most of a binary's size and of its resident memory at start, and
// a worker in production has no use for it. cmd/amicrypt plugs it in with
// UseEmbeddedTemporal; cmd/amicrypt-worker does not.
type EmbeddedTemporal interface {
	FrontendAddress() string
	UIAddress() string
	UIURL() string
	// Quiet silences the server's own log before a stop.
	Quiet()
	Stop() error
}

// TemporalOptions configure the embedded server (see devserver.Options).
type TemporalOptions struct {
	StateDir  string
	Address   string
	UIAddress string
	Namespace string
	Logger    zerolog.Logger
}

// StartTemporal starts an embedded Temporal server.
type StartTemporal func(ctx context.Context, o TemporalOptions) (EmbeddedTemporal, error)

// startTemporal is what UseEmbeddedTemporal plugged in; nil in a binary
// without the server.
var startTemporal StartTemporal

// UseEmbeddedTemporal plugs in the embedded server for 'dev' and 'demo'.
func UseEmbeddedTemporal(start StartTemporal) { startTemporal = start }

// Default listen addresses of the embedded server.
const (
	defaultTemporalAddr = "127.0.0.1:7233"
	defaultUIAddr       = "127.0.0.1:8233"
)

var errNoEmbeddedTemporal = errors.New("this binary has no embedded Temporal server (amicrypt-worker is the worker alone): run 'amicrypt dev' or 'amicrypt demo' from the amicrypt binary, or point --temporal-address at a Temporal cluster")
