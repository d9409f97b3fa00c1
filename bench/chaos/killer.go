package main

import (
	"context"
	"fmt"
	"io"
	"math/rand/v2"
	"sort"
	"strings"
	"sync"
	"time"

	enumspb "go.temporal.io/api/enums/v1"
	"go.temporal.io/api/workflowservice/v1"
	"go.temporal.io/sdk/client"

	"github.com/amicrypt/amicrypt/internal/temporalconn"
	"github.com/amicrypt/amicrypt/workflows"
)

// The phases a kill is aimed at, in the order a Target reaches them.
const (
	// phaseStart: PrepareTarget or CopyEncrypted, local activities in the
	// worker's workflow task, while targets start.
	phaseStart = "prepare/copy (local activities)"
	// phaseWait: WaitAndVerify, an activity heartbeating while the copy is
	// pending.
	phaseWait = "wait-available (WaitAndVerify)"
	// phaseBoot: ProveBoot, an activity heartbeating while the group boots.
	phaseBoot = "boot-proof (ProveBoot)"
	// phaseFinish: FinishTarget, a local activity, while targets publish.
	phaseFinish = "publish (local activity FinishTarget)"
)

var phaseOrder = map[string]int{phaseStart: 0, phaseWait: 1, phaseBoot: 2, phaseFinish: 3}

// phaseStep is the Target step whose entries count towards a kill's moment.
var phaseStep = map[string]string{
	phaseStart:  workflows.StepPrepare,
	phaseWait:   workflows.StepWaitAvailable,
	phaseBoot:   workflows.StepBootProof,
	phaseFinish: workflows.StepPublish,
}

// plannedKill: kill a worker running phase once K targets have entered the
// phase's step.
type plannedKill struct {
	Phase string
	K     int
}

func newRand(seed int64) *rand.Rand {
	return rand.New(rand.NewPCG(uint64(seed), 0x9e3779b97f4a7c15))
}

// planKills draws the kills: with three or more, one in each of the local
// activities at the start, the boot proof and the local activity at the end,
// the rest in any phase (the wait for copies included); with fewer, that
// many of those three. Each kill's moment is the K-th target entering the
// phase's step, K uniform in [1, targets/2]; the kills come in the order
// the phases do.
func planKills(rng *rand.Rand, kills, targets int) []plannedKill {
	base := []string{phaseStart, phaseBoot, phaseFinish}
	all := []string{phaseStart, phaseWait, phaseBoot, phaseFinish}
	var phases []string
	if kills >= len(base) {
		phases = append(phases, base...)
		for range kills - len(base) {
			phases = append(phases, all[rng.IntN(len(all))])
		}
	} else {
		for _, i := range rng.Perm(len(base))[:kills] {
			phases = append(phases, base[i])
		}
	}
	plan := make([]plannedKill, len(phases))
	for i, ph := range phases {
		plan[i] = plannedKill{Phase: ph, K: 1 + rng.IntN(max(1, targets/2))}
	}
	sort.SliceStable(plan, func(i, j int) bool {
		if phaseOrder[plan[i].Phase] != phaseOrder[plan[j].Phase] {
			return phaseOrder[plan[i].Phase] < phaseOrder[plan[j].Phase]
		}
		return plan[i].K < plan[j].K
	})
	return plan
}

// kill is what one kill did and hit.
type kill struct {
	N         int     `json:"n"`
	Planned   string  `json:"planned_phase"`
	K         int     `json:"k"` // made once K targets had entered the phase's step
	AtSeconds float64 `json:"at_seconds"`
	Worker    string  `json:"worker,omitempty"`
	PID       int     `json:"pid,omitempty"`
	// Local: the killed worker's targets inside a local activity at the
	// kill (their latest step line came from it): activity → targets.
	Local map[string][]string `json:"local_activities,omitempty"`
	// Activities: the activities Temporal had started on the killed worker
	// (pending, its identity): type → workflows.
	Activities map[string][]string `json:"activities,omitempty"`
	// Hit: the phases the kill hit, with how many of each.
	Hit []string `json:"hit,omitempty"`
	// RerunElsewhere: of the local activities in flight, how many ran again
	// on another worker afterwards (the step logged again there).
	RerunElsewhere int `json:"local_rerun_elsewhere"`
	// Replacement: the worker started in its place, and how long it took
	// to run.
	Replacement        string  `json:"replacement,omitempty"`
	ReplacementSeconds float64 `json:"replacement_seconds,omitempty"`
	Missed             string  `json:"missed,omitempty"`

	at     time.Time
	worker int
}

