package policy

import (
	"fmt"
	"strings"
)

// Pattern matches mail addresses: a glob in which * stands for any run of
// characters and ? for one, compared without regard to case. "no-reply@*"
// matches that local part at any domain, "*@example.co.jp" a whole domain.
// "<>" matches the null sender (the envelope sender of bounces and
// receipts) and nothing else; no glob matches the null sender.
type Pattern struct {
	raw   string
	parts []string // the pattern split at '*'
	null  bool     // "<>"
}

// NullSender is the pattern of the null envelope sender.
const NullSender = "<>"

// CompilePattern checks and prepares a pattern.
func CompilePattern(s string) (Pattern, error) {
	if strings.TrimSpace(s) == NullSender {
		return Pattern{raw: s, null: true}, nil
	}
	if err := checkPattern(s); err != nil {
		return Pattern{}, err
	}
	low := strings.ToLower(strings.TrimSpace(s))
	return Pattern{raw: s, parts: strings.Split(low, "*")}, nil
}

func checkPattern(s string) error {
	t := strings.TrimSpace(s)
	if t == "" {
		return fmt.Errorf("empty address pattern")
	}
	if strings.ContainsAny(t, " <>\t\r\n") {
		return fmt.Errorf("address pattern %q: no spaces or angle brackets (\"<>\" alone is the null sender)", s)
	}
	return nil
}

// String returns the pattern as written.
func (p Pattern) String() string { return p.raw }

// Match reports whether the address matches. The address is compared in
// lower case with any angle brackets removed.
func (p Pattern) Match(addr string) bool {
	a := NormalizeAddress(addr)
	if p.null || a == "" {
		return p.null && a == ""
	}
	return globMatch(p.parts, a)
}

// NormalizeAddress lower-cases an address and strips angle brackets and
// surrounding space.
func NormalizeAddress(a string) string {
	a = strings.TrimSpace(a)
	a = strings.TrimPrefix(a, "<")
	a = strings.TrimSuffix(a, ">")
	return strings.ToLower(a)
}

// globMatch matches s against a pattern split at '*'; '?' in a part matches
// any single byte-wise character of s.
func globMatch(parts []string, s string) bool {
	if len(parts) == 1 {
		return len(s) == len(parts[0]) && matchPart(parts[0], s)
	}
	first, last := parts[0], parts[len(parts)-1]
	if len(s) < len(first)+len(last) || !matchPart(first, s[:len(first)]) || !matchPart(last, s[len(s)-len(last):]) {
		return false
	}
	s = s[len(first) : len(s)-len(last)]
	for _, mid := range parts[1 : len(parts)-1] {
		i := indexPart(s, mid)
		if i < 0 {
			return false
		}
		s = s[i+len(mid):]
	}
	return true
}

func matchPart(pat, s string) bool {
	for i := 0; i < len(pat); i++ {
		if pat[i] != '?' && pat[i] != s[i] {
			return false
		}
	}
	return true
}

func indexPart(s, pat string) int {
	for i := 0; i+len(pat) <= len(s); i++ {
		if matchPart(pat, s[i:i+len(pat)]) {
			return i
		}
	}
	return -1
}

// Patterns is a list of patterns that matches when any of them does.
type Patterns []Pattern

// compilePatterns compiles each pattern of a list for a configuration
// key, adding an error under key for each bad one.
func compilePatterns(key string, list []string, errs *[]*ConfigError) Patterns {
	ps := make(Patterns, 0, len(list))
	for _, s := range list {
		p, err := CompilePattern(s)
		if err != nil {
			*errs = append(*errs, &ConfigError{Key: key, Msg: err.Error()})
			continue
		}
		ps = append(ps, p)
	}
	return ps
}

// CompilePatterns compiles each pattern of a list.
func CompilePatterns(list []string) (Patterns, error) {
	out := make(Patterns, 0, len(list))
	for _, s := range list {
		p, err := CompilePattern(s)
		if err != nil {
			return nil, err
		}
		out = append(out, p)
	}
	return out, nil
}

// Match returns the first pattern that matches addr.
func (ps Patterns) Match(addr string) (Pattern, bool) {
	for _, p := range ps {
		if p.Match(addr) {
			return p, true
		}
	}
	return Pattern{}, false
}
