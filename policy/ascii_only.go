package policy

import (
	"context"
	"fmt"

	"github.com/sekisho/sekisho/policy/mime"
)

// AsciiOnlyConfig is [rules.ascii_only]: a subject or body made only of
// single-byte (ASCII) characters once decoded, the mark of much foreign
// spam to a Japanese company.
type AsciiOnlyConfig struct {
	RuleCommon
	TextSwitch
}

func (c *AsciiOnlyConfig) setDefaults() {
	c.outcome(Reject, Reply{Code: 550, Enhanced: "5.7.1", Text: "The {where} has no Japanese (non-ASCII) text"})
	c.TextSwitch.setDefaults()
}

func (c *AsciiOnlyConfig) validate() []*ConfigError { return c.TextSwitch.validate() }

func (c *AsciiOnlyConfig) needs() Needs { return c.TextSwitch.needs("where") }

func (c *AsciiOnlyConfig) build(*Env) (Rule, error) { return &asciiOnly{c.parts()}, nil }

// asciiOnly judges the subject at end of headers, so that such mail is
// refused before its body is read, and the body text at end of body. A
// blank subject or body is left to the blank rule.
type asciiOnly struct {
	textParts
}

func (r *asciiOnly) Name() string { return "ascii_only" }

func (r *asciiOnly) Check(_ context.Context, stage Stage, m *Message) (Hit, error) {
	switch stage {
	case StageEOH:
		s, _ := subject(m)
		if !mime.IsBlank(s) && mime.IsASCII(s) {
			return Hit{Matched: true, Reason: fmt.Sprintf("subject %q has only ASCII characters", clip(s, 80)),
				Vars: map[string]string{"where": "subject", "reason": "the subject has only ASCII characters"}}, nil
		}
	case StageEOB:
		t := m.Inspection.Text
		if t.NonSpace && !t.NonASCII {
			return Hit{Matched: true, Reason: fmt.Sprintf("body text has only ASCII characters: %q", clip(t.Sample, 80)),
				Vars: map[string]string{"where": "body", "reason": "the body text has only ASCII characters"}}, nil
		}
	}
	return Hit{}, nil
}

// clip shortens s to at most n runes for a log line.
func clip(s string, n int) string {
	r := []rune(s)
	if len(r) <= n {
		return s
	}
	return string(r[:n]) + "…"
}

// TextSwitch holds the keys of the rules that judge the subject and the
// body text (ascii_only, blank); both default to on.
type TextSwitch struct {
	Subject bool `toml:"subject"`
	Body    bool `toml:"body"`
}

func (s *TextSwitch) setDefaults() { s.Subject, s.Body = true, true }

func (s TextSwitch) validate() []*ConfigError {
	if !s.Subject && !s.Body {
		return []*ConfigError{{Msg: "subject and body are both off: disable the rule instead"}}
	}
	return nil
}

// needs: the subject is judged at end of headers, the body text at end of
// body, from the inspection; the hits give vars.
func (s TextSwitch) needs(vars ...string) Needs {
	return Needs{Stages: s.parts().Stages(), Vars: vars, Inspection: s.Body}
}

func (s TextSwitch) parts() textParts { return textParts{subject: s.Subject, body: s.Body} }

// textParts is what a text rule judges: the subject at end of headers, the
// body at end of body.
type textParts struct {
	subject, body bool
}

func (p textParts) Stages() []Stage {
	var s []Stage
	if p.subject {
		s = append(s, StageEOH)
	}
	if p.body {
		s = append(s, StageEOB)
	}
	return s
}
