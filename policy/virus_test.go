package policy_test

import (
	"bytes"
	"context"
	"encoding/binary"
	"fmt"
	"io"
	"net"
	"strings"
	"sync"
	"testing"

	"github.com/prometheus/client_golang/prometheus/testutil"
	"github.com/prometheus/common/expfmt"

	"github.com/sekisho/sekisho/policy"
)

// eicar is the EICAR anti-virus test file, written in two halves so that
// this source file is not itself taken for it.
var eicar = `X5O!P%@AP[4\PZX54(P^)7CC)7}$` + `EICAR-STANDARD-ANTIVIRUS-TEST-FILE!$H+H*`

// fakeClamd is a fake clamd on loopback TCP that speaks zINSTREAM: it reads
// length-prefixed chunks until a zero-length one and replies with the
// EICAR signature when the data holds the test string, OK otherwise, or
// with reply when that is set.
type fakeClamd struct {
	addr  string
	reply string // fixed reply without its NUL, "" for a real verdict

	mu       sync.Mutex
	conns    int // connections accepted, but those that asked the version
	scans    int // streams received to their end
	data     int // stream bytes received
	command  string
	version  string // the VERSION reply; clamdVersion when unset
	versions int    // VERSION requests
	open     map[net.Conn]struct{}
}

// clamdVersion is the fake's answer to VERSION: engine 1.4.6,
// signatures 27480.
const clamdVersion = "ClamAV 1.4.6/27480/Mon Dec  7 08:00:00 2026"

// setReply makes the fake answer every scan with reply ("" for a real
// verdict).
func (c *fakeClamd) setReply(reply string) {
	c.mu.Lock()
	defer c.mu.Unlock()
	c.reply = reply
}

// setVersion changes the fake's signature version, as an update does.
func (c *fakeClamd) setVersion(v string) {
	c.mu.Lock()
	defer c.mu.Unlock()
	c.version = v
}

func startClamd(t *testing.T, reply string) *fakeClamd {
	t.Helper()
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	c := &fakeClamd{addr: ln.Addr().String(), reply: reply, open: map[net.Conn]struct{}{}}
	var wg sync.WaitGroup
	wg.Add(1)
	go func() {
		defer wg.Done()
		for {
			conn, err := ln.Accept()
			if err != nil {
				return
			}
			c.mu.Lock()
			c.open[conn] = struct{}{}
			c.mu.Unlock()
			wg.Add(1)
			go func() {
				defer wg.Done()
				defer func() {
					c.mu.Lock()
					delete(c.open, conn)
					c.mu.Unlock()
					conn.Close()
				}()
				c.serve(conn)
			}()
		}
	}()
	t.Cleanup(func() {
		// A session connection the client keeps for its next message is
		// closed here, as clamd would close it idle, rather than waited
		// out: the test does not depend on the client's idle timeout.
		ln.Close()
		c.mu.Lock()
		for conn := range c.open {
			conn.Close()
		}
		c.mu.Unlock()
		wg.Wait()
	})
	return c
}

func (c *fakeClamd) serve(conn net.Conn) {
	cmd, ok := readCommand(conn)
	c.mu.Lock()
	if ok && cmd == "zVERSION" {
		c.versions++
		v := c.version
		if v == "" {
			v = clamdVersion
		}
		c.mu.Unlock()
		conn.Write([]byte(v + "\x00"))
		return
	}
	c.conns++
	c.mu.Unlock()
	if !ok {
		return
	}
	c.mu.Lock()
	c.command = cmd
	c.mu.Unlock()
	if cmd != "zIDSESSION" {
		if reply, ok := c.stream(conn); ok {
			conn.Write([]byte(reply + "\x00"))
		}
		return
	}
	// A session: each stream answered with its number as it ends, as
	// clamd does; an error reply ends it.
	for n := 1; ; n++ {
		cmd, ok := readCommand(conn)
		if !ok || cmd == "zEND" {
			return
		}
		reply, ok := c.stream(conn)
		if !ok {
			return
		}
		conn.Write([]byte(fmt.Sprintf("%d: %s\x00", n, reply)))
		if strings.HasSuffix(reply, "ERROR") {
			return
		}
	}
}

