package main

import (
	"bytes"
	"context"
	"fmt"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/emersion/go-message/mail"

	"github.com/sekisho/sekisho/policy/history"
)

// digestStore writes an SQLite history with decisions of the last hours
// and a configuration that reads it, and returns the configuration's path.
func digestStore(t *testing.T, dir string) string {
	t.Helper()
	db := filepath.Join(dir, "history.db")
	s, err := history.Open(db, false)
	if err != nil {
		t.Fatal(err)
	}
	defer s.Close()
	now := time.Now()
	recs := []history.Record{
		{Time: now.Add(-1 * time.Hour), QueueID: "4Q1", Sender: "tanaka@example.org", Rcpts: []string{"suzuki@example.co.jp", "sato@example.co.jp"},
			Subject: "御見積書の件", Attachments: []string{"mitsumori.zip"}, Rule: "encrypted_archive", Action: "quarantine", Reason: "encrypted archive"},
		{Time: now.Add(-2 * time.Hour), QueueID: "4Q2", Sender: "spam@example.net", Rcpts: []string{"suzuki@example.co.jp"},
			Subject: "reject: quarantine me", Rule: "blank", Action: "reject", Reason: "the body has no text"},
		{Time: now.Add(-3 * time.Hour), Sender: "x@example.net", Rcpts: []string{"fail@example.co.jp"}, Action: "discard", Rule: "r"},
		{Time: now.Add(-3 * time.Hour), Sender: "x@example.net", Rcpts: []string{"user@example.com"}, Action: "reject", Rule: "r"},
		{Time: now.Add(-4 * time.Hour), Sender: "x@example.net", Rcpts: []string{"nobody@example.co.jp"}, Action: "tempfail", Rule: "r"},
		{Time: now.Add(-4 * time.Hour), Sender: "x@example.net", Rcpts: []string{"nobody@example.co.jp"}, Action: "accept"},
		{Time: now.Add(-30 * time.Hour), Sender: "x@example.net", Rcpts: []string{"nobody@example.co.jp"}, Action: "reject", Rule: "r"},
	}
	if err := s.Add(context.Background(), recs); err != nil {
		t.Fatal(err)
	}
	cfg := filepath.Join(dir, "sekisho.toml")
	if err := os.WriteFile(cfg, fmt.Appendf(nil, "[history]\nstore = %q\n", db), 0o644); err != nil {
		t.Fatal(err)
	}
	return cfg
}

// fakeSendmail writes a sendmail that keeps each mail it reads in out and
// fails, as Postfix's does for a full queue, for mail to fail@.
func fakeSendmail(t *testing.T, dir, out string) string {
	t.Helper()
	path := filepath.Join(dir, "sendmail")
	script := fmt.Sprintf(`#!/bin/sh
[ "$*" = "-t -i" ] || { echo "bad arguments: $*" >&2; exit 64; }
f=$(mktemp %s/mail.XXXXXX) || exit 75
cat > "$f"
if grep -q '^To: <fail@' "$f"; then
	rm "$f"
	echo "sendmail: fatal: queue file write error" >&2
	exit 75
fi
`, out)
	if err := os.WriteFile(path, []byte(script), 0o755); err != nil {
		t.Fatal(err)
	}
	return path
}

// readMail parses a digest and returns its recipient and decoded body.
func readMail(t *testing.T, b []byte) (string, string) {
	t.Helper()
	r, err := mail.CreateReader(bytes.NewReader(b))
	if err != nil {
		t.Fatal(err)
	}
	to, err := r.Header.AddressList("To")
	if err != nil || len(to) != 1 {
		t.Fatalf("To: %v %v", to, err)
	}
	p, err := r.NextPart()
	if err != nil {
		t.Fatal(err)
	}
	var body bytes.Buffer
	body.ReadFrom(p.Body)
	return to[0].Address, body.String()
}

// TestDigestSends: one mail per recipient of the domains with something
// to report, piped to the sendmail command; a recipient whose mail fails
// is reported and makes the exit 1, and the others still go.
func TestDigestSends(t *testing.T) {
	dir := t.TempDir()
	cfg := digestStore(t, dir)
	out := filepath.Join(dir, "out")
	if err := os.Mkdir(out, 0o755); err != nil {
		t.Fatal(err)
	}
	sm := fakeSendmail(t, dir, out)
	var stdout, stderr bytes.Buffer
	code := run([]string{"digest", "-config", cfg, "-sendmail", sm + " -t -i", "-from", "postmaster@mx1.example.co.jp", "-domains", "Example.co.jp"}, &stdout, &stderr)
	if code != 1 || !strings.Contains(stderr.String(), "sekisho digest: fail@example.co.jp: "+sm+": exit status 75: sendmail: fatal: queue file write error") {
		t.Errorf("exit %d, want 1 and fail@ reported\n%s", code, stderr.String())
	}
	if stdout.Len() != 0 {
		t.Errorf("output on stdout: %s", stdout.String())
	}
	files, _ := filepath.Glob(filepath.Join(out, "mail.*"))
	bodies := map[string]string{}
	for _, f := range files {
		b, err := os.ReadFile(f)
		if err != nil {
			t.Fatal(err)
		}
		to, body := readMail(t, b)
		bodies[to] = body
	}
	var got []string
	for to := range bodies {
		got = append(got, to)
	}
	slices.Sort(got)
	if want := []string{"sato@example.co.jp", "suzuki@example.co.jp"}; !slices.Equal(got, want) {
		t.Fatalf("digests to %v, want %v", got, want)
	}
	// The reject whose subject names quarantine is listed once.
	if b := bodies["suzuki@example.co.jp"]; strings.Count(b, "[refused]") != 1 || strings.Count(b, "[held]") != 1 ||
		!strings.Contains(b, "御見積書の件") || !strings.Contains(b, "reject: quarantine me") {
		t.Errorf("suzuki's digest:\n%s", b)
	}
	if b := bodies["sato@example.co.jp"]; strings.Count(b, "[held]") != 1 || strings.Contains(b, "[refused]") {
		t.Errorf("sato's digest:\n%s", b)
	}
}

