package workflows

import (
	"bytes"
	"context"
	"os"
	"path/filepath"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
	commonpb "go.temporal.io/api/common/v1"
	enumspb "go.temporal.io/api/enums/v1"
	historypb "go.temporal.io/api/history/v1"
	workflowpb "go.temporal.io/api/workflow/v1"
	"go.temporal.io/api/workflowservice/v1"
	"go.temporal.io/sdk/client"
	"google.golang.org/protobuf/encoding/protojson"

	"github.com/amicrypt/amicrypt/activities"
	"github.com/amicrypt/amicrypt/internal/payloadcodec"
)

// historyClient is a Temporal client whose visibility lists the batches of
// running (and abandoned) as such, and whose histories are those events.
type historyClient struct {
	client.Client
	running, abandoned map[string][]*historypb.HistoryEvent // workflow id → its history so far
	reads              int                                  // GetWorkflowHistory calls
}

func (c *historyClient) ListWorkflow(_ context.Context, req *workflowservice.ListWorkflowExecutionsRequest) (*workflowservice.ListWorkflowExecutionsResponse, error) {
	list := c.running
	if req.GetQuery() == abandonedBatches {
		list = c.abandoned
	}
	var resp workflowservice.ListWorkflowExecutionsResponse
	for id := range list {
		resp.Executions = append(resp.Executions, &workflowpb.WorkflowExecutionInfo{Execution: &commonpb.WorkflowExecution{WorkflowId: id, RunId: "run-" + id}})
	}
	return &resp, nil
}

func (c *historyClient) GetWorkflowHistory(_ context.Context, id, _ string, _ bool, _ enumspb.HistoryEventFilterType) client.HistoryEventIterator {
	c.reads++
	events := c.running[id]
	if events == nil {
		events = c.abandoned[id]
	}
	return &eventIterator{events: events}
}

type eventIterator struct{ events []*historypb.HistoryEvent }

func (it *eventIterator) HasNext() bool { return len(it.events) > 0 }
func (it *eventIterator) Next() (*historypb.HistoryEvent, error) {
	ev := it.events[0]
	it.events = it.events[1:]
	return ev, nil
}

// keepHistory is the recorded batch that kept acctA's pre-existing
// permissions on the us-east-1 source, up to event last: 47 is mid-run
// (shared, nothing revoked), 50 has both UnshareSource calls scheduled and
// neither completed, 0 is the whole run.
func keepHistory(t *testing.T, last int64) []*historypb.HistoryEvent {
	t.Helper()
	b, err := os.ReadFile(filepath.Join("testdata", "batch_keep_preexisting_history.json"))
	require.NoError(t, err)
	var h historypb.History
	require.NoError(t, protojson.Unmarshal(b, &h))
	if last == 0 {
		return h.Events
	}
	var out []*historypb.HistoryEvent
	for _, ev := range h.Events {
		if ev.GetEventId() <= last {
			out = append(out, ev)
		}
	}
	return out
}

var keepBatch = BatchWorkflowID("rec-keep", 0)

func TestRunningSharesReadsWhatABatchHoldsFromItsHistory(t *testing.T) {
	keep := activities.SourcePermissions{Launch: []string{acctA}, Snapshots: []activities.SnapshotAccounts{{SnapshotID: "snap-0a", Accounts: []string{acctA}}}}
	for _, tc := range []struct {
		name         string
		last         int64
		needed, held []string
	}{
		{"mid-run", 47, []string{acctA, acctB}, []string{acctA, acctB}},
		{"revocation under way", 50, nil, []string{acctA, acctB}},
		{"revoked", 0, nil, nil},
	} {
		t.Run(tc.name, func(t *testing.T) {
			c := &historyClient{running: map[string][]*historypb.HistoryEvent{keepBatch: keepHistory(t, tc.last)}}
			rs := &RunningShares{Client: c}
			got, err := rs.BatchShares(context.Background(), useast1.ImageID, []string{acctA}, "", time.Time{})
			require.NoError(t, err)
			require.Len(t, got, 1)
			assert.Equal(t, keepBatch, got[0].WorkflowID)
			assert.Equal(t, tc.needed, got[0].Needed, "needed")
			assert.Equal(t, tc.held, got[0].Held, "held")
			assert.Equal(t, keep, got[0].Keep)
		})
	}
}

