package mime

import (
	"errors"
	"unicode/utf16"
	"unicode/utf8"

	"github.com/emersion/go-message/charset"
	"golang.org/x/text/encoding"
	"golang.org/x/text/transform"
)

// The IANA index go-message asks knows UTF-7 but has no decoder for it,
// and the WHATWG index does not know it, yet Thunderbird decodes a body
// labelled UTF-7 (mailnews/intl nsUTF7ToUnicode): spam can hide its text
// from filters in it. Its labels are registered with lookupCharset and with
// go-message's charset package.
func init() {
	for _, name := range []string{"utf-7", "utf7", "unicode-1-1-utf-7", "csunicode11utf7", "x-utf-7"} {
		extraCharsets[name] = utf7
		charset.RegisterEncoding(name, utf7)
	}
}

// utf7 is the UTF-7 encoding of RFC 2152. Only its decoder works: mail is
// read, never written, in UTF-7.
var utf7 encoding.Encoding = utf7Encoding{}

// utf7Encoding implements encoding.Encoding for UTF-7.
type utf7Encoding struct{}

// NewDecoder returns a decoder of UTF-7 (see utf7Decoder).
func (utf7Encoding) NewDecoder() *encoding.Decoder {
	return &encoding.Decoder{Transformer: &utf7Decoder{}}
}

// NewEncoder returns an encoder that fails on any input.
func (utf7Encoding) NewEncoder() *encoding.Encoder {
	return &encoding.Encoder{Transformer: utf7Encoder{}}
}

var errUTF7Encode = errors.New("utf-7: encoding is not supported")

// utf7Encoder is a transformer that fails on any input.
type utf7Encoder struct{ transform.NopResetter }

// Transform fails unless src is empty.
func (utf7Encoder) Transform(dst, src []byte, atEOF bool) (nDst, nSrc int, err error) {
	if len(src) > 0 {
		return 0, 0, errUTF7Encode
	}
	return 0, 0, nil
}

// utf7Decoder decodes UTF-7 (RFC 2152, "UTF-7 Definition") to UTF-8.
// Outside a shift a byte stands for itself (Rules 1 and 3). "+" shifts to
// modified base64 of UTF-16BE code units, up to the first byte that is not
// a base64 character; a "-" ending the shift is absorbed, and "+-" is "+"
// (Rule 2). The bits left at a shift's end, fewer than a code unit, are
// discarded (Rule 2). The halves of a surrogate pair are two separate code
// units (Rule 2), so a pair may straddle two shifts; they make one rune.
//
// It is lenient as Thunderbird's decoder (mailnews/intl nsUTF7ToUnicode)
// is: any byte of direct text passes, and a "+" before a byte that is
// neither base64 nor "-" is dropped, though Rule 2 calls it ill-formed.
// What Thunderbird shows as garbage becomes U+FFFD: a byte above 0x7f
// (Thunderbird shows a half-width form of U+FF80–FFFF on most platforms)
// and an unpaired surrogate. What it shows as nothing stays nothing, so
// that a stray "+" or a dangling bit cannot make ASCII text look
// non-ASCII. The decoder keeps its state between calls: every byte is
// consumed as it comes, and input cut anywhere decodes as the whole does.
type utf7Decoder struct {
	shift bool   // inside a "+" shift
	fresh bool   // the "+" was the last byte: a "-" now is a literal "+"
	bits  uint32 // base64 bits not yet part of a code unit, nbits of them
	nbits uint
	high  rune // a high surrogate waiting for its low half, or 0
}

// Reset returns the decoder to direct text.
func (d *utf7Decoder) Reset() { *d = utf7Decoder{} }

// Transform decodes src into dst. It never returns ErrShortSrc: what a
// byte leaves incomplete (a shift, bits of a code unit, a high surrogate)
// is kept in the decoder. At the end of input a pending high surrogate
// becomes U+FFFD and the decoder is reset.
func (d *utf7Decoder) Transform(dst, src []byte, atEOF bool) (nDst, nSrc int, err error) {
	var buf [2 * utf8.UTFMax]byte
	for nSrc < len(src) {
		c := src[nSrc]
		if !d.shift && d.high == 0 && c < 0x80 && c != '+' {
			if nDst == len(dst) {
				return nDst, nSrc, transform.ErrShortDst
			}
			dst[nDst] = c
			nDst++
			nSrc++
			continue
		}
		next := *d
		out := next.step(c, buf[:0])
		if len(dst)-nDst < len(out) {
			return nDst, nSrc, transform.ErrShortDst
		}
		nDst += copy(dst[nDst:], out)
		nSrc++
		*d = next
	}
	if atEOF {
		if d.high != 0 {
			if len(dst)-nDst < utf8.RuneLen(utf8.RuneError) {
				return nDst, nSrc, transform.ErrShortDst
			}
			nDst += utf8.EncodeRune(dst[nDst:], utf8.RuneError)
		}
		d.Reset()
	}
	return nDst, nSrc, nil
}

// step decodes byte c, appending what it completes to out.
func (d *utf7Decoder) step(c byte, out []byte) []byte {
	if d.shift {
		if v := base64Value(c); v >= 0 {
			d.fresh = false
			d.bits = d.bits<<6 | uint32(v)
			d.nbits += 6
			if d.nbits >= 16 {
				d.nbits -= 16
				u := rune(d.bits >> d.nbits)
				d.bits &= 1<<d.nbits - 1
				out = d.unit(u, out)
			}
			return out
		}
		// The shift ends; its left-over bits are discarded.
		fresh := d.fresh
		d.shift, d.fresh, d.bits, d.nbits = false, false, 0, 0
		if c == '-' {
			if fresh {
				return d.unit('+', out)
			}
			return out
		}
	}
	switch {
	case c == '+':
		d.shift, d.fresh = true, true
		return out
	case c > 0x7f:
		return d.unit(utf8.RuneError, out)
	}
	return d.unit(rune(c), out)
}

// unit appends a UTF-16 code unit (or a rune decoded otherwise) to out,
// pairing surrogates.
func (d *utf7Decoder) unit(u rune, out []byte) []byte {
	if d.high != 0 {
		high := d.high
		d.high = 0
		if utf16.IsSurrogate(u) && u >= 0xdc00 {
			return utf8.AppendRune(out, utf16.DecodeRune(high, u))
		}
		out = utf8.AppendRune(out, utf8.RuneError)
	}
	switch {
	case u >= 0xd800 && u < 0xdc00:
		d.high = u
		return out
	case u >= 0xdc00 && u < 0xe000:
		return utf8.AppendRune(out, utf8.RuneError)
	}
	return utf8.AppendRune(out, u)
}

// base64Value returns the value of a character of the base64 alphabet of
// RFC 2045 section 6.8 (RFC 2152 "Rule 2" uses it without "="), or -1.
func base64Value(c byte) int {
	switch {
	case c >= 'A' && c <= 'Z':
		return int(c - 'A')
	case c >= 'a' && c <= 'z':
		return int(c-'a') + 26
	case c >= '0' && c <= '9':
		return int(c-'0') + 52
	case c == '+':
		return 62
	case c == '/':
		return 63
	}
	return -1
}
