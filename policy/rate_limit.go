package policy

import (
	"context"
	"errors"
	"fmt"
	"net/url"
	"strconv"
	"strings"
	"time"

	"github.com/sekisho/sekisho/policy/metrics"
	"github.com/sekisho/sekisho/policy/ratelimit"
)

// RateLimitConfig is [rules.rate_limit]: repeated mail to the same
// recipient within a short time.
type RateLimitConfig struct {
	RuleCommon
	Key     string      `toml:"key"`     // sender+recipient, client+recipient, recipient, sender, client
	Limit   int         `toml:"limit"`   // messages allowed within window; no default
	Window  Duration    `toml:"window"`  // sliding window
	Store   StoreConfig `toml:"store"`   // "memory", a Redis URL, or a table of Redis servers
	Timeout Duration    `toml:"timeout"` // per Redis call
	// KeySecret keys the digests the counts are stored under (see
	// ratelimit.Digest); the same on every host sharing a store.
	KeySecret string `toml:"key_secret"`
}

func (c *RateLimitConfig) setDefaults() {
	c.outcome(Tempfail, Reply{Code: 450, Enhanced: "4.7.1", Text: "Too many messages to <{rcpt}>, try again later"})
	c.Key = "sender+recipient"
	c.Window = Duration(10 * time.Minute)
	c.Store = StoreConfig{text: "memory"}
	c.Timeout = Duration(time.Second)
}

// derive tells the forms of store apart: a table is decoded over the
// default "memory", a string replaces it.
func (c *RateLimitConfig) derive(set func(key string) bool) { c.Store.derive(set("store")) }

// derive tells the forms of a store key apart once the file is decoded:
// set says whether the file sets the key.
func (s *StoreConfig) derive(set bool) {
	if s.form != storeUnset {
		return // a string, or a table already derived and inherited
	}
	if set {
		s.form, s.text = storeTable, ""
	} else {
		s.form = storeText
	}
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
	return append(errs, c.Store.validate()...)
}

// needs: the rule counts accepted mail, in Redis through the network.
func (c *RateLimitConfig) needs() Needs {
	return Needs{Stages: []Stage{StageRcpt}, Vars: []string{"count", "limit", "window"}, Commit: true, Network: !c.Store.memory(), Derive: true}
}

func (c *RateLimitConfig) build(env *Env) (Rule, error) {
	r := &rateLimit{kind: c.Key, limit: c.Limit, window: c.Window.D(), secret: []byte(c.KeySecret), metrics: env.Metrics}
	if c.KeySecret == "" && !c.Store.memory() {
		env.logger().Warn("rate_limit: key_secret is not set: the counts are stored under digests of the addresses that anyone who guesses an address can compute",
			"store", c.Store.String())
	}
	var err error
	r.store, err = env.rateStore(c.Store.url, c.Timeout.D())
	return r, err
}

// StoreConfig is the store key of [rules.rate_limit]: where the counts
// are kept. It is written as a string, "memory" or a Redis URL (see
// ratelimit.ParseRedisURL), or as a table that names Redis servers:
//
//	store = { sentinels = ["s1:26379", "s2:26379"], master_name = "mymaster", db = 0 }
//	store = { nodes = ["n1:7000", "n2:7001", "n3:7002"] }
//
// with username, password and tls in either, and sentinel_username and
// sentinel_password for Sentinels that want a password of their own. A
// table is read as the URL it stands for.
type StoreConfig struct {
	Sentinels        []string `toml:"sentinels"`         // HOST:PORT of each Sentinel
	MasterName       string   `toml:"master_name"`       // the master the Sentinels watch
	Nodes            []string `toml:"nodes"`             // HOST:PORT of Redis Cluster nodes
	DB               int      `toml:"db"`                // with sentinels only
	Username         string   `toml:"username"`          // of the servers holding the counts
	Password         string   `toml:"password"`          // of the servers holding the counts
	SentinelUsername string   `toml:"sentinel_username"` // of the Sentinels
	SentinelPassword string   `toml:"sentinel_password"` // of the Sentinels
	TLS              bool     `toml:"tls"`               // rediss: every server is reached over TLS

	text string // the string form, as written
	form storeForm
	url  string // "memory" or the Redis URL, once validated
}

// storeForm is how a store is written.
type storeForm int

const (
	storeUnset storeForm = iota // not known before derive
	storeText
	storeTable
)

// UnmarshalText reads the string form.
func (s *StoreConfig) UnmarshalText(b []byte) error {
	*s = StoreConfig{text: string(b), form: storeText}
	return nil
}

// MarshalText writes the store as a string: a table as the URL it stands
// for, so that the configuration in force parses back the same.
func (s StoreConfig) MarshalText() ([]byte, error) {
	if s.form != storeTable {
		return []byte(s.text), nil
	}
	u, _ := s.tableURL()
	return []byte(u), nil
}

// String is the store for logs, without passwords.
func (s StoreConfig) String() string {
	b, _ := s.MarshalText()
	return ratelimit.Redact(string(b))
}

// memory reports whether the counts are kept in the process.
func (s StoreConfig) memory() bool { return s.form != storeTable && s.text == "memory" }

