package policy_test

import (
	"context"
	"fmt"
	"log/slog"
	"net/netip"
	"strings"
	"testing"

	"github.com/miekg/dns"

	"github.com/sekisho/sekisho/policy"
	"github.com/sekisho/sekisho/policy/internal/testkit"
)

// startDNS starts a DNS list server answering from records, stopped
// at the end of the test; negative answers are kept five minutes.
func startDNS(t *testing.T, records map[string]testkit.Record) *testkit.DNSServer {
	t.Helper()
	return testkit.StartDNS(t, testkit.ZoneReply(records, 300, 300))
}

// listedClient is the client the test lists load; cleanClient is on no
// list.
var (
	listedClient = netip.MustParseAddr("198.51.100.23")
	cleanClient  = netip.MustParseAddr("198.51.100.24")
)

// listedQname is the query name of listedClient in zone.
func listedQname(zone string) string { return "23.100.51.198." + zone + "." }

// dnsblEngine builds a dnsbl rule asking srv; rest is the body of the
// [rules.dnsbl] table after the resolver.
func dnsblEngine(t *testing.T, srv *testkit.DNSServer, rest string) *policy.Engine {
	t.Helper()
	return newEngine(t, fmt.Sprintf("[rules.dnsbl]\nresolver = %q\ntimeout = \"2s\"\n%s\n", srv.Addr, rest), nil)
}

// connectClient runs a connection of a client up to its first RCPT and
// returns the verdict that stopped it: at connect, or (refuse_at = "rcpt",
// the default) at RCPT.
func connectClient(e *policy.Engine, addr netip.Addr) policy.Verdict {
	m := &policy.Message{Client: policy.Client{Addr: addr, Name: "unknown", Helo: "client.example"}}
	if v := e.Run(context.Background(), policy.StageConnect, m); v.Action.Final() {
		return v
	}
	return session(e, m, "sender@example.org", "user@example.co.jp")
}

// session runs one transaction on the connection of m (after connect)
// and returns the last verdict that refused a recipient, or the one that
// stopped it at MAIL.
func session(e *policy.Engine, m *policy.Message, sender string, rcpts ...string) policy.Verdict {
	m.Reset()
	m.Sender = sender
	if v := e.Run(context.Background(), policy.StageMail, m); v.Action.Final() {
		return v
	}
	var last policy.Verdict
	for _, v := range rcptTo(e, m, rcpts...) {
		if v.Action.Final() {
			last = v
		}
	}
	return last
}

const servFailReply = "451 4.7.1 Temporary policy failure, try again later"

func TestDNSBLListedAndUnlisted(t *testing.T) {
	srv := startDNS(t, map[string]testkit.Record{
		listedQname("bl.example"): {A: []string{"127.0.0.2"}, TXT: []string{"Listed, see https://bl.example/lookup"}},
	})
	e := dnsblEngine(t, srv, `zones = [{ zone = "bl.example" }]`)
	if !e.Needs(policy.StageConnect) {
		t.Error("Needs(connect) = false")
	}
	v := connectClient(e, listedClient)
	expect(t, v, "dnsbl", policy.Reject,
		"554 5.7.1 Service unavailable; client [198.51.100.23] blocked using bl.example",
		"listed on bl.example (score 1, threshold 1)", "https://bl.example/lookup")
	if v.Stage != policy.StageRcpt {
		t.Errorf("stage = %s, want rcpt", v.Stage)
	}
	expectContinue(t, connectClient(e, cleanClient))
	// An IPv4-mapped IPv6 address is the same client.
	expect(t, connectClient(e, netip.AddrFrom16(listedClient.As16())), "dnsbl", policy.Reject,
		"554 5.7.1 Service unavailable; client [198.51.100.23] blocked using bl.example")
}

func TestDNSBLReplyPlaceholders(t *testing.T) {
	srv := startDNS(t, map[string]testkit.Record{
		listedQname("bl.example"): {A: []string{"127.0.0.4"}, TXT: []string{"spam source"}},
	})
	e := dnsblEngine(t, srv, `zones = [{ zone = "bl.example", listed = ["127.0.0.2-127.0.0.11"] }]
reply = "550 5.7.1 {client_ip} is on {zones}: {txt}"`)
	expect(t, connectClient(e, listedClient), "dnsbl", policy.Reject, "550 5.7.1 198.51.100.23 is on bl.example: spam source")
}

