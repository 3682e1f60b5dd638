package policy

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"runtime/debug"
	"slices"
	"strings"
	"sync"
	"time"

	"github.com/sekisho/sekisho/policy/dnsbl"
	"github.com/sekisho/sekisho/policy/mime"
	"github.com/sekisho/sekisho/policy/ratelimit"
)

// Env holds what rules share beyond one configuration: it is made once per
// process and outlives reloads, so caches and counters survive them.
type Env struct {
	Logger *slog.Logger
	Now    func() time.Time

	once     sync.Once
	resolver *dnsbl.Resolver

	mu     sync.Mutex
	memory *ratelimit.Memory
	redis  map[string]*ratelimit.Redis
}

// rateStore returns the process's rate-limit store for a store setting:
// counts outlive reloads, and several rules on one Redis share a client.
func (env *Env) rateStore(store string, timeout time.Duration) (ratelimit.Store, error) {
	env.mu.Lock()
	defer env.mu.Unlock()
	if store == "" || store == "memory" {
		if env.memory == nil {
			env.memory = ratelimit.NewMemory(100000, env.Now)
		}
		return env.memory, nil
	}
	// A reload that changes the timeout gets a client of its own.
	key := store + " " + timeout.String()
	if r, ok := env.redis[key]; ok {
		return r, nil
	}
	r, err := ratelimit.NewRedis(store, "sekisho:rl:", timeout)
	if err != nil {
		return nil, err
	}
	if env.redis == nil {
		env.redis = map[string]*ratelimit.Redis{}
	}
	env.redis[key] = r
	return r, nil
}

func (env *Env) logger() *slog.Logger {
	if env.Logger != nil {
		return env.Logger
	}
	return slog.Default()
}

// dnsbl returns the process's DNSBL resolver, whose cache outlives reloads.
func (env *Env) dnsbl() *dnsbl.Resolver {
	env.once.Do(func() {
		env.resolver = dnsbl.NewResolver(dnsbl.CacheConfig{Now: env.Now})
	})
	return env.resolver
}

// Engine runs the enabled rules of one configuration. It is safe for
// concurrent use; per-message state lives in the Message.
type Engine struct {
	cfg    *Config
	rules  []*boundRule
	exempt *exemptions
	limits mime.Limits
	log    *slog.Logger
	needs  [StageBody + 1]bool
}

// boundRule is a rule with its configured outcome.
type boundRule struct {
	Rule
	stages     []Stage
	action     Action
	reply      Reply
	dryRun     bool
	onError    string
	errorReply Reply
}

// onErrorDefaulter is a rule config whose on_error default differs from the
// global one (a DNSBL outage must not stop all mail).
type onErrorDefaulter interface {
	onErrorDefault() string
}

// NewEngine builds the rules of a validated configuration.
func NewEngine(cfg *Config, env *Env) (*Engine, error) {
	if env == nil {
		env = &Env{}
	}
	ex, err := newExemptions(cfg.Exempt)
	if err != nil {
		return nil, err
	}
	e := &Engine{cfg: cfg, exempt: ex, limits: cfg.Inspect.limits(), log: env.logger()}
	tables := cfg.Rules.tables(cfg.Order)
	for _, t := range tables {
		if err := e.bind(t, env); err != nil {
			return nil, err
		}
	}
	if e.implicitUninspectable(tables) {
		if err := e.bind(namedConfig{name: "uninspectable", key: "uninspectable", cfg: &UninspectableConfig{}}, env); err != nil {
			return nil, err
		}
	}
	e.rules = inspectionFirst(e.rules)
	return e, nil
}

