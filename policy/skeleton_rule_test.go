package policy

import (
	"context"
	"fmt"
	"strings"
	"testing"
)

// The skeleton of a rule, as ARCHITECTURE.md describes adding one: a
// configuration type (its [rules.NAME] table), which declares what the
// rule needs, and the rule it builds. To make it real, move both into
// NAME.go, add one field to RulesConfig, and give it its README section
// and table rows; the tests named in ARCHITECTURE.md then say what is
// still missing.

// SubjectWordConfig is a [rules.subject_word] table: words that a subject
// must not hold.
type SubjectWordConfig struct {
	RuleCommon
	Words []string `toml:"words"`
}

func (c *SubjectWordConfig) setDefaults() {
	c.outcome(Reject, Reply{Code: 550, Enhanced: "5.7.1", Text: "Subject not accepted: {reason}"})
	c.Words = []string{}
}

func (c *SubjectWordConfig) validate() []*ConfigError {
	if len(c.Words) == 0 {
		return []*ConfigError{{Key: "words", Msg: "list at least one word"}}
	}
	return nil
}

// needs declares, once, what the rule needs beyond its table: it decides
// at end of headers and its hits give no placeholder of their own. A rule
// that reads the inspection, the raw message, counts accepted mail or asks
// a server says so here (see Needs), and has the method that serves it.
func (c *SubjectWordConfig) needs() Needs { return Needs{Stages: []Stage{StageEOH}} }

func (c *SubjectWordConfig) build(*Env) (Rule, error) { return &subjectWord{words: c.Words}, nil }

// subjectWord decides at end of headers, from the decoded subject.
type subjectWord struct{ words []string }

func (r *subjectWord) Name() string { return "subject_word" }

func (r *subjectWord) Check(_ context.Context, _ Stage, m *Message) (Hit, error) {
	subject, _ := m.HeaderValue("Subject")
	for _, w := range r.words {
		if strings.Contains(subject, w) {
			return Hit{Matched: true, Reason: fmt.Sprintf("subject holds %q", w), Vars: map[string]string{"reason": "the subject holds " + w}}, nil
		}
	}
	return Hit{}, nil
}

// TestSkeletonRule runs the skeleton through what the engine does with a
// rule: its table's defaults and validation, the rule it builds, and its
// verdicts at its stage with its reply's placeholders.
func TestSkeletonRule(t *testing.T) {
	var _ ruleConfig = (*SubjectWordConfig)(nil)
	c := &SubjectWordConfig{}
	c.common().setDefaults()
	c.setDefaults()
	if errs := c.validate(); len(errs) != 1 || errs[0].Key != "words" {
		t.Errorf("an empty list: %v", errs)
	}
	c.Words = []string{"bitcoin"}
	if errs := c.validate(); len(errs) != 0 {
		t.Fatal(errs)
	}
	if err := checkNeeds(c.needs(), c); err != nil {
		t.Fatal(err)
	}
	r, err := c.build(nil)
	if err != nil {
		t.Fatal(err)
	}
	b := &boundRule{Rule: r, name: r.Name(), action: c.Action, reply: c.Reply, onError: c.OnError, errorReply: c.ErrorReply, stream: -1}
	if err := b.classify(c); err != nil {
		t.Fatal(err)
	}
	e := fakeEngine(t, nil, b)
	for subject, want := range map[string]Action{"ご請求書": Continue, "your bitcoin wallet": Reject} {
		m := newMessage()
		m.Headers = []Header{{Name: "Subject", Value: subject}}
		if v := e.Run(context.Background(), StageEOH, m); v.Action != want || (want == Reject && v.Rule != "subject_word") {
			t.Errorf("subject %q: %+v, want %s", subject, v, want)
		}
	}
}

// A need declared without the method that serves it, or a method without
// its need, is refused when the rule is bound, as NewEngine binds it, and
// a table's own methods at start, as the registry checks each table.
func TestSkeletonNeedsAreServed(t *testing.T) {
	c := &SubjectWordConfig{Words: []string{"bitcoin"}}
	r, err := c.build(nil)
	if err != nil {
		t.Fatal(err)
	}
	bindWith := func(r Rule, n Needs) error {
		b := &boundRule{Rule: r, name: r.Name(), stream: -1}
		return b.classify(declared{c, n})
	}
	eoh := []Stage{StageEOH}
	for _, tt := range []struct {
		name string
		r    Rule
		n    Needs
		want string // in the error, "" for none
	}{
		{"as declared", r, Needs{Stages: eoh}, ""},
		{"stream without OpenStream", r, Needs{Stages: eoh, Stream: true}, "declares Stream"},
		{"commit without Commit", r, Needs{Stages: eoh, Commit: true}, "declares Commit"},
		{"redaction without redact", r, Needs{Stages: eoh, Redaction: true}, "declares Redaction"},
		{"pairing without pairState", r, Needs{Stages: eoh, Pairing: true}, "declares Pairing"},
		{"Commit undeclared", countingWord{r}, Needs{Stages: eoh}, "does not declare Commit"},
		{"Commit declared", countingWord{r}, Needs{Stages: eoh, Commit: true}, ""},
	} {
		err := bindWith(tt.r, tt.n)
		if tt.want == "" && err != nil || tt.want != "" && (err == nil || !strings.Contains(err.Error(), tt.want)) {
			t.Errorf("%s: %v, want %q", tt.name, err, tt.want)
		}
	}
	for _, tt := range []struct {
		name string
		n    Needs
		want string
	}{
		{"no stage", Needs{}, "declares no stage"},
		{"stages out of order", Needs{Stages: []Stage{StageEOB, StageEOH}}, "earliest first"},
		{"gaps without inspection", Needs{Stages: []Stage{StageEOB}, Gaps: true}, "Gaps without Inspection"},
		{"inspection before end of body", Needs{Stages: eoh, Inspection: true}, "Inspection without deciding at end of body"},
		{"parts without stream", Needs{Stages: eoh, Parts: EveryPart}, "Parts without Stream"},
		{"derive without derive", Needs{Stages: eoh, Derive: true}, "declares Derive"},
		{"crossCheck without crossCheck", Needs{Stages: eoh, CrossCheck: true}, "declares CrossCheck"},
	} {
		if err := checkNeeds(tt.n, c); err == nil || !strings.Contains(err.Error(), tt.want) {
			t.Errorf("%s: %v, want %q", tt.name, err, tt.want)
		}
	}
	if err := checkNeeds(Needs{Stages: eoh}, &AttachmentExtensionConfig{}); err == nil || !strings.Contains(err.Error(), "does not declare CrossCheck") {
		t.Errorf("a table with crossCheck that does not declare it: %v", err)
	}
}

// declared is a table that declares other needs than its own.
type declared struct {
	*SubjectWordConfig
	n Needs
}

func (d declared) needs() Needs { return d.n }

// countingWord is the skeleton rule with a Commit method.
type countingWord struct{ Rule }

func (countingWord) Commit(context.Context, *Message) error { return nil }
