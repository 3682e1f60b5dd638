package mime

import (
	"bufio"
	"bytes"
	"errors"
	"fmt"
	"io"
	"strings"
	"sync"
	"unicode/utf8"

	"github.com/emersion/go-message/charset"
	"golang.org/x/text/encoding"
	"golang.org/x/text/encoding/charmap"
	"golang.org/x/text/encoding/htmlindex"
	"golang.org/x/text/encoding/ianaindex"
	"golang.org/x/text/encoding/japanese"
	"golang.org/x/text/encoding/unicode"
)

// Labels seen on Japanese mail that the IANA and WHATWG indexes used by
// go-message do not resolve. CP932 and its vendor names decode as Shift_JIS
// (x/text's Shift_JIS decoder includes the CP932 NEC and IBM extensions);
// ISO-2022-JP-2 and ISO-2022-JP-3 decode as ISO-2022-JP, which covers the
// JIS X 0208 text they carry in practice.
func init() {
	register := func(enc encoding.Encoding, names ...string) {
		for _, name := range names {
			extraCharsets[name] = enc
			charset.RegisterEncoding(name, enc)
		}
	}
	register(japanese.ShiftJIS, "cp932", "ms932", "x-sjis", "sjis", "shift-jis", "ms_kanji", "windows-932", "x-ms-cp932", "x-ms932")
	register(japanese.ISO2022JP, "iso-2022-jp-2", "iso-2022-jp-3", "iso-2022-jp-1", "csiso2022jp2", "x-iso-2022-jp")
	register(japanese.EUCJP, "x-euc-jp", "eucjp", "euc-jp-ms", "x-eucjp")
}

// extraCharsets are the labels go-message's charset package resolves
// before it asks the IANA and WHATWG indexes: its own two quirks and the
// labels registered above.
var extraCharsets = map[string]encoding.Encoding{
	"ansi_x3.110-1983": charmap.ISO8859_1,
	"x-utf_8j":         unicode.UTF8,
}

// charsets holds the labels lookupCharset resolved, lower-cased: at most
// every alias the indexes know, since only labels that resolve are kept.
var charsets sync.Map

// lookupCharset returns the encoding of a lower-cased charset label as
// go-message's charset.Reader finds it (TestLookupCharset compares them),
// remembered: charset.Reader looks the label up in three indexes and makes
// 8 KiB of buffers for every encoded word of a header.
func lookupCharset(label string) (encoding.Encoding, error) {
	if enc, ok := charsets.Load(label); ok {
		return enc.(encoding.Encoding), nil
	}
	var err error
	enc, ok := extraCharsets[label]
	if !ok {
		enc, err = ianaindex.MIME.Encoding(label)
	}
	if enc == nil {
		enc, err = ianaindex.MIME.Encoding("cs" + label)
	}
	if enc == nil {
		enc, err = htmlindex.Get(label)
	}
	if err != nil {
		return nil, fmt.Errorf("charset %q: %v", label, err)
	}
	if enc == nil {
		return nil, fmt.Errorf("charset %q: %w", label, errUnsupportedCharset)
	}
	charsets.Store(label, enc)
	return enc, nil
}

var errUnsupportedCharset = errors.New("unsupported charset")

// sniffPeek is how many leading bytes of an unlabelled text are examined to
// guess its charset.
const sniffPeek = 4096

// jpCharset is the outcome of guessing the charset of unlabelled bytes.
type jpCharset int

const (
	csUTF8 jpCharset = iota
	csISO2022JP
	csShiftJIS
	csEUCJP
)

// guessCharset guesses the charset of unlabelled text: ISO-2022-JP escape
// sequences win, then valid UTF-8, then whichever of Shift_JIS and EUC-JP
// reads the bytes with fewer invalid sequences. Shift_JIS wins ties unless it
// would read the bytes as mostly half-width katakana, which is how EUC-JP
// kana and kanji look to a Shift_JIS reader. truncated says b may end in the
// middle of a character.
func guessCharset(b []byte, truncated bool) jpCharset {
	if hasISO2022Escape(b) {
		return csISO2022JP
	}
	if validUTF8Prefix(b, truncated) {
		return csUTF8
	}
	sjisBad, sjisKana, sjisDouble := scanShiftJIS(b)
	eucBad := scanEUCJP(b)
	switch {
	case eucBad < sjisBad:
		return csEUCJP
	case eucBad == sjisBad && sjisKana > sjisDouble:
		return csEUCJP
	}
	return csShiftJIS
}

// hasISO2022Escape reports whether b holds an ISO-2022-JP designation
// sequence (ESC $ or ESC ().
func hasISO2022Escape(b []byte) bool {
	for i := bytes.IndexByte(b, 0x1b); i >= 0 && i+1 < len(b); {
		if b[i+1] == '$' || b[i+1] == '(' {
			return true
		}
		j := bytes.IndexByte(b[i+1:], 0x1b)
		if j < 0 {
			break
		}
		i += 1 + j
	}
	return false
}

// validUTF8Prefix is utf8.Valid, except that when truncated is set an
// incomplete character at the very end is accepted.
func validUTF8Prefix(b []byte, truncated bool) bool {
	if utf8.Valid(b) {
		return true
	}
	if !truncated {
		return false
	}
	for cut := 1; cut < utf8.UTFMax && cut <= len(b); cut++ {
		if utf8.Valid(b[:len(b)-cut]) && !utf8.FullRune(b[len(b)-cut:]) {
			return true
		}
	}
	return false
}

