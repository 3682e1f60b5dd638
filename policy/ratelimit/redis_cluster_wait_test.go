package ratelimit_test

import (
	"context"
	"errors"
	"fmt"
	"github.com/sekisho/sekisho/policy/internal/testkit"
	"log/slog"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/sekisho/sekisho/policy/ratelimit"
	"github.com/sekisho/sekisho/policy/ratelimit/redistest"
)

// captureLog sends the package's log to a buffer for the test.
func captureLog(t *testing.T) *testkit.Buffer {
	var log testkit.Buffer
	ratelimit.SetLogger(slog.New(slog.NewTextHandler(&log, nil)))
	t.Cleanup(func() { ratelimit.SetLogger(slog.Default()) })
	return &log
}

// TestRedisClusterAddWaitsForReplica: in a cluster whose masters have a
// replica each, an Add that returns nil is on the replica of the key's
// master already; with that replica stopped (SIGSTOP, by PID), Add keeps
// the count on the master and says no replica acknowledged it, within the
// store's timeout, and logs it once.
func TestRedisClusterAddWaitsForReplica(t *testing.T) {
	c := redistest.StartClusterWithReplicas(t, "cl-pw")
	log := captureLog(t)
	// WAIT gets a quarter of it: ample for a replica on loopback even on
	// a busy machine.
	const timeout = 2 * time.Second
	st, err := ratelimit.NewRedis(c.URL(), "t:", timeout)
	if err != nil {
		t.Fatal(err)
	}
	defer st.Close()
	ctx := context.Background()
	cc := c.Client()
	defer cc.Close()
	replicas := map[string]*redistest.Server{}
	replicaOf := func(key string) *redistest.Server {
		t.Helper()
		m, err := cc.MasterForKey(ctx, "t:"+key)
		if err != nil {
			t.Fatal(err)
		}
		addr := m.Options().Addr
		if replicas[addr] == nil {
			if replicas[addr] = c.ReplicaOf(t, addr); replicas[addr] == nil {
				t.Fatalf("master %s has no replica", addr)
			}
		}
		return replicas[addr]
	}
	onReplica := func(key string) int64 {
		t.Helper()
		cl := replicaOf(key).Client(c.Password)
		defer cl.Close()
		// A replica answers reads of its master's slots after READONLY.
		conn := cl.Conn()
		defer conn.Close()
		if err := conn.ReadOnly(ctx).Err(); err != nil {
			t.Fatal(err)
		}
		n, err := conn.ZCard(ctx, "t:"+key).Result()
		if err != nil {
			t.Fatal(err)
		}
		return n
	}

	for i := range 60 {
		k := fmt.Sprintf("recipient:rcpt%d@example.org", i)
		for j := range 2 {
			if err := st.Add(ctx, k, time.Hour, 1); err != nil {
				t.Fatalf("Add %s: %v", k, err)
			}
			if n := onReplica(k); n != int64(j+1) {
				t.Fatalf("after Add %d of %s the replica holds %d events, want %d", j+1, k, n, j+1)
			}
		}
	}
	if len(replicas) != 3 {
		t.Errorf("60 keys reached %d masters, want all 3", len(replicas))
	}

	const k = "recipient:rcpt0@example.org"
	rep := replicaOf(k)
	if err := syscall.Kill(rep.PID(), syscall.SIGSTOP); err != nil {
		t.Fatal(err)
	}
	stopped := true
	defer func() {
		if stopped {
			syscall.Kill(rep.PID(), syscall.SIGCONT)
		}
	}()
	start := time.Now()
	err = st.Add(ctx, k, time.Hour, 1)
	if !errors.Is(err, ratelimit.ErrNotReplicated) {
		t.Errorf("Add with the replica stopped: %v, want ErrNotReplicated", err)
	}
	if d := time.Since(start); d > 2*timeout {
		t.Errorf("Add with the replica stopped took %v, more than the timeout %v", d, timeout)
	}
	syscall.Kill(rep.PID(), syscall.SIGCONT)
	stopped = false
	// Counted once the replica runs again: with a node stopped, the
	// cluster client may ask it for the cluster's map and wait out its
	// timeout, which says nothing of where the count is.
	if n, err := st.Count(ctx, k, time.Hour); n != 3 || err != nil {
		t.Errorf("Count = %d, %v; want the 3 events the master holds", n, err)
	}
	if out := log.String(); strings.Count(out, "not acknowledged by any replica") != 1 || strings.Contains(out, "has no replica") {
		t.Errorf("want one WARN of the count not acknowledged:\n%s", out)
	}
}

// TestRedisClusterWithoutReplicas: a cluster made without replicas is a
// choice, not a fault: no Add waits for a replica (WAIT would last its
// whole timeout and fail), none fails, and each master is named once at
// INFO.
func TestRedisClusterWithoutReplicas(t *testing.T) {
	c := redistest.StartCluster(t, "cl-pw")
	log := captureLog(t)
	st, err := ratelimit.NewRedis(c.URL(), "t:", 2*time.Second)
	if err != nil {
		t.Fatal(err)
	}
	defer st.Close()
	ctx := context.Background()
	for i := range 60 {
		k := fmt.Sprintf("recipient:rcpt%d@example.org", i)
		if err := st.Add(ctx, k, time.Hour, 1); err != nil {
			t.Fatalf("Add %s: %v", k, err)
		}
		if n, err := st.Count(ctx, k, time.Hour); n != 1 || err != nil {
			t.Fatalf("Count(%s) = %d, %v; want 1", k, n, err)
		}
	}
	out := log.String()
	if n := strings.Count(out, "a cluster master has no replica"); n != 3 || strings.Contains(out, "level=WARN") {
		t.Errorf("want one INFO for each of the 3 masters and no WARN, got %d:\n%s", n, out)
	}
}
