package ratelimit_test

import (
	"context"
	"fmt"
	"net"
	"strconv"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/redis/go-redis/v9"

	"github.com/sekisho/sekisho/policy/ratelimit"
	"github.com/sekisho/sekisho/policy/ratelimit/redistest"
	"github.com/sekisho/sekisho/policy/ratelimit/storetest"
)

var prefixes atomic.Int64

// newRedisFor returns a store on url whose keys no other store shares.
func newRedisFor(t *testing.T, url string) *ratelimit.Redis {
	t.Helper()
	prefix := fmt.Sprintf("test%d:", prefixes.Add(1))
	s, err := ratelimit.NewRedis(url, prefix, 2*time.Second)
	if err != nil {
		t.Fatal(err)
	}
	return s
}

func TestRedis(t *testing.T) {
	url := redistest.StartServer(t, "").URL("")
	storetest.Run(t, func(t *testing.T, _ func() time.Time) ratelimit.Store {
		return newRedisFor(t, url)
	})
}

// TestRedisSharedByHosts checks that two stores on one server, like two MX
// hosts, see each other's events, including concurrent ones.
func TestRedisSharedByHosts(t *testing.T) {
	url := redistest.StartServer(t, "").URL("")
	ctx := context.Background()
	var hosts [2]*ratelimit.Redis
	for i := range hosts {
		s, err := ratelimit.NewRedis(url, "sekisho:", 2*time.Second)
		if err != nil {
			t.Fatal(err)
		}
		t.Cleanup(func() { s.Close() })
		hosts[i] = s
	}
	if err := hosts[0].Add(ctx, "k", time.Minute, 2); err != nil {
		t.Fatal(err)
	}
	if n, err := hosts[1].Count(ctx, "k", time.Minute); n != 2 || err != nil {
		t.Fatalf("other host counts %d, %v; want 2", n, err)
	}
	var wg sync.WaitGroup
	for i := range 40 {
		wg.Go(func() {
			if err := hosts[i%2].Add(ctx, "k", time.Minute, 1); err != nil {
				t.Error(err)
			}
		})
	}
	wg.Wait()
	for i, h := range hosts {
		if n, err := h.Count(ctx, "k", time.Minute); n != 42 || err != nil {
			t.Errorf("host %d counts %d, %v; want 42", i, n, err)
		}
	}
}

// TestRedisKeys checks the stored layout: the prefix is applied, the key
// expires one window after its last event, and nothing else is written.
func TestRedisKeys(t *testing.T) {
	url := redistest.StartServer(t, "").URL("")
	ctx := context.Background()
	s, err := ratelimit.NewRedis(url, "sekisho:rl:", time.Second)
	if err != nil {
		t.Fatal(err)
	}
	defer s.Close()
	opts, _ := redis.ParseURL(url)
	raw := redis.NewClient(opts)
	defer raw.Close()

	if err := s.Add(ctx, "recipient:bob@example.org", 300*time.Millisecond, 3); err != nil {
		t.Fatal(err)
	}
	keys, err := raw.Keys(ctx, "*").Result()
	if err != nil {
		t.Fatal(err)
	}
	if len(keys) != 1 || keys[0] != "sekisho:rl:recipient:bob@example.org" {
		t.Errorf("keys %q", keys)
	}
	if ttl := raw.PTTL(ctx, keys[0]).Val(); ttl <= 0 || ttl > 300*time.Millisecond {
		t.Errorf("PTTL %v, want (0, 300ms]", ttl)
	}
	if n := raw.ZCard(ctx, keys[0]).Val(); n != 3 {
		t.Errorf("ZCARD %d, want 3", n)
	}
	time.Sleep(400 * time.Millisecond)
	if n := raw.Exists(ctx, keys[0]).Val(); n != 0 {
		t.Error("key still exists a window after its last event")
	}
}

// TestRedisDown checks that an unreachable server yields an error within
// the timeout, whether nothing listens or the server never answers.
func TestRedisDown(t *testing.T) {
	const timeout = 300 * time.Millisecond
	const slack = time.Second // for a loaded machine
	port, err := redistest.FreePort()
	if err != nil {
		t.Fatal(err)
	}
	silent, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer silent.Close()
	var conns []net.Conn
	var mu sync.Mutex
	go func() {
		for {
			c, err := silent.Accept()
			if err != nil {
				return
			}
			mu.Lock()
			conns = append(conns, c)
			mu.Unlock()
		}
	}()
	defer func() {
		mu.Lock()
		defer mu.Unlock()
		for _, c := range conns {
			c.Close()
		}
	}()
	for name, addr := range map[string]string{
		"closed port": net.JoinHostPort("127.0.0.1", strconv.Itoa(port)),
		"no answer":   silent.Addr().String(),
	} {
		t.Run(name, func(t *testing.T) {
			s, err := ratelimit.NewRedis("redis://"+addr+"/0", "x:", timeout)
			if err != nil {
				t.Fatal(err)
			}
			defer s.Close()
			start := time.Now()
			if _, err := s.Count(context.Background(), "k", time.Minute); err == nil {
				t.Error("Count succeeded")
			}
			if d := time.Since(start); d > timeout+slack {
				t.Errorf("Count took %v with a timeout of %v", d, timeout)
			}
			start = time.Now()
			if err := s.Add(context.Background(), "k", time.Minute, 1); err == nil {
				t.Error("Add succeeded")
			}
			if d := time.Since(start); d > timeout+slack {
				t.Errorf("Add took %v with a timeout of %v", d, timeout)
			}
		})
	}
}

func TestNewRedisErrors(t *testing.T) {
	if _, err := ratelimit.NewRedis("http://127.0.0.1:6379", "", time.Second); err == nil {
		t.Error("NewRedis accepted an http URL")
	}
	if _, err := ratelimit.NewRedis("redis://127.0.0.1:6379/0", "", 0); err == nil {
		t.Error("NewRedis accepted a zero timeout")
	}
}

func BenchmarkRedisCountAdd(b *testing.B) {
	url := redistest.StartServer(b, "").URL("")
	ctx := context.Background()
	s, err := ratelimit.NewRedis(url, "bench:", 2*time.Second)
	if err != nil {
		b.Fatal(err)
	}
	defer s.Close()
	i := 0
	for b.Loop() {
		k := "recipient:rcpt" + strconv.Itoa(i%1000) + "@example.org"
		i++
		if _, err := s.Count(ctx, k, time.Minute); err != nil {
			b.Fatal(err)
		}
		if err := s.Add(ctx, k, time.Minute, 1); err != nil {
			b.Fatal(err)
		}
	}
}
