package ratelimit_test

import (
	"context"
	"strconv"
	"testing"
	"time"

	"github.com/sekisho/sekisho/policy/ratelimit"
	"github.com/sekisho/sekisho/policy/ratelimit/storetest"
)

func newMemory(t *testing.T, now func() time.Time) ratelimit.Store {
	return ratelimit.NewMemory(1000, now)
}

func TestMemory(t *testing.T) {
	storetest.Run(t, newMemory)
}

func TestMemoryFakeClock(t *testing.T) {
	storetest.RunFakeClock(t, newMemory)
}

func TestMemoryEvictsLeastRecentlyUsed(t *testing.T) {
	ctx := context.Background()
	m := ratelimit.NewMemory(2, nil)
	for _, k := range []string{"a", "b"} {
		if err := m.Add(ctx, k, time.Minute, 1); err != nil {
			t.Fatal(err)
		}
	}
	if n, _ := m.Count(ctx, "a", time.Minute); n != 1 { // a is now the most recent
		t.Fatalf("Count(a) = %d, want 1", n)
	}
	if err := m.Add(ctx, "c", time.Minute, 1); err != nil {
		t.Fatal(err)
	}
	for k, want := range map[string]int{"a": 1, "b": 0, "c": 1} {
		if n, _ := m.Count(ctx, k, time.Minute); n != want {
			t.Errorf("Count(%s) = %d, want %d", k, n, want)
		}
	}
}

func TestMemoryDefaultSize(t *testing.T) {
	m := ratelimit.NewMemory(0, nil)
	if err := m.Add(context.Background(), "k", time.Minute, 1); err != nil {
		t.Fatal(err)
	}
	if n, err := m.Count(context.Background(), "k", time.Minute); n != 1 || err != nil {
		t.Errorf("Count = %d, %v", n, err)
	}
}

func TestMemoryCloseKeepsItUsable(t *testing.T) {
	ctx := context.Background()
	m := ratelimit.NewMemory(10, nil)
	m.Add(ctx, "k", time.Minute, 1)
	if err := m.Close(); err != nil {
		t.Fatal(err)
	}
	if n, _ := m.Count(ctx, "k", time.Minute); n != 0 {
		t.Errorf("Count after Close = %d, want 0", n)
	}
	if err := m.Add(ctx, "k", time.Minute, 1); err != nil {
		t.Errorf("Add after Close: %v", err)
	}
}

func BenchmarkMemoryCountAdd(b *testing.B) {
	ctx := context.Background()
	m := ratelimit.NewMemory(100000, nil)
	keys := make([]string, 1000)
	for i := range keys {
		keys[i], _ = ratelimit.Key(ratelimit.KindSenderRecipient, "", "sender@example.com", "rcpt"+strconv.Itoa(i)+"@example.org")
	}
	i := 0
	for b.Loop() {
		k := keys[i%len(keys)]
		i++
		if _, err := m.Count(ctx, k, time.Minute); err != nil {
			b.Fatal(err)
		}
		if err := m.Add(ctx, k, time.Minute, 1); err != nil {
			b.Fatal(err)
		}
	}
}
