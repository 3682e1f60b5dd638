package policy

import "slices"

// Offline turns off, in the top-level rules and in every policy, the
// rules that need the network, and returns their names: `sekisho scan`
// runs without them unless asked, and shows them as not run.
func (c *Config) Offline() []string {
	var off []string
	disable := func(rules *RulesConfig) {
		for _, t := range rules.tables(nil) {
			if rc := t.cfg.common(); rc.Enabled && t.cfg.needs().Network {
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
