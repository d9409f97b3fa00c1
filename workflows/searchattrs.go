package workflows

import (
	enumspb "go.temporal.io/api/enums/v1"
	"go.temporal.io/sdk/temporal"
	"go.temporal.io/sdk/workflow"

	"github.com/amicrypt/amicrypt/activities"
)

// Search attributes of the Target workflows, so that visibility (amicrypt
// list, the Temporal UI's filter, `temporal workflow list --query`) answers
// "which targets of run R failed with F2?" without reading a report. All are
// Keyword attributes; the namespace must have them before a worker runs
// these workflows: `amicrypt dev` registers them on its embedded server, a
// cluster's operator creates them (SearchAttributesCommand), and `amicrypt
// worker` refuses to start without them.
//
// A namespace that lacks one when a workflow sets it does not fail the
// workflow: the server fails the workflow task that sets it ("search
// attribute AmicryptStep is not defined"), and the task is retried until the
// attribute exists, the workflow waiting meanwhile — a Batch cannot start its
// Targets then, nor a Target move on.
var (
	// AttrRun is the run that started the Target workflow. A Target
	// workflow is shared by the runs of its source image (TargetWorkflowID
	// names no run): a second run that attached to it while it ran (see
	// Attach) is not its AmicryptRun.
	AttrRun = temporal.NewSearchAttributeKeyKeyword("AmicryptRun")
	// AttrAccount and AttrRegion are the target's account and region.
	AttrAccount = temporal.NewSearchAttributeKeyKeyword("AmicryptAccount")
	AttrRegion  = temporal.NewSearchAttributeKeyKeyword("AmicryptRegion")
	// AttrStep is the step under way (prepare, copy, wait-available,
	// boot-proof, publish), done, or for a failed target the step that
	// failed, as TargetReport.Step.
	AttrStep = temporal.NewSearchAttributeKeyKeyword("AmicryptStep")
	// AttrStatus is running (from its start), succeeded, failed or
	// cancelled; pending for a Target a Batch of an earlier release
	// started, until its first step.
	AttrStatus = temporal.NewSearchAttributeKeyKeyword("AmicryptStatus")
	// AttrDiagnosis is a failed target's diagnosis code (F1 ... F8, other,
	// ...); unset otherwise.
	AttrDiagnosis = temporal.NewSearchAttributeKeyKeyword("AmicryptDiagnosis")
)

// SearchAttributes are the search attributes amicrypt's workflows set, in
// the order they are documented.
func SearchAttributes() []temporal.SearchAttributeKey {
	return []temporal.SearchAttributeKey{AttrRun, AttrAccount, AttrRegion, AttrStep, AttrStatus, AttrDiagnosis}
}

// SearchAttributeTypes are SearchAttributes by name, with their types, as
// the operator service's AddSearchAttributes takes them.
func SearchAttributeTypes() map[string]enumspb.IndexedValueType {
	out := map[string]enumspb.IndexedValueType{}
	for _, k := range SearchAttributes() {
		out[k.GetName()] = k.GetValueType()
	}
	return out
}

// targetStartAttributes are a Target's search attributes as its Batch starts
// it (ChildWorkflowOptions: part of the start command, no command of their
// own, and not compared when a Batch replays): its run, account and region,
// running its first step. The Target's first workflow task prepares and
// starts the copy (local activities) and shows nothing before it waits.
func targetStartAttributes(runID string, t activities.Target) temporal.SearchAttributes {
	return temporal.NewSearchAttributes(
		AttrRun.ValueSet(runID),
		AttrAccount.ValueSet(t.Account),
		AttrRegion.ValueSet(t.Region),
		AttrStatus.ValueSet(StatusRunning),
		AttrStep.ValueSet(StepPrepare),
	)
}

