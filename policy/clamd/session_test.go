package clamd

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"net"
	"strings"
	"testing"
	"time"
)

// sessionServer answers a session: each INSTREAM is read whole and answered
// by verdict(data), numbered, after zEND; limit > 0 refuses a stream over
// limit bytes as clamd does and closes.
func sessionServer(verdict func([]byte) string, limit int) func(*testing.T, net.Conn) {
	return func(t *testing.T, conn net.Conn) {
		if cmd, err := readCommand(conn); err != nil || cmd != "zIDSESSION" {
			t.Errorf("command %q, %v", cmd, err)
			return
		}
		var replies []string
		for n := 1; ; n++ {
			cmd, err := readCommand(conn)
			if err != nil {
				return
			}
			if cmd == "zEND" {
				for _, r := range replies {
					conn.Write([]byte(r + "\x00"))
				}
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
			replies = append(replies, fmt.Sprintf("%d: %s", n, verdict(data)))
		}
	}
}

func TestSession(t *testing.T) {
	verdict := func(d []byte) string {
		if bytes.Contains(d, []byte("EICAR")) {
			return "stream: Eicar-Signature FOUND"
		}
		return "stream: OK"
	}
	c := startFake(t, "tcp", sessionServer(verdict, 0))
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

func TestSessionSizeLimit(t *testing.T) {
	c := startFake(t, "tcp", sessionServer(func([]byte) string { return "stream: OK" }, 1000))
	s, err := c.NewSession(context.Background())
	if err != nil {
		t.Fatal(err)
	}
	w, _ := s.Scan()
	w.Write(bytes.Repeat([]byte("x"), 5000))
	w.Close()
	_, err = s.End()
	if !errors.Is(err, ErrSizeLimit) {
		t.Errorf("End: %v, want %v", err, ErrSizeLimit)
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
