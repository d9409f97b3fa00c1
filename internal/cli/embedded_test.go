package cli

import (
	"context"

	"github.com/amicrypt/amicrypt/internal/devserver"
)

// The tests run 'dev' and 'demo' as the amicrypt binary does.
func init() {
	UseEmbeddedTemporal(func(ctx context.Context, o TemporalOptions) (EmbeddedTemporal, error) {
		s, err := devserver.Start(ctx, devserver.Options{StateDir: o.StateDir, Address: o.Address, UIAddress: o.UIAddress, Namespace: o.Namespace, Logger: o.Logger})
		if err != nil {
			return nil, err
		}
		return s, nil
	})
}
