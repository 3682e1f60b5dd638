package policy

import "slices"

// needsNetwork reports whether a rule table asks a server to decide: a
// DNSBL, clamd, or a Redis store (rate limits, PPAP pairing).
func needsNetwork(t ruleConfig) bool {
	switch c := t.(type) {
	case *DNSBLConfig, *VirusConfig:
		return true
	case *RateLimitConfig:
		return !c.Store.memory()
	case *EncryptedArchiveConfig:
		return c.pairsInRedis()
	}
	return false
}

// Offline turns off, in the top-level rules and in every policy, the
// rules that need the network, and returns their names: `sekisho scan`
// runs without them unless asked, and shows them as not run.
func (c *Config) Offline() []string {
	var off []string
	disable := func(rules *RulesConfig) {
		for _, t := range rules.tables(nil) {
			if rc := t.cfg.common(); rc.Enabled && needsNetwork(t.cfg) {
				rc.Enabled = false
				if !slices.Contains(off, t.name) {
					off = append(off, t.name)
				}
			}
		}
	}
	disable(&c.Rules)
	for i := range c.Policies {
		disable(&c.Policies[i].Rules)
	}
	return off
}
