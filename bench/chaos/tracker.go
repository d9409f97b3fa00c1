package main

import (
	"bytes"
	"encoding/json"
	"fmt"
	"sort"
	"strings"
	"sync"
	"time"

	"github.com/amicrypt/amicrypt/workflows"
)

// stepMessage is the message a Target logs, with its account, region and
// step, each time it enters a step (workflows/target.go, targetRun.enter).
// The workflow logger is replay-aware: a step is logged by the worker that
// runs it, not by one replaying the history.
const stepMessage = "target step"

// localSteps are the steps a Target runs as a local activity, inside the
// workflow task of the worker that logged the step.
var localSteps = map[string]string{
	workflows.StepPrepare: "PrepareTarget",
	workflows.StepCopy:    "CopyEncrypted",
	workflows.StepPublish: "FinishTarget",
}

// stepOrder is the order of a Target's steps, for the progress line.
var stepOrder = []string{workflows.StepPrepare, workflows.StepCopy, workflows.StepWaitAvailable, workflows.StepBootProof, workflows.StepPublish, workflows.StepDone}

// stepSeen is one step line: when, which worker (its number) logged it.
type stepSeen struct {
	at     time.Time
	worker int
	step   string
}

// tracker follows every Target's steps from the workers' log lines, as they
// are written.
type tracker struct {
	mu      sync.Mutex
	t0      time.Time
	cur     map[string]stepSeen            // target (account/region) → its latest step
	entered map[string]map[string]struct{} // step → targets that entered it
	seen    map[string][]stepSeen          // target → every step line
	lines   int64
	changed chan struct{} // a step line arrived
}

func newTracker() *tracker {
	return &tracker{
		cur:     map[string]stepSeen{},
		entered: map[string]map[string]struct{}{},
		seen:    map[string][]stepSeen{},
		changed: make(chan struct{}, 1),
	}
}

func (t *tracker) start(t0 time.Time) {
	t.mu.Lock()
	t.t0 = t0
	t.mu.Unlock()
}

// line reads one line of worker n's JSON log.
func (t *tracker) line(n int, b []byte) {
	if !bytes.Contains(b, []byte(stepMessage)) {
		return
	}
	var l struct {
		Message string `json:"message"`
		Account string `json:"account"`
		Region  string `json:"region"`
		Step    string `json:"step"`
	}
	if json.Unmarshal(b, &l) != nil || l.Message != stepMessage || l.Account == "" || l.Step == "" {
		return
	}
	target := l.Account + "/" + l.Region
	s := stepSeen{at: time.Now(), worker: n, step: l.Step}
	t.mu.Lock()
	t.lines++
	t.cur[target] = s
	t.seen[target] = append(t.seen[target], s)
	if t.entered[l.Step] == nil {
		t.entered[l.Step] = map[string]struct{}{}
	}
	t.entered[l.Step][target] = struct{}{}
	t.mu.Unlock()
	select {
	case t.changed <- struct{}{}:
	default:
	}
}

// enteredCount is how many targets have entered step.
func (t *tracker) enteredCount(step string) int {
	t.mu.Lock()
	defer t.mu.Unlock()
	return len(t.entered[step])
}

// inStep are the targets whose latest step is one of steps, by the worker
// that logged it.
func (t *tracker) inStep(steps ...string) map[int][]string {
	t.mu.Lock()
	defer t.mu.Unlock()
	out := map[int][]string{}
	for target, s := range t.cur {
		for _, want := range steps {
			if s.step == want {
				out[s.worker] = append(out[s.worker], target)
			}
		}
	}
	for _, ts := range out {
		sort.Strings(ts)
	}
	return out
}

// localInFlight are worker n's targets inside a local activity now: step →
// targets.
func (t *tracker) localInFlight(n int) map[string][]string {
	t.mu.Lock()
	defer t.mu.Unlock()
	out := map[string][]string{}
	for target, s := range t.cur {
		if _, local := localSteps[s.step]; local && s.worker == n {
			out[s.step] = append(out[s.step], target)
		}
	}
	for _, ts := range out {
		sort.Strings(ts)
	}
	return out
}

// rerunElsewhere says whether target logged step again, on another worker
// than n, after at: its local activity ran again there.
func (t *tracker) rerunElsewhere(target, step string, n int, at time.Time) bool {
	t.mu.Lock()
	defer t.mu.Unlock()
	for _, s := range t.seen[target] {
		if s.step == step && s.worker != n && s.at.After(at) {
			return true
		}
	}
	return false
}

// summary is the progress line's count of targets per step.
func (t *tracker) summary(targets int) string {
	t.mu.Lock()
	defer t.mu.Unlock()
	count := map[string]int{}
	for _, s := range t.cur {
		count[s.step]++
	}
	parts := []string{fmt.Sprintf("not started %d", targets-len(t.cur))}
	for _, step := range stepOrder {
		parts = append(parts, fmt.Sprintf("%s %d", step, count[step]))
	}
	return strings.Join(parts, ", ")
}
