package policy_test

import (
	"context"
	"net/netip"
	"strings"
	"testing"
	"time"

	"github.com/sekisho/sekisho/policy"
	"github.com/sekisho/sekisho/policy/internal/testkit"
)

// rtRateEnv returns an Env of its own (the memory store lives in the Env)
// and the clock it reads.
func rtRateEnv() (*policy.Env, *testkit.Clock) {
	clock := testkit.NewClock(time.Date(2025, 4, 1, 9, 0, 0, 0, time.FixedZone("JST", 9*3600)))
	env := rtEnv()
	env.Now = clock.Now
	return env, clock
}

// rtMail3 is one message of the rate-limit tests: a client, a sender and
// recipients.
type rtMail3 struct {
	client string
	sender string
	rcpts  []string
}

// rtRcpt runs the recipient stage for each recipient of mail in turn, as
// the milter does, and returns the verdict of the last one together with
// the message holding the recipients accepted so far.
func rtRcpt(e *policy.Engine, mail rtMail3) (policy.Verdict, *policy.Message) {
	m := &policy.Message{Client: policy.Client{Addr: netip.MustParseAddr(mail.client)}, Sender: mail.sender}
	var v policy.Verdict
	for _, r := range mail.rcpts {
		m.Rcpt = r
		v = e.Run(context.Background(), policy.StageRcpt, m)
		if v.Action == policy.Continue {
			m.Rcpts = append(m.Rcpts, r)
		}
	}
	return v, m
}

// rtSend runs the recipient stage and, when every recipient passed,
// finishes the message, which counts it as accepted.
func rtSend(t *testing.T, e *policy.Engine, mail rtMail3) {
	t.Helper()
	v, m := rtRcpt(e, mail)
	if v.Action != policy.Continue {
		t.Fatalf("sending %+v: %s %s (%s)", mail, v.Rule, v, v.Reason)
	}
	e.Finish(context.Background(), m)
}

const rtRateReply = "450 4.7.1 Too many messages to <bob@example.co.jp>, try again later"

var rtAliceToBob = rtMail3{"192.0.2.10", "alice@example.net", []string{"bob@example.co.jp"}}

func TestRateLimit(t *testing.T) {
	env, _ := rtRateEnv()
	e := rtEngine(t, "[rules.rate_limit]\nlimit = 3\nwindow = \"10m\"\n", env)
	if !e.Needs(policy.StageRcpt) {
		t.Error("Needs(rcpt) = false")
	}
	for range 3 {
		rtSend(t, e, rtAliceToBob)
	}
	v, _ := rtRcpt(e, rtAliceToBob)
	rtExpect(t, v, "rate_limit", policy.Tempfail, rtRateReply,
		"sender+recipient:alice@example.net|bob@example.co.jp had 3 messages within 10m0s (limit 3)")
	if v.Stage != policy.StageRcpt {
		t.Errorf("stage = %s, want rcpt", v.Stage)
	}
}

func TestRateLimitCountsOnlyCommittedMail(t *testing.T) {
	env, _ := rtRateEnv()
	e := rtEngine(t, "[rules.rate_limit]\nlimit = 3\n", env)
	rtSend(t, e, rtAliceToBob)
	rtSend(t, e, rtAliceToBob)
	// Mail refused later on, or aborted, is never committed.
	for range 10 {
		v, _ := rtRcpt(e, rtAliceToBob)
		rtExpectContinue(t, v)
	}
	rtSend(t, e, rtAliceToBob)
	v, _ := rtRcpt(e, rtAliceToBob)
	rtExpect(t, v, "rate_limit", policy.Tempfail, rtRateReply)
}

func TestRateLimitOneCountPerMessage(t *testing.T) {
	env, _ := rtRateEnv()
	e := rtEngine(t, "[rules.rate_limit]\nlimit = 2\n", env)
	// The same recipient twice, in two spellings, counts once.
	rtSend(t, e, rtMail3{"192.0.2.10", "alice@example.net", []string{"bob@example.co.jp", "<Bob@Example.co.jp>", "carol@example.co.jp"}})
	rtSend(t, e, rtAliceToBob)
	v, _ := rtRcpt(e, rtAliceToBob)
	rtExpect(t, v, "rate_limit", policy.Tempfail, rtRateReply)
	v, _ = rtRcpt(e, rtMail3{"192.0.2.10", "alice@example.net", []string{"carol@example.co.jp"}})
	rtExpectContinue(t, v)
}

