package benchkit

import (
	"context"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"time"

	"github.com/amicrypt/amicrypt/internal/sandbox/world"
	"github.com/amicrypt/amicrypt/workflows"
)

// Prepared is what every benchmark sets up before it starts anything: its
// work directory (world.yaml and amicrypt.yaml written there, for a look
// afterwards), the world parsed, the run's input, and the worker binary.
type Prepared struct {
	Dir   string
	Plan  Plan
	World *world.World
	Input workflows.PipelineInput
	// Bin is the worker binary; BuildSeconds what building it took (0 when
	// given).
	Bin          string
	BuildSeconds float64
	removeDir    bool
}

// PrepareOptions say what to prepare.
type PrepareOptions struct {
	// Dir is the work directory, kept; "" makes a temporary one named
	// Name, removed by Close.
	Dir, Name string
	// WorldYAML and ConfigYAML are the generated world and config.
	WorldYAML, ConfigYAML []byte
	// RunID of the run's input.
	RunID string
	// WorkerBin is a worker binary to use; "" builds ./cmd/amicrypt-worker.
	WorkerBin string
	// Progress receives what is being built.
	Progress io.Writer
}

// Prepare writes the files, parses the world, builds the input and the
// worker binary (see Prepared).
func Prepare(ctx context.Context, p Plan, o PrepareOptions) (*Prepared, error) {
	out := &Prepared{Dir: o.Dir, Plan: p}
	if out.Dir == "" {
		d, err := os.MkdirTemp("", o.Name+"-")
		if err != nil {
			return nil, err
		}
		out.Dir, out.removeDir = d, true
	} else if err := os.MkdirAll(out.Dir, 0o755); err != nil {
		return nil, err
	}
	_ = os.WriteFile(filepath.Join(out.Dir, "world.yaml"), o.WorldYAML, 0o644)
	_ = os.WriteFile(filepath.Join(out.Dir, "amicrypt.yaml"), o.ConfigYAML, 0o644)
	var err error
	if out.World, err = world.Parse(o.WorldYAML, o.Name+"-world.yaml"); err != nil {
		out.Close()
		return nil, fmt.Errorf("the generated world: %w", err)
	}
	if out.Input, err = p.PipelineInput(o.ConfigYAML, o.RunID); err != nil {
		out.Close()
		return nil, err
	}
	out.Bin = o.WorkerBin
	if out.Bin == "" {
		start := time.Now()
		if o.Progress != nil {
			fmt.Fprintln(o.Progress, "building the worker binary (go build ./cmd/amicrypt-worker)")
		}
		if out.Bin, err = BuildWorker(ctx, out.Dir); err != nil {
			out.Close()
			return nil, err
		}
		out.BuildSeconds = time.Since(start).Seconds()
	}
	return out, nil
}

// Close removes a temporary work directory.
func (p *Prepared) Close() {
	if p.removeDir {
		_ = os.RemoveAll(p.Dir)
	}
}
