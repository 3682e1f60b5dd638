package milter

import (
	"bytes"
	"errors"
	"log/slog"
	"net"
	"strings"
	"testing"
	"time"

	gomilter "github.com/emersion/go-milter"

	"github.com/sekisho/sekisho/policy"
)

// TestFailureHeldForEnd: a failure at a header field or a body chunk,
// whose reply the MTA may not read, is answered at the end of the headers
// or of the message, with the configured on_error answer; a new message
// starts without it.
func TestFailureHeldForEnd(t *testing.T) {
	cfg, err := policy.Parse("t.toml", []byte("on_error = \"tempfail\"\n[rules.blank]\n"))
	if err != nil {
		t.Fatal(err)
	}
	log := slog.New(slog.NewTextHandler(&bytes.Buffer{}, nil))
	e, err := policy.NewEngine(cfg, &policy.Env{Logger: log})
	if err != nil {
		t.Fatal(err)
	}
	for _, at := range []string{"header", "body chunk"} {
		t.Run(at, func(t *testing.T) {
			b := &backend{st: newConnState(NewServer(e, log))}
			stage := policy.StageEOH
			if at == "body chunk" {
				stage = policy.StageEOB
			}
			resp, err := b.hold(b.guard(stage, func() (gomilter.Response, error) { panic("boom") }))
			if err != nil || resp != gomilter.RespContinue {
				t.Fatalf("answered %v, %v at the %s, want continue", resp, err, at)
			}
			var end gomilter.Response
			if at == "header" {
				end, err = b.Headers(nil, &gomilter.Modifier{})
			} else {
				end, err = b.Body(&gomilter.Modifier{})
			}
			if err != nil {
				t.Fatal(err)
			}
			if got := strings.TrimRight(string(end.Response().Data), "\x00"); !strings.HasPrefix(got, "451 ") {
				t.Errorf("end answered %q, want the on_error tempfail", got)
			}
			b.hold(b.guard(stage, func() (gomilter.Response, error) { return nil, errors.New("disk full") }))
			b.st.resetMessage()
			if b.st.held != nil {
				t.Error("the failure outlived its message")
			}
		})
	}
}

// TestNoReplyWritesOnlyContinue: once the MTA expects no reply to a header
// field or a body chunk, the continue go-milter gives there is not written,
// and any other reply ends the connection rather than being taken by the
// MTA for the reply to a later packet (the MTA then applies its
// milter_default_action).
func TestNoReplyWritesOnlyContinue(t *testing.T) {
	for _, tt := range []struct {
		cmd   byte
		reply string
		ok    bool
	}{
		{cmdHeader, continueReply, true},
		{cmdBody, continueReply, true},
		{cmdHeader, "\x00\x00\x00\x01t", false},
		{cmdBody, "\x00\x00\x00\x01a", false},
	} {
		server, mtaSide := net.Pipe()
		c := newTrackedConn(server, 0, 0, slog.New(slog.NewTextHandler(&bytes.Buffer{}, nil)))
		c.cmd, c.noReply = tt.cmd, nrHeader|nrBody
		written := make(chan []byte)
		go func() {
			mtaSide.SetReadDeadline(time.Now().Add(200 * time.Millisecond))
			b := make([]byte, 64)
			n, _ := mtaSide.Read(b)
			written <- b[:n]
		}()
		n, err := c.Write([]byte(tt.reply))
		if tt.ok && (err != nil || n != len(tt.reply)) || !tt.ok && err == nil {
			t.Errorf("%c %q: Write = %d, %v", tt.cmd, tt.reply, n, err)
		}
		if w := <-written; len(w) > 0 {
			t.Errorf("%c %q: %q written to the MTA", tt.cmd, tt.reply, w)
		}
		server.Close()
		mtaSide.Close()
	}
}
