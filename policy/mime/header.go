package mime

import (
	"encoding/base64"
	"slices"
	"sort"
	"strconv"
	"strings"
	"unicode/utf8"
)

// maxEncodedWordCharset bounds the charset token of an encoded word.
const maxEncodedWordCharset = 64

// DecodeHeader decodes a raw header field value as mail clients show it:
// unfolded, RFC 2047 encoded words decoded (B and Q, quoted or not, with
// adjacent words of one charset joined before decoding so that ISO-2022-JP
// and multi-byte characters split across words come out whole, RFC 2047
// section 6.2), unlabelled ISO-2022-JP escape sequences and raw 8-bit bytes
// decoded by guessing (valid UTF-8, else Shift_JIS/CP932 or EUC-JP).
// Encoded words in an unknown charset are kept as raw text. The result is
// always valid UTF-8.
func DecodeHeader(raw string) string {
	s := Unfold(raw)
	if needsGuess(s) {
		s = decodeUnlabelled([]byte(s))
	}
	if !strings.Contains(s, "=?") {
		return s
	}
	return decodeWords(s)
}

// Unfold removes the CR and LF of folded header lines (RFC 5322 section
// 2.2.3), keeping the whitespace that follows them.
func Unfold(s string) string {
	if !strings.ContainsAny(s, "\r\n") {
		return s
	}
	return strings.NewReplacer("\r\n", "", "\n", "", "\r", "").Replace(s)
}

// needsGuess reports whether s holds 8-bit bytes or escape sequences and so
// must be decoded before encoded words are looked for.
func needsGuess(s string) bool {
	for i := 0; i < len(s); i++ {
		if s[i] >= 0x80 || s[i] == 0x1b {
			return true
		}
	}
	return false
}

// token is a piece of a header value: literal text or one encoded word.
type token struct {
	text    string // literal text, or the encoded word as written
	word    bool
	charset string // lower-cased, language suffix removed
	data    []byte // decoded bytes of the encoded word
	start   int    // offsets of the token in the header value
	end     int
}

// decodeWords decodes the RFC 2047 encoded words of s. It runs in linear
// time: once the text of a candidate word runs into white space or the end
// without its closing "?=", no candidate starting inside that text can close
// either, and they are skipped.
func decodeWords(s string) string {
	var toks []token
	lit := 0
	failFrom, failTo := -1, -1
	for i := 0; i < len(s); {
		j := strings.Index(s[i:], "=?")
		if j < 0 {
			break
		}
		start := i + j
		if start >= failFrom && start < failTo {
			i = failTo
			continue
		}
		tok, n, textAt, stop := parseWord(s, start)
		if n == 0 {
			if stop > 0 {
				failFrom, failTo = textAt, stop
			}
			i = start + 2
			continue
		}
		if start > lit {
			toks = append(toks, token{text: s[lit:start], start: lit, end: start})
		}
		toks = append(toks, tok)
		i = start + n
		lit = i
	}
	if lit < len(s) {
		toks = append(toks, token{text: s[lit:], start: lit, end: len(s)})
	}

	var b strings.Builder
	for i := 0; i < len(toks); i++ {
		t := toks[i]
		if !t.word {
			// White space between two encoded words is not displayed.
			if i > 0 && i+1 < len(toks) && toks[i-1].word && toks[i+1].word && strings.TrimSpace(t.text) == "" {
				continue
			}
			b.WriteString(t.text)
			continue
		}
		data := append([]byte(nil), t.data...)
		end := t.end
		for i+2 < len(toks) && toks[i+2].word && toks[i+2].charset == t.charset && strings.TrimSpace(toks[i+1].text) == "" {
			data = append(data, toks[i+2].data...)
			end = toks[i+2].end
			i += 2
		}
		if out, ok := decodeLabelled(t.charset, data); ok {
			b.WriteString(out)
		} else {
			b.WriteString(s[t.start:end])
		}
	}
	return b.String()
}

