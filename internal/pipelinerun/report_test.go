package pipelinerun

import (
	"bytes"
	"strings"
	"testing"
	"time"

	"github.com/amicrypt/amicrypt/activities"
	"github.com/amicrypt/amicrypt/workflows"
)

func TestProgressTrackerPrintsOnlyWhatMoved(t *testing.T) {
	p := NewProgressTracker()
	p.Now = func() time.Time { return time.Date(2026, 11, 23, 14, 0, 0, 0, time.UTC) }
	p.ShowImage = true
	r := &workflows.Report{Targets: []workflows.TargetReport{
		{Account: "222222222222", Name: "payments-prod", Region: "us-east-1", Status: workflows.StatusRunning, Step: "copy"},
		{Account: "444444444444", Region: "us-east-1", Status: workflows.StatusPending},
	}}
	if got := p.Changes(r); len(got) != 2 || !strings.Contains(got[0], "running: copy") {
		t.Fatalf("first report: %q", got)
	}
	if got := p.Changes(r); len(got) != 0 {
		t.Errorf("nothing moved, got %q", got)
	}
	r.Targets[0].Status, r.Targets[0].EncryptedImageID = workflows.StatusSucceeded, "ami-0c0000000000a0001"
	r.Targets[1].Status = workflows.StatusFailed
	r.Targets[1].Diagnosis = &activities.Diagnosis{Code: activities.F2, Cause: "the key policy leaves Auto Scaling out"}
	got := p.Changes(r)
	want := []string{
		"14:00:00  222222222222 payments-prod  us-east-1  succeeded  ami-0c0000000000a0001",
		"14:00:00  444444444444 -              us-east-1  failed  [F2] the key policy leaves Auto Scaling out",
	}
	if strings.Join(got, "\n") != strings.Join(want, "\n") {
		t.Errorf("got\n%s\nwant\n%s", strings.Join(got, "\n"), strings.Join(want, "\n"))
	}
}

func TestWriteTable(t *testing.T) {
	start := time.Date(2026, 11, 23, 14, 0, 0, 0, time.UTC)
	end := start.Add(8 * time.Second)
	r := &workflows.Report{RunID: "0848032d6d34", Sources: map[string]string{"us-east-1": "ami-0b0000000000a0001"},
		Targets: []workflows.TargetReport{
			{Account: "222222222222", Name: "payments-prod", Region: "us-east-1", Status: workflows.StatusSucceeded, EncryptedImageID: "ami-0c0000000000a0001", Boot: activities.BootResult{Result: "InService"}, StartedAt: &start, FinishedAt: &end},
			{Account: "444444444444", Region: "us-east-1", Status: workflows.StatusFailed, Diagnosis: &activities.Diagnosis{Code: "F2", Cause: "cause", Fix: "line one\nline two"}},
		}}
	r.Summary = workflows.Summary(r.Targets)
	var b bytes.Buffer
	WriteTable(&b, r)
	for _, want := range []string{"run 0848032d6d34\n", "  source us-east-1 ami-0b0000000000a0001\n", "ami-0c0000000000a0001  InService  8s",
		"444444444444 us-east-1 (-) failed: F2 cause\n  fix: line one\n       line two\n", "2 targets: 1 succeeded, 1 failed\n"} {
		if !strings.Contains(b.String(), want) {
			t.Errorf("table lacks %q:\n%s", want, b.String())
		}
	}
}
