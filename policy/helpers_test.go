package policy_test

import (
	"bytes"
	"context"
	"encoding/base64"
	"io"
	"log/slog"
	"net/netip"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/prometheus/client_golang/prometheus/testutil"
	"github.com/prometheus/common/expfmt"
	"golang.org/x/text/encoding/japanese"

	"github.com/sekisho/sekisho/policy"
	"github.com/sekisho/sekisho/policy/internal/testkit"
	"github.com/sekisho/sekisho/policy/metrics"
)

// The helpers of the package's tests: an Env and an engine, a message at a
// stage, the stages as the MTA drives them, what a verdict must be, and
// the mail the tests write. A rule's own helpers are in its test file.

// mimeDir holds the crafted messages shared with package policy/mime.
const mimeDir = "../testdata/mime"

// outsider is an outside SMTP client that no configuration here exempts.
var outsider = policy.Client{Addr: netip.MustParseAddr("203.0.113.25"), Name: "mail.example.net", Helo: "mail.example.net"}

// quietEnv returns an Env of its own with a silent logger.
func quietEnv() *policy.Env { return &policy.Env{Logger: slog.New(slog.DiscardHandler)} }

// logEnv returns an Env of its own that logs text lines to w.
func logEnv(w io.Writer) *policy.Env {
	return &policy.Env{Logger: slog.New(slog.NewTextHandler(w, nil))}
}

// clockEnv returns a silent Env of its own and the clock it reads, which
// starts at start and moves when the test moves it.
func clockEnv(start time.Time) (*policy.Env, *testkit.Clock) {
	clock := testkit.NewClock(start)
	env := quietEnv()
	env.Now = clock.Now
	return env, clock
}

// metricsEnv returns a silent Env of its own that counts into fresh
// metrics.
func metricsEnv() (*policy.Env, *metrics.Metrics) {
	env := quietEnv()
	env.Metrics = metrics.New("test")
	return env, env.Metrics
}

// newEngine parses a configuration and builds its engine on env (a fresh
// quiet one when nil).
func newEngine(t testing.TB, toml string, env *policy.Env) *policy.Engine {
	t.Helper()
	c, err := policy.Parse("t.toml", []byte(toml))
	if err != nil {
		t.Fatalf("parse:\n%s\nerror: %v", toml, err)
	}
	return configEngine(t, c, env)
}

// configEngine builds the engine of a parsed configuration on env (a fresh
// quiet one when nil).
func configEngine(t testing.TB, c *policy.Config, env *policy.Env) *policy.Engine {
	t.Helper()
	if env == nil {
		env = quietEnv()
	}
	e, err := policy.NewEngine(c, env)
	if err != nil {
		t.Fatalf("engine: %v", err)
	}
	return e
}

// envelope returns a message from outsider with a sender and recipients
// (one Japanese recipient when none).
func envelope(rcpts ...string) *policy.Message {
	if len(rcpts) == 0 {
		rcpts = []string{"tanaka@example.co.jp"}
	}
	return &policy.Message{Client: outsider, Sender: "sender@example.net", Rcpts: rcpts}
}

// headerMessage returns an envelope at end of headers: the header fields
// are known, the body is not (Raw is nil).
func headerMessage(headers ...policy.Header) *policy.Message {
	m := envelope()
	m.Headers = append([]policy.Header{
		{Name: "From", Value: "sender@example.net"},
		{Name: "To", Value: "tanaka@example.co.jp"},
	}, headers...)
	return m
}

// fileMessage returns an envelope at end of body whose raw form is a file
// of testdata/mime.
func fileMessage(t testing.TB, name string, rcpts ...string) *policy.Message {
	t.Helper()
	path := filepath.Join(mimeDir, name)
	fi, err := os.Stat(path)
	if err != nil {
		t.Fatal(err)
	}
	m := envelope(rcpts...)
	m.Headers = headersOf(t, mimeFile(t, name))
	m.Raw = func() (io.ReadCloser, error) { return os.Open(path) }
	m.Size = fi.Size()
	return m
}