// bind builds the rule of one table with its configured outcome, unless
// the table turns it off.
func (e *Engine) bind(t namedConfig, env *Env) error {
	cfg := e.cfg
	rc := t.cfg.common()
	if rc.Enabled != nil && !*rc.Enabled {
		return nil
	}
	r, err := t.cfg.build(env)
	if err != nil {
		return fmt.Errorf("rules.%s: %w", t.key, err)
	}
	b := &boundRule{Rule: r, stages: r.Stages(), dryRun: rc.DryRun || cfg.Mode == "dry-run"}
	b.action, b.reply = t.cfg.defaults()
	if rc.Action != nil {
		b.action = *rc.Action
		if rc.Reply == nil && b.action == Tempfail {
			b.reply = temporary(b.reply)
		}
	}
	if rc.Reply != nil {
		b.reply = *rc.Reply
	}
	b.onError = cfg.OnError
	if d, ok := t.cfg.(onErrorDefaulter); ok {
		b.onError = d.onErrorDefault()
	}
	if rc.OnError != "" {
		b.onError = rc.OnError
	}
	b.errorReply = cfg.ErrorReply
	if rc.ErrorReply != nil {
		b.errorReply = *rc.ErrorReply
	}
	for _, s := range b.stages {
		e.needs[s] = true
	}
	if _, ok := r.(Streamer); ok {
		e.needs[StageHeaders], e.needs[StageBody] = true, true
	}
	e.rules = append(e.rules, b)
	return nil
}

// implicitUninspectable reports whether the uninspectable rule must be
// added with its defaults: a rule judges the inspection at end of body and
// the file has no table for it, so that a message that could not be read
// completely is never judged clean on what was read. enabled = false in
// its table turns it off.
func (e *Engine) implicitUninspectable(tables []namedConfig) bool {
	for _, t := range tables {
		if t.name == "uninspectable" {
			return false
		}
	}
	for _, r := range e.rules {
		if _, ok := r.Rule.(inspector); ok && slices.Contains(r.stages, StageBody) {
			return true
		}
	}
	return false
}

// inspectionFirst moves the uninspectable rule before the first other rule
// that judges the inspection, whatever the file's order, so that the reply
// to a message that could not be read completely says so.
func inspectionFirst(rules []*boundRule) []*boundRule {
	at, first := -1, -1
	for i, r := range rules {
		if _, ok := r.Rule.(inspector); !ok {
			continue
		}
		if r.Name() == "uninspectable" {
			at = i
		} else if first < 0 {
			first = i
		}
	}
	if at < 0 || first < 0 || at < first {
		return rules
	}
	u := rules[at]
	out := append([]*boundRule{}, rules[:first]...)
	out = append(out, u)
	out = append(out, rules[first:at]...)
	return append(out, rules[at+1:]...)
}

// temporary turns a rule's default 5xx reply into its 4xx counterpart for
// a rule configured to tempfail without a reply of its own.
func temporary(r Reply) Reply {
	switch r.Code {
	case 552:
		r.Code = 452
	case 550, 553:
		r.Code = 450
	default:
		r.Code = 451
	}
	if r.Enhanced != "" {
		r.Enhanced = "4" + r.Enhanced[1:]
	}
	return r
}

// Config returns the configuration the engine was built from.
func (e *Engine) Config() *Config { return e.cfg }

// Rules returns the names of the enabled rules, in evaluation order.
func (e *Engine) Rules() []string {
	out := make([]string, len(e.rules))
	for i, r := range e.rules {
		out[i] = r.Name()
	}
	return out
}

// Needs reports whether any enabled rule decides at stage, so that the MTA
// is asked only for what is used. StageHeaders and StageBody are also
// needed by rules that read the raw message or count accepted mail.
func (e *Engine) Needs(stage Stage) bool {
	if stage < 0 || stage > StageBody {
		return false
	}
	return e.needs[stage]
}

