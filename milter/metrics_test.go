package milter_test

import (
	"context"
	"log/slog"
	"net"
	"strings"
	"testing"
	"time"

	client "github.com/d--j/go-milter"
	"github.com/prometheus/client_golang/prometheus/testutil"

	"github.com/sekisho/sekisho/milter"
	"github.com/sekisho/sekisho/policy"
	"github.com/sekisho/sekisho/policy/metrics"
)

// startMetricsServer serves config with metrics on.
func startMetricsServer(t *testing.T, config string) (string, *metrics.Metrics) {
	t.Helper()
	cfg, err := policy.Parse("test.toml", []byte(config))
	if err != nil {
		t.Fatal(err)
	}
	m := metrics.New("test")
	env := &policy.Env{Logger: slog.New(slog.DiscardHandler), Metrics: m}
	e, err := policy.NewEngine(cfg, env)
	if err != nil {
		t.Fatal(err)
	}
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	srv := milter.NewServer(e, env.Logger)
	srv.SetMetrics(m)
	go srv.Serve(ln)
	t.Cleanup(func() {
		ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
		defer cancel()
		srv.Shutdown(ctx)
	})
	return ln.Addr().String(), m
}

// sample returns the value of one series of m in the text format's
// spelling, such as `sekisho_messages_total{outcome="accept"}`.
func sample(t *testing.T, m *metrics.Metrics, series string) float64 {
	t.Helper()
	name, _, _ := strings.Cut(series, "{")
	name = strings.TrimSuffix(strings.TrimSuffix(name, "_count"), "_sum")
	mfs, err := m.Registry().Gather()
	if err != nil {
		t.Fatal(err)
	}
	for _, mf := range mfs {
		if mf.GetName() != name {
			continue
		}
		for _, mt := range mf.GetMetric() {
			var labels []string
			for _, lp := range mt.GetLabel() {
				labels = append(labels, lp.GetName()+`="`+lp.GetValue()+`"`)
			}
			key := mf.GetName()
			if mt.Histogram != nil {
				key += "_count"
			}
			if len(labels) > 0 {
				key += "{" + strings.Join(labels, ",") + "}"
			}
			if key != series {
				continue
			}
			switch {
			case mt.Counter != nil:
				return mt.Counter.GetValue()
			case mt.Gauge != nil:
				return mt.Gauge.GetValue()
			case mt.Histogram != nil:
				return float64(mt.Histogram.GetSampleCount())
			}
		}
	}
	t.Fatalf("no series %s", series)
	return 0
}

// waitSample polls until series has the value want: the server counts a
// connection's end after the client has closed it.
func waitSample(t *testing.T, m *metrics.Metrics, series string, want float64) {
	t.Helper()
	deadline := time.Now().Add(5 * time.Second)
	for {
		got := sample(t, m, series)
		if got == want {
			return
		}
		if time.Now().After(deadline) {
			t.Fatalf("%s = %v, want %v", series, got, want)
		}
		time.Sleep(10 * time.Millisecond)
	}
}

// TestMetricsMessages counts each message once, by its final outcome,
// whichever stage decided it; aborted messages are not counted.
func TestMetricsMessages(t *testing.T) {
	addr, m := startMetricsServer(t, `
listen = "inet:127.0.0.1:0"
[rules.send_only]
addresses = ["noreply@*"]
[rules.recipient_limit]
max = 3
count_headers = true
`)
	c := dial(t, addr, "192.0.2.1")
	waitSample(t, m, "sekisho_milter_sessions", 1)

	// Accepted, one recipient of two refused.
	c.mail("sender@example.com")
	c.rcpt("noreply@example.co.jp")
	c.rcpt("user@example.co.jp")
	if r, _ := c.data(plain, "body\r\n"); r != "" {
		t.Fatalf("end of message: %q", r)
	}
	// Every recipient refused, then the client gives up (the MTA aborts
	// the transaction): one reject, counted then.
	c.mail("sender@example.com")
	c.rcpt("noreply@example.co.jp")
	c.rcpt("noreply@example.net")
	if err := c.s.Abort(nil); err != nil {
		t.Fatal(err)
	}
	// Refused at end of headers (four addresses in To): one reject.
	c.mail("sender@example.com")
	c.rcpt("user@example.co.jp")
	h := [][2]string{{"From", "a@example.com"}, {"To", "a@x.jp, b@x.jp, c@x.jp, d@x.jp"}, {"Subject", "s"}}
	if r, _ := c.data(h, "body\r\n"); r != "550 5.5.3 Too many recipients" {
		t.Fatalf("end of headers: %q", r)
	}
	if err := c.s.Abort(nil); err != nil {
		t.Fatal(err)
	}
	// Recipients accepted, then aborted (RSET): no outcome.
	c.mail("sender@example.com")
	c.rcpt("user@example.co.jp")
	if err := c.s.Abort(nil); err != nil {
		t.Fatal(err)
	}
	// Every recipient refused, then RSET: one reject.
	c.mail("sender@example.com")
	c.rcpt("noreply@example.co.jp")
	if err := c.s.Abort(nil); err != nil {
		t.Fatal(err)
	}
	// Every recipient refused, then the connection ends: one reject.
	c.mail("sender@example.com")
	c.rcpt("noreply@example.co.jp")
	if got := sample(t, m, `sekisho_messages_total{outcome="reject"}`); got != 3 {
		t.Errorf("before the end of the connection: %v rejects, want 3", got)
	}
	c.s.Close()
	waitSample(t, m, "sekisho_milter_sessions", 0)

	for series, want := range map[string]float64{
		`sekisho_messages_total{outcome="accept"}`:     1,
		`sekisho_messages_total{outcome="reject"}`:     4,
		`sekisho_messages_total{outcome="tempfail"}`:   0,
		`sekisho_messages_total{outcome="discard"}`:    0,
		`sekisho_messages_total{outcome="quarantine"}`: 0,
		// The stages the engine ran at: connect and HELO are not asked
		// for by these rules.
		`sekisho_stage_duration_seconds_count{stage="connect"}`: 0,
		`sekisho_stage_duration_seconds_count{stage="mail"}`:    6,
		`sekisho_stage_duration_seconds_count{stage="rcpt"}`:    8,
		`sekisho_stage_duration_seconds_count{stage="eoh"}`:     2,
		`sekisho_stage_duration_seconds_count{stage="eob"}`:     1,
	} {
		if got := sample(t, m, series); got != want {
			t.Errorf("%s = %v, want %v", series, got, want)
		}
	}
}