// rawMessage returns an envelope at end of body whose raw form is raw.
func rawMessage(t testing.TB, raw []byte, rcpts ...string) *policy.Message {
	t.Helper()
	m := envelope(rcpts...)
	m.Headers = headersOf(t, raw)
	m.Raw = func() (io.ReadCloser, error) { return io.NopCloser(bytes.NewReader(raw)), nil }
	m.Size = int64(len(raw))
	return m
}

// mimeFile returns a file of testdata/mime.
func mimeFile(t testing.TB, name string) []byte {
	t.Helper()
	b, err := os.ReadFile(filepath.Join(mimeDir, name))
	if err != nil {
		t.Fatal(err)
	}
	return b
}

// headersOf returns the header fields of a raw message as the MTA passes
// them on: names and raw values, still encoded and folded.
func headersOf(t testing.TB, raw []byte) []policy.Header {
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

// rcptTo runs the RCPT stage for each recipient in turn, as the MTA does:
// a recipient that is refused is not added to the message. It returns the
// verdict of each.
func rcptTo(e *policy.Engine, m *policy.Message, rcpts ...string) []policy.Verdict {
	var out []policy.Verdict
	for _, r := range rcpts {
		m.Rcpt = r
		v := e.Run(context.Background(), policy.StageRcpt, m)
		if !v.Action.Final() {
			m.Rcpts = append(m.Rcpts, r)
		}
		out = append(out, v)
	}
	return out
}

// feed passes raw to the engine as the milter does: the streams are
// opened, then fed in pieces of its own (which Feed counts as the size).
func feed(e *policy.Engine, m *policy.Message, raw []byte, piece int) {
	m.Size = 0
	e.OpenStreams(context.Background(), m)
	for len(raw) > 0 {
		n := min(piece, len(raw))
		e.Feed(m, bytes.Clone(raw[:n]))
		raw = raw[n:]
	}
}

// expect checks a final verdict: its rule, action and reply, and that the
// reason contains every part of reason.
func expect(t testing.TB, v policy.Verdict, rule string, action policy.Action, reply string, reason ...string) {
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

// expectContinue checks that no rule decided.
func expectContinue(t testing.TB, v policy.Verdict) {
	t.Helper()
	if v.Action != policy.Continue || v.Rule != "" {
		t.Errorf("verdict = %s %s %q (reason %q), want continue", v.Rule, v.Action, v.Reply.String(), v.Reason)
	}
}

// metricSamples returns the samples of the named metrics of m, one per
// line, without HELP and TYPE lines.
func metricSamples(t testing.TB, m *metrics.Metrics, names ...string) string {
	t.Helper()
	got, err := testutil.CollectAndFormat(m.Registry(), expfmt.TypeTextPlain, names...)
	if err != nil {
		t.Fatal(err)
	}
	var out []string
	for _, line := range strings.Split(string(got), "\n") {
		if line != "" && !strings.HasPrefix(line, "#") {
			out = append(out, line)
		}
	}
	return strings.Join(out, "\n")
}

// expectMetrics compares the samples of the named metrics of m with want.
func expectMetrics(t testing.TB, m *metrics.Metrics, want string, names ...string) {
	t.Helper()
	if got, w := metricSamples(t, m, names...), strings.TrimSpace(want); got != w {
		t.Errorf("metrics:\n%s\nwant:\n%s", got, w)
	}
}

// attachment is one attachment of a multipartMail.
type attachment struct {
	ctype    string
	filename string // written as an RFC 2231 UTF-8 parameter when not ASCII
	data     []byte
}

// multipartMail builds a multipart message: subject is the raw header
// value, text the UTF-8 body text, each attachment in base64.
func multipartMail(subject, text string, parts ...attachment) []byte {
	var b strings.Builder
	b.WriteString("From: sender@example.net\r\nTo: tanaka@example.co.jp\r\n")
	if subject != "" {
		b.WriteString("Subject: " + subject + "\r\n")
	}
	b.WriteString("MIME-Version: 1.0\r\nContent-Type: multipart/mixed; boundary=\"rt-b\"\r\n\r\n")
	b.WriteString("--rt-b\r\nContent-Type: text/plain; charset=utf-8\r\nContent-Transfer-Encoding: base64\r\n\r\n")
	writeBase64(&b, []byte(text))
	for _, p := range parts {
		b.WriteString("--rt-b\r\nContent-Type: " + p.ctype + "\r\nContent-Transfer-Encoding: base64\r\n")
		if isASCII(p.filename) {
			b.WriteString("Content-Disposition: attachment; filename=\"" + p.filename + "\"\r\n\r\n")
		} else {
			b.WriteString("Content-Disposition: attachment; filename*=UTF-8''" + percentEncode(p.filename) + "\r\n\r\n")
		}
		writeBase64(&b, p.data)
	}
	b.WriteString("--rt-b--\r\n")
	return []byte(b.String())
}

// attachmentMail is a mail with a UTF-8 subject, a UTF-8 text and one
// attachment of type ctype named name, as PPAP mail comes.
func attachmentMail(subject, text, ctype, name string, data []byte) []byte {
	return []byte("Subject: =?UTF-8?B?" + base64.StdEncoding.EncodeToString([]byte(subject)) + "?=\r\n" +
		"MIME-Version: 1.0\r\nContent-Type: multipart/mixed; boundary=b\r\n\r\n" +
		"--b\r\nContent-Type: text/plain; charset=utf-8\r\n\r\n" + text + "\r\n" +
		"--b\r\nContent-Type: " + ctype + "; name=" + name + "\r\nContent-Transfer-Encoding: base64\r\n\r\n" +
		base64.StdEncoding.EncodeToString(data) + "\r\n--b--\r\n")
}

// writeBase64 writes data in base64 lines of 76 characters.
func writeBase64(b *strings.Builder, data []byte) {
	s := base64.StdEncoding.EncodeToString(data)
	for len(s) > 76 {
		b.WriteString(s[:76] + "\r\n")
		s = s[76:]
	}
	b.WriteString(s + "\r\n")
}

// percentEncode writes s as an RFC 2231 value.
func percentEncode(s string) string {
	var b strings.Builder
	for _, c := range []byte(s) {
		if c < 0x80 && (c >= '0' && c <= '9' || c >= 'a' && c <= 'z' || c >= 'A' && c <= 'Z' || c == '.') {
			b.WriteByte(c)
		} else {
			b.WriteString("%" + strings.ToUpper(string("0123456789abcdef"[c>>4])+string("0123456789abcdef"[c&15])))
		}
	}
	return b.String()
}

func isASCII(s string) bool {
	for i := 0; i < len(s); i++ {
		if s[i] >= 0x80 {
			return false
		}
	}
	return true
}

// jis returns s in ISO-2022-JP, as Japanese mail software sends it.
func jis(t testing.TB, s string) string {
	t.Helper()
	out, err := japanese.ISO2022JP.NewEncoder().String(s)
	if err != nil {
		t.Fatal(err)
	}
	return out
}

// jisWord returns s as an RFC 2047 ISO-2022-JP encoded word, as Japanese
// mail clients write subjects.
func jisWord(t testing.TB, s string) string {
	t.Helper()
	return "=?ISO-2022-JP?B?" + base64.StdEncoding.EncodeToString([]byte(jis(t, s))) + "?="
}

// pdfHead is the start of a PDF document; peHead that of a Windows
// executable.
var (
	pdfHead = []byte("%PDF-1.4\n1 0 obj << /Type /Catalog >> endobj\n%%EOF\n")
	peHead  = append([]byte("MZ\x90\x00\x03\x00\x00\x00"), bytes.Repeat([]byte{0}, 56)...)
)

// japaneseText is a body that no text rule objects to.
const japaneseText = "いつもお世話になっております。\r\n見積書をお送りします。ご確認ください。\r\n"
