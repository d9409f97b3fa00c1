package benchkit

import (
	"context"
	"fmt"
	"strings"
	"sync"
	"time"

	enumspb "go.temporal.io/api/enums/v1"
	historypb "go.temporal.io/api/history/v1"
	"go.temporal.io/sdk/client"
	"google.golang.org/protobuf/proto"

	"github.com/amicrypt/amicrypt/internal/temporalconn"
	"github.com/amicrypt/amicrypt/workflows"
)

// MaxPayloadBytes is the payload size above which Temporal warns (256 KB):
// the benchmarks' goal for the largest history event.
const MaxPayloadBytes = 256 << 10

// Histories sums up the run's Temporal histories: the Pipeline, its Batches
// and every Target (or a plan's Plan workflows).
type Histories struct {
	Workflows      int   `json:"workflows"`
	Events         int64 `json:"events"`
	PipelineEvents int64 `json:"pipeline_events"`
	BatchEvents    int64 `json:"batch_events"`
	TargetEvents   int64 `json:"target_events"`
	// PlanEvents: a plan's, over its Plan workflows.
	PlanEvents     int64 `json:"plan_events,omitempty"`
	MaxTargetEvent int64 `json:"max_target_events"`
	// MaxEventBytes is the largest history event as Temporal stores it
	// (payloads as the worker's codec left them: compressed), and
	// MaxEventWorkflow/MaxEventType where it is: every payload a workflow
	// takes or gives (input, result, activity input and result, signal) is
	// inside one event, so this bounds the largest payload.
	MaxEventBytes    int64  `json:"max_event_bytes"`
	MaxEventWorkflow string `json:"max_event_workflow,omitempty"`
	MaxEventType     string `json:"max_event_type,omitempty"`
	// Activities: activities scheduled; Retries: attempts beyond the first
	// (Temporal writes one ActivityTaskStarted per activity, on its last
	// attempt, with the attempt number and the previous attempt's failure).
	Activities int64 `json:"activities"`
	Retries    int64 `json:"retries"`
	// ThrottlingRetries are retries whose previous attempt failed on a rate
	// limit; ThrottlingFailures are activities that failed for good on one.
	// Their sum is what "throttling errors surfaced to workflows" counts.
	ThrottlingRetries  int64 `json:"throttling_retries"`
	ThrottlingFailures int64 `json:"throttling_failures"`
	Failures           int64 `json:"activity_failures"`
	TimedOut           int64 `json:"activity_timeouts"`
	// ByActivity: per activity type, how many were scheduled and retried,
	// and how long they waited for a worker and ran.
	ByActivity map[string]*ActivityStats `json:"by_activity"`
	// TargetWorkflowTaskSeconds: in Target workflows, the time from each
	// workflow task's scheduling to its completion, summed: what Temporal
	// and the worker's workflow side add between a target's activities.
	TargetWorkflowTaskSeconds float64 `json:"target_workflow_task_seconds"`
	// TargetWorkflowTaskQueueSeconds is the part from scheduled to started
	// (waiting for the worker to take the task); the rest is the worker's
	// processing and Temporal recording the completion.
	TargetWorkflowTaskQueueSeconds float64 `json:"target_workflow_task_queue_seconds"`
	// Children started by the Pipeline and the Batches, and how long each
	// took from the parent's request to the child's start (sum and worst).
	Children             int64   `json:"children"`
	ChildStartSeconds    float64 `json:"child_start_seconds"`
	MaxChildStartSeconds float64 `json:"max_child_start_seconds"`
	// WorkflowTaskTimeouts are workflow tasks a worker took and never
	// completed (start-to-close: the worker was lost, or stuck);
	// StickyTimeouts those no worker took from a worker's sticky queue in
	// time (schedule-to-start: that worker was gone), handed to the shared
	// queue; WorkflowTaskFailures those the worker failed.
	WorkflowTaskTimeouts int64 `json:"workflow_task_timeouts,omitempty"`
	StickyTimeouts       int64 `json:"sticky_timeouts,omitempty"`
	WorkflowTaskFailures int64 `json:"workflow_task_failures,omitempty"`
	// Examples of failures that surfaced (at most 5).
	Examples []string `json:"examples,omitempty"`
}