// How a Target keeps its search attributes. Each upsert is a workflow
// command, an event and a write of the workflow's visibility record (the
// costliest write an embedded server makes: its record carries some sixty
// indexes), so the later schemes make fewer.
const (
	// attributesNone: a Target recorded before the attributes.
	attributesNone = 0
	// attributesPerStep (the search-attributes version 1): started pending
	// (by a Batch of that release) or with none; shows each step as it
	// begins, and its end.
	attributesPerStep = 1
	// AttributesAtWaits: started running its first step (TargetInput
	// .Attributes, set by its Batch: no version marker, whose own upsert of
	// TemporalChangeVersion is another write); shows the steps that wait on
	// AWS (wait-available, boot-proof) as they begin, and its end. The quick
	// steps between (copy: the copy's start; publish) run as local
	// activities in the same workflow task and are not shown: a Target
	// shows prepare while it starts its copy, and boot-proof while it
	// publishes. A failed Target shows the step that failed.
	AttributesAtWaits = 2
)

// searchAttributesVersion gates the Target's upserts of its step, status
// and diagnosis (each is a command: a Target recorded before has none) in
// Targets whose input does not say how to keep them.
const searchAttributesVersion = "search-attributes"

// attributesScheme is how this Target keeps its search attributes.
func attributesScheme(ctx workflow.Context, in TargetInput) int {
	if in.Attributes >= AttributesAtWaits {
		return AttributesAtWaits
	}
	if workflow.GetVersion(ctx, searchAttributesVersion, workflow.DefaultVersion, 1) == 1 {
		return attributesPerStep
	}
	return attributesNone
}

// showsStep reports whether the Target upserts its step as it enters it.
func (t *targetRun) showsStep(step string) bool {
	switch t.attrs {
	case attributesPerStep:
		return step != StepDone // shown by finish, with the status
	case AttributesAtWaits:
		return step == StepWaitAvailable || step == StepBootProof
	}
	return false
}

// shownAttrs are the values a Target last upserted.
type shownAttrs struct {
	identity                bool // run, account and region
	step, status, diagnosis string
}

// shownAtStart are the step, status and diagnosis a Target was started
// with (its start event: the same on replay), so that it upserts only what
// changes from there.
func shownAtStart(ctx workflow.Context) shownAttrs {
	sa := workflow.GetTypedSearchAttributes(ctx)
	var sh shownAttrs
	_, sh.identity = sa.GetKeyword(AttrRun)
	sh.step, _ = sa.GetKeyword(AttrStep)
	sh.status, _ = sa.GetKeyword(AttrStatus)
	sh.diagnosis, _ = sa.GetKeyword(AttrDiagnosis)
	return sh
}

// show upserts the target's step, status and diagnosis code where they
// changed since the last upsert (none: no command). Its run, account and
// region come with the first when its start did not carry them (a Target
// started by a Batch older than the attributes).
func (t *targetRun) show(ctx workflow.Context) {
	if t.attrs == attributesNone {
		return
	}
	var ups []temporal.SearchAttributeUpdate
	if !t.shown.identity {
		t.shown.identity = true
		if _, ok := workflow.GetTypedSearchAttributes(ctx).GetKeyword(AttrRun); !ok {
			ups = append(ups, AttrRun.ValueSet(t.in.RunID), AttrAccount.ValueSet(t.in.Target.Account), AttrRegion.ValueSet(t.in.Target.Region))
		}
	}
	if t.rep.Step != t.shown.step {
		t.shown.step = t.rep.Step
		ups = append(ups, AttrStep.ValueSet(t.rep.Step))
	}
	if t.rep.Status != t.shown.status {
		t.shown.status = t.rep.Status
		ups = append(ups, AttrStatus.ValueSet(t.rep.Status))
	}
	code := ""
	if t.rep.Diagnosis != nil {
		code = t.rep.Diagnosis.Code
	}
	if code != t.shown.diagnosis {
		t.shown.diagnosis = code
		if code == "" {
			ups = append(ups, AttrDiagnosis.ValueUnset())
		} else {
			ups = append(ups, AttrDiagnosis.ValueSet(code))
		}
	}
	if len(ups) == 0 {
		return
	}
	// Only attributes that cannot be encoded fail here; an attribute the
	// namespace lacks fails the workflow task, on the server (above).
	if err := workflow.UpsertTypedSearchAttributes(ctx, ups...); err != nil {
		t.log.Warn("search attributes not updated", "error", err)
	}
}
