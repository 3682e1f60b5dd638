package policy

import (
	"context"
	"fmt"
)

// SendOnlyConfig is [rules.send_only]: addresses that only send mail
// (no-reply addresses) and must never receive any.
type SendOnlyConfig struct {
	RuleCommon
	Addresses []string `toml:"addresses"` // no default: the addresses are the company's

	patterns Patterns
}

func (c *SendOnlyConfig) setDefaults() {
	c.outcome(Reject, Reply{Code: 550, Enhanced: "5.1.1", Text: "User unknown"})
	c.Addresses = []string{}
}

func (c *SendOnlyConfig) validate() []*ConfigError {
	var errs []*ConfigError
	if len(c.Addresses) == 0 {
		errs = append(errs, &ConfigError{Key: "addresses", Msg: "list at least one address pattern"})
	}
	c.patterns = compilePatterns("addresses", c.Addresses, &errs)
	return errs
}

func (c *SendOnlyConfig) needs() Needs { return Needs{Stages: []Stage{StageRcpt}} }

func (c *SendOnlyConfig) build(*Env) (Rule, error) { return &sendOnly{patterns: c.patterns}, nil }

// sendOnly refuses recipients that are send-only addresses, at RCPT.
type sendOnly struct {
	patterns Patterns
}

func (r *sendOnly) Name() string { return "send_only" }

func (r *sendOnly) Check(_ context.Context, _ Stage, m *Message) (Hit, error) {
	p, ok := r.patterns.Match(m.Rcpt)
	if !ok {
		return Hit{}, nil
	}
	// The pattern is the company's business, not the sender's.
	return Hit{Matched: true, Reason: fmt.Sprintf("recipient %s is send-only (pattern %s)", m.Rcpt, p),
		Vars: map[string]string{"reason": "the address receives no mail"}}, nil
}
