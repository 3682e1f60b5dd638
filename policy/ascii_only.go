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
	Subject *bool `toml:"subject"` // default true
	Body    *bool `toml:"body"`    // default true
}

func (c *AsciiOnlyConfig) defaults() (Action, Reply) {
	return Reject, Reply{Code: 550, Enhanced: "5.7.1", Text: "Message content rejected"}
}

func (c *AsciiOnlyConfig) check() []*ConfigError {
	if c.Subject != nil && c.Body != nil && !*c.Subject && !*c.Body {
		return []*ConfigError{{Msg: "subject and body are both off: disable the rule instead"}}
	}
	return nil
}

func (c *AsciiOnlyConfig) build(*Env) (Rule, error) {
	return &asciiOnly{subject: c.Subject == nil || *c.Subject, body: c.Body == nil || *c.Body}, nil
}

// asciiOnly judges the subject at end of headers, so that such mail is
// refused before its body is read, and the body text at end of body. A
// blank subject or body is left to the blank rule.
type asciiOnly struct {
	subject, body bool
}

func (r *asciiOnly) Name() string { return "ascii_only" }
func (r *asciiOnly) inspects()    {}

func (r *asciiOnly) Stages() []Stage {
	var s []Stage
	if r.subject {
		s = append(s, StageHeaders)
	}
	if r.body {
		s = append(s, StageBody)
	}
	return s
}

func (r *asciiOnly) Check(_ context.Context, stage Stage, m *Message) (Hit, error) {
	switch stage {
	case StageHeaders:
		s, _ := subject(m)
		if !mime.IsBlank(s) && mime.IsASCII(s) {
			return Hit{Matched: true, Reason: fmt.Sprintf("subject %q has only ASCII characters", clip(s, 80))}, nil
		}
	case StageBody:
		t := m.Inspection.Text
		if t.NonSpace && !t.NonASCII {
			return Hit{Matched: true, Reason: fmt.Sprintf("body text has only ASCII characters: %q", clip(t.Sample, 80))}, nil
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
