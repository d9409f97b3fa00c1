// Package cli holds amicrypt's commands; cmd/amicrypt only calls Main.
package cli

import (
	"context"
	"errors"
	"fmt"
	"io"
	"os"
	"os/signal"
	"strings"
	"syscall"

	"github.com/rs/zerolog"
	"github.com/spf13/cobra"

	"github.com/amicrypt/amicrypt/internal/temporalconn"
)

// Version is set at build time with -ldflags "-X .../internal/cli.Version=...".
var Version = "dev"

// exitError carries an exit code through cobra.
type exitError struct {
	code int
	err  error
}

func (e *exitError) Error() string { return e.err.Error() }
func (e *exitError) Unwrap() error { return e.err }

// usageError marks bad input: exit code 2, nothing created.
func usageError(format string, args ...any) error {
	return &exitError{code: 2, err: fmt.Errorf(format, args...)}
}

type globalFlags struct {
	logLevel  string
	logFormat string
}

// Main runs the command line and returns the process exit code.
func Main(args []string, stdout, stderr io.Writer) int {
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
	defer stop()
	root := newRoot(stdout, stderr)
	root.SetArgs(args)
	err := root.ExecuteContext(ctx)
	if err == nil {
		return 0
	}
	fmt.Fprintln(stderr, "amicrypt:", err)
	var ee *exitError
	if errors.As(err, &ee) {
		return ee.code
	}
	var bad *temporalconn.SettingError
	if errors.As(err, &bad) {
		return 2 // a connection setting: bad input, nothing contacted
	}
	if strings.HasPrefix(err.Error(), "unknown command") || strings.Contains(err.Error(), "arg(s)") {
		return 2 // cobra's own usage errors
	}
	return 1
}

func newRoot(stdout, stderr io.Writer) *cobra.Command {
	g := &globalFlags{}
	root := &cobra.Command{
		Use:   "amicrypt",
		Short: "Copy one unencrypted AMI into every account and region, encrypted with each account's own KMS key, and prove it boots",
		Long: `amicrypt turns one unencrypted AMI, built by Packer in a builder account, into a
private AMI in every target AWS account and region, each encrypted with a KMS key
dedicated to that account, and proves each one boots through an Auto Scaling group.

Without AWS at hand, 'amicrypt sandbox' serves a local AWS-compatible endpoint
(EC2, KMS, IAM, STS, Auto Scaling, SSM) that models accounts, key policies,
grants and the Auto Scaling service-linked role, so a rollout can be rehearsed
and its failures reproduced.`,
		SilenceUsage:  true,
		SilenceErrors: true,
		Version:       Version,
	}
	root.SetFlagErrorFunc(func(c *cobra.Command, err error) error {
		return usageError("%v (see '%s --help')", err, c.CommandPath())
	})
	root.SetOut(stdout)
	root.SetErr(stderr)
	root.PersistentFlags().StringVar(&g.logLevel, "log-level", envOr("AMICRYPT_LOG_LEVEL", "info"), "log level: debug, info, warn, error (env AMICRYPT_LOG_LEVEL)")
	root.PersistentFlags().StringVar(&g.logFormat, "log-format", envOr("AMICRYPT_LOG_FORMAT", "console"), "log format: console or json (env AMICRYPT_LOG_FORMAT)")
	root.AddCommand(newSandboxCmd(g))
	root.AddCommand(newDevCmd(g))
	root.AddCommand(newWorkerCmd(g))
	root.AddCommand(newPlanCmd(g), newRunCmd(g), newStatusCmd(g), newListCmd(g), newCancelCmd(g), newReplayCmd(g), newDemoCmd(g))
	root.AddCommand(newRotateCmd(g), newSweepCmd(g), newScheduleCmd(g), newCodecServerCmd(g))
	return root
}

func envOr(name, def string) string {
	if v := os.Getenv(name); v != "" {
		return v
	}
	return def
}

// logger builds the zerolog logger the flags ask for, writing to stderr.
func (g *globalFlags) logger(stderr io.Writer) (zerolog.Logger, error) {
	level, err := zerolog.ParseLevel(g.logLevel)
	if err != nil || g.logLevel == "" {
		return zerolog.Nop(), usageError("--log-level %q is not one of debug, info, warn, error", g.logLevel)
	}
	var w io.Writer
	switch g.logFormat {
	case "json":
		w = stderr
	case "console":
		w = zerolog.ConsoleWriter{Out: stderr, TimeFormat: "15:04:05", NoColor: !isTerminal(stderr)}
	default:
		return zerolog.Nop(), usageError("--log-format %q is not one of console, json", g.logFormat)
	}
	return zerolog.New(w).Level(level).With().Timestamp().Logger(), nil
}

// isTerminal reports whether w is a terminal (colour only there).
func isTerminal(w io.Writer) bool {
	f, ok := w.(*os.File)
	if !ok {
		return false
	}
	st, err := f.Stat()
	return err == nil && st.Mode()&os.ModeCharDevice != 0
}
