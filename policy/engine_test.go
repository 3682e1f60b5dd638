package policy

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"net/netip"
	"slices"
	"strings"
	"sync"
	"testing"
	"time"
)

func TestRunOrder(t *testing.T) {
	rec := &recorder{}
	rcpt := []Stage{StageRcpt}
	e := fakeEngine(t, nil,
		bind(&fakeRule{name: "a", stages: rcpt, rec: rec}, Reject),
		bind(&fakeRule{name: "headers-only", stages: []Stage{StageEOH}, hit: match, rec: rec}, Reject),
		bind(&fakeRule{name: "b", stages: []Stage{StageMail, StageRcpt}, rec: rec}, Reject),
		bind(&fakeRule{name: "c", stages: rcpt, rec: rec}, Reject),
	)
	v := e.Run(context.Background(), StageRcpt, newMessage())
	if v.Action != Continue || v.Stage != StageRcpt {
		t.Errorf("verdict %+v, want continue at rcpt", v)
	}
	if got, want := rec.take(), []string{"a@rcpt", "b@rcpt", "c@rcpt"}; !slices.Equal(got, want) {
		t.Errorf("calls %q, want %q", got, want)
	}
	if v := e.Run(context.Background(), StageConnect, newMessage()); v.Action != Continue {
		t.Errorf("no rule at connect, verdict %+v", v)
	}
	if got := rec.take(); len(got) != 0 {
		t.Errorf("rules asked at a stage they do not decide at: %q", got)
	}
}

func TestFirstFinalVerdictWins(t *testing.T) {
	tests := []struct {
		name      string
		rules     []*fakeRule
		actions   []Action
		wantRule  string
		wantCalls []string
	}{
		{
			name:      "first match stops the others",
			rules:     []*fakeRule{{name: "a", hit: match}, {name: "b", hit: match}},
			actions:   []Action{Reject, Reject},
			wantRule:  "a",
			wantCalls: []string{"a@rcpt"},
		},
		{
			name:      "a miss lets the next rule decide",
			rules:     []*fakeRule{{name: "a"}, {name: "b", hit: match}, {name: "c", hit: match}},
			actions:   []Action{Reject, Tempfail, Reject},
			wantRule:  "b",
			wantCalls: []string{"a@rcpt", "b@rcpt"},
		},
		{
			name:      "slow earlier rule wins over a fast later one",
			rules:     []*fakeRule{{name: "slow", hit: match, delay: 30 * time.Millisecond}, {name: "fast", hit: match}},
			actions:   []Action{Tempfail, Reject},
			wantRule:  "slow",
			wantCalls: []string{"slow@rcpt"},
		},
		{
			name:      "tag and log do not stop evaluation",
			rules:     []*fakeRule{{name: "tag", hit: match}, {name: "log", hit: match}, {name: "reject", hit: match}, {name: "never", hit: match}},
			actions:   []Action{Tag, Log, Reject, Reject},
			wantRule:  "reject",
			wantCalls: []string{"tag@rcpt", "log@rcpt", "reject@rcpt"},
		},
		{
			name:      "discard is final",
			rules:     []*fakeRule{{name: "discard", hit: match}, {name: "never", hit: match}},
			actions:   []Action{Discard, Reject},
			wantRule:  "discard",
			wantCalls: []string{"discard@rcpt"},
		},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			rec := &recorder{}
			var bound []*boundRule
			for i, r := range tt.rules {
				r.stages, r.rec = []Stage{StageRcpt}, rec
				bound = append(bound, bind(r, tt.actions[i]))
			}
			e := fakeEngine(t, nil, bound...)
			v := e.Run(context.Background(), StageRcpt, newMessage())
			if v.Rule != tt.wantRule || !v.Action.Final() {
				t.Errorf("verdict %+v, want a final verdict of rule %s", v, tt.wantRule)
			}
			if got := rec.take(); !slices.Equal(got, tt.wantCalls) {
				t.Errorf("calls %q, want %q", got, tt.wantCalls)
			}
		})
	}
}

func TestVerdictFields(t *testing.T) {
	hit := Hit{Matched: true, Reason: "found {rule}", Vars: map[string]string{"rule": "X-1"}}
	e := fakeEngine(t, nil, bind(&fakeRule{name: "r", stages: []Stage{StageRcpt}, hit: hit, rec: &recorder{}}, Reject))
	m := newMessage()
	v := e.Run(context.Background(), StageRcpt, m)
	want := Verdict{Rule: "r", Stage: StageRcpt, Action: Reject, Reply: Reply{Code: 550, Enhanced: "5.7.1", Text: "Refused by X-1"}, Reason: "found {rule}"}
	if v != want {
		t.Errorf("verdict\n%+v\nwant\n%+v", v, want)
	}
	if len(m.Annotations()) != 0 {
		t.Errorf("a reject is not an annotation: %+v", m.Annotations())
	}
}

