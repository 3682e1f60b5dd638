package ratelimit_test

import (
	"context"
	"errors"
	"syscall"
	"testing"
	"time"

	"github.com/sekisho/sekisho/policy/ratelimit"
	"github.com/sekisho/sekisho/policy/ratelimit/redistest"
)

// TestRedisSentinelAddWaitsForReplica: on a Sentinel master, an Add that
// returns nil is on the replica already, so that a failover right after it
// keeps the count; with the replica stopped (SIGSTOP, by PID), Add keeps
// the count on the master and says no replica acknowledged it, within the
// store's timeout; once the replica is back, and the backoff has passed,
// counts are acknowledged again.
func TestRedisSentinelAddWaitsForReplica(t *testing.T) {
	s := redistest.StartSentinel(t, "data-pw", "sentinel-pw")
	// WAIT gets a quarter of it: ample for a replica on loopback even on
	// a busy machine.
	const timeout = 2 * time.Second
	st, err := ratelimit.NewRedis(s.URL(), "t:", timeout)
	if err != nil {
		t.Fatal(err)
	}
	defer st.Close()
	ctx := context.Background()
	replica := s.Replica.Client(s.Password)
	defer replica.Close()
	onReplica := func(key string) int64 {
		t.Helper()
		n, err := replica.ZCard(ctx, "t:"+key).Result()
		if err != nil {
			t.Fatal(err)
		}
		return n
	}

	for i := range 20 {
		if err := st.Add(ctx, "k", time.Hour, 1); err != nil {
			t.Fatalf("Add %d: %v", i, err)
		}
		// Read at once on the replica: without WAIT, the write may not
		// have reached it yet.
		if n := onReplica("k"); n != int64(i+1) {
			t.Fatalf("after Add %d the replica holds %d events, want %d", i, n, i+1)
		}
	}

	if err := syscall.Kill(s.Replica.PID(), syscall.SIGSTOP); err != nil {
		t.Fatal(err)
	}
	stopped := true
	defer func() {
		if stopped {
			syscall.Kill(s.Replica.PID(), syscall.SIGCONT)
		}
	}()
	start := time.Now()
	err = st.Add(ctx, "k", time.Hour, 1)
	if !errors.Is(err, ratelimit.ErrNotReplicated) {
		t.Errorf("Add with the replica stopped: %v, want ErrNotReplicated", err)
	}
	if d := time.Since(start); d > 2*timeout {
		t.Errorf("Add with the replica stopped took %v, more than the timeout %v", d, timeout)
	}
	if n, err := st.Count(ctx, "k", time.Hour); n != 21 || err != nil {
		t.Errorf("Count = %d, %v on the master; want 21", n, err)
	}
	syscall.Kill(s.Replica.PID(), syscall.SIGCONT)
	stopped = false
	s.WaitReplicated(t)
}
