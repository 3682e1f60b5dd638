package policy_test

import (
	"context"
	"log/slog"
	"strings"
	"testing"

	"github.com/prometheus/client_golang/prometheus/testutil"
	"github.com/prometheus/common/expfmt"

	"github.com/sekisho/sekisho/policy"
	"github.com/sekisho/sekisho/policy/metrics"
)

// samples returns the samples of the named metrics, one per line.
func samples(t *testing.T, m *metrics.Metrics, names ...string) string {
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

// TestEngineMetrics: the engine counts each decision by rule, action and
// stage (dry runs apart), each rule error, and each message with a part
// left uninspected by reason; `scan`'s extra runs (Explain) count nothing.
func TestEngineMetrics(t *testing.T) {
	m := metrics.New("test")
	env := &policy.Env{Logger: slog.New(slog.DiscardHandler), Metrics: m}
	e := rtEngine(t, `
[rules.send_only]
addresses = ["noreply@*"]
[rules.recipient_limit]
max = 5
dry_run = true
[rules.attachment_extension]
[rules.virus]
address = "inet:127.0.0.1:1"
timeout = "1s"
on_error = "accept"
[[policy]]
name = "design"
recipients = ["*@design.example.co.jp"]
[policy.rules.attachment_extension]
enabled = false
`, env)
	ctx := context.Background()
	m1 := rtFileMessage(t, "corrupt-zip.eml")
	m1.Rcpts = nil
	m1.Trace()
	for _, rc := range []string{"a@example.co.jp", "noreply@example.co.jp", "b@design.example.co.jp", "c@example.co.jp", "d@example.co.jp", "e@example.co.jp", "f@example.co.jp", "g@example.co.jp"} {
		m1.Rcpt = rc
		if v := e.Run(ctx, policy.StageRcpt, m1); v.Action == policy.Continue {
			m1.Rcpts = append(m1.Rcpts, rc)
		}
	}
	e.Run(ctx, policy.StageEOH, m1)
	e.Finish(ctx, m1)
	e.Explain(ctx, m1, m1.Rcpts)
	// clamd is down: an error, on_error accept.
	e.Finish(ctx, rtFileMessage(t, "iso2022jp.eml", "a@example.co.jp"))
	want := `sekisho_decisions_total{action="reject",rule="send_only",stage="rcpt"} 1
sekisho_decisions_total{action="reject",rule="uninspectable",stage="eob"} 1
sekisho_decisions_total{action="tempfail",rule="policy",stage="rcpt"} 1
sekisho_dry_run_decisions_total{action="reject",rule="recipient_limit",stage="rcpt"} 1
sekisho_rule_errors_total{rule="virus"} 1
sekisho_uninspectable_messages_total{reason="archive"} 1`
	got := samples(t, m, "sekisho_decisions_total", "sekisho_dry_run_decisions_total", "sekisho_rule_errors_total", "sekisho_uninspectable_messages_total")
	if got != want {
		t.Errorf("metrics:\n%s\nwant:\n%s", got, want)
	}
}

// rtMetricsEnv is an Env of its own that counts into fresh metrics.
func rtMetricsEnv() (*policy.Env, *metrics.Metrics) {
	m := metrics.New("test")
	return &policy.Env{Logger: slog.New(slog.DiscardHandler), Metrics: m}, m
}

// rtMetricsEqual compares the named metrics of m with the text exposition
// want (without HELP lines: only the samples and their TYPE matter here).
func rtMetricsEqual(t *testing.T, m *metrics.Metrics, want string, names ...string) {
	t.Helper()
	got, err := testutil.CollectAndFormat(m.Registry(), expfmt.TypeTextPlain, names...)
	if err != nil {
		t.Fatal(err)
	}
	var samples []string
	for _, line := range strings.Split(string(got), "\n") {
		if line != "" && !strings.HasPrefix(line, "#") {
			samples = append(samples, line)
		}
	}
	if g, w := strings.Join(samples, "\n"), strings.TrimSpace(want); g != w {
		t.Errorf("metrics:\n%s\nwant:\n%s", g, w)
	}
}
