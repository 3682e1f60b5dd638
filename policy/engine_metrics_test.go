package policy_test

import (
	"context"
	"testing"

	"github.com/sekisho/sekisho/policy"
)

// TestEngineMetrics: the engine counts each decision by rule, action and
// stage (dry runs apart), each rule error, and each message with a part
// left uninspected by reason; `scan`'s extra runs (Explain) count nothing.
func TestEngineMetrics(t *testing.T) {
	env, m := metricsEnv()
	e := newEngine(t, `
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
	m1 := fileMessage(t, "corrupt-zip.eml")
	m1.Rcpts = nil
	m1.Trace()
	rcptTo(e, m1, "a@example.co.jp", "noreply@example.co.jp", "b@design.example.co.jp", "c@example.co.jp", "d@example.co.jp", "e@example.co.jp", "f@example.co.jp", "g@example.co.jp")
	e.Run(ctx, policy.StageEOH, m1)
	e.Finish(ctx, m1)
	e.Explain(ctx, m1, m1.Rcpts)
	// clamd is down: an error, on_error accept.
	e.Finish(ctx, fileMessage(t, "iso2022jp.eml", "a@example.co.jp"))
	want := `sekisho_decisions_total{action="reject",rule="send_only",stage="rcpt"} 1
sekisho_decisions_total{action="reject",rule="uninspectable",stage="eob"} 1
sekisho_decisions_total{action="tempfail",rule="policy",stage="rcpt"} 1
sekisho_dry_run_decisions_total{action="reject",rule="recipient_limit",stage="rcpt"} 1
sekisho_rule_errors_total{rule="virus"} 1
sekisho_uninspectable_messages_total{reason="archive"} 1`
	got := metricSamples(t, m, "sekisho_decisions_total", "sekisho_dry_run_decisions_total", "sekisho_rule_errors_total", "sekisho_uninspectable_messages_total")
	if got != want {
		t.Errorf("metrics:\n%s\nwant:\n%s", got, want)
	}
}
