package mime

import (
	"bufio"
	"encoding/binary"
	"html"
	"io"
	"strings"
	"unicode"
)

// sampleRunes is the length of TextFacts.Sample.
const sampleRunes = 120

// IsBlank reports whether s shows nothing: it holds only invisible runes as
// TextFacts.NonSpace counts them (see isInvisible).
func IsBlank(s string) bool {
	for _, r := range s {
		if !isInvisible(r) {
			return false
		}
	}
	return true
}

// IsASCII reports whether s holds only runes up to U+007F.
func IsASCII(s string) bool {
	for i := 0; i < len(s); i++ {
		if s[i] > 0x7f {
			return false
		}
	}
	return true
}

// isInvisible reports whether r renders as nothing but space: Unicode white
// space (including U+3000 ideographic space and U+00A0 no-break space),
// control characters (Cc), format characters (Cf: zero-width space and
// joiners, bidi controls, U+FEFF byte order mark), and the fillers that
// render blank (Hangul fillers, Braille blank).
func isInvisible(r rune) bool {
	if r < 0x80 {
		// ASCII: the controls (Cc) and the space; no format character.
		return r <= 0x20 || r == 0x7f
	}
	switch r {
	case 0x115f, 0x1160, 0x3164, 0xffa0, 0x2800:
		return true
	}
	return unicode.IsSpace(r) || unicode.In(r, unicode.Cc, unicode.Cf)
}

// textCollector accumulates TextFacts over all body text parts.
type textCollector struct {
	f       *TextFacts
	sample  strings.Builder
	nSample int
	gap     bool // a run of invisible runes is pending in the sample
	keep    int  // bytes of text to keep (Limits.KeepText)
	kept    strings.Builder
}

// add counts one decoded rune of body text.
func (t *textCollector) add(r rune) {
	if t.kept.Len() < t.keep {
		t.kept.WriteRune(r)
	}
	if r > 0x7f {
		t.f.NonASCII = true
	}
	if isInvisible(r) {
		t.gap = t.nSample > 0
		return
	}
	t.f.NonSpace = true
	if t.nSample >= sampleRunes {
		return
	}
	if t.gap {
		t.sample.WriteByte(' ')
		t.nSample++
		t.gap = false
		if t.nSample >= sampleRunes {
			return
		}
	}
	t.sample.WriteRune(r)
	t.nSample++
}

// endPart separates the sample text of two parts.
func (t *textCollector) endPart() {
	t.gap = t.nSample > 0
	t.f.Sample = t.sample.String()
	if t.keep > 0 {
		if t.kept.Len() > 0 && t.kept.Len() < t.keep {
			t.kept.WriteByte('\n')
		}
		t.f.Text = t.kept.String()
	}
}

// settled reports whether more text can change nothing: the sample is full
// and the text is known to show something and to hold non-ASCII.
func (t *textCollector) settled() bool {
	return t.nSample >= sampleRunes && t.f.NonSpace && t.f.NonASCII && t.kept.Len() >= t.keep
}

// scanText feeds the runes of r to t; for HTML only the text a reader sees
// (see htmlText). Once the facts are settled the rest is not decoded. It
// returns the first read error.
func scanText(r io.Reader, isHTML bool, t *textCollector) error {
	br := newReader(r)
	defer freeReader(br)
	var h *htmlText
	if isHTML {
		h = &htmlText{emit: t.add}
	}
	for {
		if t.settled() {
			return nil
		}
		if asciiFastPath && t.onlyASCIILeft() {
			if h == nil {
				return scanForNonASCII(br, t)
			}
			if b, _ := br.Peek(br.Buffered()); len(b) > 0 {
				if n := h.skip(b); n > 0 {
					br.Discard(n)
					continue
				}
			}
		}
		c, _, err := br.ReadRune()
		if err != nil {
			if h != nil {
				h.flush()
			}
			if err == io.EOF {
				return nil
			}
			return err
		}
		if h != nil {
			h.feed(c)
		} else {
			t.add(c)
		}
	}
}

