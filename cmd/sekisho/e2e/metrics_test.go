package e2e_test

import (
	"fmt"
	"io"
	"net"
	"net/http"
	"os"
	"regexp"
	"runtime"
	"sort"
	"strconv"
	"strings"
	"syscall"
	"testing"
	"time"
)

// metricsTable is the [metrics] table serving on port.
func metricsTable(port int) string {
	return fmt.Sprintf("[metrics]\nlisten = \"127.0.0.1:%d\"\n", port)
}

// scrape reads the daemon's /metrics and returns every sample by its
// series, name{label="value",...} with the labels in name order.
func scrape(t testing.TB, url string) map[string]float64 {
	t.Helper()
	c := &http.Client{Timeout: 10 * time.Second}
	resp, err := c.Get(url)
	if err != nil {
		t.Fatalf("scrape: %v", err)
	}
	defer resp.Body.Close()
	body, err := io.ReadAll(resp.Body)
	if err != nil {
		t.Fatalf("scrape: %v", err)
	}
	if resp.StatusCode != http.StatusOK {
		t.Fatalf("scrape: %s\n%s", resp.Status, body)
	}
	out := map[string]float64{}
	for _, line := range strings.Split(string(body), "\n") {
		if line == "" || strings.HasPrefix(line, "#") {
			continue
		}
		series, value, err := parseSample(line)
		if err != nil {
			t.Fatalf("scrape: line %q: %v", line, err)
		}
		out[series] = value
	}
	return out
}

// parseSample reads one line of the text exposition format.
func parseSample(line string) (string, float64, error) {
	cut := strings.LastIndexByte(line, ' ')
	if cut < 0 {
		return "", 0, fmt.Errorf("no value")
	}
	v, err := strconv.ParseFloat(line[cut+1:], 64)
	if err != nil {
		return "", 0, err
	}
	head := line[:cut]
	name, rest, ok := strings.Cut(head, "{")
	if !ok {
		return name, v, nil
	}
	rest, ok = strings.CutSuffix(rest, "}")
	if !ok {
		return "", 0, fmt.Errorf("unterminated labels")
	}
	var labels []string
	for rest != "" {
		key, after, ok := strings.Cut(rest, `="`)
		if !ok {
			return "", 0, fmt.Errorf("bad label in %q", rest)
		}
		var val strings.Builder
		i := 0
		for ; i < len(after) && after[i] != '"'; i++ {
			if after[i] == '\\' && i+1 < len(after) {
				i++
			}
			val.WriteByte(after[i])
		}
		if i == len(after) {
			return "", 0, fmt.Errorf("unterminated label value")
		}
		labels = append(labels, key+`="`+val.String()+`"`)
		rest = strings.TrimPrefix(after[i+1:], ",")
	}
	sort.Strings(labels)
	return name + "{" + strings.Join(labels, ",") + "}", v, nil
}

// waitSeries scrapes until series has the value want: the daemon counts
// the end of a connection when Postfix closes it, a moment after the SMTP
// client is told.
func waitSeries(t testing.TB, url, series string, want float64) map[string]float64 {
	t.Helper()
	deadline := time.Now().Add(10 * time.Second)
	for {
		got := scrape(t, url)
		if v, ok := got[series]; ok && v == want {
			return got
		}
		if time.Now().After(deadline) {
			t.Fatalf("%s = %v, want %v", series, got[series], want)
		}
		time.Sleep(50 * time.Millisecond)
	}
}

// expectSeries checks exact values of got, or of the change from base to
// got when base is not nil.
func expectSeries(t testing.TB, what string, base, got map[string]float64, want map[string]float64) {
	t.Helper()
	keys := make([]string, 0, len(want))
	for k := range want {
		keys = append(keys, k)
	}
	sort.Strings(keys)
	for _, k := range keys {
		v, ok := got[k]
		if !ok {
			t.Errorf("%s: no series %s", what, k)
			continue
		}
		if base != nil {
			v -= base[k]
		}
		if v != want[k] {
			t.Errorf("%s: %s = %v, want %v", what, k, v, want[k])
		}
	}
}

