package policy

import (
	"encoding"
	"fmt"
	"reflect"
	"slices"
	"strings"
)

// PolicyConfig is one [[policy]] block: rule settings of their own for
// some mail, chosen by recipient, by envelope sender and by kind of mail.
// Its [policy.rules.NAME] tables are read over the top-level ones: a key
// the block sets replaces the top-level value, the others are inherited,
// and a table the top level lacks starts from the rule's defaults. After
// Parse, Rules holds every rule table in force for the block's mail.
//
// A block matches when each of its lists that is set matches: a recipient
// pattern the recipient (every recipient, for a block with kinds), a
// sender pattern the envelope sender ("<>" is the null sender), a kind
// the message. The first block in the file that matches applies. A block
// by kind is known only at end of headers, so it cannot change the rules
// that decide before (send_only, recipient_limit, rate_limit, dnsbl).
type PolicyConfig struct {
	Name       string      `toml:"name"`       // in logs and in `sekisho scan`; "policyN" when unset
	Recipients []string    `toml:"recipients"` // patterns
	Senders    []string    `toml:"senders"`    // patterns of the envelope sender; "<>" the null sender
	Kinds      []string    `toml:"kinds"`      // bounce, receipt, auto-reply, list (see MailKinds)
	Rules      RulesConfig `toml:"rules"`

	recipients Patterns
	senders    Patterns
	own        []string // the rules the block sets, by name
	order      []string // evaluation order of its rules
}

// DefaultPolicy is the name of the top-level rules, the policy of the
// recipients no [[policy]] block matches.
const DefaultPolicy = "default"

// Own lists the rules whose settings the block changes.
func (p *PolicyConfig) Own() []string { return p.own }

// mergePolicies reads each [[policy]] block's rule tables over the
// top-level ones (pos knows which keys the file sets), after the top-level
// defaults are derived.
func (c *Config) mergePolicies(pos positions) {
	order := slices.Clone(c.Order)
	// Then the rules that only blocks set, in the order first written.
	inBlock := func(k string) (string, bool) {
		rest, ok := strings.CutPrefix(k, "policy[")
		if !ok {
			return "", false
		}
		_, rest, ok = strings.Cut(rest, "].rules.")
		return rest, ok
	}
	for _, name := range pos.ruleOrder(inBlock) {
		if !slices.Contains(order, name) {
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
		if name := c.implicitGaps(&merged); name != "" {
			p.own = append(p.own, name)
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
		if len(p.Recipients) == 0 && len(p.Senders) == 0 && len(p.Kinds) == 0 {
			bad(".recipients", "a policy needs recipients, senders or kinds to match, such as recipients = [\"*@design.example.co.jp\"], senders = [\"<>\"] or kinds = [\"bounce\"]")
		}
		p.recipients = compilePatterns(at+".recipients", p.Recipients, &errs)
		p.senders = compilePatterns(at+".senders", p.Senders, &errs)
		for _, k := range p.Kinds {
			if !slices.Contains(MailKinds, k) {
				bad(".kinds", "unknown kind of mail %q (want %s)", k, strings.Join(MailKinds, ", "))
			}
		}
		for _, name := range p.own {
			e, _ := entryOf(name)
			c := p.Rules.get(e)
			if c == nil {
				continue
			}
			switch when, early := decidesBefore(c); {
			case early && when == StageConnect:
				bad(".rules."+name, "%s decides when the client connects, before any recipient is known: it cannot differ by policy", name)
			case early && len(p.Kinds) > 0:
				bad(".rules."+name, "%s decides at RCPT, before the headers show the kind of mail: it cannot differ by kind; choose such mail by senders in a block of its own", name)
			}
		}
		errs = append(errs, c.validateRules(at+".rules.", &p.Rules, p.order, p.own)...)
	}
	return errs
}

// policyFor returns the index in c.Policies of the first block without
// kinds that matches a recipient and the envelope sender, -1 for the
// top-level rules: what is known at RCPT.
func (c *Config) policyFor(rcpt, sender string) int {
	for i := range c.Policies {
		p := &c.Policies[i]
		if len(p.Kinds) == 0 && p.matchesEnvelope([]string{rcpt}, sender) {
			return i
		}
	}
	return -1
}

// kindPolicyFor returns the index of the first block with kinds that
// matches a message of the given kinds, when it comes before the block
// the message is under (pinned, -1 for the top-level rules), else pinned.
func (c *Config) kindPolicyFor(pinned int, rcpts []string, sender string, kinds []string) int {
	for i := range c.Policies {
		p := &c.Policies[i]
		if i == pinned {
			return pinned
		}
		if len(p.Kinds) == 0 || !p.matchesEnvelope(rcpts, sender) {
			continue
		}
		for _, k := range kinds {
			if slices.Contains(p.Kinds, k) {
				return i
			}
		}
	}
	return pinned
}

// matchesEnvelope reports whether every recipient and the sender match
// the block's patterns, a list that is not set matching all.
func (p *PolicyConfig) matchesEnvelope(rcpts []string, sender string) bool {
	if len(p.Senders) > 0 {
		if _, ok := p.senders.Match(sender); !ok {
			return false
		}
	}
	if len(p.Recipients) > 0 {
		for _, r := range rcpts {
			if _, ok := p.recipients.Match(r); !ok {
				return false
			}
		}
	}
	return true
}