// ActivityStats are one activity type's figures.
type ActivityStats struct {
	Scheduled int64 `json:"scheduled"`
	Retries   int64 `json:"retries,omitempty"`
	Throttled int64 `json:"throttled,omitempty"`
	// QueueSeconds: scheduled → started (its last attempt), summed;
	// RunSeconds: started → closed, summed; MaxRunSeconds the longest run.
	QueueSeconds  float64 `json:"queue_seconds"`
	RunSeconds    float64 `json:"run_seconds"`
	MaxRunSeconds float64 `json:"max_run_seconds"`
}

// Throttling says whether an error message is a rate limit refusal.
func Throttling(msg string) bool {
	for _, code := range []string{"RequestLimitExceeded", "ThrottlingException", "Throttling", "TooManyRequests", "Rate exceeded", "SlowDown"} {
		if strings.Contains(msg, code) {
			return true
		}
	}
	return false
}

// ReadHistories reads the history of every workflow of the run, a few at once.
func ReadHistories(ctx context.Context, c client.Client, runID string, report workflows.Report, in workflows.PipelineInput) (Histories, error) {
	ids := []string{workflows.PipelineWorkflowID(runID)}
	for _, b := range report.Batches {
		ids = append(ids, b.WorkflowID)
	}
	for _, t := range in.Targets {
		src, _ := workflows.NearestSource(in.Sources, t.Region)
		ids = append(ids, workflows.TargetWorkflowID(src.ImageID, t.Account, t.Region))
	}
	return ReadWorkflowHistories(ctx, c, runID, ids)
}

// ReadWorkflowHistories reads the histories of the workflows ids of the
// run runID (a pipeline's or a plan's), a few at once.
func ReadWorkflowHistories(ctx context.Context, c client.Client, runID string, ids []string) (Histories, error) {
	h := Histories{ByActivity: map[string]*ActivityStats{}}
	var mu sync.Mutex
	var firstErr error
	work := make(chan string)
	var wg sync.WaitGroup
	for range 8 {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for id := range work {
				one, err := readHistory(ctx, c, id)
				mu.Lock()
				if err != nil && firstErr == nil {
					firstErr = fmt.Errorf("history of %s: %w", id, err)
				}
				h.add(id, runID, one)
				mu.Unlock()
			}
		}()
	}
	for _, id := range ids {
		work <- id
	}
	close(work)
	wg.Wait()
	return h, firstErr
}

func (h *Histories) add(id, runID string, one Histories) {
	h.Workflows++
	h.Events += one.Events
	switch {
	case id == workflows.PipelineWorkflowID(runID):
		h.PipelineEvents += one.Events
	case strings.HasPrefix(id, "amicrypt-batch-"):
		h.BatchEvents += one.Events
	case strings.HasPrefix(id, "amicrypt-plan-"):
		h.PlanEvents += one.Events
	default:
		h.TargetEvents += one.Events
		h.MaxTargetEvent = max(h.MaxTargetEvent, one.Events)
	}
	if one.MaxEventBytes > h.MaxEventBytes {
		h.MaxEventBytes, h.MaxEventWorkflow, h.MaxEventType = one.MaxEventBytes, one.MaxEventWorkflow, one.MaxEventType
	}
	h.Activities += one.Activities
	h.Retries += one.Retries
	h.ThrottlingRetries += one.ThrottlingRetries
	h.ThrottlingFailures += one.ThrottlingFailures
	h.Failures += one.Failures
	h.TimedOut += one.TimedOut
	h.TargetWorkflowTaskSeconds += one.TargetWorkflowTaskSeconds
	h.TargetWorkflowTaskQueueSeconds += one.TargetWorkflowTaskQueueSeconds
	h.Children += one.Children
	h.ChildStartSeconds += one.ChildStartSeconds
	h.MaxChildStartSeconds = max(h.MaxChildStartSeconds, one.MaxChildStartSeconds)
	h.WorkflowTaskTimeouts += one.WorkflowTaskTimeouts
	h.StickyTimeouts += one.StickyTimeouts
	h.WorkflowTaskFailures += one.WorkflowTaskFailures
	for name, s := range one.ByActivity {
		t := h.ByActivity[name]
		if t == nil {
			t = &ActivityStats{}
			h.ByActivity[name] = t
		}
		t.Scheduled += s.Scheduled
		t.Retries += s.Retries
		t.Throttled += s.Throttled
		t.QueueSeconds += s.QueueSeconds
		t.RunSeconds += s.RunSeconds
		t.MaxRunSeconds = max(t.MaxRunSeconds, s.MaxRunSeconds)
	}
	for _, e := range one.Examples {
		if len(h.Examples) < 5 {
			h.Examples = append(h.Examples, id+": "+e)
		}
	}
}

