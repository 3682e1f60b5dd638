package clamd

import (
	"bytes"
	"context"
	"encoding/binary"
	"errors"
	"io"
	"net"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"
)

// fake is a clamd stand-in: every accepted connection is given to handle.
type fake struct {
	ln     net.Listener
	handle func(t *testing.T, conn net.Conn)
}

func startFake(t *testing.T, network string, handle func(t *testing.T, conn net.Conn)) *Client {
	t.Helper()
	addr := "127.0.0.1:0"
	if network == "unix" {
		addr = filepath.Join(t.TempDir(), "clamd.sock")
	}
	ln, err := net.Listen(network, addr)
	if err != nil {
		t.Fatal(err)
	}
	f := &fake{ln: ln, handle: handle}
	done := make(chan struct{})
	t.Cleanup(func() {
		ln.Close()
		<-done
	})
	go func() {
		defer close(done)
		for {
			conn, err := ln.Accept()
			if err != nil {
				return
			}
			go func() {
				defer conn.Close()
				f.handle(t, conn)
			}()
		}
	}()
	return &Client{Network: network, Address: ln.Addr().String(), Timeout: 5 * time.Second}
}

// readCommand reads a z-prefixed command.
func readCommand(conn net.Conn) (string, error) {
	var b []byte
	one := make([]byte, 1)
	for {
		if _, err := io.ReadFull(conn, one); err != nil {
			return string(b), err
		}
		if one[0] == 0 {
			return string(b), nil
		}
		b = append(b, one[0])
	}
}

// readStream reads INSTREAM chunks up to the zero-length one.
func readStream(conn net.Conn) (data []byte, chunks []int, err error) {
	var hdr [4]byte
	for {
		if _, err := io.ReadFull(conn, hdr[:]); err != nil {
			return data, chunks, err
		}
		n := binary.BigEndian.Uint32(hdr[:])
		if n == 0 {
			return data, chunks, nil
		}
		chunks = append(chunks, int(n))
		buf := make([]byte, n)
		if _, err := io.ReadFull(conn, buf); err != nil {
			return data, chunks, err
		}
		data = append(data, buf...)
	}
}

// scanner answers INSTREAM with reply and hands what it received to got.
func scanner(reply string, got chan<- []byte, chunks chan<- []int) func(*testing.T, net.Conn) {
	return func(t *testing.T, conn net.Conn) {
		cmd, err := readCommand(conn)
		if err != nil || cmd != "zINSTREAM" {
			t.Errorf("command %q, %v", cmd, err)
			return
		}
		data, sizes, err := readStream(conn)
		if err != nil {
			t.Errorf("stream: %v", err)
			return
		}
		if got != nil {
			got <- data
		}
		if chunks != nil {
			chunks <- sizes
		}
		conn.Write([]byte(reply))
	}
}

func TestParse(t *testing.T) {
	tests := []struct {
		in      string
		network string
		address string
		wantErr bool
	}{
		{"unix:/run/clamav/clamd.ctl", "unix", "/run/clamav/clamd.ctl", false},
		{"local:/run/clamav/clamd.ctl", "unix", "/run/clamav/clamd.ctl", false},
		{"inet:127.0.0.1:3310", "tcp", "127.0.0.1:3310", false},
		{"tcp:127.0.0.1:3310", "tcp", "127.0.0.1:3310", false},
		{"inet:[::1]:3310", "tcp", "[::1]:3310", false},
		{"INET:clamav.example:3310", "tcp", "clamav.example:3310", false},
		{"", "", "", true},
		{"unix:", "", "", true},
		{"/run/clamav/clamd.ctl", "", "", true},
		{"inet:127.0.0.1", "", "", true},
		{"inet::3310", "", "", true},
		{"inet:127.0.0.1:", "", "", true},
		{"udp:127.0.0.1:3310", "", "", true},
	}
	for _, tt := range tests {
		c, err := Parse(tt.in)
		if tt.wantErr {
			if err == nil {
				t.Errorf("Parse(%q) = %+v, want an error", tt.in, c)
			}
			continue
		}
		if err != nil {
			t.Errorf("Parse(%q): %v", tt.in, err)
			continue
		}
		if c.Network != tt.network || c.Address != tt.address || c.Timeout != DefaultTimeout {
			t.Errorf("Parse(%q) = %+v", tt.in, c)
		}
	}
}

