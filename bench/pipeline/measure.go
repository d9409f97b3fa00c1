package main

import (
	"time"

	"github.com/amicrypt/amicrypt/workflows"
)

// slowestTarget is the longest a single target took, from its Target
// workflow's start to its end, as the report records them.
func slowestTarget(r workflows.Report) (time.Duration, string) {
	var worst time.Duration
	var who string
	for _, t := range r.Targets {
		if t.StartedAt == nil || t.FinishedAt == nil {
			continue
		}
		if d := t.FinishedAt.Sub(*t.StartedAt); d > worst {
			worst, who = d, t.Account+"/"+t.Region
		}
	}
	return worst, who
}

// targetSpread is when the first and the last target started, relative to t0.
func targetSpread(r workflows.Report, t0 time.Time) (first, last time.Duration) {
	first = -1
	for _, t := range r.Targets {
		if t.StartedAt == nil {
			continue
		}
		d := t.StartedAt.Sub(t0)
		if first < 0 || d < first {
			first = d
		}
		last = max(last, d)
	}
	return max(first, 0), last
}
