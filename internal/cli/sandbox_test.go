package cli

import (
	"bytes"
	"encoding/json"
	"net"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/amicrypt/amicrypt/internal/sandbox/world"
)

func run(args ...string) (code int, stdout, stderr string) {
	var out, errb bytes.Buffer
	code = Main(args, &out, &errb)
	return code, out.String(), errb.String()
}

func TestSandboxCheckAcceptsTheDefaultWorld(t *testing.T) {
	code, out, errs := run("sandbox", "--check")
	if code != 0 || !strings.Contains(out, "world file is valid") || !strings.Contains(out, "444444444444 legacy-batch") {
		t.Fatalf("exit %d\nstdout: %s\nstderr: %s", code, out, errs)
	}
	code, out, _ = run("sandbox", "--check", "--json")
	var summary struct {
		Regions  []string         `json:"regions"`
		Accounts []map[string]any `json:"accounts"`
	}
	if code != 0 || json.Unmarshal([]byte(out), &summary) != nil || len(summary.Accounts) != 5 || len(summary.Regions) != 2 {
		t.Fatalf("--json summary: exit %d, %s", code, out)
	}
}

func TestDefaultWorldPrintsAWorldThatLoads(t *testing.T) {
	code, out, _ := run("sandbox", "default-world")
	if code != 0 {
		t.Fatalf("exit %d", code)
	}
	if _, err := world.Parse([]byte(out), "printed.yaml"); err != nil {
		t.Fatalf("the printed default world does not parse: %v", err)
	}
}

func TestSandboxRefusesABadWorldWithItsLineAndStartsNothing(t *testing.T) {
	path := filepath.Join(t.TempDir(), "org.yaml")
	bad := "regions: [us-east-1]\naccounts:\n  - id: \"12345\"\n    name: short\n  - id: \"222222222222\"\n    colour: blue\n"
	if err := os.WriteFile(path, []byte(bad), 0o644); err != nil {
		t.Fatal(err)
	}
	// A free port: if the sandbox started despite the bad world, it would bind it.
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	addr := ln.Addr().String()
	ln.Close()
	code, out, errs := run("sandbox", "--world", path, "--addr", addr)
	if code != 2 {
		t.Fatalf("want exit 2, got %d (stdout %q)", code, out)
	}
	for _, want := range []string{"org.yaml:3:", "12-digit", "org.yaml:6:", "colour", "did not start"} {
		if !strings.Contains(errs, want) {
			t.Errorf("stderr lacks %q:\n%s", want, errs)
		}
	}
	if out != "" {
		t.Errorf("a refused world printed to stdout: %q", out)
	}
	if c, err := net.Dial("tcp", addr); err == nil {
		c.Close()
		t.Errorf("something listens on %s after a refused start", addr)
	}
}

func TestBadFlagsExitTwo(t *testing.T) {
	for _, args := range [][]string{
		{"sandbox", "--check", "--log-level", "loud"},
		{"sandbox", "--check", "--log-format", "xml"},
		{"sandbox", "--world", "/does/not/exist.yaml"},
	} {
		if code, _, errs := run(args...); code != 2 || errs == "" {
			t.Errorf("%v: want exit 2 with a message, got %d %q", args, code, errs)
		}
	}
	for _, args := range [][]string{{"sandbox", "--no-such-flag"}, {"no-such-command"}, {"sandbox", "extra-arg"}} {
		if code, _, errs := run(args...); code != 2 || errs == "" {
			t.Errorf("%v: want exit 2 with a message, got %d %q", args, code, errs)
		}
	}
}

func TestSandboxRefusesAnAddressInUse(t *testing.T) {
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer ln.Close()
	code, _, errs := run("sandbox", "--addr", ln.Addr().String())
	if code != 2 || !strings.Contains(errs, "cannot listen") {
		t.Fatalf("want exit 2 naming the address, got %d %q", code, errs)
	}
}
