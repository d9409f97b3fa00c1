package sandbox

import (
	"os"
	"sort"
	"strings"
	"sync"
	"testing"

	"github.com/amicrypt/amicrypt/internal/sandbox/wire"
	"github.com/amicrypt/amicrypt/internal/sandbox/world"
)

// Every server the tests start is remembered, so TestMain can check that the
// tests, taken together, called every operation the sandbox serves through a
// real client.
var (
	testServersMu sync.Mutex
	testServers   []*Server
)

func rememberServer(s *Server) {
	testServersMu.Lock()
	testServers = append(testServers, s)
	testServersMu.Unlock()
}

func TestMain(m *testing.M) {
	code := m.Run()
	if code == 0 && !testing.Short() && os.Getenv("SANDBOX_SKIP_COVERAGE") == "" && runsWholeSuite() {
		if missing := unexercisedOperations(); len(missing) > 0 {
			println("FAIL: no test calls these sandbox operations through a client:", strings.Join(missing, ", "))
			code = 1
		}
	}
	os.Exit(code)
}

// runsWholeSuite is false when -run selects a subset (the check would be noise).
func runsWholeSuite() bool {
	for _, a := range os.Args {
		if strings.HasPrefix(a, "-test.run") || strings.HasPrefix(a, "-test.bench") {
			return false
		}
	}
	return true
}

func unexercisedOperations() []string {
	called := map[string]bool{}
	testServersMu.Lock()
	for _, s := range testServers {
		for _, row := range s.counters.snapshot() {
			called[row.Action] = true
		}
	}
	testServersMu.Unlock()
	var missing []string
	for _, svc := range wire.Services() {
		for _, op := range wire.MustLoad(svc).Operations() {
			if !called[svc+":"+op] {
				missing = append(missing, svc+":"+op)
			}
		}
	}
	sort.Strings(missing)
	return missing
}

func TestEveryModelledOperationHasAHandler(t *testing.T) {
	s, err := New(world.Default(), Options{})
	if err != nil {
		t.Fatal(err)
	}
	for _, svc := range wire.Services() {
		for _, op := range wire.MustLoad(svc).Operations() {
			if s.handlers[svc][op] == nil {
				t.Errorf("%s:%s is in operations.txt but has no handler", svc, op)
			}
		}
	}
}

func TestWorldPoliciesAreCheckedByTheEvaluatorsParser(t *testing.T) {
	_, err := world.Parse([]byte(`regions: [us-east-1]
accounts:
  - id: "111111111111"
    keys:
      - alias: alias/k
        region: us-east-1
        policy:
          Version: "2012-10-17"
          Statement:
            - Sid: Broken
              Effect: Permit
              Principal: "*"
              Action: "kms:*"
              Resource: "*"
`), "bad.yaml")
	if err == nil || !strings.Contains(err.Error(), "bad.yaml:") || !strings.Contains(err.Error(), "Permit") {
		t.Fatalf("want a located error about Effect Permit, got %v", err)
	}
}
