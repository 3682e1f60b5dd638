package ratelimit_test

import (
	"context"
	"errors"
	"fmt"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/sekisho/sekisho/policy/ratelimit"
	"github.com/sekisho/sekisho/policy/ratelimit/redistest"
	"github.com/sekisho/sekisho/policy/ratelimit/storetest"
)

// TestRedisCluster runs the shared suite against a real Redis Cluster of
// three masters, reached through the whole list of nodes and through one
// seed node, and checks that the keys of one store are spread over every
// master: each call goes to the node that holds its key's slot.
func TestRedisCluster(t *testing.T) {
	c := redistest.StartCluster(t, "cl-pw")
	for name, url := range map[string]string{"all nodes": c.URL(), "one seed": c.SeedURL(1)} {
		t.Run(name, func(t *testing.T) {
			storetest.Run(t, func(t *testing.T, _ func() time.Time) ratelimit.Store {
				return newRedisFor(t, url)
			})
		})
	}

	s := newRedisFor(t, c.SeedURL(0))
	defer s.Close()
	ctx := context.Background()
	for i := range 30 {
		k := fmt.Sprintf("recipient:rcpt%d@example.org", i)
		if err := s.Add(ctx, k, time.Minute, i+1); err != nil {
			t.Fatal(err)
		}
		if n, err := s.Count(ctx, k, time.Minute); n != i+1 || err != nil {
			t.Fatalf("Count(%s) = %d, %v; want %d", k, n, err, i+1)
		}
	}
	for _, n := range c.Nodes {
		cl := n.Client(c.Password)
		keys, err := cl.DBSize(ctx).Result()
		cl.Close()
		if err != nil || keys == 0 {
			t.Errorf("master %s holds %d keys (%v): the keys must be spread over the cluster", n.Addr, keys, err)
		}
	}
}

// TestRedisSentinel runs the shared suite against a master found through
// three Sentinels, with passwords on the servers and on the Sentinels.
func TestRedisSentinel(t *testing.T) {
	s := redistest.StartSentinel(t, "data-pw", "sentinel-pw")
	storetest.Run(t, func(t *testing.T, _ func() time.Time) ratelimit.Store {
		return newRedisFor(t, s.URL())
	})
}

// stateLog records the state changes a store reports.
type stateLog struct {
	mu      sync.Mutex
	changes []string
}

func (l *stateLog) record(up bool, err error) {
	l.mu.Lock()
	defer l.mu.Unlock()
	if up {
		l.changes = append(l.changes, "up")
	} else {
		l.changes = append(l.changes, "down")
		if err == nil {
			l.changes = append(l.changes, "(down without an error)")
		}
	}
}

func (l *stateLog) get() string {
	l.mu.Lock()
	defer l.mu.Unlock()
	return strings.Join(l.changes, " ")
}

// TestRedisSentinelFailover kills the master (by PID, as a crash would)
// and checks that the store fails calls while no master is known, never
// counts wrong, finds the promoted replica within seconds with the counts
// it had, and reports the outage once: down, then up.
func TestRedisSentinelFailover(t *testing.T) {
	s := redistest.StartSentinel(t, "", "")
	ctx := context.Background()
	store, err := ratelimit.NewRedis(s.URL(), "failover:", 300*time.Millisecond)
	if err != nil {
		t.Fatal(err)
	}
	defer store.Close()
	var log stateLog
	store.OnStateChange(log.record)
	if err := store.Add(ctx, "k", time.Hour, 3); err != nil {
		t.Fatal(err)
	}
	s.WaitReplicated(t)
	old := s.Master.Addr

	s.Master.Kill()
	killed := time.Now()
	failed := 0
	for {
		n, err := store.Count(ctx, "k", time.Hour)
		if err == nil {
			if n != 3 {
				t.Fatalf("after the failover Count = %d, want the 3 events the replica kept", n)
			}
			break
		}
		failed++
		if time.Since(killed) > 30*time.Second {
			t.Fatalf("no master after 30 s: %v", err)
		}
		time.Sleep(50 * time.Millisecond)
	}
	took := time.Since(killed)
	t.Logf("failover: calls failed for %v (%d failed calls), then the promoted replica answered", took.Round(10*time.Millisecond), failed)
	if failed == 0 {
		t.Error("no call failed while the master was gone")
	}
	now, err := s.WaitMasterAddr(ctx, s.Replica.Addr, 10*time.Second)
	if err != nil || now == old || now != s.Replica.Addr {
		t.Errorf("Sentinels name master %q (%v); want the replica %s", now, err, s.Replica.Addr)
	}
	// The promoted replica has no replica of its own: the event is
	// counted, and said to be on the master alone.
	if err := store.Add(ctx, "k", time.Hour, 1); !errors.Is(err, ratelimit.ErrNotReplicated) {
		t.Fatalf("Add on a master without a replica: %v, want ErrNotReplicated", err)
	}
	if n, err := store.Count(ctx, "k", time.Hour); n != 4 || err != nil {
		t.Errorf("Count = %d, %v after one more event; want 4", n, err)
	}
	if got := log.get(); got != "down up" {
		t.Errorf("state changes %q, want \"down up\": one report per change", got)
	}
}

// TestRedisStateChange: a store that cannot reach its server reports down
// once however many calls fail, a call the caller cancelled reports
// nothing, and nothing is reported after Close.
func TestRedisStateChange(t *testing.T) {
	srv := redistest.StartServer(t, "")
	ctx := context.Background()
	store, err := ratelimit.NewRedis(srv.URL(""), "state:", 300*time.Millisecond)
	if err != nil {
		t.Fatal(err)
	}
	var log stateLog
	store.OnStateChange(log.record)
	if _, err := store.Count(ctx, "k", time.Minute); err != nil {
		t.Fatal(err)
	}
	if got := log.get(); got != "" {
		t.Errorf("state changes %q while up, want none", got)
	}
	srv.Kill()
	cancelled, cancel := context.WithCancel(ctx)
	cancel()
	if _, err := store.Count(cancelled, "k", time.Minute); err == nil {
		t.Fatal("Count with a cancelled context succeeded")
	}
	if got := log.get(); got != "" {
		t.Errorf("state changes %q after a cancelled call, want none", got)
	}
	for range 5 {
		if _, err := store.Count(ctx, "k", time.Minute); err == nil {
			t.Fatal("Count succeeded with the server gone")
		}
		if err := store.Add(ctx, "k", time.Minute, 1); err == nil {
			t.Fatal("Add succeeded with the server gone")
		}
	}
	if got := log.get(); got != "down" {
		t.Errorf("state changes %q, want \"down\" once", got)
	}
	store.Close()
	store.Count(ctx, "k", time.Minute)
	if got := log.get(); got != "down" {
		t.Errorf("state changes %q after Close, want no more", got)
	}
}
