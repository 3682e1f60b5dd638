package policy

import (
	"fmt"
	"net"
	"net/netip"
	"net/url"
	"os/user"
	"reflect"
	"regexp"
	"slices"
	"strconv"
	"strings"
)

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
	if c.SocketGroup != "" {
		if _, err := strconv.Atoi(c.SocketGroup); err != nil {
			if _, err := user.LookupGroup(c.SocketGroup); err != nil {
				bad("socket_group", "no group %q on this machine", c.SocketGroup)
			}
		}
	}
	// Without a deadline, a client that stalls holds its session forever.
	if c.ReadTimeout <= 0 {
		bad("read_timeout", "must be positive, not %v", c.ReadTimeout.D())
	}
	if c.WriteTimeout <= 0 {
		bad("write_timeout", "must be positive, not %v", c.WriteTimeout.D())
	}
	if c.ShutdownTimeout < 0 {
		bad("shutdown_timeout", "must not be negative, not %v", c.ShutdownTimeout.D())
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
	if c.Metrics.Listen != "" {
		if host, port, err := net.SplitHostPort(c.Metrics.Listen); err != nil || host == "" || port == "" {
			bad("metrics.listen", "%q: want HOST:PORT, such as \"127.0.0.1:9154\"", c.Metrics.Listen)
		} else if n, err := strconv.Atoi(port); err != nil || n < 1 || n > 65535 {
			bad("metrics.listen", "%q: port must be 1..65535", c.Metrics.Listen)
		}
	}
	for _, e := range c.Exempt.validate() {
		e.Key = "exempt." + e.Key
		errs = append(errs, e)
	}
	in := c.Inspect
	if in.MaxDepth < 1 || in.MaxParts < 1 || in.MaxArchiveDepth < 1 || in.MaxArchiveEntries < 1 || in.MaxHeaderSize < 1024 || in.MaxArchiveSize < 1 {
		bad("inspect", "max_depth, max_parts, max_archive_depth, max_archive_entries and max_archive_size must be at least 1, max_header_size at least 1KiB")
	}
	if c.PolicyReply.Code/100 != 4 {
		bad("policy_reply", "must be a 4xx reply, not %q", c.PolicyReply)
	}
	if msg := checkPolicyURL(c.PolicyURL); msg != "" {
		bad("policy_url", "%s", msg)
	}
	for _, k := range []struct {
		key string
		r   Reply
	}{{"error_reply", c.ErrorReply}, {"policy_reply", c.PolicyReply}} {
		if msg := c.checkReplyText(k.r, k.key, nil); msg != "" {
			bad(k.key, "%s", msg)
		}
	}
	errs = append(errs, c.validateRules("rules.", &c.Rules, c.Order, nil)...)
	errs = append(errs, c.validatePolicies()...)
	return errs
}

