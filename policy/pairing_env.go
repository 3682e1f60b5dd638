package policy

import (
	"time"

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

// now returns the Env's clock.
func (env *Env) now() time.Time {
	if env.Now != nil {
		return env.Now()
	}
	return time.Now()
}
