package scan_test

import (
	"bytes"
	"context"
	"encoding/json"
	"flag"
	"log/slog"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/sekisho/sekisho/policy"
	"github.com/sekisho/sekisho/policy/scan"
)

var update = flag.Bool("update", false, "rewrite the golden files of testdata/scan")

const dir = "../../testdata/scan"

// scanner builds the scan golden tests' configuration, offline.
func scanner(t *testing.T, env scan.Envelope) *scan.Scanner {
	t.Helper()
	cfg, err := policy.LoadFile(filepath.Join(dir, "policy.toml"))
	if err != nil {
		t.Fatal(err)
	}
	return offline(t, cfg, &scan.Scanner{Envelope: env, Count: true})
}

// offline completes s as sekisho scan does for the configuration c: the
// rules that need a server left out, the engine on the scan's own clock.
func offline(t *testing.T, c *policy.Config, s *scan.Scanner) *scan.Scanner {
	t.Helper()
	s.Clock = &scan.Clock{}
	s.NotRun = c.Offline()
	e, err := policy.NewEngine(c, &policy.Env{Logger: slog.New(slog.DiscardHandler), Now: s.Clock.Now})
	if err != nil {
		t.Fatal(err)
	}
	s.Engine = e
	return s
}

// scanText scans paths and returns the text output with the summary, and
// the reports.
func scanText(t *testing.T, s *scan.Scanner, paths ...string) (string, []scan.Report) {
	t.Helper()
	var b bytes.Buffer
	var reports []scan.Report
	sum := scan.NewSummary()
	err := scan.Walk(paths, func(it scan.Item) error {
		r := s.Scan(context.Background(), it)
		reports = append(reports, r)
		sum.Add(r)
		scan.WriteText(&b, r)
		return nil
	})
	if err != nil {
		t.Fatal(err)
	}
	sum.WriteText(&b)
	return strings.ReplaceAll(b.String(), dir+"/", ""), reports
}

func golden(t *testing.T, name, got string) {
	t.Helper()
	path := filepath.Join(dir, name)
	if *update {
		if err := os.WriteFile(path, []byte(got), 0o644); err != nil {
			t.Fatal(err)
		}
	}
	want, err := os.ReadFile(path)
	if err != nil {
		t.Fatalf("%v (run go test -update to create it)", err)
	}
	if got != string(want) {
		t.Errorf("scan output differs from %s (go test -update rewrites it):\n%s", name, got)
	}
}

// TestScanMessages: every message of testdata/mime, to one recipient of
// the design policy (ASCII-only text is tagged, so that the end-of-body
// rules decide),
// through the golden configuration. The golden file shows what each rule
// found and the verdict.
func TestScanMessages(t *testing.T) {
	s := scanner(t, scan.Envelope{Rcpts: []string{"sato@design.example.co.jp"}, Sender: "sender@example.net", SenderOK: true})
	out, reports := scanText(t, s, "../../testdata/mime")
	if len(reports) < 50 {
		t.Fatalf("%d messages scanned", len(reports))
	}
	for _, r := range reports {
		if r.Error != "" {
			t.Errorf("%s: %s", r.Source, r.Error)
		}
	}
	golden(t, "mime.golden", strings.ReplaceAll(out, "../../testdata/mime/", ""))
}

// TestScanMbox: an mbox is split at its "From " lines, mboxrd escapes
// undone, an unescaped "From " inside a paragraph kept; the envelope comes
// from the headers; each message is judged under its recipients' policy.
func TestScanMbox(t *testing.T) {
	out, reports := scanText(t, scanner(t, scan.Envelope{}), filepath.Join(dir, "sample.mbox"))
	if len(reports) != 3 {
		t.Fatalf("%d messages, want 3:\n%s", len(reports), out)
	}
	want := []struct{ source, sender, rcpts, policy, outcome string }{
		{"sample.mbox:1", "yamada@example.net", "tanaka@example.co.jp", "default", "accept"},
		{"sample.mbox:2", "promo@example.com", "sato@design.example.co.jp", "design", "accept"},
		{"sample.mbox:3", "suzuki@example.net", "tanaka@example.co.jp sato@design.example.co.jp info@example.co.jp", "default", "accept"},
	}
	for i, w := range want {
		r := reports[i]
		if !strings.HasSuffix(r.Source, w.source) || r.Envelope.Sender != w.sender || strings.Join(r.Envelope.Rcpts, " ") != w.rcpts || r.Policy != w.policy || r.Outcome.Action != w.outcome {
			t.Errorf("message %d: %s from %q to %q policy %s outcome %s; want %+v", i+1, r.Source, r.Envelope.Sender, r.Envelope.Rcpts, r.Policy, r.Outcome.Action, w)
		}
	}
	// The third goes to three recipients: the design one is sent apart,
	// info@ is send-only.
	rc := reports[2].Recipients
	if len(rc) != 3 || rc[0].Action != "continue" || rc[1].Reply != "452 4.5.3 Policy differs, send separately" || rc[2].Rule != "send_only" {
		t.Errorf("recipients of message 3: %+v", rc)
	}
	if s := reports[2].Inspection.Text.Sample; !strings.Contains(s, ">From the minutes: escaped") || !strings.Contains(s, "From the minutes, not escaped") || strings.Contains(s, ">>From") {
		t.Errorf("body of message 3: %q", s)
	}
	// Design tags an ASCII-only message instead of refusing it.
	if h := reports[1].Outcome.Headers; len(h) != 1 || !strings.Contains(h[0], "tag rule=ascii_only") {
		t.Errorf("headers of message 2: %q", h)
	}
	golden(t, "sample.mbox.golden", out)
}