// TestE2EMetrics runs the daemon with metrics on behind Postfix, with real
// rbldnsd and clamd, sends known traffic and checks the exact counts
// /metrics reports, then the reload gauges across SIGHUPs.
func TestE2EMetrics(t *testing.T) {
	t.Parallel()
	dnsbl := sharedRbldnsd(t)
	clamd := sharedClamd(t)
	port := freePort(t)
	url := fmt.Sprintf("http://127.0.0.1:%d/metrics", port)
	config := sekishoConfig("enforce", ruleSendOnly, ruleDNSBL(dnsbl.Addr)+dnsblAtConnect, ruleVirus(clamd.Addr)+"scan_text = true\ncache = \"off\"\n", metricsTable(port))
	s, pf := setup(t, config)

	// The first scrape, before any mail: what exists from the start.
	start := scrape(t, url)
	expectSeries(t, "at start", nil, start, map[string]float64{
		`sekisho_messages_total{outcome="accept"}`:           0,
		`sekisho_messages_total{outcome="reject"}`:           0,
		`sekisho_clamd_errors_total{kind="connect"}`:         0,
		`sekisho_ratelimit_store_errors_total{op="count"}`:   0,
		`sekisho_config_reload_success`:                      1,
		`sekisho_stage_duration_seconds_count{stage="eob"}`:  0,
		`sekisho_stage_duration_seconds_count{stage="rcpt"}`: 0,
		`sekisho_stage_duration_seconds_count{stage="mail"}`: 0,
		`sekisho_stage_duration_seconds_count{stage="eoh"}`:  0,
		`sekisho_clamd_scan_duration_seconds_count`:          0,
	})
	buildInfo := regexp.MustCompile(`^sekisho_build_info\{goversion="` + regexp.QuoteMeta(runtime.Version()) + `",version="[^"]+"\}$`)
	var builds int
	for k, v := range start {
		if strings.HasPrefix(k, "sekisho_build_info{") {
			builds++
			if !buildInfo.MatchString(k) || v != 1 {
				t.Errorf("build info %s %v, want goversion %s, a version, and 1", k, v, runtime.Version())
			}
		}
	}
	if builds != 1 {
		t.Errorf("%d sekisho_build_info series, want 1", builds)
	}
	for _, k := range []string{"go_goroutines", "process_resident_memory_bytes", "sekisho_config_reload_last_success_timestamp_seconds"} {
		if _, ok := start[k]; !ok {
			t.Errorf("no %s", k)
		}
	}

	send := func(want int, args ...string) string {
		t.Helper()
		return pf.mustSwaks(t, want, append([]string{"--from", "sender@example.org"}, args...)...)
	}
	accepted := func() {
		t.Helper()
		tok := token(t)
		send(0, "--to", "user@example.co.jp", "--header", "X-E2E-Token: "+tok)
		pf.waitDelivered(t, tok, 1)
	}

	// One accepted message first: the client's address, 127.0.0.1, is in
	// the DNSBL cache from then on, whether or not Postfix's readiness
	// probe reached the milter; the DNSBL counts below are changes from
	// here.
	accepted()
	base := waitSeries(t, url, "sekisho_milter_sessions", 0)

	for range 2 {
		accepted()
	}
	for range 2 {
		tok := token(t)
		out := send(24, "--to", "noreply@example.co.jp", "--header", "X-E2E-Token: "+tok)
		mustRefuse(t, out, regexp.QuoteMeta("550 5.1.1 User unknown"))
		pf.notDelivered(t, tok)
	}
	tok := token(t)
	out := send(26, "--to", "user@example.co.jp", "--data", writeMessage(t, eicarMessage(tok)))
	mustRefuse(t, out, regexp.QuoteMeta("554 5.7.1 Virus found: "+eicarSig))
	pf.notDelivered(t, tok)
	// 127.0.0.2 is listed in bl.test: refused at connect, before any
	// transaction, so it is a decision but not a message.
	tok = token(t)
	code, out := pf.swaks(t, "--local-interface", "127.0.0.2", "--from", "sender@example.org",
		"--to", "user@example.co.jp", "--header", "X-E2E-Token: "+tok)
	if code == 0 {
		t.Fatalf("listed client accepted:\n%s", out)
	}
	mustRefuse(t, out, "554 ")
	pf.notDelivered(t, tok)
	s.waitLog(t, "msg=decision", "rule=dnsbl")

	got := waitSeries(t, url, "sekisho_milter_sessions", 0)
	expectSeries(t, "after the traffic", nil, got, map[string]float64{
		`sekisho_messages_total{outcome="accept"}`:     3,
		`sekisho_messages_total{outcome="reject"}`:     3, // two at RCPT, the virus at end of message
		`sekisho_messages_total{outcome="tempfail"}`:   0,
		`sekisho_messages_total{outcome="discard"}`:    0,
		`sekisho_messages_total{outcome="quarantine"}`: 0,

		`sekisho_decisions_total{action="reject",rule="send_only",stage="rcpt"}`: 2,
		`sekisho_decisions_total{action="reject",rule="virus",stage="eob"}`:      1,
		`sekisho_decisions_total{action="reject",rule="dnsbl",stage="connect"}`:  1,

		// Every message that reached the end was scanned in one clamd
		// session, and none failed.
		`sekisho_clamd_scan_duration_seconds_count`:     4,
		`sekisho_clamd_errors_total{kind="connect"}`:    0,
		`sekisho_clamd_errors_total{kind="timeout"}`:    0,
		`sekisho_clamd_errors_total{kind="protocol"}`:   0,
		`sekisho_clamd_errors_total{kind="size_limit"}`: 0,
		`sekisho_clamd_errors_total{kind="other"}`:      0,

		`sekisho_stage_duration_seconds_count{stage="mail"}`: 6,
		`sekisho_stage_duration_seconds_count{stage="rcpt"}`: 6,
		`sekisho_stage_duration_seconds_count{stage="eoh"}`:  4,
		`sekisho_stage_duration_seconds_count{stage="eob"}`:  4,
	})
	// One after another, the messages' sessions run on the connection the
	// first one dialled (kept for 5 s between messages).
	if n, r := got[`sekisho_clamd_sessions_total{connection="new"}`], got[`sekisho_clamd_sessions_total{connection="reused"}`]; n+r != 4 || r < 2 {
		t.Errorf("clamd sessions: %v on a new connection, %v on a kept one; want 4 in all, most of them kept", n, r)
	}
	for k := range got {
		if strings.HasPrefix(k, "sekisho_dry_run_decisions_total{") {
			t.Errorf("a dry-run decision in enforce mode: %s", k)
		}
	}
	// Since the first message: five more connections from 127.0.0.1,
	// answered from the cache (bl.test: not listed; refuse.test: its
	// 127.255.255.254, an error), and the listed client, looked up anew.
	expectSeries(t, "DNSBL since the first message", base, got, map[string]float64{
		`sekisho_dnsbl_lookups_total{result="clean",zone="bl.test"}`:            5,
		`sekisho_dnsbl_lookups_total{result="listed",zone="bl.test"}`:           1,
		`sekisho_dnsbl_lookups_total{result="error",zone="refuse.test"}`:        6,
		`sekisho_dnsbl_cache_total{result="hit",zone="bl.test"}`:                5,
		`sekisho_dnsbl_cache_total{result="miss",zone="bl.test"}`:               1,
		`sekisho_dnsbl_cache_total{result="hit",zone="refuse.test"}`:            5,
		`sekisho_dnsbl_cache_total{result="miss",zone="refuse.test"}`:           1,
		`sekisho_stage_duration_seconds_count{stage="connect"}`:                 6,
		`sekisho_decisions_total{action="reject",rule="dnsbl",stage="connect"}`: 1,
	})

	write := func(text string) {
		t.Helper()
		old, err := os.ReadFile(s.Config)
		if err != nil {
			t.Fatal(err)
		}
		listen := strings.SplitN(string(old), "\n", 2)[0]
		if err := os.WriteFile(s.Config, []byte(listen+"\n"+text), 0o644); err != nil {
			t.Fatal(err)
		}
	}
	stamp := "sekisho_config_reload_last_success_timestamp_seconds"
	loaded := got[stamp]

	// A good reload: success, and the configuration dated anew.
	time.Sleep(1100 * time.Millisecond) // the stamp has a resolution below a second; this makes the change plain
	s.Signal(t, syscall.SIGHUP)
	s.waitLog(t, "configuration reloaded", "reload_successful=true")
	after := scrape(t, url)
	if after["sekisho_config_reload_success"] != 1 || after[stamp] <= loaded {
		t.Errorf("after a good reload: success %v, last success %v (was %v)", after["sekisho_config_reload_success"], after[stamp], loaded)
	}
	loaded = after[stamp]

	// A file with an error: refused, and the stamp stays.
	write(config + "\ncolour = \"red\"\n")
	s.Signal(t, syscall.SIGHUP)
	s.waitLog(t, "configuration reload failed", "reload_successful=false")
	after = scrape(t, url)
	if after["sekisho_config_reload_success"] != 0 || after[stamp] != loaded {
		t.Errorf("after a failed reload: success %v, last success %v (was %v)", after["sekisho_config_reload_success"], after[stamp], loaded)
	}

	// Another metrics address: it needs a restart, and the endpoint stays
	// where it is; the reload itself succeeds.
	other := freePort(t)
	write(sekishoConfig("enforce", ruleSendOnly, ruleDNSBL(dnsbl.Addr)+dnsblAtConnect, ruleVirus(clamd.Addr)+"scan_text = true\ncache = \"off\"\n", metricsTable(other)))
	s.Signal(t, syscall.SIGHUP)
	s.waitLog(t, "metrics settings changed; they take effect only on restart", fmt.Sprintf("metrics_listen=127.0.0.1:%d", other))
	after = scrape(t, url)
	if after["sekisho_config_reload_success"] != 1 {
		t.Errorf("after a reload changing [metrics]: success %v, want 1", after["sekisho_config_reload_success"])
	}
	if c, err := net.DialTimeout("tcp", fmt.Sprintf("127.0.0.1:%d", other), time.Second); err == nil {
		c.Close()
		t.Errorf("the new metrics address is served without a restart")
	}
	// The counts went on through the reloads.
	accepted()
	got = waitSeries(t, url, "sekisho_milter_sessions", 0)
	expectSeries(t, "after the reloads", nil, got, map[string]float64{`sekisho_messages_total{outcome="accept"}`: 4})
}

