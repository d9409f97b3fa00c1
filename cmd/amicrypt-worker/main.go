// Command amicrypt-worker is amicrypt without the embedded Temporal server:
// the binary to deploy as a worker (and to run, status, replay against a
// Temporal cluster). It is a fraction of amicrypt's size and resident memory;
// 'dev' and 'demo' are amicrypt's alone.
package main

import (
	"os"

	"github.com/amicrypt/amicrypt/internal/cli"
)

func main() {
	os.Exit(cli.Main(os.Args[1:], os.Stdout, os.Stderr))
}
