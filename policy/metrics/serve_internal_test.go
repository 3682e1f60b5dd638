package metrics

import (
	"bufio"
	"context"
	"io"
	"log/slog"
	"net"
	"net/http"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"
)

// countingListener records how many of its connections are open at once.
type countingListener struct {
	net.Listener
	open, peak atomic.Int64
}

func (l *countingListener) Accept() (net.Conn, error) {
	c, err := l.Listener.Accept()
	if err != nil {
		return nil, err
	}
	n := l.open.Add(1)
	for p := l.peak.Load(); n > p && !l.peak.CompareAndSwap(p, n); p = l.peak.Load() {
	}
	return &countedConn{Conn: c, l: l}, nil
}

type countedConn struct {
	net.Conn
	l    *countingListener
	once sync.Once
}

func (c *countedConn) Close() error {
	c.once.Do(func() { c.l.open.Add(-1) })
	return c.Conn.Close()
}

// TestServeBounded: many clients each sending a 1 MiB request header get
// 431 (never a scrape), and the endpoint never holds more than maxConns
// connections at once, so that its memory stays bounded whatever clients
// send.
func TestServeBounded(t *testing.T) {
	if testing.Short() {
		t.Skip("64 clients send 1 MiB headers, which takes seconds: run without -short")
	}
	inner, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	ln := &countingListener{Listener: inner}
	stop := New("test").serve(ln, "", slog.New(slog.DiscardHandler))
	defer stop(context.Background())

	const clients = 64
	big := "GET /metrics HTTP/1.1\r\nHost: x\r\nX-Big: " + strings.Repeat("a", 1<<20) + "\r\n\r\n"
	var refused, served, other atomic.Int64
	var wg sync.WaitGroup
	for range clients {
		wg.Add(1)
		go func() {
			defer wg.Done()
			c, err := net.Dial("tcp", inner.Addr().String())
			if err != nil {
				other.Add(1)
				return
			}
			defer c.Close()
			c.SetDeadline(time.Now().Add(30 * time.Second))
			go io.WriteString(c, big)
			resp, err := http.ReadResponse(bufio.NewReader(c), nil)
			switch {
			case err != nil:
				other.Add(1) // reset before the answer could be read
			case resp.StatusCode == http.StatusRequestHeaderFieldsTooLarge:
				refused.Add(1)
			case resp.StatusCode == http.StatusOK:
				served.Add(1)
			default:
				other.Add(1)
			}
		}()
	}
	wg.Wait()
	if served.Load() > 0 {
		t.Errorf("%d requests with a 1 MiB header were served", served.Load())
	}
	if refused.Load() == 0 {
		t.Errorf("no request was refused with 431 (other outcomes: %d)", other.Load())
	}
	if p := ln.peak.Load(); p > maxConns {
		t.Errorf("%d connections served at once, want at most %d", p, maxConns)
	}
	t.Logf("431: %d, reset: %d, peak connections: %d", refused.Load(), other.Load(), ln.peak.Load())

	// A scrape still works afterwards.
	resp, err := http.Get("http://" + inner.Addr().String() + "/metrics")
	if err != nil {
		t.Fatal(err)
	}
	resp.Body.Close()
	if resp.StatusCode != http.StatusOK {
		t.Errorf("scrape after the flood: %s", resp.Status)
	}
}

// TestExposedWarning: only loopback addresses are served without a
// warning.
func TestExposedWarning(t *testing.T) {
	for addr, warn := range map[string]bool{
		"127.0.0.1:9100": false,
		"127.0.0.2:9100": false,
		"[::1]:9100":     false,
		"localhost:9100": false,
		"0.0.0.0:9100":   true,
		":9100":          true,
		"[::]:9100":      true,
		"192.0.2.1:9100": true,
		"mx.example:91":  true,
	} {
		if got := ExposedWarning(addr, "") != ""; got != warn || ExposedWarning(addr, "/etc/sekisho/web.yml") != "" {
			t.Errorf("ExposedWarning(%q) warns: %v, want %v", addr, got, warn)
		}
	}
}