// TestReplyPlaceholders: the engine fills {client_ip}, {sender}, {rcpt} and
// {queue_id}, an IPv4-mapped client shown as IPv4, and a rule's own values
// override nothing it does not name.
func TestReplyPlaceholders(t *testing.T) {
	r := bind(&fakeRule{name: "r", stages: []Stage{StageRcpt}, hit: match, rec: &recorder{}}, Reject)
	r.reply = Reply{Code: 550, Enhanced: "5.7.1", Text: "{client_ip} {sender} {rcpt} {queue_id}"}
	e := fakeEngine(t, nil, r)
	m := newMessage()
	m.Client.Addr = netip.MustParseAddr("::ffff:192.0.2.1")
	m.Rcpt = "a@example.jp\r\nX"
	v := e.Run(context.Background(), StageRcpt, m)
	if want := "550 5.7.1 192.0.2.1 sender@example.net a@example.jp  X 4QxYz1AbcD"; v.String() != want {
		t.Errorf("reply %q, want %q", v, want)
	}
}

func TestAnnotations(t *testing.T) {
	rec := &recorder{}
	dry := bind(&fakeRule{name: "dry", stages: []Stage{StageRcpt}, hit: match, rec: rec}, Reject)
	dry.dryRun = true
	e := fakeEngine(t, nil,
		bind(&fakeRule{name: "tag", stages: []Stage{StageRcpt}, hit: match, rec: rec}, Tag),
		bind(&fakeRule{name: "log", stages: []Stage{StageRcpt}, hit: match, rec: rec}, Log),
		dry,
		bind(&fakeRule{name: "last", stages: []Stage{StageRcpt}, rec: rec}, Reject),
	)
	m := newMessage()
	v := e.Run(context.Background(), StageRcpt, m)
	if v.Action != Continue {
		t.Errorf("verdict %+v, want continue", v)
	}
	if got, want := rec.take(), []string{"tag@rcpt", "log@rcpt", "dry@rcpt", "last@rcpt"}; !slices.Equal(got, want) {
		t.Errorf("calls %q, want %q", got, want)
	}
	var headers []string
	for _, a := range m.Annotations() {
		headers = append(headers, a.Header())
	}
	want := []string{
		`tag rule=tag reason="scripted"`,
		`would-reject rule=dry reply="550 5.7.1 Refused by {rule}" reason="scripted"`,
	}
	if !slices.Equal(headers, want) {
		t.Errorf("annotations\n%q\nwant\n%q", headers, want)
	}
}

// TestDryRun: in dry-run the verdict is computed, recorded as would-ACTION
// and the mail goes on; nothing is refused.
func TestDryRun(t *testing.T) {
	const wouldReject = `would-reject rule=send_only reply="550 5.1.1 User unknown" reason="recipient noreply@example.co.jp is send-only (pattern noreply@*)"`
	tests := []struct {
		name string
		toml string
	}{
		{"global mode", "mode = \"dry-run\"\n[rules.send_only]\naddresses = [\"noreply@*\"]\n"},
		{"per rule", "[rules.send_only]\naddresses = [\"noreply@*\"]\ndry_run = true\n"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			e := configEngine(t, tt.toml, nil)
			m := newMessage()
			m.Rcpt = "noreply@example.co.jp"
			v := e.Run(context.Background(), StageRcpt, m)
			if v.Action != Continue || v.Action.Final() {
				t.Errorf("verdict %+v, want continue", v)
			}
			a := m.Annotations()
			if len(a) != 1 || !a[0].DryRun || a[0].Action != Reject {
				t.Fatalf("annotations %+v, want one dry-run reject", a)
			}
			if got := a[0].Header(); got != wouldReject {
				t.Errorf("header\n%s\nwant\n%s", got, wouldReject)
			}
		})
	}
}

