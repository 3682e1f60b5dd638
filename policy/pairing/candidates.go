// Package pairing keeps what PPAP pairing needs: the password candidates
// read from the mail that follows an encrypted archive ("the password is
// …"), and the archives waiting for them, for a short time only.
package pairing

import (
	"fmt"
	"regexp"
	"slices"
	"strings"

	"golang.org/x/text/width"
)

// DefaultPatterns find a password in the text of a mail, as Japanese
// business mail writes it: "パスワード：abc123", "パスワードは「abc123」です",
// "PW: abc123", "Password: abc123". Each pattern's first group is the
// candidate.
var DefaultPatterns = []string{
	`(?i)(?:解凍|展開)?(?:パスワード|パスワ－ド|暗証番号|password|passwd|pass|pw)\s*(?:は|[:：=＝])\s*[「『"'“【\[(（]?\s*([^\s「」『』"'“”【】\[\]()（）、。]+)`,
}

// MaxCandidates bounds the candidates kept from one mail.
const MaxCandidates = 8

// maxLen bounds a candidate's length: longer is no password.
const maxLen = 64

// Extractor finds password candidates in mail text.
type Extractor struct {
	patterns []*regexp.Regexp
}

// NewExtractor compiles patterns; each must have a capturing group.
func NewExtractor(patterns []string) (*Extractor, error) {
	x := &Extractor{}
	for _, p := range patterns {
		re, err := regexp.Compile(p)
		if err != nil {
			return nil, fmt.Errorf("pattern %q: %v", p, err)
		}
		if re.NumSubexp() < 1 {
			return nil, fmt.Errorf("pattern %q: needs a group, such as (\\S+), around the password", p)
		}
		x.patterns = append(x.patterns, re)
	}
	return x, nil
}

// Candidates returns the password candidates of text, each once, in the
// order found, at most MaxCandidates. A candidate written in full-width
// letters (ｐａｓｓ１２３) is also tried in half-width, as the sender
// typed it when making the archive.
func (x *Extractor) Candidates(text string) []string {
	var out []string
	add1 := func(c string) {
		if c == "" || len(c) > maxLen || slices.Contains(out, c) || len(out) >= MaxCandidates {
			return
		}
		out = append(out, c)
	}
	// A sentence's last dot may follow the password, or end it: both are
	// tried, the whole first.
	add := func(c string) {
		add1(c)
		add1(strings.TrimRight(c, ".,;:!?。、．，"))
	}
	for _, re := range x.patterns {
		for _, m := range re.FindAllStringSubmatch(text, MaxCandidates) {
			for _, g := range m[1:] {
				if g == "" {
					continue
				}
				add(g)
				if n := width.Narrow.String(g); n != g {
					add(n)
				}
			}
		}
	}
	return out
}

// Redact returns text with what the patterns would take for a password
// replaced by "*****", so that a text quoted in a log line or a header
// (a subject, a sample of the body) does not give one away.
func (x *Extractor) Redact(text string) string {
	for _, re := range x.patterns {
		text = re.ReplaceAllStringFunc(text, func(m string) string {
			sub := re.FindStringSubmatchIndex(m)
			if len(sub) < 4 || sub[2] < 0 {
				return m
			}
			return m[:sub[2]] + "*****" + m[sub[3]:]
		})
	}
	return text
}
