package policy_test

import (
	"bytes"
	"io"
	"log/slog"
	"net/netip"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/sekisho/sekisho/policy"
)

// rtMimeDir holds the crafted messages shared with package policy/mime.
const rtMimeDir = "../testdata/mime"

// rtClient is an outside SMTP client that no configuration here exempts.
var rtClient = policy.Client{Addr: netip.MustParseAddr("203.0.113.25"), Name: "mail.example.net", Helo: "mail.example.net"}

// rtEnv returns an Env with a silent logger.
func rtEnv() *policy.Env { return &policy.Env{Logger: slog.New(slog.DiscardHandler)} }

// rtEngine parses a configuration and builds its engine on env (a fresh
// silent one when nil).
func rtEngine(t testing.TB, cfg string, env *policy.Env) *policy.Engine {
	t.Helper()
	c, err := policy.Parse("t.toml", []byte(cfg))
	if err != nil {
		t.Fatalf("parse:\n%s\nerror: %v", cfg, err)
	}
	if env == nil {
		env = rtEnv()
	}
	e, err := policy.NewEngine(c, env)
	if err != nil {
		t.Fatalf("engine: %v", err)
	}
	return e
}

// rtFileMessage returns a message at end of body whose raw form is a file
// of testdata/mime, addressed to rcpts (one Japanese recipient when none).
func rtFileMessage(t testing.TB, name string, rcpts ...string) *policy.Message {
	t.Helper()
	path := filepath.Join(rtMimeDir, name)
	fi, err := os.Stat(path)
	if err != nil {
		t.Fatal(err)
	}
	m := rtEnvelope(rcpts...)
	m.Headers = rtHeaders(t, rtReadFile(t, name))
	m.Raw = func() (io.ReadCloser, error) { return os.Open(path) }
	m.Size = fi.Size()
	return m
}

// rtBytesMessage returns a message at end of body whose raw form is raw.
func rtBytesMessage(t testing.TB, raw []byte, rcpts ...string) *policy.Message {
	t.Helper()
	m := rtEnvelope(rcpts...)
	m.Headers = rtHeaders(t, raw)
	m.Raw = func() (io.ReadCloser, error) { return io.NopCloser(bytes.NewReader(raw)), nil }
	m.Size = int64(len(raw))
	return m
}

// rtEnvelope returns a message with a client, a sender and recipients.
func rtEnvelope(rcpts ...string) *policy.Message {
	if len(rcpts) == 0 {
		rcpts = []string{"tanaka@example.co.jp"}
	}
	return &policy.Message{Client: rtClient, Sender: "sender@example.net", Rcpts: rcpts}
}

func rtReadFile(t testing.TB, name string) []byte {
	t.Helper()
	b, err := os.ReadFile(filepath.Join(rtMimeDir, name))
	if err != nil {
		t.Fatal(err)
	}
	return b
}

// rtHeaders returns the header fields of a raw message as the MTA passes
// them on: names and raw values, still encoded and folded.
func rtHeaders(t testing.TB, raw []byte) []policy.Header {
	t.Helper()
	text := strings.ReplaceAll(string(raw), "\r\n", "\n")
	if i := strings.Index(text, "\n\n"); i >= 0 {
		text = text[:i]
	}
	var out []policy.Header
	for _, line := range strings.Split(text, "\n") {
		if line == "" {
			continue
		}
		if (line[0] == ' ' || line[0] == '\t') && len(out) > 0 {
			out[len(out)-1].Value += "\n" + line
			continue
		}
		name, value, ok := strings.Cut(line, ":")
		if !ok {
			t.Fatalf("not a header line: %q", line)
		}
		out = append(out, policy.Header{Name: name, Value: strings.TrimSpace(value)})
	}
	return out
}

// rtExpect checks a final verdict: its rule, action and reply, and that
// the reason contains every part of reason.
func rtExpect(t testing.TB, v policy.Verdict, rule string, action policy.Action, reply string, reason ...string) {
	t.Helper()
	if v.Rule != rule || v.Action != action || v.Reply.String() != reply {
		t.Errorf("verdict = %s %s %q (reason %q), want %s %s %q", v.Rule, v.Action, v.Reply.String(), v.Reason, rule, action, reply)
	}
	for _, r := range reason {
		if !strings.Contains(v.Reason, r) {
			t.Errorf("reason %q does not contain %q", v.Reason, r)
		}
	}
}

// rtExpectContinue checks that no rule decided.
func rtExpectContinue(t testing.TB, v policy.Verdict) {
	t.Helper()
	if v.Action != policy.Continue || v.Rule != "" {
		t.Errorf("verdict = %s %s %q (reason %q), want continue", v.Rule, v.Action, v.Reply.String(), v.Reason)
	}
}
