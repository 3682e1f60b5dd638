package milter_test

import (
	"context"
	"fmt"
	"io"
	"log/slog"
	"net"
	"strings"
	"testing"
	"time"

	client "github.com/d--j/go-milter"

	"github.com/sekisho/sekisho/milter"
	"github.com/sekisho/sekisho/policy"
)

const baseConfig = `
listen = "inet:127.0.0.1:0"
[exempt]
networks = ["10.0.0.0/8"]
recipients = ["postmaster@*"]
[rules.send_only]
addresses = ["noreply@example.co.jp", "no-reply@*"]
[rules.recipient_limit]
max = 3
count_headers = true
`

// startServer serves a configuration on a free loopback port.
func startServer(t *testing.T, config string) (string, *lockedLog) {
	t.Helper()
	cfg, err := policy.Parse("test.toml", []byte(config))
	if err != nil {
		t.Fatal(err)
	}
	logs := &lockedLog{}
	log := slog.New(slog.NewTextHandler(logs, &slog.HandlerOptions{Level: slog.LevelDebug}))
	e, err := policy.NewEngine(cfg, &policy.Env{Logger: log})
	if err != nil {
		t.Fatal(err)
	}
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	srv := milter.NewServer(e, log)
	go srv.Serve(ln)
	t.Cleanup(func() {
		ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
		defer cancel()
		srv.Shutdown(ctx)
	})
	return ln.Addr().String(), logs
}

// mta is one SMTP connection of a fake MTA, driven by go-milter's
// protocol-6 client (a second, independent implementation).
type mta struct {
	t      *testing.T
	s      *client.ClientSession
	macros *client.MacroBag
}

func dial(t *testing.T, addr, clientIP string) *mta {
	t.Helper()
	c := client.NewClient("tcp", addr, client.WithActions(client.OptAddHeader|client.OptChangeHeader|client.OptQuarantine|client.OptSetMacros))
	macros := client.NewMacroBag()
	macros.Set(client.MacroMTAFQDN, "mx.example.co.jp")
	macros.Set(client.MacroClientAddr, clientIP)
	s, err := c.Session(macros)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { s.Close() })
	m := &mta{t: t, s: s, macros: macros}
	// The client skips the events the milter did not ask for.
	m.ok(s.Conn("client.example", client.FamilyInet, 25, clientIP))
	m.ok(s.Helo("client.example"))
	return m
}

func (m *mta) ok(act *client.Action, err error) {
	m.t.Helper()
	if err != nil {
		m.t.Fatal(err)
	}
	if act.StopProcessing() {
		m.t.Fatalf("unexpected refusal: %s", act.SMTPReply)
	}
}

// reply returns the SMTP reply of a refusal, "" when the step went on.
func (m *mta) reply(act *client.Action, err error) string {
	m.t.Helper()
	if err != nil {
		m.t.Fatal(err)
	}
	if act.Type == client.ActionRejectWithCode || act.Type == client.ActionReject || act.Type == client.ActionTempFail {
		return act.SMTPReply
	}
	return ""
}

func (m *mta) mail(from string) { m.t.Helper(); m.ok(m.s.Mail("<"+from+">", "")) }

func (m *mta) rcpt(to string) string {
	m.t.Helper()
	m.macros.Set(client.MacroRcptAddr, to)
	return m.reply(m.s.Rcpt("<"+to+">", ""))
}

// data sends headers and body and returns the end-of-message reply ("" for
// accepted) and the headers added.
func (m *mta) data(headers [][2]string, body string) (string, []client.ModifyAction) {
	m.t.Helper()
	return m.dataFrom(headers, strings.NewReader(body))
}

