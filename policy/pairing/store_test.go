package pairing

import (
	"context"
	"slices"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/redis/go-redis/v9"

	"github.com/sekisho/sekisho/policy/ratelimit/redistest"
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
	if c, _, _ := s.Candidates(ctx, a, b, t0); len(c) != 0 {
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
	if c, w, err := s.Candidates(ctx, a, b, t0); len(c) != 0 || !w || err != nil {
		t.Errorf("Candidates before any: %q waiting %v, %v", c, w, err)
	}
	if w, _ := s.Waiting(ctx, a, "other@example.co.jp", t0); w {
		t.Error("another recipient is waiting")
	}

	s.AddCandidates(ctx, a, b, []string{"pw1", "pw2"}, t0.Add(time.Minute), ttl)
	s.AddCandidates(ctx, a, b, []string{"pw2", "pw3"}, t0.Add(2*time.Minute), ttl)
	if c, _, _ := s.Candidates(ctx, a, b, t0.Add(3*time.Minute)); !slices.Equal(c, []string{"pw1", "pw2", "pw3"}) {
		t.Errorf("candidates %q", c)
	}
	var many []string
	for i := range MaxCandidates + 3 {
		many = append(many, "x"+string(rune('a'+i)))
	}
	s.AddCandidates(ctx, a, b, many, t0.Add(3*time.Minute), ttl)
	if c, _, _ := s.Candidates(ctx, a, b, t0.Add(3*time.Minute)); len(c) != MaxCandidates || c[len(c)-1] != many[len(many)-1] {
		t.Errorf("bounded candidates %q", c)
	}

	// Done forgets the archive and, with no other waiting, the candidates.
	if err := s.Done(ctx, a, b, "m1"); err != nil {
		t.Fatal(err)
	}
	if c, _, _ := s.Candidates(ctx, a, b, t0.Add(4*time.Minute)); len(c) != 0 {
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
	if c, _, _ := s.Candidates(ctx, a, b, later); len(c) != 0 {
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

// TestRedisStore runs the Store behaviour against a real Redis server and
// a real 3-master Redis Cluster.
func TestRedisStore(t *testing.T) {
	t.Run("server", func(t *testing.T) {
		srv := redistest.StartServer(t, "")
		c := redis.NewClient(&redis.Options{Addr: srv.Addr})
		defer c.Close()
		s := NewRedis(c, "sekisho:pair:", 2*time.Second)
		testStore(t, s)
		// Nothing is left once everything is done or expired, and no key
		// holds an address.
		keys, err := c.Keys(context.Background(), "*").Result()
		if err != nil {
			t.Fatal(err)
		}
		for _, k := range keys {
			if strings.Contains(k, "@") {
				t.Errorf("key %q holds an address", k)
			}
		}
	})
	t.Run("cluster", func(t *testing.T) {
		cl := redistest.StartCluster(t, "pw")
		var addrs []string
		for _, n := range cl.Nodes {
			addrs = append(addrs, n.Addr)
		}
		c := redis.NewClusterClient(&redis.ClusterOptions{Addrs: addrs, Password: "pw"})
		defer c.Close()
		s := NewRedis(c, "sekisho:pair:", 2*time.Second)
		testStore(t, s)
		// Pairs spread over the cluster's slots.
		ctx := context.Background()
		now := time.Now()
		for i := range 20 {
			rcpt := "user" + strconv.Itoa(i) + "@example.co.jp"
			if _, err := s.Wait(ctx, "s@example.net", rcpt, "m", now, time.Minute); err != nil {
				t.Fatal(err)
			}
			if err := s.AddCandidates(ctx, "s@example.net", rcpt, []string{"pw" + strconv.Itoa(i)}, now, time.Minute); err != nil {
				t.Fatal(err)
			}
			if c, _, err := s.Candidates(ctx, "s@example.net", rcpt, now); err != nil || len(c) != 1 || c[0] != "pw"+strconv.Itoa(i) {
				t.Fatalf("candidates %q, %v", c, err)
			}
		}
	})
}

// TestRedisStoreDown: a store that does not answer is an error, never "no
// archive waits".
func TestRedisStoreDown(t *testing.T) {
	port, err := redistest.FreePort()
	if err != nil {
		t.Fatal(err)
	}
	c := redis.NewClient(&redis.Options{Addr: "127.0.0.1:" + strconv.Itoa(port), MaxRetries: -1})
	defer c.Close()
	s := NewRedis(c, "p:", time.Second)
	ctx := context.Background()
	if _, err := s.Waiting(ctx, "a", "b", time.Now()); err == nil {
		t.Error("Waiting on a store that is down: no error")
	}
	if _, err := s.Wait(ctx, "a", "b", "m", time.Now(), time.Hour); err == nil {
		t.Error("Wait on a store that is down: no error")
	}
	if _, _, err := s.Candidates(ctx, "a", "b", time.Now()); err == nil {
		t.Error("Candidates on a store that is down: no error")
	}
}