func TestDNSBLWeights(t *testing.T) {
	srv := startDNS(t, map[string]testkit.Record{
		listedQname("a.example"):   {A: []string{"127.0.0.2"}},
		listedQname("b.example"):   {A: []string{"127.0.0.2"}},
		"24.100.51.198.a.example.": {A: []string{"127.0.0.2"}},
	})
	e := dnsblEngine(t, srv, `threshold = 2
zones = [
  { zone = "a.example", weight = 1 },
  { zone = "b.example", weight = 1 },
]`)
	expect(t, connectClient(e, listedClient), "dnsbl", policy.Reject,
		"554 5.7.1 Service unavailable; client [198.51.100.23] blocked using a.example, b.example", "score 2, threshold 2")
	// cleanClient is on a.example only.
	expectContinue(t, connectClient(e, cleanClient))
}

func TestDNSBLAllowList(t *testing.T) {
	srv := startDNS(t, map[string]testkit.Record{
		listedQname("bl.example"):    {A: []string{"127.0.0.2"}},
		listedQname("allow.example"): {A: []string{"127.0.0.2"}},
	})
	e := dnsblEngine(t, srv, `zones = [
  { zone = "bl.example" },
  { zone = "allow.example", weight = -1 },
]`)
	expectContinue(t, connectClient(e, listedClient))
}

func TestDNSBLRefusedQueryNeverRefuses(t *testing.T) {
	// 127.255.255.254 is Spamhaus's answer to a query from a public resolver.
	srv := startDNS(t, map[string]testkit.Record{
		listedQname("zen.example"): {A: []string{"127.255.255.254"}},
	})
	for _, onError := range []string{"", `on_error = "tempfail"`} {
		e := dnsblEngine(t, srv, `zones = [{ zone = "zen.example" }]`+"\n"+onError)
		expectContinue(t, connectClient(e, listedClient))
	}
}

func TestDNSBLLookupFailure(t *testing.T) {
	srv := startDNS(t, map[string]testkit.Record{
		listedQname("bl.example"):   {Rcode: dns.RcodeServerFailure},
		listedQname("a.example"):    {A: []string{"127.0.0.2"}},
		listedQname("fail.example"): {Rcode: dns.RcodeServerFailure},
	})
	t.Run("accepted by default", func(t *testing.T) {
		e := dnsblEngine(t, srv, `zones = [{ zone = "bl.example" }]`)
		m := &policy.Message{Client: policy.Client{Addr: listedClient}}
		expectContinue(t, e.Run(context.Background(), policy.StageConnect, m))
		if len(m.Annotations()) != 0 {
			t.Errorf("annotations = %v, want none", m.Annotations())
		}
	})
	t.Run("tempfail", func(t *testing.T) {
		e := dnsblEngine(t, srv, `zones = [{ zone = "bl.example" }]
on_error = "tempfail"`)
		expect(t, connectClient(e, listedClient), "dnsbl", policy.Tempfail, servFailReply, "dnsbl lookups failed", "bl.example")
	})
	t.Run("error reply", func(t *testing.T) {
		e := dnsblEngine(t, srv, `zones = [{ zone = "bl.example" }]
on_error = "tempfail"
error_reply = "421 4.3.0 DNS list unavailable for {client_ip}"`)
		expect(t, connectClient(e, listedClient), "dnsbl", policy.Tempfail, "421 4.3.0 DNS list unavailable for 198.51.100.23")
	})
	t.Run("global on_error does not apply", func(t *testing.T) {
		c := "on_error = \"tempfail\"\n" + fmt.Sprintf("[rules.dnsbl]\nresolver = %q\nzones = [{ zone = \"bl.example\" }]\n", srv.Addr)
		expectContinue(t, connectClient(newEngine(t, c, nil), listedClient))
	})
	t.Run("could not reach the threshold", func(t *testing.T) {
		// listedClient is not on b.example; fail.example alone cannot
		// bring the score to 2.
		e := dnsblEngine(t, srv, `threshold = 2
on_error = "tempfail"
zones = [{ zone = "b.example" }, { zone = "fail.example" }]`)
		expectContinue(t, connectClient(e, listedClient))
	})
	t.Run("could have reached the threshold", func(t *testing.T) {
		e := dnsblEngine(t, srv, `threshold = 2
on_error = "tempfail"
zones = [{ zone = "a.example" }, { zone = "fail.example" }]`)
		expect(t, connectClient(e, listedClient), "dnsbl", policy.Tempfail, servFailReply, "fail.example")
	})
}

