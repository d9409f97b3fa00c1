package worker

import (
	"reflect"
	"runtime"
	"slices"
	"strings"
	"testing"
	"time"

	"go.temporal.io/sdk/activity"
	"go.temporal.io/sdk/client"
	sdkworker "go.temporal.io/sdk/worker"
	"go.temporal.io/sdk/workflow"

	"github.com/amicrypt/amicrypt/activities"
)

// registry records what is registered on it.
type registry struct {
	sdkworker.Registry // not called: panics if the code under test grows a new kind of registration
	workflows          []string
	activities         []any
}

func (r *registry) RegisterWorkflow(w any) {
	name := runtime.FuncForPC(reflect.ValueOf(w).Pointer()).Name()
	r.workflows = append(r.workflows, name[strings.LastIndex(name, ".")+1:])
}
func (r *registry) RegisterWorkflowWithOptions(w any, _ workflow.RegisterOptions) {
	r.RegisterWorkflow(w)
}
func (r *registry) RegisterActivity(a any) { r.activities = append(r.activities, a) }
func (r *registry) RegisterActivityWithOptions(a any, _ activity.RegisterOptions) {
	r.RegisterActivity(a)
}

// Clients start workflows by these names ('amicrypt run', the Packer
// post-processor, 'amicrypt rotate', the sweep's Schedule); the pipeline starts Batch
// and Target as children, a sweep starts Rotations.
func TestRegistersTheWorkflowsByTheirNames(t *testing.T) {
	var r registry
	acts := activities.New(activities.Config{})
	Register(&r, acts)
	slices.Sort(r.workflows)
	if want := []string{"Batch", "Pipeline", "Rotation", "Sweep", "Target"}; !slices.Equal(r.workflows, want) {
		t.Errorf("workflows %v, want %v", r.workflows, want)
	}
	if len(r.activities) != 1 || r.activities[0] != acts {
		t.Errorf("activities %v, want the one struct", r.activities)
	}

	r = registry{}
	Register(&r, nil) // a replayer needs no activities
	if len(r.workflows) != 5 || len(r.activities) != 0 {
		t.Errorf("replay registration: %v %v", r.workflows, r.activities)
	}
}

// New builds a worker without contacting the server; registering twice on one
// worker would panic, so this also checks the wiring is done once.
func TestNewBuildsWithoutAServer(t *testing.T) {
	c, err := client.NewLazyClient(client.Options{HostPort: "127.0.0.1:1"})
	if err != nil {
		t.Fatal(err)
	}
	defer c.Close()
	if w := New(c, "amicrypt", activities.New(activities.Config{}), Options{}); w == nil {
		t.Fatal("nil worker")
	}
}

func TestOptionDefaults(t *testing.T) {
	if orDefault(0, DefaultMaxConcurrentActivities) != 1000 || orDefault(-1, 7) != 7 || orDefault(5, 7) != 5 {
		t.Error("int defaults")
	}
	if orDefault(0, DefaultStopTimeout) != 30*time.Second || orDefault(time.Second, DefaultStopTimeout) != time.Second {
		t.Error("duration defaults")
	}
}
