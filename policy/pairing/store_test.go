package pairing

import (
	"context"
	"slices"
	"testing"
	"time"
)

// testStore is the behaviour every Store has.
func testStore(t *testing.T, s Store) {
	ctx := context.Background()
	t0 := time.Date(2026, 12, 1, 9, 0, 0, 0, time.UTC)
	ttl := time.Hour
	const a, b = "sender@example.net", "tanaka@example.co.jp"

	// Candidates for a pair without a waiting archive are not kept.
	if err := s.AddCandidates(ctx, a, b, []string{"early"}, t0, ttl); err != nil {
		t.Fatal(err)
	}
	if c, _ := s.Candidates(ctx, a, b, t0); len(c) != 0 {
		t.Errorf("candidates kept without an archive: %q", c)
	}
	if w, _ := s.Waiting(ctx, a, b, t0); w {
		t.Error("waiting before any archive")
	}

	first, err := s.Wait(ctx, a, b, "m1", t0, ttl)
	if err != nil || !first.Equal(t0) {
		t.Fatalf("first seen %v, %v", first, err)
	}
	// A retry keeps the first time.
	if first, _ := s.Wait(ctx, a, b, "m1", t0.Add(10*time.Minute), ttl); !first.Equal(t0) {
		t.Errorf("retry: first seen %v, want %v", first, t0)
	}
	if w, _ := s.Waiting(ctx, a, b, t0); !w {
		t.Error("not waiting after Wait")
	}
	if w, _ := s.Waiting(ctx, a, "other@example.co.jp", t0); w {
		t.Error("another recipient is waiting")
	}

	s.AddCandidates(ctx, a, b, []string{"pw1", "pw2"}, t0.Add(time.Minute), ttl)
	s.AddCandidates(ctx, a, b, []string{"pw2", "pw3"}, t0.Add(2*time.Minute), ttl)
	if c, _ := s.Candidates(ctx, a, b, t0.Add(3*time.Minute)); !slices.Equal(c, []string{"pw1", "pw2", "pw3"}) {
		t.Errorf("candidates %q", c)
	}
	var many []string
	for i := range MaxCandidates + 3 {
		many = append(many, "x"+string(rune('a'+i)))
	}
	s.AddCandidates(ctx, a, b, many, t0.Add(3*time.Minute), ttl)
	if c, _ := s.Candidates(ctx, a, b, t0.Add(3*time.Minute)); len(c) != MaxCandidates || c[len(c)-1] != many[len(many)-1] {
		t.Errorf("bounded candidates %q", c)
	}

	// Done forgets the archive and, with no other waiting, the candidates.
	if err := s.Done(ctx, a, b, "m1"); err != nil {
		t.Fatal(err)
	}
	if c, _ := s.Candidates(ctx, a, b, t0.Add(4*time.Minute)); len(c) != 0 {
		t.Errorf("candidates after Done: %q", c)
	}
	if first, _ := s.Wait(ctx, a, b, "m1", t0.Add(5*time.Minute), ttl); !first.Equal(t0.Add(5 * time.Minute)) {
		t.Errorf("after Done, first seen %v", first)
	}

	// Everything expires.
	s.AddCandidates(ctx, a, b, []string{"late"}, t0.Add(6*time.Minute), ttl)
	later := t0.Add(5*time.Minute + ttl + time.Second)
	if w, _ := s.Waiting(ctx, a, b, later); w {
		t.Error("still waiting after the ttl")
	}
	if c, _ := s.Candidates(ctx, a, b, later); len(c) != 0 {
		t.Errorf("candidates after the ttl: %q", c)
	}
}

func TestMemoryStore(t *testing.T) { testStore(t, NewMemory(100)) }

func TestMemoryStoreBounded(t *testing.T) {
	s := NewMemory(2)
	ctx := context.Background()
	now := time.Now()
	for _, r := range []string{"a", "b", "c"} {
		s.Wait(ctx, "s", r, "m", now, time.Hour)
	}
	if w, _ := s.Waiting(ctx, "s", "a", now); w {
		t.Error("the oldest pair was kept beyond the size")
	}
}