// validateRules checks the rule tables of rules, those only names when it
// is not nil, naming keys under prefix ("rules.", "policy[0].rules.").
func (c *Config) validateRules(prefix string, rules *RulesConfig, order []string, only []string) []*ConfigError {
	var errs []*ConfigError
	bad := func(key, format string, args ...any) {
		errs = append(errs, &ConfigError{Key: key, Msg: fmt.Sprintf(format, args...)})
	}
	for _, e := range registry {
		if cur, _ := entryOf(e.name); e.key != e.name && rules.get(e) != nil && rules.get(cur) != nil {
			bad(prefix+e.key, "is the former name of %s%s: keep only one of the two tables", prefix, e.name)
		}
	}
	for _, t := range rules.tables(order) {
		if t.cfg.needs().CrossCheck && t.cfg.common().Enabled {
			if key, msg := t.cfg.(crossChecker).crossCheck(rules); msg != "" {
				bad(prefix+t.key+"."+key, "%s", strings.ReplaceAll(msg, "{prefix}", prefix))
			}
		}
	}
	for _, t := range rules.tables(order) {
		if only != nil && !slices.Contains(only, t.name) {
			continue
		}
		prefix := prefix + t.key
		rc := t.cfg.common()
		if err := rc.Action.fits(rc.Reply); err != nil {
			bad(prefix+".reply", "%v", err)
		}
		switch rc.OnError {
		case "tempfail", "accept", "tag":
		default:
			bad(prefix+".on_error", "must be tempfail, accept or tag, not %q", rc.OnError)
		}
		if rc.ErrorReply.Code/100 != 4 && rc.ErrorReply != c.ErrorReply {
			bad(prefix+".error_reply", "must be a 4xx reply, not %q", rc.ErrorReply)
		}
		for _, rk := range replyKeys(t.cfg) {
			if rk.key == "error_reply" && rk.r == c.ErrorReply {
				continue // the top-level one, checked there
			}
			who, provides := t.name, append([]string{"reason"}, t.cfg.needs().Vars...)
			if rk.key == "error_reply" {
				who, provides = "error_reply", nil
			}
			if msg := c.checkReplyText(rk.r, who, provides); msg != "" {
				bad(prefix+"."+rk.key, "%s", msg)
			}
		}
		for _, e := range t.cfg.validate() {
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

// commonPlaceholders are the placeholders every reply text may use.
var commonPlaceholders = []string{"client_ip", "sender", "rcpt", "queue_id", "policy_url"}

var placeholderRE = regexp.MustCompile(`\{([A-Za-z0-9_]+)\}`)

// checkReplyText checks what a reply's text holds, once decoded: ASCII
// only, and only the placeholders that who (a rule, or a top-level key)
// provides, besides the common ones. It returns what is wrong, "" when
// nothing is.
func (c *Config) checkReplyText(r Reply, who string, provides []string) string {
	if i := strings.IndexFunc(r.Text, func(r rune) bool { return r > 0x7e }); i >= 0 {
		return fmt.Sprintf("non-ASCII text %q: SMTP replies are ASCII (RFC 5321 §4.2); write the Japanese text on the policy page and link it with policy_url", r.Text)
	}
	known := append(slices.Clone(provides), commonPlaceholders...)
	var unknown []string
	for _, m := range placeholderRE.FindAllStringSubmatch(r.Text, -1) {
		if !slices.Contains(known, m[1]) && !slices.Contains(unknown, m[0]) {
			unknown = append(unknown, m[0])
		}
	}
	if len(unknown) > 0 {
		list := make([]string, len(known))
		for i, k := range known {
			list[i] = "{" + k + "}"
		}
		s := ""
		if len(unknown) > 1 {
			s = "s"
		}
		return fmt.Sprintf("unknown placeholder%s %s: %s provides %s", s, strings.Join(unknown, ", "), who, strings.Join(list, ", "))
	}
	if c.PolicyURL == "" && strings.Contains(r.Text, "{policy_url}") {
		return "uses {policy_url}, but policy_url is not set"
	}
	return ""
}

// replyKey is a reply of a rule's table and its key.
type replyKey struct {
	key string
	r   Reply
}

// replyKeys returns every reply of a rule's table (reply, error_reply and
// the rule's own, such as encrypted_reply), found by their type.
func replyKeys(t ruleConfig) []replyKey {
	var out []replyKey
	var walk func(v reflect.Value)
	walk = func(v reflect.Value) {
		for i := range v.NumField() {
			f := v.Type().Field(i)
			switch {
			case !f.IsExported():
			case f.Anonymous && f.Type.Kind() == reflect.Struct:
				walk(v.Field(i))
			case f.Type == reflect.TypeFor[Reply]():
				key, _, _ := strings.Cut(f.Tag.Get("toml"), ",")
				out = append(out, replyKey{key, v.Field(i).Interface().(Reply)})
			}
		}
	}
	walk(reflect.ValueOf(t).Elem())
	return out
}

// maxPolicyURL is the longest policy_url: its line, "550-5.123.123 See
// URL", must fit an SMTP reply line.
const maxPolicyURL = MaxReplyLine - len("550-5.123.123 See ")

// checkPolicyURL checks policy_url: an http or https URL, in ASCII, that
// fits a reply line. It returns what is wrong, "" when nothing is.
func checkPolicyURL(s string) string {
	if s == "" {
		return ""
	}
	if strings.ContainsFunc(s, func(r rune) bool { return r <= ' ' || r > 0x7e }) {
		return fmt.Sprintf("%q: want an ASCII http or https URL (%%-escape other characters, as a browser does): SMTP replies are ASCII (RFC 5321 §4.2)", s)
	}
	u, err := url.Parse(s)
	if err != nil || (u.Scheme != "http" && u.Scheme != "https") || u.Host == "" {
		return fmt.Sprintf("%q: want an http or https URL, such as \"https://www.example.co.jp/mail-policy\"", s)
	}
	if len(s) > maxPolicyURL {
		return fmt.Sprintf("is %d bytes: its reply line holds at most %d", len(s), maxPolicyURL)
	}
	return ""
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