// parseWord parses an encoded word "=?charset?B|Q?text?=" starting at
// s[start], returning it and its length (0 if there is none). When only the
// text was wrong (white space or the end of s came before "?="), textAt and
// stop tell where that text began and where the scan stopped.
func parseWord(s string, start int) (tok token, n, textAt, stop int) {
	rest := s[start+2:]
	q1 := strings.IndexByte(rest, '?')
	if q1 <= 0 || q1 > maxEncodedWordCharset || len(rest) < q1+3 || rest[q1+2] != '?' {
		return token{}, 0, 0, 0
	}
	cs := rest[:q1]
	if strings.ContainsAny(cs, " \t\"") {
		return token{}, 0, 0, 0
	}
	enc := rest[q1+1]
	if enc != 'B' && enc != 'b' && enc != 'Q' && enc != 'q' {
		return token{}, 0, 0, 0
	}
	textAt = start + 2 + q1 + 3
	end := -1
	for k := textAt; k < len(s); k++ {
		if s[k] == ' ' || s[k] == '\t' {
			return token{}, 0, textAt, k
		}
		if s[k] == '?' && k+1 < len(s) && s[k+1] == '=' {
			end = k
			break
		}
	}
	if end < 0 {
		return token{}, 0, textAt, len(s)
	}
	text := s[textAt:end]
	var data []byte
	if enc == 'B' || enc == 'b' {
		data = decodeB(text)
	} else {
		data = decodeQ(text)
	}
	if k := strings.IndexByte(cs, '*'); k >= 0 {
		cs = cs[:k] // RFC 2231 section 5 language suffix
	}
	n = end + 2 - start
	return token{text: s[start : end+2], word: true, charset: strings.ToLower(cs), data: data, start: start, end: end + 2}, n, 0, 0
}

// decodeB decodes base64 leniently: characters outside the alphabet and
// padding are ignored, and a truncated final group yields what it holds.
func decodeB(s string) []byte {
	clean := make([]byte, 0, len(s))
	for i := 0; i < len(s); i++ {
		if isBase64Char(s[i]) {
			clean = append(clean, s[i])
		}
	}
	if len(clean)%4 == 1 {
		clean = clean[:len(clean)-1]
	}
	out := make([]byte, base64.RawStdEncoding.DecodedLen(len(clean)))
	n, _ := base64.RawStdEncoding.Decode(out, clean)
	return out[:n]
}

// decodeQ decodes the RFC 2047 Q encoding; malformed escapes stay literal.
func decodeQ(s string) []byte {
	out := make([]byte, 0, len(s))
	for i := 0; i < len(s); i++ {
		switch c := s[i]; {
		case c == '_':
			out = append(out, ' ')
		case c == '=' && i+2 < len(s) && isHex(s[i+1]) && isHex(s[i+2]):
			out = append(out, unhex(s[i+1])<<4|unhex(s[i+2]))
			i += 2
		default:
			out = append(out, c)
		}
	}
	return out
}

func isHex(c byte) bool {
	return (c >= '0' && c <= '9') || (c >= 'a' && c <= 'f') || (c >= 'A' && c <= 'F')
}

func unhex(c byte) byte {
	switch {
	case c >= '0' && c <= '9':
		return c - '0'
	case c >= 'a' && c <= 'f':
		return c - 'a' + 10
	}
	return c - 'A' + 10
}

// param is one parameter of a structured header field, as written.
type param struct {
	name  string // lower-cased, including any RFC 2231 "*" and section
	value string // unquoted, otherwise undecoded
	bare  bool   // written without quotes
	// comma: written after a ',' that follows the leading value, before
	// any ';' ("multipart/mixed, boundary=A; boundary=B"). Thunderbird's
	// parameter parser starts at the first ';' or ',' and reads it; a
	// parser that starts at the first ';' does not.
	comma bool
	// loose: written after a ',' that follows a quoted value
	// ("boundary=\"a\", boundary=\"b\""), where Thunderbird stops reading
	// and a parser that splits at ',' goes on.
	loose bool
}

// fieldToken returns the leading token of a structured header value as
// Thunderbird reads it (MimeHeaders_get with strip_p, mailnews/mime/src/
// mimehdrs.cpp): leading white space skipped, the token ends at ';', ','
// or white space ("base64 (binary)" is base64, "base64(binary)" is not).
// rest is what follows it.
func fieldToken(v string) (tok, rest string) {
	v = strings.TrimLeft(v, " \t\r\n")
	i := strings.IndexAny(v, "; ,\t\r\n")
	if i < 0 {
		return v, ""
	}
	return v[:i], v[i:]
}

