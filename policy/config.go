package policy

import (
	"bytes"
	"cmp"
	_ "embed"
	"errors"
	"fmt"
	"net"
	"net/url"
	"os"
	"path/filepath"
	"regexp"
	"slices"
	"strconv"
	"strings"
	"time"

	"github.com/pelletier/go-toml/v2"
	"github.com/pelletier/go-toml/v2/unstable"

	"github.com/sekisho/sekisho/policy/mime"
	"github.com/sekisho/sekisho/policy/webconfig"
)

// DefaultConfig is the configuration used when none is given: every rule
// that needs no outside service, with the values of a typical Japanese
// company's policy.
//
//go:embed default.toml
var DefaultConfig []byte

// Config is the whole configuration file. Every field is documented in
// contrib/sekisho.toml. Parse applies every default, so that what a Config
// holds is what is in force (Marshal prints it).
type Config struct {
	Listen          string        `toml:"listen"`
	SocketMode      string        `toml:"socket_mode"`  // octal permissions of a unix socket
	SocketGroup     string        `toml:"socket_group"` // group of a unix socket (name or id); "" = the daemon's
	Mode            string        `toml:"mode"`         // enforce | dry-run
	OnError         string        `toml:"on_error"`     // tempfail | accept
	ErrorReply      Reply         `toml:"error_reply"`
	Header          string        `toml:"header"`
	ReadTimeout     Duration      `toml:"read_timeout"`  // a milter packet, and the wait for the next one
	WriteTimeout    Duration      `toml:"write_timeout"` // a reply to the MTA
	ShutdownTimeout Duration      `toml:"shutdown_timeout"`
	Log             LogConfig     `toml:"log"`
	Metrics         MetricsConfig `toml:"metrics"`
	History         HistoryConfig `toml:"history"`
	Console         ConsoleConfig `toml:"console"`
	Exempt          ExemptConf    `toml:"exempt"`
	Inspect         InspectConfig `toml:"inspect"`
	Rules           RulesConfig   `toml:"rules"`
	// Policies are the [[policy]] blocks: rule settings of their own for
	// some recipients; a transaction is judged under one policy, and a
	// recipient of another gets PolicyReply, to be sent separately.
	Policies    []PolicyConfig `toml:"policy,omitempty"`
	PolicyReply Reply          `toml:"policy_reply"`
	// PolicyURL, when set, is added to every refusal's reply as a line of
	// its own ("See URL"): the page that explains the policy, in Japanese.
	PolicyURL string `toml:"policy_url"`

	// File is the file the configuration was read from ("" for the
	// embedded default); it is not part of the TOML.
	File string `toml:"-"`
	// Order is the order in which the [rules.NAME] tables appear.
	Order []string `toml:"-"`
}

// LogConfig is the [log] table.
type LogConfig struct {
	Format string `toml:"format"` // text | json
	Level  string `toml:"level"`  // debug | info | warn | error
}

// MetricsConfig is the [metrics] table: the Prometheus endpoint.
type MetricsConfig struct {
	Listen string `toml:"listen"` // HOST:PORT serving /metrics; "" = off
	// WebConfig is a web configuration file (TLS, basic auth) in the
	// Prometheus exporter toolkit's format; "" = plain HTTP, no login.
	WebConfig string `toml:"web_config"`
}

// HistoryConfig is the [history] table: where every decision is kept.
type HistoryConfig struct {
	// Store is the path of an SQLite file, or a postgres:// URL for the
	// history of several MX hosts in one database; "" = off.
	Store string `toml:"store"`
	// Keep is how long records are kept: a Go duration or a number of
	// days ("366d").
	Keep string `toml:"keep"`
	// Host names this MX host in its records; "" = the host name.
	Host string `toml:"host"`

	keep time.Duration // what validate parsed
}

// KeepFor returns how long records are kept.
func (h HistoryConfig) KeepFor() time.Duration { return h.keep }

