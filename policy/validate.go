package policy

import (
	"fmt"
	"net/netip"
	"strconv"
	"strings"
)

// RulesConfig is the [rules] table: one sub-table per rule. A table that is
// present turns its rule on (enabled = false turns it off again); an absent
// table leaves the rule off.
type RulesConfig struct {
	SendOnly              *SendOnlyConfig              `toml:"send_only"`
	RecipientLimit        *RecipientLimitConfig        `toml:"recipient_limit"`
	AttachmentSize        *AttachmentSizeConfig        `toml:"attachment_size"`
	AttachmentExtension   *AttachmentExtensionConfig   `toml:"attachment_extension"`
	AttachmentNoExtension *AttachmentNoExtensionConfig `toml:"attachment_no_extension"`
	AsciiOnly             *AsciiOnlyConfig             `toml:"ascii_only"`
	Blank                 *BlankConfig                 `toml:"blank"`
	Uninspectable         *UninspectableConfig         `toml:"uninspectable"`
	MimeLimits            *UninspectableConfig         `toml:"mime_limits"` // the former name of uninspectable
	DNSBL                 *DNSBLConfig                 `toml:"dnsbl"`
	Virus                 *VirusConfig                 `toml:"virus"`
	RateLimit             *RateLimitConfig             `toml:"rate_limit"`
}

// ruleConfig is what every [rules.NAME] table provides.
type ruleConfig interface {
	common() *RuleCommon
	// defaults returns the action and reply used when the table sets none.
	defaults() (Action, Reply)
	// check validates the rule's own keys; keys in errors are relative to
	// the rule's table.
	check() []*ConfigError
	// build makes the rule.
	build(env *Env) (Rule, error)
}

type namedConfig struct {
	name string // the rule's name
	key  string // its table in the file: the name, or a former name
	cfg  ruleConfig
}

// tables returns the rule tables present in the file, in file order.
func (r *RulesConfig) tables(order []string) []namedConfig {
	all := map[string]ruleConfig{}
	keys := map[string]string{}
	add := func(name string, present bool, c ruleConfig) {
		if present {
			all[name] = c
			keys[name] = name
		}
	}
	add("send_only", r.SendOnly != nil, r.SendOnly)
	add("recipient_limit", r.RecipientLimit != nil, r.RecipientLimit)
	add("attachment_size", r.AttachmentSize != nil, r.AttachmentSize)
	add("attachment_extension", r.AttachmentExtension != nil, r.AttachmentExtension)
	add("attachment_no_extension", r.AttachmentNoExtension != nil, r.AttachmentNoExtension)
	add("ascii_only", r.AsciiOnly != nil, r.AsciiOnly)
	add("blank", r.Blank != nil, r.Blank)
	add("uninspectable", r.Uninspectable != nil, r.Uninspectable)
	if r.Uninspectable == nil && r.MimeLimits != nil {
		add("uninspectable", true, r.MimeLimits)
		keys["uninspectable"] = "mime_limits"
	}
	add("dnsbl", r.DNSBL != nil, r.DNSBL)
	add("virus", r.Virus != nil, r.Virus)
	add("rate_limit", r.RateLimit != nil, r.RateLimit)
	var out []namedConfig
	for _, name := range order {
		if c, ok := all[name]; ok {
			out = append(out, namedConfig{name, keys[name], c})
			delete(all, name)
		}
	}
	for _, name := range RuleNames {
		if c, ok := all[name]; ok {
			out = append(out, namedConfig{name, keys[name], c})
		}
	}
	return out
}

// RuleNames lists every rule name the configuration knows, in the order
// used when the file does not decide.
var RuleNames = []string{
	"dnsbl", "send_only", "recipient_limit", "rate_limit",
	"ascii_only", "blank", "attachment_size", "attachment_extension",
	"attachment_no_extension", "uninspectable", "virus",
}

// ruleAliases maps former rule names to the current ones.
var ruleAliases = map[string]string{"mime_limits": "uninspectable"}

