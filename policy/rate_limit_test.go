package policy_test

import (
	"context"
	"net/netip"
	"strings"
	"testing"
	"time"

	"github.com/sekisho/sekisho/policy"
)

// rateStart is when the clocks of the rate-limit tests start. Each test
// has an Env of its own: the memory store lives in the Env.
var rateStart = time.Date(2025, 4, 1, 9, 0, 0, 0, time.FixedZone("JST", 9*3600))

// rateMail is one message of the rate-limit tests: a client, a sender and
// recipients.
type rateMail struct {
	client string
	sender string
	rcpts  []string
}

// rateRcpt runs the recipient stage for the recipients of mail (rcptTo)
// and returns the verdict of the last one together with the message
// holding the recipients accepted so far.
func rateRcpt(e *policy.Engine, mail rateMail) (policy.Verdict, *policy.Message) {
	m := &policy.Message{Client: policy.Client{Addr: netip.MustParseAddr(mail.client)}, Sender: mail.sender}
	var v policy.Verdict
	if vs := rcptTo(e, m, mail.rcpts...); len(vs) > 0 {
		v = vs[len(vs)-1]
	}
	return v, m
}

// rateSend runs the recipient stage and, when every recipient passed,
// finishes the message, which counts it as accepted.
func rateSend(t *testing.T, e *policy.Engine, mail rateMail) {
	t.Helper()
	v, m := rateRcpt(e, mail)
	if v.Action != policy.Continue {
		t.Fatalf("sending %+v: %s %s (%s)", mail, v.Rule, v, v.Reason)
	}
	e.Finish(context.Background(), m)
}

const rateReply = "450 4.7.1 Too many messages to <bob@example.co.jp>, try again later"

var aliceToBob = rateMail{"192.0.2.10", "alice@example.net", []string{"bob@example.co.jp"}}

func TestRateLimit(t *testing.T) {
	env, _ := clockEnv(rateStart)
	e := newEngine(t, "[rules.rate_limit]\nlimit = 3\nwindow = \"10m\"\n", env)
	if !e.Needs(policy.StageRcpt) {
		t.Error("Needs(rcpt) = false")
	}
	for range 3 {
		rateSend(t, e, aliceToBob)
	}
	v, _ := rateRcpt(e, aliceToBob)
	expect(t, v, "rate_limit", policy.Tempfail, rateReply,
		"sender+recipient:alice@example.net|bob@example.co.jp had 3 messages within 10m0s (limit 3)")
	if v.Stage != policy.StageRcpt {
		t.Errorf("stage = %s, want rcpt", v.Stage)
	}
}

func TestRateLimitCountsOnlyCommittedMail(t *testing.T) {
	env, _ := clockEnv(rateStart)
	e := newEngine(t, "[rules.rate_limit]\nlimit = 3\n", env)
	rateSend(t, e, aliceToBob)
	rateSend(t, e, aliceToBob)
	// Mail refused later on, or aborted, is never committed.
	for range 10 {
		v, _ := rateRcpt(e, aliceToBob)
		expectContinue(t, v)
	}
	rateSend(t, e, aliceToBob)
	v, _ := rateRcpt(e, aliceToBob)
	expect(t, v, "rate_limit", policy.Tempfail, rateReply)
}

func TestRateLimitOneCountPerMessage(t *testing.T) {
	env, _ := clockEnv(rateStart)
	e := newEngine(t, "[rules.rate_limit]\nlimit = 2\n", env)
	// The same recipient twice, in two spellings, counts once.
	rateSend(t, e, rateMail{"192.0.2.10", "alice@example.net", []string{"bob@example.co.jp", "<Bob@Example.co.jp>", "carol@example.co.jp"}})
	rateSend(t, e, aliceToBob)
	v, _ := rateRcpt(e, aliceToBob)
	expect(t, v, "rate_limit", policy.Tempfail, rateReply)
	v, _ = rateRcpt(e, rateMail{"192.0.2.10", "alice@example.net", []string{"carol@example.co.jp"}})
	expectContinue(t, v)
}