// killer makes the planned kills while the run goes on.
type killer struct {
	fleet    *fleet
	steps    *tracker
	client   client.Client
	plan     []plannedKill
	rng      *rand.Rand
	workers  int               // the fleet's size: a kill waits until the previous one's replacement runs
	sources  map[string]string // region → the builder's source image there
	t0       time.Time
	progress io.Writer

	mu    sync.Mutex
	kills []kill
}

func (k *killer) made() int {
	k.mu.Lock()
	defer k.mu.Unlock()
	n := 0
	for _, kl := range k.kills {
		if kl.Missed == "" {
			n++
		}
	}
	return n
}

func (k *killer) results() []kill {
	k.mu.Lock()
	defer k.mu.Unlock()
	out := append([]kill(nil), k.kills...)
	why := "the run ended first"
	k.steps.mu.Lock()
	if k.steps.lines == 0 {
		why += `; the workers logged no "` + stepMessage + `" line (workflows/target.go, targetRun.enter), from which the phases are read`
	}
	k.steps.mu.Unlock()
	for i := len(out); i < len(k.plan); i++ {
		out = append(out, kill{N: i + 1, Planned: k.plan[i].Phase, K: k.plan[i].K, Missed: why})
	}
	return out
}

// run makes the kills in order; it returns when they are made or ctx ends
// (the run is over).
func (k *killer) run(ctx context.Context) {
	for i, pk := range k.plan {
		kl, err := k.one(ctx, i+1, pk)
		switch {
		case err == nil:
		case kl.Worker != "": // killed, not replaced
			kl.Replacement = "none: " + err.Error()
		case ctx.Err() != nil:
			return
		default:
			kl.Missed = err.Error()
		}
		k.mu.Lock()
		k.kills = append(k.kills, kl)
		k.mu.Unlock()
		if kl.Missed == "" {
			fmt.Fprintf(k.progress, "kill %d at %.1f s: %s (planned %s, k=%d) hit %s; replaced by %s in %.1f s\n",
				kl.N, kl.AtSeconds, kl.Worker, kl.Planned, kl.K, strings.Join(kl.Hit, ", "), kl.Replacement, kl.ReplacementSeconds)
		} else {
			fmt.Fprintf(k.progress, "kill %d (%s) not made: %s\n", kl.N, kl.Planned, kl.Missed)
		}
	}
}

// one waits for the moment of a planned kill, picks a worker running the
// phase, kills it, starts its replacement and records what was lost.
func (k *killer) one(ctx context.Context, n int, pk plannedKill) (kill, error) {
	kl := kill{N: n, Planned: pk.Phase, K: pk.K}
	step := phaseStep[pk.Phase]
	var lastDescribe time.Time
	poll := time.NewTicker(20 * time.Millisecond)
	defer poll.Stop()
	for {
		select {
		case <-ctx.Done():
			return kl, ctx.Err()
		case <-k.steps.changed:
		case <-poll.C:
		}
		if k.steps.enteredCount(step) < pk.K || len(k.fleet.live()) < k.workers {
			continue
		}
		var candidates []*proc
		switch pk.Phase {
		case phaseStart, phaseFinish:
			want := []string{workflows.StepPrepare, workflows.StepCopy}
			if pk.Phase == phaseFinish {
				want = []string{workflows.StepPublish}
			}
			for _, p := range k.fleet.live() {
				inflight := k.steps.localInFlight(p.n)
				for _, s := range want {
					if len(inflight[s]) > 0 {
						candidates = append(candidates, p)
						break
					}
				}
			}
		case phaseWait, phaseBoot:
			if time.Since(lastDescribe) < time.Second {
				continue
			}
			lastDescribe = time.Now()
			activity := "WaitAndVerify"
			if pk.Phase == phaseBoot {
				activity = "ProveBoot"
			}
			var ids []string
			for _, targets := range k.steps.inStep(step) {
				ids = append(ids, k.targetWorkflowIDs(targets)...)
			}
			running := k.startedActivities(ctx, ids)
			for _, p := range k.fleet.live() {
				if len(running[p.identity][activity]) > 0 {
					candidates = append(candidates, p)
				}
			}
		}
		if len(candidates) == 0 {
			continue
		}
		victim := candidates[k.rng.IntN(len(candidates))]
		return k.kill(ctx, kl, victim)
	}
}

func (k *killer) kill(ctx context.Context, kl kill, victim *proc) (kill, error) {
	local := k.steps.localInFlight(victim.n)
	kl.at = time.Now()
	kl.AtSeconds = kl.at.Sub(k.t0).Seconds()
	kl.Worker, kl.PID, kl.worker = victim.identity, victim.w.Cmd.Process.Pid, victim.n
	start := time.Now()
	type started struct {
		p   *proc
		err error
	}
	next := make(chan started, 1)
	go func() {
		p, err := k.fleet.kill(ctx, victim)
		next <- started{p, err}
	}()
	// What Temporal had started on the killed worker stays pending under its
	// identity until a timeout: read it while the replacement starts.
	ids, err := k.runningWorkflows(ctx)
	if err == nil {
		kl.Activities = k.startedActivities(ctx, ids)[victim.identity]
	}
	if len(local) > 0 {
		kl.Local = map[string][]string{}
		for step, targets := range local {
			kl.Local[localSteps[step]+" (local)"] = targets
		}
	}
	kl.Hit = hits(kl)
	r := <-next
	if r.err != nil {
		return kl, r.err
	}
	kl.Replacement, kl.ReplacementSeconds = r.p.identity, time.Since(start).Seconds()
	return kl, nil
}