// TestDigestDryRun: the mails go to stdout as an mbox, and nothing is run.
func TestDigestDryRun(t *testing.T) {
	dir := t.TempDir()
	cfg := digestStore(t, dir)
	var stdout, stderr bytes.Buffer
	code := run([]string{"digest", "-config", cfg, "-sendmail", filepath.Join(dir, "none"), "-from", "postmaster@example.co.jp", "-lang", "ja", "-dry-run"}, &stdout, &stderr)
	if code != 0 {
		t.Fatalf("exit %d\n%s", code, stderr.String())
	}
	msgs := strings.Split(stdout.String(), "\nFrom postmaster@example.co.jp ")
	if len(msgs) != 4 || !strings.HasPrefix(msgs[0], "From postmaster@example.co.jp ") {
		t.Fatalf("%d mails, want 4 (every domain):\n%s", len(msgs), stdout.String())
	}
	var to []string
	for _, m := range msgs {
		_, m, _ = strings.Cut(m, "\n")
		addr, body := readMail(t, []byte(m))
		to = append(to, addr)
		if !strings.Contains(body, "様") || strings.Contains(body, "Subject") {
			t.Errorf("not in Japanese only:\n%s", body)
		}
	}
	if want := []string{"fail@example.co.jp", "sato@example.co.jp", "suzuki@example.co.jp", "user@example.com"}; !slices.Equal(to, want) {
		t.Errorf("digests to %v, want %v", to, want)
	}
}

// TestDigestUsage: bad flags exit 2, a configuration without a history 1,
// and nothing to report 0 with no mail.
func TestDigestUsage(t *testing.T) {
	dir := t.TempDir()
	cfg := digestStore(t, dir)
	noHistory := filepath.Join(dir, "none.toml")
	if err := os.WriteFile(noHistory, []byte("mode = \"enforce\"\n"), 0o644); err != nil {
		t.Fatal(err)
	}
	for _, c := range []struct {
		args []string
		code int
		err  string
	}{
		{[]string{"-config", cfg, "-lang", "fr"}, 2, "-lang"},
		{[]string{"-config", cfg, "-since", "yesterday"}, 2, "-since"},
		{[]string{"-config", cfg, "-since", ""}, 2, "-since"},
		{[]string{"-config", cfg, "-from", "postmaster@example.co.jp\r\nBcc: x@example.com"}, 2, "-from"},
		{[]string{"-config", cfg, "-sendmail", " "}, 2, "-sendmail"},
		{[]string{"-config", cfg, "extra"}, 2, "usage"},
		{[]string{"-config", noHistory, "-domains", "example.co.jp"}, 1, "no [history] store"},
		{[]string{"-config", cfg}, 2, "-domains: name the company's domains"},
		{[]string{"-config", cfg, "-domains", " , "}, 2, "-domains: name the company's domains"},
		{[]string{"-config", cfg, "-from", "postmaster@example.co.jp", "-domains", "example.jp", "-sendmail", filepath.Join(dir, "none")}, 0, ""},
	} {
		var stdout, stderr bytes.Buffer
		code := run(append([]string{"digest"}, c.args...), &stdout, &stderr)
		if code != c.code || !strings.Contains(stderr.String(), c.err) || c.err == "" && stderr.Len() > 0 {
			t.Errorf("%q: exit %d, want %d with %q\n%s", c.args, code, c.code, c.err, stderr.String())
		}
	}
}

