package policy

import (
	"fmt"
	"reflect"
	"slices"
	"strings"
)

// RulesConfig is the [rules] table, and the one registry of rules: each
// field is one rule, its toml name the rule's name in the configuration,
// its type the rule's configuration, which validates the rule's keys and
// builds the rule. The order of the fields is the order in which the rules
// of one stage are evaluated when the file does not decide (see Order).
// Adding a rule is adding its file, with its configuration type, and one
// field here. What the rule needs of the engine beyond its table is
// declared by the table's needs method (see Needs). The one tag besides
// toml is formerly: the rule a former table name stands for.
//
// A table that is present turns its rule on (enabled = false turns it off
// again); an absent table leaves the rule off.
type RulesConfig struct {
	DNSBL                 *DNSBLConfig                 `toml:"dnsbl"`
	SendOnly              *SendOnlyConfig              `toml:"send_only"`
	RecipientLimit        *RecipientLimitConfig        `toml:"recipient_limit"`
	RateLimit             *RateLimitConfig             `toml:"rate_limit"`
	AsciiOnly             *AsciiOnlyConfig             `toml:"ascii_only"`
	Blank                 *BlankConfig                 `toml:"blank"`
	AttachmentSize        *AttachmentSizeConfig        `toml:"attachment_size"`
	AttachmentExtension   *AttachmentExtensionConfig   `toml:"attachment_extension"`
	AttachmentNoExtension *AttachmentNoExtensionConfig `toml:"attachment_no_extension"`
	EncryptedArchive      *EncryptedArchiveConfig      `toml:"encrypted_archive"`
	Uninspectable         *UninspectableConfig         `toml:"uninspectable"`
	Virus                 *VirusConfig                 `toml:"virus"`

	// Former names, read as the rule they name now.
	MimeLimits *UninspectableConfig `toml:"mime_limits" formerly:"uninspectable"`
}

// ruleConfig is what every [rules.NAME] table type provides.
type ruleConfig interface {
	common() *RuleCommon
	// setDefaults fills a new table with the rule's defaults; the file is
	// then decoded over it, so that a key the file leaves out keeps its
	// default, and the values in force can be printed.
	setDefaults()
	// validate checks the rule's own keys once the file is decoded and
	// keeps what it parsed (patterns, address ranges, URLs) for build; keys
	// in errors are relative to the rule's table.
	validate() []*ConfigError
	// build makes the rule from what validate parsed.
	build(env *Env) (Rule, error)
	// needs declares, for the table's settings, what the rule needs of
	// the engine and of the configuration.
	needs() Needs
}

// registryEntry is one field of RulesConfig.
type registryEntry struct {
	name  string // the rule's name
	key   string // the table's name: the rule's name, or a former one
	field int
	gaps  bool // the rule that judges what could not be read (Needs.Gaps)
}

// registry lists the fields of RulesConfig, in their order. Each table's
// declared needs are checked with its defaults: a rule whose table
// declares a need without the method that serves it, or has the method
// without declaring the need, stops the package here.
var registry = func() []registryEntry {
	t := reflect.TypeFor[RulesConfig]()
	iface := reflect.TypeFor[ruleConfig]()
	var out []registryEntry
	inspection, gaps := false, false
	for i := range t.NumField() {
		f := t.Field(i)
		if !f.Type.Implements(iface) {
			panic(fmt.Sprintf("policy: RulesConfig.%s is not a rule configuration", f.Name))
		}
		key, _, _ := strings.Cut(f.Tag.Get("toml"), ",")
		name := key
		if n := f.Tag.Get("formerly"); n != "" {
			name = n
		}
		e := registryEntry{name: name, key: key, field: i}
		def := newTable(e)
		n := def.needs()
		if err := checkNeeds(n, def); err != nil {
			panic(fmt.Sprintf("policy: RulesConfig.%s: %v", f.Name, err))
		}
		e.gaps = n.Gaps
		inspection, gaps = inspection || n.Inspection, gaps || n.Gaps
		out = append(out, e)
	}
	if inspection && !gaps {
		panic("policy: rules read the inspection, and none declares Gaps: what could not be read would pass as clean")
	}
	return out
}()

