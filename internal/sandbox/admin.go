package sandbox

import (
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"os"
	"path/filepath"
	"sort"
	"strings"
	"sync"
	"time"

	"github.com/amicrypt/amicrypt/internal/sandbox/world"
)

// Admin endpoints live under /_sandbox/, a path no AWS API uses:
//
//	GET  /_sandbox/state      the whole state, per account and region
//	GET  /_sandbox/counters   calls per account, region and action, and of those how many were
//	                          throttled, failed by error_rate, or applied with their response lost;
//	                          each row says whether its action mutates (see ReadOnlyAction)
//	GET  /_sandbox/counters/summary
//	                          per account and region: all calls and mutating calls
//	GET  /_sandbox/behaviour  timing, faults and limits in force
//	PUT  /_sandbox/behaviour  change them while a run is under way (a partial JSON document merges;
//	                          seconds and milliseconds as in the world file)
//	POST /_sandbox/reset      back to the world as loaded; counters, buckets and CloudTrail's event history cleared
//	GET  /_sandbox/health     200 when serving
func (s *Server) serveAdmin(w http.ResponseWriter, r *http.Request) {
	switch {
	case r.URL.Path == "/_sandbox/health":
		writeJSON(w, http.StatusOK, map[string]any{"ok": true})
	case r.URL.Path == "/_sandbox/state" && r.Method == http.MethodGet:
		s.cloud.mu.Lock()
		s.cloud.advance(s.cloud.clock())
		b, err := json.MarshalIndent(s.cloud.state, "", "  ")
		s.cloud.mu.Unlock()
		if err != nil {
			writeJSON(w, http.StatusInternalServerError, map[string]any{"error": err.Error()})
			return
		}
		w.Header().Set("Content-Type", "application/json")
		_, _ = w.Write(b)
	case r.URL.Path == "/_sandbox/counters" && r.Method == http.MethodGet:
		writeJSON(w, http.StatusOK, s.counters.snapshot())
	case r.URL.Path == "/_sandbox/counters/summary" && r.Method == http.MethodGet:
		writeJSON(w, http.StatusOK, s.CallSummary())
	case r.URL.Path == "/_sandbox/behaviour" && r.Method == http.MethodGet:
		s.cloud.mu.Lock()
		cfg := s.cloud.cfg
		s.cloud.mu.Unlock()
		writeJSON(w, http.StatusOK, cfg)
	case r.URL.Path == "/_sandbox/behaviour" && (r.Method == http.MethodPut || r.Method == http.MethodPatch || r.Method == http.MethodPost):
		s.cloud.mu.Lock()
		cfg := s.cloud.cfg
		body, err := io.ReadAll(io.LimitReader(r.Body, 1<<20))
		if err == nil {
			err = json.Unmarshal(body, &cfg)
		}
		if err == nil {
			err = cfg.validate()
		}
		if err == nil {
			s.cloud.cfg = cfg
			// A group's launch backoff follows the boot time: what was
			// scheduled by the old one is scheduled anew.
			s.cloud.resetSchedule()
		}
		s.cloud.mu.Unlock()
		if err != nil {
			writeJSON(w, http.StatusBadRequest, map[string]any{"error": "behaviour not changed: " + err.Error()})
			return
		}
		writeJSON(w, http.StatusOK, cfg)
	case r.URL.Path == "/_sandbox/reset" && r.Method == http.MethodPost:
		st, cfg, err := stateFromWorld(s.world, s.cloud.clock())
		if err != nil {
			writeJSON(w, http.StatusInternalServerError, map[string]any{"error": err.Error()})
			return
		}
		s.cloud.mu.Lock()
		s.cloud.state, s.cloud.cfg = st, cfg
		s.cloud.trail = newTrail()
		s.cloud.reindex()
		s.cloud.markDirty()
		s.cloud.mu.Unlock()
		s.counters.reset()
		s.limits.reset()
		if s.persist != nil {
			s.persist.schedule()
		}
		writeJSON(w, http.StatusOK, map[string]any{"reset": true})
	default:
		writeJSON(w, http.StatusNotFound, map[string]any{"error": fmt.Sprintf("no admin endpoint %s %s; see GET /_sandbox/state, /_sandbox/counters, /_sandbox/counters/summary, /_sandbox/behaviour, PUT /_sandbox/behaviour, POST /_sandbox/reset", r.Method, r.URL.Path)})
	}
}