func TestParseReply(t *testing.T) {
	tests := []struct {
		raw      string
		infected bool
		virus    string
		err      error // nil, ErrSizeLimit, ErrProtocol, or errOther
	}{
		{"stream: OK", false, "", nil},
		{"stream: Eicar-Signature FOUND", true, "Eicar-Signature", nil},
		{"stream: Test.EICAR-HDB.UNOFFICIAL FOUND", true, "Test.EICAR-HDB.UNOFFICIAL", nil},
		{"stream: Heuristics.Phishing.Email.SpoofedDomain FOUND", true, "Heuristics.Phishing.Email.SpoofedDomain", nil},
		{"stream: Name With Spaces FOUND", true, "Name With Spaces", nil},
		{"stream: YARA.rule:sub:name FOUND", true, "YARA.rule:sub:name", nil},
		{"stream: stream: OK FOUND", true, "stream: OK", nil},
		{"stream: OK\n", false, "", nil},
		{"INSTREAM size limit exceeded. ERROR", false, "", ErrSizeLimit},
		{"stream: Can't allocate memory ERROR", false, "", errOther},
		{"Command invalid inside IDSESSION. ERROR", false, "", errOther},
		{"UNKNOWN COMMAND", false, "", ErrProtocol},
		{"PONG", false, "", ErrProtocol},
		{"", false, "", ErrProtocol},
		{"stream: ", false, "", ErrProtocol},
		{"stream:  FOUND", false, "", ErrProtocol},
		{"stream: FOUND", false, "", ErrProtocol},
		{"stream:OK", false, "", ErrProtocol},
		{"1: stream: OK", false, "", ErrProtocol},
	}
	for _, tt := range tests {
		res, err := parseReply(tt.raw)
		switch {
		case tt.err == nil && err != nil:
			t.Errorf("parseReply(%q): %v", tt.raw, err)
		case tt.err == errOther && (err == nil || errors.Is(err, ErrProtocol) || errors.Is(err, ErrSizeLimit)):
			t.Errorf("parseReply(%q) error %v, want a clamd error", tt.raw, err)
		case tt.err != nil && tt.err != errOther && !errors.Is(err, tt.err):
			t.Errorf("parseReply(%q) error %v, want %v", tt.raw, err, tt.err)
		}
		if res.Infected != tt.infected || res.Virus != tt.virus || res.Raw != tt.raw {
			t.Errorf("parseReply(%q) = %+v", tt.raw, res)
		}
	}
}

var errOther = errors.New("any other error")

func TestScanOK(t *testing.T) {
	for _, network := range []string{"tcp", "unix"} {
		t.Run(network, func(t *testing.T) {
			got := make(chan []byte, 1)
			chunks := make(chan []int, 1)
			c := startFake(t, network, scanner("stream: OK\x00", got, chunks))
			msg := bytes.Repeat([]byte("Subject: hello\r\n\r\nbody line\r\n"), 10000)
			res, err := c.Scan(context.Background(), bytes.NewReader(msg))
			if err != nil {
				t.Fatal(err)
			}
			if res.Infected || res.Raw != "stream: OK" {
				t.Errorf("result %+v", res)
			}
			if data := <-got; !bytes.Equal(data, msg) {
				t.Errorf("clamd received %d bytes, want %d", len(data), len(msg))
			}
			for _, n := range <-chunks {
				if n > chunkSize {
					t.Errorf("chunk of %d bytes, want ≤ %d", n, chunkSize)
				}
			}
		})
	}
}

