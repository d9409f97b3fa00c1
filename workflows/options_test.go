package workflows

import (
	"testing"
	"time"

	"github.com/amicrypt/amicrypt/activities"
	"github.com/amicrypt/amicrypt/internal/heartbeat"
)

// sdkHeartbeatThrottle is how long the Temporal Go SDK holds heartbeats
// back before sending the latest: 0.8 × the heartbeat timeout, at most 60 s
// (internal_task_handlers.go, getHeartbeatThrottleInterval).
func sdkHeartbeatThrottle(timeout time.Duration) time.Duration {
	return min(time.Duration(0.8*float64(timeout)), 60*time.Second)
}

// TestWaitingActivitiesHeartbeatWellInsideTheirTimeout pins, with the
// production settings, the invariant that lets a copy take hours: the
// heartbeat runs on its own clock (internal/heartbeat), so the longest gap
// between two heartbeats Temporal receives — the SDK's throttle plus one
// interval — stays well inside the heartbeat timeout, however far apart the
// polls of AWS are; and the wait's own timeouts allow a copy of many hours.
func TestWaitingActivitiesHeartbeatWellInsideTheirTimeout(t *testing.T) {
	poll := activities.LongestPoll(activities.Config{})
	if poll != 2*time.Minute {
		t.Errorf("a copy is polled at most every %s in production; the README says 2 min", poll)
	}
	tg := activities.Target{BootProof: activities.BootProof{Timeout: 0}}
	for _, step := range []string{StepWaitAvailable, StepBootProof, stepAttach, StepShare, stepUnshare} {
		o := activityOptions(step, tg)
		hb := o.HeartbeatTimeout
		if hb <= 0 {
			t.Errorf("%s waits but has no heartbeat timeout: a lost worker would go unnoticed until StartToClose (%s)", step, o.StartToCloseTimeout)
			continue
		}
		if heartbeat.DefaultInterval*3 > hb {
			t.Errorf("%s: heartbeat every %s against a timeout of %s; want at most a third of it", step, heartbeat.DefaultInterval, hb)
		}
		if gap := sdkHeartbeatThrottle(hb) + heartbeat.DefaultInterval; gap*5/4 > hb {
			t.Errorf("%s: Temporal may see %s between heartbeats against a timeout of %s; want a quarter of it to spare", step, gap, hb)
		}
		if hb > 5*time.Minute {
			t.Errorf("%s: heartbeat timeout %s: a lost worker would be noticed that late", step, hb)
		}
	}
	wait := activityOptions(StepWaitAvailable, tg)
	if wait.StartToCloseTimeout < 12*time.Hour || wait.ScheduleToCloseTimeout < wait.StartToCloseTimeout {
		t.Errorf("a copy may wait %s per attempt, %s in all; copies take hours", wait.StartToCloseTimeout, wait.ScheduleToCloseTimeout)
	}
	if poll < wait.HeartbeatTimeout {
		t.Logf("polls (%s) are closer than the heartbeat timeout (%s); they need not be", poll, wait.HeartbeatTimeout)
	}
}
