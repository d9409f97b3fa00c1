//go:build linux

package cli

import (
	"bytes"
	"context"
	"encoding/base64"
	"io"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/rs/zerolog"
	enumspb "go.temporal.io/api/enums/v1"
	"go.temporal.io/api/workflowservice/v1"
	"google.golang.org/protobuf/proto"

	"github.com/amicrypt/amicrypt/activities"
	"github.com/amicrypt/amicrypt/internal/config"
	"github.com/amicrypt/amicrypt/internal/payloadcodec"
	"github.com/amicrypt/amicrypt/internal/sandbox/world"
	"github.com/amicrypt/amicrypt/internal/temporalconn"
	"github.com/amicrypt/amicrypt/workflows"
)

// With a payload key file, a run's workflow histories, read through a
// client without the key, hold neither the target's ExternalId nor its role
// ARN nor the list of accounts shared with; the CLI with the key reads the
// report as always.
func TestPayloadsAreEncryptedInTemporalsHistories(t *testing.T) {
	if testing.Short() {
		t.Skip("builds the amicrypt binary and runs a pipeline")
	}
	t.Parallel()
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Minute)
	defer cancel()
	const externalID = "xid-5f3a9c0d"
	def := world.DefaultYAML()
	if !bytes.Contains(def, []byte("sts:ExternalId: amicrypt")) {
		t.Fatal("the default world's trust policy changed")
	}
	w, err := world.Parse(bytes.ReplaceAll(def, []byte("sts:ExternalId: amicrypt"), []byte("sts:ExternalId: "+externalID)), "codec.yaml")
	if err != nil {
		t.Fatal(err)
	}
	w.Timing.CopySeconds = 1
	keyFile := filepath.Join(t.TempDir(), "payload-keys")
	if err := os.WriteFile(keyFile, []byte("k1 "+base64.StdEncoding.EncodeToString(bytes.Repeat([]byte{42}, 32))+"\n"), 0o600); err != nil {
		t.Fatal(err)
	}
	s := startOneWorker(ctx, t, w, "codec", temporalconn.EnvPayloadKeyFile+"="+keyFile)
	temporal, plain, taskQueue := s.temporal, s.client, s.taskQueue
	withKey, err := temporalconn.Dial(ctx, temporalconn.Options{Address: temporal.FrontendAddress(), Namespace: temporalconn.DefaultNamespace, TaskQueue: taskQueue, PayloadKeyFile: keyFile}, zerolog.Nop())
	if err != nil {
		t.Fatal(err)
	}
	defer withKey.Close()

	cfg, err := config.Parse(config.Example(), "example.yaml")
	if err != nil {
		t.Fatal(err)
	}
	b, src, targets, err := cfg.Expand(builderSources(w, "111111111111"))
	if err != nil {
		t.Fatal(err)
	}
	var in workflows.PipelineInput
	for _, tg := range targets {
		if tg.ID() == "222222222222/us-east-1" {
			tg.ExternalID = externalID
			in = workflows.PipelineInput{Builder: b, Sources: src, Targets: []activities.Target{tg}, InFlight: 10, PerAccountRegion: 10}
		}
	}
	in.RunID = runIDFor(in)
	run, _, err := startPipeline(ctx, withKey, taskQueue, in)
	if err != nil {
		t.Fatal(err)
	}
	rep, err := followRun(ctx, withKey, run, io.Discard, true)
	if err != nil {
		t.Fatal(err)
	}
	if len(rep.Targets) != 1 || rep.Targets[0].Status != workflows.StatusSucceeded {
		t.Fatalf("the run through the codec: %+v", rep.Targets)
	}
	roleARN := in.Targets[0].RoleARN

	// Every history, read without the key.
	var raw bytes.Buffer
	var n, encrypted int
	list, err := plain.ListWorkflow(ctx, &workflowservice.ListWorkflowExecutionsRequest{Namespace: temporalconn.DefaultNamespace, PageSize: 1000})
	if err != nil {
		t.Fatal(err)
	}
	for _, ex := range list.Executions {
		it := plain.GetWorkflowHistory(ctx, ex.Execution.WorkflowId, ex.Execution.RunId, false, enumspb.HISTORY_EVENT_FILTER_TYPE_ALL_EVENT)
		for it.HasNext() {
			ev, err := it.Next()
			if err != nil {
				t.Fatal(err)
			}
			b, _ := proto.Marshal(ev)
			raw.Write(b)
			encrypted += bytes.Count(b, []byte(payloadcodec.Encoding))
		}
		n++
	}
	if n < 3 {
		t.Fatalf("%d workflows read: the histories were not read", n)
	}
	if encrypted == 0 {
		t.Errorf("no encrypted payload in %d workflows' histories", n)
	}
	for what, s := range map[string]string{"the ExternalId": externalID, "the role ARN": roleARN, "the accounts shared with": `["222222222222"]`} {
		if bytes.Contains(raw.Bytes(), []byte(s)) {
			t.Errorf("%s (%s) is readable in the histories without the payload key", what, s)
		}
	}
	// Without the key the result does not decode.
	var got workflows.Report
	if err := plain.GetWorkflow(ctx, run.GetID(), run.GetRunID()).Get(ctx, &got); err == nil && strings.Contains(got.RunID, in.RunID) {
		t.Error("the report decodes without the payload key")
	}
}