// validate checks the [history] table and parses keep.
func (h *HistoryConfig) validate() []*ConfigError {
	var errs []*ConfigError
	bad := func(key, format string, args ...any) {
		errs = append(errs, &ConfigError{Key: "history." + key, Msg: fmt.Sprintf(format, args...)})
	}
	d, err := parseKeep(h.Keep)
	if err != nil {
		bad("keep", "%v", err)
	}
	h.keep = d
	switch {
	case h.Store == "":
	case strings.HasPrefix(h.Store, "postgres://") || strings.HasPrefix(h.Store, "postgresql://"):
		if u, err := url.Parse(h.Store); err != nil || u.Host == "" {
			bad("store", "want postgres://USER:PASSWORD@HOST:PORT/DATABASE")
		}
	case strings.Contains(h.Store, "://"):
		bad("store", "%q: want the absolute path of an SQLite file or a postgres:// URL", h.Store)
	case !filepath.IsAbs(h.Store):
		bad("store", "%q: want an absolute path", h.Store)
	}
	return errs
}

// ConsoleConfig is the [console] table: the web pages that search the
// history.
type ConsoleConfig struct {
	Listen string `toml:"listen"` // HOST:PORT; "" = off
	// WebConfig is a web configuration file (TLS, basic auth) in the
	// Prometheus exporter toolkit's format; required beyond loopback.
	WebConfig string `toml:"web_config"`
	// Held mail: the commands that list Postfix's queue (JSON lines, as
	// postqueue -j writes), and that release (then flush) or delete one
	// held message, its queue id appended; an empty list turns that
	// part off. AuditLog is the file each action is appended to; "" =
	// the daemon's log only.
	QueueCommand   []string `toml:"queue_command"`
	ReleaseCommand []string `toml:"release_command"`
	FlushCommand   []string `toml:"flush_command"`
	DeleteCommand  []string `toml:"delete_command"`
	AuditLog       string   `toml:"audit_log"`
}

// validate checks the [console] table: it reads the history.
func (c ConsoleConfig) validate(h HistoryConfig) []*ConfigError {
	if c.Listen == "" {
		return nil
	}
	bad := func(format string, args ...any) []*ConfigError {
		return []*ConfigError{{Key: "console.listen", Msg: fmt.Sprintf(format, args...)}}
	}
	host, port, err := net.SplitHostPort(c.Listen)
	if err != nil || host == "" || port == "" {
		return bad("%q: want HOST:PORT, such as \"127.0.0.1:10031\"", c.Listen)
	}
	if n, err := strconv.Atoi(port); err != nil || n < 1 || n > 65535 {
		return bad("%q: port must be 1..65535", c.Listen)
	}
	if h.Store == "" {
		return bad("the console shows the history: set [history] store")
	}
	for key, cmd := range map[string][]string{"queue_command": c.QueueCommand, "release_command": c.ReleaseCommand, "flush_command": c.FlushCommand, "delete_command": c.DeleteCommand} {
		if len(cmd) > 0 && (cmd[0] == "" || !filepath.IsAbs(cmd[0]) && strings.Contains(cmd[0], "/")) {
			return []*ConfigError{{Key: "console." + key, Msg: fmt.Sprintf("%q: want a program name or an absolute path, then its arguments", cmd[0])}}
		}
	}
	if c.AuditLog != "" && !filepath.IsAbs(c.AuditLog) {
		return []*ConfigError{{Key: "console.audit_log", Msg: fmt.Sprintf("%q: want an absolute path", c.AuditLog)}}
	}
	if !webconfig.Loopback(c.Listen) && c.WebConfig == "" {
		return bad("%q is not a loopback address: the console shows addresses and subjects, and beyond loopback it needs a login; set console.web_config (TLS and basic auth, in the Prometheus exporter toolkit's format)", c.Listen)
	}
	return nil
}

// parseKeep parses a retention: a number of days ("366d") or a Go
// duration ("720h"), which must be positive.
func parseKeep(s string) (time.Duration, error) {
	t := strings.TrimSpace(s)
	if n, ok := strings.CutSuffix(t, "d"); ok {
		if days, err := strconv.Atoi(n); err == nil && days > 0 && days < 100000 {
			return time.Duration(days) * 24 * time.Hour, nil
		}
	} else if d, err := time.ParseDuration(t); err == nil && d > 0 {
		return d, nil
	}
	return 0, fmt.Errorf("invalid retention %q (want a number of days such as 366d, or a positive duration such as 720h)", s)
}