// TestDigestState: with -state, a run reports from where the last one
// ended (not -since), up to a minute ago, and records where it ended; a
// run right after reports nothing; a dry run records nothing; a state
// that cannot be read, or lies in the future, stops the run.
func TestDigestState(t *testing.T) {
	dir := t.TempDir()
	cfg := digestStore(t, dir)
	out := filepath.Join(dir, "out")
	if err := os.Mkdir(out, 0o755); err != nil {
		t.Fatal(err)
	}
	sm := fakeSendmail(t, dir, out)
	state := filepath.Join(dir, "last-run")
	digest := func(extra ...string) (int, string) {
		var stdout, stderr bytes.Buffer
		args := append([]string{"digest", "-config", cfg, "-sendmail", sm + " -t -i", "-from", "postmaster@mx1.example.co.jp",
			"-domains", "example.co.jp", "-since", "7d", "-state", state}, extra...)
		code := run(args, &stdout, &stderr)
		return code, stderr.String()
	}
	sent := func() []string {
		files, _ := filepath.Glob(filepath.Join(out, "mail.*"))
		var to []string
		for _, f := range files {
			b, err := os.ReadFile(f)
			if err != nil {
				t.Fatal(err)
			}
			addr, _ := readMail(t, b)
			to = append(to, addr)
			os.Remove(f)
		}
		slices.Sort(to)
		return to
	}

	// The last run ended 150 minutes ago: the decisions of 1 and 2 hours
	// ago are reported, those of 3 hours ago (fail@) and older are not,
	// although -since 7d would take them.
	if err := os.WriteFile(state, []byte(time.Now().Add(-150*time.Minute).UTC().Format(time.RFC3339Nano)+"\n"), 0o600); err != nil {
		t.Fatal(err)
	}
	before := time.Now()
	if code, errs := digest(); code != 0 {
		t.Fatalf("exit %d\n%s", code, errs)
	}
	if got, want := sent(), []string{"sato@example.co.jp", "suzuki@example.co.jp"}; !slices.Equal(got, want) {
		t.Errorf("digests to %v, want %v", got, want)
	}
	b, err := os.ReadFile(state)
	if err != nil {
		t.Fatal(err)
	}
	ended, err := time.Parse(time.RFC3339Nano, strings.TrimSpace(string(b)))
	if err != nil || ended.Before(before.Add(-digestSettle)) || ended.After(time.Now().Add(-digestSettle)) {
		t.Errorf("state %q (%v), want a minute before the run", b, err)
	}

	// Right after: nothing new to report, and the state does not go back.
	if code, errs := digest(); code != 0 || len(sent()) != 0 {
		t.Errorf("second run: exit %d, digests sent\n%s", code, errs)
	}
	if b2, _ := os.ReadFile(state); string(b2) < string(b) {
		t.Errorf("state went back: %q after %q", b2, b)
	}

	// No state yet: -since decides; a dry run records nothing.
	os.Remove(state)
	var stdout, stderr bytes.Buffer
	if code := run([]string{"digest", "-config", cfg, "-since", "150m", "-state", state, "-dry-run"}, &stdout, &stderr); code != 0 ||
		strings.Count(stdout.String(), "\nTo: ") != 2 {
		t.Errorf("dry run: exit %d, %d mails\n%s", code, strings.Count(stdout.String(), "\nTo: "), stderr.String())
	}
	if _, err := os.Stat(state); !os.IsNotExist(err) {
		t.Errorf("a dry run wrote the state: %v", err)
	}

	for _, bad := range []struct{ content, err string }{
		{"yesterday\n", "cannot parse"},
		{time.Now().Add(time.Hour).UTC().Format(time.RFC3339) + "\n", "the clock was set back?"},
	} {
		if err := os.WriteFile(state, []byte(bad.content), 0o600); err != nil {
			t.Fatal(err)
		}
		if code, errs := digest(); code != 1 || !strings.Contains(errs, "sekisho digest: -state: "+state) || !strings.Contains(errs, bad.err) {
			t.Errorf("state %q: exit %d\n%s", bad.content, code, errs)
		}
		if len(sent()) != 0 {
			t.Errorf("state %q: digests sent", bad.content)
		}
	}
}

// TestDigestStateMicroseconds: the history keeps microseconds, so a state
// finer than that (a run ending within the microsecond of a decision)
// must not leave the decision out of both runs.
func TestDigestStateMicroseconds(t *testing.T) {
	dir := t.TempDir()
	cfg := digestStore(t, dir)
	s, err := history.Open(filepath.Join(dir, "history.db"), false)
	if err != nil {
		t.Fatal(err)
	}
	at := time.Now().Add(-10 * time.Minute).Truncate(time.Microsecond)
	err = s.Add(context.Background(), []history.Record{{Time: at, Sender: "x@example.net", Rcpts: []string{"edge@example.co.jp"}, Action: "reject", Rule: "r"}})
	s.Close()
	if err != nil {
		t.Fatal(err)
	}
	state := filepath.Join(dir, "last-run")
	if err := os.WriteFile(state, []byte(at.Add(500*time.Nanosecond).UTC().Format(time.RFC3339Nano)+"\n"), 0o600); err != nil {
		t.Fatal(err)
	}
	var stdout, stderr bytes.Buffer
	if code := run([]string{"digest", "-config", cfg, "-state", state, "-dry-run"}, &stdout, &stderr); code != 0 || !strings.Contains(stdout.String(), "edge@example.co.jp") {
		t.Errorf("exit %d; the decision at the state's microsecond is not reported:\n%s\n%s", code, stdout.String(), stderr.String())
	}
}