// asciiFastPath lets scanText look at bytes rather than runes once only
// NonASCII is left to learn; a variable for the tests.
var asciiFastPath = true

// onlyASCIILeft reports whether more plain text can change nothing but
// NonASCII: the sample is full, the text shows something, and the text to
// keep is kept.
func (t *textCollector) onlyASCIILeft() bool {
	return t.nSample >= sampleRunes && t.f.NonSpace && t.kept.Len() >= t.keep
}

// scanForNonASCII reads the rest of decoded plain text for a byte above
// 0x7f, eight at a time: in UTF-8 such a byte is part of a rune above
// U+007F (or of an invalid sequence, which decodes to U+FFFD), so it sets
// NonASCII exactly as reading runes would.
func scanForNonASCII(br *bufio.Reader, t *textCollector) error {
	for {
		if br.Buffered() == 0 {
			if _, err := br.Peek(1); err != nil {
				if err == io.EOF {
					return nil
				}
				return err
			}
		}
		b, _ := br.Peek(br.Buffered())
		if hasHighByte(b) {
			t.f.NonASCII = true
			return nil
		}
		br.Discard(len(b))
	}
}

// hasHighByte reports whether b holds a byte above 0x7f.
func hasHighByte(b []byte) bool {
	for len(b) >= 8 {
		if binary.LittleEndian.Uint64(b)&0x8080808080808080 != 0 {
			return true
		}
		b = b[8:]
	}
	for _, c := range b {
		if c >= 0x80 {
			return true
		}
	}
	return false
}

// htmlState is a state of htmlText.
type htmlState int

const (
	hText      htmlState = iota
	hTagOpen             // after "<"
	hTagName             // in the name of a tag
	hAttrs               // inside a tag, after its name
	hAttrValue           // after "=" inside a tag
	hQuoted              // in a quoted attribute value
	hBang                // after "<!"
	hBangDash            // after "<!-"
	hComment             // in "<!-- … -->"
	hBogus               // in "<!…>" or "<?…>"
	hRawText             // in the content of script, style or title
	hEntity              // after "&"
)

// maxTagName and maxEntity bound what htmlText keeps of a tag name and of a
// character reference.
const (
	maxTagName = 16
	maxEntity  = 32
)

// htmlText is a streaming HTML-to-text converter over runes: tags and
// comments are dropped, the content of script, style and title elements is
// dropped, character references are decoded, and block-level tags become a
// line break. It keeps a few bytes of state whatever the input size.
type htmlText struct {
	emit    func(rune)
	state   htmlState
	closing bool
	tag     []byte
	quote   rune
	dashes  int
	rawEnd  string // "</script" etc. while in hRawText
	matched int
	ent     []rune
}

// skip returns how many leading bytes of b feeding would not change but
// for what it emits, once emitted ASCII changes nothing (see
// onlyASCIILeft): ASCII text up to a tag, a reference or a byte above
// 0x7f; the inside of a quoted value, of a tag after its name, of a bogus
// comment; a comment up to a dash or ">". Those bytes are never part of a
// multi-byte rune's end that matters: the bytes stopped at are ASCII.
func (h *htmlText) skip(b []byte) int {
	n := 0
	switch h.state {
	case hText:
		for n < len(b) && b[n] < 0x80 && b[n] != '<' && b[n] != '&' {
			n++
		}
	case hQuoted:
		q := byte(h.quote)
		for n < len(b) && b[n] != q {
			n++
		}
	case hAttrs:
		for n < len(b) && b[n] != '>' && b[n] != '=' {
			n++
		}
	case hBogus:
		for n < len(b) && b[n] != '>' {
			n++
		}
	case hComment:
		for n < len(b) && b[n] != '-' && b[n] != '>' {
			n++
		}
		if n > 0 {
			h.dashes = 0
		}
	}
	return n
}

