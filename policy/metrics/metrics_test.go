package metrics_test

import (
	"context"
	"io"
	"net"
	"net/http"
	"net/http/httptest"
	"runtime"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/prometheus/client_golang/prometheus/testutil"

	"github.com/sekisho/sekisho/policy/metrics"
)

// TestNil: every method does nothing on a nil *Metrics, so that code
// built without metrics runs unchanged.
func TestNil(t *testing.T) {
	var m *metrics.Metrics
	m.Message("accept")
	m.Decision("send_only", "reject", "rcpt", false)
	m.Decision("send_only", "reject", "rcpt", true)
	m.RuleError("dnsbl")
	m.Uninspected("limit")
	m.StageSeconds("eob", time.Millisecond)
	m.DNSBLLookup("bl.test", "listed")
	m.DNSBLCache("bl.test", true)
	m.ClamdScan(time.Millisecond)
	m.ClamdError("connect")
	m.StoreError("count")
	m.SessionStart()
	m.SessionEnd()
	m.Reload(false)
	if m.Registry() != nil {
		t.Error("a nil Metrics has a registry")
	}
	stop, err := m.Serve("127.0.0.1:0", "", nil)
	if err != nil {
		t.Fatal(err)
	}
	if err := stop(context.Background()); err != nil {
		t.Fatal(err)
	}
	rec := httptest.NewRecorder()
	m.Handler().ServeHTTP(rec, httptest.NewRequest("GET", "/metrics", nil))
	if rec.Code != http.StatusNotFound {
		t.Errorf("nil handler answered %d, want 404", rec.Code)
	}
}

