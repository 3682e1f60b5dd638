package scan_test

import (
	"context"
	"encoding/base64"
	"log/slog"
	"os"
	"os/exec"
	"path/filepath"
	"slices"
	"strings"
	"testing"

	"github.com/sekisho/sekisho/policy"
	"github.com/sekisho/sekisho/policy/scan"
)

const notifications = "../../testdata/notifications"

// defaultScanner judges as the daemon does on its built-in configuration
// (cfg) when no -config is given.
func defaultScanner(t *testing.T, cfg []byte) *scan.Scanner {
	t.Helper()
	c, err := policy.Parse("(default)", cfg)
	if err != nil {
		t.Fatal(err)
	}
	return offline(t, c, &scan.Scanner{})
}

// scanFile scans one file of testdata/notifications.
func scanFile(t *testing.T, s *scan.Scanner, name string) scan.Report {
	t.Helper()
	_, out := scanText(t, s, filepath.Join(notifications, name))
	if len(out) != 1 {
		t.Fatalf("%s: %d reports", name, len(out))
	}
	return out[0]
}

// TestNotificationsByDefault: bounces (Postfix, Exchange, qmail, one
// without a subject), read receipts and automatic replies are English
// and some are blank; the built-in configuration accepts them under its
// "notifications" policy, judged by kind of mail, while a bounce carrying
// an executable is refused as any mail is. Without that block the same
// mail is refused by ascii_only or blank: the test can tell.
func TestNotificationsByDefault(t *testing.T) {
	withBlock := defaultScanner(t, policy.DefaultConfig)
	top, _, ok := strings.Cut(string(policy.DefaultConfig), "[[policy]]")
	if !ok {
		t.Fatal("the built-in configuration has no [[policy]] block")
	}
	without := defaultScanner(t, []byte(top))
	for _, tc := range []struct {
		file, kinds string
		refusedBy   string // without the block
	}{
		{"postfix-dsn.eml", "bounce,auto-reply", "ascii_only"},
		{"exchange-ndr.eml", "bounce,auto-reply", "ascii_only"},
		{"qmail-bounce.eml", "bounce", "ascii_only"},
		{"no-subject-dsn.eml", "bounce", "blank"},
		{"thunderbird-mdn.eml", "receipt", "ascii_only"},
		{"exchange-oof.eml", "auto-reply", "ascii_only"},
		{"gmail-vacation.eml", "auto-reply", "ascii_only"},
	} {
		t.Run(tc.file, func(t *testing.T) {
			r := scanFile(t, withBlock, tc.file)
			if r.Outcome.Refused() || r.Policy != "notifications" {
				t.Errorf("built-in configuration: %s by %s (%s) under policy %s, want accepted under notifications",
					r.Outcome.Action, r.Outcome.Rule, r.Outcome.Reason, r.Policy)
			}
			r = scanFile(t, without, tc.file)
			if r.Outcome.Rule != tc.refusedBy || !r.Outcome.Refused() {
				t.Errorf("without the block: %s by %s (%s), want refused by %s", r.Outcome.Action, r.Outcome.Rule, r.Outcome.Reason, tc.refusedBy)
			}
			if got := strings.Join(messageKinds(t, tc.file), ","); got != tc.kinds {
				t.Errorf("kinds %q, want %q", got, tc.kinds)
			}
		})
	}
	r := scanFile(t, withBlock, "dsn-with-exe.eml")
	if r.Outcome.Action != "reject" || r.Outcome.Rule != "attachment_extension" || !strings.Contains(r.Outcome.Reason, "invoice.exe") {
		t.Errorf("bounce with an exe: %s by %s (%s), want rejected by attachment_extension", r.Outcome.Action, r.Outcome.Rule, r.Outcome.Reason)
	}
}

