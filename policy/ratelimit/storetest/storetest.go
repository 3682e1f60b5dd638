// Package storetest is a conformance suite for ratelimit.Store
// implementations, run by each store's own tests.
//
// Run holds for every store and uses the real clock with windows of a few
// hundred milliseconds, since a store such as Redis reads its server's clock.
// RunFakeClock drives a clock of its own and is only for stores that read the
// time from the function they are given. The suite does not start servers:
// newStore does whatever a store needs.
package storetest

import (
	"context"
	"fmt"
	"sync"
	"testing"
	"time"

	"github.com/sekisho/sekisho/policy/internal/testkit"
	"github.com/sekisho/sekisho/policy/ratelimit"
)

// NewStore returns a new store that shares no keys with any store returned
// before; a store that takes a clock reads the time from now.
type NewStore func(t *testing.T, now func() time.Time) ratelimit.Store

// Run runs the tests every Store must pass, with the real clock.
func Run(t *testing.T, newStore NewStore) {
	tests := []struct {
		name string
		test func(t *testing.T, s ratelimit.Store)
	}{
		{"CountZero", testCountZero},
		{"AddAndCount", testAddAndCount},
		{"AddMany", testAddMany},
		{"KeysIndependent", testKeysIndependent},
		{"Concurrent", testConcurrent},
		{"MaxEvents", testMaxEvents},
		{"InvalidArguments", testInvalidArguments},
		{"WindowSlides", testWindowSlides},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			s := newStore(t, time.Now)
			t.Cleanup(func() { s.Close() })
			tt.test(t, s)
		})
	}
}

// RunFakeClock runs the tests that need a clock under the test's control.
func RunFakeClock(t *testing.T, newStore NewStore) {
	tests := []struct {
		name string
		test func(t *testing.T, s ratelimit.Store, c *testkit.Clock)
	}{
		{"Boundary", testBoundary},
		{"Sliding", testFakeSliding},
		{"LongRun", testLongRun},
		{"ClockStepsBack", testClockStepsBack},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			c := testkit.NewClock(time.Date(2025, 1, 2, 3, 4, 5, 0, time.UTC))
			s := newStore(t, c.Now)
			t.Cleanup(func() { s.Close() })
			tt.test(t, s, c)
		})
	}
}

const long = time.Minute

func count(t *testing.T, s ratelimit.Store, key string, window time.Duration) int {
	t.Helper()
	n, err := s.Count(context.Background(), key, window)
	if err != nil {
		t.Fatalf("Count(%q, %v): %v", key, window, err)
	}
	return n
}

func add(t *testing.T, s ratelimit.Store, key string, window time.Duration, n int) {
	t.Helper()
	if err := s.Add(context.Background(), key, window, n); err != nil {
		t.Fatalf("Add(%q, %v, %d): %v", key, window, n, err)
	}
}

func want(t *testing.T, s ratelimit.Store, key string, window time.Duration, n int) {
	t.Helper()
	if got := count(t, s, key, window); got != n {
		t.Errorf("Count(%q, %v) = %d, want %d", key, window, got, n)
	}
}

func testCountZero(t *testing.T, s ratelimit.Store) {
	want(t, s, "nobody", long, 0)
	want(t, s, "nobody", time.Millisecond, 0)
}

func testAddAndCount(t *testing.T, s ratelimit.Store) {
	add(t, s, "k", long, 1)
	want(t, s, "k", long, 1)
	add(t, s, "k", long, 1)
	want(t, s, "k", long, 2)
}

func testAddMany(t *testing.T, s ratelimit.Store) {
	add(t, s, "k", long, 5)
	want(t, s, "k", long, 5)
	add(t, s, "k", long, 3)
	want(t, s, "k", long, 8)
}

func testKeysIndependent(t *testing.T, s ratelimit.Store) {
	add(t, s, "sender+recipient:a@example.com|b@example.org", long, 2)
	add(t, s, "sender+recipient:a@example.com|c@example.org", long, 1)
	want(t, s, "sender+recipient:a@example.com|b@example.org", long, 2)
	want(t, s, "sender+recipient:a@example.com|c@example.org", long, 1)
	want(t, s, "sender+recipient:a@example.com|d@example.org", long, 0)
}

func testConcurrent(t *testing.T, s ratelimit.Store) {
	const goroutines, each = 50, 4
	var wg sync.WaitGroup
	errs := make(chan error, goroutines*each)
	for range goroutines {
		wg.Go(func() {
			for range each {
				if err := s.Add(context.Background(), "busy", long, 1); err != nil {
					errs <- err
				}
				if _, err := s.Count(context.Background(), "busy", long); err != nil {
					errs <- err
				}
			}
		})
	}
	wg.Wait()
	close(errs)
	for err := range errs {
		t.Error(err)
	}
	want(t, s, "busy", long, goroutines*each)
}

