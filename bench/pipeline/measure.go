package main

import (
	"context"
	"time"

	"github.com/amicrypt/amicrypt/activities"
	"github.com/amicrypt/amicrypt/internal/benchkit"

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

// copiesMade counts, in the sandbox's state, the images made from the
// run's sources in each target account and region (account/region →
// images): one each when nothing was copied twice. A CopyImage retried
// with its client token (a worker killed between the call and its
// recording) returns the image it made and makes none.
func copiesMade(ctx context.Context, endpoint string, sources []activities.Source) (map[string]int, error) {
	st, err := benchkit.ReadState(ctx, endpoint)
	if err != nil {
		return nil, err
	}
	from := map[string]bool{}
	for _, s := range sources {
		from[s.ImageID] = true
	}
	copies := map[string]int{}
	for acct, a := range st.Accounts {
		for region, r := range a.Regions {
			for _, im := range r.Images {
				if from[im.SourceImageID] {
					copies[acct+"/"+region]++
				}
			}
		}
	}
	return copies, nil
}
