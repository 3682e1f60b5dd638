package policy

import "context"

// MimeLimitsConfig is [rules.mime_limits]: messages whose structure goes
// past the [inspect] limits (nesting depth, part count, header size), which
// cannot be inspected completely.
type MimeLimitsConfig struct {
	RuleCommon
}

func (c *MimeLimitsConfig) defaults() (Action, Reply) {
	return Reject, Reply{Code: 554, Enhanced: "5.6.0", Text: "Message structure too complex"}
}

func (c *MimeLimitsConfig) check() []*ConfigError { return nil }

func (c *MimeLimitsConfig) build(*Env) (Rule, error) { return mimeLimits{}, nil }

// mimeLimits refuses, at end of body, a message the inspection had to stop
// on.
type mimeLimits struct{}

func (mimeLimits) Name() string    { return "mime_limits" }
func (mimeLimits) Stages() []Stage { return []Stage{StageBody} }
func (mimeLimits) inspects()       {}

func (mimeLimits) Check(_ context.Context, _ Stage, m *Message) (Hit, error) {
	if l := m.Inspection.Limit; l != "" {
		return Hit{Matched: true, Reason: "inspection stopped: " + l}, nil
	}
	return Hit{}, nil
}