// TestCounts checks each metric's exact value after known calls.
func TestCounts(t *testing.T) {
	m := metrics.New("v1.2.3")
	for range 3 {
		m.Message("accept")
	}
	m.Message("reject")
	m.Message("quarantine")
	m.Decision("send_only", "reject", "rcpt", false)
	m.Decision("send_only", "reject", "rcpt", false)
	m.Decision("dnsbl", "reject", "connect", false)
	m.Decision("send_only", "reject", "rcpt", true)
	m.RuleError("virus")
	m.Uninspected("archive")
	m.Uninspected("archive")
	m.DNSBLLookup("bl.test", "listed")
	m.DNSBLLookup("bl.test", "clean")
	m.DNSBLLookup("bl.test", "clean")
	m.DNSBLLookup("refuse.test", "error")
	m.DNSBLCache("bl.test", false)
	m.DNSBLCache("bl.test", true)
	m.DNSBLCache("bl.test", true)
	m.ClamdError("timeout")
	m.ClamdError("size_limit")
	m.ClamdError("timeout")
	m.StoreError("add")
	m.SessionStart()
	m.SessionStart()
	m.SessionEnd()

	want := `
# HELP sekisho_messages_total Mail transactions by final outcome: accept, reject, tempfail, discard or quarantine. A transaction counts once, when its outcome is final: at end of message, when refused or discarded before, or when it ends with every recipient refused.
# TYPE sekisho_messages_total counter
sekisho_messages_total{outcome="accept"} 3
sekisho_messages_total{outcome="discard"} 0
sekisho_messages_total{outcome="quarantine"} 1
sekisho_messages_total{outcome="reject"} 1
sekisho_messages_total{outcome="tempfail"} 0
# HELP sekisho_decisions_total Decisions of the rules that took effect, by rule, action and stage.
# TYPE sekisho_decisions_total counter
sekisho_decisions_total{action="reject",rule="dnsbl",stage="connect"} 1
sekisho_decisions_total{action="reject",rule="send_only",stage="rcpt"} 2
# HELP sekisho_dry_run_decisions_total Decisions the rules would have taken outside a dry run, by rule, action and stage; the mail was let through.
# TYPE sekisho_dry_run_decisions_total counter
sekisho_dry_run_decisions_total{action="reject",rule="send_only",stage="rcpt"} 1
# HELP sekisho_rule_errors_total Rules that could not decide (a service down, too slow, or failing), by rule; the rule's on_error applied.
# TYPE sekisho_rule_errors_total counter
sekisho_rule_errors_total{rule="virus"} 1
# HELP sekisho_uninspectable_messages_total Messages that could not be read completely, by reason.
# TYPE sekisho_uninspectable_messages_total counter
sekisho_uninspectable_messages_total{reason="archive"} 2
# HELP sekisho_dnsbl_lookups_total DNSBL lookups by zone and result: listed, clean, or error (no answer, an error rcode, or an answer outside the zone's codes).
# TYPE sekisho_dnsbl_lookups_total counter
sekisho_dnsbl_lookups_total{result="clean",zone="bl.test"} 2
sekisho_dnsbl_lookups_total{result="error",zone="refuse.test"} 1
sekisho_dnsbl_lookups_total{result="listed",zone="bl.test"} 1
# HELP sekisho_dnsbl_cache_total DNSBL lookups answered from the cache (hit), or by a query of their own or one already under way (miss), by zone.
# TYPE sekisho_dnsbl_cache_total counter
sekisho_dnsbl_cache_total{result="hit",zone="bl.test"} 2
sekisho_dnsbl_cache_total{result="miss",zone="bl.test"} 1
# HELP sekisho_clamd_errors_total Scans without a verdict, by kind: connect, timeout, protocol, size_limit or other.
# TYPE sekisho_clamd_errors_total counter
sekisho_clamd_errors_total{kind="connect"} 0
sekisho_clamd_errors_total{kind="other"} 0
sekisho_clamd_errors_total{kind="protocol"} 0
sekisho_clamd_errors_total{kind="size_limit"} 1
sekisho_clamd_errors_total{kind="timeout"} 2
# HELP sekisho_ratelimit_store_errors_total Failed calls to the rate-limit store, by operation: count (at RCPT) or add (for accepted mail).
# TYPE sekisho_ratelimit_store_errors_total counter
sekisho_ratelimit_store_errors_total{op="add"} 1
sekisho_ratelimit_store_errors_total{op="count"} 0
# HELP sekisho_milter_sessions Milter connections from the MTA open now.
# TYPE sekisho_milter_sessions gauge
sekisho_milter_sessions 1
# HELP sekisho_config_reload_success 1 when the last configuration reload succeeded (or none was tried), 0 when it failed and the previous configuration stays in force.
# TYPE sekisho_config_reload_success gauge
sekisho_config_reload_success 1
# HELP sekisho_build_info Always 1; its labels say which version of sekisho, built with which Go, is running.
# TYPE sekisho_build_info gauge
sekisho_build_info{goversion="` + runtime.Version() + `",version="v1.2.3"} 1
`
	if err := testutil.GatherAndCompare(m.Registry(), strings.NewReader(want),
		"sekisho_messages_total", "sekisho_decisions_total", "sekisho_dry_run_decisions_total",
		"sekisho_rule_errors_total", "sekisho_uninspectable_messages_total", "sekisho_dnsbl_lookups_total",
		"sekisho_dnsbl_cache_total", "sekisho_clamd_errors_total", "sekisho_ratelimit_store_errors_total",
		"sekisho_milter_sessions", "sekisho_config_reload_success", "sekisho_build_info"); err != nil {
		t.Error(err)
	}
}