func TestDNSBLNotLookedUp(t *testing.T) {
	srv := startDNS(t, map[string]testkit.Record{listedQname("bl.example"): {A: []string{"127.0.0.2"}}})
	t.Run("exempt network", func(t *testing.T) {
		e := newEngine(t, fmt.Sprintf(`[exempt]
networks = ["198.51.100.0/24"]

[rules.dnsbl]
resolver = %q
zones = [{ zone = "bl.example" }]
`, srv.Addr), nil)
		m := &policy.Message{Client: policy.Client{Addr: listedClient}}
		before := srv.Total()
		expectContinue(t, e.Run(context.Background(), policy.StageConnect, m))
		if n := srv.Total() - before; n != 0 {
			t.Errorf("%d lookups for an exempt client", n)
		}
	})
	t.Run("unix socket client", func(t *testing.T) {
		e := dnsblEngine(t, srv, `zones = [{ zone = "bl.example" }]
on_error = "tempfail"`)
		m := &policy.Message{Client: policy.Client{Name: "localhost"}}
		expectContinue(t, e.Run(context.Background(), policy.StageConnect, m))
	})
	if n := srv.Total(); n != 0 {
		t.Errorf("server received %d queries, want 0", n)
	}
}

// TestDNSBLRefuseAt: a listed client is looked up once, at connect, and
// refused at each RCPT of each transaction of the connection (the
// default), where the sending MTA bounces with the reply; postmaster and
// an authenticated client still get through. refuse_at = "connect"
// refuses at once.
func TestDNSBLRefuseAt(t *testing.T) {
	srv := startDNS(t, map[string]testkit.Record{listedQname("bl.example"): {A: []string{"127.0.0.2"}}})
	const reply = "554 5.7.1 Service unavailable; client [198.51.100.23] blocked using bl.example"
	cfg := fmt.Sprintf(`[exempt]
authenticated = true
recipients = ["postmaster@*"]

[rules.dnsbl]
resolver = %q
zones = [{ zone = "bl.example" }]
`, srv.Addr)
	ctx := context.Background()

	t.Run("rcpt", func(t *testing.T) {
		e := newEngine(t, cfg, nil)
		if !e.Needs(policy.StageRcpt) {
			t.Error("Needs(rcpt) = false")
		}
		m := &policy.Message{Client: policy.Client{Addr: listedClient}}
		expectContinue(t, e.Run(ctx, policy.StageConnect, m))
		before := srv.Total()
		for i := range 2 {
			expect(t, session(e, m, "sender@example.org", "a@example.co.jp", "b@example.co.jp"), "dnsbl", policy.Reject, reply)
			if len(m.Rcpts) != 0 {
				t.Errorf("transaction %d: recipients %v accepted", i+1, m.Rcpts)
			}
		}
		expectContinue(t, session(e, m, "sender@example.org", "postmaster@example.co.jp"))
		if len(m.Rcpts) != 1 {
			t.Errorf("postmaster refused: %v", m.Rcpts)
		}
		if n := srv.Total() - before; n != 0 {
			t.Errorf("%d lookups after connect, want none", n)
		}

		// An authenticated client on a listed address (a roaming user)
		// is known at MAIL.
		m = &policy.Message{Client: policy.Client{Addr: listedClient}}
		expectContinue(t, e.Run(ctx, policy.StageConnect, m))
		m.Client.AuthUser = "taro"
		expectContinue(t, session(e, m, "taro@example.co.jp", "user@example.net"))
	})
	t.Run("connect", func(t *testing.T) {
		e := newEngine(t, cfg+"refuse_at = \"connect\"\n", nil)
		m := &policy.Message{Client: policy.Client{Addr: listedClient}}
		v := e.Run(ctx, policy.StageConnect, m)
		expect(t, v, "dnsbl", policy.Reject, reply)
		if v.Stage != policy.StageConnect {
			t.Errorf("stage %s", v.Stage)
		}
	})
	t.Run("dry run", func(t *testing.T) {
		e := newEngine(t, "mode = \"dry-run\"\n"+cfg, nil)
		m := &policy.Message{Client: policy.Client{Addr: listedClient}}
		expectContinue(t, e.Run(ctx, policy.StageConnect, m))
		expectContinue(t, session(e, m, "sender@example.org", "a@example.co.jp", "b@example.co.jp"))
		o := e.Finish(ctx, m)
		if len(o.Headers) != 1 || !strings.Contains(o.Headers[0].Value, `would-reject rule=dnsbl reply="`+reply+`"`) {
			t.Errorf("headers %v, want one would-reject by dnsbl", o.Headers)
		}
	})
	t.Run("bad value", func(t *testing.T) {
		_, err := policy.Parse("t.toml", []byte(cfg+"refuse_at = \"helo\"\n"))
		if err == nil || !strings.Contains(err.Error(), `rules.dnsbl.refuse_at: must be rcpt or connect, not "helo"`) {
			t.Errorf("error %v", err)
		}
	})
}