// TestMetricsOtherOutcomes: tempfail and reject recipients make a
// tempfail; a discard at RCPT and a quarantine count as such.
func TestMetricsOtherOutcomes(t *testing.T) {
	addr, m := startMetricsServer(t, `
listen = "inet:127.0.0.1:0"
[rules.send_only]
addresses = ["later@*"]
action = "tempfail"
[rules.recipient_limit]
max = 1
action = "discard"
`)
	c := dial(t, addr, "192.0.2.1")
	c.mail("sender@example.com")
	if r := c.rcpt("later@example.co.jp"); !strings.HasPrefix(r, "4") {
		t.Fatalf("tempfail recipient: %q", r)
	}
	if err := c.s.Abort(nil); err != nil {
		t.Fatal(err)
	}
	c.mail("sender@example.com")
	c.rcpt("user@example.co.jp")
	c.macros.Set(client.MacroRcptAddr, "other@example.co.jp")
	act, err := c.s.Rcpt("<other@example.co.jp>", "")
	if err != nil {
		t.Fatal(err)
	}
	if act.Type != client.ActionDiscard {
		t.Fatalf("second recipient: %v, want discard", act)
	}
	c.s.Close()
	waitSample(t, m, "sekisho_milter_sessions", 0)

	addr, mq := startMetricsServer(t, `
listen = "inet:127.0.0.1:0"
[rules.send_only]
addresses = ["hold@*"]
action = "quarantine"
`)
	q := dial(t, addr, "192.0.2.1")
	q.mail("sender@example.com")
	q.rcpt("hold@example.co.jp")
	if r, _ := q.data(plain, "body\r\n"); r != "" {
		t.Fatalf("quarantine: %q", r)
	}
	q.s.Close()
	waitSample(t, mq, "sekisho_milter_sessions", 0)

	if err := testutil.GatherAndCompare(m.Registry(), strings.NewReader(messagesHelp+`
sekisho_messages_total{outcome="accept"} 0
sekisho_messages_total{outcome="discard"} 1
sekisho_messages_total{outcome="quarantine"} 0
sekisho_messages_total{outcome="reject"} 0
sekisho_messages_total{outcome="tempfail"} 1
`), "sekisho_messages_total"); err != nil {
		t.Error(err)
	}
	if err := testutil.GatherAndCompare(mq.Registry(), strings.NewReader(messagesHelp+`
sekisho_messages_total{outcome="accept"} 0
sekisho_messages_total{outcome="discard"} 0
sekisho_messages_total{outcome="quarantine"} 1
sekisho_messages_total{outcome="reject"} 0
sekisho_messages_total{outcome="tempfail"} 0
`), "sekisho_messages_total"); err != nil {
		t.Error(err)
	}
}

const messagesHelp = `# HELP sekisho_messages_total Mail transactions by final outcome: accept, reject, tempfail, discard or quarantine. A transaction counts once, when its outcome is final: at end of message, when refused or discarded before, or when it ends with every recipient refused.
# TYPE sekisho_messages_total counter
`
