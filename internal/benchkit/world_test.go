package benchkit

import (
	"strings"
	"testing"
	"time"

	"github.com/amicrypt/amicrypt/internal/sandbox/world"
)

func TestPlanShape(t *testing.T) {
	p := NewPlan(10)
	if len(p.Accounts) != 3 || len(p.AccountRegions[2]) != 2 || len(p.Sources) != len(Regions) {
		t.Fatalf("10 targets: %d accounts, last with %v, %d sources", len(p.Accounts), p.AccountRegions[len(p.AccountRegions)-1], len(p.Sources))
	}
}

// The generated world and config are valid, with and without faults and a
// publish block; without faults the world has no rate lines (the pipeline
// benchmark's world is what it always was).
func TestWorldAndConfigParse(t *testing.T) {
	p := NewPlan(10)
	plain := p.WorldYAML(WorldOptions{Copy: time.Minute, Boot: 30 * time.Second, Throttle: true})
	if strings.Contains(string(plain), "_rate") {
		t.Errorf("a world without faults names a rate:\n%s", plain)
	}
	faulty := p.WorldYAML(WorldOptions{Copy: time.Minute, ThrottleRate: 0.1, ErrorRate: 0.02, LostResponseRate: 0.01})
	for _, y := range [][]byte{plain, faulty} {
		if _, err := world.Parse(y, "world.yaml"); err != nil {
			t.Fatal(err)
		}
	}
	for _, o := range []ConfigOptions{{InFlight: 1000, Boot: time.Minute}, {InFlight: 10, SSMParameter: "/a/b", LaunchTemplate: "app"}} {
		in, err := p.PipelineInput(p.ConfigYAML(o), "bench-test")
		if err != nil || len(in.Targets) != 10 {
			t.Fatalf("%d targets, %v", len(in.Targets), err)
		}
		if in.RunID != "bench-test" || in.InFlight != o.InFlight {
			t.Errorf("run %q, in_flight %d, want bench-test, %d", in.RunID, in.InFlight, o.InFlight)
		}
		targets := in.Targets
		if targets[0].Publish.SSMParameter != o.SSMParameter || targets[0].Publish.LaunchTemplate != o.LaunchTemplate {
			t.Errorf("publish %+v, want %+v", targets[0].Publish, o)
		}
	}
}
