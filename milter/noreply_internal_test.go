package milter

import (
	"bytes"
	"context"
	"encoding/binary"
	"io"
	"log/slog"
	"net"
	"slices"
	"strings"
	"testing"
	"time"

	client "github.com/d--j/go-milter"
	gomilter "github.com/emersion/go-milter"

	"github.com/sekisho/sekisho/policy"
)

// TestFailureHeldForEnd: a failure while reading a header field or a body
// chunk, whose reply the MTA may not read, is answered at the end of the
// headers or of the message with the configured on_error answer, and the
// rest of the message is not read; the dialogue stays in step, and the
// next message on the connection is judged as usual. Alike whether the MTA
// was told to expect no reply there or not.
func TestFailureHeldForEnd(t *testing.T) {
	e, log := testEngine(t, "on_error = \"tempfail\"\n[rules.blank]\n")
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	srv := NewServer(e, log)
	go srv.Serve(ln)
	defer srv.Shutdown(context.Background())

	fail := false
	feeds, failedAt := 0, 0
	defer func(h func(*policy.Transaction, string, string), b func(*policy.Transaction, []byte)) {
		feedHeader, feedBody = h, b
	}(feedHeader, feedBody)
	feedHeader = func(tx *policy.Transaction, name, value string) {
		feeds++
		if fail && name == "X-Fail" {
			failedAt = feeds
			panic("boom")
		}
		tx.Header(name, value)
	}
	feedBody = func(tx *policy.Transaction, p []byte) {
		feeds++
		if fail && bytes.Contains(p, []byte("FAIL")) {
			failedAt = feeds
			panic("boom")
		}
		tx.Body(p)
	}
	const all = client.OptProtocol(0x1fffff)
	for name, offered := range map[string]client.OptProtocol{"no replies": all, "replies": all &^ (client.OptNoHeaderReply | client.OptNoBodyReply)} {
		for _, at := range []string{"header", "body chunk"} {
			t.Run(name+"/"+at, func(t *testing.T) {
				c := client.NewClient("tcp", ln.Addr().String(), client.WithProtocols(offered),
					client.WithActions(client.OptAddHeader|client.OptChangeHeader|client.OptQuarantine|client.OptSetMacros))
				s, err := c.Session(client.NewMacroBag())
				if err != nil {
					t.Fatal(err)
				}
				defer s.Close()
				if _, err := s.Conn("client.example", client.FamilyInet, 25, "192.0.2.1"); err != nil {
					t.Fatal(err)
				}
				if _, err := s.Helo("client.example"); err != nil {
					t.Fatal(err)
				}
				// send returns the reply that ends the message: at end of
				// headers or of message, "" when accepted.
				send := func(failing bool) string {
					t.Helper()
					fail, feeds, failedAt = failing, 0, 0
					defer func() { fail = false }()
					step := func(act *client.Action, err error) bool {
						t.Helper()
						if err != nil {
							t.Fatal(err)
						}
						return act.StopProcessing()
					}
					if step(s.Mail("<a@example.com>", "")) || step(s.Rcpt("<user@example.co.jp>", "")) || step(s.DataStart()) {
						t.Fatal("envelope refused")
					}
					for i := range 5 {
						name := "Subject"
						if i > 0 {
							name = "X-Other"
						}
						if i == 1 && at == "header" {
							name = "X-Fail"
						}
						if act, err := s.HeaderField(name, "件名", nil); err != nil || act.StopProcessing() {
							t.Fatalf("header field answered %v, %v", act, err)
						}
					}
					if act, err := s.HeaderEnd(); err != nil {
						t.Fatal(err)
					} else if act.StopProcessing() {
						return act.SMTPReply
					}
					body := strings.Repeat("本文です。\r\n", 20000) // four chunks
					if at == "body chunk" {
						body = strings.Repeat("本文です。\r\n", 8000) + "FAIL\r\n" + body
					}
					_, act, err := s.BodyReadFrom(strings.NewReader(body))
					if err != nil {
						t.Fatal(err)
					}
					if act.StopProcessing() {
						return act.SMTPReply
					}
					return ""
				}
				if got := send(true); !strings.HasPrefix(got, "451 ") {
					t.Errorf("failing message answered %q, want the on_error tempfail", got)
				}
				if failedAt == 0 || feeds != failedAt {
					t.Errorf("%d header fields and chunks were read after the failure (at %d)", feeds-failedAt, failedAt)
				}
				if err := s.Abort(nil); err != nil {
					t.Fatal(err)
				}
				if got := send(false); got != "" {
					t.Errorf("the next message answered %q", got)
				}
				if feeds < 9 {
					t.Errorf("the next message fed %d header fields and chunks, want 5 and 4", feeds)
				}
			})
		}
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

// TestNoReplyLongNegotiation: an answer to the option negotiation longer
// than go-milter's 4 KiB write buffer reaches the connection in two
// writes; the flags go into the first, and the second leaves what the MTA
// was told as it is.
func TestNoReplyLongNegotiation(t *testing.T) {
	saved := symList
	defer func() { symList = saved }()
	symList = map[gomilter.Stage][]string{gomilter.StageConnect: {strings.Repeat("{x}", 2000)}}
	e, log := testEngine(t, "[rules.blank]\n")
	server, mtaSide := net.Pipe()
	defer mtaSide.Close()
	srv := NewServer(e, log)
	srv.track(server)
	defer srv.Shutdown(context.Background())
	mtaSide.SetDeadline(time.Now().Add(10 * time.Second))
	go mtaSide.Write(Packet('O', "\x00\x00\x00\x06\x00\x00\x01\xff\x00\x1f\xff\xff"))
	reply := ReadPacket(t, mtaSide)
	if len(reply) < 6000 || reply[0] != 'O' {
		t.Fatalf("negotiation answered %d bytes %q…", len(reply), reply[:min(len(reply), 20)])
	}
	if got := binary.BigEndian.Uint32(reply[9:]); got&(nrHeader|nrBody) != nrHeader|nrBody {
		t.Fatalf("protocol flags %#x lack SMFIP_NR_HDR and SMFIP_NR_BODY", got)
	}
	// A header field and end of headers: one reply, to end of headers.
	go mtaSide.Write(slices.Concat(Packet('L', "Subject\x00件名\x00"), Packet('N', ""), Packet('Q', "")))
	if r := ReadPacket(t, mtaSide); string(r) != "c" {
		t.Fatalf("reply %q", r)
	}
	if n, _ := mtaSide.Read(make([]byte, 16)); n > 0 {
		t.Error("a reply to the header field was written")
	}
}

// TestReadBody: with no reply to body chunks agreed, the connection hands
// each body packet's chunk to its body function and never to go-milter's
// reader, which gets the other packets whole and in order; without it, or
// without the function, body packets go to go-milter as they are. A server
// connection has the function.
func TestReadBody(t *testing.T) {
	stream := append(append(append(Packet('L', "Subject\x00x\x00"), Packet('B', strings.Repeat("a", 70000))...), Packet('B', "tail")...), Packet('E', "")...)
	for _, agreed := range []bool{true, false} {
		server, mtaSide := net.Pipe()
		c := newTrackedConn(server, 0, 0, slog.New(slog.NewTextHandler(&bytes.Buffer{}, nil)))
		var chunks []string
		c.body = func(p []byte) error { chunks = append(chunks, string(p)); return nil }
		if agreed {
			c.noReply = nrBody
		}
		go func() { mtaSide.Write(stream); mtaSide.Close() }()
		got, err := io.ReadAll(c)
		if err != nil {
			t.Fatal(err)
		}
		want := stream
		if agreed {
			want = append(Packet('L', "Subject\x00x\x00"), Packet('E', "")...)
			if len(chunks) != 2 || chunks[0] != strings.Repeat("a", 70000) || chunks[1] != "tail" {
				t.Errorf("chunks handed on: %d, want the two", len(chunks))
			}
		} else if len(chunks) != 0 {
			t.Errorf("%d chunks handed on with no reply agreed", len(chunks))
		}
		if !bytes.Equal(got, want) {
			t.Errorf("agreed %v: go-milter read %d bytes, want %d", agreed, len(got), len(want))
		}
		server.Close()
	}

	e, log := testEngine(t, "[rules.blank]\n")
	server, mtaSide := net.Pipe()
	srv := NewServer(e, log)
	srv.track(server)
	defer srv.Shutdown(context.Background())
	defer mtaSide.Close() // first: the connection ends, then the server
	srv.mu.Lock()
	for tc := range srv.conns {
		if tc.body == nil {
			t.Error("a server connection reads body chunks through go-milter")
		}
	}
	srv.mu.Unlock()
}

// testEngine is an engine on the configuration toml, logging nowhere.
func testEngine(t *testing.T, toml string) (*policy.Engine, *slog.Logger) {
	t.Helper()
	cfg, err := policy.Parse("t.toml", []byte(toml))
	if err != nil {
		t.Fatal(err)
	}
	log := slog.New(slog.DiscardHandler)
	e, err := policy.NewEngine(cfg, &policy.Env{Logger: log})
	if err != nil {
		t.Fatal(err)
	}
	return e, log
}

// Packet frames one milter command; with ReadPacket, for the tests of
// package milter_test too.
func Packet(cmd byte, data string) []byte {
	p := binary.BigEndian.AppendUint32(make([]byte, 0, 5+len(data)), uint32(1+len(data)))
	return append(append(p, cmd), data...)
}

// ReadPacket reads one milter packet and returns its command and data.
func ReadPacket(t *testing.T, c net.Conn) []byte {
	t.Helper()
	var n [4]byte
	if _, err := io.ReadFull(c, n[:]); err != nil {
		t.Fatal(err)
	}
	p := make([]byte, binary.BigEndian.Uint32(n[:]))
	if _, err := io.ReadFull(c, p); err != nil {
		t.Fatal(err)
	}
	return p
}
