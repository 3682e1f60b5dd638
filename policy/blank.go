package policy

import (
	"context"

	"github.com/sekisho/sekisho/policy/mime"
)

// BlankConfig is [rules.blank]: a missing or blank subject, or a body
// without text.
type BlankConfig struct {
	RuleCommon
	TextSwitch
}

func (c *BlankConfig) setDefaults() {
	c.outcome(Reject, Reply{Code: 550, Enhanced: "5.6.0", Text: "The {where} has no text"})
	c.TextSwitch.setDefaults()
}

func (c *BlankConfig) validate() []*ConfigError { return c.TextSwitch.validate() }

func (c *BlankConfig) needs() Needs { return c.TextSwitch.needs("where") }

func (c *BlankConfig) build(*Env) (Rule, error) { return &blank{c.parts()}, nil }

// blank judges the subject at end of headers and the body at end of body.
// Whitespace is Unicode's, the ideographic space U+3000 included; a message
// with attachments and no text has a blank body.
type blank struct {
	textParts
}

func (r *blank) Name() string { return "blank" }

func (r *blank) Check(_ context.Context, stage Stage, m *Message) (Hit, error) {
	switch stage {
	case StageEOH:
		s, ok := subject(m)
		if !ok {
			return blankHit("no Subject header", "subject", "the subject is missing"), nil
		}
		if mime.IsBlank(s) {
			return blankHit("blank subject", "subject", "the subject is blank"), nil
		}
	case StageEOB:
		// An encrypted body shows its text to the recipient only: not
		// blank, and judged as encrypted (a GapEncrypted).
		if t := m.Inspection.Text; !t.NonSpace && !t.Encrypted {
			return blankHit("blank body", "body", "the body has no text"), nil
		}
	}
	return Hit{}, nil
}

// blankHit is a hit of the rule: why for the log, where ("subject" or
// "body") and a short reason for a reply.
func blankHit(why, where, short string) Hit {
	return Hit{Matched: true, Reason: why, Vars: map[string]string{"where": where, "reason": short}}
}
