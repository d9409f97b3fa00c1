package workflows

import (
	"go.temporal.io/sdk/workflow"

	"github.com/amicrypt/amicrypt/activities"
	"github.com/amicrypt/amicrypt/internal/metrics"
)

// targetFinished counts a Target's end in amicrypt_targets_finished_total,
// labelled with its status and diagnosis code (empty unless failed),
// through the workflow's metrics handler: the SDK records nothing while a
// workflow replays, and a metric is no workflow command, so recorded
// histories replay as before. The worker's handler (metrics.TemporalHandler)
// routes the name to its collector.
func targetFinished(ctx workflow.Context, rep TargetReport) {
	code := ""
	if rep.Diagnosis != nil {
		code = rep.Diagnosis.Code
	}
	workflow.GetMetricsHandler(ctx).
		WithTags(map[string]string{metrics.LabelStatus: rep.Status, metrics.LabelDiagnosisCode: code}).
		Counter(metrics.TargetsFinished).Inc(1)
}

// TargetOutcomes are the status and diagnosis code pairs a Target can end
// with: the worker starts their counters at zero (metrics.Options).
func TargetOutcomes() [][2]string {
	out := [][2]string{{StatusSucceeded, ""}, {StatusCancelled, ""}}
	for _, code := range []string{
		activities.F1, activities.F2, activities.F3, activities.F4, activities.F5, activities.F6, activities.F7, activities.F8,
		activities.SourceUnusable, activities.Architecture, activities.NoSubnet, activities.Quota, activities.NotAllowed, activities.Other,
	} {
		out = append(out, [2]string{StatusFailed, code})
	}
	return out
}