// TestDryRunOnlyTheRule: dry_run on one rule leaves the others enforcing.
func TestDryRunOnlyTheRule(t *testing.T) {
	e := configEngine(t, `
[rules.send_only]
addresses = ["noreply@*"]
dry_run = true

[rules.recipient_limit]
max = 1
`, nil)
	m := newMessage()
	m.Rcpts = []string{"a@example.jp"}
	m.Rcpt = "noreply@example.jp"
	v := e.Run(context.Background(), StageRcpt, m)
	if v.Rule != "recipient_limit" || v.Action != Reject {
		t.Errorf("verdict %+v, want recipient_limit to reject", v)
	}
	if a := m.Annotations(); len(a) != 1 || a[0].Rule != "send_only" || !a[0].DryRun {
		t.Errorf("annotations %+v, want the send_only dry run", a)
	}
}

func TestOnError(t *testing.T) {
	boom := errors.New("resolver timeout")
	tests := []struct {
		name       string
		onError    string
		dryRun     bool
		errorReply Reply
		want       Verdict // when the erring rule decides
		wantNext   bool    // the next rule is asked
		annotation string
	}{
		{
			name: "tempfail", onError: "tempfail", errorReply: reply4,
			want: Verdict{Rule: "err", Stage: StageRcpt, Action: Tempfail, Reply: reply4, Reason: "error: resolver timeout"},
		},
		{
			name: "tempfail with the rule's error_reply", onError: "tempfail",
			errorReply: Reply{Code: 421, Enhanced: "4.4.3", Text: "DNS failure for {client_ip}"},
			want:       Verdict{Rule: "err", Stage: StageRcpt, Action: Tempfail, Reply: Reply{Code: 421, Enhanced: "4.4.3", Text: "DNS failure for 203.0.113.7"}, Reason: "error: resolver timeout"},
		},
		{
			name: "accept", onError: "accept", errorReply: reply4,
			wantNext: true,
		},
		{
			name: "tag", onError: "tag", errorReply: reply4,
			wantNext: true, annotation: `tag rule=err reason="error: resolver timeout"`,
		},
		{
			name: "tempfail in dry-run", onError: "tempfail", dryRun: true, errorReply: reply4,
			wantNext: true, annotation: `would-tempfail rule=err reply="451 4.7.1 Temporary policy failure, try again later" reason="error: resolver timeout"`,
		},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			rec := &recorder{}
			bad := bind(&fakeRule{name: "err", stages: []Stage{StageRcpt}, err: boom, rec: rec}, Reject)
			bad.onError, bad.errorReply, bad.dryRun = tt.onError, tt.errorReply, tt.dryRun
			next := bind(&fakeRule{name: "next", stages: []Stage{StageRcpt}, rec: rec}, Reject)
			e := fakeEngine(t, nil, bad, next)
			m := newMessage()
			v := e.Run(context.Background(), StageRcpt, m)
			if tt.wantNext {
				if v.Action != Continue {
					t.Errorf("verdict %+v, want continue", v)
				}
			} else if v != tt.want {
				t.Errorf("verdict\n%+v\nwant\n%+v", v, tt.want)
			}
			if v.Action == Tempfail && v.Reply.Code/100 != 4 {
				t.Errorf("tempfail with reply %q", v.Reply)
			}
			calls := rec.take()
			if asked := slices.Contains(calls, "next@rcpt"); asked != tt.wantNext {
				t.Errorf("calls %q: next rule asked = %v, want %v", calls, asked, tt.wantNext)
			}
			var got string
			if a := m.Annotations(); len(a) == 1 {
				got = a[0].Header()
			} else if len(a) > 1 {
				t.Fatalf("annotations %+v", a)
			}
			if got != tt.annotation {
				t.Errorf("annotation %q, want %q", got, tt.annotation)
			}
		})
	}
}

// TestOnErrorFromConfig: the global on_error, a rule's on_error and
// error_reply reach the bound rules.
func TestOnErrorFromConfig(t *testing.T) {
	e := configEngine(t, `
on_error = "accept"
error_reply = "421 4.3.0 Busy"

[rules.send_only]
addresses = ["noreply@*"]

[rules.recipient_limit]
max = 5
on_error = "tag"
error_reply = "452 4.5.3 Later"
`, nil)
	got := map[string]string{}
	for _, r := range e.sets[0].rules {
		got[r.Name()] = r.onError + " " + r.errorReply.String()
	}
	want := map[string]string{"send_only": "accept 421 4.3.0 Busy", "recipient_limit": "tag 452 4.5.3 Later"}
	if fmt.Sprint(got) != fmt.Sprint(want) {
		t.Errorf("on_error %v, want %v", got, want)
	}
}