// TestDNSBLZoneHealth: a zone that stops answering is logged once at
// WARN, and once at INFO when it answers again; sekisho_dnsbl_zone_up
// follows.
func TestDNSBLZoneHealth(t *testing.T) {
	srv := startDNS(t, map[string]testkit.Record{listedQname("bl.example"): {Rcode: dns.RcodeServerFailure}})
	var logs testkit.Buffer
	env, m := metricsEnv()
	env.Logger = slog.New(slog.NewTextHandler(&logs, nil))
	e := newEngine(t, fmt.Sprintf("[rules.dnsbl]\nresolver = %q\ntimeout = \"2s\"\nzones = [{ zone = \"bl.example\" }]\n", srv.Addr), env)
	ctx := context.Background()
	for range 3 {
		e.Run(ctx, policy.StageConnect, &policy.Message{Client: policy.Client{Addr: listedClient}})
	}
	expectMetrics(t, m, `sekisho_dnsbl_zone_up{zone="bl.example"} 0`, "sekisho_dnsbl_zone_up")
	// The zone answers (NXDOMAIN) for an address not cached yet.
	for range 2 {
		e.Run(ctx, policy.StageConnect, &policy.Message{Client: policy.Client{Addr: cleanClient}})
	}
	expectMetrics(t, m, `sekisho_dnsbl_zone_up{zone="bl.example"} 1`, "sekisho_dnsbl_zone_up")
	out := logs.String()
	if strings.Count(out, "dnsbl zone not answering") != 1 || strings.Count(out, "dnsbl zone answers again") != 1 {
		t.Errorf("log:\n%s", out)
	}
}

// TestMetricsDNSBL: the rule's lookups are counted by zone through the
// Env's resolver.
func TestMetricsDNSBL(t *testing.T) {
	srv := startDNS(t, map[string]testkit.Record{listedQname("bl.example"): {A: []string{"127.0.0.2"}}})
	env, m := metricsEnv()
	e := newEngine(t, fmt.Sprintf("[rules.dnsbl]\nresolver = %q\nzones = [{ zone = \"bl.example\" }]\n", srv.Addr), env)
	connectClient(e, listedClient)
	connectClient(e, listedClient)
	connectClient(e, cleanClient)
	expectMetrics(t, m, `
sekisho_dnsbl_cache_total{result="hit",zone="bl.example"} 1
sekisho_dnsbl_cache_total{result="miss",zone="bl.example"} 2
sekisho_dnsbl_lookups_total{result="clean",zone="bl.example"} 1
sekisho_dnsbl_lookups_total{result="listed",zone="bl.example"} 2
`, "sekisho_dnsbl_cache_total", "sekisho_dnsbl_lookups_total")
}
