package clamd

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"net"
	"strings"
	"sync/atomic"
	"testing"
	"time"
)

// sessionServer answers a session as clamd does: each INSTREAM is read
// whole and answered by verdict(data), numbered, at once; the session goes
// on until zEND or the client closes. limit > 0 refuses a stream over
// limit bytes as clamd does and closes.
func sessionServer(verdict func([]byte) string, limit int) func(*testing.T, net.Conn) {
	return func(t *testing.T, conn net.Conn) {
		if cmd, err := readCommand(conn); err != nil || cmd != "zIDSESSION" {
			t.Errorf("command %q, %v", cmd, err)
			return
		}
		for n := 1; ; n++ {
			cmd, err := readCommand(conn)
			if err != nil || cmd == "zEND" {
				return
			}
			if cmd != "zINSTREAM" {
				t.Errorf("command %q in a session", cmd)
				return
			}
			data, _, err := readStream(conn)
			if err != nil {
				return
			}
			if limit > 0 && len(data) > limit {
				conn.Write([]byte(fmt.Sprintf("%d: INSTREAM size limit exceeded. ERROR\x00", n)))
				return
			}
			conn.Write([]byte(fmt.Sprintf("%d: %s\x00", n, verdict(data))))
		}
	}
}

func TestSession(t *testing.T) {
	c := startFake(t, "tcp", sessionServer(eicarVerdict, 0))
	s, err := c.NewSession(context.Background())
	if err != nil {
		t.Fatal(err)
	}
	for _, part := range []string{"clean text", strings.Repeat("x", 200<<10) + "EICAR", "also clean"} {
		w, err := s.Scan()
		if err != nil {
			t.Fatal(err)
		}
		for p := []byte(part); len(p) > 0; {
			n := min(len(p), 7000)
			if _, err := w.Write(p[:n]); err != nil {
				t.Fatal(err)
			}
			p = p[n:]
		}
		if err := w.Close(); err != nil {
			t.Fatal(err)
		}
	}
	res, err := s.End()
	if err != nil {
		t.Fatal(err)
	}
	if len(res) != 3 || res[0].Infected || !res[1].Infected || res[1].Virus != "Eicar-Signature" || res[2].Infected {
		t.Errorf("results %+v", res)
	}
}

// TestSessionSizeLimit: clamd's size limit fails the session, whose
// connection is then not kept: the next message dials.
func TestSessionSizeLimit(t *testing.T) {
	var conns atomic.Int32
	c := startFake(t, "tcp", counted(&conns, sessionServer(eicarVerdict, 1000)))
	s, err := c.NewSession(context.Background())
	if err != nil {
		t.Fatal(err)
	}
	w, _ := s.Scan()
	w.Write(bytes.Repeat([]byte("x"), 5000))
	w.Close()
	if _, err := s.End(); !errors.Is(err, ErrSizeLimit) {
		t.Fatalf("End: %v, want %v", err, ErrSizeLimit)
	}
	scanAll(t, c, "small")
	scanAll(t, c, "small again")
	if n := conns.Load(); n != 2 {
		t.Errorf("%d connections, want 2", n)
	}
}

func TestSessionAbortAndTimeout(t *testing.T) {
	c := startFake(t, "tcp", silent)
	c.Timeout = 200 * time.Millisecond
	s, err := c.NewSession(context.Background())
	if err != nil {
		t.Fatal(err)
	}
	w, _ := s.Scan()
	w.Write([]byte("data"))
	w.Close()
	start := time.Now()
	if _, err := s.End(); err == nil || time.Since(start) > 2*time.Second {
		t.Errorf("End on a silent clamd: %v after %v", err, time.Since(start))
	}
	s2, err := c.NewSession(context.Background())
	if err != nil {
		t.Fatal(err)
	}
	s2.Abort()
	if _, err := s2.Scan(); err == nil {
		t.Error("Scan after Abort succeeded")
	}
}

// counted wraps a handler and counts the connections it is given.
func counted(n *atomic.Int32, handle func(*testing.T, net.Conn)) func(*testing.T, net.Conn) {
	return func(t *testing.T, conn net.Conn) {
		n.Add(1)
		handle(t, conn)
	}
}

// scanAll runs one message's session: a scan for each part, then End.
func scanAll(t *testing.T, c *Client, parts ...string) []Result {
	t.Helper()
	s, err := c.NewSession(context.Background())
	if err != nil {
		t.Fatal(err)
	}
	for _, part := range parts {
		w, err := s.Scan()
		if err != nil {
			t.Fatal(err)
		}
		w.Write([]byte(part))
		if err := w.Close(); err != nil {
			t.Fatal(err)
		}
	}
	res, err := s.End()
	if err != nil {
		t.Fatal(err)
	}
	if len(res) != len(parts) {
		t.Fatalf("%d results for %d parts", len(res), len(parts))
	}
	return res
}