func testMaxEvents(t *testing.T, s ratelimit.Store) {
	add(t, s, "flood", long, ratelimit.MaxEvents+5)
	want(t, s, "flood", long, ratelimit.MaxEvents)
	add(t, s, "flood", long, 1)
	want(t, s, "flood", long, ratelimit.MaxEvents)
}

func testInvalidArguments(t *testing.T, s ratelimit.Store) {
	ctx := context.Background()
	for _, n := range []int{0, -1} {
		if err := s.Add(ctx, "k", long, n); err == nil {
			t.Errorf("Add with n=%d succeeded", n)
		}
	}
	for _, w := range []time.Duration{0, -time.Second} {
		if err := s.Add(ctx, "k", w, 1); err == nil {
			t.Errorf("Add with window %v succeeded", w)
		}
		if _, err := s.Count(ctx, "k", w); err == nil {
			t.Errorf("Count with window %v succeeded", w)
		}
	}
	if err := s.Add(ctx, "", long, 1); err == nil {
		t.Error("Add with an empty key succeeded")
	}
	want(t, s, "k", long, 0)
}

// testWindowSlides checks with the real clock that events leave the count
// once they are a window old. An event is recorded at some time during its
// Add call and counted at some time during the Count call, so each check is
// only asserted when the call times prove its outcome; on a machine too slow
// for a window the test moves to a longer one.
func testWindowSlides(t *testing.T, s ratelimit.Store) {
	const margin = 5 * time.Millisecond
	for _, w := range []time.Duration{300 * time.Millisecond, time.Second, 3 * time.Second} {
		key := fmt.Sprintf("slides-%v", w)
		timed := func(f func()) (start, end time.Time) {
			start = time.Now()
			f()
			return start, time.Now()
		}
		var n1, n2, n3 int
		a1, a1end := timed(func() { add(t, s, key, w, 1) })
		_, c1end := timed(func() { n1 = count(t, s, key, w) })
		time.Sleep(time.Until(a1.Add(w / 2)))
		a2, a2end := timed(func() { add(t, s, key, w, 2) })
		time.Sleep(time.Until(a1end.Add(w + margin)))
		c2, c2end := timed(func() { n2 = count(t, s, key, w) })
		time.Sleep(time.Until(a2end.Add(w + margin)))
		n3 = count(t, s, key, w)

		if n3 != 0 {
			t.Errorf("window %v: %d events counted a window after the last Add, want 0", w, n3)
		}
		if c1end.Sub(a1) >= w-margin || c2end.Sub(a2) >= w-margin || c2.Before(a1end.Add(w)) {
			t.Logf("window %v: calls too slow to judge, trying a longer window", w)
			continue
		}
		if n1 != 1 {
			t.Errorf("window %v: Count right after Add = %d, want 1", w, n1)
		}
		if n2 != 2 {
			t.Errorf("window %v: Count after the first event expired = %d, want 2", w, n2)
		}
		return
	}
	t.Fatal("every window was too short for this machine's timing")
}

func testBoundary(t *testing.T, s ratelimit.Store, c *testkit.Clock) {
	add(t, s, "k", time.Minute, 1)
	c.Advance(time.Minute - time.Nanosecond)
	want(t, s, "k", time.Minute, 1)
	c.Advance(time.Nanosecond)
	want(t, s, "k", time.Minute, 0)
}

func testFakeSliding(t *testing.T, s ratelimit.Store, c *testkit.Clock) {
	const w = time.Minute
	add(t, s, "k", w, 1)
	c.Advance(30 * time.Second)
	add(t, s, "k", w, 1)
	c.Advance(15 * time.Second)
	add(t, s, "k", w, 3)
	want(t, s, "k", w, 5)
	c.Advance(16 * time.Second) // t+61s: the first event is gone
	want(t, s, "k", w, 4)
	want(t, s, "k", 20*time.Second, 3)
	c.Advance(30 * time.Second) // t+91s: the second too
	want(t, s, "k", w, 3)
	add(t, s, "k", w, 1)
	want(t, s, "k", w, 4)
	c.Advance(45 * time.Second) // t+136s: the three added at t+45s are gone
	want(t, s, "k", w, 1)
	c.Advance(w)
	want(t, s, "k", w, 0)
}

func testLongRun(t *testing.T, s ratelimit.Store, c *testkit.Clock) {
	const w = time.Minute
	for i := range 3600 {
		add(t, s, "steady", w, 1)
		if n := count(t, s, "steady", w); n != min(i+1, 60) {
			t.Fatalf("after %d s: Count = %d, want %d", i, n, min(i+1, 60))
		}
		c.Advance(time.Second)
	}
}

func testClockStepsBack(t *testing.T, s ratelimit.Store, c *testkit.Clock) {
	const w = time.Minute
	add(t, s, "k", w, 1)
	c.Advance(-10 * time.Second)
	add(t, s, "k", w, 1)
	want(t, s, "k", w, 2)
	c.Advance(2 * w)
	want(t, s, "k", w, 0)
}
