package e2e_test

// Sekisho behind Sendmail 8.17. Installing Debian's sendmail-bin would
// remove Postfix, so testdata/install-deps.sh unpacks the packages into
// sendmailRoot instead; each test builds its own .cf with m4 and runs its
// own daemon.

import (
	"bytes"
	"errors"
	"fmt"
	"net/smtp"
	"net/textproto"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"sort"
	"strings"
	"testing"
	"time"
)

// Where testdata/install-deps.sh unpacks sendmail-bin, sendmail-base and
// sendmail-cf.
const (
	sendmailRoot  = "/var/cache/sekisho-test/sendmail/root"
	sendmailCmd   = sendmailRoot + "/usr/libexec/sendmail/sendmail"
	sendmailCFDir = sendmailRoot + "/usr/share/sendmail/cf"
	m4Cmd         = "/usr/bin/m4"
	unshareCmd    = "/usr/bin/unshare"
)

// sendmailHostname is the instance's own name. Sendmail runs in a UTS
// namespace with it as hostname: with an unqualified hostname it spends a
// minute trying to resolve its own name.
const sendmailHostname = "mx.example.co.jp"

// sendmail is an isolated Sendmail daemon: its .cf, queue and traffic log
// under Dir, SMTP on Addr, and every message it delivers written by a local
// mailer to one file per recipient under Dir/out.
type sendmail struct {
	Dir  string
	Addr string
	out  string
	p    *proc
}

// contribMilterFilter is the filter definition in the shipped
// contrib/sendmail/sekisho.mc; the test replaces its socket with the test's
// port and its timeouts with ones short enough for a test.
var (
	contribMilterFilter   = regexp.MustCompile("(?m)^INPUT_MAIL_FILTER\\(`sekisho'.*$")
	contribMilterSocket   = regexp.MustCompile(`S=inet:[0-9]+@127\.0\.0\.1`)
	contribMilterTimeouts = regexp.MustCompile(`T=[^',]*`)
)

// sendmailTimeouts are the milter timeouts of the test instances.
const sendmailTimeouts = "T=C:5s;S:10s;R:10s;E:30s"

// startSendmail starts a Sendmail daemon whose only milter is sekisho at
// milter ("inet:127.0.0.1:PORT"), wired as contrib/sendmail/sekisho.mc
// wires it (F=T: tempfail when sekisho cannot be reached), and stops it at
// cleanup.
func startSendmail(t testing.TB, milter string) *sendmail {
	t.Helper()
	for _, p := range []string{sendmailCmd, sendmailCFDir + "/m4/cf.m4", m4Cmd, unshareCmd, swaksCmd} {
		requireProgram(t, p)
	}
	dir := t.TempDir()
	s := &sendmail{
		Dir:  dir,
		Addr: fmt.Sprintf("127.0.0.1:%d", freePort(t)),
		out:  filepath.Join(dir, "out"),
	}
	// Sendmail refuses a queue directory others can write to.
	if err := os.Mkdir(filepath.Join(dir, "queue"), 0o700); err != nil {
		t.Fatal(err)
	}
	if err := os.Mkdir(s.out, 0o755); err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(filepath.Join(dir, "helpfile"), nil, 0o644); err != nil {
		t.Fatal(err)
	}

	host, port, ok := strings.Cut(strings.TrimPrefix(milter, "inet:"), ":")
	if !ok || host != "127.0.0.1" {
		t.Fatalf("startSendmail: milter %q is not inet:127.0.0.1:PORT", milter)
	}
	contrib, err := os.ReadFile("../../../contrib/sendmail/sekisho.mc")
	if err != nil {
		t.Fatal(err)
	}
	filter := contribMilterFilter.Find(contrib)
	if filter == nil || !contribMilterSocket.Match(filter) || !contribMilterTimeouts.Match(filter) {
		t.Fatalf("contrib/sendmail/sekisho.mc: no INPUT_MAIL_FILTER(`sekisho', `S=inet:PORT@127.0.0.1, ..., T=...'):\n%s", contrib)
	}
	filter = contribMilterSocket.ReplaceAll(filter, []byte("S=inet:"+port+"@127.0.0.1"))
	filter = contribMilterTimeouts.ReplaceAll(filter, []byte(sendmailTimeouts))
	wiring := contribMilterFilter.ReplaceAllLiteral(contrib, filter)
	if err := os.WriteFile(filepath.Join(dir, "sekisho.mc"), wiring, 0o644); err != nil {
		t.Fatal(err)
	}

	testdata, err := filepath.Abs("testdata/sendmail")
	if err != nil {
		t.Fatal(err)
	}
	_, smtpPort, _ := strings.Cut(s.Addr, ":")
	cf := filepath.Join(dir, "sendmail.cf")
	m4 := exec.Command(m4Cmd,
		"-D_CF_DIR_="+sendmailCFDir+"/",
		"-DTEST_DIR="+dir,
		"-DTESTDATA="+testdata,
		"-DSMTP_PORT="+smtpPort,
		sendmailCFDir+"/m4/cf.m4", filepath.Join(testdata, "test.mc"))
	var stderr bytes.Buffer
	m4.Stderr = &stderr
	text, err := m4.Output()
	if err != nil || stderr.Len() > 0 {
		t.Fatalf("m4 test.mc: %v\n%s", err, stderr.String())
	}
	if !bytes.Contains(text, []byte("\nXsekisho, S=inet:"+port+"@127.0.0.1, F=T, "+sendmailTimeouts+"\n")) {
		t.Fatalf("sendmail.cf has no Xsekisho line for port %s; sekisho.mc:\n%s", port, wiring)
	}
	if err := os.WriteFile(cf, text, 0o644); err != nil {
		t.Fatal(err)
	}

	// sh sets the hostname inside the new UTS namespace and execs
	// Sendmail, which keeps the PID startProc knows. Sendmail logs only to
	// syslog; -X writes every SMTP session to a file instead.
	start := time.Now()
	p, err := startProc("sendmail", filepath.Join(dir, "sendmail.out"),
		unshareCmd, "--uts", "/bin/sh", "-c", `hostname "$0" && exec "$@"`, sendmailHostname,
		sendmailCmd, "-C", cf, "-bD", "-X", filepath.Join(dir, "traffic.log"))
	if err != nil {
		t.Fatal(err)
	}
	s.p = p
	t.Cleanup(func() {
		p.stop()
		if t.Failed() {
			t.Logf("sendmail output:\n%s\ntraffic:\n%s", p.output(), s.Traffic())
		}
	})
	// Its own listening socket: a connection to the port could reach
	// another process that took it first.
	if err := p.waitListening(smtpPort, 20*time.Second); err != nil {
		t.Fatalf("sendmail: %v\noutput:\n%s", err, p.output())
	}
	t.Logf("sendmail on %s ready in %v", s.Addr, time.Since(start).Round(time.Millisecond))
	return s
}