// mediaType returns the lower-cased media type of a Content-Type token:
// when it holds a '?', what follows the last one, as Thunderbird's
// mime_create (mimei.cpp) reads types like "application/pdf?message/rfc822".
func mediaType(tok string) string {
	tok = strings.ToLower(tok)
	if i := strings.LastIndexByte(tok, '?'); i >= 0 {
		tok = tok[i+1:]
	}
	return tok
}

// parseParams splits a Content-Type or Content-Disposition value into its
// lower-cased leading token (see fieldToken) and its parameters, read from
// the first ';' or ',' on as Thunderbird's nsMIMEHeaderParamImpl.cpp
// does. It is lenient the way mail clients are: unquoted values run to the
// next ";", unterminated quotes run to the end, and in a value that is not
// valid UTF-8 a backslash right after a Shift_JIS lead byte is that
// character's second byte, not an escape.
func parseParams(v string) (string, []param) {
	tok, _ := fieldToken(v)
	head := strings.ToLower(tok)
	i := strings.IndexAny(v, ";,")
	if i < 0 {
		return head, nil
	}
	return head, appendParams(nil, v[i:], v[i] == ',', !utf8.ValidString(v))
}

// appendParams appends the parameters of s, "; a=1; b=\"2\"…", to ps;
// those before the first ';' are marked comma when comma is set.
func appendParams(ps []param, s string, comma, sjis bool) []param {
	loose := false
	for len(s) > 0 {
		if s[0] == ';' {
			comma, loose = false, false
		}
		s = strings.TrimLeft(s, " \t\r\n;,")
		eq := strings.IndexAny(s, "=;")
		if eq < 0 {
			break
		}
		if s[eq] == ';' {
			s = s[eq:]
			continue
		}
		name := strings.ToLower(strings.TrimSpace(s[:eq]))
		s = strings.TrimLeft(s[eq+1:], " \t\r\n")
		var val string
		bare := !strings.HasPrefix(s, `"`)
		if !bare {
			var b strings.Builder
			i := 1
			for ; i < len(s); i++ {
				c := s[i]
				if c == '"' {
					break
				}
				if c == '\\' && i+1 < len(s) && !(sjis && i > 1 && isShiftJISLead(s[i-1])) {
					i++
					c = s[i]
				}
				b.WriteByte(c)
			}
			val = b.String()
			s = s[min(i+1, len(s)):]
			k := strings.IndexByte(s, ';')
			if c := strings.IndexByte(s, ','); c >= 0 && (k < 0 || c < k) {
				// Thunderbird ends the parameters here; others read on.
				ps = append(ps, param{name: name, value: val, comma: comma, loose: loose})
				loose, name, s = true, "", s[c:]
			} else if k >= 0 {
				s = s[k:]
			} else {
				s = ""
			}
		} else {
			k := strings.IndexByte(s, ';')
			if k < 0 {
				k = len(s)
			}
			val = strings.TrimSpace(s[:k])
			s = s[k:]
		}
		if name != "" {
			ps = append(ps, param{name: name, value: val, bare: bare, comma: comma, loose: loose})
		}
	}
	return ps
}

// isShiftJISLead reports whether c can start a Shift_JIS double-byte character.
func isShiftJISLead(c byte) bool {
	return (c >= 0x81 && c <= 0x9f) || (c >= 0xe0 && c <= 0xfc)
}

// maxSections bounds the RFC 2231 continuations joined for one parameter.
const maxSections = 256

// maxReadingsOfParam bounds the readings paramValues returns.
const maxReadingsOfParam = 8

// paramText returns the value of parameter name as Thunderbird reads it
// (see paramValues), "" when there is none.
func paramText(ps []param, name string) string {
	if vs := paramValues(ps, name, true); len(vs) > 0 {
		return vs[0]
	}
	return ""
}

