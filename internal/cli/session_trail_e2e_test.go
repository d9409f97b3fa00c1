package cli

import (
	"context"
	"encoding/json"
	"slices"
	"sort"
	"strings"
	"testing"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/credentials"
	"github.com/aws/aws-sdk-go-v2/service/cloudtrail"

	"github.com/amicrypt/amicrypt/internal/sandbox"
	"github.com/amicrypt/amicrypt/internal/sandbox/world"
	"github.com/amicrypt/amicrypt/workflows"
)

// What an auditor reads in CloudTrail after amicrypt acted: LookupEvents,
// through the real SDK, as the account's root user. The sandbox records
// every KMS request (those EC2 makes on a caller's behalf too, invokedBy
// ec2.amazonaws.com) and, of EC2's, those that change who may use an image
// or snapshot (sharing, deregistering, deleting): a run's target account
// shows its KMS events, the builder account its shares.

// trailEntry is one event as LookupEvents returns it, with the parts of
// its record an auditor looks at.
type trailEntry struct {
	Source, Name, Username, ErrorCode string
	ReadOnly                          bool
	// Type, Role (the session's issuer) and SourceIdentity of the caller;
	// InvokedBy when a service acted for it.
	Type, Role, SourceIdentity, InvokedBy string
}

func (e trailEntry) String() string {
	s := e.Source + " " + e.Name + " by " + e.Type + " " + e.Role + "/" + e.Username + " (source identity " + e.SourceIdentity + ")"
	if e.InvokedBy != "" {
		s += " via " + e.InvokedBy
	}
	if e.ErrorCode != "" {
		s += " refused " + e.ErrorCode
	}
	return s
}

// lookupTrail reads account's whole event history in region.
func lookupTrail(t *testing.T, env *devEnv, account, region string) []trailEntry {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
	defer cancel()
	ct := cloudtrail.NewFromConfig(aws.Config{Region: region, BaseEndpoint: aws.String(env.SandboxEndpoint),
		Credentials: credentials.NewStaticCredentialsProvider(account, "sandbox", "")})
	var out []trailEntry
	p := cloudtrail.NewLookupEventsPaginator(ct, &cloudtrail.LookupEventsInput{})
	for p.HasMorePages() {
		page, err := p.NextPage(ctx)
		if err != nil {
			t.Fatalf("cloudtrail:LookupEvents in %s/%s: %v", account, region, err)
		}
		for _, ev := range page.Events {
			var rec struct {
				ReadOnly     bool   `json:"readOnly"`
				ErrorCode    string `json:"errorCode"`
				UserIdentity struct {
					Type           string `json:"type"`
					InvokedBy      string `json:"invokedBy"`
					SessionContext struct {
						SourceIdentity string `json:"sourceIdentity"`
						SessionIssuer  struct {
							UserName string `json:"userName"`
						} `json:"sessionIssuer"`
					} `json:"sessionContext"`
				} `json:"userIdentity"`
			}
			if err := json.Unmarshal([]byte(aws.ToString(ev.CloudTrailEvent)), &rec); err != nil {
				t.Fatalf("an event's record does not decode: %v\n%s", err, aws.ToString(ev.CloudTrailEvent))
			}
			id := rec.UserIdentity
			out = append(out, trailEntry{Source: aws.ToString(ev.EventSource), Name: aws.ToString(ev.EventName), Username: aws.ToString(ev.Username),
				ErrorCode: rec.ErrorCode, ReadOnly: rec.ReadOnly, Type: id.Type, Role: id.SessionContext.SessionIssuer.UserName,
				SourceIdentity: id.SessionContext.SourceIdentity, InvokedBy: id.InvokedBy})
		}
	}
	return out
}

// bySession groups the events of amicrypt's role's sessions by session
// name; the other events (the account's own, a service-linked role's) are
// left out.
func bySession(events []trailEntry, role string) map[string][]trailEntry {
	out := map[string][]trailEntry{}
	for _, e := range events {
		if e.Type == "AssumedRole" && e.Role == role {
			out[e.Username] = append(out[e.Username], e)
		}
	}
	return out
}

func names(events []trailEntry) []string {
	var out []string
	for _, e := range events {
		out = append(out, e.Name)
	}
	sort.Strings(out)
	return out
}

