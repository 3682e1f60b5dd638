package policy

import (
	"context"
	"strings"

	"github.com/sekisho/sekisho/policy/mime"
)

// UninspectableConfig is [rules.uninspectable] (also read under its former
// name [rules.mime_limits]): messages the inspection could not read
// completely. Each reason class can have an outcome of its own; a class
// left unset takes the rule's action. Encrypted archives are judged by
// attachment_extension's encrypted setting.
type UninspectableConfig struct {
	RuleCommon
	Limit     string `toml:"limit"`     // an [inspect] limit exceeded
	Structure string `toml:"structure"` // a MIME structure mail clients may read differently
	Archive   string `toml:"archive"`   // an archive skipped, corrupt or in a format not opened
}

// uninspectableClasses are the gap classes the rule judges, with the key
// that sets each one's outcome.
var uninspectableClasses = []mime.GapClass{mime.GapLimit, mime.GapStructure, mime.GapArchive}

func (c *UninspectableConfig) class(g mime.GapClass) string {
	switch g {
	case mime.GapLimit:
		return c.Limit
	case mime.GapStructure:
		return c.Structure
	case mime.GapArchive:
		return c.Archive
	}
	return ""
}

// uninspectableReply is the rule's default reply.
var uninspectableReply = Reply{Code: 554, Enhanced: "5.6.0", Text: "Message content could not be checked"}

func (c *UninspectableConfig) defaults() (Action, Reply) { return Reject, uninspectableReply }

func (c *UninspectableConfig) check() []*ConfigError {
	var errs []*ConfigError
	for _, g := range uninspectableClasses {
		if v := c.class(g); v != "" && v != "accept" {
			if _, err := ParseAction(v); err != nil {
				errs = append(errs, &ConfigError{Key: string(g), Msg: err.Error() + " or accept"})
			}
		}
	}
	return errs
}

func (c *UninspectableConfig) build(*Env) (Rule, error) {
	action, reply := c.defaults()
	if c.Action != nil {
		action = *c.Action
		if c.Reply == nil && action == Tempfail {
			reply = temporary(reply)
		}
	}
	if c.Reply != nil {
		reply = *c.Reply
	}
	r := &uninspectable{outcomes: map[mime.GapClass]outcome{}}
	for _, g := range uninspectableClasses {
		o := outcome{action: action, reply: reply, same: true}
		switch v := c.class(g); v {
		case "":
		case "accept":
			o = outcome{action: Continue}
		default:
			o.action, _ = ParseAction(v)
			o.same = o.action == action
			if !o.same {
				o.reply = replyFor(o.action, reply)
			}
		}
		r.outcomes[g] = o
	}
	return r, nil
}

// replyFor returns a reply that suits action, from the rule's reply: a
// tempfail gets the 4xx counterpart of a 5xx reply, a reject the rule's
// default reply when its own is a 4xx.
func replyFor(a Action, r Reply) Reply {
	switch {
	case a == Tempfail && r.Code/100 == 5:
		return temporary(r)
	case a == Reject && r.Code/100 == 4:
		return uninspectableReply
	}
	return r
}

// outcome is what one gap class leads to; same marks the rule's own
// configured action and reply.
type outcome struct {
	action Action
	reply  Reply
	same   bool
}

// severity orders actions from the one that keeps mail out the most.
var severity = []Action{Reject, Discard, Tempfail, Quarantine, Tag, Log}

// uninspectable refuses, at end of body and before the rules that judge
// the inspection, a message that the inspection could not read
// completely, so that the reply says what really happened. Where gaps of
// several classes lead to different outcomes, the one that keeps the mail
// out the most wins.
type uninspectable struct {
	outcomes map[mime.GapClass]outcome
}

func (*uninspectable) Name() string    { return "uninspectable" }
func (*uninspectable) Stages() []Stage { return []Stage{StageBody} }
func (*uninspectable) inspects()       {}

func (r *uninspectable) Check(_ context.Context, _ Stage, m *Message) (Hit, error) {
	best := -1
	var reasons []string
	var win outcome
	for _, g := range m.Inspection.Uninspected {
		o, ok := r.outcomes[g.Class]
		if !ok || o.action == Continue {
			continue
		}
		rank := indexOf(severity, o.action)
		switch {
		case best < 0 || rank < best:
			best, win, reasons = rank, o, []string{g.String()}
		case rank == best:
			reasons = append(reasons, g.String())
		}
	}
	if best < 0 {
		return Hit{}, nil
	}
	h := Hit{Matched: true, Reason: "not inspected completely: " + strings.Join(reasons, "; ")}
	if !win.same {
		h.Action, h.Reply = win.action, win.reply
	}
	return h, nil
}

func indexOf(as []Action, a Action) int {
	for i, x := range as {
		if x == a {
			return i
		}
	}
	return len(as)
}

// gapSummary lists the gaps of an inspection for a log line, "" when there
// are none.
func gapSummary(res *mime.Result) string {
	if res == nil || len(res.Uninspected) == 0 {
		return ""
	}
	s := make([]string, len(res.Uninspected))
	for i, g := range res.Uninspected {
		s[i] = g.String()
	}
	return strings.Join(s, "; ")
}