// TestStreamSmallWrites feeds the stream the way a milter does: many small
// writes spread over time, each well under the timeout, the whole longer.
func TestStreamSmallWrites(t *testing.T) {
	got := make(chan []byte, 1)
	c := startFake(t, "tcp", scanner("stream: OK\x00", got, nil))
	c.Timeout = 200 * time.Millisecond
	s, err := c.NewStream(context.Background())
	if err != nil {
		t.Fatal(err)
	}
	var want []byte
	for i := range 30 {
		line := []byte("X-Line: " + strings.Repeat("x", i) + "\r\n")
		want = append(want, line...)
		if n, err := s.Write(line); err != nil || n != len(line) {
			t.Fatalf("Write = %d, %v", n, err)
		}
		time.Sleep(15 * time.Millisecond)
	}
	if _, err := s.Write(nil); err != nil {
		t.Fatal(err)
	}
	res, err := s.Close()
	if err != nil || res.Infected {
		t.Fatalf("Close = %+v, %v", res, err)
	}
	if data := <-got; !bytes.Equal(data, want) {
		t.Errorf("clamd received %q, want %q", data, want)
	}
}

func TestScanFound(t *testing.T) {
	for _, virus := range []string{"Eicar-Signature", "Test.EICAR-HDB.UNOFFICIAL", "Name With Spaces: and colons FOUND"} {
		c := startFake(t, "unix", scanner("stream: "+virus+" FOUND\x00", nil, nil))
		res, err := c.Scan(context.Background(), strings.NewReader("X5O!P%@AP[4\\PZX54(P^)7CC)7}$EICAR"))
		if err != nil {
			t.Fatal(err)
		}
		if !res.Infected || res.Virus != virus {
			t.Errorf("result %+v, want %q", res, virus)
		}
	}
}

// sizeLimited reads limit bytes after the command, then answers like clamd
// past StreamMaxLength and closes with unread data pending.
func sizeLimited(limit int64) func(*testing.T, net.Conn) {
	return func(t *testing.T, conn net.Conn) {
		if _, err := readCommand(conn); err != nil {
			return
		}
		io.CopyN(io.Discard, conn, limit)
		conn.Write([]byte("INSTREAM size limit exceeded. ERROR\x00"))
	}
}

func TestSizeLimitOnWrite(t *testing.T) {
	c := startFake(t, "tcp", sizeLimited(100<<10))
	s, err := c.NewStream(context.Background())
	if err != nil {
		t.Fatal(err)
	}
	defer s.Abort()
	piece := bytes.Repeat([]byte("a"), 4096)
	var werr error
	for i := 0; i < 64<<20/len(piece) && werr == nil; i++ {
		_, werr = s.Write(piece)
	}
	if !errors.Is(werr, ErrSizeLimit) {
		t.Fatalf("Write error %v, want ErrSizeLimit", werr)
	}
	if _, err := s.Write(piece); !errors.Is(err, ErrSizeLimit) {
		t.Errorf("Write after failure: %v, want ErrSizeLimit", err)
	}
	res, err := s.Close()
	if !errors.Is(err, ErrSizeLimit) {
		t.Errorf("Close error %v, want ErrSizeLimit", err)
	}
	if res.Infected || !strings.Contains(res.Raw, "size limit") {
		t.Errorf("Close result %+v", res)
	}
}

func TestSizeLimitOnClose(t *testing.T) {
	c := startFake(t, "unix", sizeLimited(1000))
	s, err := c.NewStream(context.Background())
	if err != nil {
		t.Fatal(err)
	}
	if _, err := s.Write(bytes.Repeat([]byte("b"), 20000)); err != nil {
		t.Fatal(err)
	}
	if _, err := s.Close(); !errors.Is(err, ErrSizeLimit) {
		t.Errorf("Close error %v, want ErrSizeLimit", err)
	}
}

func TestSizeLimitScan(t *testing.T) {
	c := startFake(t, "tcp", sizeLimited(1<<20))
	_, err := c.Scan(context.Background(), io.LimitReader(zeros{}, 32<<20))
	if !errors.Is(err, ErrSizeLimit) {
		t.Errorf("Scan error %v, want ErrSizeLimit", err)
	}
}

