package policy

import (
	"context"
	"fmt"
	"strings"
	"testing"
)

// The skeleton of a rule, as ARCHITECTURE.md describes adding one: a
// configuration type (its [rules.NAME] table) and the rule it builds. To
// make it real, move both into NAME.go, add one field to RulesConfig with
// its tags, and give it its README section and table rows; the tests
// named in ARCHITECTURE.md then say what is still missing.

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

func (c *SubjectWordConfig) build(*Env) (Rule, error) { return &subjectWord{words: c.Words}, nil }

// subjectWord decides at end of headers, from the decoded subject.
type subjectWord struct{ words []string }

func (r *subjectWord) Name() string    { return "subject_word" }
func (r *subjectWord) Stages() []Stage { return []Stage{StageEOH} }

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
	r, err := c.build(nil)
	if err != nil {
		t.Fatal(err)
	}
	e := fakeEngine(t, nil, bind(r, Reject))
	for subject, want := range map[string]Action{"ご請求書": Continue, "your bitcoin wallet": Reject} {
		m := newMessage()
		m.Headers = []Header{{Name: "Subject", Value: subject}}
		if v := e.Run(context.Background(), StageEOH, m); v.Action != want || (want == Reject && v.Rule != "subject_word") {
			t.Errorf("subject %q: %+v, want %s", subject, v, want)
		}
	}
}
