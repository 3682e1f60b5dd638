package policy

import (
	"fmt"
	"time"

	"github.com/sekisho/sekisho/policy/ratelimit"

	"github.com/sekisho/sekisho/policy/pairing"
)

// pairStore returns the process's PPAP pairing store: the archives waiting
// and their candidates outlive reloads. The first rule that pairs sizes
// it.
func (env *Env) pairStore(size int) pairing.Store {
	env.mu.Lock()
	defer env.mu.Unlock()
	if env.pairs == nil {
		env.pairs = pairing.NewMemory(size)
	}
	return env.pairs
}

// redisPairStore returns a pairing store on the Redis of a store URL: the
// client is the rate-limit store's of the same URL and timeout, one for
// both, under keys of their own.
func (env *Env) redisPairStore(store string, timeout time.Duration) (pairing.Store, error) {
	s, err := env.rateStore(store, timeout)
	if err != nil {
		return nil, err
	}
	r, ok := s.(*ratelimit.Redis)
	if !ok {
		return nil, fmt.Errorf("store %s is not a Redis store", store)
	}
	return pairing.NewRedis(r.Client(), "sekisho:pair:", timeout), nil
}

// now returns the Env's clock.
func (env *Env) now() time.Time {
	if env.Now != nil {
		return env.Now()
	}
	return time.Now()
}