// messageKinds returns the kinds of mail of a file, read from its header
// with the null sender its Return-Path gives.
func messageKinds(t *testing.T, name string) []string {
	t.Helper()
	var kinds []string
	err := scan.Walk([]string{filepath.Join(notifications, name)}, func(it scan.Item) error {
		m := &policy.Message{}
		head, _, _ := strings.Cut(strings.ReplaceAll(string(it.Raw), "\r\n", "\n"), "\n\n")
		var last *policy.Header
		for _, line := range strings.Split(head, "\n") {
			if (strings.HasPrefix(line, " ") || strings.HasPrefix(line, "\t")) && last != nil {
				last.Value += "\n" + line
				continue
			}
			name, value, _ := strings.Cut(line, ":")
			m.Headers = append(m.Headers, policy.Header{Name: name, Value: strings.TrimSpace(value)})
			last = &m.Headers[len(m.Headers)-1]
			if strings.EqualFold(name, "Return-Path") {
				m.Sender = policy.NormalizeAddress(value)
			}
		}
		kinds = m.Kinds()
		return nil
	})
	if err != nil {
		t.Fatal(err)
	}
	return kinds
}

// TestPolicyBySender: a block chosen by envelope sender is decided at
// RCPT, so it can change the rate limit: posts of a mailing list in a
// burst pass, while the same burst from another sender is tempfailed.
// A block by kind changes what is judged from the header on.
func TestPolicyBySender(t *testing.T) {
	cfg := `[rules.rate_limit]
limit = 2

[rules.ascii_only]

[[policy]]
name = "lists"
senders = ["*-bounces@lists.example.org"]
[policy.rules.rate_limit]
enabled = false

[[policy]]
name = "english lists"
kinds = ["list"]
recipients = ["*@dev.example.co.jp"]
[policy.rules.ascii_only]
enabled = false
`
	c, err := policy.Parse("t.toml", []byte(cfg))
	if err != nil {
		t.Fatal(err)
	}
	clock := &scan.Clock{}
	e, err := policy.NewEngine(c, &policy.Env{Logger: slog.New(slog.DiscardHandler), Now: clock.Now})
	if err != nil {
		t.Fatal(err)
	}
	post := func(sender, rcpt string, english bool) scan.Report {
		s := &scan.Scanner{Engine: e, Clock: clock, Count: true,
			Envelope: scan.Envelope{Sender: sender, SenderOK: true, Rcpts: []string{rcpt}}}
		subject, body := "=?UTF-8?B?5Lya6K2w?=", "5piO5pel44Gu5Lya6K2w44Gn44GZ44CC"
		if english {
			subject, body = "Release notes", "VGhlIHJlbGVhc2UgaXMgb3V0Lg=="
		}
		raw := "From: dev@lists.example.org\nTo: " + rcpt + "\nList-Id: <dev.lists.example.org>\nSubject: " + subject +
			"\nMIME-Version: 1.0\nContent-Type: text/plain; charset=UTF-8\nContent-Transfer-Encoding: base64\n\n" + body + "\n"
		return s.Scan(context.Background(), scan.Item{Source: "post", Raw: []byte(raw)})
	}
	var got []string
	for range 4 {
		r := post("dev-bounces@lists.example.org", "tanaka@example.co.jp", false)
		got = append(got, r.Outcome.Action+" "+r.Policy)
	}
	if want := slices.Repeat([]string{"accept lists"}, 4); !slices.Equal(got, want) {
		t.Errorf("list posts: %q, want %q", got, want)
	}
	got = nil
	for range 3 {
		r := post("someone@example.net", "tanaka@example.co.jp", false)
		got = append(got, r.Outcome.Action+" "+r.Outcome.Rule)
	}
	if want := []string{"accept ", "accept ", "tempfail rate_limit"}; !slices.Equal(got, want) {
		t.Errorf("posts from one sender: %q, want %q", got, want)
	}

	// By kind: an English post of a list to dev@ passes; to another
	// recipient, or without List-Id, ascii_only still judges.
	if r := post("x@example.net", "dev@dev.example.co.jp", true); r.Outcome.Refused() || r.Policy != "english lists" {
		t.Errorf("English list post to dev: %s by %s under %s", r.Outcome.Action, r.Outcome.Rule, r.Policy)
	}
	if r := post("y@example.net", "sato@example.co.jp", true); r.Outcome.Rule != "ascii_only" {
		t.Errorf("English list post to sato: %s by %s under %s, want refused by ascii_only", r.Outcome.Action, r.Outcome.Rule, r.Policy)
	}
}

