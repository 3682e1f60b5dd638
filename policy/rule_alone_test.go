package policy_test

import (
	"bytes"
	"context"
	"fmt"
	"log/slog"
	"strings"
	"testing"

	"github.com/sekisho/sekisho/policy"
	"github.com/sekisho/sekisho/policy/internal/testkit"
)

// TestEachRuleAlone runs every rule as the only one of its configuration,
// through the stages the MTA drives, on ordinary mail with an attachment:
// none may fail. A rule that reads what the engine makes only when asked
// (the inspection, its stream) and does not declare it fails here, where
// a configuration of several rules would hide it behind another that
// asked.
func TestEachRuleAlone(t *testing.T) {
	clamd := rtStartClamd(t, "")
	dns := rtStartDNS(t, map[string]testkit.Record{})
	required := map[string]string{
		"send_only":  `addresses = ["noreply@example.co.jp"]`,
		"rate_limit": `limit = 100`,
		"virus":      fmt.Sprintf("address = \"inet:%s\"", clamd.addr),
		"dnsbl":      fmt.Sprintf("resolver = %q\nzones = [{ zone = \"bl.example\" }]", dns.Addr),
	}
	raw := rtPartsMail(t, "お世話になっております。", "application/pdf", "%PDF-1.7 見積書")
	for _, name := range policy.RuleNames {
		for _, mode := range []string{"", "dry_run = true"} {
			t.Run(name+" "+mode, func(t *testing.T) {
				var logs bytes.Buffer
				env := rtEnv()
				env.Logger = slog.New(slog.NewTextHandler(&logs, nil))
				e := rtEngine(t, fmt.Sprintf("[rules.%s]\n%s\n%s\n", name, required[name], mode), env)
				ctx := context.Background()
				m := &policy.Message{Client: rtClient}
				for _, st := range []policy.Stage{policy.StageConnect, policy.StageHelo} {
					rtExpectContinue(t, e.Run(ctx, st, m))
				}
				m.Reset()
				m.Sender = "sender@example.net"
				rtExpectContinue(t, e.Run(ctx, policy.StageMail, m))
				m.Rcpt = "tanaka@example.co.jp"
				rtExpectContinue(t, e.Run(ctx, policy.StageRcpt, m))
				m.Rcpts = append(m.Rcpts, m.Rcpt)
				m.Headers = rtHeaders(t, raw)
				rtStream(e, m, raw, 4096)
				rtExpectContinue(t, e.Run(ctx, policy.StageEOH, m))
				o := e.Finish(ctx, m)
				m.Close()
				if !o.Accepted() || strings.Contains(o.Verdict.Reason, "error") {
					t.Errorf("%s alone: %s %q", name, o.Verdict.Action, o.Verdict.Reason)
				}
				if strings.Contains(logs.String(), "panicked") || strings.Contains(logs.String(), "rule error") {
					t.Errorf("%s alone:\n%s", name, logs.String())
				}
			})
		}
	}
}