func TestPanickingRule(t *testing.T) {
	var logs bytes.Buffer
	rec := &recorder{}
	p := &fakeRule{name: "panics", stages: []Stage{StageRcpt}, panics: "index out of range", rec: rec}
	e := fakeEngine(t, logTo(&logs),
		bind(p, Reject),
		bind(&fakeRule{name: "next", stages: []Stage{StageRcpt}, hit: match, rec: rec}, Reject),
	)
	v := e.Run(context.Background(), StageRcpt, newMessage())
	want := Verdict{Rule: "panics", Stage: StageRcpt, Action: Tempfail, Reply: reply4, Reason: "error: rule panicked: index out of range"}
	if v != want {
		t.Errorf("verdict\n%+v\nwant\n%+v", v, want)
	}
	if !strings.Contains(logs.String(), `msg="rule panicked" rule=panics panic="index out of range"`) {
		t.Errorf("panic not logged:\n%s", logs.String())
	}
	// The engine goes on working once the rule behaves.
	p.panics = nil
	v = e.Run(context.Background(), StageRcpt, newMessage())
	if v.Rule != "next" || v.Action != Reject {
		t.Errorf("after the panic, verdict %+v, want next to reject", v)
	}
	if got, want := rec.take(), []string{"panics@rcpt", "panics@rcpt", "next@rcpt"}; !slices.Equal(got, want) {
		t.Errorf("calls %q, want %q", got, want)
	}
}

// TestQuarantineHoldsUntilEndOfBody: a quarantine decided at RCPT is
// applied at end of message, and logged there again with the queue id the
// MTA gave the message after RCPT.
func TestQuarantineHoldsUntilEndOfBody(t *testing.T) {
	rec := &recorder{}
	var logs bytes.Buffer
	e := fakeEngine(t, logTo(&logs),
		bind(&fakeRule{name: "q", stages: []Stage{StageRcpt}, hit: match, rec: rec}, Quarantine),
		bind(&fakeRule{name: "body", stages: []Stage{StageEOB}, rec: rec}, Reject),
	)
	m := newMessage()
	for _, s := range []Stage{StageRcpt, StageRcpt, StageEOH} {
		if v := e.Run(context.Background(), s, m); v.Action != Continue {
			t.Errorf("at %s: verdict %+v, want continue until end of body", s, v)
		}
	}
	m.QueueID = "5033898822E"
	v := e.Run(context.Background(), StageEOB, m)
	if v.Rule != "q" || v.Action != Quarantine || v.Stage != StageEOB {
		t.Errorf("at eob: verdict %+v, want q's quarantine", v)
	}
	var held []string
	for _, l := range strings.Split(logs.String(), "\n") {
		if strings.Contains(l, "msg=held") {
			held = append(held, l)
		}
	}
	if len(held) != 1 || !strings.Contains(held[0], "stage=eob queue_id=5033898822E") ||
		!strings.Contains(held[0], "rule=q action=quarantine decided_at=rcpt reason=") {
		t.Errorf("want one held line with the queue id, rule and stage that decided:\n%s", logs.String())
	}
}

// TestTemporary table-tests the 4xx counterpart of a rule's default reply.
func TestTemporary(t *testing.T) {
	tests := []struct{ in, want string }{
		{"550 5.1.1 User unknown", "450 4.1.1 User unknown"},
		{"553 5.1.3 Bad address", "450 4.1.3 Bad address"},
		{"552 5.3.4 Message too big", "452 4.3.4 Message too big"},
		{"554 5.7.1 Refused", "451 4.7.1 Refused"},
		{"550 5.5.3 Too many recipients", "450 4.5.3 Too many recipients"},
		{"554 Refused", "451 Refused"},
	}
	for _, tt := range tests {
		r, err := ParseReply(tt.in)
		if err != nil {
			t.Fatal(err)
		}
		got := temporary(r)
		if got.String() != tt.want {
			t.Errorf("temporary(%q) = %q, want %q", tt.in, got, tt.want)
		}
		if _, err := ParseReply(got.String()); err != nil {
			t.Errorf("temporary(%q) does not parse: %v", tt.in, err)
		}
	}
}