// TestScanMultiLineReply: a reply of several lines (policy_url adds one)
// is shown on one report line, as the client receives its lines.
func TestScanMultiLineReply(t *testing.T) {
	c, err := policy.Parse("t.toml", []byte("policy_url = \"https://www.example.co.jp/mail-policy\"\n[rules.ascii_only]\n"))
	if err != nil {
		t.Fatal(err)
	}
	e, err := policy.NewEngine(c, &policy.Env{Logger: slog.New(slog.DiscardHandler)})
	if err != nil {
		t.Fatal(err)
	}
	s := &scan.Scanner{Engine: e, Clock: &scan.Clock{},
		Envelope: scan.Envelope{Sender: "a@example.net", SenderOK: true, Rcpts: []string{"b@example.co.jp"}}}
	r := s.Scan(context.Background(), scan.Item{Source: "m", Raw: []byte("Subject: Hello\n\nHello.\n")})
	want := "550-5.7.1 The subject has no Japanese (non-ASCII) text / 550 5.7.1 See https://www.example.co.jp/mail-policy"
	if r.Outcome.Reply != want {
		t.Errorf("reply %q, want %q", r.Outcome.Reply, want)
	}
	var b strings.Builder
	scan.WriteText(&b, r)
	if !strings.Contains(b.String(), want) {
		t.Errorf("report:\n%s", b.String())
	}
}

// TestLegitByDefault: business mail that a checkpoint must not refuse,
// under the built-in configuration: an Outlook message with an inline
// image referenced by Content-ID, a newsletter whose images are
// referenced by Content-ID and Content-Location, a PGP/MIME signature
// without a name, an empty alternative, a list post, and S/MIME signed
// mail made by openssl (detached and opaque).
func TestLegitByDefault(t *testing.T) {
	s := defaultScanner(t, policy.DefaultConfig)
	for _, f := range []string{"outlook-inline-image.eml", "newsletter-related.eml", "pgp-signed-unnamed.eml", "empty-alternative.eml", "list-post.eml"} {
		if r := scanFile(t, s, f); r.Outcome.Refused() {
			t.Errorf("%s: %s by %s (%s)", f, r.Outcome.Action, r.Outcome.Rule, r.Outcome.Reason)
		}
	}
	dir := t.TempDir()
	run := func(args ...string) {
		t.Helper()
		cmd := exec.Command("openssl", args...)
		cmd.Dir = dir
		if out, err := cmd.CombinedOutput(); err != nil {
			t.Fatalf("openssl %s: %v\n%s", strings.Join(args, " "), err, out)
		}
	}
	run("req", "-x509", "-newkey", "ec", "-pkeyopt", "ec_paramgen_curve:P-256", "-nodes", "-keyout", "key.pem",
		"-out", "cert.pem", "-days", "30", "-subj", "/CN=sato@partner.example")
	body := "Content-Type: text/plain; charset=utf-8\r\nContent-Transfer-Encoding: base64\r\n\r\n" +
		base64.StdEncoding.EncodeToString([]byte("お世話になっております。見積書の件、承知しました。")) + "\r\n"
	if err := os.WriteFile(filepath.Join(dir, "body.txt"), []byte(body), 0o644); err != nil {
		t.Fatal(err)
	}
	subject := "=?UTF-8?B?" + base64.StdEncoding.EncodeToString([]byte("見積書の件")) + "?="
	for _, mode := range []string{"detached", "opaque"} {
		args := []string{"smime", "-sign", "-in", "body.txt", "-signer", "cert.pem", "-inkey", "key.pem",
			"-from", "sato@partner.example", "-to", "tanaka@example.co.jp", "-subject", subject, "-out", mode + ".eml"}
		if mode == "opaque" {
			args = append(args, "-nodetach")
		}
		run(args...)
		raw, err := os.ReadFile(filepath.Join(dir, mode+".eml"))
		if err != nil {
			t.Fatal(err)
		}
		r := s.Scan(context.Background(), scan.Item{Source: mode, Raw: append([]byte("Return-Path: <sato@partner.example>\n"), raw...)})
		if r.Outcome.Refused() {
			t.Errorf("S/MIME %s: %s by %s (%s)", mode, r.Outcome.Action, r.Outcome.Rule, r.Outcome.Reason)
		}
	}
}
