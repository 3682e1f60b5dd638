package e2e_test

import (
	"bytes"
	"fmt"
	"net"
	"net/smtp"
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
		addr := smtpAddr(t, m)
		nc, err := net.Dial("tcp", addr)
		if err != nil {
			t.Fatal(err)
		}
		defer nc.Close()
		// A milter dialogue out of step stalls the MTA until its milter
		// timeouts (Postfix's content timeout is 300 s): fail sooner.
		nc.SetDeadline(time.Now().Add(60 * time.Second))
		c, err := smtp.NewClient(nc, addr)
		if err != nil {
			t.Fatal(err)
		}
		if err := c.Hello("client.example.org"); err != nil {
			t.Fatal(err)
		}
		// Many header fields, each a packet the MTA sends without waiting.
		extra := &bytes.Buffer{}
		for i := 0; i < 60; i++ {
			fmt.Fprintf(extra, "X-Extra-%02d: %s\r\n", i, strings.Repeat("v", 40))
		}
		withExtra := func(msg []byte) []byte {
			return bytes.Replace(msg, []byte("MIME-Version: 1.0\r\n"), append(extra.Bytes(), "MIME-Version: 1.0\r\n"...), 1)
		}
		ok1, bad, ok2 := token(t), token(t), token(t)
		for _, st := range []struct {
			tok  string
			msg  []byte
			code int // the refusal at end of message; 0 for none
		}{
			// About 400 KB of base64: seven body chunks of 64 KiB.
			{ok1, japaneseMessage(ok1, pdfAttachment("資料.pdf", 300<<10)), 0},
			{bad, japaneseMessage(bad, pdfAttachment("資料.pdf", 300<<10), unquotedExeAttachment("請求書.exe")), 550},
			{ok2, japaneseMessage(ok2), 0},
		} {
			err := smtpSend(c, "sender-"+st.tok+"@example.org", []string{"user@example.co.jp"}, withExtra(st.msg))
			if got := smtpCode(err); got != st.code || st.code == 0 && err != nil {
				t.Fatalf("%s: %v (code %d), want code %d", st.tok, err, got, st.code)
			}
		}
		if err := c.Quit(); err != nil {
			t.Fatal(err)
		}
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
