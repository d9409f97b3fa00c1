package worker

import (
	"go/ast"
	"go/parser"
	"go/token"
	"path/filepath"
	"reflect"
	"runtime"
	"slices"
	"strings"
	"testing"

	"go.temporal.io/sdk/activity"
	sdkworker "go.temporal.io/sdk/worker"
	"go.temporal.io/sdk/workflow"

	"github.com/amicrypt/amicrypt/activities"
	"github.com/amicrypt/amicrypt/workflows"
)

// registry records the names a Register call gives Temporal.
type registry struct {
	sdkworker.Registry // not called: panics if the code under test grows a new kind of registration
	activities         []string
	workflows          []string
}

func (r *registry) RegisterActivity(fn any) { r.activities = append(r.activities, funcName(fn)) }
func (r *registry) RegisterActivityWithOptions(fn any, o activity.RegisterOptions) {
	r.activities = append(r.activities, o.Name)
}
func (r *registry) RegisterWorkflow(fn any) { r.workflows = append(r.workflows, funcName(fn)) }
func (r *registry) RegisterWorkflowWithOptions(fn any, o workflow.RegisterOptions) {
	r.workflows = append(r.workflows, o.Name)
}

// funcName is the name Temporal gives a function or method value: its last
// element, without the "-fm" a method value carries.
func funcName(fn any) string {
	full := runtime.FuncForPC(reflect.ValueOf(fn).Pointer()).Name()
	return strings.TrimSuffix(full[strings.LastIndex(full, ".")+1:], "-fm")
}

// TestRegisteredActivitiesAreTheCalledOnes holds the worker's explicit list
// against what the workflows call: an activity a workflow runs that no
// worker registers is retried forever (this is how an unregistered attach
// left overlapping runs hanging), and one registered that no workflow calls
// is a layer left behind.
func TestRegisteredActivitiesAreTheCalledOnes(t *testing.T) {
	r := &registry{}
	Register(r, nil, nil)

	called := calledActivities(t, filepath.Join("..", "workflows"))
	if len(called) < 10 {
		t.Fatalf("found only %v called in ../workflows: the scan below no longer sees the calls", called)
	}
	registered := slices.Sorted(slices.Values(r.activities))
	if dup := slices.Compact(slices.Clone(registered)); len(dup) != len(registered) {
		t.Errorf("an activity is registered twice: %v", registered)
	}
	for _, name := range called {
		if !slices.Contains(registered, name) {
			t.Errorf("workflows call activity %s, which the worker does not register: add it to worker.Activities", name)
		}
	}
	for _, name := range registered {
		if !slices.Contains(called, name) {
			t.Errorf("the worker registers activity %s, which no workflow calls: remove it (and the code only it uses)", name)
		}
	}
	// Clients start workflows by these names ('amicrypt run', the Packer
	// post-processor, 'amicrypt rotate', 'amicrypt plan', the sweep's Schedule); the
	// pipeline starts Batch and Target as children, a sweep starts
	// SweepBatches and Rotations.
	if want := []string{"Batch", "Pipeline", "Plan", "PlanRun", "Rotation", "Sweep", "SweepBatch", "Target"}; !slices.Equal(slices.Sorted(slices.Values(r.workflows)), want) {
		t.Errorf("workflows registered %v, want %v", r.workflows, want)
	}

	// Every exported method of Activities is an activity: a helper that
	// is exported but not registered would look like one to a reader.
	typ := reflect.TypeOf(&activities.Activities{})
	for i := range typ.NumMethod() {
		if m := typ.Method(i).Name; !slices.Contains(registered, m) {
			t.Errorf("activities.Activities.%s is exported but not an activity the worker registers: unexport it or register it", m)
		}
	}
	for _, v := range []any{&workflows.Attach{}, &workflows.Housekeeping{}} {
		typ = reflect.TypeOf(v)
		for i := range typ.NumMethod() {
			if m := typ.Method(i).Name; !slices.Contains(registered, m) {
				t.Errorf("%s.%s is exported but not registered", typ.Elem().Name(), m)
			}
		}
	}
}

// calledActivities scans the workflows' source for the activities they
// run: the methods selected on a variable declared as *activities.Activities
// or a workflows activity struct (var a *activities.Activities; workflow.ExecuteActivity(ctx,
// a.ProveBoot, ...)), the way samples-go's workflows call theirs.
func calledActivities(t *testing.T, dir string) []string {
	t.Helper()
	files, err := filepath.Glob(filepath.Join(dir, "*.go"))
	if err != nil {
		t.Fatal(err)
	}
	fset := token.NewFileSet()
	seen := map[string]bool{}
	for _, file := range files {
		if strings.HasSuffix(file, "_test.go") {
			continue
		}
		f, err := parser.ParseFile(fset, file, nil, 0)
		if err != nil {
			t.Fatal(err)
		}
		for _, decl := range f.Decls {
			fn, ok := decl.(*ast.FuncDecl)
			if !ok || fn.Body == nil {
				continue
			}
			vars := map[string]bool{}
			ast.Inspect(fn.Body, func(n ast.Node) bool {
				if spec, ok := n.(*ast.ValueSpec); ok && isActivitiesPointer(spec.Type) {
					for _, name := range spec.Names {
						vars[name.Name] = true
					}
				}
				return true
			})
			ast.Inspect(fn.Body, func(n ast.Node) bool {
				sel, ok := n.(*ast.SelectorExpr)
				if !ok {
					return true
				}
				if id, ok := sel.X.(*ast.Ident); ok && vars[id.Name] {
					seen[sel.Sel.Name] = true
				}
				return true
			})
		}
	}
	return slices.Sorted(func(yield func(string) bool) {
		for name := range seen {
			if !yield(name) {
				return
			}
		}
	})
}

// isActivitiesPointer: *activities.Activities, *Attach or *Housekeeping.
func isActivitiesPointer(e ast.Expr) bool {
	star, ok := e.(*ast.StarExpr)
	if !ok {
		return false
	}
	switch x := star.X.(type) {
	case *ast.SelectorExpr:
		pkg, ok := x.X.(*ast.Ident)
		return ok && pkg.Name == "activities" && x.Sel.Name == "Activities"
	case *ast.Ident:
		return x.Name == "Attach" || x.Name == "Housekeeping"
	}
	return false
}