// Traffic returns the SMTP sessions Sendmail logged so far.
func (s *sendmail) Traffic() string {
	b, _ := os.ReadFile(filepath.Join(s.Dir, "traffic.log"))
	return string(b)
}

// swaks sends mail through this Sendmail.
func (s *sendmail) swaks(t testing.TB, args ...string) (int, string) {
	t.Helper()
	return swaksAt(t, s.Addr, args...)
}

// mustSwaks runs swaks and fails the test unless it exits with want.
func (s *sendmail) mustSwaks(t testing.TB, want int, args ...string) string {
	t.Helper()
	return mustSwaksAt(t, s.Addr, want, args...)
}

// messages returns the delivered messages holding every one of subs; Rcpt
// is the recipient's local part.
func (s *sendmail) messages(t testing.TB, subs ...string) []delivered {
	t.Helper()
	names, err := filepath.Glob(filepath.Join(s.out, "*.eml"))
	if err != nil {
		t.Fatal(err)
	}
	sort.Strings(names)
	var msgs []delivered
	for _, n := range names {
		b, err := os.ReadFile(n)
		if err != nil {
			t.Fatal(err)
		}
		if !containsAll(b, subs...) {
			continue
		}
		first, _, _ := bytes.Cut(b, []byte("\n"))
		rcpt, _ := strings.CutPrefix(string(first), "Delivered-To: ")
		msgs = append(msgs, delivered{Rcpt: rcpt, Data: b})
	}
	return msgs
}

// queued returns the queue files of messages not yet delivered.
func (s *sendmail) queued(t testing.TB) []string {
	t.Helper()
	names, err := filepath.Glob(filepath.Join(s.Dir, "queue", "qf*"))
	if err != nil {
		t.Fatal(err)
	}
	return names
}

// waitQueueEmpty polls for up to 15 seconds until the queue holds no
// message: whatever Sendmail accepted has been delivered.
func (s *sendmail) waitQueueEmpty(t testing.TB) {
	t.Helper()
	deadline := time.Now().Add(15 * time.Second)
	for {
		q := s.queued(t)
		if len(q) == 0 {
			return
		}
		if time.Now().After(deadline) {
			t.Fatalf("queue not empty after 15s: %v", q)
		}
		time.Sleep(50 * time.Millisecond)
	}
}

// waitDelivered waits until the queue is empty and returns the n
// messages holding tok that were delivered.
func (s *sendmail) waitDelivered(t testing.TB, tok string, n int) []delivered {
	t.Helper()
	s.waitQueueEmpty(t)
	msgs := s.messages(t, tok)
	if len(msgs) != n {
		t.Fatalf("%d messages with %s delivered (to %v), want %d", len(msgs), tok, deliveredTo(msgs), n)
	}
	return msgs
}

// notDelivered waits until the queue is empty and fails if a message
// holding tok was delivered.
func (s *sendmail) notDelivered(t testing.TB, tok string) {
	t.Helper()
	s.waitDelivered(t, tok, 0)
}

