package policy

import "context"

// Finding is what one rule found about a message at one stage, as
// `sekisho scan` shows it: the verdict it gives, or that it found nothing.
type Finding struct {
	Rule    string
	Stage   Stage
	Rcpt    string  // at StageRcpt, the recipient it was asked about
	Matched bool    // the rule found something: Verdict is what it gives
	Verdict Verdict // with Matched, or an error's outcome
	Error   string  // the rule could not decide
	// Reached says the daemon runs the rule on this message: false for a
	// rule that Explain ran after an earlier verdict had decided.
	Reached bool
}

// Trace makes the engine record a Finding for every rule it runs on m.
func (m *Message) Trace() { m.state.tracing = true }

// Findings returns what the rules found, in the order they ran.
func (m *Message) Findings() []Finding { return m.state.findings }

// Exempt returns why the message is exempt from every rule, "" when it
// is not.
func (m *Message) Exempt() string { return m.state.exempt }

// record keeps what a rule found, when the message is traced.
func (m *Message) record(r *boundRule, stage Stage, v Verdict, ok bool, err error) {
	if !m.state.tracing {
		return
	}
	f := Finding{Rule: r.name, Stage: stage, Matched: ok && err == nil, Verdict: v, Reached: !m.state.explaining}
	if stage == StageRcpt {
		f.Rcpt = m.Rcpt
	}
	if err != nil {
		f.Error = err.Error()
	}
	m.state.findings = append(m.state.findings, f)
}

// Explain runs, on a traced message the engine has decided, every rule of
// its policy that did not run because an earlier verdict decided first
// (or because the message is exempt), so that what each rule finds can be
// shown. Recipient-stage rules are asked about each of rcpts. The message
// needs Raw for the rules that read the content.
func (e *Engine) Explain(ctx context.Context, m *Message, rcpts []string) {
	m.state.explaining = true
	defer func() { m.state.explaining = false }()
	ran := map[[3]string]bool{}
	for _, f := range m.state.findings {
		ran[[3]string{f.Rule, f.Stage.String(), f.Rcpt}] = true
	}
	keep := m.Rcpt
	defer func() { m.Rcpt = keep }()
	for _, r := range e.setOf(m).rules {
		for _, stage := range r.stages {
			asked := []string{""}
			if stage == StageRcpt {
				asked = rcpts
			}
			for _, rc := range asked {
				if ran[[3]string{r.name, stage.String(), rc}] {
					continue
				}
				m.Rcpt = rc
				e.evaluate(ctx, r, stage, m)
			}
		}
	}
}

// Preview decides a message at end of body as Finish does, but tells no
// rule to count it: for `sekisho scan`, which must leave shared counters
// (rate limits in Redis) as they are.
func (e *Engine) Preview(ctx context.Context, m *Message) Outcome {
	return e.finish(ctx, m, false)
}

// Inspect parses the message's content, once, if no rule has: for
// `sekisho scan`, which shows it whatever the rules.
func (e *Engine) Inspect(ctx context.Context, m *Message) error { return e.inspect(ctx, m) }
