package activities

import (
	"sync"
	"time"

	"golang.org/x/sync/singleflight"
)

// memo remembers, for a while, facts about an account that hold for a whole
// run — its role can be assumed, its service-linked role exists — so that
// the targets of one account in many regions ask AWS once, and concurrent
// askers share one call. Failures are never remembered: the next asker
// tries again (a fixed trust policy is seen at once).
type memo struct {
	ttl   time.Duration
	group singleflight.Group

	mu   sync.Mutex
	seen map[string]memoEntry
}

type memoEntry struct {
	value string
	at    time.Time
}

func newMemo(ttl time.Duration) *memo { return &memo{ttl: ttl, seen: map[string]memoEntry{}} }

// get returns key's remembered value, or calls fn (once for all concurrent
// askers) and remembers its value when it succeeds. fresh says fn ran for
// this caller.
func (m *memo) get(key string, fn func() (string, error)) (value string, fresh bool, err error) {
	m.mu.Lock()
	e, ok := m.seen[key]
	if ok && time.Since(e.at) < m.ttl {
		m.mu.Unlock()
		return e.value, false, nil
	}
	delete(m.seen, key)
	m.mu.Unlock()
	v, err, shared := m.group.Do(key, func() (any, error) {
		v, err := fn()
		if err == nil {
			m.mu.Lock()
			m.seen[key] = memoEntry{value: v, at: time.Now()}
			m.mu.Unlock()
		}
		return v, err
	})
	if err != nil {
		return "", false, err
	}
	return v.(string), !shared, nil
}
