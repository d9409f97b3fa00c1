package cli

import (
	"fmt"
	"io"

	"github.com/amicrypt/amicrypt/internal/pipelinerun"
	"github.com/amicrypt/amicrypt/workflows"
)

// printReport writes a run's report as a table a person reads, or as JSON.
func printReport(w io.Writer, r *workflows.Report, asJSON bool) error {
	if asJSON {
		return writeJSON(w, r)
	}
	pipelinerun.WriteTable(w, r)
	return nil
}

func summaryLine(r *workflows.Report) string { return pipelinerun.SummaryLine(r) }

// progressPrinter prints what changed since the last progress report, one line
// per target that moved, so a log or a terminal shows long runs as they go.
type progressPrinter struct {
	w       io.Writer
	tracker *pipelinerun.ProgressTracker
}

func newProgressPrinter(w io.Writer) *progressPrinter {
	return &progressPrinter{w: w, tracker: pipelinerun.NewProgressTracker()}
}

func (p *progressPrinter) update(r *workflows.Report) {
	for _, line := range p.tracker.Changes(r) {
		fmt.Fprintln(p.w, line)
	}
}