// dataFrom is data with the body read from r.
func (m *mta) dataFrom(headers [][2]string, body io.Reader) (string, []client.ModifyAction) {
	m.t.Helper()
	if r := m.reply(m.s.DataStart()); r != "" {
		return r, nil
	}
	for _, h := range headers {
		if r := m.reply(m.s.HeaderField(h[0], h[1], nil)); r != "" {
			return r, nil
		}
	}
	m.macros.Set(client.MacroQueueId, "4XYZ123")
	if r := m.reply(m.s.HeaderEnd()); r != "" {
		return r, nil
	}
	mods, act, err := m.s.BodyReadFrom(body)
	if err != nil {
		m.t.Fatal(err)
	}
	if act.StopProcessing() {
		return act.SMTPReply, mods
	}
	if act.Type != client.ActionAccept && act.Type != client.ActionContinue {
		m.t.Fatalf("end of message: %v", act)
	}
	return "", mods
}

var plain = [][2]string{{"From", "a@example.com"}, {"To", "user@example.co.jp"}, {"Subject", "件名"}}

func TestRejectedRecipientThenAccepted(t *testing.T) {
	addr, logs := startServer(t, baseConfig)
	m := dial(t, addr, "192.0.2.1")
	m.mail("sender@example.com")
	if r := m.rcpt("noreply@example.co.jp"); r != "550 5.1.1 User unknown" {
		t.Fatalf("noreply: got %q", r)
	}
	if r := m.rcpt("user@example.co.jp"); r != "" {
		t.Fatalf("user: got %q", r)
	}
	if r, _ := m.data(plain, "本文\r\n"); r != "" {
		t.Fatalf("end of message: %q", r)
	}
	if !strings.Contains(logs.String(), "client_ip=192.0.2.1") {
		t.Errorf("decision log lacks the client address:\n%s", logs)
	}
}

func TestTwoMessagesKeepClient(t *testing.T) {
	addr, _ := startServer(t, baseConfig)
	m := dial(t, addr, "10.1.2.3") // exempt network
	for i := 0; i < 2; i++ {
		m.mail("sender@example.com")
		if r := m.rcpt("noreply@example.co.jp"); r != "" {
			t.Fatalf("message %d: exempt client refused: %q", i+1, r)
		}
		if r, _ := m.data(plain, "body\r\n"); r != "" {
			t.Fatalf("message %d: %q", i+1, r)
		}
	}
	other := dial(t, addr, "192.0.2.7")
	for i := 0; i < 2; i++ {
		other.mail("sender@example.com")
		if r := other.rcpt("noreply@example.co.jp"); r == "" {
			t.Fatalf("message %d: a non-exempt client was let through", i+1)
		}
		other.rcpt("user@example.co.jp")
		if r, _ := other.data(plain, "body\r\n"); r != "" {
			t.Fatalf("message %d: %q", i+1, r)
		}
	}
}

func TestRecipientLimitRefusesWholeMessage(t *testing.T) {
	addr, _ := startServer(t, baseConfig)
	m := dial(t, addr, "192.0.2.1")
	m.mail("sender@example.com")
	for i := 1; i <= 3; i++ {
		if r := m.rcpt(fmt.Sprintf("u%d@example.co.jp", i)); r != "" {
			t.Fatalf("rcpt %d: %q", i, r)
		}
	}
	for i := 4; i <= 5; i++ {
		if r := m.rcpt(fmt.Sprintf("u%d@example.co.jp", i)); r != "550 5.5.3 Too many recipients" {
			t.Fatalf("rcpt %d: %q", i, r)
		}
	}
	if r, _ := m.data(plain, "body\r\n"); r != "550 5.5.3 Too many recipients" {
		t.Fatalf("message not refused as a whole: %q", r)
	}
}

func TestAbortResetsMessage(t *testing.T) {
	addr, _ := startServer(t, baseConfig)
	m := dial(t, addr, "192.0.2.1")
	m.mail("sender@example.com")
	for i := 1; i <= 3; i++ {
		m.rcpt(fmt.Sprintf("u%d@example.co.jp", i))
	}
	if err := m.s.Abort(nil); err != nil {
		t.Fatal(err)
	}
	m.mail("sender@example.com")
	for i := 1; i <= 3; i++ {
		if r := m.rcpt(fmt.Sprintf("v%d@example.co.jp", i)); r != "" {
			t.Fatalf("after RSET, rcpt %d refused: %q", i, r)
		}
	}
	if r, _ := m.data(plain, "body\r\n"); r != "" {
		t.Fatalf("after RSET: %q", r)
	}
}

