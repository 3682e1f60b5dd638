package policy

import (
	"context"
	"log/slog"
	"slices"

	"github.com/sekisho/sekisho/policy/mime"
)

// Outcome is the complete decision at the end of a message: the verdict
// that decided it, and for mail that is accepted the header fields to add
// and, when it is held, the quarantine reason.
type Outcome struct {
	Verdict
	// Headers are the annotation headers (X-Sekisho) of the tags and dry
	// runs, to add to accepted mail.
	Headers []Header
	// Quarantine is the reason to put the accepted mail on hold with, ""
	// when it is delivered.
	Quarantine string
}

// Accepted reports whether the mail is accepted: delivered, or held when
// Quarantine is set. Refused (reject, tempfail) and discarded mail is not.
func (o Outcome) Accepted() bool {
	switch o.Action {
	case Reject, Tempfail, Discard:
		return false
	}
	return true
}

// Finish decides a message at end of body: it runs the end-of-body rules
// and, for mail that is accepted, gathers the headers to add and the
// quarantine, and tells the rules that count accepted mail (rate limits)
// to count it. m.Raw and m.Size must be set.
func (e *Engine) Finish(ctx context.Context, m *Message) Outcome {
	return e.finish(ctx, m, true)
}

func (e *Engine) finish(ctx context.Context, m *Message, count bool) Outcome {
	v := e.Run(ctx, StageEOB, m)
	o := Outcome{Verdict: v}
	if e.metrics != nil && m.Inspection != nil {
		var seen []mime.GapClass
		for _, g := range m.Inspection.Uninspected {
			if !slices.Contains(seen, g.Class) {
				seen = append(seen, g.Class)
				e.metrics.Uninspected(string(g.Class))
			}
		}
	}
	if !o.Accepted() {
		if count {
			e.recordOutcome(ctx, o, m)
		}
		return o
	}
	for _, a := range m.state.annotations {
		o.Headers = append(o.Headers, Header{Name: e.cfg.Header, Value: a.Header()})
	}
	if v.Action == Quarantine {
		o.Quarantine = v.Rule + ": " + v.Reason
	}
	if count {
		e.commit(ctx, m)
		e.recordOutcome(ctx, o, m)
	}
	return o
}

// commit tells the rules that count accepted mail that m was accepted.
func (e *Engine) commit(ctx context.Context, m *Message) {
	if m.state.exempt != "" {
		return
	}
	for _, r := range e.setOf(m).rules {
		c := r.committer
		if c == nil {
			continue
		}
		if err := c.Commit(ctx, m); err != nil {
			e.log.LogAttrs(ctx, slog.LevelWarn, "commit failed", append(e.msgAttrs(StageEOB, m), slog.String("rule", r.name), slog.String("error", err.Error()))...)
		}
	}
}

// Failure decides a message that could not be judged at stage because
// something outside the rules failed (a callback panicked, the MTA could
// not be answered), which the caller has logged: the global on_error,
// tempfail with error_reply, or accept, which is a Continue verdict.
func (e *Engine) Failure(stage Stage, m *Message, err error) Verdict {
	if e.cfg.OnError == "accept" {
		return Verdict{Stage: stage, Reason: "error: " + err.Error()}
	}
	return Verdict{Stage: stage, Action: Tempfail, Reply: e.cfg.ErrorReply.Expand(e.vars(m, nil)), Reason: "error: " + err.Error()}
}