// ExemptConf is the [exempt] table: mail that no rule judges.
type ExemptConf struct {
	Networks      []string `toml:"networks"`
	Authenticated bool     `toml:"authenticated"`
	Senders       []string `toml:"senders"`
	Recipients    []string `toml:"recipients"`

	parsed exemptions // what validate parsed
}

// InspectConfig is the [inspect] table: how bodies are held and parsed.
// The inspection limits default to mime.DefaultLimits.
type InspectConfig struct {
	TempDir           string `toml:"temp_dir"` // where archives bigger than 4 MiB are spooled to be looked into
	MaxDepth          int    `toml:"max_depth"`
	MaxParts          int    `toml:"max_parts"`
	MaxHeaderSize     Size   `toml:"max_header_size"`
	MaxArchiveSize    Size   `toml:"max_archive_size"`
	MaxArchiveDepth   int    `toml:"max_archive_depth"`
	MaxArchiveEntries int    `toml:"max_archive_entries"`
}

// RuleCommon holds the keys every [rules.NAME] table takes. Each rule sets
// its own action and reply as defaults; on_error and error_reply default to
// the global ones.
type RuleCommon struct {
	Enabled    bool   `toml:"enabled"`
	Action     Action `toml:"action"`
	Reply      Reply  `toml:"reply"`
	DryRun     bool   `toml:"dry_run"`
	OnError    string `toml:"on_error"` // tempfail | accept | tag
	ErrorReply Reply  `toml:"error_reply"`
}

func (c *RuleCommon) common() *RuleCommon { return c }

// setDefaults turns the rule on; each rule then sets its action and reply.
func (c *RuleCommon) setDefaults() { c.Enabled = true }

// outcome sets the rule's default action and reply.
func (c *RuleCommon) outcome(a Action, r Reply) { c.Action, c.Reply = a, r }

// ConfigError is one problem found in a configuration file, with its place.
type ConfigError struct {
	File   string
	Line   int
	Column int
	Key    string
	Msg    string
}

func (e *ConfigError) Error() string {
	var b strings.Builder
	b.WriteString(e.File)
	if e.Line > 0 {
		fmt.Fprintf(&b, ":%d:%d", e.Line, e.Column)
	}
	b.WriteString(": ")
	if e.Key != "" {
		b.WriteString(e.Key)
		b.WriteString(": ")
	}
	b.WriteString(e.Msg)
	return b.String()
}

// Load reads and validates the configuration file at path, or the built-in
// default configuration when path is "".
func Load(path string) (*Config, error) {
	if path == "" {
		return Default(), nil
	}
	return LoadFile(path)
}

// LoadFile reads and validates a configuration file.
func LoadFile(path string) (*Config, error) {
	data, err := os.ReadFile(path)
	if err != nil {
		return nil, fmt.Errorf("read config: %w", err)
	}
	return Parse(path, data)
}

// Parse decodes and validates a configuration. Every problem found is
// returned, joined, each as a *ConfigError naming file, line and column.
//
// Every default is applied here, once: the file is decoded over a
// configuration that holds the defaults, every rule table included; the
// tables the file does not name are then dropped, and the defaults that
// depend on what the file sets are derived.
func Parse(name string, data []byte) (*Config, error) {
	c, errs, err := decode(name, data)
	if err != nil {
		return nil, err
	}
	pos := keyPositions(data)
	for _, e := range errs {
		// go-toml names an unknown key of an inline table (store = {...})
		// without the table's own key: the key written there is exact
		// (with go-toml's names for elements of arrays of tables).
		if k, ok := pos.at(e.Line, e.Column); ok && e.Msg == "unknown key" {
			e.Key = indexRE.ReplaceAllString(k, "")
		}
	}
	for _, e := range registry {
		if !pos.has("rules." + e.key) {
			c.Rules.set(e, nil)
		}
	}
	c.Order = pos.ruleOrder(func(k string) (string, bool) { return strings.CutPrefix(k, "rules.") })
	c.derive(pos)
	c.mergePolicies(pos)
	more := append(c.validate(), c.History.validate()...)
	if more = append(more, c.Console.validate(c.History)...); len(more) > 0 {
		for _, e := range more {
			if p, ok := pos.find(e.Key); ok {
				e.Line, e.Column = p.Line, p.Column
			}
		}
		errs = append(errs, more...)
	}
	if len(errs) == 0 {
		return c, nil
	}
	return nil, joinErrors(name, errs)
}