type zeros struct{}

func (zeros) Read(p []byte) (int, error) {
	clear(p)
	return len(p), nil
}

func TestScanReaderError(t *testing.T) {
	c := startFake(t, "tcp", silent)
	boom := errors.New("boom")
	_, err := c.Scan(context.Background(), io.MultiReader(strings.NewReader("abc"), errReader{boom}))
	if !errors.Is(err, boom) {
		t.Errorf("Scan error %v, want the reader's", err)
	}
}

type errReader struct{ err error }

func (r errReader) Read([]byte) (int, error) { return 0, r.err }

func TestBrokenReplies(t *testing.T) {
	tests := []struct {
		name  string
		reply string
		want  error
	}{
		{"partial reply then close", "stream: O", ErrProtocol},
		{"no reply", "", io.ErrUnexpectedEOF},
		{"garbage", "hello\x00", ErrProtocol},
		{"error reply", "stream: Can't allocate memory ERROR\x00", nil},
		{"endless reply", strings.Repeat("x", 10000), ErrProtocol},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			c := startFake(t, "tcp", scanner(tt.reply, nil, nil))
			res, err := c.Scan(context.Background(), strings.NewReader("message"))
			if err == nil {
				t.Fatalf("Scan = %+v, want an error", res)
			}
			if res.Infected {
				t.Errorf("result %+v", res)
			}
			if tt.want != nil && !errors.Is(err, tt.want) {
				t.Errorf("error %v, want %v", err, tt.want)
			}
		})
	}
}

// silent reads everything and never answers.
func silent(t *testing.T, conn net.Conn) {
	io.Copy(io.Discard, conn)
}

func TestSlowClamd(t *testing.T) {
	t.Run("timeout", func(t *testing.T) {
		c := startFake(t, "tcp", silent)
		c.Timeout = 200 * time.Millisecond
		start := time.Now()
		_, err := c.Scan(context.Background(), strings.NewReader("message"))
		if !errors.Is(err, os.ErrDeadlineExceeded) {
			t.Errorf("error %v, want a timeout", err)
		}
		if d := time.Since(start); d > inTime {
			t.Errorf("returned after %v", d)
		}
	})
	t.Run("context deadline", func(t *testing.T) {
		c := startFake(t, "unix", silent)
		c.Timeout = 0
		ctx, cancel := context.WithTimeout(context.Background(), 200*time.Millisecond)
		defer cancel()
		start := time.Now()
		_, err := c.Scan(ctx, strings.NewReader("message"))
		if !errors.Is(err, context.DeadlineExceeded) {
			t.Errorf("error %v, want context.DeadlineExceeded", err)
		}
		if d := time.Since(start); d > inTime {
			t.Errorf("returned after %v", d)
		}
	})
	t.Run("context cancelled", func(t *testing.T) {
		c := startFake(t, "tcp", silent)
		ctx, cancel := context.WithCancel(context.Background())
		s, err := c.NewStream(ctx)
		if err != nil {
			t.Fatal(err)
		}
		time.AfterFunc(100*time.Millisecond, cancel)
		start := time.Now()
		_, err = s.Close()
		if !errors.Is(err, context.Canceled) {
			t.Errorf("error %v, want context.Canceled", err)
		}
		if d := time.Since(start); d > inTime {
			t.Errorf("returned after %v", d)
		}
		if _, err := s.Write([]byte("x")); err == nil {
			t.Error("Write after Close succeeded")
		}
	})
	t.Run("write stalls", func(t *testing.T) {
		c := startFake(t, "tcp", func(t *testing.T, conn net.Conn) {
			readCommand(conn)
			time.Sleep(3 * time.Second)
		})
		c.Timeout = 200 * time.Millisecond
		start := time.Now()
		_, err := c.Scan(context.Background(), io.LimitReader(zeros{}, 256<<20))
		if !errors.Is(err, os.ErrDeadlineExceeded) {
			t.Errorf("error %v, want a timeout", err)
		}
		if d := time.Since(start); d > inTime {
			t.Errorf("returned after %v", d)
		}
	})
}

