// Command amicrypt turns one unencrypted AMI into a private, encrypted AMI in
// every target account and region, and proves each one boots. See the README.
// This binary embeds a Temporal dev server for 'dev' and 'demo';
// cmd/amicrypt-worker is the same commands without it.
package main

import (
	"context"
	"os"

	"github.com/amicrypt/amicrypt/internal/cli"
	"github.com/amicrypt/amicrypt/internal/devserver"
)

func main() {
	cli.UseEmbeddedTemporal(startTemporal)
	os.Exit(cli.Main(os.Args[1:], os.Stdout, os.Stderr))
}

func startTemporal(ctx context.Context, o cli.TemporalOptions) (cli.EmbeddedTemporal, error) {
	s, err := devserver.Start(ctx, devserver.Options{StateDir: o.StateDir, Address: o.Address, UIAddress: o.UIAddress, Namespace: o.Namespace, Logger: o.Logger})
	if err != nil {
		return nil, err
	}
	return s, nil
}