func TestRunningSharesReadsOnlyTheHistoriesOfBatchesThatCanShareTheAccounts(t *testing.T) {
	c := &historyClient{running: map[string][]*historypb.HistoryEvent{keepBatch: keepHistory(t, 47)}}
	rs := &RunningShares{Client: c}
	ctx := context.Background()
	got, err := rs.BatchShares(ctx, useast1.ImageID, []string{"999999999999"}, "", time.Time{})
	require.NoError(t, err)
	assert.Empty(t, got)
	assert.Equal(t, 1, c.reads, "its input is read, not its history")
	got, err = rs.BatchShares(ctx, euwest1.ImageID, []string{acctA}, "", time.Time{})
	require.NoError(t, err)
	assert.Empty(t, got, "acctA's only target is served from us-east-1")
	assert.Equal(t, 1, c.reads, "the input is remembered")
	got, err = rs.BatchShares(ctx, useast1.ImageID, []string{acctA}, keepBatch, time.Time{})
	require.NoError(t, err)
	assert.Empty(t, got, "the caller's own batch is left out")

	// Asked as of a moment, it waits out the visibility lag past it.
	rs.VisibilityLag = 300 * time.Millisecond
	start := time.Now()
	_, err = rs.BatchShares(ctx, useast1.ImageID, []string{acctA}, "", start)
	require.NoError(t, err)
	assert.GreaterOrEqual(t, time.Since(start), 300*time.Millisecond)
}

// A terminated batch that had found acctA's permissions in place before
// amicrypt: the housekeeping revokes acctB's shares it left, never acctA's.
func TestFindStaleSharesLeavesWhatTheSourceHadBefore(t *testing.T) {
	c := &historyClient{abandoned: map[string][]*historypb.HistoryEvent{keepBatch: keepHistory(t, 47)}}
	stale, err := (&Housekeeping{Client: c}).FindStaleShares(context.Background())
	require.NoError(t, err)
	var got []string
	for _, s := range stale {
		assert.Equal(t, keepBatch, s.Batch)
		for _, a := range s.Share.Accounts {
			got = append(got, s.Share.Source.Region+" "+a)
		}
		assert.Empty(t, s.Share.Keep.Launch, "no pre-existing permission of acctB to keep")
	}
	assert.ElementsMatch(t, []string{"eu-west-1 " + acctB, "us-east-1 " + acctB}, got)
}

// Under a payload codec (compression, encryption) a batch's history is read
// with the client's converter: what it holds is found as in the clear; with
// Temporal's default converter it could not be read at all.
func TestRunningSharesReadHistoriesThroughThePayloadCodec(t *testing.T) {
	codec, err := payloadcodec.New([]payloadcodec.Key{{ID: "k1", Secret: bytes.Repeat([]byte{7}, 32)}})
	require.NoError(t, err)
	codecs := payloadcodec.Codecs(codec)
	encode := func(p *commonpb.Payloads) {
		if p == nil {
			return
		}
		out := p.Payloads
		for i := len(codecs) - 1; i >= 0; i-- {
			out, err = codecs[i].Encode(out)
			require.NoError(t, err)
		}
		p.Payloads = out
	}
	events := keepHistory(t, 47)
	for _, ev := range events {
		encode(ev.GetWorkflowExecutionStartedEventAttributes().GetInput())
		encode(ev.GetActivityTaskScheduledEventAttributes().GetInput())
	}
	c := &historyClient{running: map[string][]*historypb.HistoryEvent{keepBatch: events}}
	dc, _ := payloadcodec.Converters(codec)

	got, err := (&RunningShares{Client: c, DataConverter: dc}).BatchShares(context.Background(), useast1.ImageID, []string{acctA}, "", time.Time{})
	require.NoError(t, err)
	require.Len(t, got, 1)
	assert.Equal(t, []string{acctA, acctB}, got[0].Needed)

	_, err = (&RunningShares{Client: c}).BatchShares(context.Background(), useast1.ImageID, []string{acctA}, "", time.Time{})
	assert.Error(t, err, "an encrypted history read with the default converter")
}