func TestDialError(t *testing.T) {
	c := &Client{Network: "unix", Address: filepath.Join(t.TempDir(), "missing.sock"), Timeout: time.Second}
	if _, err := c.NewStream(context.Background()); err == nil {
		t.Error("NewStream to a missing socket succeeded")
	}
	if err := c.Ping(context.Background()); err == nil {
		t.Error("Ping to a missing socket succeeded")
	}
	ctx, cancel := context.WithCancel(context.Background())
	cancel()
	if _, err := c.Scan(ctx, strings.NewReader("x")); !errors.Is(err, context.Canceled) {
		t.Errorf("Scan with a cancelled context: %v", err)
	}
}

func TestAbort(t *testing.T) {
	closed := make(chan error, 1)
	c := startFake(t, "tcp", func(t *testing.T, conn net.Conn) {
		readCommand(conn)
		_, _, err := readStream(conn)
		closed <- err
	})
	s, err := c.NewStream(context.Background())
	if err != nil {
		t.Fatal(err)
	}
	s.Write([]byte("partial"))
	s.Abort()
	s.Abort()
	select {
	case err := <-closed:
		if err == nil {
			t.Error("clamd saw a complete stream after Abort")
		}
	case <-time.After(5 * time.Second):
		t.Fatal("connection still open after Abort")
	}
	if _, err := s.Write([]byte("more")); err == nil {
		t.Error("Write after Abort succeeded")
	}
}

func TestPing(t *testing.T) {
	tests := []struct {
		reply string
		ok    bool
	}{
		{"PONG\x00", true},
		{"PANG\x00", false},
		{"PONG", false},
		{"", false},
		{"stream: OK\x00", false},
	}
	for _, tt := range tests {
		c := startFake(t, "tcp", func(t *testing.T, conn net.Conn) {
			if cmd, err := readCommand(conn); err != nil || cmd != "zPING" {
				t.Errorf("command %q, %v", cmd, err)
				return
			}
			conn.Write([]byte(tt.reply))
		})
		err := c.Ping(context.Background())
		if (err == nil) != tt.ok {
			t.Errorf("Ping with reply %q: %v", tt.reply, err)
		}
	}
	c := startFake(t, "unix", silent)
	c.Timeout = 200 * time.Millisecond
	start := time.Now()
	if err := c.Ping(context.Background()); !errors.Is(err, os.ErrDeadlineExceeded) {
		t.Errorf("Ping to a silent clamd: %v", err)
	}
	if d := time.Since(start); d > inTime {
		t.Errorf("Ping returned after %v", d)
	}
}

func FuzzParseReply(f *testing.F) {
	for _, s := range []string{
		"stream: OK", "stream: Eicar-Signature FOUND", "INSTREAM size limit exceeded. ERROR",
		"stream: a b: c FOUND", "PONG", "", " FOUND", " ERROR", "stream:  FOUND",
	} {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, raw string) {
		res, err := parseReply(raw)
		if res.Raw != raw {
			t.Errorf("Raw = %q, want %q", res.Raw, raw)
		}
		if err != nil && res.Infected {
			t.Errorf("%q: infected with an error", raw)
		}
		if res.Infected && (res.Virus == "" || !strings.Contains(raw, res.Virus)) {
			t.Errorf("%q: virus %q", raw, res.Virus)
		}
		if err == nil && !res.Infected && strings.TrimRight(raw, " \r\n\x00") != "stream: OK" {
			t.Errorf("%q: clean without an OK", raw)
		}
	})
}

// inTime bounds how long a call may take against a clamd that stalls past a
// 200 ms timeout: generous for a loaded machine running the end-to-end
// tests at the same time, far from the 30 s a missed deadline would cost.
const inTime = 10 * time.Second