// readCommand reads one NUL-terminated command.
func readCommand(conn net.Conn) (string, bool) {
	var cmd []byte
	b := make([]byte, 1)
	for {
		if _, err := io.ReadFull(conn, b); err != nil {
			return "", false
		}
		if b[0] == 0 {
			return string(cmd), true
		}
		cmd = append(cmd, b[0])
	}
}

// stream reads one INSTREAM and returns the reply to it.
func (c *fakeClamd) stream(conn net.Conn) (string, bool) {
	var data []byte
	for {
		var n uint32
		if err := binary.Read(conn, binary.BigEndian, &n); err != nil {
			return "", false
		}
		if n == 0 {
			break
		}
		chunk := make([]byte, n)
		if _, err := io.ReadFull(conn, chunk); err != nil {
			return "", false
		}
		data = append(data, chunk...)
		c.mu.Lock()
		c.data += int(n)
		c.mu.Unlock()
	}
	c.mu.Lock()
	c.scans++
	reply := c.reply
	c.mu.Unlock()
	switch {
	case reply != "":
		return reply, true
	case bytes.Contains(data, []byte(eicar)):
		return "stream: Eicar-Test-Signature FOUND", true
	}
	return "stream: OK", true
}

// counts returns the connections, complete streams and bytes received.
func (c *fakeClamd) counts() (conns, scans, data int) {
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.conns, c.scans, c.data
}

// closedAddr returns a loopback address nothing listens on.
func closedAddr(t *testing.T) string {
	t.Helper()
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	addr := ln.Addr().String()
	ln.Close()
	return addr
}

// virusEngine builds a virus rule that streams the raw message to clamd
// at addr; rest is the body of the [rules.virus] table after the address.
func virusEngine(t *testing.T, addr, rest string) *policy.Engine {
	t.Helper()
	return newEngine(t, fmt.Sprintf("[rules.virus]\naddress = \"inet:%s\"\ntimeout = \"5s\"\nscan = \"message\"\n%s\n", addr, rest), nil)
}

// virusMail returns a raw message whose 7bit body is content, so that
// the fake clamd, which does not decode MIME, finds the test string.
func virusMail(t *testing.T, content string) []byte {
	return []byte("From: sender@example.net\r\nTo: tanaka@example.co.jp\r\nSubject: " + jisWord(t, "請求書") +
		"\r\nMIME-Version: 1.0\r\nContent-Type: text/plain; charset=us-ascii\r\n\r\n" + content + "\r\n")
}

const virusReply = "554 5.7.1 Virus found: Eicar-Test-Signature"

func TestVirus(t *testing.T) {
	infected := virusMail(t, eicar)
	clean := virusMail(t, "just a harmless file")
	for _, path := range []string{"stream", "fallback"} {
		t.Run(path, func(t *testing.T) {
			clamd := startClamd(t, "")
			e := virusEngine(t, clamd.addr, "")
			for _, raw := range [][]byte{infected, clean} {
				m := rawMessage(t, raw)
				if path == "stream" {
					m.Raw = nil
					feed(e, m, raw, 17)
				}
				v := e.Run(context.Background(), policy.StageEOB, m)
				if bytes.Equal(raw, infected) {
					expect(t, v, "virus", policy.Reject, virusReply, "clamd found Eicar-Test-Signature")
				} else {
					expectContinue(t, v)
				}
				m.Close()
			}
			conns, scans, data := clamd.counts()
			if conns != 2 || scans != 2 || data != len(infected)+len(clean) {
				t.Errorf("clamd saw %d connections, %d scans, %d bytes; want 2, 2, %d", conns, scans, data, len(infected)+len(clean))
			}
			if clamd.command != "zINSTREAM" {
				t.Errorf("command = %q, want zINSTREAM", clamd.command)
			}
		})
	}
}