// maxDecodeErrors bounds the values decode blanks out to find the next
// error.
const maxDecodeErrors = 50

// decode decodes data over the defaults, every rule table included. A
// value that does not decode (a wrong type, a bad duration, size, reply or
// action) does not stop it: its line is blanked out and the document
// decoded again, so that every such error and every unknown key is
// reported at once. A syntax error, or one that a blanked line causes,
// ends it.
func decode(name string, data []byte) (*Config, []*ConfigError, error) {
	doc := bytes.Clone(data)
	var errs []*ConfigError
	for {
		c := defaults()
		c.File = name
		for _, e := range registry {
			c.Rules.set(e, newTable(e))
		}
		dec := toml.NewDecoder(bytes.NewReader(doc))
		dec.DisallowUnknownFields()
		err := dec.Decode(c)
		if err == nil {
			return c, errs, nil
		}
		var strict *toml.StrictMissingError
		if errors.As(err, &strict) {
			for _, e := range strict.Errors {
				line, col := e.Position()
				errs = append(errs, &ConfigError{Line: line, Column: col, Key: strings.Join(e.Key(), "."), Msg: "unknown key"})
			}
			return c, errs, nil
		}
		var de *toml.DecodeError
		if !errors.As(err, &de) || len(de.Key()) == 0 || len(errs) >= maxDecodeErrors {
			if len(errs) > 0 {
				// The first errors stand; a cascade of the blanking would
				// only confuse.
				return nil, nil, joinErrors(name, errs)
			}
			return nil, nil, decodeError(name, err)
		}
		errs = append(errs, decodeError(name, err).(*ConfigError))
		line, _ := de.Position()
		blankLine(doc, line)
	}
}

// blankLine replaces line n (1-based) of doc with spaces, keeping every
// offset and line number of the rest.
func blankLine(doc []byte, n int) {
	for i, line := 0, 1; i < len(doc); i++ {
		if line == n && doc[i] != '\n' && doc[i] != '\r' {
			doc[i] = ' '
		}
		if doc[i] == '\n' {
			line++
		}
	}
}

// joinErrors sorts errs by line, names the file in each and joins them.
func joinErrors(name string, errs []*ConfigError) error {
	slices.SortStableFunc(errs, func(a, b *ConfigError) int { return cmp.Compare(a.Line, b.Line) })
	joined := make([]error, len(errs))
	for i, e := range errs {
		e.File = name
		joined[i] = e
	}
	return errors.Join(joined...)
}

// derive applies the defaults that depend on what the file sets: a rule's
// on_error and error_reply are the global ones unless set, a rule set to
// tempfail without a reply of its own gets the 4xx counterpart of its
// default reply, each rule derives its own, and a rule that judges the
// content turns uninspectable on unless the file has a table for it.
func (c *Config) derive(pos positions) {
	for _, t := range c.Rules.tables(nil) {
		prefix := "rules." + t.key + "."
		c.deriveTable(t.cfg, func(key string) bool { return pos.has(prefix + key) }, true)
	}
	c.implicitGaps(&c.Rules)
}

// deriveTable derives the defaults of one rule table; set says whether a
// key of it is set. A fresh table takes on_error and error_reply from the
// global ones; a table merged over another (a [[policy]] over the
// top-level one) keeps what it inherited.
func (c *Config) deriveTable(t ruleConfig, set func(key string) bool, fresh bool) {
	rc := t.common()
	if fresh && !set("on_error") && rc.OnError == "" {
		rc.OnError = c.OnError
	}
	if fresh && !set("error_reply") {
		rc.ErrorReply = c.ErrorReply
	}
	if set("action") && !set("reply") && rc.Action == Tempfail {
		rc.Reply = temporary(rc.Reply)
	}
	if t.needs().Derive {
		t.(deriver).derive(set)
	}
}

// implicitGaps turns on the rule that judges what could not be read where
// rules judge the content without it (see implicitGapsRule), with the
// on_error and error_reply of the configuration, and returns its name, ""
// when none was added.
func (c *Config) implicitGaps(rules *RulesConfig) string {
	name, _ := implicitGapsRule(rules, func(t ruleConfig) {
		c.deriveTable(t, func(string) bool { return false }, true)
	})
	return name
}

