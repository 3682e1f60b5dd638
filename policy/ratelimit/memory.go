package ratelimit

import (
	"context"
	"sort"
	"sync"
	"time"

	lru "github.com/hashicorp/golang-lru/v2"
)

// DefaultSize is the number of keys NewMemory keeps when given a size below 1.
const DefaultSize = 65536

// Memory is a Store held in this process: counts are not shared with other
// hosts and are lost on restart. It keeps the most recently used keys, at most
// the size given to NewMemory, and at most MaxEvents events per key. It is
// meant to be created once per process so that counts survive config reloads.
// It is safe for concurrent use.
type Memory struct {
	mu    sync.Mutex
	keys  *lru.Cache[string, *events]
	now   func() time.Time
	epoch time.Time // times are stored as offsets from it
}

// events holds one key's event times, oldest first, as offsets from epoch.
type events struct {
	times []time.Duration
}

// NewMemory returns a Memory keeping up to size keys, reading the time from
// now (time.Now when nil).
func NewMemory(size int, now func() time.Time) *Memory {
	if size < 1 {
		size = DefaultSize
	}
	if now == nil {
		now = time.Now
	}
	keys, _ := lru.New[string, *events](size) // fails only for a size below 1
	return &Memory{keys: keys, now: now, epoch: now()}
}

// Count returns how many events for key were recorded within the last window.
func (m *Memory) Count(ctx context.Context, key string, window time.Duration) (int, error) {
	if err := checkArgs(key, window, 1); err != nil {
		return 0, err
	}
	m.mu.Lock()
	defer m.mu.Unlock()
	e, ok := m.keys.Get(key)
	if !ok {
		return 0, nil
	}
	return len(e.times) - e.firstAfter(m.now().Sub(m.epoch)-window), nil
}

// Add records n events for key now, dropping the key's events older than
// window and the oldest beyond MaxEvents.
func (m *Memory) Add(ctx context.Context, key string, window time.Duration, n int) error {
	if err := checkArgs(key, window, n); err != nil {
		return err
	}
	m.mu.Lock()
	defer m.mu.Unlock()
	now := m.now().Sub(m.epoch)
	e, ok := m.keys.Get(key)
	if !ok {
		e = &events{}
		m.keys.Add(key, e)
	}
	if last := len(e.times) - 1; last >= 0 && now < e.times[last] {
		now = e.times[last] // a clock stepping back must not unsort the times
	}
	e.times = e.times[e.firstAfter(now-window):]
	n = min(n, MaxEvents)
	if drop := len(e.times) + n - MaxEvents; drop > 0 {
		e.times = e.times[drop:]
	}
	if len(e.times)+n > cap(e.times) {
		// Room for up to twice MaxEvents: a full key then reallocates once
		// every MaxEvents additions, not at each one.
		grown := make([]time.Duration, len(e.times), min(max(2*(len(e.times)+n), 8), 2*MaxEvents))
		copy(grown, e.times)
		e.times = grown
	}
	for range n {
		e.times = append(e.times, now)
	}
	return nil
}

// Close empties the store; it stays usable.
func (m *Memory) Close() error {
	m.keys.Purge()
	return nil
}

// firstAfter returns the index of the first event later than cutoff.
func (e *events) firstAfter(cutoff time.Duration) int {
	return sort.Search(len(e.times), func(i int) bool { return e.times[i] > cutoff })
}
