package cli

import (
	"net"
	"os"
	"path/filepath"
	"runtime/debug"
	"slices"
	"strings"
	"testing"
)

func TestWorkerRefusesBadInput(t *testing.T) {
	t.Setenv("TEMPORAL_TLS", "")
	t.Setenv("AWS_ENDPOINT_URL", "")
	for _, tc := range []struct {
		args []string
		want string
	}{
		{[]string{"worker", "extra"}, "unknown command"},
		{[]string{"worker", "--temporal-address", "nohostport"}, "not host:port"},
		{[]string{"worker", "--namespace", ""}, "--namespace is empty"},
		{[]string{"worker", "--task-queue", ""}, "--task-queue is empty"},
		{[]string{"worker", "--temporal-tls-cert", "client.pem"}, "--temporal-tls-key go together"},
		{[]string{"worker", "--aws-endpoint-url", "127.0.0.1:4566"}, "not an http(s) URL"},
		{[]string{"worker", "--max-concurrent-activities", "0"}, "at least 1"},
		{[]string{"worker", "--max-concurrent-activities", "many"}, "invalid argument"},
		{[]string{"worker", "--log-level", "loud"}, "--log-level"},
		{[]string{"worker", "--allow-accounts", "22222222222"}, "not a 12-digit account id"},
		{[]string{"worker", "--allow-accounts", "@/nonexistent/accounts.txt"}, "--allow-accounts @/nonexistent/accounts.txt"},
		{[]string{"worker", "--allow-accounts", " , "}, "names no account"},
		{[]string{"worker", "--allow-organization", "o-short"}, `--allow-organization "o-short" is not an AWS Organizations id`},
		{[]string{"worker", "--allow-organization", "O-ABCDEFGHIJ"}, "not an AWS Organizations id"},
		{[]string{"worker", "--allow-organization", "222222222222"}, "not an AWS Organizations id"},
		{[]string{"worker", "--payload-key-file", "/nonexistent/payload-keys"}, "payload key file"},
		{[]string{"worker", "--temporal-api-key-file", "/nonexistent/api-key"}, "--temporal-api-key-file"},
	} {
		code, _, errs := run(tc.args...)
		if code != 2 || !strings.Contains(errs, tc.want) {
			t.Errorf("%v: exit %d, stderr %q; want exit 2 mentioning %q", tc.args, code, errs, tc.want)
		}
	}
}

func TestWorkerRefusesABadTLSEnvironment(t *testing.T) {
	t.Setenv("TEMPORAL_TLS", "sometimes")
	code, _, errs := run("worker")
	if code != 2 || !strings.Contains(errs, "TEMPORAL_TLS") {
		t.Errorf("exit %d, stderr %q", code, errs)
	}
}

// No Temporal where the worker looks: exit 1, naming the address and what to check.
func TestWorkerWithoutTemporal(t *testing.T) {
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	addr := ln.Addr().String()
	ln.Close()
	code, _, errs := run("worker", "--temporal-address", addr, "--log-level", "error")
	if code != 1 || !strings.Contains(errs, addr) || !strings.Contains(errs, "amicrypt dev") {
		t.Errorf("exit %d, stderr %q", code, errs)
	}
}

// --allow-accounts: a list, or a file of ids separated by commas, spaces or
// lines, with # comments.
func TestParseAllowAccounts(t *testing.T) {
	file := filepath.Join(t.TempDir(), "accounts")
	if err := os.WriteFile(file, []byte("# payments\n222222222222, 333333333333\n444444444444 # legacy\n"), 0o600); err != nil {
		t.Fatal(err)
	}
	for in, want := range map[string][]string{
		"":                          nil,
		"222222222222":              {"222222222222"},
		"222222222222,333333333333": {"222222222222", "333333333333"},
		"@" + file:                  {"222222222222", "333333333333", "444444444444"},
	} {
		got, err := parseAllowAccounts(in)
		if err != nil || !slices.Equal(got, want) {
			t.Errorf("parseAllowAccounts(%q) = %v, %v; want %v", in, got, err, want)
		}
	}
}

// --allow-organization: empty, or o- and 10 to 32 lowercase letters or
// digits; the environment variable is its default.
func TestParseAllowOrganization(t *testing.T) {
	for in, want := range map[string]string{
		"":                             "",
		"o-a1b2c3d4e5":                 "o-a1b2c3d4e5",
		" o-a1b2c3d4e5\n":              "o-a1b2c3d4e5",
		"o-" + strings.Repeat("z", 32): "o-" + strings.Repeat("z", 32),
	} {
		if got, err := parseAllowOrganization(in); err != nil || got != want {
			t.Errorf("parseAllowOrganization(%q) = %q, %v; want %q", in, got, err, want)
		}
	}
	for _, bad := range []string{"o-a1b2c3d4e", "o-" + strings.Repeat("z", 33), "o-A1B2C3D4E5", "r-a1b2c3d4e5", "o-a1b2c3d4e5,o-b1b2c3d4e5"} {
		if _, err := parseAllowOrganization(bad); err == nil {
			t.Errorf("parseAllowOrganization(%q) accepted", bad)
		}
	}
	t.Setenv(envAllowOrganization, "o-bad")
	if code, _, errs := run("worker"); code != 2 || !strings.Contains(errs, `--allow-organization "o-bad"`) {
		t.Errorf("%s=o-bad: exit %d, stderr %q", envAllowOrganization, code, errs)
	}
}

// TestWorkerCollectsGarbageAtHalfItsHeapUnlessGOGCSays: the worker's GC
// target is WorkerGCPercent; a GOGC in the environment is left as Go set it.
func TestWorkerCollectsGarbageAtHalfItsHeapUnlessGOGCSays(t *testing.T) {
	before := debug.SetGCPercent(100)
	defer debug.SetGCPercent(before)

	if gc, ok := workerGC(func(string) string { return "" }); !ok || gc != WorkerGCPercent {
		t.Fatalf("without GOGC: set %d, %v", gc, ok)
	}
	if got := debug.SetGCPercent(77); got != WorkerGCPercent {
		t.Fatalf("without GOGC the worker collects at %d%%, want %d%%", got, WorkerGCPercent)
	}
	if _, ok := workerGC(func(k string) string {
		if k == "GOGC" {
			return "200"
		}
		return ""
	}); ok {
		t.Fatal("with GOGC=200 the worker set its own target")
	}
	if got := debug.SetGCPercent(100); got != 77 {
		t.Fatalf("with GOGC set the worker changed the target to %d%%", got)
	}
}