func TestVirusNeedsHeadersAndBody(t *testing.T) {
	e := virusEngine(t, "127.0.0.1:3310", "")
	for _, s := range []policy.Stage{policy.StageEOH, policy.StageEOB} {
		if !e.Needs(s) {
			t.Errorf("Needs(%s) = false: the message must be streamed to clamd", s)
		}
	}
}

func TestVirusActionFromConfig(t *testing.T) {
	clamd := startClamd(t, "")
	e := virusEngine(t, clamd.addr, `action = "discard"`)
	m := rawMessage(t, virusMail(t, eicar))
	feed(e, m, virusMail(t, eicar), 1000)
	v := e.Run(context.Background(), policy.StageEOB, m)
	if v.Rule != "virus" || v.Action != policy.Discard {
		t.Errorf("verdict = %s %s, want virus discard", v.Rule, v.Action)
	}
}

func TestVirusClamdDown(t *testing.T) {
	addr := closedAddr(t)
	raw := virusMail(t, eicar)
	tests := []struct {
		name   string
		cfg    string
		action policy.Action
		reply  string
	}{
		{"tempfail by default", "", policy.Tempfail, servFailReply},
		{"error reply", `error_reply = "451 4.3.0 Virus scanner unavailable"`, policy.Tempfail, "451 4.3.0 Virus scanner unavailable"},
		{"accept", `on_error = "accept"`, policy.Continue, ""},
		{"tag", `on_error = "tag"`, policy.Continue, ""},
	}
	for _, tt := range tests {
		for _, path := range []string{"stream", "fallback", "fallback without size"} {
			t.Run(tt.name+"/"+path, func(t *testing.T) {
				e := virusEngine(t, addr, tt.cfg)
				m := rawMessage(t, raw)
				if path == "stream" {
					feed(e, m, raw, 100)
				}
				v := e.Run(context.Background(), policy.StageEOB, m)
				if tt.action == policy.Continue {
					expectContinue(t, v)
				} else {
					expect(t, v, "virus", tt.action, tt.reply, "error: clamd", "connection refused")
				}
				a := m.Annotations()
				if tt.cfg != `on_error = "tag"` {
					if len(a) != 0 {
						t.Errorf("annotations = %v, want none", a)
					}
					return
				}
				if len(a) != 1 || a[0].Action != policy.Tag || a[0].Rule != "virus" {
					t.Fatalf("annotations = %v, want one tag by virus", a)
				}
				if h := a[0].Header(); !strings.HasPrefix(h, `tag rule=virus reason="error: clamd`) {
					t.Errorf("header = %q", h)
				}
			})
		}
	}
}

func TestVirusClamdSizeLimit(t *testing.T) {
	clamd := startClamd(t, "INSTREAM size limit exceeded. ERROR")
	raw := virusMail(t, "a file clamd finds too long")
	for _, path := range []string{"stream", "fallback"} {
		t.Run(path, func(t *testing.T) {
			e := virusEngine(t, clamd.addr, "")
			m := rawMessage(t, raw)
			if path == "stream" {
				feed(e, m, raw, 100)
			}
			expect(t, e.Run(context.Background(), policy.StageEOB, m), "virus", policy.Tempfail, servFailReply,
				"INSTREAM size limit exceeded")
		})
	}
}

