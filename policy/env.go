package policy

import (
	"errors"
	"log/slog"
	"sync"
	"time"

	"github.com/sekisho/sekisho/policy/clamd"
	"github.com/sekisho/sekisho/policy/dnsbl"
	"github.com/sekisho/sekisho/policy/metrics"
	"github.com/sekisho/sekisho/policy/pairing"
	"github.com/sekisho/sekisho/policy/ratelimit"
)

// Env holds what rules share beyond one configuration: it is made once per
// process and outlives reloads, so caches and counters survive them. Close
// releases it when the process ends.
type Env struct {
	Logger *slog.Logger
	Now    func() time.Time
	// Metrics counts what the rules and the services they use do; nil
	// when metrics are off. Set it before the first engine is built: the
	// DNSBL resolver made then keeps it.
	Metrics *metrics.Metrics
	// History keeps every decision; nil when [history] is off. An engine
	// keeps the one set when it is built.
	History Recorder

	once     sync.Once
	resolver *dnsbl.Resolver

	mu     sync.Mutex
	memory *ratelimit.Memory
	redis  map[string]*ratelimit.Redis // by redisKey
	pairs  *pairing.Memory             // PPAP pairing, made by the first rule that pairs

	verdicts *verdictCache // the virus rule's, made by the first rule that caches
	health   map[string]*clamd.Health
}

// clamdHealth returns the process's account of whether the clamd at addr
// answers: its changes are logged once each, across reloads.
func (env *Env) clamdHealth(addr string) *clamd.Health {
	env.mu.Lock()
	defer env.mu.Unlock()
	if h, ok := env.health[addr]; ok {
		return h
	}
	if env.health == nil {
		env.health = map[string]*clamd.Health{}
	}
	m := env.Metrics
	m.ClamdUp(addr, true)
	h := &clamd.Health{Log: env.logger(), OnChange: func(up bool) { m.ClamdUp(addr, up) }}
	env.health[addr] = h
	return h
}

// redisKey names the Redis client of a store URL and timeout: the timeout
// is part of the client's options, so a reload that changes it gets a
// client of its own.
func redisKey(store string, timeout time.Duration) string { return store + " " + timeout.String() }

// rateStore returns the process's rate-limit store for a store setting:
// counts outlive reloads, and several rules on one Redis share a client.
func (env *Env) rateStore(store string, timeout time.Duration) (ratelimit.Store, error) {
	env.mu.Lock()
	defer env.mu.Unlock()
	if store == "memory" {
		if env.memory == nil {
			env.memory = ratelimit.NewMemory(100000, env.Now)
		}
		return env.memory, nil
	}
	key := redisKey(store, timeout)
	if r, ok := env.redis[key]; ok {
		return r, nil
	}
	r, err := ratelimit.NewRedis(store, "sekisho:rl:", timeout)
	if err != nil {
		return nil, err
	}
	env.watch(r)
	if env.redis == nil {
		env.redis = map[string]*ratelimit.Redis{}
	}
	env.redis[key] = r
	return r, nil
}

// Prune closes the Redis clients that none of the given configurations
// uses: after a reload, those of the new one and of the one it replaced,
// whose messages may still be under way, are kept.
func (env *Env) Prune(keep ...*Config) error {
	used := map[string]bool{}
	for _, c := range keep {
		// A [[policy]] block may keep its counts in a store of its own.
		rules := []*RulesConfig{&c.Rules}
		for i := range c.Policies {
			rules = append(rules, &c.Policies[i].Rules)
		}
		for _, r := range rules {
			if rl := r.RateLimit; rl != nil && rl.Enabled {
				used[redisKey(rl.Store.url, rl.Timeout.D())] = true
			}
			if ea := r.EncryptedArchive; ea != nil && ea.pairsInRedis() {
				used[redisKey(ea.Store.url, ea.Timeout.D())] = true
			}
		}
	}
	env.mu.Lock()
	defer env.mu.Unlock()
	var errs []error
	gone := map[string]bool{} // stores no client is left for
	for _, r := range env.redis {
		gone[r.Name()] = true
	}
	for key, r := range env.redis {
		if !used[key] {
			errs = append(errs, r.Close())
			delete(env.redis, key)
		}
	}
	for _, r := range env.redis {
		delete(gone, r.Name())
	}
	for name := range gone {
		env.Metrics.StoreGone(name)
	}
	return errors.Join(errs...)
}

// watch logs the Redis store's changes of state, once each, and shows its
// state in the metrics. While a store does not answer, every rule on it
// applies its on_error.
func (env *Env) watch(r *ratelimit.Redis) {
	name, log, m := r.Name(), env.logger(), env.Metrics
	m.StoreUp(name, true)
	r.OnStateChange(func(up bool, err error) {
		m.StoreUp(name, up)
		if up {
			log.Info("rate-limit store answers again", "store", name)
		} else {
			log.Warn("rate-limit store not answering: rate_limit applies its on_error until it does", "store", name, "error", err)
		}
	})
}

// Close releases every client the Env holds.
func (env *Env) Close() error { return env.Prune() }

func (env *Env) logger() *slog.Logger {
	if env.Logger != nil {
		return env.Logger
	}
	return slog.Default()
}

// dnsbl returns the process's DNSBL resolver, whose cache outlives reloads.
func (env *Env) dnsbl() *dnsbl.Resolver {
	env.once.Do(func() {
		env.resolver = dnsbl.NewResolver(dnsbl.CacheConfig{Now: env.Now, Metrics: env.Metrics})
	})
	return env.resolver
}