// validate checks the store and keeps its URL; keys in errors are relative
// to the rule's table.
func (s *StoreConfig) validate() []*ConfigError {
	if s.form != storeTable {
		switch {
		case s.text == "memory":
			s.url = s.text
		case !ratelimit.IsRedisURL(s.text):
			return []*ConfigError{{Key: "store", Msg: fmt.Sprintf("want \"memory\", a Redis URL (%s) or a table with sentinels or nodes, not %q",
				ratelimit.RedisSchemes, ratelimit.Redact(s.text))}}
		default:
			if _, err := ratelimit.ParseRedisURL(s.text); err != nil {
				return []*ConfigError{{Key: "store", Msg: err.Error()}}
			}
			s.url = s.text
		}
		return nil
	}
	u, errs := s.tableURL()
	if len(errs) > 0 {
		return errs
	}
	if _, err := ratelimit.ParseRedisURL(u); err != nil {
		// The URL is made from the table: say what in the table is wrong.
		key, msg := "store", err.Error()
		if ue, ok := err.(*ratelimit.URLError); ok {
			msg = ue.Reason
			if len(s.Sentinels) > 0 {
				key = "store.sentinels"
			} else {
				key = "store.nodes"
			}
		}
		return []*ConfigError{{Key: key, Msg: msg}}
	}
	s.url = u
	return nil
}

// tableURL returns the URL a table stands for, and what in the table keeps
// it from standing for one.
func (s StoreConfig) tableURL() (string, []*ConfigError) {
	var errs []*ConfigError
	bad := func(key, format string, args ...any) {
		errs = append(errs, &ConfigError{Key: "store." + key, Msg: fmt.Sprintf(format, args...)})
	}
	hosts, kind, hostsKey := s.Sentinels, "sentinel", "sentinels"
	switch {
	case len(s.Sentinels) > 0 && len(s.Nodes) > 0:
		errs = append(errs, &ConfigError{Key: "store", Msg: "sentinels (Redis Sentinel) or nodes (Redis Cluster), not both"})
	case len(s.Sentinels) > 0:
		if strings.TrimSpace(s.MasterName) == "" {
			bad("master_name", "the name the Sentinels know the master by is missing (master_name = \"mymaster\")")
		}
		if s.DB < 0 {
			bad("db", "must be 0 or more, not %d", s.DB)
		}
	case len(s.Nodes) > 0:
		hosts, kind, hostsKey = s.Nodes, "cluster", "nodes"
		if s.MasterName != "" {
			bad("master_name", "is for sentinels; a Redis Cluster has no master name")
		}
		if s.DB != 0 {
			bad("db", "a Redis Cluster has database 0 only, not %d", s.DB)
		}
		if s.SentinelUsername != "" || s.SentinelPassword != "" {
			bad("sentinel_password", "is for sentinels, not for the nodes of a Redis Cluster")
		}
	default:
		errs = append(errs, &ConfigError{Key: "store", Msg: "a store table names Redis servers: sentinels = [\"HOST:PORT\", ...] with master_name, or nodes = [\"HOST:PORT\", ...]"})
	}
	for _, h := range hosts {
		if h == "" || strings.ContainsAny(h, ",/?#@ \t") {
			bad(hostsKey, "%q: want HOST:PORT", h)
		}
	}
	if len(errs) > 0 {
		return "", errs
	}
	scheme := "redis+" + kind
	if s.TLS {
		scheme = "rediss+" + kind
	}
	u := url.URL{Scheme: scheme, Host: strings.Join(hosts, ",")}
	if s.Username != "" || s.Password != "" {
		u.User = url.UserPassword(s.Username, s.Password)
	}
	if kind == "sentinel" {
		u.Path = "/" + s.MasterName + "/" + strconv.Itoa(s.DB)
		u.RawPath = "/" + url.PathEscape(s.MasterName) + "/" + strconv.Itoa(s.DB)
		q := url.Values{}
		if s.SentinelUsername != "" {
			q.Set("sentinel_username", s.SentinelUsername)
		}
		if s.SentinelPassword != "" {
			q.Set("sentinel_password", s.SentinelPassword)
		}
		u.RawQuery = q.Encode()
	}
	return u.String(), nil
}

// rateLimit refuses a recipient at RCPT once its key has had limit
// messages within the window. Only mail that is finally accepted counts:
// refused, discarded or aborted mail does not use up the allowance.
type rateLimit struct {
	kind    string
	limit   int
	window  time.Duration
	store   ratelimit.Store
	secret  []byte           // keys the store's digests
	metrics *metrics.Metrics // counts the store's failures
}

func (r *rateLimit) Name() string { return "rate_limit" }

func (r *rateLimit) key(m *Message, rcpt string) (string, error) {
	return ratelimit.Key(r.kind, addrString(m), m.Sender, rcpt)
}

func (r *rateLimit) Check(ctx context.Context, _ Stage, m *Message) (Hit, error) {
	k, err := r.key(m, m.Rcpt)
	if err != nil {
		return Hit{}, err
	}
	n, err := r.store.Count(ctx, ratelimit.Digest(r.secret, k), r.window)
	if err != nil {
		r.metrics.StoreError("count")
		return Hit{}, fmt.Errorf("rate limit store: %w", err)
	}
	if n >= r.limit {
		return Hit{Matched: true, Reason: fmt.Sprintf("%s had %d messages within %s (limit %d)", k, n, r.window, r.limit),
			Vars: map[string]string{"count": strconv.Itoa(n), "limit": strconv.Itoa(r.limit), "window": r.window.String(),
				"reason": fmt.Sprintf("%d messages within %s", n, r.window)}}, nil
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
		err = r.store.Add(ctx, ratelimit.Digest(r.secret, k), r.window, 1)
		if errors.Is(err, ratelimit.ErrNotReplicated) {
			// Counted on the master: the mail is not failed for it.
			r.metrics.StoreError("replica_wait")
			continue
		}
		if err != nil {
			r.metrics.StoreError("add")
			return fmt.Errorf("rate limit store: %w", err)
		}
	}
	return nil
}
