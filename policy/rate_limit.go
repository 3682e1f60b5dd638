package policy

import (
	"context"
	"fmt"
	"strings"
	"time"

	"github.com/sekisho/sekisho/policy/metrics"
	"github.com/sekisho/sekisho/policy/ratelimit"
)

// RateLimitConfig is [rules.rate_limit]: repeated mail to the same
// recipient within a short time.
type RateLimitConfig struct {
	RuleCommon
	Key     string   `toml:"key"`     // sender+recipient, client+recipient, recipient, sender, client
	Limit   int      `toml:"limit"`   // messages allowed within window; no default
	Window  Duration `toml:"window"`  // sliding window
	Store   string   `toml:"store"`   // "memory" or "redis://HOST:PORT/DB"
	Timeout Duration `toml:"timeout"` // per Redis call
}

func (c *RateLimitConfig) setDefaults() {
	c.outcome(Tempfail, Reply{Code: 450, Enhanced: "4.7.1", Text: "Too many messages to <{rcpt}>, try again later"})
	c.Key = "sender+recipient"
	c.Window = Duration(10 * time.Minute)
	c.Store = "memory"
	c.Timeout = Duration(time.Second)
}

func (c *RateLimitConfig) validate() []*ConfigError {
	var errs []*ConfigError
	if _, err := ratelimit.Key(c.Key, "192.0.2.1", "a@example.com", "b@example.com"); err != nil {
		errs = append(errs, &ConfigError{Key: "key", Msg: err.Error()})
	}
	if c.Limit < 1 {
		errs = append(errs, &ConfigError{Key: "limit", Msg: fmt.Sprintf("must be at least 1, not %d", c.Limit)})
	}
	if c.Window <= 0 {
		errs = append(errs, &ConfigError{Key: "window", Msg: "must be above zero"})
	}
	if c.Timeout <= 0 {
		errs = append(errs, &ConfigError{Key: "timeout", Msg: "must be above zero"})
	}
	switch {
	case c.Store == "memory":
	case !strings.HasPrefix(c.Store, "redis://") && !strings.HasPrefix(c.Store, "rediss://") && !strings.HasPrefix(c.Store, "unix://"):
		errs = append(errs, &ConfigError{Key: "store", Msg: fmt.Sprintf("want \"memory\" or a redis:// URL, not %q", ratelimit.Redact(c.Store))})
	default:
		if _, err := ratelimit.ParseRedisURL(c.Store); err != nil {
			errs = append(errs, &ConfigError{Key: "store", Msg: err.Error()})
		}
	}
	return errs
}

func (c *RateLimitConfig) build(env *Env) (Rule, error) {
	r := &rateLimit{kind: c.Key, limit: c.Limit, window: c.Window.D(), metrics: env.Metrics}
	var err error
	r.store, err = env.rateStore(c.Store, c.Timeout.D())
	return r, err
}

// rateLimit refuses a recipient at RCPT once its key has had limit
// messages within the window. Only mail that is finally accepted counts:
// refused, discarded or aborted mail does not use up the allowance.
type rateLimit struct {
	kind    string
	limit   int
	window  time.Duration
	store   ratelimit.Store
	metrics *metrics.Metrics // counts the store's failures
}

func (r *rateLimit) Name() string    { return "rate_limit" }
func (r *rateLimit) Stages() []Stage { return []Stage{StageRcpt} }

func (r *rateLimit) key(m *Message, rcpt string) (string, error) {
	return ratelimit.Key(r.kind, addrString(m), m.Sender, rcpt)
}

func (r *rateLimit) Check(ctx context.Context, _ Stage, m *Message) (Hit, error) {
	k, err := r.key(m, m.Rcpt)
	if err != nil {
		return Hit{}, err
	}
	n, err := r.store.Count(ctx, k, r.window)
	if err != nil {
		r.metrics.StoreError("count")
		return Hit{}, fmt.Errorf("rate limit store: %w", err)
	}
	if n >= r.limit {
		return Hit{Matched: true, Reason: fmt.Sprintf("%s had %d messages within %s (limit %d)", k, n, r.window, r.limit)}, nil
	}
	return Hit{}, nil
}

// Commit counts one message for each distinct key of the accepted mail.
func (r *rateLimit) Commit(ctx context.Context, m *Message) error {
	seen := map[string]bool{}
	for _, rcpt := range m.Rcpts {
		k, err := r.key(m, rcpt)
		if err != nil || seen[k] {
			continue
		}
		seen[k] = true
		if err := r.store.Add(ctx, k, r.window, 1); err != nil {
			r.metrics.StoreError("add")
			return fmt.Errorf("rate limit store: %w", err)
		}
	}
	return nil
}
