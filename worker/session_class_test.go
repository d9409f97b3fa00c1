package worker

import (
	"reflect"
	"runtime"
	"strings"
	"testing"

	"github.com/amicrypt/amicrypt/activities"
	"github.com/amicrypt/amicrypt/workflows"
)

// Every activity that acts in AWS assumes its roles in a session of its
// class (named after its run and step, with a session policy): one missing
// from activities' classes would fall back to the worker's unnamed,
// unrestricted session.
func TestEveryActivityHasASessionClass(t *testing.T) {
	acts := activities.New(activities.Config{})
	for _, fn := range Activities(acts, &workflows.Attach{}, &workflows.Housekeeping{}) {
		full := runtime.FuncForPC(reflect.ValueOf(fn).Pointer()).Name()
		if !strings.Contains(full, "activities.(*Activities)") {
			continue // Attach and Housekeeping read Temporal, not AWS
		}
		name := strings.TrimSuffix(full[strings.LastIndex(full, ".")+1:], "-fm")
		if _, ok := activities.SessionClassOf(name); !ok {
			t.Errorf("activity %s has no session class (activities/session.go)", name)
		}
	}
}