// scanShiftJIS counts invalid sequences, half-width katakana and double-byte
// characters when b is read as Shift_JIS.
func scanShiftJIS(b []byte) (bad, kana, double int) {
	for i := 0; i < len(b); i++ {
		c := b[i]
		switch {
		case c < 0x80:
		case c >= 0xa1 && c <= 0xdf:
			kana++
		case (c >= 0x81 && c <= 0x9f) || (c >= 0xe0 && c <= 0xfc):
			if i+1 < len(b) && ((b[i+1] >= 0x40 && b[i+1] <= 0x7e) || (b[i+1] >= 0x80 && b[i+1] <= 0xfc)) {
				double++
				i++
			} else {
				bad++
			}
		default:
			bad++
		}
	}
	return bad, kana, double
}

// scanEUCJP counts invalid sequences when b is read as EUC-JP.
func scanEUCJP(b []byte) (bad int) {
	high := func(i int) bool { return i < len(b) && b[i] >= 0xa1 && b[i] <= 0xfe }
	for i := 0; i < len(b); i++ {
		c := b[i]
		switch {
		case c < 0x80:
		case c == 0x8e:
			if i+1 < len(b) && b[i+1] >= 0xa1 && b[i+1] <= 0xdf {
				i++
			} else {
				bad++
			}
		case c == 0x8f:
			if high(i+1) && high(i+2) {
				i += 2
			} else {
				bad++
			}
		case c >= 0xa1 && c <= 0xfe:
			if high(i + 1) {
				i++
			} else {
				bad++
			}
		default:
			bad++
		}
	}
	return bad
}

// guessedEncoding is the encoding of guessed charset cs, nil for UTF-8.
func guessedEncoding(cs jpCharset) encoding.Encoding {
	switch cs {
	case csISO2022JP:
		return japanese.ISO2022JP
	case csShiftJIS:
		return japanese.ShiftJIS
	case csEUCJP:
		return japanese.EUCJP
	}
	return nil
}

// guessedReader returns a reader converting r, guessed to be in cs, to UTF-8.
func guessedReader(cs jpCharset, r io.Reader) io.Reader {
	if enc := guessedEncoding(cs); enc != nil {
		return enc.NewDecoder().Reader(r)
	}
	return r
}

// decodeUnlabelled converts bytes of unknown charset to valid UTF-8 by
// guessing (see guessCharset).
func decodeUnlabelled(b []byte) string {
	enc := guessedEncoding(guessCharset(b, false))
	if enc == nil {
		return strings.ToValidUTF8(string(b), "\uFFFD")
	}
	out, err := enc.NewDecoder().Bytes(b)
	if err != nil {
		return strings.ToValidUTF8(string(b), "\uFFFD")
	}
	return strings.ToValidUTF8(string(out), "\uFFFD")
}

// isPassThroughLabel reports whether a charset label names a charset whose
// bytes are kept as they are and sniffed (no label, ASCII) or read as UTF-8.
func isPassThroughLabel(label string) bool {
	switch label {
	case "", "us-ascii", "ascii", "utf-8", "utf8":
		return true
	}
	return false
}

// clientCharset returns the encoding of a lower-cased charset label as
// mail clients decode it: that of lookupCharset, except for the EBCDIC
// code pages, which Thunderbird does not decode (its charset converters
// have none) and which would turn ASCII text into non-ASCII runes no
// reader sees: those are unknown, and the bytes are read as they come.
func clientCharset(label string) (encoding.Encoding, error) {
	enc, err := lookupCharset(label)
	if err != nil {
		return nil, err
	}
	switch enc {
	case charmap.CodePage037, charmap.CodePage1047, charmap.CodePage1140:
		return nil, fmt.Errorf("charset %q (EBCDIC) is not decoded by mail clients", label)
	}
	return enc, nil
}

// decodeLabelled converts b from the named charset to valid UTF-8. ok is
// false when the charset is unknown; s is then the guess of decodeUnlabelled.
func decodeLabelled(label string, b []byte) (s string, ok bool) {
	label = strings.ToLower(strings.TrimSpace(label))
	if isPassThroughLabel(label) {
		return decodeUnlabelled(b), true
	}
	enc, err := clientCharset(label)
	if err != nil {
		return decodeUnlabelled(b), false
	}
	out, err := enc.NewDecoder().Bytes(b)
	if err != nil {
		return decodeUnlabelled(b), true
	}
	return strings.ToValidUTF8(string(out), "\uFFFD"), true
}

// textReader returns a reader yielding the UTF-8 text of a body, read
// through br (of at least sniffPeek bytes), whose declared charset is label.
// A UTF-8 label is trusted; no label, an ASCII label and an unknown label
// lead to a guess from the first bytes (an unknown label also returns known
// == false so the caller can report it).
func textReader(br *bufio.Reader, label string) (r io.Reader, known bool) {
	label = strings.ToLower(strings.TrimSpace(label))
	known = true
	switch label {
	case "utf-8", "utf8":
		return br, true
	case "", "us-ascii", "ascii":
	default:
		if enc, err := clientCharset(label); err == nil {
			return enc.NewDecoder().Reader(br), true
		}
		known = false
	}
	peek, err := br.Peek(sniffPeek)
	return guessedReader(guessCharset(peek, err == nil), br), known
}
