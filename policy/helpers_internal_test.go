package policy

import (
	"bytes"
	"context"
	"log/slog"
	"net/netip"
	"sync"
	"testing"
	"time"
)

// The helpers of the package's internal tests: fake rules bound as the
// engine binds them, an engine of fakes or of a configuration, and a
// message. Tests from outside the package use helpers_test.go.

// recorder keeps the order in which fake rules were asked.
type recorder struct {
	mu    sync.Mutex
	calls []string
}

func (r *recorder) add(s string) {
	r.mu.Lock()
	defer r.mu.Unlock()
	r.calls = append(r.calls, s)
}

func (r *recorder) take() []string {
	r.mu.Lock()
	defer r.mu.Unlock()
	out := r.calls
	r.calls = nil
	return out
}

// fakeRule decides as scripted and records every call as "name@stage".
type fakeRule struct {
	name   string
	stages []Stage
	hit    Hit           // returned at every stage
	err    error         // returned instead of hit when set
	panics any           // Check panics with this when set
	delay  time.Duration // Check takes this long
	rec    *recorder
}

func (f *fakeRule) Name() string { return f.name }

func (f *fakeRule) Check(_ context.Context, stage Stage, _ *Message) (Hit, error) {
	f.rec.add(f.name + "@" + stage.String())
	time.Sleep(f.delay)
	if f.panics != nil {
		panic(f.panics)
	}
	if f.err != nil {
		return Hit{}, f.err
	}
	return f.hit, nil
}

var (
	reply5 = Reply{Code: 550, Enhanced: "5.7.1", Text: "Refused by {rule}"}
	reply4 = Reply{Code: 451, Enhanced: "4.7.1", Text: "Temporary policy failure, try again later"}
	match  = Hit{Matched: true, Reason: "scripted"}
	client = Client{Addr: netip.MustParseAddr("203.0.113.7"), Helo: "mx.example.net"}
)

// bind gives a fake rule the outcome NewEngine would give it from a
// [rules.NAME] table with action and reply set and the global defaults.
func bind(r Rule, action Action) *boundRule {
	b := &boundRule{Rule: r, name: r.Name(), action: action, onError: "tempfail", errorReply: reply4, stream: -1}
	if f, ok := r.(*fakeRule); ok {
		b.needs.Stages = f.stages
	}
	b.classify(nil)
	switch action {
	case Reject:
		b.reply = reply5
	case Tempfail:
		b.reply = temporary(reply5)
	}
	return b
}

// fakeEngine mirrors NewEngine for rules that no configuration can make.
func fakeEngine(t *testing.T, log *slog.Logger, rules ...*boundRule) *Engine {
	t.Helper()
	if log == nil {
		log = slog.New(slog.DiscardHandler)
	}
	e := &Engine{cfg: defaults(), sets: []*ruleSet{{name: DefaultPolicy, rules: rules}}, exempt: &exemptions{}, log: log}
	for _, r := range rules {
		for _, s := range r.stages {
			e.needs[s] = true
		}
	}
	return e
}

// logTo returns a logger that writes text lines to b.
func logTo(b *bytes.Buffer) *slog.Logger {
	return slog.New(slog.NewTextHandler(b, &slog.HandlerOptions{Level: slog.LevelDebug}))
}

// configEngine parses a configuration and builds its engine, logging to
// log (nowhere when nil).
func configEngine(t *testing.T, toml string, log *slog.Logger) *Engine {
	t.Helper()
	if log == nil {
		log = slog.New(slog.DiscardHandler)
	}
	return envEngine(t, mustParse(t, toml), &Env{Logger: log})
}

// mustParse parses a configuration that must be valid.
func mustParse(t *testing.T, toml string) *Config {
	t.Helper()
	c, err := Parse("t.toml", []byte(toml))
	if err != nil {
		t.Fatal(err)
	}
	return c
}

// envEngine builds the engine of c on env.
func envEngine(t *testing.T, c *Config, env *Env) *Engine {
	t.Helper()
	e, err := NewEngine(c, env)
	if err != nil {
		t.Fatal(err)
	}
	return e
}

func newMessage() *Message {
	return &Message{Client: client, QueueID: "4QxYz1AbcD", Sender: "sender@example.net", Rcpt: "user@example.jp"}
}