// hits names what a kill hit, most first.
func hits(kl kill) []string {
	type hit struct {
		name string
		n    int
	}
	var hs []hit
	for name, ts := range kl.Local {
		hs = append(hs, hit{name, len(ts)})
	}
	for name, ws := range kl.Activities {
		hs = append(hs, hit{name, len(ws)})
	}
	sort.Slice(hs, func(i, j int) bool {
		if hs[i].n != hs[j].n {
			return hs[i].n > hs[j].n
		}
		return hs[i].name < hs[j].name
	})
	var out []string
	for _, h := range hs {
		out = append(out, fmt.Sprintf("%s ×%d", h.name, h.n))
	}
	if len(out) == 0 {
		out = []string{"nothing in flight (workflow tasks only)"}
	}
	return out
}

// rerunEvidence fills each kill's RerunElsewhere once the run is over.
func (k *killer) rerunEvidence(kills []kill) {
	k.mu.Lock()
	defer k.mu.Unlock()
	for i := range kills {
		if kills[i].Missed != "" || i >= len(k.kills) {
			continue
		}
		at, n := k.kills[i].at, k.kills[i].worker
		count := 0
		for activity, targets := range kills[i].Local {
			step := stepOfLocal(activity)
			for _, t := range targets {
				if k.steps.rerunElsewhere(t, step, n, at) {
					count++
				}
			}
		}
		kills[i].RerunElsewhere = count
	}
}

func stepOfLocal(activity string) string {
	name := strings.TrimSuffix(activity, " (local)")
	for step, a := range localSteps {
		if a == name {
			return step
		}
	}
	return ""
}

// targetWorkflowIDs are the Target workflow ids of targets (account/region),
// each copying the source of its region.
func (k *killer) targetWorkflowIDs(targets []string) []string {
	out := make([]string, 0, len(targets))
	for _, t := range targets {
		account, region, _ := strings.Cut(t, "/")
		out = append(out, workflows.TargetWorkflowID(k.sources[region], account, region))
	}
	return out
}

// runningWorkflows are the ids of every running workflow (only this run's
// run on the embedded server).
func (k *killer) runningWorkflows(ctx context.Context) ([]string, error) {
	var ids []string
	var token []byte
	for {
		resp, err := k.client.ListWorkflow(ctx, &workflowservice.ListWorkflowExecutionsRequest{
			Namespace: temporalconn.DefaultNamespace, Query: "ExecutionStatus = 'Running'", PageSize: 1000, NextPageToken: token,
		})
		if err != nil {
			return ids, err
		}
		for _, e := range resp.GetExecutions() {
			ids = append(ids, e.GetExecution().GetWorkflowId())
		}
		if token = resp.GetNextPageToken(); len(token) == 0 {
			return ids, nil
		}
	}
}

// startedActivities describes the workflows and returns their started
// activities by worker identity, then activity type: the workflow ids.
func (k *killer) startedActivities(ctx context.Context, ids []string) map[string]map[string][]string {
	out := map[string]map[string][]string{}
	var mu sync.Mutex
	work := make(chan string)
	var wg sync.WaitGroup
	for range 8 {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for id := range work {
				dctx, cancel := context.WithTimeout(ctx, 10*time.Second)
				d, err := k.client.DescribeWorkflowExecution(dctx, id, "")
				cancel()
				if err != nil {
					continue
				}
				for _, a := range d.GetPendingActivities() {
					if a.GetState() != enumspb.PENDING_ACTIVITY_STATE_STARTED || a.GetLastWorkerIdentity() == "" {
						continue
					}
					mu.Lock()
					byType := out[a.GetLastWorkerIdentity()]
					if byType == nil {
						byType = map[string][]string{}
						out[a.GetLastWorkerIdentity()] = byType
					}
					byType[a.GetActivityType().GetName()] = append(byType[a.GetActivityType().GetName()], id)
					mu.Unlock()
				}
			}
		}()
	}
	for _, id := range ids {
		work <- id
	}
	close(work)
	wg.Wait()
	for _, byType := range out {
		for _, ws := range byType {
			sort.Strings(ws)
		}
	}
	return out
}
