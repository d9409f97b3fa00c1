package temporalconn

import (
	"bytes"
	"encoding/json"
	"errors"
	"strings"
	"testing"

	"github.com/rs/zerolog"
	"go.temporal.io/sdk/log"
)

func decodeLines(t *testing.T, buf *bytes.Buffer) []map[string]any {
	t.Helper()
	var out []map[string]any
	for _, line := range strings.Split(strings.TrimSpace(buf.String()), "\n") {
		if line == "" {
			continue
		}
		var m map[string]any
		if err := json.Unmarshal([]byte(line), &m); err != nil {
			t.Fatalf("not JSON: %q: %v", line, err)
		}
		out = append(out, m)
	}
	return out
}

func TestLoggerLevelsAndFields(t *testing.T) {
	var buf bytes.Buffer
	l := NewLogger(zerolog.New(&buf).Level(zerolog.DebugLevel))
	l.Debug("polling", "TaskQueue", "amicrypt", "Attempt", 3)
	l.Info("started", "WorkerID", "w1")
	l.Warn("slow", "Duration", "2s")
	l.Error("failed", "Error", errors.New("boom"))

	lines := decodeLines(t, &buf)
	if len(lines) != 4 {
		t.Fatalf("got %d lines, want 4: %s", len(lines), buf.String())
	}
	want := []struct{ level, msg, key string }{
		{"debug", "polling", "TaskQueue"}, {"info", "started", "WorkerID"},
		{"warn", "slow", "Duration"}, {"error", "failed", "Error"},
	}
	for i, w := range want {
		if lines[i]["level"] != w.level || lines[i]["message"] != w.msg || lines[i][w.key] == nil {
			t.Errorf("line %d = %v, want level %s message %s with %s", i, lines[i], w.level, w.msg, w.key)
		}
	}
	if lines[0]["Attempt"] != float64(3) {
		t.Errorf("numbers stay numbers: %v", lines[0]["Attempt"])
	}
	if lines[3]["Error"] != "boom" {
		t.Errorf("errors print their message: %v", lines[3]["Error"])
	}
}

func TestLoggerRespectsLevel(t *testing.T) {
	var buf bytes.Buffer
	l := NewLogger(zerolog.New(&buf).Level(zerolog.WarnLevel))
	l.Debug("hidden")
	l.Info("hidden")
	l.Warn("shown")
	if lines := decodeLines(t, &buf); len(lines) != 1 || lines[0]["message"] != "shown" {
		t.Errorf("got %s", buf.String())
	}
}

func TestLoggerWith(t *testing.T) {
	var buf bytes.Buffer
	base := NewLogger(zerolog.New(&buf))
	child := base.(log.WithLogger).With("Namespace", "default", "WorkflowID", "amicrypt-run-1")
	child.Info("step", "Step", "copy")
	base.Info("plain")

	lines := decodeLines(t, &buf)
	if lines[0]["Namespace"] != "default" || lines[0]["WorkflowID"] != "amicrypt-run-1" || lines[0]["Step"] != "copy" {
		t.Errorf("With fields missing: %v", lines[0])
	}
	if _, ok := lines[1]["Namespace"]; ok {
		t.Errorf("With changed the parent logger: %v", lines[1])
	}
}

func TestLoggerOddAndNonStringKeys(t *testing.T) {
	var buf bytes.Buffer
	NewLogger(zerolog.New(&buf)).Info("odd", 42, "answer", "dangling")
	lines := decodeLines(t, &buf)
	if lines[0]["42"] != "answer" {
		t.Errorf("non-string key not printed: %v", lines[0])
	}
	if lines[0]["extra"] != "dangling" {
		t.Errorf("a value without a key is dropped: %v", lines[0])
	}
}