func TestDecisionLog(t *testing.T) {
	var logs bytes.Buffer
	e := configEngine(t, "[rules.send_only]\naddresses = [\"noreply@*\"]\nreply = \"550 5.1.1 User unknown\"\n", logTo(&logs))
	m := newMessage()
	m.Rcpt = "noreply@example.co.jp"
	v := e.Run(context.Background(), StageRcpt, m)
	if v.Action != Reject {
		t.Fatalf("verdict %+v", v)
	}
	lines := strings.Split(strings.TrimSpace(logs.String()), "\n")
	if len(lines) != 1 {
		t.Fatalf("want one log line per decision, got\n%s", logs.String())
	}
	for _, want := range []string{
		"level=INFO", "msg=decision", "stage=rcpt", "queue_id=4QxYz1AbcD", "client_ip=203.0.113.7",
		"sender=sender@example.net", "rcpt=noreply@example.co.jp",
		"rule=send_only", "action=reject", `reply="550 5.1.1 User unknown"`,
		`reason="recipient noreply@example.co.jp is send-only (pattern noreply@*)"`,
	} {
		if !strings.Contains(lines[0], want) {
			t.Errorf("log line lacks %s:\n%s", want, lines[0])
		}
	}
}

func TestNeeds(t *testing.T) {
	tests := []struct {
		name string
		toml string
		want [StageEOB + 1]bool // connect, helo, mail, rcpt, eoh, eob
	}{
		{"no rule", "", [...]bool{false, false, false, false, false, false}},
		{"send_only", "[rules.send_only]\naddresses = [\"noreply@*\"]\n", [...]bool{false, false, false, true, false, false}},
		{"recipient_limit", "[rules.recipient_limit]\nmax = 9\n", [...]bool{false, false, false, true, false, false}},
		{"recipient_limit with count_headers", "[rules.recipient_limit]\nmax = 9\ncount_headers = true\n", [...]bool{false, false, false, true, true, false}},
		{"disabled rule", "[rules.recipient_limit]\nenabled = false\nmax = 9\ncount_headers = true\n", [...]bool{false, false, false, false, false, false}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			e := configEngine(t, tt.toml, nil)
			for s, want := range tt.want {
				if got := e.Needs(Stage(s)); got != want {
					t.Errorf("Needs(%s) = %v, want %v", Stage(s), got, want)
				}
			}
			if e.Needs(Stage(-1)) || e.Needs(StageEOB+1) {
				t.Error("Needs of a stage out of range")
			}
		})
	}
}

// TestNeedsDefault: the default configuration needs no client check before
// MAIL FROM (it has no DNSBL) and needs RCPT and end of headers.
func TestNeedsDefault(t *testing.T) {
	e := configEngine(t, string(DefaultConfig), nil)
	for s, want := range map[Stage]bool{StageConnect: false, StageHelo: false, StageRcpt: true, StageEOH: true} {
		if got := e.Needs(s); got != want {
			t.Errorf("Needs(%s) = %v, want %v", s, got, want)
		}
	}
}

// TestConcurrentMessages runs one engine over many messages at once; run
// with -race.
func TestConcurrentMessages(t *testing.T) {
	e := configEngine(t, "[rules.recipient_limit]\nmax = 9\n", nil)
	var wg sync.WaitGroup
	for i := range 8 {
		wg.Go(func() {
			m := newMessage()
			for j := range 12 {
				m.Rcpt = fmt.Sprintf("user%d-%d@example.jp", i, j)
				v := e.Run(context.Background(), StageRcpt, m)
				if (j < 9) != (v.Action == Continue) {
					t.Errorf("message %d, recipient %d: verdict %+v", i, j+1, v)
				}
				if v.Action == Continue {
					m.Rcpts = append(m.Rcpts, m.Rcpt)
				}
			}
		})
	}
	wg.Wait()
}

// TestSubjectDecodedOnceFollowsHeader: the decoded Subject both subject
// rules read is remembered for the message, and a Subject that changes
// afterwards (a later message on the same Message, a test) is decoded
// anew, and an absent one is absent.
func TestSubjectDecodedOnceFollowsHeader(t *testing.T) {
	m := newMessage()
	m.Headers = []Header{{Name: "Subject", Value: "=?ISO-2022-JP?B?GyRCJDMkcyRLJEEkTxsoQg==?="}}
	for i := 0; i < 2; i++ {
		if s, ok := subject(m); s != "こんにちは" || !ok {
			t.Fatalf("subject %q %v", s, ok)
		}
	}
	m.Headers[0].Value = "plain"
	if s, ok := subject(m); s != "plain" || !ok {
		t.Fatalf("after the change: %q %v", s, ok)
	}
	m.Headers = nil
	if s, ok := subject(m); s != "" || ok {
		t.Fatalf("without a Subject: %q %v", s, ok)
	}
}