// TestScanMaildir: a Maildir's cur/ and new/ are read, tmp/ (messages
// still being delivered) is not.
func TestScanMaildir(t *testing.T) {
	out, reports := scanText(t, scanner(t, scan.Envelope{}), filepath.Join(dir, "Maildir"))
	if len(reports) != 2 || !strings.Contains(reports[0].Source, "/cur/") || !strings.Contains(reports[1].Source, "/new/") {
		t.Fatalf("messages %v:\n%s", len(reports), out)
	}
	golden(t, "Maildir.golden", out)
}

// TestScanEnvelopeFlags: flags override the headers; the client address
// reaches the rules that look at it.
func TestScanEnvelopeFlags(t *testing.T) {
	s := scanner(t, scan.Envelope{Sender: "", SenderOK: true, Rcpts: []string{"postmaster@example.co.jp"}})
	_, reports := scanText(t, s, filepath.Join(dir, "exe-to-design.eml"))
	r := reports[0]
	if r.Envelope.Sender != "" || strings.Join(r.Envelope.Rcpts, ",") != "postmaster@example.co.jp" {
		t.Errorf("envelope %+v", r.Envelope)
	}
	if r.Exempt == "" || r.Outcome.Action != "accept" {
		t.Errorf("exempt %q outcome %v, want an exempt, accepted message", r.Exempt, r.Outcome)
	}
	// What the rules would find is still shown, as not reached.
	found := false
	for _, rr := range r.Rules {
		if rr.Rule == "attachment_extension" && rr.Found && !rr.Reached {
			found = true
		}
	}
	if !found {
		t.Errorf("attachment_extension's finding not shown: %+v", r.Rules)
	}
}

// TestScanUnreadable: a path that does not exist, and a message without
// recipients, are errors, not verdicts.
func TestScanUnreadable(t *testing.T) {
	s := scanner(t, scan.Envelope{})
	tmp := t.TempDir()
	noRcpt := filepath.Join(tmp, "a.eml")
	os.WriteFile(noRcpt, []byte("From: a@example.net\r\nSubject: x\r\n\r\nbody\r\n"), 0o644)
	_, reports := scanText(t, s, filepath.Join(tmp, "missing.eml"), noRcpt)
	if len(reports) != 2 || reports[0].Error == "" || !strings.Contains(reports[1].Error, "no recipient") {
		t.Errorf("reports %+v", reports)
	}
}

// TestScanRedacts: with pairing on, a password in a subject or body is
// shown as the log shows it.
func TestScanRedacts(t *testing.T) {
	cfg, err := policy.Parse("t.toml", []byte("[rules.encrypted_archive]\nmode = \"pair\"\n\n[rules.ascii_only]\naction = \"tag\"\n"))
	if err != nil {
		t.Fatal(err)
	}
	s := &scan.Scanner{Envelope: scan.Envelope{Sender: "a@example.org", Rcpts: []string{"b@example.co.jp"}}, Clock: &scan.Clock{}}
	if s.Engine, err = policy.NewEngine(cfg, &policy.Env{Logger: slog.New(slog.DiscardHandler), Now: s.Clock.Now}); err != nil {
		t.Fatal(err)
	}
	path := filepath.Join(t.TempDir(), "pw.eml")
	os.WriteFile(path, []byte("Subject: PW: s3cr3t-subj\r\nTo: b@example.co.jp\r\n\r\nPassword: s3cr3t-body\r\n"), 0o644)
	out, reports := scanText(t, s, path)
	js, _ := json.Marshal(reports)
	for _, secret := range []string{"s3cr3t-subj", "s3cr3t-body"} {
		if strings.Contains(out, secret) || strings.Contains(string(js), secret) {
			t.Errorf("%s shown:\n%s\n%s", secret, out, js)
		}
	}
	if !strings.Contains(out, "PW: *****") || !strings.Contains(out, "Password: *****") {
		t.Errorf("output:\n%s", out)
	}
}
