// Command amicrypt turns one unencrypted AMI into a private, encrypted AMI in
// every target account and region, and proves each one boots. See the README.
package main

import (
	"os"

	"github.com/amicrypt/amicrypt/internal/cli"
)

func main() {
	os.Exit(cli.Main(os.Args[1:], os.Stdout, os.Stderr))
}