// Run evaluates the rules of one stage in configured order and returns the
// first final verdict, or a Continue verdict. Tags and dry runs are kept on
// the message (Message.Annotations) and do not stop the evaluation.
func (e *Engine) Run(ctx context.Context, stage Stage, m *Message) Verdict {
	if m.state.exempt == "" {
		if why := e.exempt.message(stage, m); why != "" {
			m.state.exempt = why
			e.log.LogAttrs(ctx, slog.LevelInfo, "exempt", append(e.msgAttrs(stage, m), slog.String("reason", why))...)
		}
	}
	if m.state.exempt != "" {
		return Verdict{Stage: stage}
	}
	if v := m.state.sticky; v != nil && (stage > v.Stage || stage == StageRcpt) {
		out := *v
		out.Stage = stage
		return out
	}
	if stage == StageRcpt {
		if why := e.exempt.recipient(m.Rcpt); why != "" {
			e.log.LogAttrs(ctx, slog.LevelDebug, "exempt recipient", append(e.msgAttrs(stage, m), slog.String("rcpt", m.Rcpt), slog.String("reason", why))...)
			return Verdict{Stage: stage}
		}
	}
	for _, r := range e.rules {
		if !slices.Contains(r.stages, stage) {
			continue
		}
		var hit Hit
		var err error
		if _, ok := r.Rule.(inspector); ok && stage == StageBody {
			err = e.inspect(ctx, m)
		}
		if err == nil {
			hit, err = e.check(ctx, r, stage, m)
		}
		var v Verdict
		switch {
		case err != nil:
			var ok bool
			if v, ok = e.errorVerdict(ctx, r, stage, m, err); !ok {
				continue
			}
		case !hit.Matched:
			continue
		default:
			v = Verdict{Rule: r.Name(), Stage: stage, Action: r.action, Reason: hit.Reason, DryRun: r.dryRun}
			reply := r.reply
			if hit.Action != Continue {
				v.Action = hit.Action
				reply = hit.Reply
			}
			v.Reply = reply.Expand(e.vars(m, hit.Vars))
		}
		e.logVerdict(ctx, v, m)
		if v.DryRun || !v.Action.Final() {
			if v.DryRun || v.Action == Tag {
				m.annotate(v)
			}
			continue
		}
		if v.Action == Quarantine && stage < StageBody {
			// Only end of message can quarantine: hold the verdict until
			// then, unless a later stage refuses the mail outright.
			if m.state.quarantine == nil {
				m.state.quarantine = &v
			}
			return Verdict{Stage: stage}
		}
		if hit.Message {
			m.state.sticky = &v
		}
		return v
	}
	if q := m.state.quarantine; q != nil && stage == StageBody {
		out := *q
		out.Stage = stage
		return out
	}
	if stage == StageBody {
		attrs := append(e.msgAttrs(stage, m), slog.Int64("size", m.Size))
		if g := gapSummary(m.Inspection); g != "" {
			attrs = append(attrs, slog.String("uninspected", g))
		}
		e.log.LogAttrs(ctx, slog.LevelInfo, "accept", attrs...)
	}
	return Verdict{Stage: stage}
}

// annotate records a tag or dry-run verdict once per rule and action, so
// that a rule firing for every recipient adds one header, not one each.
func (m *Message) annotate(v Verdict) {
	for _, a := range m.state.annotations {
		if a.Rule == v.Rule && a.Action == v.Action && a.DryRun == v.DryRun {
			return
		}
	}
	m.state.annotations = append(m.state.annotations, v)
}

// check runs one rule, turning a panic into an error.
func (e *Engine) check(ctx context.Context, r *boundRule, stage Stage, m *Message) (hit Hit, err error) {
	defer func() {
		if p := recover(); p != nil {
			e.log.Error("rule panicked", "rule", r.Name(), "panic", fmt.Sprint(p), "stack", string(debug.Stack()))
			hit, err = Hit{}, fmt.Errorf("rule panicked: %v", p)
		}
	}()
	return r.Check(ctx, stage, m)
}

// errorVerdict applies a rule's on_error outcome; ok is false when the
// outcome is to carry on as if the rule had found nothing.
func (e *Engine) errorVerdict(ctx context.Context, r *boundRule, stage Stage, m *Message, err error) (Verdict, bool) {
	attrs := append(e.msgAttrs(stage, m), slog.String("rule", r.Name()), slog.String("on_error", r.onError), slog.String("error", err.Error()))
	switch r.onError {
	case "accept":
		e.log.LogAttrs(ctx, slog.LevelWarn, "rule error", attrs...)
		return Verdict{}, false
	case "tag":
		return Verdict{Rule: r.Name(), Stage: stage, Action: Tag, Reason: "error: " + err.Error()}, true
	}
	return Verdict{Rule: r.Name(), Stage: stage, Action: Tempfail, Reply: r.errorReply.Expand(e.vars(m, nil)),
		Reason: "error: " + err.Error(), DryRun: r.dryRun}, true
}

