package mime

// Encrypted PDFs (ISO 32000-1 7.6): a PDF protected by a password has an
// /Encrypt entry in its trailer dictionary (7.5.5), or in the dictionary
// of its cross-reference stream (7.5.8.2), which stands for the trailer
// in PDF 1.5 and later. A linearized file (Annex F) has its first-page
// trailer near its start, the others near its end: the first and last
// MiB are read, and every trailer or cross-reference stream dictionary in
// them is looked at. PDFs are not otherwise looked into: one that is not
// encrypted is not a container, and stays the plain file it was. An
// encrypted one is not decrypted here (no PDF library on the Go module
// proxy reads hostile input within bounds, and the inspection would
// find nothing in a decrypted PDF it does not find in a plain one), so
// no password candidate is tried on it.
//
// The scanner is hand-written and bounded: it tokenizes one dictionary at
// a time, strings and nested dictionaries included, within the bytes
// read.

import (
	"bytes"
	"io"
)

// FormatPDFEncrypt is the format reported for an encrypted PDF.
const FormatPDFEncrypt = "pdf-encrypted"

// pdfWindow is how much of each end of a PDF is read for trailers.
const pdfWindow = 1 << 20

// init registers PDF as a container format, by content only.
func init() {
	registerContainer(&container{
		format: "pdf",
		// Readers take the header anywhere in the first 1024 bytes.
		sniff:    func(head []byte) bool { return bytes.Contains(head[:min(len(head), 1024)], []byte("%PDF-")) },
		document: true,
		open:     openPDF,
	})
}

// openPDF reports an encrypted PDF as an encrypted document that is not
// decrypted; any other PDF is not a container.
func openPDF(ra io.ReaderAt, size int64, _ string) (arcWalker, error) {
	read := func(off, n int64) []byte {
		b := make([]byte, n)
		m, _ := ra.ReadAt(b, off)
		return b[:m]
	}
	head := read(0, min(size, pdfWindow))
	if pdfEncrypted(head) || size > pdfWindow && pdfEncrypted(read(size-min(size-pdfWindow, pdfWindow), min(size-pdfWindow, pdfWindow))) {
		return &cfbWalker{format: FormatPDFEncrypt, stop: &arcStop{class: GapEncrypted, encrypted: true, sealed: true,
			why: "encrypted PDF: protected by a password (/Encrypt in its trailer), which Sekisho does not decrypt"}}, nil
	}
	return nil, errNotContainer
}

// pdfEncrypted reports whether a trailer dictionary or cross-reference
// stream dictionary in b has an /Encrypt key.
func pdfEncrypted(b []byte) bool {
	for i := 0; ; {
		j := bytes.Index(b[i:], []byte("trailer"))
		if j < 0 {
			break
		}
		i += j + len("trailer")
		if k := bytes.Index(b[i:min(len(b), i+64)], []byte("<<")); k >= 0 && pdfDictHas(b[i+k:], "/Encrypt") {
			return true
		}
	}
	for i := 0; ; {
		j := bytes.Index(b[i:], []byte("/XRef"))
		if j < 0 {
			return false
		}
		// The dictionary that holds /Type /XRef starts after the last
		// "obj" before it.
		at := i + j
		i = at + len("/XRef")
		o := bytes.LastIndex(b[max(0, at-4096):at], []byte("obj"))
		if o < 0 {
			continue
		}
		start := max(0, at-4096) + o
		if k := bytes.Index(b[start:at], []byte("<<")); k >= 0 && pdfDictHas(b[start+k:], "/Encrypt") {
			return true
		}
	}
}

// pdfDictHas reports whether the dictionary at the start of b (at "<<")
// has key among its own keys, not those of dictionaries in it.
func pdfDictHas(b []byte, key string) bool {
	depth := 0
	for i := 0; i < len(b); {
		switch c := b[i]; {
		case c == '<' && i+1 < len(b) && b[i+1] == '<':
			depth++
			i += 2
		case c == '>' && i+1 < len(b) && b[i+1] == '>':
			depth--
			i += 2
			if depth == 0 {
				return false
			}
		case c == '<':
			// A hex string.
			k := bytes.IndexByte(b[i:], '>')
			if k < 0 {
				return false
			}
			i += k + 1
		case c == '(':
			i = pdfStringEnd(b, i)
		case c == '%':
			k := bytes.IndexAny(b[i:], "\r\n")
			if k < 0 {
				return false
			}
			i += k
		case c == '/':
			k := i + 1
			for k < len(b) && !bytes.ContainsRune([]byte("()<>[]{}/% \t\r\n\f\x00"), rune(b[k])) {
				k++
			}
			if depth == 1 && string(b[i:k]) == key {
				return true
			}
			i = k
		default:
			i++
		}
	}
	return false
}

// pdfStringEnd returns where the literal string that starts at b[i] ("(")
// ends: parentheses nest, a backslash escapes (7.3.4.2).
func pdfStringEnd(b []byte, i int) int {
	depth := 0
	for ; i < len(b); i++ {
		switch b[i] {
		case '\\':
			i++
		case '(':
			depth++
		case ')':
			depth--
			if depth == 0 {
				return i + 1
			}
		}
	}
	return len(b)
}
