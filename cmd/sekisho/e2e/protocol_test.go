package e2e_test

import (
	"bytes"
	"fmt"
	"net"
	"net/textproto"
	"strings"
	"testing"
	"time"
)

// TestE2EMilterReplies: each MTA is told to expect no reply to a header
// field or a body chunk, and the dialogue stays in step over a session
// of several messages with many header fields and bodies of several
// chunks, accepted and refused at end of message.
func TestE2EMilterReplies(t *testing.T) {
	t.Parallel()
	eachMTA(t, sekishoConfig("enforce", rulesContent), func(t *testing.T, s *sekishoProc, m mta) {
		c := smtpSession(t, smtpAddr(t, m))
		c.cmd(t, 250, "EHLO client.example.org")
		// Many header fields, each a packet the MTA sends without waiting.
		extra := &bytes.Buffer{}
		for i := 0; i < 60; i++ {
			fmt.Fprintf(extra, "X-Extra-%02d: %s\r\n", i, strings.Repeat("v", 40))
		}
		withExtra := func(msg []byte) []byte {
			return bytes.Replace(msg, []byte("MIME-Version: 1.0\r\n"), append(extra.Bytes(), "MIME-Version: 1.0\r\n"...), 1)
		}
		ok1, bad, ok2 := token(t), token(t), token(t)
		// About 400 KB of base64: seven body chunks of 64 KiB.
		c.mail(t, ok1, withExtra(japaneseMessage(ok1, pdfAttachment("資料.pdf", 300<<10))), 250)
		c.mail(t, bad, withExtra(japaneseMessage(bad, pdfAttachment("資料.pdf", 300<<10), unquotedExeAttachment("請求書.exe"))), 550)
		c.mail(t, ok2, withExtra(japaneseMessage(ok2)), 250)
		c.cmd(t, 221, "QUIT")
		m.waitDelivered(t, ok1, 1)
		m.waitDelivered(t, ok2, 1)
		m.notDelivered(t, bad)
		s.waitLog(t, "milter options negotiated", "no_reply=header,body")
		if l := s.logLines("milter protocol error"); len(l) > 0 {
			t.Errorf("protocol errors:\n%s", strings.Join(l, "\n"))
		}
	})
}

// smtpAddr is the SMTP address of an MTA harness.
func smtpAddr(t testing.TB, m mta) string {
	switch m := m.(type) {
	case *postfix:
		return m.Addr
	case *sendmail:
		return m.Addr
	}
	t.Fatalf("no SMTP address for %T", m)
	return ""
}

// smtpClient is a hand-driven SMTP session: several messages on one
// connection, which swaks does not send.
type smtpClient struct{ c *textproto.Conn }

func smtpSession(t testing.TB, addr string) *smtpClient {
	t.Helper()
	nc, err := net.Dial("tcp", addr)
	if err != nil {
		t.Fatal(err)
	}
	// A milter dialogue out of step stalls the MTA until its milter
	// timeouts (Postfix's content timeout is 300 s): fail sooner.
	nc.SetDeadline(time.Now().Add(60 * time.Second))
	c := textproto.NewConn(nc)
	t.Cleanup(func() { c.Close() })
	s := &smtpClient{c}
	if _, _, err := c.ReadResponse(220); err != nil {
		t.Fatal(err)
	}
	return s
}

// send sends a command and returns the reply's code and text.
func (s *smtpClient) send(t testing.TB, format string, args ...any) (int, string) {
	t.Helper()
	id, err := s.c.Cmd(format, args...)
	if err != nil {
		t.Fatal(err)
	}
	s.c.StartResponse(id)
	defer s.c.EndResponse(id)
	code, msg, err := s.c.ReadResponse(0)
	if err != nil && code == 0 {
		t.Fatal(err)
	}
	return code, msg
}

// cmd sends a command and fails unless the reply has the code want.
func (s *smtpClient) cmd(t testing.TB, want int, format string, args ...any) {
	t.Helper()
	if code, msg := s.send(t, format, args...); code != want {
		t.Fatalf("%s: %d %s, want %d", fmt.Sprintf(format, args...), code, msg, want)
	}
}

// mail sends one message and fails unless the reply to its end has the
// code want.
func (s *smtpClient) mail(t testing.TB, tok string, msg []byte, want int) {
	t.Helper()
	s.cmd(t, 250, "MAIL FROM:<sender-%s@example.org>", tok)
	s.cmd(t, 250, "RCPT TO:<user@example.co.jp>")
	s.cmd(t, 354, "DATA")
	w := s.c.DotWriter()
	if _, err := w.Write(msg); err != nil {
		t.Fatal(err)
	}
	if err := w.Close(); err != nil {
		t.Fatal(err)
	}
	code, line, err := s.c.ReadResponse(0)
	if err != nil && code == 0 {
		t.Fatal(err)
	}
	if code != want {
		t.Fatalf("end of message %s: %d %s, want %d", tok, code, line, want)
	}
}
