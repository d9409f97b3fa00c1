// Package heartbeat keeps a long Temporal activity's heartbeats independent
// of how often it polls AWS.
//
// An activity that waits (a copy that takes hours, a boot proof, another
// run's workflow) polls sparsely, because every poll costs the account's
// request bucket; its heartbeat must not wait for the next poll, or the
// heartbeat timeout would have to exceed the longest poll interval and a
// lost worker would be noticed that much later. Start runs a heartbeat on
// its own clock for the activity's whole life; the polls only update what
// it says (Progress).
//
// The SDK sends at most one heartbeat per 0.8 × the heartbeat timeout (at
// most every 60 s) and keeps the latest in between, so beating more often
// than that costs nothing on the wire (Temporal Cloud bills the heartbeats
// it receives) and guarantees one is always ready when the SDK sends.
package heartbeat

import (
	"context"
	"sync"
	"time"

	"go.temporal.io/sdk/activity"
)

// DefaultInterval is how often Start records a heartbeat: well under the
// 2-minute heartbeat timeout of amicrypt's waiting activities (see
// workflows/options.go; a test pins interval ≤ timeout / 3).
const DefaultInterval = 20 * time.Second

type key struct{}

type beat struct {
	mu      sync.Mutex
	details []any
	stopped bool
	timer   *time.Timer
	// beating counts a heartbeat being recorded, for stop to wait for.
	beating sync.WaitGroup
}

// Start records a heartbeat every interval (DefaultInterval when ≤ 0) until
// stop is called — also after the activity is cancelled, so that a cleanup
// it still does (a boot proof deleting its group) keeps it alive — and
// returns a context that Progress reaches. Outside an activity (a plain call
// in a test) it does nothing. stop waits for a heartbeat being recorded to
// end, so none is recorded after it returns.
//
// The beats run on a timer that rearms itself, not on a goroutine of their
// own: a worker waiting on a thousand copies holds a thousand timers, not a
// thousand parked goroutines and their stacks.
func Start(ctx context.Context, interval time.Duration) (_ context.Context, stop func()) {
	if !activity.IsActivity(ctx) {
		return ctx, func() {}
	}
	if interval <= 0 {
		interval = DefaultInterval
	}
	b := &beat{}
	activity.RecordHeartbeat(ctx)
	b.mu.Lock()
	b.timer = time.AfterFunc(interval, func() { b.record(ctx, interval) })
	b.mu.Unlock()
	return context.WithValue(ctx, key{}, b), b.stop
}

// record sends the latest details and rearms the timer, unless stopped.
func (b *beat) record(ctx context.Context, interval time.Duration) {
	b.mu.Lock()
	if b.stopped {
		b.mu.Unlock()
		return
	}
	b.beating.Add(1)
	defer b.beating.Done()
	details := b.details
	b.mu.Unlock()
	activity.RecordHeartbeat(ctx, details...)
	b.mu.Lock()
	if !b.stopped {
		b.timer.Reset(interval)
	}
	b.mu.Unlock()
}

func (b *beat) stop() {
	b.mu.Lock()
	b.stopped = true
	b.timer.Stop()
	b.mu.Unlock()
	b.beating.Wait()
}

// Progress sets what the next heartbeats say (the image being waited for,
// its state). Without Start it records a heartbeat itself, when in an
// activity.
func Progress(ctx context.Context, details ...any) {
	if b, ok := ctx.Value(key{}).(*beat); ok {
		b.mu.Lock()
		b.details = details
		b.mu.Unlock()
		return
	}
	if activity.IsActivity(ctx) {
		activity.RecordHeartbeat(ctx, details...)
	}
}