// Default returns the embedded default configuration.
func Default() *Config {
	c, err := Parse("(default)", DefaultConfig)
	if err != nil {
		panic("embedded default configuration is invalid: " + err.Error())
	}
	return c
}

// defaults returns the configuration's top-level defaults.
func defaults() *Config {
	lim := mime.DefaultLimits()
	return &Config{
		Listen:          "inet:127.0.0.1:10030",
		SocketMode:      "0660",
		Mode:            "enforce",
		OnError:         "tempfail",
		ErrorReply:      Reply{Code: 451, Enhanced: "4.7.1", Text: "Temporary policy failure, try again later"},
		Header:          "X-Sekisho",
		PolicyReply:     Reply{Code: 452, Enhanced: "4.5.3", Text: "Policy differs, send separately"},
		Policies:        []PolicyConfig{},
		ReadTimeout:     Duration(10 * time.Minute),
		WriteTimeout:    Duration(time.Minute),
		ShutdownTimeout: Duration(30 * time.Second),
		Log:             LogConfig{Format: "text", Level: "info"},
		History:         HistoryConfig{Keep: "366d"},
		Console: ConsoleConfig{
			QueueCommand:   []string{"postqueue", "-j"},
			ReleaseCommand: []string{"sudo", "-n", "/usr/sbin/postsuper", "-H"},
			FlushCommand:   []string{"postqueue", "-i"},
			DeleteCommand:  []string{"sudo", "-n", "/usr/sbin/postsuper", "-d"},
		},
		Exempt: ExemptConf{Networks: []string{}, Senders: []string{}, Recipients: []string{}},
		Inspect: InspectConfig{
			MaxDepth:          lim.MaxDepth,
			MaxParts:          lim.MaxParts,
			MaxHeaderSize:     Size(lim.MaxHeaderBytes),
			MaxArchiveSize:    Size(lim.MaxArchiveBytes),
			MaxArchiveDepth:   lim.MaxArchiveDepth,
			MaxArchiveEntries: lim.MaxArchiveEntries,
		},
	}
}

func decodeError(name string, err error) error {
	var de *toml.DecodeError
	if errors.As(err, &de) {
		line, col := de.Position()
		msg := strings.TrimPrefix(de.Error(), "toml: ")
		if m := typeErrRE.FindStringSubmatch(msg); m != nil {
			msg = "wrong type: want " + goTypeNames(m[2]) + ", not a TOML " + m[1]
		}
		return &ConfigError{File: name, Line: line, Column: col, Key: strings.Join(de.Key(), "."), Msg: msg}
	}
	return &ConfigError{File: name, Msg: err.Error()}
}

var typeErrRE = regexp.MustCompile(`^cannot decode TOML (\w+) into (?:struct field \S+|a Go value) of type (\S+)`)

// goTypeNames says in configuration terms what a Go type holds.
func goTypeNames(t string) string {
	switch {
	case strings.HasPrefix(t, "[]"):
		return "a list"
	case strings.HasPrefix(t, "int"), strings.HasPrefix(t, "uint"):
		return "an integer"
	case t == "string", strings.HasSuffix(t, ".Size"), strings.HasSuffix(t, ".Duration"), strings.HasSuffix(t, ".Reply"), strings.HasSuffix(t, ".Action"):
		return "a string"
	case strings.HasSuffix(t, ".StoreConfig"):
		return "a string or a table"
	case t == "bool", t == "*bool":
		return "true or false"
	case strings.HasPrefix(t, "map["), strings.Contains(t, "Config"), strings.Contains(t, "Conf"):
		return "a table"
	}
	return t
}

