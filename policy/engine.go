package policy

import (
	"context"
	"fmt"
	"log/slog"
	"runtime/debug"
	"slices"
	"strings"

	"github.com/sekisho/sekisho/policy/metrics"
	"github.com/sekisho/sekisho/policy/mime"
)

// Engine runs the enabled rules of one configuration. It is safe for
// concurrent use; per-message state lives in the Message.
type Engine struct {
	cfg     *Config
	sets    []*ruleSet // the top-level rules, then one per [[policy]] block
	exempt  *exemptions
	limits  mime.Limits
	log     *slog.Logger
	metrics *metrics.Metrics // nil when metrics are off
	history Recorder         // nil when the history is off
	needs   [StageEOB + 1]bool
	byKind  bool // a [[policy]] block is chosen by kind of mail
}

// ruleSet is the rules of one policy: the top-level ones, or those of a
// [[policy]] block, which shares the rules it does not change.
type ruleSet struct {
	name     string
	rules    []*boundRule
	streams  int  // rules that read the raw message
	inspects bool // a rule judges the inspection
}

// boundRule is a rule with its name and configured outcome.
type boundRule struct {
	Rule
	name       string
	stages     []Stage
	action     Action
	reply      Reply
	dryRun     bool
	onError    string
	errorReply Reply
	stream     int // index of its stream in the message, -1 if it reads none

	// What its table declares it needs, and the methods that serve it,
	// asserted once rather than for every message.
	needs     Needs
	streamer  Streamer  // nil unless needs.Stream
	committer Committer // nil unless needs.Commit
	redactor  redactor  // nil unless needs.Redaction
	pairer    pairer    // nil unless needs.Pairing
}

// classify gives b what the table cfg declares it needs, and the methods
// that serve it; it fails when the rule and the declaration disagree. A
// rule without a table (nil, a test's fake) keeps the needs b was given.
func (b *boundRule) classify(cfg ruleConfig) error {
	if cfg != nil {
		b.needs = cfg.needs()
		if err := checkNeeds(b.needs, cfg); err != nil {
			return err
		}
		if err := checkServed(b.needs, b.Rule); err != nil {
			return err
		}
	}
	b.stages = b.needs.Stages
	if b.needs.Stream {
		b.streamer = b.Rule.(Streamer)
	}
	if b.needs.Commit {
		b.committer = b.Rule.(Committer)
	}
	if b.needs.Redaction {
		b.redactor = b.Rule.(redactor)
	}
	if b.needs.Pairing {
		b.pairer = b.Rule.(pairer)
	}
	return nil
}

// NewEngine builds the rules of a validated configuration.
func NewEngine(cfg *Config, env *Env) (*Engine, error) {
	if env == nil {
		env = &Env{}
	}
	e := &Engine{cfg: cfg, exempt: &cfg.Exempt.parsed, limits: cfg.Inspect.limits(), log: env.logger(), metrics: env.Metrics, history: env.History}
	built := map[ruleConfig]Rule{} // a table a policy inherits is built once
	top, err := e.buildSet(DefaultPolicy, &cfg.Rules, cfg.Order, env, built)
	if err != nil {
		return nil, fmt.Errorf("rules.%w", err)
	}
	e.sets = append(e.sets, top)
	for i := range cfg.Policies {
		p := &cfg.Policies[i]
		s, err := e.buildSet(p.Name, &p.Rules, p.order, env, built)
		if err != nil {
			return nil, fmt.Errorf("policy %q: rules.%w", p.Name, err)
		}
		e.sets = append(e.sets, s)
		e.byKind = e.byKind || len(p.Kinds) > 0
	}
	return e, nil
}

