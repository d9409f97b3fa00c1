//go:build tools

// Package pins keeps the modules amicrypt's next parts are built on (the
// Temporal SDK and server with its web UI for the embedded dev server, and the
// Packer plugin SDK) pinned in go.mod at versions that resolve together here
// (see ../shared/TOOLCHAIN.md), before any code imports them. The build tag
// keeps it out of every build and test, so it costs no compile time.
package pins

import (
	_ "github.com/hashicorp/packer-plugin-sdk/plugin"
	_ "github.com/temporalio/ui-server/v2/server"
	_ "go.temporal.io/sdk/client"
	_ "go.temporal.io/server/temporal"
)