func TestHeaderRecipientCountAtEndOfHeaders(t *testing.T) {
	addr, _ := startServer(t, baseConfig)
	m := dial(t, addr, "192.0.2.1")
	m.mail("sender@example.com")
	m.rcpt("u1@example.co.jp")
	h := [][2]string{{"From", "a@example.com"}, {"To", "a@x.jp, b@x.jp"}, {"Cc", "c@x.jp, D@x.jp, a@X.jp"}, {"Subject", "s"}}
	if r, _ := m.data(h, "body\r\n"); r != "550 5.5.3 Too many recipients" {
		t.Fatalf("got %q", r)
	}
}

func TestPercentDoubledAndDryRunHeader(t *testing.T) {
	addr, _ := startServer(t, `
listen = "inet:127.0.0.1:0"
[rules.send_only]
addresses = ["noreply@*"]
reply = "550 5.1.1 100% send-only"
[rules.recipient_limit]
max = 1
dry_run = true
`)
	m := dial(t, addr, "192.0.2.1")
	m.mail("sender@example.com")
	if r := m.rcpt("noreply@example.co.jp"); r != "550 5.1.1 100%% send-only" {
		t.Fatalf("got %q", r)
	}
	m.rcpt("a@example.co.jp")
	if r := m.rcpt("b@example.co.jp"); r != "" {
		t.Fatalf("a dry-run rule refused: %q", r)
	}
	r, mods := m.data(plain, "body\r\n")
	if r != "" {
		t.Fatalf("dry run refused the message: %q", r)
	}
	var found bool
	for _, mod := range mods {
		if mod.Type == client.ActionAddHeader && mod.HeaderName == "X-Sekisho" && strings.HasPrefix(mod.HeaderValue, "would-reject rule=recipient_limit") {
			found = true
		}
	}
	if !found {
		t.Fatalf("no X-Sekisho would-reject header among %+v", mods)
	}
}

func TestUnneededStagesNotRequested(t *testing.T) {
	addr, _ := startServer(t, `
listen = "inet:127.0.0.1:0"
[rules.send_only]
addresses = ["noreply@*"]
`)
	c := client.NewClient("tcp", addr, client.WithActions(client.OptAddHeader|client.OptChangeHeader|client.OptQuarantine|client.OptSetMacros))
	s, err := c.Session(client.NewMacroBag())
	if err != nil {
		t.Fatal(err)
	}
	defer s.Close()
	for _, p := range []client.OptProtocol{client.OptNoConnect, client.OptNoHelo, client.OptNoEOH, client.OptNoBody} {
		if !s.ProtocolOption(p) {
			t.Errorf("protocol option %#x not set: the MTA is asked for a stage no rule uses", p)
		}
	}
	if s.ProtocolOption(client.OptNoHeaders) {
		t.Error("the header fields must always be asked for: forged X-Sekisho fields are removed")
	}
	if s.ProtocolOption(client.OptNoRcptTo) || s.ProtocolOption(client.OptNoMailFrom) {
		t.Error("the envelope must always be asked for")
	}
}

func TestGarbageDoesNotKillServer(t *testing.T) {
	if testing.Short() {
		t.Skip("waits up to 2 s for the server to drop each junk connection: run without -short")
	}
	addr, _ := startServer(t, baseConfig)
	for _, junk := range [][]byte{
		{0, 0, 0, 0},
		{0xff, 0xff, 0xff, 0xff, 'x'},
		{0, 0, 0, 3, 'C', 'h', 0},
		[]byte("GET / HTTP/1.0\r\n\r\n"),
	} {
		c, err := net.Dial("tcp", addr)
		if err != nil {
			t.Fatal(err)
		}
		c.Write(junk)
		c.SetReadDeadline(time.Now().Add(2 * time.Second))
		io.Copy(io.Discard, c)
		c.Close()
	}
	m := dial(t, addr, "192.0.2.1")
	m.mail("sender@example.com")
	if r := m.rcpt("noreply@example.co.jp"); r != "550 5.1.1 User unknown" {
		t.Fatalf("server unusable after garbage: %q", r)
	}
}