func (b Behaviour) validate() error {
	check := func(name string, p float64) error {
		if p < 0 || p > 1 {
			return fmt.Errorf("%s must be between 0 and 1, got %v", name, p)
		}
		return nil
	}
	for _, g := range []struct {
		name string
		p    float64
	}{{"error_rate", b.ErrorRate}, {"lost_response_rate", b.LostResponseRate}, {"throttle_rate", b.ThrottleRate}} {
		if err := check(g.name, g.p); err != nil {
			return err
		}
	}
	rule := func(where string, f Fault) error {
		for _, r := range []struct {
			name string
			p    *float64
		}{{"error_rate", f.ErrorRate}, {"lost_response_rate", f.LostResponseRate}, {"throttle_rate", f.ThrottleRate}} {
			if r.p == nil {
				continue
			}
			if err := check(where+"."+r.name, *r.p); err != nil {
				return err
			}
		}
		if f.Latency != nil && *f.Latency < 0 {
			return fmt.Errorf("%s.latency_ms must not be negative", where)
		}
		return nil
	}
	for _, k := range sortedKeys(b.ServiceFaults) {
		if err := rule("services."+k, b.ServiceFaults[k]); err != nil {
			return err
		}
	}
	for _, k := range sortedKeys(b.ActionFaults) {
		if err := rule("actions."+k, b.ActionFaults[k]); err != nil {
			return err
		}
	}
	if b.CopyDuration < 0 || b.BootDuration < 0 || b.Latency < 0 {
		return fmt.Errorf("durations must not be negative")
	}
	if b.ConcurrentCopies < 1 {
		return fmt.Errorf("concurrent_copies must be at least 1")
	}
	if b.ImageShareAccounts < 0 {
		return fmt.Errorf("image_share_accounts must not be negative (0: AWS's default, %d)", world.DefaultImageShareAccounts)
	}
	return nil
}

func writeJSON(w http.ResponseWriter, status int, v any) {
	w.Header().Set("Content-Type", "application/json")
	w.WriteHeader(status)
	enc := json.NewEncoder(w)
	enc.SetIndent("", "  ")
	_ = enc.Encode(v)
}

// counters count calls per account, region, service and action, and of those
// the ones throttled (by a token bucket or throttle_rate), failed by error_rate
// and applied with their response lost (lost_response_rate).
type counters struct {
	mu        sync.Mutex
	calls     map[string]int64
	throttles map[string]int64
	errors    map[string]int64
	lost      map[string]int64
}

func newCounters() *counters {
	return &counters{calls: map[string]int64{}, throttles: map[string]int64{}, errors: map[string]int64{}, lost: map[string]int64{}}
}

func counterKey(account, region, service, action string) string {
	return account + "/" + region + "/" + service + ":" + action
}

func (c *counters) add(account, region, service, action string) {
	c.mu.Lock()
	c.calls[counterKey(account, region, service, action)]++
	c.mu.Unlock()
}

func (c *counters) throttled(account, region, service, action string) {
	c.mu.Lock()
	c.throttles[counterKey(account, region, service, action)]++
	c.mu.Unlock()
}

func (c *counters) injectedError(account, region, service, action string) {
	c.mu.Lock()
	c.errors[counterKey(account, region, service, action)]++
	c.mu.Unlock()
}

func (c *counters) lostResponse(account, region, service, action string) {
	c.mu.Lock()
	c.lost[counterKey(account, region, service, action)]++
	c.mu.Unlock()
}

// CounterRow is one line of /_sandbox/counters.
type CounterRow struct {
	Account string `json:"account"`
	Region  string `json:"region"`
	Action  string `json:"action"`
	Calls   int64  `json:"calls"`
	// Mutating is false for the read-only actions (ReadOnlyAction).
	Mutating bool `json:"mutating"`
	// Throttled calls were refused with the service's throttling error, by a
	// token bucket or by throttle_rate; nothing was applied.
	Throttled int64 `json:"throttled,omitempty"`
	// InjectedErrors failed with the service's internal error (error_rate);
	// nothing was applied.
	InjectedErrors int64 `json:"injected_errors,omitempty"`
	// LostResponses were applied, then answered with the service's internal
	// error (lost_response_rate).
	LostResponses int64 `json:"lost_responses,omitempty"`
}

