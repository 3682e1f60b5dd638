package ratelimit

import (
	"context"
	"testing"
	"time"

	"github.com/sekisho/sekisho/policy/internal/testkit"
)

// TestMemoryStorageBounded checks that a key keeps neither expired events
// nor more than MaxEvents, whatever the callers add.
func TestMemoryStorageBounded(t *testing.T) {
	ctx := context.Background()
	clock := testkit.NewClock(time.Unix(1e9, 0))
	m := NewMemory(10, clock.Now)
	stored := func() (n, c int) {
		e, ok := m.keys.Peek("k")
		if !ok {
			t.Fatal("key missing")
		}
		return len(e.times), cap(e.times)
	}
	for range 1000 {
		if err := m.Add(ctx, "k", time.Second, 1); err != nil {
			t.Fatal(err)
		}
		clock.Advance(100 * time.Millisecond)
	}
	if n, _ := stored(); n > 10 {
		t.Errorf("%d events stored for a window holding 10", n)
	}
	for range 50 {
		if err := m.Add(ctx, "k", time.Hour, 1000); err != nil {
			t.Fatal(err)
		}
	}
	if n, c := stored(); n != MaxEvents || c > 2*MaxEvents {
		t.Errorf("stored %d events in room for %d, want %d in room for at most %d", n, c, MaxEvents, 2*MaxEvents)
	}
	if err := m.Add(ctx, "k", time.Hour, 1<<40); err != nil {
		t.Fatal(err)
	}
	if n, c := stored(); n != MaxEvents || c > 2*MaxEvents {
		t.Errorf("stored %d events in room for %d after a huge Add", n, c)
	}
}
