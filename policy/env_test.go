package policy

import (
	"testing"
)

// TestEnvPrune: a reload that changes the Redis timeout gets a client of
// its own, and the client only older configurations used is closed.
func TestEnvPrune(t *testing.T) {
	env := &Env{}
	parse := func(timeout string) *Config {
		c := mustParse(t, "[rules.rate_limit]\nlimit = 3\nstore = \"redis://127.0.0.1:1/0\"\ntimeout = \""+timeout+"\"\n")
		envEngine(t, c, env)
		return c
	}
	first, second := parse("1s"), parse("2s")
	if n := len(env.redis); n != 2 {
		t.Fatalf("%d clients, want one per timeout", n)
	}
	if err := env.Prune(second, first); err != nil {
		t.Fatal(err)
	}
	if n := len(env.redis); n != 2 {
		t.Errorf("%d clients after a prune that keeps both configurations", n)
	}
	third := parse("2s")
	if err := env.Prune(third, second); err != nil {
		t.Fatal(err)
	}
	if _, ok := env.redis[redisKey("redis://127.0.0.1:1/0", 1e9)]; ok || len(env.redis) != 1 {
		t.Errorf("clients after pruning the first configuration: %v", env.redis)
	}
	if err := env.Close(); err != nil {
		t.Fatal(err)
	}
	if len(env.redis) != 0 {
		t.Errorf("clients left after Close: %v", env.redis)
	}
}

// TestEnvPrunePolicies: the Redis client of a [[policy]] block's own store
// outlives a reload that keeps the block.
func TestEnvPrunePolicies(t *testing.T) {
	env := &Env{}
	defer env.Close()
	c := mustParse(t, `[[policy]]
recipients = ["*@a.example"]
[policy.rules.rate_limit]
limit = 3
store = { nodes = ["127.0.0.1:1"] }
`)
	envEngine(t, c, env)
	if err := env.Prune(c); err != nil {
		t.Fatal(err)
	}
	if _, ok := env.redis[redisKey("redis+cluster://127.0.0.1:1", c.Policies[0].Rules.RateLimit.Timeout.D())]; !ok || len(env.redis) != 1 {
		t.Errorf("clients after a prune that keeps the policy's store: %v", env.redis)
	}
}
