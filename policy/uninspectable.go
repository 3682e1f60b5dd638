package policy

import (
	"context"
	"slices"
	"strings"

	"github.com/sekisho/sekisho/policy/mime"
)

// UninspectableConfig is [rules.uninspectable] (also read under its former
// name [rules.mime_limits]): messages the inspection could not read
// completely. Each reason class has an outcome of its own, by default the
// rule's action. Encrypted archives are judged by attachment_extension's
// encrypted setting.
type UninspectableConfig struct {
	RuleCommon
	Limit     string `toml:"limit"`     // an [inspect] limit exceeded
	Structure string `toml:"structure"` // a MIME structure mail clients may read differently
	Archive   string `toml:"archive"`   // an archive skipped, corrupt or in a format not opened
	// Ambiguous: bytes that mail clients read in more than one way (two
	// boundaries, two file names); every reading was inspected, so it
	// takes "accept" unless set, for an administrator who refuses such
	// mail outright.
	Ambiguous string `toml:"ambiguous"`

	outcomes map[mime.GapClass]outcome
}

// uninspectableClasses are the gap classes the rule judges.
var uninspectableClasses = []mime.GapClass{mime.GapLimit, mime.GapStructure, mime.GapArchive, mime.GapAmbiguous}

// class returns the setting of gap class g.
func (c *UninspectableConfig) class(g mime.GapClass) *string {
	switch g {
	case mime.GapLimit:
		return &c.Limit
	case mime.GapStructure:
		return &c.Structure
	case mime.GapAmbiguous:
		return &c.Ambiguous
	}
	return &c.Archive
}

// gapWhat says in a reply what kind of gap stopped the inspection; the
// gap itself, which names parts and archives, is for the log.
var gapWhat = map[mime.GapClass]string{
	mime.GapLimit:     "a limit was reached",
	mime.GapStructure: "a MIME structure mail clients read differently",
	mime.GapArchive:   "an archive that could not be opened",
	mime.GapAmbiguous: "bytes mail clients read differently",
}

// uninspectableReply is the rule's default reply.
var uninspectableReply = Reply{Code: 554, Enhanced: "5.6.0", Text: "Message content could not be checked"}

// needs: the rule judges the gaps of the inspection.
func (c *UninspectableConfig) needs() Needs {
	return Needs{Stages: []Stage{StageEOB}, Inspection: true, Gaps: true, Derive: true}
}

func (c *UninspectableConfig) setDefaults() { c.outcome(Reject, uninspectableReply) }

// derive: a class left unset takes the rule's action, but ambiguous
// takes "accept": every reading of such bytes was inspected.
func (c *UninspectableConfig) derive(func(string) bool) {
	for _, g := range uninspectableClasses {
		if v := c.class(g); *v == "" {
			*v = c.Action.String()
			if g == mime.GapAmbiguous {
				*v = "accept"
			}
		}
	}
}

func (c *UninspectableConfig) validate() []*ConfigError {
	var errs []*ConfigError
	c.outcomes = map[mime.GapClass]outcome{}
	for _, g := range uninspectableClasses {
		v := *c.class(g)
		if v == "accept" {
			c.outcomes[g] = outcome{action: Continue}
			continue
		}
		a, err := ParseAction(v)
		if err != nil {
			errs = append(errs, &ConfigError{Key: string(g), Msg: err.Error() + " or accept"})
			continue
		}
		o := outcome{action: a, reply: c.Reply, same: a == c.Action}
		if !o.same {
			o.reply = replyFor(a, c.Reply)
		}
		c.outcomes[g] = o
	}
	return errs
}

func (c *UninspectableConfig) build(*Env) (Rule, error) {
	return &uninspectable{outcomes: c.outcomes}, nil
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

func (*uninspectable) Name() string { return "uninspectable" }

func (r *uninspectable) Check(_ context.Context, _ Stage, m *Message) (Hit, error) {
	best := -1
	var reasons []string
	var classes []string // what kinds of gap, for {reason}
	var win outcome
	for _, g := range m.Inspection.Uninspected {
		o, ok := r.outcomes[g.Class]
		if !ok || o.action == Continue {
			continue
		}
		rank := indexOf(severity, o.action)
		switch {
		case best < 0 || rank < best:
			best, win, reasons, classes = rank, o, []string{g.String()}, []string{gapWhat[g.Class]}
		case rank == best:
			reasons = append(reasons, g.String())
			if w := gapWhat[g.Class]; !slices.Contains(classes, w) {
				classes = append(classes, w)
			}
		}
	}
	if best < 0 {
		return Hit{}, nil
	}
	h := Hit{Matched: true, Reason: "not inspected completely: " + strings.Join(reasons, "; "),
		Vars: map[string]string{"reason": "not inspected completely: " + strings.Join(classes, ", ")}}
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