func readHistory(ctx context.Context, c client.Client, id string) (Histories, error) {
	h := Histories{ByActivity: map[string]*ActivityStats{}}
	isTarget := strings.HasPrefix(id, "amicrypt-target-")
	scheduled := map[int64]string{}
	at := map[int64]time.Time{} // event id → time, for the events others refer to
	var wtScheduled time.Time
	stats := func(name string) *ActivityStats {
		s := h.ByActivity[name]
		if s == nil {
			s = &ActivityStats{}
			h.ByActivity[name] = s
		}
		return s
	}
	it := c.GetWorkflowHistory(ctx, id, "", false, enumspb.HISTORY_EVENT_FILTER_TYPE_ALL_EVENT)
	for it.HasNext() {
		ev, err := it.Next()
		if err != nil {
			return h, err
		}
		h.Events++
		if size := int64(proto.Size(ev)); size > h.MaxEventBytes {
			h.MaxEventBytes, h.MaxEventWorkflow, h.MaxEventType = size, id, ev.GetEventType().String()
		}
		when := ev.GetEventTime().AsTime()
		switch ev.GetEventType() {
		case enumspb.EVENT_TYPE_WORKFLOW_TASK_SCHEDULED:
			wtScheduled = when
		case enumspb.EVENT_TYPE_WORKFLOW_TASK_STARTED:
			if isTarget && !wtScheduled.IsZero() {
				h.TargetWorkflowTaskQueueSeconds += when.Sub(wtScheduled).Seconds()
			}
		case enumspb.EVENT_TYPE_WORKFLOW_TASK_COMPLETED, enumspb.EVENT_TYPE_WORKFLOW_TASK_FAILED, enumspb.EVENT_TYPE_WORKFLOW_TASK_TIMED_OUT:
			if isTarget && !wtScheduled.IsZero() {
				h.TargetWorkflowTaskSeconds += when.Sub(wtScheduled).Seconds()
			}
		}
		switch ev.GetEventType() {
		case enumspb.EVENT_TYPE_WORKFLOW_TASK_TIMED_OUT:
			if ev.GetWorkflowTaskTimedOutEventAttributes().GetTimeoutType() == enumspb.TIMEOUT_TYPE_SCHEDULE_TO_START {
				h.StickyTimeouts++
			} else {
				h.WorkflowTaskTimeouts++
			}
		case enumspb.EVENT_TYPE_WORKFLOW_TASK_FAILED:
			h.WorkflowTaskFailures++
		case enumspb.EVENT_TYPE_START_CHILD_WORKFLOW_EXECUTION_INITIATED:
			at[ev.GetEventId()] = when
		case enumspb.EVENT_TYPE_CHILD_WORKFLOW_EXECUTION_STARTED:
			if t0, ok := at[ev.GetChildWorkflowExecutionStartedEventAttributes().GetInitiatedEventId()]; ok {
				d := when.Sub(t0).Seconds()
				h.Children++
				h.ChildStartSeconds += d
				h.MaxChildStartSeconds = max(h.MaxChildStartSeconds, d)
			}
		}
		if a := ev.GetActivityTaskScheduledEventAttributes(); a != nil {
			name := a.GetActivityType().GetName()
			scheduled[ev.GetEventId()] = name
			at[ev.GetEventId()] = when
			h.Activities++
			stats(name).Scheduled++
		}
		if a := ev.GetActivityTaskStartedEventAttributes(); a != nil {
			at[ev.GetEventId()] = when
			if t0, ok := at[a.GetScheduledEventId()]; ok {
				stats(scheduled[a.GetScheduledEventId()]).QueueSeconds += when.Sub(t0).Seconds()
			}
		}
		if started, scheduledID := activityClosed(ev); started != 0 {
			if t0, ok := at[started]; ok {
				s := stats(scheduled[scheduledID])
				d := when.Sub(t0).Seconds()
				s.RunSeconds += d
				s.MaxRunSeconds = max(s.MaxRunSeconds, d)
			}
		}
		if a := ev.GetActivityTaskStartedEventAttributes(); a != nil && a.GetAttempt() > 1 {
			name := scheduled[a.GetScheduledEventId()]
			retries := int64(a.GetAttempt() - 1)
			h.Retries += retries
			stats(name).Retries += retries
			if msg := failureText(a.GetLastFailure().GetMessage(), a.GetLastFailure().GetCause().GetMessage()); Throttling(msg) {
				h.ThrottlingRetries += retries
				stats(name).Throttled += retries
				h.Examples = append(h.Examples, fmt.Sprintf("%s retried %d× after: %s", name, retries, msg))
			}
		}
		if a := ev.GetActivityTaskFailedEventAttributes(); a != nil {
			h.Failures++
			name := scheduled[a.GetScheduledEventId()]
			if msg := failureText(a.GetFailure().GetMessage(), a.GetFailure().GetCause().GetMessage()); Throttling(msg) {
				h.ThrottlingFailures++
				stats(name).Throttled++
				h.Examples = append(h.Examples, fmt.Sprintf("%s failed: %s", name, msg))
			}
		}
		if ev.GetActivityTaskTimedOutEventAttributes() != nil {
			h.TimedOut++
		}
		// A local activity is one marker: its type, the attempts it took in
		// the worker, and its failure when it failed for good.
		if m := ev.GetMarkerRecordedEventAttributes(); m != nil && m.GetMarkerName() == "LocalActivity" {
			var data struct {
				ActivityType string
				Attempt      int32
			}
			if p := m.GetDetails()["data"]; p != nil {
				_ = temporalconn.DataConverter(c).FromPayloads(p, &data)
			}
			name := data.ActivityType + " (local)"
			h.Activities++
			stats(name).Scheduled++
			if data.Attempt > 1 {
				retries := int64(data.Attempt - 1)
				h.Retries += retries
				stats(name).Retries += retries
			}
			if f := m.GetFailure(); f != nil {
				h.Failures++
				if msg := failureText(f.GetMessage(), f.GetCause().GetMessage()); Throttling(msg) {
					h.ThrottlingFailures++
					stats(name).Throttled++
					h.Examples = append(h.Examples, fmt.Sprintf("%s failed: %s", name, msg))
				}
			}
		}
	}
	return h, nil
}

// activityClosed returns the started and scheduled event ids of an event
// that closes an activity (0 for any other event).
func activityClosed(ev *historypb.HistoryEvent) (started, scheduled int64) {
	if a := ev.GetActivityTaskCompletedEventAttributes(); a != nil {
		return a.GetStartedEventId(), a.GetScheduledEventId()
	}
	if a := ev.GetActivityTaskFailedEventAttributes(); a != nil {
		return a.GetStartedEventId(), a.GetScheduledEventId()
	}
	if a := ev.GetActivityTaskTimedOutEventAttributes(); a != nil {
		return a.GetStartedEventId(), a.GetScheduledEventId()
	}
	if a := ev.GetActivityTaskCanceledEventAttributes(); a != nil {
		return a.GetStartedEventId(), a.GetScheduledEventId()
	}
	return 0, 0
}

func failureText(parts ...string) string {
	var out []string
	for _, p := range parts {
		if p != "" {
			out = append(out, p)
		}
	}
	return strings.Join(out, ": ")
}