func TestRateLimitKeys(t *testing.T) {
	other := []rateMail{
		{"192.0.2.10", "carol@example.net", []string{"bob@example.co.jp"}},  // another sender
		{"192.0.2.10", "alice@example.net", []string{"dave@example.co.jp"}}, // another recipient
		{"192.0.2.99", "alice@example.net", []string{"bob@example.co.jp"}},  // another client
		{"192.0.2.99", "carol@example.net", []string{"dave@example.co.jp"}}, // nothing in common
		{"192.0.2.10", "carol@example.net", []string{"dave@example.co.jp"}}, // the client only
		{"192.0.2.99", "alice@example.net", []string{"erin@example.co.jp"}}, // the sender only
	}
	tests := []struct {
		key     string
		limited []bool // for each of other: is it over the limit too
	}{
		{"", []bool{false, false, true, false, false, false}},
		{"sender+recipient", []bool{false, false, true, false, false, false}},
		{"recipient", []bool{true, false, true, false, false, false}},
		{"client", []bool{true, true, false, false, true, false}},
		{"client+recipient", []bool{true, false, false, false, false, false}},
		{"sender", []bool{false, true, true, false, false, true}},
	}
	for _, tt := range tests {
		t.Run("key="+tt.key, func(t *testing.T) {
			env, _ := clockEnv(rateStart)
			cfg := "[rules.rate_limit]\nlimit = 2\n"
			if tt.key != "" {
				cfg += "key = \"" + tt.key + "\"\n"
			}
			e := newEngine(t, cfg, env)
			rateSend(t, e, aliceToBob)
			rateSend(t, e, aliceToBob)
			v, _ := rateRcpt(e, aliceToBob)
			if v.Action != policy.Tempfail {
				t.Fatalf("third mail: %s, want tempfail", v)
			}
			for i, mail := range other {
				v, _ := rateRcpt(e, mail)
				if got := v.Action == policy.Tempfail; got != tt.limited[i] {
					t.Errorf("%+v: limited = %v (%s), want %v", mail, got, v.Reason, tt.limited[i])
				}
				if v.Action == policy.Tempfail {
					want := "450 4.7.1 Too many messages to <" + mail.rcpts[0] + ">, try again later"
					if v.Reply.String() != want {
						t.Errorf("reply = %q, want %q", v.Reply.String(), want)
					}
				}
			}
		})
	}
}

func TestRateLimitIgnoresCase(t *testing.T) {
	env, _ := clockEnv(rateStart)
	e := newEngine(t, "[rules.rate_limit]\nlimit = 2\n", env)
	rateSend(t, e, rateMail{"192.0.2.10", "ALICE@Example.NET", []string{"Bob@Example.CO.JP"}})
	rateSend(t, e, rateMail{"192.0.2.10", "<alice@example.net>", []string{"<bob@example.co.jp>"}})
	v, _ := rateRcpt(e, aliceToBob)
	expect(t, v, "rate_limit", policy.Tempfail, rateReply, "alice@example.net|bob@example.co.jp had 2 messages")
}

func TestRateLimitNullSender(t *testing.T) {
	env, _ := clockEnv(rateStart)
	e := newEngine(t, "[rules.rate_limit]\nlimit = 2\n", env)
	bounce := rateMail{"192.0.2.10", "", []string{"bob@example.co.jp"}}
	rateSend(t, e, bounce)
	rateSend(t, e, rateMail{"192.0.2.11", "<>", []string{"bob@example.co.jp"}})
	v, _ := rateRcpt(e, bounce)
	expect(t, v, "rate_limit", policy.Tempfail, rateReply, "sender+recipient:<>|bob@example.co.jp had 2 messages")
	v, _ = rateRcpt(e, aliceToBob)
	expectContinue(t, v)
}

func TestRateLimitWindow(t *testing.T) {
	env, clock := clockEnv(rateStart)
	e := newEngine(t, "[rules.rate_limit]\nlimit = 3\nwindow = \"10m\"\n", env)
	rateSend(t, e, aliceToBob)
	clock.Advance(time.Minute)
	rateSend(t, e, aliceToBob)
	rateSend(t, e, aliceToBob)
	clock.Advance(9*time.Minute - time.Second)
	v, _ := rateRcpt(e, aliceToBob)
	expect(t, v, "rate_limit", policy.Tempfail, rateReply)
	// The first message is exactly ten minutes old: it no longer counts.
	clock.Advance(time.Second)
	v, _ = rateRcpt(e, aliceToBob)
	expectContinue(t, v)
	rateSend(t, e, aliceToBob)
	v, _ = rateRcpt(e, aliceToBob)
	expect(t, v, "rate_limit", policy.Tempfail, rateReply)
	clock.Advance(time.Minute - time.Second)
	v, _ = rateRcpt(e, aliceToBob)
	expect(t, v, "rate_limit", policy.Tempfail, rateReply, "had 3 messages")
	// The second and third messages expire together.
	clock.Advance(time.Second)
	v, _ = rateRcpt(e, aliceToBob)
	expectContinue(t, v)
	clock.Advance(time.Hour)
	for range 3 {
		rateSend(t, e, aliceToBob)
	}
	v, _ = rateRcpt(e, aliceToBob)
	expect(t, v, "rate_limit", policy.Tempfail, rateReply, "had 3 messages")
}

