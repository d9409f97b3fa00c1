package cli

import (
	"context"
	"errors"

	"github.com/rs/zerolog"
	"go.temporal.io/sdk/client"

	"github.com/amicrypt/amicrypt/internal/temporalconn"
	"github.com/amicrypt/amicrypt/worker"
)

// checkSearchAttributes refuses a namespace without amicrypt's search
// attributes (a *worker.SearchAttributesError naming the commands that
// create them); when the attributes cannot be read (a cluster may not let
// this identity call the operator service), it logs a warning and lets the
// caller go on.
func checkSearchAttributes(ctx context.Context, c client.Client, conn temporalconn.Options, log zerolog.Logger) error {
	err := worker.CheckSearchAttributes(ctx, c, conn.Namespace, commandAddress(conn.Address))
	var missing *worker.SearchAttributesError
	if err == nil || errors.As(err, &missing) {
		return err
	}
	log.Warn().Err(err).Str("namespace", conn.Namespace).
		Msg("cannot check that the namespace has amicrypt's search attributes (temporal operator search-attribute list shows them): a workflow setting one it lacks waits until it is created")
	return nil
}

// commandAddress is the --address a Temporal CLI command needs: none for
// the CLI's default, the same as ours.
func commandAddress(addr string) string {
	if addr == temporalconn.DefaultAddress {
		return ""
	}
	return addr
}