func (c *counters) snapshot() []CounterRow {
	c.mu.Lock()
	defer c.mu.Unlock()
	rows := make([]CounterRow, 0, len(c.calls))
	for k, n := range c.calls {
		var acct, region, action string
		if i := indexN(k, '/', 2); i > 0 {
			acct, region, action = k[:12], k[13:i], k[i+1:]
		}
		rows = append(rows, CounterRow{Account: acct, Region: region, Action: action, Calls: n, Mutating: !ReadOnlyAction(action),
			Throttled: c.throttles[k], InjectedErrors: c.errors[k], LostResponses: c.lost[k]})
	}
	sort.Slice(rows, func(i, j int) bool {
		if rows[i].Account != rows[j].Account {
			return rows[i].Account < rows[j].Account
		}
		if rows[i].Region != rows[j].Region {
			return rows[i].Region < rows[j].Region
		}
		return rows[i].Action < rows[j].Action
	})
	return rows
}

// Counters returns every call counter, by the calling account, region and
// service:action (what /_sandbox/counters serves).
func (s *Server) Counters() []CounterRow { return s.counters.snapshot() }

// Calls returns how many calls of service:action an account made in a region.
func (s *Server) Calls(account, region, serviceAction string) int64 {
	s.counters.mu.Lock()
	defer s.counters.mu.Unlock()
	return s.counters.calls[account+"/"+region+"/"+serviceAction]
}

// DryRunSuffix marks, in the counters, a request made with DryRun=true
// ("kms:CreateGrant (DryRun)"): AWS checks the caller's permissions and the
// request, answers DryRunOperation(Exception) or the error the request
// would have met, and changes nothing — a read.
const DryRunSuffix = " (DryRun)"

// ReadOnlyAction reports whether an action ("DescribeImages" or
// "ec2:DescribeImages") only reads: its name starts with Describe, Get, List
// or Lookup, the prefixes AWS's own API naming and IAM's access levels use for
// actions that change nothing. Every other action counts as mutating, whether
// or not the call succeeded.
func ReadOnlyAction(action string) bool {
	if strings.HasSuffix(action, DryRunSuffix) {
		return true
	}
	if i := strings.IndexByte(action, ':'); i >= 0 {
		action = action[i+1:]
	}
	for _, p := range []string{"Describe", "Get", "List", "Lookup"} {
		if strings.HasPrefix(action, p) {
			return true
		}
	}
	return false
}

// MutatingCalls counts the calls of mutating actions (every action but the
// read-only ones, see ReadOnlyAction) an account made in a region; "" for
// account or region counts every account or region.
func (s *Server) MutatingCalls(account, region string) int64 {
	var n int64
	for _, row := range s.counters.snapshot() {
		if row.Mutating && (account == "" || row.Account == account) && (region == "" || row.Region == region) {
			n += row.Calls
		}
	}
	return n
}

// Writes counts the calls that change something in AWS, by account, region
// and action ("account/region action"), of one account or of all (""): the
// mutating ones (see ReadOnlyAction) but STS's, since sts:AssumeRole, which
// a plan makes, changes nothing in AWS but hands out credentials. Two counts
// taken around a plan must not differ (see NewWrites).
func Writes(rows []CounterRow, account string) map[string]int64 {
	out := map[string]int64{}
	for _, r := range rows {
		if r.Mutating && !strings.HasPrefix(r.Action, "sts:") && (account == "" || r.Account == account) {
			out[r.Account+"/"+r.Region+" "+r.Action] += r.Calls
		}
	}
	return out
}

// NewWrites lists the writes made between two counts of Writes, as
// "account/region action ×n", sorted.
func NewWrites(before, after map[string]int64) []string {
	var out []string
	for k, n := range after {
		if d := n - before[k]; d > 0 {
			out = append(out, fmt.Sprintf("%s ×%d", k, d))
		}
	}
	sort.Strings(out)
	return out
}

