package main

import (
	"io"
	"reflect"
	"strings"
	"testing"
	"time"

	"github.com/amicrypt/amicrypt/internal/benchkit"
	"github.com/amicrypt/amicrypt/internal/sandbox/world"
)

// These tests check the benchmark's flags, kill plan and generated world;
// they never run it ('make chaos' does).

func TestFlagsDefaultsAreTheIssuesRun(t *testing.T) {
	o, err := parseFlags(nil, io.Discard)
	if err != nil {
		t.Fatal(err)
	}
	if o.targets != 200 || o.kills != 3 || o.workers != 2 || o.throttleRate != 0.1 || o.errorRate != 0.02 || o.lostResponseRate != 0.01 {
		t.Errorf("defaults %+v, want 200 targets, 3 kills, 2 workers, faults 0.1/0.02/0.01", o)
	}
	if o.seed == 0 {
		t.Error("the seed defaults to the clock, not 0")
	}
	if o.timeout != 30*time.Minute+4*(o.copyTime+o.bootTime) {
		t.Errorf("timeout %s", o.timeout)
	}
	o, err = parseFlags([]string{"-copy", "15m", "-seed", "42", "-worker-arg", "--log-level", "-worker-arg", "debug"}, io.Discard)
	if err != nil {
		t.Fatal(err)
	}
	if o.copyTime != 15*time.Minute || o.seed != 42 || !reflect.DeepEqual([]string(o.workerArgs), []string{"--log-level", "debug"}) {
		t.Errorf("got %+v", o)
	}
}

func TestFlagsRefused(t *testing.T) {
	for _, args := range [][]string{
		{"-targets", "0"}, {"-kills", "-1"}, {"-workers", "0"}, {"-copy", "-1s"},
		{"-throttle-rate", "1.5"}, {"-error-rate", "-0.1"}, {"extra"}, {"-timeout", "-1m"},
	} {
		if _, err := parseFlags(args, io.Discard); err == nil {
			t.Errorf("%v accepted", args)
		}
	}
}

func TestKillPlan(t *testing.T) {
	plan := planKills(newRand(42), 3, 200)
	if !reflect.DeepEqual(plan, planKills(newRand(42), 3, 200)) {
		t.Error("the same seed gives another plan")
	}
	var phases []string
	for _, k := range plan {
		phases = append(phases, k.Phase)
		if k.K < 1 || k.K > 100 {
			t.Errorf("k=%d outside [1, targets/2]", k.K)
		}
	}
	if want := []string{phaseStart, phaseBoot, phaseFinish}; !reflect.DeepEqual(phases, want) {
		t.Errorf("three kills: %v, want %v", phases, want)
	}
	if got := planKills(newRand(1), 6, 8); len(got) != 6 {
		t.Errorf("6 kills planned as %v", got)
	} else {
		for i := 1; i < len(got); i++ {
			if phaseOrder[got[i-1].Phase] > phaseOrder[got[i].Phase] {
				t.Errorf("kills out of phase order: %v", got)
			}
		}
	}
	if got := planKills(newRand(1), 1, 8); len(got) != 1 {
		t.Errorf("one kill planned as %v", got)
	}
}

func TestWorldAndConfig(t *testing.T) {
	o, err := parseFlags([]string{"-targets", "10"}, io.Discard)
	if err != nil {
		t.Fatal(err)
	}
	p := benchkit.NewPlan(o.targets)
	wy := chaosWorld(p, o)
	for _, want := range []string{"throttle_rate: 0.1\n", "error_rate: 0.02\n", "lost_response_rate: 0.01\n", "copy_seconds: 60\n"} {
		if !strings.Contains(string(wy), want) {
			t.Errorf("world file lacks %q", want)
		}
	}
	if _, err := world.Parse(wy, "chaos-world.yaml"); err != nil {
		t.Fatal(err)
	}
	in, err := p.PipelineInput(chaosConfig(p, o), "chaos-test")
	if err != nil {
		t.Fatal(err)
	}
	if len(in.Targets) != 10 {
		t.Fatalf("%d targets, want 10", len(in.Targets))
	}
	for _, tg := range in.Targets {
		if tg.Publish.SSMParameter != publishParameter || tg.Publish.LaunchTemplate != publishTemplate || !tg.BootProof.Enabled {
			t.Errorf("%s: publish %+v, boot proof %+v", tg.ID(), tg.Publish, tg.BootProof)
		}
	}
}
