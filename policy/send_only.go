package policy

import (
	"context"
	"fmt"
)

// SendOnlyConfig is [rules.send_only]: addresses that only send mail
// (no-reply addresses) and must never receive any.
type SendOnlyConfig struct {
	RuleCommon
	Addresses []string `toml:"addresses"`
}

func (c *SendOnlyConfig) defaults() (Action, Reply) {
	return Reject, Reply{Code: 550, Enhanced: "5.1.1", Text: "User unknown"}
}

func (c *SendOnlyConfig) check() []*ConfigError {
	var errs []*ConfigError
	if len(c.Addresses) == 0 {
		errs = append(errs, &ConfigError{Key: "addresses", Msg: "list at least one address pattern"})
	}
	for _, a := range c.Addresses {
		if err := checkPattern(a); err != nil {
			errs = append(errs, &ConfigError{Key: "addresses", Msg: err.Error()})
		}
	}
	return errs
}

func (c *SendOnlyConfig) build(*Env) (Rule, error) {
	ps, err := CompilePatterns(c.Addresses)
	if err != nil {
		return nil, err
	}
	return &sendOnly{patterns: ps}, nil
}

// sendOnly refuses recipients that are send-only addresses, at RCPT.
type sendOnly struct {
	patterns Patterns
}

func (r *sendOnly) Name() string    { return "send_only" }
func (r *sendOnly) Stages() []Stage { return []Stage{StageRcpt} }

func (r *sendOnly) Check(_ context.Context, _ Stage, m *Message) (Hit, error) {
	p, ok := r.patterns.Match(m.Rcpt)
	if !ok {
		return Hit{}, nil
	}
	return Hit{Matched: true, Reason: fmt.Sprintf("recipient %s is send-only (pattern %s)", m.Rcpt, p)}, nil
}