// eicarVerdict finds "EICAR" anywhere in a stream.
func eicarVerdict(d []byte) string {
	if bytes.Contains(d, []byte("EICAR")) {
		return "stream: Eicar-Signature FOUND"
	}
	return "stream: OK"
}

// TestSessionReuse: the sessions of messages one after another run on one
// connection, and the answers are matched by the numbers clamd goes on
// counting.
func TestSessionReuse(t *testing.T) {
	var conns atomic.Int32
	c := startFake(t, "tcp", counted(&conns, sessionServer(eicarVerdict, 0)))
	for i := range 5 {
		parts := []string{"clean", "also clean"}
		if i == 3 {
			parts = append(parts, "EICAR")
		}
		res := scanAll(t, c, parts...)
		for j, r := range res {
			if r.Infected != (parts[j] == "EICAR") {
				t.Fatalf("message %d part %d: %+v", i, j, r)
			}
		}
	}
	if n := conns.Load(); n != 1 {
		t.Errorf("%d connections for 5 messages, want 1", n)
	}
}

// TestSessionReuseClosed: a kept connection that clamd closed (a restart,
// its IdleTimeout) is not used; the next message dials.
func TestSessionReuseClosed(t *testing.T) {
	var conns atomic.Int32
	oneMessage := func(t *testing.T, conn net.Conn) {
		readCommand(conn) // zIDSESSION
		readCommand(conn) // zINSTREAM
		readStream(conn)
		conn.Write([]byte("1: stream: OK\x00"))
	}
	c := startFake(t, "tcp", counted(&conns, oneMessage))
	scanAll(t, c, "first")
	time.Sleep(50 * time.Millisecond) // the fake has closed
	if res := scanAll(t, c, "second"); res[0].Infected {
		t.Fatalf("%+v", res)
	}
	if n := conns.Load(); n != 2 {
		t.Errorf("%d connections, want 2", n)
	}
}

// TestSessionIdleExpiry: a connection kept longer than sessionIdle is
// closed, before clamd would close it.
func TestSessionIdleExpiry(t *testing.T) {
	old := sessionIdle
	sessionIdle = 100 * time.Millisecond
	defer func() { sessionIdle = old }()
	var conns atomic.Int32
	closed := make(chan struct{}, 4)
	c := startFake(t, "tcp", counted(&conns, func(t *testing.T, conn net.Conn) {
		sessionServer(eicarVerdict, 0)(t, conn)
		closed <- struct{}{}
	}))
	scanAll(t, c, "one")
	select {
	case <-closed:
	case <-time.After(5 * time.Second):
		t.Fatal("the idle connection was not closed")
	}
	scanAll(t, c, "two")
	if n := conns.Load(); n != 2 {
		t.Errorf("%d connections, want 2", n)
	}
}

// TestSessionReuseNoStall: clamd sends each verdict as a small packet of
// its own with Nagle's algorithm on, so its second verdict waits for the
// acknowledgement of the first; on a kept connection the kernel delays
// that by 40 ms unless asked not to (quickAck). Twenty messages of two
// parts each would then take 0.8 s; they take a few milliseconds.
func TestSessionReuseNoStall(t *testing.T) {
	var conns atomic.Int32
	c := startFake(t, "tcp", counted(&conns, func(t *testing.T, conn net.Conn) {
		conn.(*net.TCPConn).SetNoDelay(false)
		readCommand(conn) // zIDSESSION
		for n := 1; ; n += 2 {
			for range 2 {
				if cmd, err := readCommand(conn); err != nil || cmd != "zINSTREAM" {
					return
				}
				readStream(conn)
			}
			conn.Write([]byte(fmt.Sprintf("%d: stream: OK\x00", n)))
			conn.Write([]byte(fmt.Sprintf("%d: stream: OK\x00", n+1)))
		}
	}))
	for range 5 { // past TCP's quick-acknowledgement start
		scanAll(t, c, "text", "attachment")
	}
	start := time.Now()
	for range 20 {
		scanAll(t, c, "text", "attachment")
	}
	if d := time.Since(start); d > 400*time.Millisecond {
		t.Errorf("20 messages on a kept session took %v: the verdicts stalled", d)
	}
	if n := conns.Load(); n != 1 {
		t.Errorf("%d connections, want 1", n)
	}
}
