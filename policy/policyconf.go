package policy

import (
	"encoding"
	"fmt"
	"reflect"
	"regexp"
	"slices"
	"strings"
)

// PolicyConfig is one [[policy]] block: rule settings of their own for
// some recipients. Its [policy.rules.NAME] tables are read over the
// top-level ones: a key the block sets replaces the top-level value, the
// others are inherited, and a table the top level lacks starts from the
// rule's defaults. After Parse, Rules holds every rule table in force for
// the block's recipients.
type PolicyConfig struct {
	Name       string      `toml:"name"`       // in logs and in `sekisho scan`; "policyN" when unset
	Recipients []string    `toml:"recipients"` // patterns; the first block that matches a recipient applies
	Rules      RulesConfig `toml:"rules"`

	recipients Patterns
	own        []string // the rules the block sets, by name
	order      []string // evaluation order of its rules
}

// DefaultPolicy is the name of the top-level rules, the policy of the
// recipients no [[policy]] block matches.
const DefaultPolicy = "default"

// Own lists the rules whose settings the block changes.
func (p *PolicyConfig) Own() []string { return p.own }

// earlyRules decide before any recipient is known, so they cannot differ
// by recipient.
var earlyRules = []string{"dnsbl"}

var policyTableRE = regexp.MustCompile(`(?m)^\s*\[\s*policy\s*\.\s*rules\s*\.\s*"?([A-Za-z0-9_-]+)"?\s*\]`)

// mergePolicies reads each [[policy]] block's rule tables over the
// top-level ones (pos knows which keys the file sets), after the top-level
// defaults are derived.
func (c *Config) mergePolicies(pos positions, data []byte) {
	order := slices.Clone(c.Order)
	for _, m := range policyTableRE.FindAllSubmatch(data, -1) {
		if name, ok := ruleName(string(m[1])); ok && !slices.Contains(order, name) {
			order = append(order, name)
		}
	}
	for i := range c.Policies {
		p := &c.Policies[i]
		if p.Name == "" {
			p.Name = fmt.Sprintf("policy%d", i+1)
		}
		p.order = order
		prefix := fmt.Sprintf("policy[%d].rules.", i)
		var merged RulesConfig
		for _, name := range RuleNames {
			var top, own *registryEntry
			for j := range registry {
				e := &registry[j]
				if e.name != name {
					continue
				}
				if c.Rules.get(*e) != nil {
					top = e
				}
				if pos.has(prefix+e.key) && p.Rules.get(*e) != nil {
					own = e
				}
			}
			if own == nil {
				if top != nil {
					merged.set(*top, c.Rules.get(*top))
				}
				continue
			}
			p.own = append(p.own, name)
			var base ruleConfig
			if top != nil {
				base = c.Rules.get(*top)
			}
			fresh := base == nil
			if fresh {
				base = newTable(*own)
			}
			t := cloneTable(base)
			keyPrefix := prefix + own.key + "."
			set := func(key string) bool { return pos.has(keyPrefix + key) }
			copySet(reflect.ValueOf(t).Elem(), reflect.ValueOf(p.Rules.get(*own)).Elem(), "", set)
			rc := t.common()
			if !set("enabled") {
				// A table that is present turns its rule on.
				rc.Enabled = true
			}
			if set("action") && !set("reply") && top != nil && !pos.has("rules."+top.key+".reply") {
				// The action changes, the reply was the rule's default:
				// take the default that goes with the new action.
				rc.Reply = newTable(*own).common().Reply
			}
			c.deriveTable(t, set, fresh)
			merged.set(*own, t)
		}
		if c.implicitUninspectable(&merged) {
			p.own = append(p.own, "uninspectable")
		}
		// Both names of one rule in a block are reported by validate.
		for _, e := range registry {
			if e.name != e.key && pos.has(prefix+e.key) && pos.has(prefix+e.name) {
				merged.set(e, p.Rules.get(e))
			}
		}
		p.Rules = merged
	}
}

// cloneTable returns a copy of a rule table (what it refers to is shared:
// a table is not changed once validated).
func cloneTable(t ruleConfig) ruleConfig {
	v := reflect.ValueOf(t).Elem()
	out := reflect.New(v.Type())
	out.Elem().Set(v)
	return out.Interface().(ruleConfig)
}

var textUnmarshaler = reflect.TypeFor[encoding.TextUnmarshaler]()

// copySet copies into dst the fields of src whose keys set reports as set
// in the file, key by key through nested tables.
func copySet(dst, src reflect.Value, prefix string, set func(string) bool) {
	t := dst.Type()
	for i := range t.NumField() {
		f := t.Field(i)
		if !f.IsExported() {
			continue
		}
		if f.Anonymous {
			copySet(dst.Field(i), src.Field(i), prefix, set)
			continue
		}
		key, _, _ := strings.Cut(f.Tag.Get("toml"), ",")
		if key == "" || key == "-" {
			continue
		}
		if f.Type.Kind() == reflect.Struct && !reflect.PointerTo(f.Type).Implements(textUnmarshaler) {
			copySet(dst.Field(i), src.Field(i), prefix+key+".", set)
			continue
		}
		if set(prefix + key) {
			dst.Field(i).Set(src.Field(i))
		}
	}
}

// validatePolicies checks the [[policy]] blocks and the rule tables they
// set.
func (c *Config) validatePolicies() []*ConfigError {
	var errs []*ConfigError
	seen := map[string]int{}
	for i := range c.Policies {
		p := &c.Policies[i]
		at := fmt.Sprintf("policy[%d]", i)
		bad := func(key, format string, args ...any) {
			errs = append(errs, &ConfigError{Key: at + key, Msg: fmt.Sprintf(format, args...)})
		}
		switch j, dup := seen[p.Name]; {
		case p.Name == DefaultPolicy:
			bad(".name", "%q names the top-level rules; choose another name", p.Name)
		case dup:
			bad(".name", "%q is also the name of policy block %d", p.Name, j+1)
		}
		seen[p.Name] = i
		if len(p.Recipients) == 0 {
			bad(".recipients", "a policy needs recipient patterns, such as [\"*@design.example.co.jp\"]")
		}
		p.recipients = compilePatterns(at+".recipients", p.Recipients, &errs)
		for _, name := range p.own {
			if slices.Contains(earlyRules, name) {
				bad(".rules."+name, "%s decides when the client connects, before any recipient is known: it cannot differ by policy", name)
			}
		}
		errs = append(errs, c.validateRules(at+".rules.", &p.Rules, p.order, p.own)...)
	}
	return errs
}

// policyFor returns the index in c.Policies of the block whose recipients
// match rcpt, -1 for the top-level rules.
func (c *Config) policyFor(rcpt string) int {
	for i := range c.Policies {
		if _, ok := c.Policies[i].recipients.Match(rcpt); ok {
			return i
		}
	}
	return -1
}