// TestE2EMetricsPort: a metrics address that cannot be had stops the
// daemon at startup, and -check never opens it.
func TestE2EMetricsPort(t *testing.T) {
	t.Parallel()
	taken, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer taken.Close()
	port := taken.Addr().(*net.TCPAddr).Port
	path := t.TempDir() + "/sekisho.toml"
	text := fmt.Sprintf("listen = \"inet:127.0.0.1:%d\"\n", freePort(t)) + sekishoConfig("enforce", ruleSendOnly, metricsTable(port))
	if err := os.WriteFile(path, []byte(text), 0o644); err != nil {
		t.Fatal(err)
	}

	if code, out := runSekisho(t, "-check", "-config", path); code != 0 || !strings.Contains(out, ": OK") {
		t.Errorf("-check with the metrics port taken: exit %d\n%s", code, out)
	}
	code, out := runSekisho(t, "-config", path)
	if code != 1 || !strings.Contains(out, "cannot serve metrics") || !strings.Contains(out, fmt.Sprintf("127.0.0.1:%d", port)) {
		t.Errorf("daemon with the metrics port taken: exit %d, want 1 naming the address\n%s", code, out)
	}
}

// dnsblAtConnect makes ruleDNSBL refuse when the client connects: the
// counts above are those of a connection refused before any transaction.
const dnsblAtConnect = "refuse_at = \"connect\"\n"