// entryOf returns the registry entry of a rule by its current name.
func entryOf(name string) (registryEntry, bool) {
	for _, e := range registry {
		if e.name == name {
			return e, true
		}
	}
	return registryEntry{}, false
}

// implicitGapsRule turns on, with its defaults, the rule that judges what
// could not be read, in rules that judge the content but have no table
// for it: what cannot be read completely must not pass as clean. defaults
// fills what a fresh table takes from the configuration (on_error,
// error_reply). It reports whether it added the table, and its name.
func implicitGapsRule(rules *RulesConfig, defaults func(ruleConfig)) (string, bool) {
	var gaps []registryEntry
	for _, e := range registry {
		if e.gaps {
			if rules.get(e) != nil {
				return "", false
			}
			gaps = append(gaps, e)
		}
	}
	if len(gaps) == 0 {
		return "", false
	}
	for _, t := range rules.tables(nil) {
		if t.cfg.common().Enabled && t.cfg.needs().Inspection {
			e := gaps[0]
			c := newTable(e)
			defaults(c)
			rules.set(e, c)
			return e.name, true
		}
	}
	return "", false
}

// RuleNames lists every rule, in the order used when the file does not
// decide.
var RuleNames = func() []string {
	var out []string
	for _, e := range registry {
		if !slices.Contains(out, e.name) {
			out = append(out, e.name)
		}
	}
	return out
}()

// decidesBefore returns the stage before end of headers at which the
// rule of table c decides (connect, RCPT), and false for a rule that
// decides at end of headers or later.
func decidesBefore(c ruleConfig) (Stage, bool) {
	st := c.needs().Stages
	if len(st) == 0 || st[0] >= StageEOH {
		return 0, false
	}
	return st[0], true
}

// get returns the table of entry e, nil when absent.
func (r *RulesConfig) get(e registryEntry) ruleConfig {
	v := reflect.ValueOf(r).Elem().Field(e.field)
	if v.IsNil() {
		return nil
	}
	return v.Interface().(ruleConfig)
}

// set puts c as the table of entry e; nil removes it.
func (r *RulesConfig) set(e registryEntry, c ruleConfig) {
	v := reflect.ValueOf(r).Elem().Field(e.field)
	if c == nil {
		v.SetZero()
		return
	}
	v.Set(reflect.ValueOf(c))
}

// newTable returns a table of entry e with the rule's defaults.
func newTable(e registryEntry) ruleConfig {
	t := reflect.TypeFor[RulesConfig]().Field(e.field).Type.Elem()
	c := reflect.New(t).Interface().(ruleConfig)
	c.common().setDefaults()
	c.setDefaults()
	return c
}

// namedConfig is a rule table present in the configuration.
type namedConfig struct {
	name string // the rule's name
	key  string // its table in the file: the name, or a former name
	cfg  ruleConfig
}

// tables returns the rule tables present, in evaluation order: first those
// order names (the file's order), then the others in registry order.
func (r *RulesConfig) tables(order []string) []namedConfig {
	var present []namedConfig
	for _, e := range registry {
		if c := r.get(e); c != nil {
			present = append(present, namedConfig{e.name, e.key, c})
		}
	}
	var out []namedConfig
	for _, name := range order {
		for i, t := range present {
			if t.name == name {
				out = append(out, t)
				present = slices.Delete(present, i, i+1)
				break
			}
		}
	}
	return append(out, present...)
}

// ruleName returns the current name of a table name, former names
// included, and whether it is a rule at all.
func ruleName(key string) (string, bool) {
	for _, e := range registry {
		if e.key == key {
			return e.name, true
		}
	}
	return "", false
}
