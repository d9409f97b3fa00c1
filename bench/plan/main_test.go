package main

import (
	"errors"
	"io"
	"os"
	"os/exec"
	"strings"
	"testing"
	"time"
)

// These tests check the benchmark's flags; they never run it ('make bench'
// does).

func TestFlagsDefaultsAreTheIssuesPlan(t *testing.T) {
	o, err := parseFlags(nil, io.Discard)
	if err != nil {
		t.Fatal(err)
	}
	if o.targets != 1000 || !o.throttle || o.check || o.json || o.verbose || o.timeout != 10*time.Minute {
		t.Errorf("defaults %+v, want 1000 targets, throttling on, no -check, text output", o)
	}
	o, err = parseFlags([]string{"-targets", "40", "-v", "-json", "-check", "-throttle=false"}, io.Discard)
	if err != nil {
		t.Fatal(err)
	}
	if o.targets != 40 || !o.verbose || !o.json || !o.check || o.throttle {
		t.Errorf("got %+v", o)
	}
}

func TestFlagsRefused(t *testing.T) {
	for _, args := range [][]string{
		{"-targets", "0"}, {"-targets", "x"}, {"-max-concurrent-activities", "-1"},
		{"-timeout", "0s"}, {"-no-such-flag"}, {"extra"},
	} {
		if _, err := parseFlags(args, io.Discard); err == nil {
			t.Errorf("%v accepted", args)
		}
	}
}

// TestBadFlagsExit2 runs the command itself (this test binary, as main)
// with a bad flag: it exits 2 before building or starting anything.
func TestBadFlagsExit2(t *testing.T) {
	if os.Getenv("AMICRYPT_BENCH_PLAN_MAIN") == "1" {
		os.Args = append([]string{"plan"}, strings.Fields(os.Getenv("AMICRYPT_BENCH_PLAN_ARGS"))...)
		main()
		return
	}
	for _, args := range []string{"-targets 0", "-timeout -1s", "stray"} {
		cmd := exec.Command(os.Args[0], "-test.run", "^TestBadFlagsExit2$")
		cmd.Env = append(os.Environ(), "AMICRYPT_BENCH_PLAN_MAIN=1", "AMICRYPT_BENCH_PLAN_ARGS="+args)
		out, err := cmd.CombinedOutput()
		var exit *exec.ExitError
		if !errors.As(err, &exit) || exit.ExitCode() != 2 {
			t.Errorf("%q: %v, want exit status 2; output:\n%s", args, err, out)
		}
		if !strings.Contains(string(out), "plan: ") {
			t.Errorf("%q: no message naming the command:\n%s", args, out)
		}
	}
}
