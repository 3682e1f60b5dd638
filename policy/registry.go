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
// field here. The field's tags say what the engine needs to know of the
// rule beyond its table:
//
//   - decides: "connect" or "rcpt" for a rule that decides before the
//     headers are known; a [[policy]] block chosen later, by sender at RCPT
//     or by kind of mail at end of headers, cannot change it.
//   - vars: the placeholders its hits give its replies, besides the common
//     ones and {reason}, which every rule gives (-check refuses others).
//   - gaps: "content" for the rule that judges what could not be read: it
//     is turned on, with its defaults, wherever a rule that judges the
//     content is on without it, and it runs before the other content
//     rules, so that the reply to a message not read completely says so.
//   - formerly: the rule a former table name stands for.
//
// A table that is present turns its rule on (enabled = false turns it off
// again); an absent table leaves the rule off.
type RulesConfig struct {
	DNSBL                 *DNSBLConfig                 `toml:"dnsbl" decides:"connect" vars:"zones,txt"`
	SendOnly              *SendOnlyConfig              `toml:"send_only" decides:"rcpt" vars:""`
	RecipientLimit        *RecipientLimitConfig        `toml:"recipient_limit" decides:"rcpt" vars:"count,limit"`
	RateLimit             *RateLimitConfig             `toml:"rate_limit" decides:"rcpt" vars:"count,limit,window"`
	AsciiOnly             *AsciiOnlyConfig             `toml:"ascii_only" vars:"where"`
	Blank                 *BlankConfig                 `toml:"blank" vars:"where"`
	AttachmentSize        *AttachmentSizeConfig        `toml:"attachment_size" vars:"filename,size,limit"`
	AttachmentExtension   *AttachmentExtensionConfig   `toml:"attachment_extension" vars:"filename"`
	AttachmentNoExtension *AttachmentNoExtensionConfig `toml:"attachment_no_extension" vars:"filename"`
	EncryptedArchive      *EncryptedArchiveConfig      `toml:"encrypted_archive" vars:"filename"`
	Uninspectable         *UninspectableConfig         `toml:"uninspectable" vars:"" gaps:"content"`
	Virus                 *VirusConfig                 `toml:"virus" vars:"virus,filename"`

	// Former names, read as the rule they name now.
	MimeLimits *UninspectableConfig `toml:"mime_limits" formerly:"uninspectable" vars:"" gaps:"content"`
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
}

// contentJudge is a rule configuration whose rule reads the inspection
// (Message.Inspection) at end of body, when judgesContent says so for its
// settings. It is the one place a rule declares that need: the engine then
// inspects the message before the rule runs, and a configuration that has
// such a rule gets uninspectable, so that what cannot be read completely
// does not pass as clean.
type contentJudge interface {
	judgesContent() bool
}

// judgesContent reports whether the rule of table c reads the inspection.
func judgesContent(c ruleConfig) bool {
	j, ok := c.(contentJudge)
	return ok && j.judgesContent()
}

// deriver is a rule configuration with defaults that depend on what the
// file sets, such as a 4xx reply for an action set to tempfail: set says
// whether the file sets a key of the rule's table.
type deriver interface {
	derive(set func(key string) bool)
}

// registryEntry is one field of RulesConfig.
type registryEntry struct {
	name    string // the rule's name
	key     string // the table's name: the rule's name, or a former one
	field   int
	decides string   // "connect" or "rcpt" for a rule that decides before the headers, else ""
	vars    []string // the placeholders of its replies, besides the common ones and {reason}
	gaps    bool     // the rule that judges what could not be read
}

// registry lists the fields of RulesConfig, in their order.
var registry = func() []registryEntry {
	t := reflect.TypeFor[RulesConfig]()
	iface := reflect.TypeFor[ruleConfig]()
	var out []registryEntry
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
		vars, ok := f.Tag.Lookup("vars")
		if !ok {
			panic(fmt.Sprintf("policy: RulesConfig.%s has no vars tag: say which placeholders its replies get (vars:\"\" for none)", f.Name))
		}
		e := registryEntry{name: name, key: key, field: i, decides: f.Tag.Get("decides"), gaps: f.Tag.Get("gaps") == "content"}
		if vars != "" {
			e.vars = strings.Split(vars, ",")
		}
		out = append(out, e)
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

// judgesGaps reports whether the rule named judges what could not be read.
func judgesGaps(name string) bool {
	e, _ := entryOf(name)
	return e.gaps
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
		if t.cfg.common().Enabled && judgesContent(t.cfg) {
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

// decidesBefore returns the stage before end of headers at which a rule
// decides ("connect", "rcpt"), "" for a rule that decides at end of
// headers or later.
func decidesBefore(name string) string {
	e, _ := entryOf(name)
	return e.decides
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