// paramValues returns every value that a mail client could read for
// parameter name, distinct and non-empty, the one Thunderbird reads first
// (DoParameterInternal, netwerk/mime/nsMIMEHeaderParamImpl.cpp, which
// libmime uses): the RFC 2231 extended form (name*=, else continuations
// name*0*=, name*1=, …) when it decodes to something, else the first
// plain form, parameters after a ',' included, and a value ending at a
// NUL (a C string). The other readings follow: the value after the NUL,
// an unquoted value ending at white space (older Gecko), the first form of
// a parser that starts at the first ';' only, later plain forms. Values
// are decoded when decode is set (RFC 2231 charsets, RFC 2047 words, raw
// 8-bit text); otherwise plain forms are taken as written (boundaries,
// charsets).
func paramValues(ps []param, name string, decode bool) []string {
	var out []string
	add := func(v string) {
		cut, _, nul := strings.Cut(v, "\x00")
		for _, c := range []string{cut, v} {
			if c != "" && len(out) < maxReadingsOfParam && !slices.Contains(out, c) {
				out = append(out, c)
			}
			if !nul {
				break
			}
		}
	}
	var decoded []string // the plain values decoded, by index in ps
	plain := func(i int) string {
		if !decode {
			return ps[i].value
		}
		if decoded == nil {
			decoded = make([]string, len(ps))
		}
		if decoded[i] == "" {
			decoded[i] = DecodeHeader(ps[i].value)
		}
		return decoded[i]
	}
	// Thunderbird's reading, a parser that starts at the first ';', one
	// that also splits at ','.
	for k, reads := range []func(param) bool{
		func(p param) bool { return !p.loose },
		func(p param) bool { return !p.comma && !p.loose },
		func(param) bool { return true },
	} {
		if k > 0 && !slices.ContainsFunc(ps, func(p param) bool { return p.comma || p.loose }) {
			// Without such parameters every parser reads the same.
			break
		}
		add(extendedParam(ps, name, reads))
		for i, p := range ps {
			if p.name != name || !reads(p) {
				continue
			}
			v := plain(i)
			add(v)
			if tok, _ := fieldToken(v); p.bare && tok != v {
				add(tok)
			}
		}
	}
	return out
}

// extendedParam returns the decoded RFC 2231 form of parameter name among
// the parameters reads takes, "" when there is none or it decodes to
// nothing.
func extendedParam(ps []param, name string, reads func(param) bool) string {
	type section struct {
		n   int
		ext bool
		val string
	}
	var sections []section
	for _, p := range ps {
		if !reads(p) {
			continue
		}
		if p.name == name+"*" {
			if s := decode2231(p.value); s != "" {
				return s
			}
			continue
		}
		rest, ok := strings.CutPrefix(p.name, name+"*")
		if !ok || rest == "" {
			continue
		}
		ext := strings.HasSuffix(rest, "*")
		n, err := strconv.Atoi(strings.TrimSuffix(rest, "*"))
		if err != nil || n < 0 || n >= maxSections {
			continue
		}
		sections = append(sections, section{n: n, ext: ext, val: p.value})
	}
	if len(sections) == 0 {
		return ""
	}
	sort.SliceStable(sections, func(i, j int) bool { return sections[i].n < sections[j].n })
	var cs string
	var data []byte
	for i, sec := range sections {
		v := sec.val
		if sec.ext {
			if i == 0 {
				cs, v = split2231(v)
			}
			data = append(data, percentDecode(v)...)
		} else {
			data = append(data, v...)
		}
	}
	s, _ := decodeLabelled(cs, data)
	return s
}

// decode2231 decodes a single RFC 2231 extended value charset'lang'%XX….
func decode2231(v string) string {
	cs, v := split2231(v)
	s, _ := decodeLabelled(cs, percentDecode(v))
	return s
}

// split2231 splits charset'language'text; a value without the two quotes is
// all text.
func split2231(v string) (charset, text string) {
	i := strings.IndexByte(v, '\'')
	if i < 0 {
		return "", v
	}
	j := strings.IndexByte(v[i+1:], '\'')
	if j < 0 {
		return "", v
	}
	return v[:i], v[i+1+j+1:]
}

// percentDecode decodes %XX escapes; malformed ones stay literal.
func percentDecode(s string) []byte {
	out := make([]byte, 0, len(s))
	for i := 0; i < len(s); i++ {
		if s[i] == '%' && i+2 < len(s) && isHex(s[i+1]) && isHex(s[i+2]) {
			out = append(out, unhex(s[i+1])<<4|unhex(s[i+2]))
			i += 2
			continue
		}
		out = append(out, s[i])
	}
	return out
}