// vars returns the placeholders a reply text may use.
func (e *Engine) vars(m *Message, extra map[string]string) map[string]string {
	v := map[string]string{
		"client_ip": addrString(m),
		"sender":    m.Sender,
		"rcpt":      m.Rcpt,
		"queue_id":  m.QueueID,
	}
	for k, x := range extra {
		v[k] = x
	}
	return v
}

func addrString(m *Message) string {
	if !m.Client.Addr.IsValid() {
		return ""
	}
	return m.Client.Addr.Unmap().String()
}

func (e *Engine) msgAttrs(stage Stage, m *Message) []slog.Attr {
	attrs := []slog.Attr{slog.String("stage", stage.String())}
	if m.QueueID != "" {
		attrs = append(attrs, slog.String("queue_id", m.QueueID))
	}
	attrs = append(attrs, slog.String("client_ip", addrString(m)))
	if stage >= StageMail {
		attrs = append(attrs, slog.String("sender", m.Sender))
	}
	if stage == StageRcpt {
		attrs = append(attrs, slog.String("rcpt", m.Rcpt))
	}
	if len(m.Rcpts) > 0 {
		attrs = append(attrs, slog.String("rcpts", strings.Join(m.Rcpts, ",")))
	}
	return attrs
}

func (e *Engine) logVerdict(ctx context.Context, v Verdict, m *Message) {
	attrs := append(e.msgAttrs(v.Stage, m), slog.String("rule", v.Rule), slog.String("action", v.Action.String()))
	if v.Action == Reject || v.Action == Tempfail {
		attrs = append(attrs, slog.String("reply", v.Reply.String()))
	}
	if v.DryRun {
		attrs = append(attrs, slog.Bool("dry_run", true))
	}
	attrs = append(attrs, slog.String("reason", v.Reason))
	e.log.LogAttrs(ctx, slog.LevelInfo, "decision", attrs...)
}

// OpenStreams starts the scans of the rules that read the raw message. It
// is called before the first header is passed on; an exempt message or a
// message already decided opens none.
func (e *Engine) OpenStreams(ctx context.Context, m *Message) {
	if m.state.exempt != "" || m.state.sticky != nil || m.state.streams != nil {
		return
	}
	m.state.streams = map[string]StreamSink{}
	for _, r := range e.rules {
		s, ok := r.Rule.(Streamer)
		if !ok {
			continue
		}
		sink, err := s.OpenStream(ctx, m)
		if err != nil {
			sink = &failedSink{err: err}
		}
		m.state.streams[r.Name()] = sink
	}
}

// Feed passes raw message bytes to the open streams. A stream that fails
// keeps its error for its rule to report at end of body.
func (e *Engine) Feed(m *Message, p []byte) {
	for name, s := range m.state.streams {
		if _, err := s.Write(p); err != nil {
			s.Abort()
			m.state.streams[name] = &failedSink{err: err}
		}
	}
}

// stream returns the sink a Streamer rule opened for m.
func (m *Message) stream(name string) (StreamSink, error) {
	s, ok := m.state.streams[name]
	if !ok {
		return nil, errNoStream
	}
	if f, ok := s.(*failedSink); ok {
		return nil, f.err
	}
	return s, nil
}

var errNoStream = errors.New("the message was not streamed to the scanner")

// failedSink stands for a stream that could not be opened or written.
type failedSink struct{ err error }

func (f *failedSink) Write(p []byte) (int, error) { return len(p), nil }
func (f *failedSink) Abort()                      {}

// Commit tells the rules that count accepted mail that m was accepted.
func (e *Engine) Commit(ctx context.Context, m *Message) {
	if m.state.exempt != "" {
		return
	}
	for _, r := range e.rules {
		c, ok := r.Rule.(Committer)
		if !ok {
			continue
		}
		if err := c.Commit(ctx, m); err != nil {
			e.log.LogAttrs(ctx, slog.LevelWarn, "commit failed", append(e.msgAttrs(StageBody, m), slog.String("rule", r.Name()), slog.String("error", err.Error()))...)
		}
	}
}