// buildSet builds the enabled rules of one policy.
func (e *Engine) buildSet(name string, rules *RulesConfig, order []string, env *Env, built map[ruleConfig]Rule) (*ruleSet, error) {
	set := &ruleSet{name: name}
	for _, t := range rules.tables(order) {
		rc := t.cfg.common()
		if !rc.Enabled {
			continue
		}
		r, ok := built[t.cfg]
		if !ok {
			var err error
			if r, err = t.cfg.build(env); err != nil {
				return nil, fmt.Errorf("%s: %w", t.key, err)
			}
			built[t.cfg] = r
		}
		b := &boundRule{Rule: r, name: t.name, action: rc.Action, reply: rc.Reply,
			dryRun: rc.DryRun || e.cfg.Mode == "dry-run", onError: rc.OnError, errorReply: rc.ErrorReply, stream: -1}
		if err := b.classify(t.cfg); err != nil {
			return nil, fmt.Errorf("%s: %w", t.key, err)
		}
		for _, s := range b.stages {
			e.needs[s] = true
		}
		if b.needs.Stream {
			b.stream = set.streams
			set.streams++
			e.needs[StageEOH], e.needs[StageEOB] = true, true
		}
		if (b.needs.Inspection && slices.Contains(b.stages, StageEOB)) || b.needs.Parts == EveryPart {
			set.inspects = true
		}
		set.rules = append(set.rules, b)
	}
	set.rules = inspectionFirst(set.rules)
	return set, nil
}