func TestQuarantineAndDiscard(t *testing.T) {
	addr, _ := startServer(t, `
listen = "inet:127.0.0.1:0"
[rules.send_only]
addresses = ["hold@*"]
action = "quarantine"
[rules.recipient_limit]
max = 2
action = "discard"
`)
	m := dial(t, addr, "192.0.2.1")
	m.mail("sender@example.com")
	if r := m.rcpt("hold@example.co.jp"); r != "" {
		t.Fatalf("a quarantined recipient was refused: %q", r)
	}
	r, mods := m.data(plain, "body\r\n")
	if r != "" {
		t.Fatalf("a quarantined message was refused: %q", r)
	}
	var held bool
	for _, mod := range mods {
		if mod.Type == client.ActionQuarantine && strings.HasPrefix(mod.Reason, "send_only: ") {
			held = true
		}
	}
	if !held {
		t.Fatalf("no quarantine among %+v", mods)
	}

	m2 := dial(t, addr, "192.0.2.1")
	m2.mail("sender@example.com")
	m2.rcpt("a@example.co.jp")
	m2.rcpt("b@example.co.jp")
	m2.macros.Set(client.MacroRcptAddr, "c@example.co.jp")
	act, err := m2.s.Rcpt("<c@example.co.jp>", "")
	if err != nil {
		t.Fatal(err)
	}
	if act.Type != client.ActionDiscard {
		t.Fatalf("third recipient: got %v, want discard", act)
	}
}

func TestIPv6ClientAddressMacro(t *testing.T) {
	addr, logs := startServer(t, `
listen = "inet:127.0.0.1:0"
[exempt]
networks = ["2001:db8::/32"]
[rules.send_only]
addresses = ["noreply@*"]
`)
	// Postfix writes {client_addr} as "IPv6:2001:db8::5" before end of message.
	m := dial(t, addr, "IPv6:2001:db8::5")
	m.mail("sender@example.com")
	if r := m.rcpt("noreply@example.co.jp"); r != "" {
		t.Fatalf("client in an exempt IPv6 network refused: %q", r)
	}
	if !strings.Contains(logs.String(), "client_ip=2001:db8::5") {
		t.Errorf("log does not show the client address without its IPv6: prefix:\n%s", logs)
	}
}

// TestForgedHeaderRemoved: X-Sekisho fields that came with the message
// are deleted, last first, before sekisho adds its own.
func TestForgedHeaderRemoved(t *testing.T) {
	addr, _ := startServer(t, `
listen = "inet:127.0.0.1:0"
[rules.recipient_limit]
max = 1
dry_run = true
`)
	m := dial(t, addr, "192.0.2.1")
	m.mail("sender@example.com")
	m.rcpt("a@example.co.jp")
	m.rcpt("b@example.co.jp")
	headers := append([][2]string{{"X-Sekisho", "accept (forged)"}, {"x-sekisho", "clean"}}, plain...)
	r, mods := m.data(headers, "body\r\n")
	if r != "" {
		t.Fatalf("refused: %q", r)
	}
	var got []string
	for _, mod := range mods {
		switch mod.Type {
		case client.ActionChangeHeader:
			got = append(got, fmt.Sprintf("change %d %s=%q", mod.HeaderIndex, mod.HeaderName, mod.HeaderValue))
		case client.ActionAddHeader:
			got = append(got, "add "+mod.HeaderName)
		}
	}
	want := []string{`change 2 X-Sekisho=""`, `change 1 X-Sekisho=""`, "add X-Sekisho"}
	if strings.Join(got, "; ") != strings.Join(want, "; ") {
		t.Fatalf("modifications %q, want %q", got, want)
	}
}
