package e2e_test

import (
	"errors"
	"net/smtp"
	"net/textproto"
	"syscall"
	"testing"
	"time"
)

// TestE2EDrainRefusesNewTransactions: an SMTP session that keeps sending
// mail through Postfix does not hold sekisho's shutdown. After SIGTERM,
// its next MAIL is answered 421 4.3.2 (Postfix ends the session), and
// sekisho exits once the connection is gone, long before its
// shutdown_timeout.
func TestE2EDrainRefusesNewTransactions(t *testing.T) {
	t.Parallel()
	const shutdownTimeout = 60 * time.Second
	s, pf := setup(t, "shutdown_timeout = \"60s\"\n"+sekishoConfig("enforce", ruleSendOnly))
	c, err := smtp.Dial(pf.Addr)
	if err != nil {
		t.Fatal(err)
	}
	defer c.Close()
	if err := c.Hello("client.example.org"); err != nil {
		t.Fatal(err)
	}
	send := func(tok string) error {
		if err := c.Mail("yamada@partner.example.org"); err != nil {
			return err
		}
		if err := c.Rcpt("tanaka@example.co.jp"); err != nil {
			return err
		}
		w, err := c.Data()
		if err != nil {
			return err
		}
		w.Write(japaneseMessage(tok))
		return w.Close()
	}
	tok := token(t)
	if err := send(tok); err != nil {
		t.Fatalf("first message: %v", err)
	}
	pf.waitDelivered(t, tok, 1)

	sent := time.Now()
	s.Signal(t, syscall.SIGTERM)
	s.waitLog(t, "shutting down")
	err = c.Mail("yamada@partner.example.org")
	var te *textproto.Error
	if !errors.As(err, &te) || te.Code != 421 {
		t.Fatalf("MAIL after SIGTERM: %v, want 421", err)
	}
	select {
	case <-s.p.exited:
		t.Logf("sekisho exited %v after SIGTERM", time.Since(sent).Round(time.Millisecond))
	case <-time.After(shutdownTimeout / 2):
		t.Fatalf("sekisho still running %v after SIGTERM: the open session holds the drain", shutdownTimeout/2)
	}
	if lines := s.logLines("connections still open at the shutdown timeout"); len(lines) > 0 {
		t.Errorf("connections were cut: %s", lines[0])
	}
}