// TestHistograms checks the observations land in the right series and
// buckets.
func TestHistograms(t *testing.T) {
	m := metrics.New("test")
	m.StageSeconds("rcpt", 70*time.Microsecond)
	m.StageSeconds("rcpt", 3*time.Millisecond)
	m.StageSeconds("eob", 20*time.Second)
	m.ClamdScan(40 * time.Millisecond)
	m.ClamdScan(2 * time.Second)

	got := gather(t, m)
	for series, want := range map[string]float64{
		`sekisho_stage_duration_seconds_count{stage="rcpt"}`:              2,
		`sekisho_stage_duration_seconds_bucket{stage="rcpt",le="5e-05"}`:  0,
		`sekisho_stage_duration_seconds_bucket{stage="rcpt",le="0.0001"}`: 1,
		`sekisho_stage_duration_seconds_bucket{stage="rcpt",le="0.0025"}`: 1,
		`sekisho_stage_duration_seconds_bucket{stage="rcpt",le="0.005"}`:  2,
		`sekisho_stage_duration_seconds_count{stage="eob"}`:               1,
		`sekisho_stage_duration_seconds_bucket{stage="eob",le="10"}`:      0,
		`sekisho_stage_duration_seconds_bucket{stage="eob",le="30"}`:      1,
		`sekisho_stage_duration_seconds_sum{stage="eob"}`:                 20,
		// Made in advance, so that a rate over them exists from the start.
		`sekisho_stage_duration_seconds_count{stage="connect"}`: 0,
		`sekisho_stage_duration_seconds_count{stage="helo"}`:    0,
		`sekisho_stage_duration_seconds_count{stage="mail"}`:    0,
		`sekisho_stage_duration_seconds_count{stage="eoh"}`:     0,

		`sekisho_clamd_scan_duration_seconds_count`:              2,
		`sekisho_clamd_scan_duration_seconds_bucket{le="0.025"}`: 0,
		`sekisho_clamd_scan_duration_seconds_bucket{le="0.05"}`:  1,
		`sekisho_clamd_scan_duration_seconds_bucket{le="1"}`:     1,
		`sekisho_clamd_scan_duration_seconds_bucket{le="2.5"}`:   2,
	} {
		if v, ok := got[series]; !ok || v != want {
			t.Errorf("%s = %v (exposed: %v), want %v", series, v, ok, want)
		}
	}
}

// TestReload: a failed reload sets the success gauge to 0 and keeps the
// time of the last success; a good one sets both.
func TestReload(t *testing.T) {
	m := metrics.New("test")
	at := gather(t, m)["sekisho_config_reload_last_success_timestamp_seconds"]
	if now := float64(time.Now().Unix()); at < now-60 || at > now+1 {
		t.Fatalf("last success at %v, want about %v (set at New)", at, now)
	}
	m.Reload(false)
	got := gather(t, m)
	if got["sekisho_config_reload_success"] != 0 || got["sekisho_config_reload_last_success_timestamp_seconds"] != at {
		t.Errorf("after a failed reload: success %v, last success %v (was %v)",
			got["sekisho_config_reload_success"], got["sekisho_config_reload_last_success_timestamp_seconds"], at)
	}
	time.Sleep(20 * time.Millisecond)
	m.Reload(true)
	got = gather(t, m)
	if got["sekisho_config_reload_success"] != 1 || got["sekisho_config_reload_last_success_timestamp_seconds"] <= at {
		t.Errorf("after a good reload: success %v, last success %v (was %v)",
			got["sekisho_config_reload_success"], got["sekisho_config_reload_last_success_timestamp_seconds"], at)
	}
}

// TestConcurrent adds series from many goroutines at once: every call is
// counted, whichever made the series.
func TestConcurrent(t *testing.T) {
	m := metrics.New("test")
	var wg sync.WaitGroup
	for g := range 8 {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for i := range 1000 {
				m.Decision("rule"+string(rune('a'+i%4)), "reject", "rcpt", g%2 == 0)
				m.DNSBLCache("zone"+string(rune('a'+i%3)), i%2 == 0)
			}
		}()
	}
	wg.Wait()
	got := gather(t, m)
	var decisions, dry, cache float64
	for k, v := range got {
		switch {
		case strings.HasPrefix(k, "sekisho_decisions_total{"):
			decisions += v
		case strings.HasPrefix(k, "sekisho_dry_run_decisions_total{"):
			dry += v
		case strings.HasPrefix(k, "sekisho_dnsbl_cache_total{"):
			cache += v
		}
	}
	if decisions != 4000 || dry != 4000 || cache != 8000 {
		t.Errorf("decisions %v, dry runs %v, cache %v; want 4000, 4000, 8000", decisions, dry, cache)
	}
	if v := got[`sekisho_decisions_total{action="reject",rule="rulea",stage="rcpt"}`]; v != 1000 {
		t.Errorf("rulea: %v, want 1000", v)
	}
}

