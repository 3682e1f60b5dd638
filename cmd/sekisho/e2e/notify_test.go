package e2e_test

// Notifications through real Postfix: a DNSBL refusal reaches the sender
// as a bounce naming the list, and that bounce (a real Postfix DSN, in
// English) reaches the sender's mailbox through sekisho's built-in
// configuration, which judges bounces, receipts and auto-replies by kind
// of mail.

import (
	"bytes"
	"encoding/base64"
	"fmt"
	"os"
	"regexp"
	"testing"
	"time"
)

// builtinConfig is the configuration the daemon runs on when no -config
// is given.
func builtinConfig(t testing.TB) string {
	t.Helper()
	b, err := os.ReadFile("../../../policy/default.toml")
	if err != nil {
		t.Fatal(err)
	}
	return string(b)
}

// TestE2EDNSBLBounce: a relay whose address is listed sends to the MX
// whose sekisho checks the DNSBL. The refusal comes at RCPT, so the relay
// bounces the mail at once (no deferral, no retries for days) and the
// bounce tells the sender which list named the relay. That bounce, from
// the null sender, is then sent to an MX running sekisho's built-in
// configuration: it is delivered, while the same bounce carrying an
// executable is refused.
func TestE2EDNSBLBounce(t *testing.T) {
	t.Parallel()
	dnsbl := sharedRbldnsd(t)
	s := startSekisho(t, sekishoConfig("enforce", ruleDNSBL(dnsbl.Addr)))
	mx := startPostfix(t, s.Milter, postfixOptions{})
	relay := startRelay(t, mx, map[string]string{
		// The relay connects from a listed address; the sender's own
		// domain is local to it, so its bounce is delivered there.
		"smtp_bind_address": "127.0.0.2",
		"mydestination":     "example.org",
		"local_transport":   "capture",
	})

	tok := token(t)
	start := time.Now()
	relay.mustSwaks(t, 0, "--from", "sender@example.org", "--to", "user@example.co.jp",
		"--header", "X-E2E-Token: "+tok)
	var bounce []byte
	waitRelayed(t, relay, mx, "the bounce", func() bool {
		for _, m := range relay.messages(t, tok) {
			if m.Rcpt == "sender@example.org" {
				bounce = m.Data
				return true
			}
		}
		return false
	})
	t.Logf("bounce delivered to the sender in %v", time.Since(start).Round(time.Millisecond))
	mx.notDelivered(t, tok)
	for _, want := range []string{
		"Undelivered Mail Returned to Sender",
		"report-type=delivery-status",
		"554 5.7.1 Service unavailable; client [127.0.0.2] blocked using bl.test",
	} {
		if !bytes.Contains(unfoldBody(bounce), []byte(want)) {
			t.Errorf("the bounce does not say %q:\n%s", want, bounce)
		}
	}
	for _, a := range relay.attempts() {
		if a.Rcpt == "user@example.co.jp" && a.Status != "bounced" {
			t.Errorf("relay: %s %s (%s), want bounced at the first attempt", a.Rcpt, a.Status, a.Detail)
		}
	}
	s.waitLog(t, "msg=decision", "rule=dnsbl", "stage=rcpt")

	// The bounce reaches the sender's MX through the built-in
	// configuration (ascii_only and blank are on there).
	builtin := startSekisho(t, builtinConfig(t))
	home := startPostfix(t, builtin.Milter, postfixOptions{})
	// Without the Delivered-To line the capture added, which Postfix
	// would take for a loop.
	dsn := regexp.MustCompile(`(?m)^Delivered-To: .*\n`).ReplaceAll(bounce, nil)
	send := func(data []byte) (int, string, string) {
		tok := token(t)
		data = append([]byte("X-E2E-Token: "+tok+"\n"), data...)
		code, out := home.swaks(t, "--xclient", "ADDR=198.51.100.7", "--from", "<>", "--to", "sender@example.org",
			"--data", writeMessage(t, data))
		return code, out, tok
	}
	code, out, tok := send(dsn)
	if code != 0 {
		t.Fatalf("the bounce was refused by the built-in configuration (swaks %d):\n%s\n%s", code, out, builtin.Logs())
	}
	home.waitDelivered(t, tok, 1)
	builtin.waitLog(t, "policy by kind of mail", "policy=notifications", "kinds=bounce,auto-reply")

	code, out, tok = send(withExe(t, dsn))
	if code != 26 {
		t.Fatalf("a bounce carrying an exe: swaks exit %d, want 26 (refused after DATA):\n%s", code, out)
	}
	mustRefuse(t, out, `550 5\.7\.1 `)
	home.notDelivered(t, tok)
	builtin.waitLog(t, "msg=decision", "rule=attachment_extension", "invoice.exe")
}

// unfoldBody joins the lines Postfix folds in a bounce's text.
func unfoldBody(b []byte) []byte {
	return regexp.MustCompile(`\n\s+`).ReplaceAll(b, []byte(" "))
}

// withExe adds an executable attachment before the last boundary of a
// multipart message.
func withExe(t testing.TB, msg []byte) []byte {
	t.Helper()
	m := regexp.MustCompile(`(?i)boundary="?([^";\s]+)"?`).FindSubmatch(msg)
	if m == nil {
		t.Fatalf("no boundary in:\n%s", msg)
	}
	end := []byte("\n--" + string(m[1]) + "--")
	i := bytes.LastIndex(msg, end)
	if i < 0 {
		t.Fatalf("no closing boundary %q", end)
	}
	part := fmt.Sprintf("\n--%s\nContent-Type: application/octet-stream; name=\"invoice.exe\"\n"+
		"Content-Disposition: attachment; filename=\"invoice.exe\"\nContent-Transfer-Encoding: base64\n\n%s\n",
		m[1], base64.StdEncoding.EncodeToString(append([]byte("MZ\x90\x00\x03\x00\x00\x00\x04\x00"), make([]byte, 512)...)))
	return append(append(bytes.Clone(msg[:i]), part...), msg[i:]...)
}