func TestRateLimitKeys(t *testing.T) {
	other := []rtMail3{
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
			env, _ := rtRateEnv()
			cfg := "[rules.rate_limit]\nlimit = 2\n"
			if tt.key != "" {
				cfg += "key = \"" + tt.key + "\"\n"
			}
			e := rtEngine(t, cfg, env)
			rtSend(t, e, rtAliceToBob)
			rtSend(t, e, rtAliceToBob)
			v, _ := rtRcpt(e, rtAliceToBob)
			if v.Action != policy.Tempfail {
				t.Fatalf("third mail: %s, want tempfail", v)
			}
			for i, mail := range other {
				v, _ := rtRcpt(e, mail)
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
	env, _ := rtRateEnv()
	e := rtEngine(t, "[rules.rate_limit]\nlimit = 2\n", env)
	rtSend(t, e, rtMail3{"192.0.2.10", "ALICE@Example.NET", []string{"Bob@Example.CO.JP"}})
	rtSend(t, e, rtMail3{"192.0.2.10", "<alice@example.net>", []string{"<bob@example.co.jp>"}})
	v, _ := rtRcpt(e, rtAliceToBob)
	rtExpect(t, v, "rate_limit", policy.Tempfail, rtRateReply, "alice@example.net|bob@example.co.jp had 2 messages")
}

func TestRateLimitNullSender(t *testing.T) {
	env, _ := rtRateEnv()
	e := rtEngine(t, "[rules.rate_limit]\nlimit = 2\n", env)
	bounce := rtMail3{"192.0.2.10", "", []string{"bob@example.co.jp"}}
	rtSend(t, e, bounce)
	rtSend(t, e, rtMail3{"192.0.2.11", "<>", []string{"bob@example.co.jp"}})
	v, _ := rtRcpt(e, bounce)
	rtExpect(t, v, "rate_limit", policy.Tempfail, rtRateReply, "sender+recipient:<>|bob@example.co.jp had 2 messages")
	v, _ = rtRcpt(e, rtAliceToBob)
	rtExpectContinue(t, v)
}

func TestRateLimitWindow(t *testing.T) {
	env, clock := rtRateEnv()
	e := rtEngine(t, "[rules.rate_limit]\nlimit = 3\nwindow = \"10m\"\n", env)
	rtSend(t, e, rtAliceToBob)
	clock.Advance(time.Minute)
	rtSend(t, e, rtAliceToBob)
	rtSend(t, e, rtAliceToBob)
	clock.Advance(9*time.Minute - time.Second)
	v, _ := rtRcpt(e, rtAliceToBob)
	rtExpect(t, v, "rate_limit", policy.Tempfail, rtRateReply)
	// The first message is exactly ten minutes old: it no longer counts.
	clock.Advance(time.Second)
	v, _ = rtRcpt(e, rtAliceToBob)
	rtExpectContinue(t, v)
	rtSend(t, e, rtAliceToBob)
	v, _ = rtRcpt(e, rtAliceToBob)
	rtExpect(t, v, "rate_limit", policy.Tempfail, rtRateReply)
	clock.Advance(time.Minute - time.Second)
	v, _ = rtRcpt(e, rtAliceToBob)
	rtExpect(t, v, "rate_limit", policy.Tempfail, rtRateReply, "had 3 messages")
	// The second and third messages expire together.
	clock.Advance(time.Second)
	v, _ = rtRcpt(e, rtAliceToBob)
	rtExpectContinue(t, v)
	clock.Advance(time.Hour)
	for range 3 {
		rtSend(t, e, rtAliceToBob)
	}
	v, _ = rtRcpt(e, rtAliceToBob)
	rtExpect(t, v, "rate_limit", policy.Tempfail, rtRateReply, "had 3 messages")
}

func TestRateLimitCountsSurviveReload(t *testing.T) {
	env, _ := rtRateEnv()
	const cfg = "[rules.rate_limit]\nlimit = 2\n"
	old := rtEngine(t, cfg, env)
	rtSend(t, old, rtAliceToBob)
	rtSend(t, old, rtAliceToBob)
	v, _ := rtRcpt(rtEngine(t, cfg, env), rtAliceToBob)
	rtExpect(t, v, "rate_limit", policy.Tempfail, rtRateReply)
	// Another Env is another process: it starts from nothing.
	v, _ = rtRcpt(rtEngine(t, cfg, nil), rtAliceToBob)
	rtExpectContinue(t, v)
}

func TestRateLimitStoreUnreachable(t *testing.T) {
	const cfg = "[rules.rate_limit]\nlimit = 3\nstore = \"redis://127.0.0.1:1/0\"\ntimeout = \"200ms\"\n"
	t.Run("tempfail by default", func(t *testing.T) {
		e := rtEngine(t, cfg, nil)
		start := time.Now()
		v, _ := rtRcpt(e, rtAliceToBob)
		rtExpect(t, v, "rate_limit", policy.Tempfail, rtServFail, "error: rate limit store")
		if d := time.Since(start); d > 2*time.Second {
			t.Errorf("the store's failure took %v", d)
		}
	})
	t.Run("accept", func(t *testing.T) {
		e := rtEngine(t, cfg+"on_error = \"accept\"\n", nil)
		v, m := rtRcpt(e, rtAliceToBob)
		rtExpectContinue(t, v)
		// A commit that fails is logged, not fatal.
		e.Finish(context.Background(), m)
	})
	t.Run("tag", func(t *testing.T) {
		e := rtEngine(t, cfg+"on_error = \"tag\"\n", nil)
		v, m := rtRcpt(e, rtAliceToBob)
		rtExpectContinue(t, v)
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