// A run started with --operator alice, then a rotation asked by bob: in
// the target account's CloudTrail, every event of amicrypt's role was made
// by a session named after the workflow and step — the run's
// amicrypt-run-<run>-<step>: the key made by the prepare step's session,
// what EBS asked of it while copying by the copy step's; the rotation's
// amicrypt-<rotation id>-rotate (amicrypt-rotation-<account>-<time>-rotate), which disabled and deregistered the
// run's image — each with its operator as the source identity. No event is
// an anonymous session's. In the builder account, where the worker runs as
// the pipeline role itself (as in production), the role assumed itself for
// the run's shares: they were made by amicrypt-run-<run>-share, alice's.
func TestCloudTrailNamesTheRunStepAndOperatorOfEverySession(t *testing.T) {
	env := startE2E(t, world.Default())
	path, _ := rotationConfig(t, "  - {account: \"222222222222\", name: payments-prod, regions: [us-east-1]}\n")
	code, stdout, stderr := runCLI(env, "run", "--config", path, "--source", "us-east-1=ami-0b0000000000a0001", "--operator", "alice", "--wait", "--json")
	if code != 0 {
		t.Fatalf("run: exit %d\nstdout: %s\nstderr: %s", code, stdout, stderr)
	}
	r := decodeReport(t, stdout, stderr)
	if len(r.Targets) != 1 || r.Targets[0].Status != workflows.StatusSucceeded {
		t.Fatalf("the run: %+v", r.Targets)
	}
	code, stdout, stderr = runCLI(env, "rotate", "--config", path, "--account", "222222222222", "--reason", "scheduled", "--operator", "bob", "--wait", "--json")
	if code != 0 {
		t.Fatalf("rotate: exit %d\nstdout: %s\nstderr: %s", code, stdout, stderr)
	}
	run := workflows.PipelineWorkflowID(r.RunID) + "-"
	rr := decodeReport(t, stdout, stderr)
	if !strings.HasPrefix(rr.RunID, "rotation-222222222222-") {
		t.Fatalf("the rotation's report: run id %q", rr.RunID)
	}
	rotation := "amicrypt-" + rr.RunID + "-"

	target := bySession(lookupTrail(t, env, "222222222222", "us-east-1"), "amicrypt-target")
	for name, evs := range target {
		want := ""
		switch {
		case strings.HasPrefix(name, run):
			want = "alice"
		case strings.HasPrefix(name, rotation):
			want = "bob"
		default:
			t.Errorf("events of a session %q, named after neither the run %s nor the rotation: %v", name, r.RunID, evs)
		}
		for _, e := range evs {
			if want != "" && e.SourceIdentity != want {
				t.Errorf("%v: source identity %q, want %s (--operator)", e, e.SourceIdentity, want)
			}
		}
	}
	if prepare := names(target[run+"prepare"]); !slices.Contains(prepare, "CreateKey") || !slices.Contains(prepare, "CreateAlias") {
		t.Errorf("the run's prepare session made %v, want the key (CreateKey, CreateAlias)", prepare)
	}
	var viaEC2 []string
	for _, e := range target[run+"copy"] {
		if e.Source == "kms.amazonaws.com" && e.InvokedBy == "ec2.amazonaws.com" {
			viaEC2 = append(viaEC2, e.Name)
		}
	}
	if len(viaEC2) == 0 {
		t.Errorf("no KMS event EC2 made for the run's copy session: %v", target[run+"copy"])
	}
	builder := bySession(lookupTrail(t, env, "111111111111", "us-east-1"), "amicrypt-pipeline")
	var shared []string
	for name, evs := range builder {
		for _, e := range evs {
			if e.Name != "ModifyImageAttribute" && e.Name != "ModifySnapshotAttribute" {
				continue
			}
			shared = append(shared, e.Name)
			if name != run+"share" || e.SourceIdentity != "alice" {
				t.Errorf("a share of the source made by session %q (source identity %q), want %sshare, alice's", name, e.SourceIdentity, run)
			}
		}
	}
	if !slices.Contains(shared, "ModifyImageAttribute") || !slices.Contains(shared, "ModifySnapshotAttribute") {
		t.Errorf("the builder's CloudTrail shows no share of the source by amicrypt's role: %v", builder)
	}
	var rotated []string
	for _, e := range target[rotation+"rotate"] {
		rotated = append(rotated, e.Source+" "+e.Name)
	}
	for _, want := range []string{"kms.amazonaws.com CreateKey", "kms.amazonaws.com DisableKey", "ec2.amazonaws.com DisableImage", "ec2.amazonaws.com DeregisterImage"} {
		if !slices.Contains(rotated, want) {
			t.Errorf("the rotation's session %srotate made no %s: %v", rotation, want, rotated)
		}
	}
}

// A plan reads only, and CloudTrail shows it: `amicrypt plan --operator
// alice` makes no mutating call the sandbox counts, and every event of
// amicrypt's role in the target is a read (or a request that only asked
// whether it would be allowed: a DryRun) by the plan's read session.
func TestAPlanReadsOnlyAndCloudTrailShowsItsReadSession(t *testing.T) {
	env := startE2E(t, world.Default())
	path, _ := rotationConfig(t, "  - {account: \"222222222222\", name: payments-prod, regions: [us-east-1]}\n")
	before := sandbox.Writes(env.Sandbox.Counters(), "")
	code, stdout, stderr := runCLI(env, "plan", "--config", path, "--source", "us-east-1=ami-0b0000000000a0001", "--operator", "alice", "--json")
	if code != 0 {
		t.Fatalf("plan: exit %d\nstdout: %s\nstderr: %s", code, stdout, stderr)
	}
	if writes := sandbox.NewWrites(before, sandbox.Writes(env.Sandbox.Counters(), "")); len(writes) > 0 {
		t.Errorf("the plan made mutating calls: %v", writes)
	}
	var plan workflows.PlanReport
	if err := json.Unmarshal([]byte(stdout), &plan); err != nil {
		t.Fatalf("the plan's JSON: %v\n%s", err, stdout)
	}

	target := bySession(lookupTrail(t, env, "222222222222", "us-east-1"), "amicrypt-target")
	if len(target) == 0 {
		t.Fatal("the target's CloudTrail shows no event of amicrypt's role: the plan read nothing through KMS?")
	}
	for name, evs := range target {
		if !strings.HasPrefix(name, "amicrypt-plan-"+plan.RunID+"-") || !strings.HasSuffix(name, "-read") {
			t.Errorf("events of a session %q, want the plan's read session amicrypt-plan-%s-…-read: %v", name, plan.RunID, evs)
		}
		for _, e := range evs {
			if !e.ReadOnly && !strings.HasPrefix(e.ErrorCode, "DryRunOperation") {
				t.Errorf("the plan wrote: %v", e)
			}
			if e.SourceIdentity != "alice" {
				t.Errorf("%v: source identity %q, want alice", e, e.SourceIdentity)
			}
		}
	}
}
