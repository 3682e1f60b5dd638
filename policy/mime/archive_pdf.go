package mime

// Encrypted PDFs (ISO 32000-1 7.6): a PDF protected by a password has an
// /Encrypt entry in its trailer dictionary (7.5.5), or in the dictionary
// of its cross-reference stream (7.5.8.2), which stands for the trailer
// in PDF 1.5 and later. A linearized file (Annex F) has its first-page
// trailer near its start, the others near its end: the first and last
// MiB are read, and every trailer or cross-reference stream dictionary in
// them is looked at.
//
// Most PDFs with an /Encrypt entry ask no password: the standard security
// handler (7.6.3) with an empty user password, and only an owner password
// that restricts printing or editing, opens in every reader without a
// word. The empty password is checked against the encryption dictionary
// (Algorithms 2, 4, 5 and 6 of ISO 32000-1 7.6.3.3-4 for revisions 2 to
// 4; Algorithms 2.A and 2.B of ISO 32000-2 7.6.4.3 for revisions 5 and 6,
// AES-256): a PDF it opens is a plain PDF, its strings and streams
// decrypted with the file encryption key it gives (RC4 or AES-128 with a
// key per object, Algorithm 1; AES-256 with the file key), through the
// crypt filters its encryption dictionary names (/StmF, /StrF, /EFF,
// /CF, a stream's own /Crypt filter). One that asks for a password is an
// encrypted document (pdfLocked) whose first entry, "document", a
// password candidate "decrypts" when it is the user password or the owner
// password (the user password recovered from /O, Algorithm 7, or the key
// from /OE): its content is empty, and the files the PDF embeds follow,
// found and decrypted with the key of that password, each an encrypted
// entry that candidate opens. A PDF encrypted by another security handler
// (public-key /Adobe.PubSec, a plug-in), or whose encryption dictionary
// cannot be read, stays encrypted, and no password candidate is tried on
// it; one whose objects cannot be decrypted here (a crypt filter method
// or an encryption version unknown, a key length its method does not
// take) is a gap when it may embed files.
//
// The scanner is hand-written and bounded: it tokenizes one dictionary at
// a time, strings and nested dictionaries included, within the bytes
// read; an indirect encryption dictionary is looked for in the whole
// file, in chunks, at most 16 definitions of it read, 64 KiB each.
//
// A PDF is looked into for the files it embeds (archive_pdfembed.go): one
// that asks no password and embeds files is a container of them.

