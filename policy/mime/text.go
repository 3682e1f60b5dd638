package mime

import (
	"bufio"
	"encoding/binary"
	"html"
	"io"
	"strings"
	"unicode"
	"unicode/utf8"
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

// IsASCII reports whether s shows only runes up to U+007F: every rune
// above it is invisible (see isInvisible), as TextFacts.NonASCII counts
// body text. "Hello\u200b" is ASCII to a reader.
func IsASCII(s string) bool {
	for i := 0; i < len(s); i++ {
		if s[i] > 0x7f {
			for _, r := range s[i:] {
				if r > 0x7f && !isInvisible(r) {
					return false
				}
			}
			return true
		}
	}
	return true
}

// isInvisible reports whether r renders as nothing but space: Unicode white
// space (including U+3000 ideographic space and U+00A0 no-break space),
// control characters (Cc), format characters (Cf: zero-width space and
// joiners, bidi controls, word joiner, U+FEFF byte order mark, the tag
// characters U+E0001 and U+E0020–E007F), variation selectors (U+FE00–FE0F,
// U+E0100–E01EF, the Mongolian free variation selectors U+180B–180F), the
// other default ignorable code points (U+034F combining grapheme joiner,
// the Hangul fillers U+115F, U+1160, U+3164 and U+FFA0, U+17B4–17B5, the
// unassigned U+E0000–E0FFF), which the Unicode Standard (chapter 5,
// "Default Ignorable Code Points") says a renderer shows as nothing, and
// U+2800 Braille blank.
func isInvisible(r rune) bool {
	if r < 0x80 {
		// ASCII: the controls (Cc) and the space; no format character.
		return r <= 0x20 || r == 0x7f
	}
	if r == 0x2800 {
		return true
	}
	return unicode.IsSpace(r) || unicode.In(r, unicode.Cc, unicode.Cf, unicode.Variation_Selector, unicode.Other_Default_Ignorable_Code_Point)
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

// add counts one decoded rune of body text. An invisible rune (see
// isInvisible) counts for neither NonSpace nor NonASCII: a reader sees no
// Japanese in text whose only runes above U+007F are U+3000, U+00A0,
// U+200B or U+FE0F, so such text is ASCII only.
func (t *textCollector) add(r rune) {
	if t.kept.Len() < t.keep {
		t.kept.WriteRune(r)
	}
	if isInvisible(r) {
		t.gap = t.nSample > 0
		return
	}
	t.f.NonSpace = true
	if r > 0x7f {
		t.f.NonASCII = true
	}
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

// scanForNonASCII reads the rest of decoded plain text for a rune that sets
// NonASCII in add, looking at the bytes eight at a time: in UTF-8 only a
// byte above 0x7f starts a rune above U+007F (or an invalid sequence, which
// reads as the visible U+FFFD), so only there is a rune decoded, and an
// invisible one (U+3000, U+200B, U+FE0F…) is passed over as add passes it
// over.
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
		i := indexHighByte(b)
		if i < 0 {
			br.Discard(len(b))
			continue
		}
		br.Discard(i)
		// A byte is buffered, so ReadRune returns a rune; a read error it
		// meets completing the rune is returned by the next Peek.
		if r, _, _ := br.ReadRune(); r > 0x7f && !isInvisible(r) {
			t.f.NonASCII = true
			return nil
		}
	}
}

// indexHighByte returns the index of the first byte of b above 0x7f, or -1.
func indexHighByte(b []byte) int {
	i := 0
	for ; i+8 <= len(b); i += 8 {
		if binary.LittleEndian.Uint64(b[i:])&0x8080808080808080 != 0 {
			break
		}
	}
	for ; i < len(b); i++ {
		if b[i] >= 0x80 {
			return i
		}
	}
	return -1
}

// htmlState is a state of htmlText: of the tokenizer states of the HTML
// standard (§13.2.5), those that tell text from markup and read the
// attributes that hide an element.
type htmlState int

const (
	hText          htmlState = iota
	hTagOpen                 // after "<"
	hTagName                 // in the name of a tag
	hBeforeAttr              // inside a tag, before an attribute name
	hAttrName                // in the name of an attribute
	hAfterAttrName           // after the name of an attribute, before "=" or the next name
	hBeforeValue             // after "=" inside a tag
	hQuoted                  // in a quoted attribute value
	hUnquoted                // in an unquoted attribute value
	hBang                    // after "<!"
	hBangDash                // after "<!-"
	hComment                 // in "<!-- … -->"
	hBogus                   // in "<!…>" or "<?…>"
	hRawText                 // in the content of a raw text element (see startRawText)
	hEntity                  // after "&"
)

// maxTagName, maxAttrName and maxEntity bound what htmlText keeps of a tag
// name, of an attribute name (only "hidden" and "style" matter) and of a
// character reference.
const (
	maxTagName  = 32
	maxAttrName = 8
	maxEntity   = 32
)

// htmlText is a streaming HTML-to-text converter over runes: tags and
// comments are dropped, the content of raw text elements is dropped, the
// content of elements a reader does not see is dropped (see hides),
// character references are decoded, and block-level tags become a line
// break. It keeps a few hundred bytes of state whatever the input size.
//
// An element is hidden up to its matching end tag, counting the elements
// of the same name opened inside it; one whose end tag never comes hides
// the rest of the part, as it does in a browser. What a browser closes
// implicitly (a <p> by the next <p>, a <span> by the end tag of its
// parent) stays hidden here: a bounded reader cannot keep the stack of
// open elements. Hiding by a <style> sheet (a class rule) is not seen.
//
// The <head> element is not hidden as a whole: what it may hold (title,
// style, script, meta, link, base) shows nothing already, and any other
// text or element ends it and shows in the body (HTML §13.2.6.4.4, the "in
// head" insertion mode), as Gecko does in Thunderbird.
type htmlText struct {
	emit    func(rune)
	state   htmlState
	closing bool
	tag     []byte // name of the tag, ASCII letters lower-cased, up to maxTagName bytes
	tagLong bool   // the name of the tag is longer than maxTagName
	quote   rune
	dashes  int
	rawEnd  string // "</script" etc. while in hRawText
	rawShow bool   // the raw text is shown: textarea, xmp
	matched int
	ent     []rune // a character reference, in text or in a style value

	// The attributes of a start tag outside a hidden region.
	attr       []byte // name of the attribute, ASCII lower-cased, up to maxAttrName
	hiddenAttr bool   // the tag has a hidden attribute
	styleSeen  bool   // the tag has a style attribute
	inStyle    bool   // reading the value of the first style attribute
	css        inlineStyle

	// The hidden region: the element that opened it, how many elements of
	// its name are open, and how many elements of scopeBounds opened inside
	// it are, by name and in all (see hiddenTag).
	hiding       bool
	hideName     string
	hideDepth    int
	hideBounds   [len(scopeBounds)]int
	hideOpen     int
	hideOrdinary bool // the element is neither special nor formatting (see scopeBound)
	hideForever  bool // the element's end tag does not end it: body, html, or a long name
}

// text emits a rune of text unless it is hidden.
func (h *htmlText) text(r rune) {
	if !h.hiding {
		h.emit(r)
	}
}

// ignoreAttrs reports whether the attributes of the tag being read cannot
// matter: those of an end tag, or of any tag in a hidden region.
func (h *htmlText) ignoreAttrs() bool {
	return h.closing || h.hiding
}

// skip reads the leading bytes of b that would emit nothing that matters
// once emitted ASCII changes nothing (see onlyASCIILeft), and returns how
// many: ASCII text up to a tag, a reference or a byte above 0x7f, and
// hidden text up to a tag; an ASCII tag or attribute name, kept as feeding
// would keep it; an attribute value other than a style attribute's; raw
// text up to a "<" (shown raw text also up to a byte above 0x7f); a bogus
// comment; a comment up to a dash or ">". Those
// bytes are never part of a multi-byte rune's end that matters: the bytes
// stopped at are ASCII.
func (h *htmlText) skip(b []byte) int {
	n := 0
	switch h.state {
	case hText:
		if h.hiding {
			for n < len(b) && b[n] != '<' {
				n++
			}
			break
		}
		for n < len(b) && b[n] < 0x80 && b[n] != '<' && b[n] != '&' {
			n++
		}
	case hQuoted:
		if !h.inStyle {
			q := byte(h.quote)
			for n < len(b) && b[n] != q {
				n++
			}
		}
	case hUnquoted:
		if !h.inStyle {
			for n < len(b) && !isHTMLSpace(rune(b[n])) && b[n] != '>' {
				n++
			}
		}
	case hTagName:
		for n < len(b) && b[n] < 0x80 && !isHTMLSpace(rune(b[n])) && b[n] != '/' && b[n] != '>' {
			h.tagRune(rune(b[n]))
			n++
		}
	case hAttrName:
		for n < len(b) && b[n] < 0x80 && !isHTMLSpace(rune(b[n])) && b[n] != '/' && b[n] != '>' && b[n] != '=' {
			h.attrRune(rune(b[n]))
			n++
		}
	case hBeforeAttr, hAfterAttrName:
		for n < len(b) && isHTMLSpace(rune(b[n])) {
			n++
		}
	case hRawText:
		if h.matched == 0 {
			for n < len(b) && b[n] != '<' && (b[n] < 0x80 || !h.rawShow) {
				n++
			}
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

// feed consumes one rune of HTML. The tag states follow HTML §13.2.5.6 to
// §13.2.5.40; the self-closing "/" is read as white space, since HTML
// ignores it on HTML elements.
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
			h.text(r)
		}
	case hTagOpen:
		switch {
		case r == '!':
			h.state = hBang
		case r == '?':
			h.state = hBogus
		case r == '/':
			h.startTag(true)
		case isASCIILetter(r):
			h.startTag(false)
			h.tagRune(r)
		default:
			h.text('<')
			h.state = hText
			h.feed(r)
		}
	case hTagName:
		switch {
		case r == '>':
			h.endTag()
		case isHTMLSpace(r) || r == '/':
			h.state = hBeforeAttr
		default:
			h.tagRune(r)
		}
	case hBeforeAttr:
		switch {
		case r == '>':
			h.endTag()
		case isHTMLSpace(r) || r == '/':
		default:
			// Even "=" starts a name here (§13.2.5.32).
			h.startAttr(r)
		}
	case hAttrName:
		switch {
		case r == '>':
			h.endAttrName()
			h.endTag()
		case isHTMLSpace(r):
			h.endAttrName()
			h.state = hAfterAttrName
		case r == '/':
			h.endAttrName()
			h.state = hBeforeAttr
		case r == '=':
			h.endAttrName()
			h.state = hBeforeValue
		default:
			h.attrRune(r)
		}
	case hAfterAttrName:
		switch {
		case r == '>':
			h.endTag()
		case isHTMLSpace(r):
		case r == '/':
			h.state = hBeforeAttr
		case r == '=':
			h.state = hBeforeValue
		default:
			h.startAttr(r)
		}
	case hBeforeValue:
		switch {
		case r == '>':
			h.endTag()
		case isHTMLSpace(r):
		case r == '"' || r == '\'':
			h.quote = r
			h.state = hQuoted
		default:
			h.state = hUnquoted
			h.valueRune(r)
		}
	case hQuoted:
		if r == h.quote {
			h.endValue()
			h.state = hBeforeAttr
		} else {
			h.valueRune(r)
		}
	case hUnquoted:
		switch {
		case r == '>':
			h.endValue()
			h.endTag()
		case isHTMLSpace(r):
			h.endValue()
			h.state = hBeforeAttr
		default:
			h.valueRune(r)
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
				h.startTag(true)
				h.state = hBeforeAttr
			}
			return
		}
		h.rawText(h.rawEnd[:h.matched])
		h.matched = 0
		if r == '<' {
			h.matched = 1
		} else if h.rawShow {
			h.text(r)
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

// startTag begins a start or end tag: its name and attributes are read
// afresh.
func (h *htmlText) startTag(closing bool) {
	h.closing = closing
	h.tag = h.tag[:0]
	h.tagLong = false
	h.hiddenAttr = false
	h.styleSeen = false
	h.inStyle = false
	h.css = inlineStyle{}
	h.state = hTagName
}

// tagRune adds a rune to the tag name, lower-casing ASCII letters only, as
// HTML does (§13.2.5.8).
func (h *htmlText) tagRune(r rune) {
	if r > 0x7f {
		if len(h.tag)+utf8.RuneLen(r) > maxTagName {
			h.tagLong = true
			return
		}
		h.tag = utf8.AppendRune(h.tag, r)
		return
	}
	if len(h.tag) == maxTagName {
		h.tagLong = true
		return
	}
	h.tag = append(h.tag, asciiLower(r))
}

// startAttr begins an attribute name with r.
func (h *htmlText) startAttr(r rune) {
	h.attr = h.attr[:0]
	h.inStyle = false
	h.state = hAttrName
	h.attrRune(r)
}

// attrRune adds a rune to the attribute name.
func (h *htmlText) attrRune(r rune) {
	if len(h.attr) < maxAttrName && !h.ignoreAttrs() {
		h.attr = append(h.attr, asciiLower(r))
	}
}

// endAttrName notes a hidden attribute, and whether the value that may
// follow is the tag's first style attribute: a later one is dropped as a
// duplicate (HTML §13.2.5.33).
func (h *htmlText) endAttrName() {
	if h.ignoreAttrs() {
		return
	}
	switch string(h.attr) {
	case "hidden":
		h.hiddenAttr = true
	case "style":
		h.inStyle = !h.styleSeen
		h.styleSeen = true
	}
}

// valueRune reads a rune of an attribute value: of a style attribute's,
// character references are decoded (HTML §13.2.5.72) and the result is
// read as CSS.
func (h *htmlText) valueRune(r rune) {
	if !h.inStyle {
		return
	}
	if len(h.ent) > 0 {
		switch {
		case (isASCIILetter(r) || (r >= '0' && r <= '9') || r == '#') && len(h.ent) < maxEntity:
			h.ent = append(h.ent, r)
			return
		case r == ';':
			h.ent = append(h.ent, r)
			h.flushValueRef()
			return
		}
		h.flushValueRef()
	}
	if r == '&' {
		h.ent = append(h.ent[:0], '&')
		return
	}
	h.css.feed(r)
}

// flushValueRef reads a character reference of a style value as CSS.
func (h *htmlText) flushValueRef() {
	for _, r := range html.UnescapeString(string(h.ent)) {
		h.css.feed(r)
	}
	h.ent = h.ent[:0]
}

// endValue ends an attribute value.
func (h *htmlText) endValue() {
	if !h.inStyle {
		return
	}
	if len(h.ent) > 0 {
		h.flushValueRef()
	}
	h.css.endDecl()
	h.inStyle = false
}

// endTag handles the ">" closing a tag.
func (h *htmlText) endTag() {
	h.state = hText
	if h.hiding {
		h.hiddenTag()
		return
	}
	if !h.closing {
		if h.startRawText() {
			return
		}
		if h.hides() {
			h.hiding = true
			h.hideName = string(h.tag)
			h.hideDepth = 1
			h.hideBounds = [len(scopeBounds)]int{}
			h.hideOpen = 0
			h.hideOrdinary = !specialElements[h.hideName] && !formattingElements[h.hideName]
			// </body> and </html> do not close their element (§13.2.6.4.7):
			// what follows still goes into it.
			h.hideForever = h.tagLong || h.hideName == "body" || h.hideName == "html"
			return
		}
	}
	switch string(h.tag) {
	case "br", "p", "div", "li", "tr", "td", "th", "table", "blockquote", "pre", "hr",
		"h1", "h2", "h3", "h4", "h5", "h6":
		h.text('\n')
	}
}

// startRawText enters the content of the element whose start tag was just
// read if HTML reads it as raw text, up to its end tag, and reports whether
// it did (§13.2.6.4.7): script, style and title, whose text a reader does
// not see, iframe, noembed and noframes, whose content a browser does not
// show, and textarea and xmp, whose text it shows, tags and all (character
// references in a textarea are left as they are).
func (h *htmlText) startRawText() bool {
	switch string(h.tag) {
	case "script", "style", "title", "iframe", "noembed", "noframes":
		h.rawShow = false
	case "textarea", "xmp":
		h.rawShow = true
	default:
		return false
	}
	h.state = hRawText
	h.rawEnd = "</" + string(h.tag)
	h.matched = 0
	return true
}

// rawText emits s, raw text that turned out not to be the end tag, if the
// raw text is shown.
func (h *htmlText) rawText(s string) {
	if h.rawShow {
		for _, r := range s {
			h.text(r)
		}
	}
}

// hides reports whether the element whose start tag was just read hides
// its content: a template (its content is never rendered, HTML §4.12.3),
// an element with the hidden attribute (rendered as display: none, HTML
// §15.3.1), or one whose style attribute hides it (see inlineStyle). A
// void element has no content to hide.
func (h *htmlText) hides() bool {
	if string(h.tag) == "template" {
		return true
	}
	if !h.hiddenAttr && !h.css.hides() {
		return false
	}
	switch string(h.tag) {
	case "area", "base", "basefont", "bgsound", "br", "col", "embed", "frame", "hr", "image",
		"img", "input", "keygen", "link", "meta", "param", "source", "track", "wbr":
		return false
	}
	return true
}

// hiddenTag handles a tag inside a hidden region. Start tags of its
// element's name nest, end tags of that name unnest, the last one ends the
// region, unless an element opened inside the region and still open keeps
// it from ending it (see scopeBound).
func (h *htmlText) hiddenTag() {
	if !h.closing {
		if h.startRawText() {
			return
		}
		if string(h.tag) == h.hideName && !h.tagLong {
			h.hideDepth++
		} else if i := h.scopeBound(); i >= 0 {
			h.hideBounds[i]++
			h.hideOpen++
		}
		return
	}
	if h.hideForever || h.tagLong {
		return
	}
	if string(h.tag) == h.hideName {
		if h.hideDepth == 1 && h.hideOpen > 0 && h.hideName != "template" {
			return
		}
		h.hideDepth--
		h.hiding = h.hideDepth > 0
	} else if i := h.scopeBound(); i >= 0 && h.hideBounds[i] > 0 {
		h.hideBounds[i]--
		h.hideOpen--
	}
}

// scopeBound returns the index in scopeBounds of the element of the tag
// just read if, open inside a hidden region, it keeps the end tag of the
// region's element from ending it, as HTML ignores that end tag
// (§13.2.6.4.7), or -1. Those are a table, template, object, applet or
// marquee, since the end tag's element must be in scope and these bound
// the scope (§13.2.4.2); a select, inside which all end tags but a few are
// ignored (§13.2.6.4.16); and, when the region's element is an ordinary
// one like span, a special element like div, since "any other end tag"
// stops at a special element. Special elements that HTML often closes
// implicitly (p, li, dd, dt, table rows and cells) are left out: counting
// them would hide what follows their implicit end, while leaving them out
// only misses a hiding no mail needs.
func (h *htmlText) scopeBound() int {
	i, ok := scopeBoundIndex[string(h.tag)]
	if !ok || (i >= alwaysBounds && !h.hideOrdinary) {
		return -1
	}
	return i
}

// scopeBounds are the elements that can keep a hidden region open (see
// scopeBound): the first alwaysBounds ones whatever the region's element,
// the others when it is an ordinary element.
var scopeBounds = [...]string{
	"table", "template", "object", "applet", "marquee", "select",
	"address", "article", "aside", "blockquote", "button", "center", "details", "dir", "div",
	"dl", "fieldset", "figcaption", "figure", "footer", "form", "h1", "h2", "h3", "h4", "h5",
	"h6", "header", "hgroup", "listing", "main", "menu", "nav", "ol", "pre", "search",
	"section", "summary", "ul",
}

const alwaysBounds = 6

// scopeBoundIndex maps the names of scopeBounds to their index.
var scopeBoundIndex = func() map[string]int {
	m := make(map[string]int, len(scopeBounds))
	for i, name := range scopeBounds {
		m[name] = i
	}
	return m
}()

// specialElements and formattingElements are the elements of those
// categories of HTML §13.2.4.2 that can hide their content: an element in
// neither is ordinary.
var (
	specialElements = map[string]bool{
		"address": true, "applet": true, "article": true, "aside": true, "blockquote": true,
		"body": true, "button": true, "caption": true, "center": true, "colgroup": true,
		"dd": true, "details": true, "dir": true, "div": true, "dl": true, "dt": true,
		"fieldset": true, "figcaption": true, "figure": true, "footer": true, "form": true,
		"frameset": true, "h1": true, "h2": true, "h3": true, "h4": true, "h5": true, "h6": true,
		"head": true, "header": true, "hgroup": true, "html": true, "li": true, "listing": true,
		"main": true, "marquee": true, "menu": true, "nav": true, "noscript": true,
		"object": true, "ol": true, "p": true, "plaintext": true, "pre": true, "search": true,
		"section": true, "select": true, "summary": true, "table": true, "tbody": true,
		"td": true, "template": true, "tfoot": true, "th": true, "thead": true, "tr": true,
		"ul": true,
	}
	formattingElements = map[string]bool{
		"a": true, "b": true, "big": true, "code": true, "em": true, "font": true, "i": true,
		"nobr": true, "s": true, "small": true, "strike": true, "strong": true, "tt": true,
		"u": true,
	}
)

// flush ends a pending character reference or "<" at a state boundary or at
// the end of input.
func (h *htmlText) flush() {
	switch h.state {
	case hEntity:
		h.state = hText
		for _, r := range html.UnescapeString(string(h.ent)) {
			h.text(r)
		}
		h.ent = h.ent[:0]
	case hTagOpen:
		h.state = hText
		h.text('<')
	case hRawText:
		h.rawText(h.rawEnd[:h.matched])
		h.matched = 0
	}
}

func isASCIILetter(r rune) bool {
	return (r >= 'a' && r <= 'z') || (r >= 'A' && r <= 'Z')
}

// isHTMLSpace reports whether r is ASCII white space as HTML's tokenizer
// reads it (§13.2.5.8): tab, line feed, form feed, carriage return, space.
func isHTMLSpace(r rune) bool {
	return r == ' ' || r == '\t' || r == '\n' || r == '\f' || r == '\r'
}

// asciiLower lower-cases an ASCII letter; any rune above U+007F becomes
// 0x80, which no name of interest holds.
func asciiLower(r rune) byte {
	switch {
	case r >= 'A' && r <= 'Z':
		return byte(r) + 'a' - 'A'
	case r > 0x7f:
		return 0x80
	}
	return byte(r)
}

// maxDecl bounds what inlineStyle keeps of one declaration, normalised:
// the longest that matters, "visibility:collapse!important" or "display:
// table-footer-group !important", is well under it.
const maxDecl = 64

// cssState is a state of inlineStyle.
type cssState int

const (
	cssPlain      cssState = iota
	cssSlash               // after "/"
	cssComment             // in "/* … */"
	cssCommentEnd          // after "*" in a comment
	cssEscape              // after "\"
	cssString              // in a quoted string
	cssStringEsc           // after "\" in a string
)

// cssHide is what the declarations of one property say: whether the last
// one that counts hides the element, and whether it is !important.
type cssHide struct {
	hide, important bool
}

// set applies a declaration: a later one wins unless the earlier is
// !important and the later is not (CSS Cascade 4, "Important
// Declarations").
func (p *cssHide) set(hide, important bool) {
	if important || !p.important {
		p.hide, p.important = hide, important
	}
}

// inlineStyle reads a style attribute (CSS Style Attributes §2: a list of
// declarations) as a stream of runes and tells whether it hides the
// element: display: none, or visibility: hidden or collapse (CSS 2.1
// §9.2.4 and §11.2). Outlook's mso-hide: all is not one: Thunderbird shows
// what it hides, often the version of a button meant for every client but
// Outlook. Comments, escapes and white space are read as CSS Syntax 3 §4
// reads them, case is ignored, and each declaration is kept up to maxDecl
// bytes: a longer one is none of these.
type inlineStyle struct {
	decl  [maxDecl]byte
	n     int
	long  bool // the declaration is longer than maxDecl
	space bool // white space is pending between two runes of the declaration
	state cssState
	quote rune
	esc   rune // value of the hex digits of an escape
	nesc  int  // hex digits of the escape read

	display, visibility cssHide
}

// hides reports whether the declarations read hide the element.
func (s *inlineStyle) hides() bool {
	return s.display.hide || s.visibility.hide
}

// feed reads one rune of the style attribute.
func (s *inlineStyle) feed(r rune) {
	switch s.state {
	case cssComment:
		if r == '*' {
			s.state = cssCommentEnd
		}
		return
	case cssCommentEnd:
		switch r {
		case '/':
			s.state = cssPlain
			// A comment separates tokens (§4.3.2): "dis/**/play" is no
			// property name.
			s.space = s.n > 0
		case '*':
		default:
			s.state = cssComment
		}
		return
	case cssString:
		switch r {
		case s.quote, '\n':
			s.state = cssPlain
		case '\\':
			s.state = cssStringEsc
		}
		return
	case cssStringEsc:
		s.state = cssString
		return
	case cssSlash:
		s.state = cssPlain
		if r == '*' {
			s.state = cssComment
			return
		}
		s.put('/')
	case cssEscape:
		if h := hexValue(r); h >= 0 && s.nesc < 6 {
			s.esc = s.esc<<4 | h
			s.nesc++
			return
		}
		s.state = cssPlain
		if s.nesc == 0 {
			// "\" and any other rune is that rune (§4.3.7).
			s.putEscaped(r)
			return
		}
		s.putEscaped(s.esc)
		if isHTMLSpace(r) {
			// One white space after the hex digits belongs to the escape.
			return
		}
	}
	switch {
	case r == '/':
		s.state = cssSlash
	case r == '\\':
		s.state = cssEscape
		s.esc, s.nesc = 0, 0
	case r == '"' || r == '\'':
		s.state = cssString
		s.quote = r
		s.put(0x80)
	case r == ';':
		s.endDecl()
	case isHTMLSpace(r):
		s.space = s.n > 0
	default:
		s.put(asciiLower(r))
	}
}

// putEscaped keeps an escaped rune: a letter, digit or hyphen as itself,
// anything else as 0x80, since an escaped ":", ";" or "!" is part of a
// name, not punctuation.
func (s *inlineStyle) putEscaped(r rune) {
	if isASCIILetter(r) || (r >= '0' && r <= '9') || r == '-' {
		s.put(asciiLower(r))
		return
	}
	s.put(0x80)
}

// put adds a byte to the declaration, after a single space for any white
// space pending.
func (s *inlineStyle) put(c byte) {
	if s.space {
		s.space = false
		s.put(' ')
	}
	if s.n == len(s.decl) {
		s.long = true
		return
	}
	s.decl[s.n] = c
	s.n++
}

// endDecl applies the declaration read, at a ";" or at the end of the
// attribute value. Only valid values count: a declaration with an illegal
// value is ignored (CSS 2.1 §4.2), so "display: xyz" does not undo an
// earlier "display: none".
func (s *inlineStyle) endDecl() {
	decl, long := string(s.decl[:s.n]), s.long
	s.n, s.long, s.space = 0, false, false
	s.state = cssPlain
	if long {
		return
	}
	name, value, ok := strings.Cut(decl, ":")
	if !ok {
		return
	}
	name, value = strings.TrimSpace(name), strings.TrimSpace(value)
	important := false
	if v, ok := strings.CutSuffix(value, "important"); ok {
		if v, ok := strings.CutSuffix(strings.TrimSpace(v), "!"); ok {
			value, important = strings.TrimSpace(v), true
		}
	}
	switch name {
	case "display":
		switch {
		case value == "none":
			s.display.set(true, important)
		case displayValues[value] || cssWideValues[value]:
			s.display.set(false, important)
		}
	case "visibility":
		switch {
		case value == "hidden" || value == "collapse":
			s.visibility.set(true, important)
		case value == "visible" || cssWideValues[value]:
			s.visibility.set(false, important)
		}
	}
}

// displayValues are the one-keyword values of display other than none (CSS
// Display 3 §2), with the prefixed box values mail still carries.
var displayValues = map[string]bool{
	"block": true, "inline": true, "run-in": true, "flow": true, "flow-root": true,
	"table": true, "flex": true, "grid": true, "ruby": true, "list-item": true,
	"contents": true, "inline-block": true, "inline-table": true, "inline-flex": true,
	"inline-grid": true, "table-row-group": true, "table-header-group": true,
	"table-footer-group": true, "table-row": true, "table-cell": true,
	"table-column-group": true, "table-column": true, "table-caption": true,
	"ruby-base": true, "ruby-text": true, "ruby-base-container": true,
	"ruby-text-container": true, "-webkit-box": true, "-webkit-inline-box": true,
	"-moz-box": true, "-moz-inline-box": true,
}

// cssWideValues are the keywords every property takes (CSS Cascade 4,
// "Explicit Defaulting"); none of them hides an element that is not
// hidden otherwise.
var cssWideValues = map[string]bool{
	"inherit": true, "initial": true, "unset": true, "revert": true, "revert-layer": true,
}

// hexValue returns the value of a hex digit, or -1.
func hexValue(r rune) rune {
	switch {
	case r >= '0' && r <= '9':
		return r - '0'
	case r >= 'a' && r <= 'f':
		return r - 'a' + 10
	case r >= 'A' && r <= 'F':
		return r - 'A' + 10
	}
	return -1
}