// CallSummaryRow is one line of /_sandbox/counters/summary.
type CallSummaryRow struct {
	Account       string `json:"account"`
	Region        string `json:"region"`
	Calls         int64  `json:"calls"`
	MutatingCalls int64  `json:"mutating_calls"`
}

// CallSummary totals the counters per account and region: every call, and
// the calls of mutating actions (what /_sandbox/counters/summary serves).
func (s *Server) CallSummary() []CallSummaryRow {
	var out []CallSummaryRow
	idx := map[string]int{}
	for _, row := range s.counters.snapshot() {
		k := row.Account + "/" + row.Region
		i, ok := idx[k]
		if !ok {
			i = len(out)
			idx[k] = i
			out = append(out, CallSummaryRow{Account: row.Account, Region: row.Region})
		}
		out[i].Calls += row.Calls
		if row.Mutating {
			out[i].MutatingCalls += row.Calls
		}
	}
	if out == nil {
		out = []CallSummaryRow{}
	}
	return out
}

func (c *counters) reset() {
	c.mu.Lock()
	c.calls = map[string]int64{}
	c.throttles = map[string]int64{}
	c.errors = map[string]int64{}
	c.lost = map[string]int64{}
	c.mu.Unlock()
}

func indexN(s string, b byte, n int) int {
	for i := 0; i < len(s); i++ {
		if s[i] == b {
			n--
			if n == 0 {
				return i
			}
		}
	}
	return -1
}

// persister writes the state to a file shortly after it changes, and on exit.
type persister struct {
	path    string
	cloud   *Cloud
	mu      sync.Mutex
	pending bool
}

type persistedState struct {
	Version   int       `json:"version"`
	Saved     time.Time `json:"saved"`
	State     *State    `json:"state"`
	Behaviour Behaviour `json:"behaviour"`
	// Trail is CloudTrail's event history (absent from files written before it).
	Trail *Trail `json:"trail,omitempty"`
}

func (p *persister) load() (*State, Behaviour, *Trail, error) {
	b, err := os.ReadFile(p.path)
	if os.IsNotExist(err) {
		return nil, Behaviour{}, nil, nil
	}
	if err != nil {
		return nil, Behaviour{}, nil, fmt.Errorf("reading sandbox state %s: %w", p.path, err)
	}
	var ps persistedState
	if err := json.Unmarshal(b, &ps); err != nil {
		return nil, Behaviour{}, nil, fmt.Errorf("sandbox state %s is not a state file this version wrote (%v); move it away to start from the world", p.path, err)
	}
	if ps.State == nil || ps.Version != 1 {
		return nil, Behaviour{}, nil, fmt.Errorf("sandbox state %s has version %d, want 1; move it away to start from the world", p.path, ps.Version)
	}
	if ps.Trail != nil && ps.Trail.Events == nil {
		ps.Trail.Events = map[string][]*TrailEvent{}
	}
	return ps.State, ps.Behaviour, ps.Trail, nil
}

// schedule asks for a write within a second; called with the cloud lock held.
func (p *persister) schedule() {
	p.mu.Lock()
	defer p.mu.Unlock()
	if p.pending {
		return
	}
	p.pending = true
	time.AfterFunc(time.Second, func() { _ = p.flush() })
}

func (p *persister) flush() error {
	p.mu.Lock()
	p.pending = false
	p.mu.Unlock()
	p.cloud.mu.Lock()
	b, err := json.Marshal(persistedState{Version: 1, Saved: p.cloud.clock().UTC(), State: p.cloud.state, Behaviour: p.cloud.cfg, Trail: p.cloud.trail})
	p.cloud.dirty = false
	p.cloud.mu.Unlock()
	if err != nil {
		return err
	}
	if err := os.MkdirAll(filepath.Dir(p.path), 0o755); err != nil {
		return err
	}
	tmp := p.path + ".tmp"
	if err := os.WriteFile(tmp, b, 0o600); err != nil {
		return fmt.Errorf("writing sandbox state: %w", err)
	}
	return os.Rename(tmp, p.path)
}