// ruleOrder lists the rules whose keys the document sets, in the order
// they are first written: the order in which rules of one stage are
// evaluated. under says whether a key is one of rule tables, and returns
// the rest of it ("virus.action" of "rules.virus.action"). The keys come
// from the parse tree, so a rule set as [rules.NAME], as rules.NAME.key =
// or as an inline table is found alike.
func (p positions) ruleOrder(under func(key string) (string, bool)) []string {
	type first struct {
		name string
		at   unstable.Position
	}
	var found []first
	seen := map[string]int{}
	for k, at := range p {
		rest, ok := under(k)
		if !ok {
			continue
		}
		table, _, _ := strings.Cut(rest, ".")
		name, ok := ruleName(table)
		if !ok {
			continue
		}
		if i, ok := seen[name]; ok {
			if before(at, found[i].at) {
				found[i].at = at
			}
			continue
		}
		seen[name] = len(found)
		found = append(found, first{name, at})
	}
	slices.SortFunc(found, func(a, b first) int {
		if before(a.at, b.at) {
			return -1
		}
		if before(b.at, a.at) {
			return 1
		}
		return 0
	})
	out := make([]string, len(found))
	for i, f := range found {
		out[i] = f.name
	}
	return out
}

// before reports whether a is written before b.
func before(a, b unstable.Position) bool {
	return a.Line < b.Line || a.Line == b.Line && a.Column < b.Column
}

type positions map[string]unstable.Position

// has reports whether the document sets key or anything under it.
func (p positions) has(key string) bool {
	if _, ok := p[key]; ok {
		return true
	}
	for k := range p {
		if strings.HasPrefix(k, key) && len(k) > len(key) && (k[len(key)] == '.' || k[len(key)] == '[') {
			return true
		}
	}
	return false
}

var indexRE = regexp.MustCompile(`\[\d+\]`)

// at returns the key written at a line and column.
func (p positions) at(line, column int) (string, bool) {
	for k, pos := range p {
		if pos.Line == line && pos.Column == column {
			return k, true
		}
	}
	return "", false
}

// find returns the position of key or of its nearest enclosing table.
func (p positions) find(key string) (unstable.Position, bool) {
	for key != "" {
		if pos, ok := p[key]; ok {
			return pos, true
		}
		i := strings.LastIndexByte(key, '.')
		if i < 0 {
			break
		}
		key = key[:i]
	}
	return unstable.Position{}, false
}

// keyPositions maps every dotted key of a document to where it is written,
// so that errors found after decoding can name a line and column.
func keyPositions(data []byte) positions {
	pos := positions{}
	var p unstable.Parser
	p.Reset(data)
	var table []string
	arrays := map[string]int{} // elements of each array of tables so far
	for p.NextExpression() {
		e := p.Expression()
		switch e.Kind {
		case unstable.Table, unstable.ArrayTable:
			table = indexed(keyParts(e.Key()), arrays, e.Kind == unstable.ArrayTable)
			pos.add(&p, strings.Join(table, "."), e)
		case unstable.KeyValue:
			pos.keyValue(&p, table, e)
		}
	}
	return pos
}

// indexed names the elements of arrays of tables by their index, as
// "policy[0].rules.blank", so that each [[policy]] has keys of its own; a
// new element of an array is counted in arrays.
func indexed(parts []string, arrays map[string]int, element bool) []string {
	out := make([]string, 0, len(parts))
	path := ""
	for i, part := range parts {
		if path != "" {
			path += "."
		}
		path += part
		if element && i == len(parts)-1 {
			arrays[path]++
		}
		if n, ok := arrays[path]; ok {
			part = fmt.Sprintf("%s[%d]", part, n-1)
			path = strings.Join(append(out, part), ".")
		}
		out = append(out, part)
	}
	return out
}

// keyValue records a key/value expression under table, and the keys of an
// inline table it holds.
func (pos positions) keyValue(p *unstable.Parser, table []string, e *unstable.Node) {
	k := append(append([]string{}, table...), keyParts(e.Key())...)
	pos.add(p, strings.Join(k, "."), e)
	if v := e.Value(); v != nil && v.Kind == unstable.InlineTable {
		for it := v.Children(); it.Next(); {
			if kv := it.Node(); kv.Kind == unstable.KeyValue {
				pos.keyValue(p, k, kv)
			}
		}
	}
}

func (p positions) add(parser *unstable.Parser, key string, e *unstable.Node) {
	it := e.Key()
	if !it.Next() {
		return
	}
	n := it.Node()
	if n.Raw.Length == 0 {
		return
	}
	if _, ok := p[key]; !ok {
		p[key] = parser.Shape(n.Raw).Start
	}
}

func keyParts(it unstable.Iterator) []string {
	var out []string
	for it.Next() {
		out = append(out, string(it.Node().Data))
	}
	return out
}