import (
	"bytes"
	"crypto/aes"
	"crypto/cipher"
	"crypto/md5"
	"crypto/rc4"
	"crypto/sha256"
	"crypto/sha512"
	"crypto/subtle"
	"encoding/binary"
	"errors"
	"fmt"
	"io"
	"maps"
	"strconv"
	"strings"
	"sync"
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

// openPDF reports a PDF that asks for a password as an encrypted document
// (pdfLocked); any other PDF, one whose user password is empty included,
// is a container of the files it embeds, and not a container when it
// embeds none.
func openPDF(ra io.ReaderAt, size int64, _ string) (arcWalker, error) {
	// The two ends are read into pooled buffers, given back when the PDF
	// turns out to embed nothing (most do not): a fresh MiB or two for
	// every PDF, zeroed, cost more than reading them.
	hb := pdfWindows.Get().(*[pdfWindow]byte)
	head := pdfReadInto(hb[:min(size, pdfWindow)], ra, 0)
	dicts := pdfEncryptDicts(head)
	var tb *[pdfWindow]byte
	var tail []byte
	if size > pdfWindow {
		n := min(size-pdfWindow, pdfWindow)
		tb = pdfWindows.Get().(*[pdfWindow]byte)
		tail = pdfReadInto(tb[:n], ra, size-n)
		dicts = append(dicts, pdfEncryptDicts(tail)...)
	}
	w, err := openPDFEnds(ra, size, head, tail, dicts)
	if err == errNotContainer {
		// Nothing keeps the ends: no walker was made.
		pdfWindows.Put(hb)
		if tb != nil {
			pdfWindows.Put(tb)
		}
	}
	return w, err
}

// pdfWindows are the buffers openPDF reads the ends of a PDF into.
var pdfWindows = sync.Pool{New: func() any { return new([pdfWindow]byte) }}

// pdfReadInto reads b at off, and returns what was read.
func pdfReadInto(b []byte, ra io.ReaderAt, off int64) []byte {
	m, _ := ra.ReadAt(b, off)
	return b[:m]
}

// openPDFEnds is openPDF once the ends are read, and the dictionaries of
// its trailers that have an /Encrypt key found in them.
func openPDFEnds(ra io.ReaderAt, size int64, head, tail []byte, dicts [][]byte) (arcWalker, error) {
	var c *pdfCrypt
	if len(dicts) > 0 {
		sec, err := pdfSecurityOf(ra, size, dicts)
		if err != nil {
			return &cfbWalker{format: FormatPDFEncrypt, stop: &arcStop{class: GapEncrypted, encrypted: true, sealed: true,
				why: "encrypted PDF: " + err.Error() + ", which Sekisho does not decrypt"}}, nil
		}
		var fits bool
		c, fits, err = sec.unlock(nil)
		if !fits {
			return &pdfLocked{ra: ra, size: size, head: head, tail: tail, sec: sec, tried: map[string]bool{}}, nil
		}
		if err != nil {
			// Only an owner password: every reader opens it without
			// asking, and its objects cannot be decrypted here.
			return pdfUndecrypted(ra, size, head, tail, err, GapArchive)
		}
	}
	w, err := openPDFEmbedded(ra, size, head, tail, c)
	if err != nil {
		return nil, err
	}
	return w, nil
}

// pdfLocked walks a PDF that asks for a password. Its first entry,
// "document", stands for the document: a password candidate that fits
// (the user password, or the owner password, which readers take at the
// same prompt) "decrypts" it, and its content is empty. The files the
// document embeds follow, found with the file encryption key of that
// password, each an encrypted entry that the candidates that fit open.
type pdfLocked struct {
	ra         io.ReaderAt
	size       int64
	head, tail []byte
	sec        pdfSecurity
	sent       bool
	// fitted: a candidate fitted, and gave crypt, or cryptErr when its
	// key decrypts nothing here.
	fitted   bool
	crypt    *pdfCrypt
	cryptErr error
	// tried holds the candidates checked, and whether they fit.
	tried map[string]bool
	rest  arcWalker
}

func (w *pdfLocked) actualFormat() string { return FormatPDFEncrypt }

func (w *pdfLocked) next() (*arcEntry, error) {
	switch {
	case !w.sent:
		w.sent = true
		return &arcEntry{
			name:      "document",
			encrypted: true,
			locked:    "encrypted PDF (" + w.sec.what() + ")",
			decrypt: func(pw []byte) (io.ReadCloser, error) {
				if !w.fits(pw) {
					return nil, errWrongPassword
				}
				return io.NopCloser(bytes.NewReader(nil)), nil
			},
		}, nil
	case !w.fitted:
		return nil, io.EOF
	case w.rest == nil:
		w.rest = w.embedded()
	}
	return w.rest.next()
}

// fits checks pw, once: the first that fits gives the key.
func (w *pdfLocked) fits(pw []byte) bool {
	if ok, seen := w.tried[string(pw)]; seen {
		return ok
	}
	c, ok, err := w.sec.unlock(pw)
	if ok && !w.fitted {
		w.fitted, w.crypt, w.cryptErr = true, c, err
	}
	w.tried[string(pw)] = ok
	return ok
}

// embedded walks the files the document embeds, once a candidate fitted:
// encrypted entries, which a candidate that fits decrypts.
func (w *pdfLocked) embedded() arcWalker {
	if w.cryptErr != nil {
		u, err := pdfUndecrypted(w.ra, w.size, w.head, w.tail, w.cryptErr, GapEncrypted)
		if err != nil {
			return &cfbWalker{}
		}
		return u
	}
	e, err := openPDFEmbedded(w.ra, w.size, w.head, w.tail, w.crypt)
	if err != nil {
		return &cfbWalker{}
	}
	for _, f := range e.entries {
		open := f.open
		f.encrypted, f.open = true, nil
		f.decrypt = func(pw []byte) (io.ReadCloser, error) {
			if !w.fits(pw) {
				return nil, errWrongPassword
			}
			rc, err := open()
			if err != nil {
				return nil, fmt.Errorf("%w: %v", errFitsUnreadable, err)
			}
			return pdfFitsReader{rc}, nil
		}
	}
	return e
}

// pdfFitsReader reads an embedded file decrypted with a password that
// fits: an error in its data is not the password's.
type pdfFitsReader struct{ io.ReadCloser }

func (r pdfFitsReader) Read(p []byte) (int, error) {
	n, err := r.ReadCloser.Read(p)
	if err != nil && err != io.EOF {
		err = fmt.Errorf("%w: %v", errFitsUnreadable, err)
	}
	return n, err
}

// pdfUndecrypted is the walker of a PDF opened with a password whose
// objects cannot be decrypted (why): a gap of class when they may embed
// files, nothing when its names say they do not (dictionaries are in
// clear, object streams are not).
func pdfUndecrypted(ra io.ReaderAt, size int64, head, tail []byte, why error, class GapClass) (arcWalker, error) {
	if hits, _ := pdfHits(ra, size, head, tail); hits == 0 {
		return nil, errNotContainer
	}
	stop := &arcStop{class: class, why: "encrypted PDF: embedded files not decrypted: " + why.Error()}
	if class == GapEncrypted {
		stop.encrypted, stop.sealed = true, true
	}
	return &cfbWalker{format: "pdf", stop: stop}, nil
}

// pdfRead reads n bytes at off, fewer at the end of the file.
func pdfRead(ra io.ReaderAt, off, n int64) []byte {
	b := make([]byte, n)
	m, _ := ra.ReadAt(b, off)
	return b[:m]
}

// pdfEncryptDicts returns the trailer dictionaries and cross-reference
// stream dictionaries in b (each from its "<<", at most maxPDFObjSize
// bytes) that have an /Encrypt key. The first maxPDFKeywords of each kind
// are looked at: a file has a few, one per update.
func pdfEncryptDicts(b []byte) [][]byte {
	var out [][]byte
	for i, n := 0, 0; n < maxPDFKeywords; n++ {
		j := bytes.Index(b[i:], []byte("trailer"))
		if j < 0 {
			break
		}
		i += j + len("trailer")
		if k := bytes.Index(b[i:min(len(b), i+64)], []byte("<<")); k >= 0 && pdfDictHas(b[i+k:], "/Encrypt") {
			out = append(out, b[i+k:min(len(b), i+k+maxPDFObjSize)])
		}
	}
	for i, n := 0, 0; n < maxPDFKeywords; n++ {
		j := bytes.Index(b[i:], []byte("/XRef"))
		if j < 0 {
			break
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
			out = append(out, b[start+k:min(len(b), start+k+maxPDFObjSize)])
		}
	}
	return out
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

// Bounds of the reading of encryption dictionaries: how deep objects
// nest, how many objects one dictionary may hold, how much of the file
// an indirect encryption dictionary is read from, and how many
// definitions of it (incremental updates, ISO 32000-1 7.5.6) are read.
const (
	maxPDFDepth   = 16
	maxPDFObjects = 4096
	maxPDFObjSize = 64 << 10
	maxPDFDefs    = 16
	maxPDFRefs    = 4
	// maxPDFKeywords bounds the trailers looked at in each MiB read.
	maxPDFKeywords = 256
)

// pdfKind is the type of a PDF object (ISO 32000-1 7.3).
type pdfKind byte

const (
	pdfOther  pdfKind = iota // a number, a boolean, null
	pdfName                  // 7.3.5
	pdfString                // 7.3.4, literal or hexadecimal
	pdfArray                 // 7.3.6
	pdfDict                  // 7.3.7
	pdfRef                   // 7.3.10, "12 0 R"
)

// pdfObject is a PDF object as the security handler reads it.
type pdfObject struct {
	kind  pdfKind
	s     []byte // a string's bytes, a name without its solidus, a number's or keyword's text
	items []pdfObject
	dict  map[string]pdfObject
	num   int64 // a reference's object number
	gen   int64 // and generation
}

// pdfParser reads objects from b, within maxPDFObjects objects.
type pdfParser struct {
	b      []byte
	i      int
	budget int
}

// errPDFSyntax: the bytes are not the object they should be.
var errPDFSyntax = errors.New("PDF syntax error")

// pdfWhite and pdfDelim are the white-space and delimiter characters
// (ISO 32000-1 7.2.2).
const (
	pdfWhite = "\x00\t\n\f\r "
	pdfDelim = "()<>[]{}/%"
)

func pdfRegular(c byte) bool {
	return !strings.ContainsRune(pdfWhite, rune(c)) && !strings.ContainsRune(pdfDelim, rune(c))
}

// space skips white space and comments (7.2.3).
func (p *pdfParser) space() {
	for p.i < len(p.b) {
		switch c := p.b[p.i]; {
		case c == '%':
			for p.i < len(p.b) && p.b[p.i] != '\r' && p.b[p.i] != '\n' {
				p.i++
			}
		case strings.ContainsRune(pdfWhite, rune(c)):
			p.i++
		default:
			return
		}
	}
}

// token reads a run of regular characters.
func (p *pdfParser) token() []byte {
	s := p.i
	for p.i < len(p.b) && pdfRegular(p.b[p.i]) {
		p.i++
	}
	return p.b[s:p.i]
}

// object reads the object at p.i.
func (p *pdfParser) object(depth int) (pdfObject, error) {
	p.space()
	if p.budget--; p.budget < 0 || depth > maxPDFDepth || p.i >= len(p.b) {
		return pdfObject{}, errPDFSyntax
	}
	switch c := p.b[p.i]; {
	case c == '<' && p.i+1 < len(p.b) && p.b[p.i+1] == '<':
		p.i += 2
		d := map[string]pdfObject{}
		for {
			p.space()
			if p.i+1 < len(p.b) && p.b[p.i] == '>' && p.b[p.i+1] == '>' {
				p.i += 2
				return pdfObject{kind: pdfDict, dict: d}, nil
			}
			k, err := p.object(depth + 1)
			if err != nil || k.kind != pdfName {
				return pdfObject{}, errPDFSyntax
			}
			v, err := p.object(depth + 1)
			if err != nil {
				return pdfObject{}, err
			}
			d[string(k.s)] = v
		}
	case c == '[':
		p.i++
		var items []pdfObject
		for {
			p.space()
			if p.i < len(p.b) && p.b[p.i] == ']' {
				p.i++
				return pdfObject{kind: pdfArray, items: items}, nil
			}
			v, err := p.object(depth + 1)
			if err != nil {
				return pdfObject{}, err
			}
			items = append(items, v)
		}
	case c == '<':
		return p.hexString()
	case c == '(':
		return p.literalString()
	case c == '/':
		p.i++
		return pdfObject{kind: pdfName, s: pdfNameBytes(p.token())}, nil
	case pdfRegular(c):
		t := p.token()
		if n, ok := pdfInt(t); ok {
			// "12 0 R" is a reference; a number alone is a number.
			save := p.i
			p.space()
			if g, ok := pdfInt(p.token()); ok {
				p.space()
				if r := p.token(); string(r) == "R" {
					return pdfObject{kind: pdfRef, num: n, gen: g}, nil
				}
			}
			p.i = save
		}
		if len(t) == 0 {
			return pdfObject{}, errPDFSyntax
		}
		return pdfObject{s: t}, nil
	}
	return pdfObject{}, errPDFSyntax
}

// pdfInt reads a non-negative integer of at most 10 digits.
func pdfInt(t []byte) (int64, bool) {
	if len(t) == 0 || len(t) > 10 {
		return 0, false
	}
	var n int64
	for _, c := range t {
		if c < '0' || c > '9' {
			return 0, false
		}
		n = n*10 + int64(c-'0')
	}
	return n, true
}

// pdfNameBytes decodes the #xx escapes of a name (7.3.5).
func pdfNameBytes(t []byte) []byte {
	var out []byte
	for i := 0; i < len(t); i++ {
		if t[i] == '#' && i+2 < len(t) {
			if v, err := strconv.ParseUint(string(t[i+1:i+3]), 16, 8); err == nil {
				out = append(out, byte(v))
				i += 2
				continue
			}
		}
		out = append(out, t[i])
	}
	return out
}

// hexString reads a hexadecimal string (7.3.4.3): white space is
// ignored, and a last odd digit is followed by 0.
func (p *pdfParser) hexString() (pdfObject, error) {
	p.i++
	var out []byte
	half, odd := byte(0), false
	for ; p.i < len(p.b); p.i++ {
		c := p.b[p.i]
		var v byte
		switch {
		case c == '>':
			p.i++
			if odd {
				out = append(out, half<<4)
			}
			return pdfObject{kind: pdfString, s: out}, nil
		case isHex(c):
			v = unhex(c)
		case strings.ContainsRune(pdfWhite, rune(c)):
			continue
		default:
			return pdfObject{}, errPDFSyntax
		}
		if odd {
			out = append(out, half<<4|v)
		}
		half, odd = v, !odd
	}
	return pdfObject{}, errPDFSyntax
}

// literalString reads a literal string (7.3.4.2): balanced parentheses,
// the escapes \n \r \t \b \f \( \) \\ and \ddd, a backslash before an
// end of line that continues the string, and an end of line (CR, LF or
// CR LF) that is read as LF.
func (p *pdfParser) literalString() (pdfObject, error) {
	p.i++
	var out []byte
	depth := 1
	for p.i < len(p.b) {
		c := p.b[p.i]
		p.i++
		switch c {
		case '(':
			depth++
		case ')':
			if depth--; depth == 0 {
				return pdfObject{kind: pdfString, s: out}, nil
			}
		case '\r':
			if p.i < len(p.b) && p.b[p.i] == '\n' {
				p.i++
			}
			c = '\n'
		case '\\':
			if p.i >= len(p.b) {
				return pdfObject{}, errPDFSyntax
			}
			e := p.b[p.i]
			p.i++
			switch e {
			case 'n':
				c = '\n'
			case 'r':
				c = '\r'
			case 't':
				c = '\t'
			case 'b':
				c = '\b'
			case 'f':
				c = '\f'
			case '\r':
				if p.i < len(p.b) && p.b[p.i] == '\n' {
					p.i++
				}
				continue
			case '\n':
				continue
			case '0', '1', '2', '3', '4', '5', '6', '7':
				v := int(e - '0')
				for k := 0; k < 2 && p.i < len(p.b) && p.b[p.i] >= '0' && p.b[p.i] <= '7'; k++ {
					v = v*8 + int(p.b[p.i]-'0')
					p.i++
				}
				c = byte(v)
			default:
				// \( \) \\, and a backslash before any other character,
				// which is ignored.
				c = e
			}
		}
		out = append(out, c)
	}
	return pdfObject{}, errPDFSyntax
}

// pdfParse reads the object at the start of b.
func pdfParse(b []byte) (pdfObject, error) {
	p := &pdfParser{b: b, budget: maxPDFObjects}
	return p.object(0)
}

// pdfSecurity is the encryption of a PDF by the standard security handler
// (ISO 32000-1 7.6.3; ISO 32000-2 7.6.4): what a password is checked
// against. A PDF may hold several (a linearized file's two trailers,
// incremental updates): a password opens the document when it opens
// each.
type pdfSecurity []*pdfStandard

// pdfStandard is one encryption dictionary of the standard security
// handler, with the first element of the file identifier.
type pdfStandard struct {
	v, r            int
	keyLen          int // bytes
	o, u            []byte
	oe, ue          []byte // revisions 5 and 6: the file key, encrypted
	p               uint32
	id              []byte
	encryptMetadata bool
	cipher          string
	// dict is the encryption dictionary, for its crypt filters.
	dict map[string]pdfObject
}

// pdfSecurityOf reads the encryption dictionary of each trailer dictionary
// in dicts: inline, or an indirect object found in the file. An error says
// why the PDF is encrypted in a way no password is checked on here.
func pdfSecurityOf(ra io.ReaderAt, size int64, dicts [][]byte) (pdfSecurity, error) {
	var sec pdfSecurity
	refs := map[[2]int64][]pdfObject{}
	for _, b := range dicts {
		t, err := pdfParse(b)
		if err != nil || t.kind != pdfDict {
			return nil, errors.New("its trailer cannot be read")
		}
		var id []byte
		if ids := t.dict["ID"]; ids.kind == pdfArray && len(ids.items) > 0 && ids.items[0].kind == pdfString {
			id = ids.items[0].s
		}
		encs := []pdfObject{t.dict["Encrypt"]}
		if r := encs[0]; r.kind == pdfRef {
			k := [2]int64{r.num, r.gen}
			if refs[k] == nil && len(refs) == maxPDFRefs {
				return nil, fmt.Errorf("its trailers name more than %d encryption dictionaries", maxPDFRefs)
			}
			if refs[k] == nil {
				if refs[k], err = pdfFindObject(ra, size, r.num, r.gen); err != nil {
					return nil, err
				}
			}
			encs = refs[k]
		}
		for _, e := range encs {
			s, err := pdfStandardOf(e, id)
			if err != nil {
				return nil, err
			}
			sec = append(sec, s)
		}
	}
	return sec, nil
}

// pdfFindObject returns each definition of object num gen ("12 0 obj",
// 7.3.10) in the file, read from the bytes after "obj". The encryption
// dictionary is never in an object stream (7.5.7), so it is there as
// written.
func pdfFindObject(ra io.ReaderAt, size int64, num, gen int64) ([]pdfObject, error) {
	const chunk = 1 << 20
	want := fmt.Appendf(nil, "%d %d", num, gen)
	var out []pdfObject
	for off := int64(0); off < size; off += chunk {
		// A little before the chunk, for the numbers of an "obj" at its
		// start, and a little after, for an "obj" cut at its end.
		from := max(0, off-32)
		b := pdfRead(ra, from, min(size, off+chunk+3)-from)
		for i := int(off - from); i < len(b) && int64(i) < off-from+chunk; {
			j := bytes.Index(b[i:], []byte("obj"))
			if j < 0 || int64(i+j) >= off-from+chunk {
				break
			}
			at := i + j
			i = at + 3
			if at+3 < len(b) && pdfRegular(b[at+3]) || !pdfObjHeader(b[:at], want) {
				continue
			}
			if len(out) == maxPDFDefs {
				return nil, fmt.Errorf("its encryption dictionary is defined more than %d times", maxPDFDefs)
			}
			o, err := pdfParse(pdfRead(ra, from+int64(at+3), maxPDFObjSize))
			if err != nil {
				return nil, errors.New("its encryption dictionary cannot be read")
			}
			out = append(out, o)
		}
	}
	if len(out) == 0 {
		return nil, fmt.Errorf("its encryption dictionary (object %d %d) is not in the file", num, gen)
	}
	return out, nil
}

// pdfObjHeader reports whether b ends with "num gen" and white space, the
// number not preceded by a regular character.
func pdfObjHeader(b, want []byte) bool {
	e := len(b)
	for e > 0 && strings.ContainsRune(pdfWhite, rune(b[e-1])) {
		e--
	}
	if e == len(b) {
		return false
	}
	// Normalise the white space between the two numbers to one space.
	g := e
	for g > 0 && b[g-1] >= '0' && b[g-1] <= '9' {
		g--
	}
	w := g
	for w > 0 && strings.ContainsRune(pdfWhite, rune(b[w-1])) {
		w--
	}
	n := w
	for n > 0 && b[n-1] >= '0' && b[n-1] <= '9' {
		n--
	}
	if g == e || w == g || n == w || n > 0 && pdfRegular(b[n-1]) {
		return false
	}
	return string(b[n:w])+" "+string(b[g:e]) == string(want)
}

// pdfStandardOf reads an encryption dictionary (ISO 32000-1 7.6.1 Table
// 20, 7.6.3.2 Table 21; ISO 32000-2 7.6.4.2 Table 21).
func pdfStandardOf(e pdfObject, id []byte) (*pdfStandard, error) {
	if e.kind != pdfDict {
		return nil, errors.New("its encryption dictionary cannot be read")
	}
	d := e.dict
	if f := d["Filter"]; f.kind != pdfName || string(f.s) != "Standard" {
		return nil, fmt.Errorf("protected by the security handler /%s (a certificate or a plug-in, no password)", pdfPrintable(f.s))
	}
	num := func(k string, def int64) (int64, bool) {
		o, ok := d[k]
		if !ok {
			return def, true
		}
		n, err := strconv.ParseInt(string(o.s), 10, 64)
		return n, o.kind == pdfOther && err == nil
	}
	v, ok1 := num("V", 0)
	r, ok2 := num("R", 0)
	bits, ok3 := num("Length", 40)
	p, ok4 := num("P", 0)
	if !ok1 || !ok2 || !ok3 || !ok4 {
		return nil, errors.New("its encryption dictionary cannot be read")
	}
	s := &pdfStandard{v: int(v), r: int(r), p: uint32(p), id: id, encryptMetadata: true,
		o: d["O"].s, u: d["U"].s, oe: d["OE"].s, ue: d["UE"].s, dict: d}
	if m := d["EncryptMetadata"]; m.kind == pdfOther && string(m.s) == "false" {
		s.encryptMetadata = false
	}
	switch {
	case r >= 2 && r <= 4:
		// The key length: 40 bits for revision 2 (Algorithm 2, step i),
		// /Length otherwise; V 4 without /Length is AES-128 or RC4-128.
		s.keyLen = int(bits / 8)
		if _, ok := d["Length"]; !ok && v == 4 {
			s.keyLen = 16
		}
		if r == 2 {
			s.keyLen = 5
		}
		if bits%8 != 0 || s.keyLen < 5 || s.keyLen > 16 || len(s.o) < 32 || len(s.u) < 32 {
			return nil, errors.New("its encryption dictionary of revision " + strconv.FormatInt(r, 10) + " is malformed")
		}
		s.cipher = fmt.Sprintf("RC4-%d", s.keyLen*8)
		// Version 4 encrypts streams by the crypt filter /StmF names.
		stmF := "StdCF"
		if n := d["StmF"]; n.kind == pdfName {
			stmF = string(n.s)
		}
		switch cf := d["CF"].dict[stmF].dict["CFM"]; {
		case v != 4 || cf.kind != pdfName || string(cf.s) == "V2" || string(cf.s) == "None":
		case string(cf.s) == "AESV2":
			s.cipher = "AES-128"
		default:
			s.cipher = "crypt filter method /" + pdfPrintable(cf.s)
		}
	case (r == 5 || r == 6) && v == 5:
		if len(s.u) < 48 {
			return nil, errors.New("its encryption dictionary of revision " + strconv.FormatInt(r, 10) + " is malformed")
		}
		s.cipher = "AES-256"
	default:
		return nil, fmt.Errorf("standard security handler of version %d, revision %d", v, r)
	}
	return s, nil
}

// pdfPrintable is a name as gap reasons show it: printable ASCII, at most
// 32 bytes.
func pdfPrintable(b []byte) string {
	s := []byte{}
	for _, c := range b[:min(len(b), 32)] {
		if c > ' ' && c < 0x7f {
			s = append(s, c)
		}
	}
	return string(s)
}

// what names the encryption for gap reasons.
func (sec pdfSecurity) what() string {
	s := sec[len(sec)-1]
	return fmt.Sprintf("standard security handler, revision %d, %s", s.r, s.cipher)
}

// unlock checks pw against each encryption dictionary (nil is the
// empty password): fits when it opens each, and then c decrypts the
// document's objects, or err says why they cannot be decrypted here.
func (sec pdfSecurity) unlock(pw []byte) (c *pdfCrypt, fits bool, err error) {
	for _, s := range sec {
		key, ok := s.unlock(pw)
		if !ok {
			return nil, false, nil
		}
		if err != nil {
			continue
		}
		sc, e := s.crypt(key)
		switch {
		case e != nil:
			err = e
		case c == nil:
			c = sc
		case !c.equal(sc):
			// Updates that encrypt anew: which objects each key
			// decrypts is not known.
			err = errors.New("its encryption dictionaries differ")
		}
	}
	if err != nil {
		c = nil
	}
	return c, len(sec) > 0, err
}

// unlock checks pw as the user password, then as the owner password,
// which readers take at the same prompt (a PDF whose owner password is
// empty opens without one), and returns the file encryption key it gives;
// nil for a password that fits a dictionary of revision 5 or 6 whose /UE
// or /OE is malformed. Revisions 2 to 4 take the password in
// PDFDocEncoding (ISO 32000-1 7.6.3.3: Latin-1 for the characters that
// matter here, the UTF-8 bytes tried too); revisions 5 and 6 in UTF-8
// (ISO 32000-2 7.6.4.3.3: SASLprep is not applied), at most 127 bytes.
func (s *pdfStandard) unlock(pw []byte) (key []byte, fits bool) {
	if s.r >= 5 {
		pw = pw[:min(len(pw), 127)]
		// Algorithm 11 (user) and 12 (owner): the hash of the password
		// with the validation salt, and for the owner /U's 48 bytes, is
		// the first 32 bytes of /U or /O. Revision 5 (Adobe's
		// extension level 3) hashes with one SHA-256 round.
		hash := func(salt, udata []byte) []byte {
			if s.r == 5 {
				h := sha256.New()
				h.Write(pw)
				h.Write(salt)
				h.Write(udata)
				return h.Sum(nil)
			}
			return pdfHash2B(pw, salt, udata)
		}
		// Algorithm 2.A: the hash with the key salt decrypts /UE or
		// /OE, AES-256 with no padding and a zero IV, into the key.
		fileKey := func(k, e []byte) []byte {
			if len(e) != 32 {
				return nil
			}
			b, _ := aes.NewCipher(k)
			out := make([]byte, 32)
			cipher.NewCBCDecrypter(b, make([]byte, 16)).CryptBlocks(out, e)
			return out
		}
		if subtle.ConstantTimeCompare(hash(s.u[32:40], nil), s.u[:32]) == 1 {
			return fileKey(hash(s.u[40:48], nil), s.ue), true
		}
		if len(s.o) >= 48 && subtle.ConstantTimeCompare(hash(s.o[32:40], s.u[:48]), s.o[:32]) == 1 {
			return fileKey(hash(s.o[40:48], s.u[:48]), s.oe), true
		}
		return nil, false
	}
	forms := [][]byte{pw}
	if l, ok := pdfLatin1(pw); ok && !bytes.Equal(l, pw) {
		forms = [][]byte{l, pw}
	}
	for _, f := range forms {
		if k := s.userKey(f); k != nil {
			return k, true
		}
		if k := s.userKey(s.ownerToUser(f)); k != nil {
			return k, true
		}
	}
	return nil, false
}

// ownerToUser is the user password that /O holds encrypted with the key
// of owner password pw (ISO 32000-1 7.6.3.4, Algorithm 7, with Algorithm
// 3 steps a to d): for revision 2, /O decrypted with RC4 once; from
// revision 3, 20 times, the key's bytes XORed with 19 down to 0.
func (s *pdfStandard) ownerToUser(pw []byte) []byte {
	key := md5.Sum(pdfPad(pw))
	if s.r >= 3 {
		for range 50 {
			key = md5.Sum(key[:])
		}
	}
	n := s.keyLen
	out := append([]byte(nil), s.o[:32]...)
	k := make([]byte, n)
	for i := 19; i >= 0; i-- {
		if s.r == 2 && i > 0 {
			continue
		}
		for j := range k {
			k[j] = key[j] ^ byte(i)
		}
		c, _ := rc4.NewCipher(k)
		c.XORKeyStream(out, out)
	}
	return out
}

// pdfPad is pw cut or padded to 32 bytes with pdfPadding (Algorithm 2,
// step a).
func pdfPad(pw []byte) []byte {
	return append(append([]byte(nil), pw[:min(len(pw), 32)]...), pdfPadding...)[:32]
}

// pdfLatin1 is pw in Latin-1, when each of its characters has a code
// there.
func pdfLatin1(pw []byte) ([]byte, bool) {
	var out []byte
	for _, r := range string(pw) {
		if r > 0xff {
			return nil, false
		}
		out = append(out, byte(r))
	}
	return out, true
}

// pdfPadding pads passwords to 32 bytes (ISO 32000-1 7.6.3.3, Algorithm
// 2, step a).
var pdfPadding = []byte{
	0x28, 0xbf, 0x4e, 0x5e, 0x4e, 0x75, 0x8a, 0x41, 0x64, 0x00, 0x4e, 0x56, 0xff, 0xfa, 0x01, 0x08,
	0x2e, 0x2e, 0x00, 0xb6, 0xd0, 0x68, 0x3e, 0x80, 0x2f, 0x0c, 0xa9, 0xfe, 0x64, 0x53, 0x69, 0x7a,
}

// userKey is Algorithm 6 (ISO 32000-1 7.6.3.4): the key of Algorithm 2
// computed from pw, when it gives, by Algorithm 4 (revision 2) or 5
// (revisions 3 and 4), the document's /U; nil otherwise.
func (s *pdfStandard) userKey(pw []byte) []byte {
	// Algorithm 2: MD5 of the padded password, /O, /P (low-order byte
	// first), the first element of /ID, and 0xFFFFFFFF when revision 4
	// leaves the metadata in clear; 50 more rounds from revision 3.
	h := md5.New()
	h.Write(pdfPad(pw))
	h.Write(s.o[:32])
	var p [4]byte
	binary.LittleEndian.PutUint32(p[:], s.p)
	h.Write(p[:])
	h.Write(s.id)
	if s.r >= 4 && !s.encryptMetadata {
		h.Write([]byte{0xff, 0xff, 0xff, 0xff})
	}
	key := h.Sum(nil)
	if s.r >= 3 {
		for range 50 {
			sum := md5.Sum(key[:s.keyLen])
			key = sum[:]
		}
	}
	key = key[:s.keyLen]
	rc := func(k, data []byte) []byte {
		c, _ := rc4.NewCipher(k)
		out := make([]byte, len(data))
		c.XORKeyStream(out, data)
		return out
	}
	fits := func(ok bool) []byte {
		if ok {
			return key
		}
		return nil
	}
	if s.r == 2 {
		// Algorithm 4: the padding string encrypted with the key.
		return fits(subtle.ConstantTimeCompare(rc(key, pdfPadding), s.u[:32]) == 1)
	}
	// Algorithm 5: MD5 of the padding string and the first element of
	// /ID, encrypted with the key, then 19 times with the key's bytes
	// XORed with the round number; the first 16 bytes of /U.
	h.Reset()
	h.Write(pdfPadding)
	h.Write(s.id)
	x := rc(key, h.Sum(nil))
	k := make([]byte, len(key))
	for i := 1; i <= 19; i++ {
		for j := range key {
			k[j] = key[j] ^ byte(i)
		}
		x = rc(k, x)
	}
	return fits(subtle.ConstantTimeCompare(x, s.u[:16]) == 1)
}

// pdfHash2B is the hash of revision 6 (ISO 32000-2 7.6.4.3.4, Algorithm
// 2.B): SHA-256 of the password, salt and user data, then rounds that
// encrypt 64 copies of password, hash and user data with AES-128-CBC
// (key and IV from the hash) and hash the result with SHA-256, -384 or
// -512 as its first 16 bytes, summed, are modulo 3; at least 64 rounds,
// and more while the last byte of the encrypted data exceeds the round
// number less 32. The last hash's first 32 bytes.
func pdfHash2B(pw, salt, udata []byte) []byte {
	h := sha256.New()
	h.Write(pw)
	h.Write(salt)
	h.Write(udata)
	k := h.Sum(nil)
	for round := 1; ; round++ {
		one := append(append(append([]byte(nil), pw...), k...), udata...)
		k1 := bytes.Repeat(one, 64)
		b, _ := aes.NewCipher(k[:16])
		e := make([]byte, len(k1))
		cipher.NewCBCEncrypter(b, k[16:32]).CryptBlocks(e, k1)
		sum := 0
		for _, c := range e[:16] {
			sum += int(c)
		}
		switch sum % 3 {
		case 0:
			s := sha256.Sum256(e)
			k = s[:]
		case 1:
			s := sha512.Sum384(e)
			k = s[:]
		default:
			s := sha512.Sum512(e)
			k = s[:]
		}
		// Steps e and f: the test starts once 64 rounds are done, the
		// rounds numbered from 1.
		if round >= 64 && int(e[len(e)-1]) <= round-32 {
			return k[:32]
		}
	}
}

// pdfCrypt decrypts the strings and streams of a PDF (ISO 32000-1 7.6.2,
// 7.6.5; ISO 32000-2 7.6.3): with RC4 or AES-128 and a key for each object
// (Algorithm 1), or with AES-256 and the file key itself. A method is ""
// (the identity: not encrypted), "V2" (RC4), "AESV2" (AES-128-CBC) or
// "AESV3" (AES-256-CBC).
type pdfCrypt struct {
	key []byte
	// The methods of strings, of streams, and of embedded file streams
	// (/EFF, which defaults to /StmF), and of the crypt filters /CF
	// names, which a stream's /Crypt filter may name.
	str, stm, eff   string
	filters         map[string]string
	encryptMetadata bool
}

// crypt is how the document's objects are decrypted with key, the file
// encryption key: RC4 throughout for versions 1 and 2, the crypt filters
// of /StmF, /StrF and /EFF for versions 4 and 5 (7.6.5). What is not
// decrypted here (a method or a version unknown, a key length the method
// does not take) is an error that says so.
func (s *pdfStandard) crypt(key []byte) (*pdfCrypt, error) {
	c := &pdfCrypt{key: key, encryptMetadata: s.encryptMetadata}
	switch s.v {
	case 1, 2:
		c.str, c.stm, c.eff = "V2", "V2", "V2"
		return c, nil
	case 4, 5:
	default:
		return nil, fmt.Errorf("encryption version %d, which Sekisho does not decrypt", s.v)
	}
	if key == nil {
		return nil, errors.New("its /UE or /OE is malformed")
	}
	cf, ok := s.dict["CF"]
	if ok && cf.kind != pdfDict {
		return nil, errors.New("its /CF is not a dictionary")
	}
	c.filters = map[string]string{}
	for name, f := range cf.dict {
		m, has := f.dict["CFM"]
		if f.kind != pdfDict || has && m.kind != pdfName {
			return nil, fmt.Errorf("its crypt filter /%s cannot be read", pdfPrintable([]byte(name)))
		}
		method := string(m.s)
		switch {
		case !has || method == "None":
			method = ""
		case method == "V2" && s.v == 4, method == "AESV2" && s.v == 4 && len(key) == 16, method == "AESV3" && s.v == 5 && len(key) == 32:
		case method == "AESV2" && s.v == 4:
			return nil, fmt.Errorf("its crypt filter /%s is AES-128 with a key of %d bits", pdfPrintable([]byte(name)), 8*len(key))
		default:
			return nil, fmt.Errorf("its crypt filter /%s: method /%s in version %d, which Sekisho does not decrypt",
				pdfPrintable([]byte(name)), pdfPrintable(m.s), s.v)
		}
		c.filters[name] = method
	}
	pick := func(k, def string) (string, error) {
		name := def
		if n, ok := s.dict[k]; ok {
			if n.kind != pdfName {
				return "", fmt.Errorf("its /%s is not a name", k)
			}
			name = string(n.s)
		}
		return c.filter(name)
	}
	var err error
	if c.str, err = pick("StrF", "Identity"); err != nil {
		return nil, err
	}
	if c.stm, err = pick("StmF", "Identity"); err != nil {
		return nil, err
	}
	c.eff = c.stm
	if _, ok := s.dict["EFF"]; ok {
		if c.eff, err = pick("EFF", ""); err != nil {
			return nil, err
		}
	}
	return c, nil
}

// filter is the method of the crypt filter name: /Identity is the
// identity, whatever /CF says (7.6.5).
func (c *pdfCrypt) filter(name string) (string, error) {
	if name == "Identity" {
		return "", nil
	}
	m, ok := c.filters[name]
	if !ok {
		return "", fmt.Errorf("the crypt filter /%s, which its /CF does not define", pdfPrintable([]byte(name)))
	}
	return m, nil
}

// equal reports whether c and d decrypt the same way.
func (c *pdfCrypt) equal(d *pdfCrypt) bool {
	return bytes.Equal(c.key, d.key) && c.str == d.str && c.stm == d.stm && c.eff == d.eff &&
		c.encryptMetadata == d.encryptMetadata && maps.Equal(c.filters, d.filters)
}

// decrypt decrypts data, a string or stream of object num gen, with
// method.
func (c *pdfCrypt) decrypt(method string, num, gen int64, data []byte) ([]byte, error) {
	switch method {
	case "":
		return data, nil
	case "AESV3":
		return pdfAESDecrypt(c.key, data)
	}
	// Algorithm 1: MD5 of the file key, the low-order 3 bytes of the
	// object number and 2 of the generation, low-order first, and
	// "sAlT" for AES; its first n+5 bytes, 16 at most.
	h := md5.New()
	h.Write(c.key)
	h.Write([]byte{byte(num), byte(num >> 8), byte(num >> 16), byte(gen), byte(gen >> 8)})
	if method == "AESV2" {
		h.Write([]byte("sAlT"))
	}
	k := h.Sum(nil)[:min(len(c.key)+5, 16)]
	if method == "AESV2" {
		return pdfAESDecrypt(k, data)
	}
	r, _ := rc4.NewCipher(k)
	out := make([]byte, len(data))
	r.XORKeyStream(out, data)
	return out, nil
}

// pdfAESDecrypt decrypts data, a 16-byte IV and AES-CBC blocks padded as
// PKCS#5 says (7.6.2). An empty string is empty.
func pdfAESDecrypt(key, data []byte) ([]byte, error) {
	if len(data) == 0 {
		return nil, nil
	}
	if len(data)%16 != 0 {
		return nil, fmt.Errorf("AES data of %d bytes, not whole blocks", len(data))
	}
	b, err := aes.NewCipher(key)
	if err != nil {
		return nil, err
	}
	out := make([]byte, len(data)-16)
	cipher.NewCBCDecrypter(b, data[:16]).CryptBlocks(out, data[16:])
	if len(out) == 0 {
		return out, nil
	}
	n := int(out[len(out)-1])
	if n == 0 || n > 16 || !bytes.Equal(out[len(out)-n:], bytes.Repeat(out[len(out)-1:], n)) {
		return nil, errors.New("AES data with bad padding")
	}
	return out[:len(out)-n], nil
}

// strings decrypts the strings in v, at any depth, those of object num
// gen; objects of an object stream have theirs decrypted with the stream
// (7.6.2).
func (c *pdfCrypt) strings(v *pdfObject, num, gen int64, depth int) error {
	if depth > maxPDFDepth {
		return nil
	}
	switch v.kind {
	case pdfString:
		d, err := c.decrypt(c.str, num, gen, v.s)
		if err != nil {
			return err
		}
		v.s = d
	case pdfArray:
		for i := range v.items {
			if err := c.strings(&v.items[i], num, gen, depth+1); err != nil {
				return err
			}
		}
	case pdfDict:
		for k, x := range v.dict {
			if err := c.strings(&x, num, gen, depth+1); err != nil {
				return err
			}
			v.dict[k] = x
		}
	}
	return nil
}