// inspectionFirst moves the rule that judges what could not be read (see
// Needs.Gaps) before the first other rule that judges the
// inspection, whatever the file's order, so that the reply to a message
// that could not be read completely says so.
func inspectionFirst(rules []*boundRule) []*boundRule {
	at, first := -1, -1
	for i, r := range rules {
		if !r.needs.Inspection {
			continue
		}
		if r.needs.Gaps {
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
// a rule configured to tempfail without a reply of its own. A 4xx reply
// stays as it is, so that deriving twice changes nothing.
func temporary(r Reply) Reply {
	if r.Code/100 == 4 {
		return r
	}
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

// Rules returns the names of the enabled top-level rules, in evaluation
// order.
func (e *Engine) Rules() []string { return e.sets[0].names() }

// PolicyRules returns the names of the enabled rules of each policy, the
// top-level one (DefaultPolicy) included.
func (e *Engine) PolicyRules() map[string][]string {
	out := map[string][]string{}
	for _, s := range e.sets {
		out[s.name] = s.names()
	}
	return out
}

func (s *ruleSet) names() []string {
	out := make([]string, len(s.rules))
	for i, r := range s.rules {
		out[i] = r.name
	}
	return out
}

// setOf returns the policy a message is judged under: the one its first
// accepted recipient pinned, else the top-level rules.
func (e *Engine) setOf(m *Message) *ruleSet {
	if m.state.set != nil {
		return m.state.set
	}
	return e.sets[0]
}

// setFor returns the policy of the recipient being decided at RCPT.
func (e *Engine) setFor(m *Message) *ruleSet {
	return e.sets[e.cfg.policyFor(m.Rcpt, m.Sender)+1]
}

// choosePolicyByKind moves a message whose header is known under the
// first [[policy]] block by kind that matches it, when that block comes
// before the one its first recipient chose. It runs before the message's
// streams are opened, so that they are those of the policy that judges
// it; the rules a block by kind may change decide at end of headers or
// later.
func (e *Engine) choosePolicyByKind(ctx context.Context, m *Message) {
	if !e.byKind || m.state.set == nil {
		return
	}
	pinned := slices.Index(e.sets, m.state.set) - 1
	kinds := m.Kinds()
	if len(kinds) == 0 {
		return
	}
	i := e.cfg.kindPolicyFor(pinned, m.Rcpts, m.Sender, kinds)
	if i == pinned {
		return
	}
	m.state.set = e.sets[i+1]
	e.log.LogAttrs(ctx, slog.LevelInfo, "policy by kind of mail",
		append(e.msgAttrs(StageEOH, m), slog.String("kinds", strings.Join(kinds, ",")))...)
}

// Policy returns the name of the policy the message is judged under.
func (m *Message) Policy() string {
	if m.state.set == nil {
		return DefaultPolicy
	}
	return m.state.set.name
}

// Needs reports whether any enabled rule decides at stage, so that the MTA
// is asked only for what is used. StageEOH and StageEOB are also needed by
// rules that read the raw message.
func (e *Engine) Needs(stage Stage) bool {
	if stage < 0 || stage > StageEOB {
		return false
	}
	return e.needs[stage]
}

// Run evaluates the rules of one stage in configured order and returns the
// first final verdict, or a Continue verdict. Tags and dry runs are kept on
// the message and do not stop the evaluation. At end of body, Finish gives
// the whole outcome.
func (e *Engine) Run(ctx context.Context, stage Stage, m *Message) Verdict {
	if e.exempted(ctx, stage, m) {
		return Verdict{Stage: stage}
	}
	if v := m.state.sticky; v != nil && (stage > v.Stage || stage == StageRcpt) {
		out := *v
		out.Stage = stage
		return out
	}
	set := e.setOf(m)
	if stage == StageRcpt {
		if e.exemptRecipient(ctx, m) {
			return Verdict{Stage: stage}
		}
		if v, ok := e.laterVerdict(ctx, m); ok {
			return v
		}
		var v Verdict
		if set, v = e.rcptPolicy(ctx, m); v.Action != Continue {
			return v
		}
		m.state.judging = set
		defer func() { m.state.judging = nil }()
	}
	for _, r := range set.rules {
		if !slices.Contains(r.stages, stage) {
			continue
		}
		v, whole, ok := e.evaluate(ctx, r, stage, m)
		if !ok {
			continue
		}
		if v.later > stage {
			// Decided now, answered later: to every recipient of the
			// connection (a DNSBL refusal at RCPT reaches the sender).
			e.log.LogAttrs(ctx, slog.LevelInfo, "decided, answered at "+v.later.String(),
				append(e.msgAttrs(stage, m), slog.String("rule", v.Rule), slog.String("action", v.Action.String()), slog.String("reason", v.Reason))...)
			m.Client.later = &v
			continue
		}
		e.logVerdict(ctx, v, m)
		e.metrics.Decision(v.Rule, v.Action.String(), stage.String(), v.DryRun)
		if v.DryRun || !v.Action.Final() {
			if v.DryRun || v.Action == Tag {
				m.annotate(v)
			}
			continue
		}
		if v.Action == Quarantine && stage < StageEOB {
			// Only end of message can quarantine: hold the verdict until
			// then, unless a later stage refuses the mail outright.
			if m.state.quarantine == nil {
				m.state.quarantine = &v
			}
			break
		}
		if whole {
			m.state.sticky = &v
		}
		if stage < StageEOB {
			e.recordVerdict(v, m) // Finish records the end of the message
		}
		return v
	}
	if stage == StageRcpt && m.state.set == nil {
		// The first accepted recipient decides the transaction's policy.
		m.state.set = set
	}
	if q := m.state.quarantine; q != nil && stage == StageEOB {
		out := *q
		out.Stage = stage
		e.logHeld(ctx, out, q.Stage, m)
		return out
	}
	if stage == StageEOB {
		e.logAccept(ctx, m)
	}
	return Verdict{Stage: stage}
}

// laterVerdict returns the verdict decided for the connection before RCPT
// and given at RCPT, to each recipient of each transaction; ok is false
// when there is none, or when it is a dry run, which is recorded once per
// message and lets the rules run.
func (e *Engine) laterVerdict(ctx context.Context, m *Message) (Verdict, bool) {
	l := m.Client.later
	if l == nil || l.later != StageRcpt {
		return Verdict{}, false
	}
	v := *l
	v.Stage, v.later = StageRcpt, 0
	e.logVerdict(ctx, v, m)
	e.metrics.Decision(v.Rule, v.Action.String(), StageRcpt.String(), v.DryRun)
	if v.DryRun || !v.Action.Final() {
		m.annotate(v)
		return Verdict{}, false
	}
	e.recordVerdict(v, m)
	return v, true
}

// rcptPolicy returns the policy of the recipient being decided at RCPT,
// and a tempfail verdict when it is not the transaction's: one message is
// judged under one policy, and the MTA sends that recipient again in a
// transaction of its own (RFC 5321 section 4.5.3.1.10). In dry-run mode
// the refusal is only logged, and the recipient is judged under the
// transaction's policy.
func (e *Engine) rcptPolicy(ctx context.Context, m *Message) (*ruleSet, Verdict) {
	set := e.setFor(m)
	pinned := m.state.set
	if pinned == nil || pinned == set {
		return set, Verdict{Stage: StageRcpt}
	}
	v := Verdict{Rule: "policy", Stage: StageRcpt, Action: Tempfail, Reply: e.cfg.PolicyReply.Expand(e.vars(m, nil)),
		Reason: fmt.Sprintf("recipient %s is under policy %s, the transaction under %s", m.Rcpt, set.name, pinned.name),
		DryRun: e.cfg.Mode == "dry-run"}
	m.state.judging = set
	e.logVerdict(ctx, v, m)
	e.metrics.Decision(v.Rule, v.Action.String(), StageRcpt.String(), v.DryRun)
	e.recordVerdict(v, m)
	m.state.judging = nil
	if !v.DryRun {
		return set, v
	}
	m.annotate(v)
	return pinned, Verdict{Stage: StageRcpt}
}

// exempted reports whether the message is exempt from every rule, and logs
// why once.
func (e *Engine) exempted(ctx context.Context, stage Stage, m *Message) bool {
	if m.state.exempt == "" {
		if why := e.exempt.message(stage, m); why != "" {
			m.state.exempt = why
			e.log.LogAttrs(ctx, slog.LevelInfo, "exempt", append(e.msgAttrs(stage, m), slog.String("reason", why))...)
		}
	}
	return m.state.exempt != ""
}

// exemptRecipient reports whether the recipient being decided at RCPT is
// exempt from the recipient-stage rules.
func (e *Engine) exemptRecipient(ctx context.Context, m *Message) bool {
	why := e.exempt.recipient(m.Rcpt)
	if why != "" && e.log.Enabled(ctx, slog.LevelDebug) {
		e.log.LogAttrs(ctx, slog.LevelDebug, "exempt recipient", append(e.msgAttrs(StageRcpt, m), slog.String("rcpt", m.Rcpt), slog.String("reason", why))...)
	}
	return why != ""
}

// evaluate runs one rule at stage and turns what it found into a verdict;
// ok is false when the rule has nothing to say. whole says the verdict
// holds for the rest of the message.
func (e *Engine) evaluate(ctx context.Context, r *boundRule, stage Stage, m *Message) (v Verdict, whole, ok bool) {
	var err error
	if r.needs.Inspection && stage == StageEOB {
		err = e.inspect(ctx, m)
	}
	var hit Hit
	if err == nil {
		hit, err = e.check(ctx, r, stage, m)
	}
	switch {
	case err != nil:
		if !m.state.explaining {
			e.metrics.RuleError(r.name)
		}
		v, ok = e.errorVerdict(ctx, r, stage, m, err)
		m.record(r, stage, v, ok, err)
		return v, false, ok
	case !hit.Matched:
		m.record(r, stage, Verdict{}, false, nil)
		return Verdict{}, false, false
	}
	v = Verdict{Rule: r.name, Stage: stage, Action: r.action, Reason: e.setOf(m).redact(hit.Reason), DryRun: r.dryRun, later: hit.ReplyAt}
	reply := r.reply
	if hit.Action != Continue {
		v.Action = hit.Action
		reply = hit.Reply
	}
	vars := e.vars(m, hit.Vars)
	// {reason}: the rule's short reason for the client, else the log's;
	// either may quote what the policy takes for a password.
	reason := hit.Vars["reason"]
	if reason == "" {
		reason = hit.Reason
	}
	vars["reason"] = replyReason(e.setOf(m).redact(reason))
	v.Reply = reply.Expand(vars)
	m.record(r, stage, v, true, nil)
	return v, hit.WholeMessage, true
}

// redact returns reason with what the policy's rules take for passwords
// hidden.
func (s *ruleSet) redact(reason string) string {
	for _, r := range s.rules {
		if r.redactor != nil {
			reason = r.redactor.redact(reason)
		}
	}
	return reason
}

// Redact returns text with what the rules of m's policy take for
// passwords hidden, for a tool that shows a message's text (sekisho scan).
func (e *Engine) Redact(m *Message, text string) string { return e.setOf(m).redact(text) }

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

// check runs one rule, turning a panic into an error. A rule that reads
// the raw message is given its stream at end of body.
func (e *Engine) check(ctx context.Context, r *boundRule, stage Stage, m *Message) (hit Hit, err error) {
	defer func() {
		if p := recover(); p != nil {
			e.log.Error("rule panicked", "rule", r.name, "panic", fmt.Sprint(p), "stack", string(debug.Stack()))
			hit, err = Hit{}, fmt.Errorf("rule panicked: %v", p)
		}
	}()
	if s := r.streamer; s != nil && stage == StageEOB {
		if st := m.takeStream(r.stream); st != nil {
			if p := r.needs.Parts; st.sink != nil && (p == EveryPart || p == PartsIfInspected && m.state.inspection != nil) {
				// The inspection hands the parts over: it must be done.
				if err := e.inspect(ctx, m); err != nil {
					return Hit{}, err
				}
			}
			return s.CheckStream(ctx, m, st.sink, st.err)
		}
	}
	return r.Check(ctx, stage, m)
}

// errorVerdict applies a rule's on_error outcome; ok is false when the
// outcome is to carry on as if the rule had found nothing.
func (e *Engine) errorVerdict(ctx context.Context, r *boundRule, stage Stage, m *Message, err error) (Verdict, bool) {
	attrs := append(e.msgAttrs(stage, m), slog.String("rule", r.name), slog.String("on_error", r.onError), slog.String("error", err.Error()))
	switch r.onError {
	case "accept":
		e.log.LogAttrs(ctx, slog.LevelWarn, "rule error", attrs...)
		return Verdict{}, false
	case "tag":
		return Verdict{Rule: r.name, Stage: stage, Action: Tag, Reason: "error: " + err.Error()}, true
	}
	return Verdict{Rule: r.name, Stage: stage, Action: Tempfail, Reply: r.errorReply.Expand(e.vars(m, nil)),
		Reason: "error: " + err.Error(), DryRun: r.dryRun}, true
}

// vars returns the placeholders a reply text may use: the common ones
// (see commonPlaceholders), policy_url among them, which Expand adds to
// every refusal, and extra, a hit's.
func (e *Engine) vars(m *Message, extra map[string]string) map[string]string {
	v := map[string]string{
		"client_ip":  addrString(m),
		"sender":     m.Sender,
		"rcpt":       m.Rcpt,
		"queue_id":   m.QueueID,
		"policy_url": e.cfg.PolicyURL,
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
	set := m.state.judging
	if set == nil {
		set = m.state.set
	}
	if set != nil && set != e.sets[0] {
		attrs = append(attrs, slog.String("policy", set.name))
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
	if !e.log.Enabled(ctx, slog.LevelInfo) {
		return
	}
	attrs := append(e.msgAttrs(v.Stage, m), slog.String("rule", v.Rule), slog.String("action", v.Action.String()))
	if v.Action == Reject || v.Action == Tempfail {
		attrs = append(attrs, slog.String("reply", v.Reply.String()))
	}
	if v.DryRun {
		attrs = append(attrs, slog.Bool("dry_run", true))
	}
	attrs = append(attrs, slog.String("reason", v.Reason))
	if g := gapSummary(m.Inspection); g != "" && v.Stage == StageEOB {
		attrs = append(attrs, slog.String("uninspected", g))
	}
	e.log.LogAttrs(ctx, slog.LevelInfo, "decision", attrs...)
}

// logHeld logs, at end of message, a quarantine decided at an earlier
// stage: the line of the stage that decided it has no queue id when the
// MTA names the message later (Postfix opens its queue file at the first
// accepted RCPT), and this one is how an administrator finds the reason of
// a held message by its queue id.
func (e *Engine) logHeld(ctx context.Context, v Verdict, decided Stage, m *Message) {
	if !e.log.Enabled(ctx, slog.LevelInfo) {
		return
	}
	attrs := append(e.msgAttrs(StageEOB, m), slog.String("rule", v.Rule), slog.String("action", v.Action.String()),
		slog.String("decided_at", decided.String()), slog.String("reason", v.Reason))
	e.log.LogAttrs(ctx, slog.LevelInfo, "held", attrs...)
}

// logAccept logs an accepted message, naming what could not be inspected.
func (e *Engine) logAccept(ctx context.Context, m *Message) {
	if !e.log.Enabled(ctx, slog.LevelInfo) {
		return
	}
	attrs := append(e.msgAttrs(StageEOB, m), slog.Int64("size", m.Size))
	if g := gapSummary(m.Inspection); g != "" {
		attrs = append(attrs, slog.String("uninspected", g))
	}
	e.log.LogAttrs(ctx, slog.LevelInfo, "accept", attrs...)
}