// TestServe scrapes the endpoint over HTTP: /metrics answers with the
// metrics, the Go and process collectors included; other paths do not.
func TestServe(t *testing.T) {
	m := metrics.New("test")
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	addr := ln.Addr().String()
	ln.Close()
	stop, err := m.Serve(addr, "", nil)
	if err != nil {
		t.Fatal(err)
	}
	defer stop(context.Background())
	// The port is taken now: a second Serve on it fails at once.
	if _, err := metrics.New("test").Serve(addr, "", nil); err == nil {
		t.Error("a second Serve on the same address succeeded")
	}
	m.Message("discard")

	body, code := get(t, "http://"+addr+"/metrics")
	if code != http.StatusOK {
		t.Fatalf("GET /metrics: %d\n%s", code, body)
	}
	for _, want := range []string{
		`sekisho_messages_total{outcome="discard"} 1`,
		`sekisho_build_info{goversion="` + runtime.Version() + `",version="test"} 1`,
		"go_goroutines ",
		"process_resident_memory_bytes ",
		"sekisho_config_reload_success 1",
	} {
		if !strings.Contains(body, want) {
			t.Errorf("no %q in\n%s", want, body)
		}
	}
	if _, code := get(t, "http://"+addr+"/"); code != http.StatusNotFound {
		t.Errorf("GET /: %d, want 404", code)
	}

	if err := stop(context.Background()); err != nil {
		t.Fatal(err)
	}
	if c, err := net.DialTimeout("tcp", addr, time.Second); err == nil {
		c.Close()
		t.Error("still listening after stop")
	}
}

func get(t *testing.T, url string) (string, int) {
	t.Helper()
	resp, err := http.Get(url)
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	b, err := io.ReadAll(resp.Body)
	if err != nil {
		t.Fatal(err)
	}
	return string(b), resp.StatusCode
}

// gather returns every sample of m's registry in the text format's
// spelling, name{labels} → value, labels in name order.
func gather(t *testing.T, m *metrics.Metrics) map[string]float64 {
	t.Helper()
	mfs, err := m.Registry().Gather()
	if err != nil {
		t.Fatal(err)
	}
	out := map[string]float64{}
	for _, mf := range mfs {
		for _, mt := range mf.GetMetric() {
			var labels []string
			for _, lp := range mt.GetLabel() {
				labels = append(labels, lp.GetName()+`="`+lp.GetValue()+`"`)
			}
			key := func(suffix string, extra ...string) string {
				all := append(append([]string{}, labels...), extra...)
				if len(all) == 0 {
					return mf.GetName() + suffix
				}
				return mf.GetName() + suffix + "{" + strings.Join(all, ",") + "}"
			}
			switch {
			case mt.Counter != nil:
				out[key("")] = mt.Counter.GetValue()
			case mt.Gauge != nil:
				out[key("")] = mt.Gauge.GetValue()
			case mt.Histogram != nil:
				h := mt.Histogram
				out[key("_count")] = float64(h.GetSampleCount())
				out[key("_sum")] = h.GetSampleSum()
				for _, b := range h.GetBucket() {
					out[key("_bucket", `le="`+formatFloat(b.GetUpperBound())+`"`)] = float64(b.GetCumulativeCount())
				}
				out[key("_bucket", `le="+Inf"`)] = float64(h.GetSampleCount())
			}
		}
	}
	return out
}

// formatFloat writes a bucket bound as the text format does.
func formatFloat(f float64) string { return strconv.FormatFloat(f, 'g', -1, 64) }