// feed consumes one rune of HTML.
func (h *htmlText) feed(r rune) {
	switch h.state {
	case hText:
		switch r {
		case '<':
			h.state = hTagOpen
		case '&':
			h.state = hEntity
			h.ent = append(h.ent[:0], '&')
		default:
			h.emit(r)
		}
	case hTagOpen:
		switch {
		case r == '!':
			h.state = hBang
		case r == '?':
			h.state = hBogus
		case r == '/':
			h.closing = true
			h.tag = h.tag[:0]
			h.state = hTagName
		case isASCIILetter(r):
			h.closing = false
			h.tag = append(h.tag[:0], byte(unicode.ToLower(r)))
			h.state = hTagName
		default:
			h.emit('<')
			h.state = hText
			h.feed(r)
		}
	case hTagName:
		switch {
		case r == '>':
			h.endTag()
		case isASCIILetter(r) || (r >= '0' && r <= '9'):
			if len(h.tag) < maxTagName {
				h.tag = append(h.tag, byte(unicode.ToLower(r)))
			}
		default:
			h.state = hAttrs
		}
	case hAttrs:
		switch r {
		case '>':
			h.endTag()
		case '=':
			h.state = hAttrValue
		}
	case hAttrValue:
		switch r {
		case '>':
			h.endTag()
		case '"', '\'':
			h.quote = r
			h.state = hQuoted
		case ' ', '\t', '\r', '\n', '\f':
		default:
			h.state = hAttrs
		}
	case hQuoted:
		if r == h.quote {
			h.state = hAttrs
		}
	case hBang:
		if r == '-' {
			h.state = hBangDash
		} else if r == '>' {
			h.state = hText
		} else {
			h.state = hBogus
		}
	case hBangDash:
		if r == '-' {
			h.state = hComment
			h.dashes = 0
		} else {
			h.state = hBogus
		}
	case hComment:
		switch {
		case r == '-':
			h.dashes++
		case r == '>' && h.dashes >= 2:
			h.state = hText
		default:
			h.dashes = 0
		}
	case hBogus:
		if r == '>' {
			h.state = hText
		}
	case hRawText:
		if h.matched < len(h.rawEnd) && unicode.ToLower(r) == rune(h.rawEnd[h.matched]) {
			h.matched++
			if h.matched == len(h.rawEnd) {
				h.closing = true
				h.tag = h.tag[:0]
				h.state = hAttrs
			}
		} else if r == '<' {
			h.matched = 1
		} else {
			h.matched = 0
		}
	case hEntity:
		switch {
		case r == ';':
			h.ent = append(h.ent, r)
			h.flush()
		case (isASCIILetter(r) || (r >= '0' && r <= '9') || r == '#') && len(h.ent) < maxEntity:
			h.ent = append(h.ent, r)
		default:
			h.flush()
			h.feed(r)
		}
	}
}

// endTag handles the ">" closing a tag.
func (h *htmlText) endTag() {
	h.state = hText
	name := string(h.tag)
	if !h.closing {
		switch name {
		case "script", "style", "title":
			h.state = hRawText
			h.rawEnd = "</" + name
			h.matched = 0
			return
		}
	}
	switch name {
	case "br", "p", "div", "li", "tr", "td", "th", "table", "blockquote", "pre", "hr",
		"h1", "h2", "h3", "h4", "h5", "h6":
		h.emit('\n')
	}
}

// flush ends a pending character reference or "<" at a state boundary or at
// the end of input.
func (h *htmlText) flush() {
	switch h.state {
	case hEntity:
		h.state = hText
		for _, r := range html.UnescapeString(string(h.ent)) {
			h.emit(r)
		}
		h.ent = h.ent[:0]
	case hTagOpen:
		h.state = hText
		h.emit('<')
	}
}

func isASCIILetter(r rune) bool {
	return (r >= 'a' && r <= 'z') || (r >= 'A' && r <= 'Z')
}