func TestVirusOversize(t *testing.T) {
	raw := virusMail(t, eicar+strings.Repeat("x", 2000))
	tests := []struct {
		name   string
		cfg    string
		action policy.Action
		reply  string
	}{
		{"skip by default", "", policy.Tag, ""},
		{"skip", `oversize = "skip"`, policy.Tag, ""},
		{"tempfail", `oversize = "tempfail"`, policy.Tempfail, "452 4.3.4 Message too large to scan, try again later"},
	}
	for _, tt := range tests {
		for _, path := range []string{"stream", "fallback", "fallback without size"} {
			t.Run(tt.name+"/"+path, func(t *testing.T) {
				clamd := startClamd(t, "")
				e := virusEngine(t, clamd.addr, "max_scan_size = \"1KB\"\n"+tt.cfg)
				m := rawMessage(t, raw)
				if path == "stream" {
					feed(e, m, raw, 300)
				}
				want := fmt.Sprintf("not scanned: message of %d bytes is over max_scan_size 1KB", len(raw))
				if path == "fallback without size" {
					// A caller that does not know the size: the scan stops at the limit.
					m.Size = 0
					want = "not scanned: message is over max_scan_size 1KB"
				}
				v := e.Run(context.Background(), policy.StageEOB, m)
				if tt.action == policy.Tag {
					expectContinue(t, v)
					a := m.Annotations()
					if len(a) != 1 || a[0].Action != policy.Tag || a[0].Rule != "virus" || a[0].Reason != want {
						t.Errorf("annotations = %+v, want one tag by virus with reason %q", a, want)
					}
				} else {
					expect(t, v, "virus", tt.action, tt.reply, want)
				}
				m.Close()
				_, scans, data := clamd.counts()
				if path == "fallback without size" {
					if data > 1000 {
						t.Errorf("clamd received %d bytes, more than max_scan_size", data)
					}
				} else if scans != 0 || data != 0 {
					t.Errorf("clamd received %d scans, %d bytes; want none", scans, data)
				}
			})
		}
	}
}

func TestVirusConfigErrors(t *testing.T) {
	tests := []struct{ cfg, want string }{
		{"[rules.virus]\naddress = \"inet:127.0.0.1:3310\"\naction = \"tempfail\"\n",
			"t.toml:3:1: rules.virus.action: a virus is not a temporary condition"},
		{"[rules.virus]\naddress = \"inet:127.0.0.1:3310\"\noversize = \"reject\"\n",
			"t.toml:3:1: rules.virus.oversize: must be skip or tempfail"},
		{"[rules.virus]\naddress = \"127.0.0.1:3310\"\n", "rules.virus.address"},
		{"[rules.virus]\n", "rules.virus.address"},
	}
	for _, tt := range tests {
		_, err := policy.Parse("t.toml", []byte(tt.cfg))
		if err == nil || !strings.Contains(err.Error(), tt.want) {
			t.Errorf("config\n%s: error %v, want %q", tt.cfg, err, tt.want)
		}
	}
}

// TestMetricsVirus: a verdict is timed, a scan without one is counted by
// kind, once per message, in both scan modes.
func TestMetricsVirus(t *testing.T) {
	raw := virusMail(t, "a harmless file")
	scan := func(t *testing.T, env *policy.Env, addr, mode string) {
		t.Helper()
		e := newEngine(t, fmt.Sprintf("[rules.virus]\naddress = \"inet:%s\"\ntimeout = \"5s\"\nscan = %q\nscan_text = true\n", addr, mode), env)
		msg := rawMessage(t, raw)
		feed(e, msg, raw, 100)
		e.Run(context.Background(), policy.StageEOB, msg)
		msg.Close()
	}
	env, m := metricsEnv()
	clean := startClamd(t, "")
	scan(t, env, clean.addr, "message")
	scan(t, env, clean.addr, "parts")
	scan(t, env, closedAddr(t), "message")
	scan(t, env, closedAddr(t), "parts")
	scan(t, env, startClamd(t, "INSTREAM size limit exceeded. ERROR").addr, "message")
	expectMetrics(t, m, `
sekisho_clamd_errors_total{kind="connect"} 2
sekisho_clamd_errors_total{kind="other"} 0
sekisho_clamd_errors_total{kind="protocol"} 0
sekisho_clamd_errors_total{kind="size_limit"} 1
sekisho_clamd_errors_total{kind="timeout"} 0
`, "sekisho_clamd_errors_total")
	if n := testutil.CollectAndCount(m.Registry(), "sekisho_clamd_scan_duration_seconds"); n != 1 {
		t.Fatalf("%d histograms, want 1", n)
	}
	got, err := testutil.CollectAndFormat(m.Registry(), expfmt.TypeTextPlain, "sekisho_clamd_scan_duration_seconds")
	if err != nil {
		t.Fatal(err)
	}
	if !strings.Contains(string(got), "sekisho_clamd_scan_duration_seconds_count 2\n") {
		t.Errorf("want 2 verdicts timed (one per mode):\n%s", got)
	}
}