// setupSendmail starts sekisho with config and a Sendmail instance using it.
func setupSendmail(t *testing.T, config string) (*sekishoProc, *sendmail) {
	t.Helper()
	sk := startSekisho(t, config)
	return sk, startSendmail(t, sk.Milter)
}

// deliveredAs: the local mailer is given the recipient's local part.
func (s *sendmail) deliveredAs(addr string) string {
	local, _, _ := strings.Cut(addr, "@")
	return local
}

// rcptRefusal: Sendmail puts the address before the milter's text.
func (s *sendmail) rcptRefusal(code, rcpt, text string) string {
	return regexp.QuoteMeta(code + " <" + rcpt + ">... " + text)
}

// milterDown: with F=T, Sendmail tempfails MAIL when the milter cannot be
// reached.
func (s *sendmail) milterDown() string {
	return regexp.QuoteMeta("451 4.3.2 Please try again later")
}

// smtpSend sends msg from sender to rcpts on an open connection and
// returns the first refusal (nil: accepted for every recipient).
func smtpSend(c *smtp.Client, sender string, rcpts []string, msg []byte) error {
	if err := c.Mail(sender); err != nil {
		return err
	}
	var refused error
	accepted := 0
	for _, r := range rcpts {
		if err := c.Rcpt(r); err != nil {
			refused = errors.Join(refused, err)
			continue
		}
		accepted++
	}
	if accepted == 0 {
		c.Reset()
		return refused
	}
	w, err := c.Data()
	if err != nil {
		return err
	}
	if _, err := w.Write(msg); err != nil {
		return err
	}
	return errors.Join(refused, w.Close())
}

// smtpCode returns the reply code of an SMTP refusal, 0 for none.
func smtpCode(err error) int {
	var te *textproto.Error
	if errors.As(err, &te) {
		return te.Code
	}
	return 0
}

// Sendmail sends no Abort after end of body: every message after the first
// on one connection starts with MAIL alone. Nothing decided for one message
// may stay with the next.
func TestE2ESendmailMessagesOnOneConnection(t *testing.T) {
	t.Parallel()
	sk, sm := setupSendmail(t, sekishoConfig("enforce", ruleSendOnly, rulesContent))
	c, err := smtp.Dial(sm.Addr)
	if err != nil {
		t.Fatal(err)
	}
	defer c.Close()
	if err := c.Hello("client.example.org"); err != nil {
		t.Fatal(err)
	}
	user := []string{"user@example.co.jp"}
	japanese := func(tok string) []byte { return japaneseMessage(tok) }
	exe := func(tok string) []byte { return japaneseMessage(tok, unquotedExeAttachment("請求書.exe")) }
	steps := []struct {
		name      string
		reset     bool // RSET before MAIL
		rcpts     []string
		msg       func(tok string) []byte
		code      int  // the first refusal; 0 for none
		delivered bool // to user
	}{
		{"japanese", false, user, japanese, 0, true},
		{"ascii subject", false, user, func(tok string) []byte {
			return buildMessage(tok, "Invoice "+tok, japaneseBody)
		}, 550, false},
		{"japanese after a refusal at end of headers", false, user, japanese, 0, true},
		{"exe", false, user, exe, 550, false},
		{"pdf after a refusal at end of body", false, user, func(tok string) []byte {
			return japaneseMessage(tok, pdfAttachment("見積書.pdf", 20000))
		}, 0, true},
		{"send-only and valid recipient", false, []string{"noreply@example.co.jp", "user@example.co.jp"}, japanese, 550, true},
		{"japanese after RSET", true, user, japanese, 0, true},
		{"exe after RSET", true, user, exe, 550, false},
		{"last", false, user, japanese, 0, true},
	}
	for _, st := range steps {
		if st.reset {
			if err := c.Reset(); err != nil {
				t.Fatalf("%s: RSET: %v", st.name, err)
			}
		}
		tok := token(t)
		err := smtpSend(c, "sender@example.org", st.rcpts, st.msg(tok))
		if got := smtpCode(err); got != st.code {
			t.Fatalf("%s: %v (code %d), want code %d", st.name, err, got, st.code)
		}
		if !st.delivered {
			sm.notDelivered(t, tok)
			continue
		}
		if got := deliveredTo(sm.waitDelivered(t, tok, 1)); got[0] != "user" {
			t.Errorf("%s: delivered to %v, want user only", st.name, got)
		}
	}
	if err := c.Quit(); err != nil {
		t.Fatal(err)
	}
	for _, rule := range []string{"ascii_only", "attachment_extension", "send_only"} {
		sk.waitLog(t, "msg=decision", "rule="+rule)
	}
	accepted := 0
	for _, st := range steps {
		if st.delivered {
			accepted++
		}
	}
	if n := len(sk.logLines("msg=accept", "stage=eob")); n != accepted {
		t.Errorf("%d messages accepted at end of body, want %d\n%s", n, accepted, sk.Logs())
	}
}