func TestRateLimitCountsSurviveReload(t *testing.T) {
	env, _ := clockEnv(rateStart)
	const cfg = "[rules.rate_limit]\nlimit = 2\n"
	old := newEngine(t, cfg, env)
	rateSend(t, old, aliceToBob)
	rateSend(t, old, aliceToBob)
	v, _ := rateRcpt(newEngine(t, cfg, env), aliceToBob)
	expect(t, v, "rate_limit", policy.Tempfail, rateReply)
	// Another Env is another process: it starts from nothing.
	v, _ = rateRcpt(newEngine(t, cfg, nil), aliceToBob)
	expectContinue(t, v)
}

func TestRateLimitStoreUnreachable(t *testing.T) {
	const cfg = "[rules.rate_limit]\nlimit = 3\nstore = \"redis://127.0.0.1:1/0\"\ntimeout = \"200ms\"\n"
	t.Run("tempfail by default", func(t *testing.T) {
		e := newEngine(t, cfg, nil)
		start := time.Now()
		v, _ := rateRcpt(e, aliceToBob)
		expect(t, v, "rate_limit", policy.Tempfail, servFailReply, "error: rate limit store")
		if d := time.Since(start); d > 2*time.Second {
			t.Errorf("the store's failure took %v", d)
		}
	})
	t.Run("accept", func(t *testing.T) {
		e := newEngine(t, cfg+"on_error = \"accept\"\n", nil)
		v, m := rateRcpt(e, aliceToBob)
		expectContinue(t, v)
		// A commit that fails is logged, not fatal.
		e.Finish(context.Background(), m)
	})
	t.Run("tag", func(t *testing.T) {
		e := newEngine(t, cfg+"on_error = \"tag\"\n", nil)
		v, m := rateRcpt(e, aliceToBob)
		expectContinue(t, v)
		if a := m.Annotations(); len(a) != 1 || !strings.HasPrefix(a[0].Header(), "tag rule=rate_limit") {
			t.Errorf("annotations = %v, want one tag by rate_limit", a)
		}
	})
}

func TestRateLimitConfigErrors(t *testing.T) {
	tests := []struct{ cfg, want string }{
		{"[rules.rate_limit]\n", "rules.rate_limit.limit: must be at least 1"},
		{"[rules.rate_limit]\nlimit = 3\nkey = \"helo\"\n", "t.toml:3:1: rules.rate_limit.key: ratelimit: unknown key kind \"helo\""},
		{"[rules.rate_limit]\nlimit = 3\nstore = \"memcached://x\"\n", "t.toml:3:1: rules.rate_limit.store"},
	}
	for _, tt := range tests {
		_, err := policy.Parse("t.toml", []byte(tt.cfg))
		if err == nil || !strings.Contains(err.Error(), tt.want) {
			t.Errorf("config\n%s: error %v, want %q", tt.cfg, err, tt.want)
		}
	}
}

// TestMetricsRateLimitStore: each failed store call is counted by
// operation, whatever the rule's on_error makes of it.
func TestMetricsRateLimitStore(t *testing.T) {
	env, m := metricsEnv()
	defer env.Close()
	e := newEngine(t, "[rules.rate_limit]\nlimit = 3\nstore = \"redis://"+closedAddr(t)+"/0\"\ntimeout = \"200ms\"\non_error = \"accept\"\n", env)
	_, msg := rateRcpt(e, aliceToBob)
	e.Finish(context.Background(), msg)
	_, msg = rateRcpt(e, aliceToBob)
	expectMetrics(t, m, `
sekisho_ratelimit_store_errors_total{op="add"} 1
sekisho_ratelimit_store_errors_total{op="count"} 2
`, "sekisho_ratelimit_store_errors_total")
	msg.Close()
}
