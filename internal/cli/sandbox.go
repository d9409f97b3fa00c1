package cli

import (
	"crypto/rand"
	"fmt"
	"net"
	"os"
	"strings"

	"github.com/spf13/cobra"

	"github.com/amicrypt/amicrypt/internal/sandbox"
	"github.com/amicrypt/amicrypt/internal/sandbox/world"
)

type sandboxFlags struct {
	world     string
	addr      string
	stateFile string
	check     bool
	json      bool
}

func newSandboxCmd(g *globalFlags) *cobra.Command {
	f := &sandboxFlags{}
	cmd := &cobra.Command{
		Use:   "sandbox",
		Short: "Serve a local AWS-compatible endpoint (EC2, KMS, IAM, STS, Auto Scaling, SSM) built from a world file",
		Long: `Serve the AWS sandbox: one HTTP address that answers EC2, KMS, IAM, STS, Auto Scaling
and SSM as AWS does on the wire, modelling the accounts, regions, AMIs, KMS keys
(with policies and grants) and service-linked roles of a world file. Launches
succeed or fail exactly when AWS would let them: an Auto Scaling group whose
service-linked role may not use the AMI's key fails with
"Client.InternalError: Client error on launch".

Credentials: an access key id that is a 12-digit account id acts as that
account's root user (any secret). sts:AssumeRole checks the role's trust policy
and hands out temporary credentials bound to the role.

Admin endpoints (never AWS paths): GET /_sandbox/state, GET /_sandbox/counters,
GET|PUT /_sandbox/behaviour, POST /_sandbox/reset. They answer only requests
whose Host is the address the sandbox listens on (localhost too, on loopback),
so a web page cannot reset the world; with --addr beyond loopback they also
need the token printed at start, in the X-Sandbox-Admin-Token header.`,
		Example: `  amicrypt sandbox                               # the default world on 127.0.0.1:4566
  amicrypt sandbox --world org.yaml --state .state/sandbox.json
  amicrypt sandbox --world org.yaml --check      # validate the world file and exit
  amicrypt sandbox default-world > org.yaml      # start from the default world

  # then, in another shell:
  AWS_ENDPOINT_URL=http://127.0.0.1:4566 AWS_ACCESS_KEY_ID=222222222222 \
  AWS_SECRET_ACCESS_KEY=x AWS_DEFAULT_REGION=us-east-1 aws ec2 describe-images --owners self`,
		Args: cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			log, err := g.logger(cmd.ErrOrStderr())
			if err != nil {
				return err
			}
			w, err := loadWorld(f.world)
			if err != nil {
				return err
			}
			if f.check {
				return printSummary(cmd, w, f.json, "")
			}
			ln, err := net.Listen("tcp", f.addr)
			if err != nil {
				return usageError("cannot listen on --addr %s: %v", f.addr, err)
			}
			// Beyond loopback, other machines reach the admin endpoints:
			// they then need a token, made here and printed once.
			var token string
			if tcp, ok := ln.Addr().(*net.TCPAddr); ok && !tcp.IP.IsLoopback() {
				token = rand.Text()
			}
			srv, err := sandbox.New(w, sandbox.Options{StateFile: f.stateFile, Logger: log, AdminToken: token})
			if err != nil {
				ln.Close()
				return err
			}
			endpoint := "http://" + ln.Addr().String()
			if err := printSummary(cmd, w, f.json, endpoint); err != nil {
				return err
			}
			if token != "" {
				fmt.Fprintf(cmd.ErrOrStderr(), "admin endpoints (/_sandbox/...) on %s need the header %s: %s\n", ln.Addr(), sandbox.AdminTokenHeader, token)
			}
			log.Info().Str("endpoint", endpoint).Msg("sandbox serving; Ctrl-C stops it")
			return srv.Serve(cmd.Context(), ln)
		},
	}
	cmd.Flags().StringVar(&f.world, "world", "", "world file (YAML); empty: the default world (see 'amicrypt sandbox default-world')")
	cmd.Flags().StringVar(&f.addr, "addr", "127.0.0.1:4566", "listen address")
	cmd.Flags().StringVar(&f.stateFile, "state", "", "persist the state in this file across restarts (loaded if it exists)")
	cmd.Flags().BoolVar(&f.check, "check", false, "validate the world file, print its summary and exit")
	cmd.Flags().BoolVar(&f.json, "json", false, "print the summary as JSON")
	cmd.AddCommand(&cobra.Command{
		Use:   "default-world",
		Short: "Print the default world file, to copy and adapt",
		Args:  cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			_, err := cmd.OutOrStdout().Write(world.DefaultYAML())
			return err
		},
	})
	return cmd
}

func loadWorld(path string) (*world.World, error) {
	if path == "" {
		return world.Default(), nil
	}
	if _, err := os.Stat(path); err != nil {
		return nil, usageError("--world %s: %v", path, err)
	}
	w, err := world.Load(path)
	if err != nil {
		return nil, usageError("the world file is not valid, the sandbox did not start:\n%v", err)
	}
	return w, nil
}

// printSummary tells the user what the sandbox serves and how to point clients at it.
func printSummary(cmd *cobra.Command, w *world.World, asJSON bool, endpoint string) error {
	out := cmd.OutOrStdout()
	type acct struct {
		ID     string `json:"id"`
		Name   string `json:"name,omitempty"`
		Images int    `json:"images"`
		Keys   int    `json:"keys"`
	}
	summary := struct {
		Endpoint string   `json:"endpoint,omitempty"`
		Regions  []string `json:"regions"`
		Accounts []acct   `json:"accounts"`
	}{Endpoint: endpoint, Regions: w.Regions}
	for _, a := range w.Accounts {
		summary.Accounts = append(summary.Accounts, acct{ID: a.ID, Name: a.Name, Images: len(a.Images), Keys: len(a.Keys)})
	}
	if asJSON {
		return writeJSON(out, summary)
	}
	if endpoint != "" {
		fmt.Fprintf(out, "AWS sandbox at %s\n", endpoint)
	} else {
		fmt.Fprintln(out, "world file is valid")
	}
	fmt.Fprintf(out, "regions: %s\n", strings.Join(w.Regions, ", "))
	for _, a := range summary.Accounts {
		fmt.Fprintf(out, "  account %s %-16s %d images, %d keys\n", a.ID, a.Name, a.Images, a.Keys)
	}
	if endpoint != "" && len(summary.Accounts) > 0 {
		example := summary.Accounts[0]
		for _, a := range summary.Accounts {
			if a.Name != "amazon" {
				example = a
				break
			}
		}
		fmt.Fprintf(out, "\nAct as an account's root user (any 12-digit account id of the world; any secret):\n")
		fmt.Fprintf(out, "export AWS_ENDPOINT_URL=%s AWS_ACCESS_KEY_ID=%s AWS_SECRET_ACCESS_KEY=x AWS_DEFAULT_REGION=%s\n", endpoint, example.ID, w.Regions[0])
	}
	return nil
}
