package policy_test

import (
	"context"
	"fmt"
	"log/slog"
	"strings"
	"testing"

	"github.com/prometheus/client_golang/prometheus/testutil"
	"github.com/prometheus/common/expfmt"

	"github.com/sekisho/sekisho/policy"
	"github.com/sekisho/sekisho/policy/internal/testkit"
	"github.com/sekisho/sekisho/policy/metrics"
)

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

// TestMetricsDNSBL: the rule's lookups are counted by zone through the
// Env's resolver.
func TestMetricsDNSBL(t *testing.T) {
	srv := rtStartDNS(t, map[string]testkit.Record{rtQname("bl.example"): {A: []string{"127.0.0.2"}}})
	env, m := rtMetricsEnv()
	e := rtEngine(t, fmt.Sprintf("[rules.dnsbl]\nresolver = %q\nzones = [{ zone = \"bl.example\" }]\n", srv.Addr), env)
	rtConnect(e, rtListedClient)
	rtConnect(e, rtListedClient)
	rtConnect(e, rtCleanClient)
	rtMetricsEqual(t, m, `
sekisho_dnsbl_cache_total{result="hit",zone="bl.example"} 1
sekisho_dnsbl_cache_total{result="miss",zone="bl.example"} 2
sekisho_dnsbl_lookups_total{result="clean",zone="bl.example"} 1
sekisho_dnsbl_lookups_total{result="listed",zone="bl.example"} 2
`, "sekisho_dnsbl_cache_total", "sekisho_dnsbl_lookups_total")
}

// TestMetricsVirus: a verdict is timed, a scan without one is counted by
// kind, once per message, in both scan modes.
func TestMetricsVirus(t *testing.T) {
	raw := rtVirusMail(t, "a harmless file")
	scan := func(t *testing.T, env *policy.Env, addr, mode string) {
		t.Helper()
		e := rtEngine(t, fmt.Sprintf("[rules.virus]\naddress = \"inet:%s\"\ntimeout = \"5s\"\nscan = %q\nscan_text = true\n", addr, mode), env)
		msg := rtBytesMessage(t, raw)
		rtStream(e, msg, raw, 100)
		e.Run(context.Background(), policy.StageEOB, msg)
		msg.Close()
	}
	env, m := rtMetricsEnv()
	clean := rtStartClamd(t, "")
	scan(t, env, clean.addr, "message")
	scan(t, env, clean.addr, "parts")
	scan(t, env, rtClosedAddr(t), "message")
	scan(t, env, rtClosedAddr(t), "parts")
	scan(t, env, rtStartClamd(t, "INSTREAM size limit exceeded. ERROR").addr, "message")
	rtMetricsEqual(t, m, `
sekisho_clamd_errors_total{kind="connect"} 2
sekisho_clamd_errors_total{kind="other"} 0
sekisho_clamd_errors_total{kind="protocol"} 0
sekisho_clamd_errors_total{kind="size_limit"} 1
sekisho_clamd_errors_total{kind="timeout"} 0
`, "sekisho_clamd_errors_total")
	if n := testutil.CollectAndCount(m.Registry(), "sekisho_clamd_scan_duration_seconds"); n != 1 {
		t.Fatalf("%d histograms, want 1", n)
	}
	got, err := testutil.CollectAndFormat(m.Registry(), expfmt.TypeTextPlain, "sekisho_clamd_scan_duration_seconds")
	if err != nil {
		t.Fatal(err)
	}
	if !strings.Contains(string(got), "sekisho_clamd_scan_duration_seconds_count 2\n") {
		t.Errorf("want 2 verdicts timed (one per mode):\n%s", got)
	}
}

// TestMetricsRateLimitStore: each failed store call is counted by
// operation, whatever the rule's on_error makes of it.
func TestMetricsRateLimitStore(t *testing.T) {
	env, m := rtMetricsEnv()
	defer env.Close()
	e := rtEngine(t, "[rules.rate_limit]\nlimit = 3\nstore = \"redis://"+rtClosedAddr(t)+"/0\"\ntimeout = \"200ms\"\non_error = \"accept\"\n", env)
	_, msg := rtRcpt(e, rtAliceToBob)
	e.Finish(context.Background(), msg)
	_, msg = rtRcpt(e, rtAliceToBob)
	rtMetricsEqual(t, m, `
sekisho_ratelimit_store_errors_total{op="add"} 1
sekisho_ratelimit_store_errors_total{op="count"} 2
`, "sekisho_ratelimit_store_errors_total")
	msg.Close()
}