func (c *Config) validate() []*ConfigError {
	var errs []*ConfigError
	bad := func(key, format string, args ...any) {
		errs = append(errs, &ConfigError{Key: key, Msg: fmt.Sprintf(format, args...)})
	}
	if _, _, err := ParseListen(c.Listen); err != nil {
		bad("listen", "%v", err)
	}
	if m, err := strconv.ParseUint(c.SocketMode, 8, 32); err != nil || m > 0o777 {
		bad("socket_mode", "must be octal permissions such as \"0660\", not %q", c.SocketMode)
	}
	if c.Mode != "enforce" && c.Mode != "dry-run" {
		bad("mode", "must be \"enforce\" or \"dry-run\", not %q", c.Mode)
	}
	if c.OnError != "tempfail" && c.OnError != "accept" {
		bad("on_error", "must be \"tempfail\" or \"accept\", not %q", c.OnError)
	}
	if c.ErrorReply.Code/100 != 4 {
		bad("error_reply", "must be a 4xx reply, not %q", c.ErrorReply)
	}
	if !validHeaderName(c.Header) {
		bad("header", "%q is not a valid header field name", c.Header)
	}
	if c.Log.Format != "text" && c.Log.Format != "json" {
		bad("log.format", "must be \"text\" or \"json\", not %q", c.Log.Format)
	}
	switch c.Log.Level {
	case "debug", "info", "warn", "error":
	default:
		bad("log.level", "must be debug, info, warn or error, not %q", c.Log.Level)
	}
	for _, n := range c.Exempt.Networks {
		if _, err := ParsePrefix(n); err != nil {
			bad("exempt.networks", "%v", err)
		}
	}
	for _, p := range c.Exempt.Senders {
		if err := checkPattern(p); err != nil {
			bad("exempt.senders", "%v", err)
		}
	}
	for _, p := range c.Exempt.Recipients {
		if err := checkPattern(p); err != nil {
			bad("exempt.recipients", "%v", err)
		}
	}
	if c.Rules.Uninspectable != nil && c.Rules.MimeLimits != nil {
		bad("rules.mime_limits", "is the former name of rules.uninspectable: keep only one of the two tables")
	}
	in := c.Inspect
	if in.MaxDepth < 1 || in.MaxParts < 1 || in.MaxArchiveDepth < 0 || in.MaxHeaderSize < 1024 {
		bad("inspect", "max_depth and max_parts must be at least 1, max_header_size at least 1KiB, max_archive_depth not negative")
	}
	for _, t := range c.Rules.tables(c.Order) {
		prefix := "rules." + t.key
		rc := t.cfg.common()
		action, _ := t.cfg.defaults()
		if rc.Action != nil {
			action = *rc.Action
		}
		if rc.Reply != nil {
			if err := action.fits(*rc.Reply); err != nil {
				bad(prefix+".reply", "%v", err)
			}
		}
		switch rc.OnError {
		case "", "tempfail", "accept", "tag":
		default:
			bad(prefix+".on_error", "must be tempfail, accept or tag, not %q", rc.OnError)
		}
		if rc.ErrorReply != nil && rc.ErrorReply.Code/100 != 4 {
			bad(prefix+".error_reply", "must be a 4xx reply, not %q", rc.ErrorReply)
		}
		for _, e := range t.cfg.check() {
			if e.Key == "" {
				e.Key = prefix
			} else {
				e.Key = prefix + "." + e.Key
			}
			errs = append(errs, e)
		}
	}
	return errs
}

// ParseListen splits a listen address: "inet:127.0.0.1:10030",
// "inet:[::1]:10030", "unix:/path/to/socket". It returns the Go network name
// ("tcp" or "unix") and the address.
func ParseListen(s string) (network, addr string, err error) {
	kind, rest, ok := strings.Cut(s, ":")
	switch {
	case !ok || rest == "":
	case kind == "unix" || kind == "local":
		if !strings.HasPrefix(rest, "/") {
			return "", "", fmt.Errorf("%q: a unix socket path must be absolute", s)
		}
		return "unix", rest, nil
	case kind == "inet" || kind == "inet6" || kind == "tcp":
		if _, err := netip.ParseAddrPort(rest); err != nil {
			if h, p, ok := cutLast(rest, ":"); ok && h != "" && p != "" {
				return "tcp", rest, nil
			}
			return "", "", fmt.Errorf("%q: want inet:HOST:PORT", s)
		}
		return "tcp", rest, nil
	}
	return "", "", fmt.Errorf("%q: want inet:HOST:PORT or unix:/PATH", s)
}

func cutLast(s, sep string) (string, string, bool) {
	i := strings.LastIndex(s, sep)
	if i < 0 {
		return s, "", false
	}
	return s[:i], s[i+len(sep):], true
}

// ParsePrefix parses a CIDR network or a single address.
func ParsePrefix(s string) (netip.Prefix, error) {
	if strings.Contains(s, "/") {
		p, err := netip.ParsePrefix(s)
		if err != nil {
			return netip.Prefix{}, fmt.Errorf("invalid network %q", s)
		}
		if p.Addr().Is4In6() && p.Bits() >= 96 {
			// Clients are compared as IPv4: so must ::ffff:a.b.c.d/n be.
			p = netip.PrefixFrom(p.Addr().Unmap(), p.Bits()-96)
		}
		return p.Masked(), nil
	}
	a, err := netip.ParseAddr(s)
	if err != nil {
		return netip.Prefix{}, fmt.Errorf("invalid network %q", s)
	}
	a = a.Unmap()
	return netip.PrefixFrom(a, a.BitLen()), nil
}

func validHeaderName(s string) bool {
	if s == "" {
		return false
	}
	for _, r := range s {
		if r <= ' ' || r > '~' || r == ':' {
			return false
		}
	}
	return true
}
