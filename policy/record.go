package policy

import (
	"context"
	"slices"
	"strings"

	"github.com/sekisho/sekisho/policy/history"
)

// Recorder keeps the decisions the engine takes: the history. Record must
// not block; history.Writer queues and drops rather than wait.
type Recorder interface {
	Record(history.Record)
}

// recordVerdict records a verdict that ends the message, or refuses the
// recipient, before the end of the message.
func (e *Engine) recordVerdict(v Verdict, m *Message) {
	if e.history == nil || m.state.explaining || v.DryRun || !v.Action.Final() {
		return
	}
	e.history.Record(e.historyRecord(v, m, v.Action.String()))
}

// recordOutcome records the outcome of a message at its end: refused,
// discarded, held, tagged, exempt or accepted. Tags and dry runs that
// did not stop the mail are named in the rule and reason of the record.
func (e *Engine) recordOutcome(ctx context.Context, o Outcome, m *Message) {
	if e.history == nil || m.state.explaining {
		return
	}
	v := o.Verdict
	action := v.Action.String()
	switch {
	case !o.Accepted() || v.Action == Quarantine:
	case m.state.exempt != "":
		action, v.Reason = "exempt", m.state.exempt
	default:
		action = "accept"
		var rules, reasons []string
		for _, a := range m.state.annotations {
			if a.Action == Tag && !a.DryRun {
				action = "tag"
			}
			v.DryRun = v.DryRun || a.DryRun
			if !slices.Contains(rules, a.Rule) {
				rules = append(rules, a.Rule)
			}
			what := a.Action.String()
			if a.DryRun {
				what = "would " + what
			}
			reasons = append(reasons, a.Rule+" ("+what+"): "+a.Reason)
		}
		v.Rule, v.Reason = strings.Join(rules, ","), strings.Join(reasons, "; ")
	}
	e.history.Record(e.historyRecord(v, m, action))
}

// historyRecord is v as the history keeps it, with what is known of m; the
// subject goes through the policy's redaction, as reasons do.
func (e *Engine) historyRecord(v Verdict, m *Message, action string) history.Record {
	set := m.state.judging
	if set == nil {
		set = e.setOf(m)
	}
	r := history.Record{
		QueueID: m.QueueID,
		Client:  addrString(m),
		Helo:    m.Client.Helo,
		Sender:  m.Sender,
		Rcpts:   slices.Clone(m.Rcpts),
		Policy:  set.name,
		Rule:    v.Rule,
		Action:  action,
		Stage:   v.Stage.String(),
		DryRun:  v.DryRun,
		Reason:  v.Reason,
	}
	if v.Stage == StageRcpt && v.Action.Final() {
		r.Rcpts = []string{m.Rcpt}
	}
	if v.Action == Reject || v.Action == Tempfail {
		r.Reply = v.Reply.String()
	}
	if s, ok := subject(m); ok {
		r.Subject = set.redact(s)
	}
	if m.Inspection != nil {
		for _, a := range m.Inspection.Attachments {
			if a.Filename != "" {
				r.Attachments = append(r.Attachments, a.Filename)
			}
		}
	}
	return r
}
