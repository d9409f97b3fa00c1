package benchkit

import (
	"context"
	"encoding/json"
	"fmt"
	"net/http"
	"sort"

	"github.com/amicrypt/amicrypt/internal/sandbox"
)

// AWSCalls is what the sandbox counted: every call the workers made, and
// the ones refused by a rate limit or failed by an injected fault.
type AWSCalls struct {
	Total     int64            `json:"total"`
	Throttled int64            `json:"throttled"`
	ByAction  map[string]int64 `json:"by_action"`
	// ThrottledByAction: which calls were refused.
	ThrottledByAction map[string]int64 `json:"throttled_by_action,omitempty"`
	// Builder: the calls made in the builder account (shares, unshares).
	Builder int64 `json:"builder"`
	// InjectedErrors failed by faults.error_rate (nothing applied);
	// LostResponses applied, then answered with an internal error
	// (faults.lost_response_rate).
	InjectedErrors int64 `json:"injected_errors,omitempty"`
	LostResponses  int64 `json:"lost_responses,omitempty"`
	// FaultsByAction: per action, the calls throttled, failed or whose
	// response was lost (only with injected faults).
	FaultsByAction map[string]Faults `json:"faults_by_action,omitempty"`
	// Rows are the counters as the sandbox gives them: per account, region
	// and action.
	Rows []sandbox.CounterRow `json:"-"`
}

// Faults are one action's injected faults and throttling.
type Faults struct {
	Throttled      int64 `json:"throttled,omitempty"`
	InjectedErrors int64 `json:"injected_errors,omitempty"`
	LostResponses  int64 `json:"lost_responses,omitempty"`
}

// ReadCounters reads the sandbox's /_sandbox/counters.
func ReadCounters(ctx context.Context, endpoint string) (AWSCalls, error) {
	var rows []sandbox.CounterRow
	if err := GetJSON(ctx, endpoint+"/_sandbox/counters", &rows); err != nil {
		return AWSCalls{}, err
	}
	return countCalls(rows), nil
}

// Since are the calls made between before and c, two readings of the same
// sandbox's counters.
func (c AWSCalls) Since(before AWSCalls) AWSCalls {
	type key struct{ account, region, action string }
	was := map[key]sandbox.CounterRow{}
	for _, r := range before.Rows {
		was[key{r.Account, r.Region, r.Action}] = r
	}
	var rows []sandbox.CounterRow
	for _, r := range c.Rows {
		b := was[key{r.Account, r.Region, r.Action}]
		r.Calls -= b.Calls
		r.Throttled -= b.Throttled
		r.InjectedErrors -= b.InjectedErrors
		r.LostResponses -= b.LostResponses
		if r.Calls > 0 {
			rows = append(rows, r)
		}
	}
	return countCalls(rows)
}

// countCalls sums the sandbox's counter rows up.
func countCalls(rows []sandbox.CounterRow) AWSCalls {
	c := AWSCalls{ByAction: map[string]int64{}, ThrottledByAction: map[string]int64{}, Rows: rows}
	for _, r := range rows {
		c.Total += r.Calls
		c.Throttled += r.Throttled
		c.InjectedErrors += r.InjectedErrors
		c.LostResponses += r.LostResponses
		c.ByAction[r.Action] += r.Calls
		if r.Throttled > 0 {
			c.ThrottledByAction[r.Action] += r.Throttled
		}
		if r.InjectedErrors > 0 || r.LostResponses > 0 {
			if c.FaultsByAction == nil {
				c.FaultsByAction = map[string]Faults{}
			}
			f := c.FaultsByAction[r.Action]
			f.InjectedErrors += r.InjectedErrors
			f.LostResponses += r.LostResponses
			c.FaultsByAction[r.Action] = f
		}
		if r.Account == BuilderAccount {
			c.Builder += r.Calls
		}
	}
	for a, n := range c.ThrottledByAction {
		if f, ok := c.FaultsByAction[a]; ok {
			f.Throttled = n
			c.FaultsByAction[a] = f
		}
	}
	return c
}

// ReadState reads the sandbox's whole state (/_sandbox/state).
func ReadState(ctx context.Context, endpoint string) (*sandbox.State, error) {
	var st sandbox.State
	if err := GetJSON(ctx, endpoint+"/_sandbox/state", &st); err != nil {
		return nil, err
	}
	return &st, nil
}

// GetJSON decodes the JSON answer of a GET.
func GetJSON(ctx context.Context, url string, v any) error {
	req, err := http.NewRequestWithContext(ctx, http.MethodGet, url, nil)
	if err != nil {
		return err
	}
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		return err
	}
	defer resp.Body.Close()
	if resp.StatusCode != http.StatusOK {
		return fmt.Errorf("GET %s: %s", url, resp.Status)
	}
	return json.NewDecoder(resp.Body).Decode(v)
}

// TopActions are the keys with the largest counts, largest first (ties by
// name), at most n.
func TopActions(m map[string]int64, n int) []string {
	keys := make([]string, 0, len(m))
	for k := range m {
		keys = append(keys, k)
	}
	sort.Slice(keys, func(i, j int) bool {
		if m[keys[i]] != m[keys[j]] {
			return m[keys[i]] > m[keys[j]]
		}
		return keys[i] < keys[j]
	})
	if len(keys) > n {
		keys = keys[:n]
	}
	return keys
}
