// Command packer-plugin-amicrypt is amicrypt's Packer plugin: one
// post-processor, "amicrypt", that hands the AMIs an amazon builder made to
// amicrypt's pipeline (through Temporal) and returns an artifact listing the
// encrypted AMI of every target account and region.
//
//	packer plugins install --path packer-plugin-amicrypt github.com/amicrypt/amicrypt
package main

import (
	"fmt"
	"os"

	"github.com/hashicorp/packer-plugin-sdk/plugin"

	"github.com/amicrypt/amicrypt/packer-plugin/post-processor/amicrypt"
	"github.com/amicrypt/amicrypt/packer-plugin/version"
)

func main() {
	pps := plugin.NewSet()
	pps.RegisterPostProcessor(plugin.DEFAULT_NAME, new(amicrypt.PostProcessor))
	pps.SetVersion(version.PluginVersion)
	if err := pps.Run(); err != nil {
		fmt.Fprintln(os.Stderr, err.Error())
		os.Exit(1)
	}
}
