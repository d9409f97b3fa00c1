package worker

import (
	"testing"
	"time"

	"go.temporal.io/sdk/client"

	"github.com/amicrypt/amicrypt/activities"
)

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
