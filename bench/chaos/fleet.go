package main

import (
	"context"
	"fmt"
	"io"
	"sort"
	"sync"
	"time"

	"github.com/amicrypt/amicrypt/internal/benchkit"
)

// fleet is the worker processes: chaos-worker-1, -2, ... in the order they
// started; a killed or exited one is replaced by the next number.
type fleet struct {
	env      *benchkit.Env
	bin, dir string
	extra    []string
	steps    *tracker
	progress io.Writer

	mu    sync.Mutex
	procs []*proc
	exits []string // workers that exited without being killed
}

// proc is one worker process.
type proc struct {
	n        int
	identity string
	w        *benchkit.Worker
	started  time.Time
	killed   bool // by the benchmark
	replaced bool // a successor was started
}

func (p *proc) exited() bool {
	select {
	case <-p.w.Done:
		return true
	default:
		return false
	}
}

// start starts the next worker. Under the sandbox's faults the worker's
// first AWS call (who am I) may fail even after the SDK's retries, which
// benchkit.StartWorker refuses: such a start is tried again, up to three
// times.
func (f *fleet) start(ctx context.Context) (*proc, error) {
	f.mu.Lock()
	n := len(f.procs) + 1
	f.procs = append(f.procs, nil) // reserve the number
	f.mu.Unlock()
	identity := fmt.Sprintf("chaos-worker-%d", n)
	args := append(f.env.WorkerArgs(identity), f.extra...)
	var w *benchkit.Worker
	var err error
	for attempt := 1; attempt <= 3; attempt++ {
		w, err = benchkit.StartWorker(ctx, f.bin, f.dir, f.env.Endpoint, args, benchkit.WorkerOptions{
			LogName: fmt.Sprintf("%s.log", identity),
			OnLine:  func(line []byte) { f.steps.line(n, line) },
		})
		if err == nil || ctx.Err() != nil {
			break
		}
		fmt.Fprintf(f.progress, "starting %s failed (attempt %d): %v\n", identity, attempt, err)
	}
	if err != nil {
		return nil, fmt.Errorf("starting %s: %w", identity, err)
	}
	p := &proc{n: n, identity: identity, w: w, started: time.Now()}
	f.mu.Lock()
	f.procs[n-1] = p
	f.mu.Unlock()
	return p, nil
}

// live are the workers running now, oldest first.
func (f *fleet) live() []*proc {
	f.mu.Lock()
	defer f.mu.Unlock()
	var out []*proc
	for _, p := range f.procs {
		if p != nil && !p.killed && !p.exited() {
			out = append(out, p)
		}
	}
	return out
}

func (f *fleet) liveNames() []string {
	var out []string
	for _, p := range f.live() {
		out = append(out, fmt.Sprint(p.n))
	}
	return out
}

// kill SIGKILLs p and starts its replacement.
func (f *fleet) kill(ctx context.Context, p *proc) (*proc, error) {
	f.mu.Lock()
	p.killed, p.replaced = true, true
	f.mu.Unlock()
	if err := p.w.Kill(); err != nil {
		return nil, fmt.Errorf("killing %s: %w", p.identity, err)
	}
	return f.start(ctx)
}

// replaceExited starts a successor for every worker that exited on its own,
// and records the exit: a worker is not meant to stop by itself.
func (f *fleet) replaceExited(ctx context.Context) error {
	f.mu.Lock()
	var gone []*proc
	for _, p := range f.procs {
		if p != nil && !p.killed && !p.replaced && p.exited() {
			p.replaced = true
			gone = append(gone, p)
			f.exits = append(f.exits, fmt.Sprintf("%s (pid %d) exited by itself after %s: %v (log %s)",
				p.identity, p.w.Cmd.Process.Pid, time.Since(p.started).Round(time.Second), p.w.Cmd.ProcessState, p.w.LogPath))
		}
	}
	f.mu.Unlock()
	for _, p := range gone {
		fmt.Fprintf(f.progress, "%s exited by itself (%v); starting a replacement\n", p.identity, p.w.Cmd.ProcessState)
		if _, err := f.start(ctx); err != nil {
			return err
		}
	}
	return nil
}

func (f *fleet) unexpectedExits() []string {
	f.mu.Lock()
	defer f.mu.Unlock()
	out := append([]string(nil), f.exits...)
	sort.Strings(out)
	return out
}

// stopAll stops every worker still running (SIGTERM).
func (f *fleet) stopAll() {
	for _, p := range f.live() {
		p.w.Stop()
	}
}
