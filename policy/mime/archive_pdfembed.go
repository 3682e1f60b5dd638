package mime

// Files embedded in PDFs (ISO 32000-1 7.11.3-4): a file specification
// dictionary (/Type /Filespec) whose /EF dictionary names, under /UF, /F
// and the platform keys, an embedded file stream (/Type /EmbeddedFile,
// the type optional). Acrobat, Edge, Firefox and Evince list the files
// of the /EmbeddedFiles name tree, of /FileAttachment annotations and of
// associated files in an attachments pane, and save and open them: a PDF
// that embeds files is a container whose entries are those files, named
// by /UF, else /F, /Unix, /Mac or /DOS (pdf.js's order), without their
// path. A PDF that embeds none is not a container.
//
// Files are found by content, since whoever writes the PDF writes its
// cross-reference table too: every "N G obj" header in the file is read,
// its object parsed, and every dictionary in it (at any depth: an
// annotation holds its file specification inline) that has an /EF key is
// a file specification, reachable from the catalog or not. Object streams
// (7.5.7: PDF 1.5 files hold most dictionaries there, compressed) are
// decoded and their objects read by the offsets of their header, as
// readers read them. Each definition of an object number (an
// incremental update defines it again) is read, and a reference resolves
// to each: the union of what any revision shows is judged.
//
// A stream of /Type /EmbeddedFile that no file specification names is not
// listed, and is no gap: readers show embedded files through file
// specifications only, so nothing shows it to the recipient, and naming
// it after nothing ("no extension") would refuse legitimate mail for a
// reason that is not true. That holds only when the whole file was read:
// an object stream that cannot be decoded, an object that names /EF and
// cannot be parsed, or a bound reached ends the reading with a gap, since
// what was not read may hold a file specification.
//
// Cheap when there is nothing to find: an embedded file needs an /EF key,
// written in the file or in an object stream, and an object stream needs
// /First (pdf.js and Poppler refuse one without it) or is typed /ObjStm.
// The file's names, stream data included, are first scanned for /EF,
// /EmbeddedFile, /EmbeddedFiles, /First and /ObjStm, after decoding their
// #xx escapes (7.3.5: /E#46 is /EF), so that no spelling escapes the
// check; only a PDF with one of them is read whole (up to maxPDFScanSize)
// and parsed, and then only its objects that hold one of them, and the
// objects its file specifications refer to.
//
// Stream data is decoded through /FlateDecode (zlib, or raw deflate as
// readers accept it; the Adler-32 is not checked, as readers do not),
// /ASCIIHexDecode, /ASCII85Decode, /RunLengthDecode, and /LZWDecode with
// /EarlyChange 0; anything else (LZW's default early change, which
// compress/lzw does not read, predictors, image filters) leaves the
// entry unread, a gap with the filter named. An entry's content is
// decoded as it is read: its head, and for a nested archive what the
// message's budget of extracted bytes allows. The object streams read to
// find file specifications are bounded per PDF (maxPDFObjStmBytes), since
// a container is not given the message's budget.
//
// An encrypted PDF (see archive_pdf.go) is read the same way once a
// password opens it: the strings of each object in the file are decrypted
// as it is parsed, with the key of its object number, and stream data
// before its filters; objects in an object stream are decrypted with the
// stream, and their strings are not decrypted again (ISO 32000-1 7.6.2).
// Cross-reference streams, never encrypted, are not read.
//
// The reader is hand-written (no PDF library on the Go module proxy reads
// hostile input within bounds) and reuses archive_pdf.go's tokenizer.

import (
	"bufio"
	"bytes"
	"compress/flate"
	"compress/lzw"
	"encoding/ascii85"
	"errors"
	"fmt"
	"io"
	"slices"
	"strings"
	"unicode/utf16"
	"unicode/utf8"
)

// Bounds of the search for embedded files.
const (
	// maxPDFScanSize: a PDF whose names say it may embed files is read
	// whole into memory, up to this size.
	maxPDFScanSize = 64 << 20
	// maxPDFHeaders bounds the object headers read, and the objects
	// read from object streams.
	maxPDFHeaders = 1 << 17
	// maxPDFObjStms and maxPDFObjStmBytes bound the object streams
	// decoded, in number and in decoded bytes.
	maxPDFObjStms     = 1 << 12
	maxPDFObjStmBytes = 32 << 20
	// maxPDFParse bounds the bytes parsed in all (objects of object
	// streams may overlap), beyond four times the file's size.
	maxPDFParse = 64 << 20
	// maxPDFFilters bounds a stream's chain of filters.
	maxPDFFilters = 8
	// maxPDFFileSpecs bounds the file specifications read.
	maxPDFFileSpecs = 1 << 12
)

// The names the pre-check looks for.
const (
	pdfHitFile   = 1 << iota // /EF, /EmbeddedFile, /EmbeddedFiles
	pdfHitObjStm             // /First, /ObjStm
)

// pdfIsRegular tells PDF's regular characters (7.2.2) by table: the name
// scan runs over every byte of a PDF.
var pdfIsRegular = func() (t [256]bool) {
	for c := range t {
		t[c] = pdfRegular(byte(c))
	}
	return t
}()

// pdfNameHits reports which of the names that matter (pdfHitFile,
// pdfHitObjStm) b holds, #xx escapes decoded. Names in stream data count
// too: a hit there only costs a closer look.
func pdfNameHits(b []byte) int {
	hits := 0
	for i := 0; i < len(b); {
		j := bytes.IndexByte(b[i:], '/')
		if j < 0 {
			break
		}
		i += j + 1
		if i >= len(b) {
			break
		}
		// Every name looked for starts with E, F or O, or an escape.
		if c := b[i]; c != 'E' && c != 'F' && c != 'O' && c != '#' {
			continue
		}
		k := i
		for k < len(b) && k-i < 64 && pdfIsRegular[b[k]] {
			k++
		}
		t := b[i:k]
		i = k
		if bytes.IndexByte(t, '#') >= 0 {
			// Decoded on the stack: '#' is frequent in stream data.
			var buf [64]byte
			n := 0
			for j := 0; j < len(t); j++ {
				c := t[j]
				if c == '#' && j+2 < len(t) {
					if h, ok := pdfHexByte(t[j+1], t[j+2]); ok {
						c = h
						j += 2
					}
				}
				buf[n] = c
				n++
			}
			t = buf[:n]
		}
		switch string(t) {
		case "EF", "EmbeddedFile", "EmbeddedFiles":
			hits |= pdfHitFile
		case "First", "ObjStm":
			hits |= pdfHitObjStm
		}
	}
	return hits
}

// pdfHexByte is the byte of two hexadecimal digits.
func pdfHexByte(a, b byte) (byte, bool) {
	if !isHex(a) || !isHex(b) {
		return 0, false
	}
	return unhex(a)<<4 | unhex(b), true
}

// pdfFileHits scans the names of the whole file, in chunks of a MiB that
// overlap by more than a name looked for can take.
func pdfFileHits(ra io.ReaderAt, size int64) int {
	const chunk, overlap = 1 << 20, 256
	hits := 0
	buf := make([]byte, min(size, chunk+overlap))
	for off := int64(0); off < size; off += chunk {
		n, _ := ra.ReadAt(buf[:min(int64(len(buf)), size-off)], off)
		hits |= pdfNameHits(buf[:n])
	}
	return hits
}

// pdfHits reports which of the names that matter the PDF in ra holds,
// and the whole file when head, the first pdfWindow bytes openPDF read,
// is all of it. tail is the last pdfWindow bytes (nil when head is the
// whole file): a file they cover is not read again.
func pdfHits(ra io.ReaderAt, size int64, head, tail []byte) (int, []byte) {
	switch {
	case tail == nil && int64(len(head)) == size:
		return pdfNameHits(head), head
	case int64(len(head)+len(tail)) == size:
		// Head and tail meet: the names across the seam are read too.
		seam := int64(len(head))
		return pdfNameHits(head) | pdfNameHits(tail) | pdfNameHits(pdfRead(ra, max(0, seam-128), min(size, seam+128)-max(0, seam-128))), nil
	}
	return pdfFileHits(ra, size), nil
}

// openPDFEmbedded looks for the files embedded in the PDF in ra: a walker
// of them, or errNotContainer when there are none. head and tail are as
// pdfHits takes them. c decrypts the objects of an encrypted PDF, nil for
// one that is not encrypted.
func openPDFEmbedded(ra io.ReaderAt, size int64, head, tail []byte, c *pdfCrypt) (*cfbWalker, error) {
	hits, whole := pdfHits(ra, size, head, tail)
	if hits == 0 {
		return nil, errNotContainer
	}
	if size > maxPDFScanSize {
		return &cfbWalker{format: "pdf", stop: &arcStop{class: GapLimit,
			why: fmt.Sprintf("PDF too big to look for embedded files: %d bytes, %d read at most", size, maxPDFScanSize)}}, nil
	}
	if whole == nil {
		whole = pdfRead(ra, 0, size)
	}
	s := &pdfScan{b: whole, crypt: c, parseLeft: maxPDFParse + 4*int64(len(whole)), objStmLeft: maxPDFObjStmBytes}
	s.scan()
	entries := s.entries()
	if len(entries) == 0 && s.stop == nil {
		return nil, errNotContainer
	}
	return &cfbWalker{format: "pdf", entries: entries, stop: s.stop}, nil
}

// pdfHeader is an object header ("N G obj") found in the file: the
// object's number and generation (-1 when they cannot be read), and the
// bytes from after "obj" to the next header.
type pdfHeader struct {
	num, gen   int64
	start, end int
}

// pdfDef is a definition of an object: its value, and where its stream
// data starts (-1 when it is no stream).
type pdfDef struct {
	num, gen int64
	val      pdfObject
	data     int // offset of the stream data in the file
}

// pdfScan is a PDF being searched for embedded files.
type pdfScan struct {
	b          []byte
	crypt      *pdfCrypt // nil when the PDF is not encrypted
	headers    []pdfHeader
	byNum      map[int64][]int // header indexes by object number
	parsed     map[int]*pdfDef // parsed headers by index
	stmObjs    map[int64][]*pdfDef
	specs      []pdfObject // file specification dictionaries
	parseLeft  int64
	objStmLeft int64
	objStms    int
	// ends are the offsets of every "endstream" in the file, found on
	// first use.
	ends []int
	stop *arcStop
}

// fail records why the reading is incomplete; the first reason stops the
// walk, after the entries found.
func (s *pdfScan) fail(class GapClass, why string) {
	if s.stop == nil {
		s.stop = &arcStop{class: class, why: why}
	}
}

// scan finds the object headers, parses the objects whose names may
// matter, and reads the object streams.
func (s *pdfScan) scan() {
	s.parsed = map[int]*pdfDef{}
	s.stmObjs = map[int64][]*pdfDef{}
	b := s.b
	for i := 0; ; {
		j := bytes.Index(b[i:], []byte("obj"))
		if j < 0 {
			break
		}
		at := i + j
		i = at + 3
		// "obj" is a token of its own (pdf.js also reads "obj12" as
		// "obj 12"), and not the end of "endobj".
		if at > 0 && pdfIsRegular[b[at-1]] || at+3 < len(b) && pdfIsRegular[b[at+3]] && (b[at+3] < '0' || b[at+3] > '9') {
			continue
		}
		if len(s.headers) == maxPDFHeaders {
			s.fail(GapLimit, fmt.Sprintf("PDF with more than %d objects: not all were looked at for embedded files", maxPDFHeaders))
			break
		}
		if n := len(s.headers); n > 0 {
			s.headers[n-1].end = at
		}
		num, gen := pdfHeaderNumbers(b[:at])
		s.headers = append(s.headers, pdfHeader{num: num, gen: gen, start: at + 3, end: len(b)})
	}
	var objStms []*pdfDef
	for k := range s.headers {
		h := &s.headers[k]
		hits := pdfNameHits(b[h.start:h.end])
		if hits == 0 {
			continue
		}
		d, err := s.parse(k)
		if err != nil {
			s.fail(GapArchive, fmt.Sprintf("PDF object %d %d cannot be read, and may be or hold a file specification: %v", h.num, h.gen, err))
			continue
		}
		s.collect(d.val, 0)
		if d.data < 0 || d.val.kind != pdfDict {
			continue
		}
		_, first := d.val.dict["First"]
		if t := d.val.dict["Type"]; first || t.kind == pdfName && string(t.s) == "ObjStm" {
			objStms = append(objStms, d)
		}
	}
	s.index()
	for _, d := range objStms {
		s.objStm(d)
	}
}

// pdfHeaderNumbers reads "N G" and white space at the end of b; -1, -1
// when they are not there.
func pdfHeaderNumbers(b []byte) (int64, int64) {
	e := len(b)
	for e > 0 && strings.IndexByte(pdfWhite, b[e-1]) >= 0 {
		e--
	}
	g := e
	for g > 0 && e-g < 11 && b[g-1] >= '0' && b[g-1] <= '9' {
		g--
	}
	w := g
	for w > 0 && strings.IndexByte(pdfWhite, b[w-1]) >= 0 {
		w--
	}
	n := w
	for n > 0 && w-n < 11 && b[n-1] >= '0' && b[n-1] <= '9' {
		n--
	}
	if g == e || w == g || n == w || n > 0 && pdfIsRegular[b[n-1]] {
		return -1, -1
	}
	num, ok1 := pdfInt(b[n:w])
	gen, ok2 := pdfInt(b[g:e])
	if !ok1 || !ok2 {
		return -1, -1
	}
	return num, gen
}

// parse parses the object of header k, once.
func (s *pdfScan) parse(k int) (*pdfDef, error) {
	if d := s.parsed[k]; d != nil {
		return d, nil
	}
	h := s.headers[k]
	if s.parseLeft <= 0 {
		return nil, errors.New("too much to parse")
	}
	p := &pdfParser{b: s.b[h.start:h.end], budget: maxPDFObjects * 16}
	v, err := p.object(0)
	s.parseLeft -= int64(p.i)
	if err != nil {
		return nil, err
	}
	// A cross-reference stream is not encrypted (7.5.8.2).
	if t := v.dict["Type"]; s.crypt != nil && h.num >= 0 && (t.kind != pdfName || string(t.s) != "XRef") {
		if err := s.crypt.strings(&v, h.num, h.gen, 0); err != nil {
			return nil, fmt.Errorf("its strings cannot be decrypted: %w", err)
		}
	}
	d := &pdfDef{num: h.num, gen: h.gen, val: v, data: -1}
	p.space()
	if string(p.token()) == "stream" {
		// 7.3.8.1: the keyword is followed by CR LF or LF; a CR alone
		// is taken as readers take it.
		i := h.start + p.i
		if i < len(s.b) && s.b[i] == '\r' {
			i++
		}
		if i < len(s.b) && s.b[i] == '\n' {
			i++
		}
		d.data = i
	}
	s.parsed[k] = d
	return d, nil
}

// collect records the file specifications in v, at any depth.
func (s *pdfScan) collect(v pdfObject, depth int) {
	if depth > maxPDFDepth {
		return
	}
	switch v.kind {
	case pdfDict:
		if _, ok := v.dict["EF"]; ok {
			if len(s.specs) == maxPDFFileSpecs {
				s.fail(GapLimit, fmt.Sprintf("PDF with more than %d file specifications", maxPDFFileSpecs))
				return
			}
			s.specs = append(s.specs, v)
		}
		for _, x := range v.dict {
			s.collect(x, depth+1)
		}
	case pdfArray:
		for _, x := range v.items {
			s.collect(x, depth+1)
		}
	}
}

// index maps object numbers to their headers.
func (s *pdfScan) index() {
	s.byNum = make(map[int64][]int, len(s.headers))
	for k, h := range s.headers {
		if h.num >= 0 {
			s.byNum[h.num] = append(s.byNum[h.num], k)
		}
	}
}

// resolve returns the definitions of the object r refers to; v itself
// when it is no reference. Unparsable definitions are left out.
func (s *pdfScan) resolve(v pdfObject) []*pdfDef {
	if v.kind != pdfRef {
		return []*pdfDef{{num: -1, gen: -1, val: v, data: -1}}
	}
	var out []*pdfDef
	defs := s.byNum[v.num]
	if len(defs) > maxPDFDefs {
		// The last definitions are the ones readers take.
		s.fail(GapArchive, fmt.Sprintf("PDF object %d is defined more than %d times: only the last ones were looked at for embedded files", v.num, maxPDFDefs))
		defs = defs[len(defs)-maxPDFDefs:]
	}
	for _, k := range defs {
		if s.headers[k].gen != v.gen {
			continue
		}
		if d, err := s.parse(k); err == nil {
			out = append(out, d)
		}
	}
	if stm := s.stmObjs[v.num]; v.gen == 0 {
		if len(stm) > maxPDFDefs {
			s.fail(GapArchive, fmt.Sprintf("PDF object %d is defined more than %d times in object streams: only the last ones were looked at for embedded files", v.num, maxPDFDefs))
			stm = stm[len(stm)-maxPDFDefs:]
		}
		out = append(out, stm...)
	}
	return out
}

// direct is v, or the value of the first definition it refers to.
func (s *pdfScan) direct(v pdfObject) pdfObject {
	if v.kind == pdfRef {
		// The last definition is the one in force: an incremental
		// update (7.5.6) redefines an object after the first.
		defs := s.resolve(v)
		for i := len(defs) - 1; i >= 0; i-- {
			if defs[i].val.kind != pdfRef {
				return defs[i].val
			}
		}
		return pdfObject{}
	}
	return v
}

// streamData returns the data of the stream defined by d: /Length bytes
// when "endstream" follows them, otherwise up to the first "endstream"
// (as readers recover a wrong length), or to the end of the file.
func (s *pdfScan) streamData(d *pdfDef) []byte {
	b := s.b
	if l := s.direct(d.val.dict["Length"]); l.kind == pdfOther {
		if n, ok := pdfInt(l.s); ok && n <= int64(len(b)-d.data) {
			e := d.data + int(n)
			r := e
			for r < len(b) && r-e < 4 && strings.IndexByte(pdfWhite, b[r]) >= 0 {
				r++
			}
			if bytes.HasPrefix(b[r:], []byte("endstream")) {
				return b[d.data:e]
			}
		}
	}
	if s.ends == nil {
		s.ends = []int{}
		for i := 0; ; {
			j := bytes.Index(b[i:], []byte("endstream"))
			if j < 0 {
				break
			}
			s.ends = append(s.ends, i+j)
			i += j + len("endstream")
		}
	}
	e := len(b)
	if k, _ := slices.BinarySearch(s.ends, d.data); k < len(s.ends) {
		e = s.ends[k]
	}
	// The end of line before "endstream" is not data.
	if e > d.data && b[e-1] == '\n' {
		e--
	}
	if e > d.data && b[e-1] == '\r' {
		e--
	}
	return b[d.data:e]
}

// objStm reads the objects of the object stream d (7.5.7) when its
// content names embedded files.
func (s *pdfScan) objStm(d *pdfDef) {
	if s.objStms++; s.objStms > maxPDFObjStms {
		s.fail(GapLimit, fmt.Sprintf("PDF with more than %d object streams: not all were looked at for embedded files", maxPDFObjStms))
		return
	}
	if s.objStmLeft <= 0 {
		s.fail(GapLimit, fmt.Sprintf("PDF object streams decode to more than %d bytes: not all were looked at for embedded files", maxPDFObjStmBytes))
		return
	}
	r, err := s.decoder(d)
	if err != nil {
		s.fail(GapArchive, fmt.Sprintf("PDF object stream %d %d cannot be read for embedded files: %v", d.num, d.gen, err))
		return
	}
	content, err := io.ReadAll(io.LimitReader(r, s.objStmLeft+1))
	s.objStmLeft -= int64(len(content))
	switch {
	case s.objStmLeft < 0:
		s.fail(GapLimit, fmt.Sprintf("PDF object streams decode to more than %d bytes: not all were looked at for embedded files", maxPDFObjStmBytes))
		return
	case err != nil:
		s.fail(GapArchive, fmt.Sprintf("PDF object stream %d %d cannot be read for embedded files: %v", d.num, d.gen, err))
		return
	}
	if pdfNameHits(content)&pdfHitFile == 0 {
		return
	}
	n, ok1 := pdfInt(s.direct(d.val.dict["N"]).s)
	first, ok2 := pdfInt(s.direct(d.val.dict["First"]).s)
	if !ok1 || !ok2 || first > int64(len(content)) {
		s.fail(GapArchive, fmt.Sprintf("PDF object stream %d %d names embedded files, and its /N or /First cannot be read", d.num, d.gen))
		return
	}
	// The content names embedded files: what of it cannot be read is a
	// gap, since readers that skip what they cannot parse may find a
	// file specification there.
	p := &pdfParser{b: content[:first], budget: maxPDFHeaders * 2}
	for range min(n, maxPDFHeaders) {
		p.space()
		num, ok1 := pdfInt(p.token())
		p.space()
		off, ok2 := pdfInt(p.token())
		if !ok1 || !ok2 {
			s.fail(GapArchive, fmt.Sprintf("PDF object stream %d %d names embedded files, and its table of objects cannot be read", d.num, d.gen))
			return
		}
		if len(s.stmObjs) >= maxPDFHeaders {
			s.fail(GapLimit, fmt.Sprintf("PDF with more than %d objects in object streams", maxPDFHeaders))
			return
		}
		at := first + off
		if at >= int64(len(content)) || s.parseLeft <= 0 {
			if s.parseLeft <= 0 {
				s.fail(GapLimit, "PDF object streams too long to parse for embedded files")
				return
			}
			continue
		}
		q := &pdfParser{b: content[at:], budget: maxPDFObjects * 16}
		v, err := q.object(0)
		s.parseLeft -= int64(q.i)
		if err != nil {
			s.fail(GapArchive, fmt.Sprintf("PDF object %d in object stream %d %d cannot be read, and may be a file specification", num, d.num, d.gen))
			continue
		}
		s.stmObjs[num] = append(s.stmObjs[num], &pdfDef{num: num, val: v, data: -1})
		s.collect(v, 0)
	}
}

// entries lists the files the file specifications name.
func (s *pdfScan) entries() []*arcEntry {
	var out []*arcEntry
	seen := map[string]bool{}
	for _, spec := range s.specs {
		names := s.specNames(spec.dict)
		var ef []*pdfDef
		for _, d := range s.resolve(spec.dict["EF"]) {
			if d.val.kind == pdfDict {
				ef = append(ef, d)
			}
		}
		for _, e := range ef {
			for _, key := range []string{"UF", "F", "Unix", "Mac", "DOS"} {
				ref, ok := e.val.dict[key]
				if !ok {
					continue
				}
				var found bool
				for _, d := range s.resolve(ref) {
					if d.data < 0 || d.val.kind != pdfDict {
						continue
					}
					found = true
					data := s.streamData(d)
					k := fmt.Sprint(d.data, names)
					if seen[k] {
						continue
					}
					seen[k] = true
					out = append(out, s.entry(d, data, names))
				}
				if !found {
					s.fail(GapArchive, fmt.Sprintf("PDF file specification %s: its embedded file (/EF /%s) is not a stream in the file", pdfQuote(names), key))
				}
			}
		}
		if len(ef) == 0 {
			s.fail(GapArchive, fmt.Sprintf("PDF file specification %s: its /EF dictionary is not in the file", pdfQuote(names)))
		}
	}
	return out
}

// pdfQuote names a file specification in gap reasons.
func pdfQuote(names []string) string {
	if len(names) == 0 {
		return "without a name"
	}
	return fmt.Sprintf("%q", names[0])
}

// specNames returns the names of a file specification, in the order pdf.js
// picks them: /UF, /F, /Unix, /Mac, /DOS, without their path. Names that
// differ from the first only in their base (a /F written in a code page
// for a /UF in Unicode) are left out: the name's extension, what rules
// judge, is the same; one with another extension is kept, and judged.
func (s *pdfScan) specNames(spec map[string]pdfObject) []string {
	var out []string
	for _, key := range []string{"UF", "F", "Unix", "Mac", "DOS"} {
		// Every definition of a name: the one in force (the last) is
		// the name, and the others, which a reader that recovers a
		// damaged file may show, are judged too.
		vals := []pdfObject{spec[key]}
		if spec[key].kind == pdfRef {
			vals = vals[:0]
			defs := s.resolve(spec[key])
			for i := len(defs) - 1; i >= 0; i-- {
				vals = append(vals, defs[i].val)
			}
		}
		for _, v := range vals {
			if v.kind != pdfString {
				continue
			}
			out = addSpecName(out, pdfTextString(v.s))
		}
	}
	return out
}

// addSpecName adds the file name n of a file specification to names,
// without its path, unless a name with its extension is there already.
func addSpecName(out []string, n string) []string {
	if i := strings.LastIndexAny(n, `/\`); i >= 0 {
		n = n[i+1:]
	}
	if n == "" {
		return out
	}
	for _, o := range out {
		if strings.EqualFold(Ext(o), Ext(n)) {
			return out
		}
	}
	return append(out, n)
}

// entry is the archive entry of an embedded file stream d with data.
func (s *pdfScan) entry(d *pdfDef, data []byte, names []string) *arcEntry {
	e := &arcEntry{}
	if len(names) > 0 {
		e.name, e.other = names[0], names[1:]
	} else {
		// A reader shows the file without a name; saved, it has none.
		e.name = fmt.Sprintf("embedded file %d", d.num)
	}
	if p := s.direct(d.val.dict["Params"]); p.kind == pdfDict {
		if n, ok := pdfInt(s.direct(p.dict["Size"]).s); ok {
			e.size = n
		}
	}
	if _, ok := d.val.dict["Filter"]; !ok && e.size == 0 && s.crypt == nil {
		e.size = int64(len(data))
	}
	dd := *d
	e.open = func() (io.ReadCloser, error) {
		r, err := s.decoderOf(&dd, data, true)
		if err != nil {
			return nil, err
		}
		return io.NopCloser(r), nil
	}
	return e
}

// decoder decodes the data of stream d through its filters.
func (s *pdfScan) decoder(d *pdfDef) (io.Reader, error) {
	return s.decoderOf(d, s.streamData(d), false)
}

// decoderOf decodes data, the data of stream d, through its filters
// (7.4), once decrypted when the PDF is encrypted. embedded: d is an
// embedded file stream.
func (s *pdfScan) decoderOf(d *pdfDef, data []byte, embedded bool) (io.Reader, error) {
	var filters, parms []pdfObject
	switch f := s.direct(d.val.dict["Filter"]); f.kind {
	case pdfName:
		filters = []pdfObject{f}
	case pdfArray:
		filters = f.items
	}
	switch p := s.direct(d.val.dict["DecodeParms"]); p.kind {
	case pdfDict:
		parms = []pdfObject{p}
	case pdfArray:
		parms = p.items
	}
	if len(filters) > maxPDFFilters {
		return nil, fmt.Errorf("%d filters, %d read at most", len(filters), maxPDFFilters)
	}
	if s.crypt != nil {
		method, err := s.streamMethod(d, filters, parms, embedded)
		if err == nil && d.num < 0 {
			err = errors.New("an encrypted stream whose object number cannot be read")
		}
		if err == nil {
			data, err = s.crypt.decrypt(method, d.num, d.gen, data)
		}
		if err != nil {
			return nil, err
		}
	}
	var r io.Reader = bytes.NewReader(data)
	for i, f := range filters {
		f = s.direct(f)
		var parm map[string]pdfObject
		if i < len(parms) {
			parm = s.direct(parms[i]).dict
		}
		num := func(k string, def int64) int64 {
			if n, ok := pdfInt(s.direct(parm[k]).s); ok {
				return n
			}
			return def
		}
		if f.kind != pdfName {
			return nil, errors.New("a filter that is not a name")
		}
		name := string(f.s)
		if pr := num("Predictor", 1); pr > 1 && (name == "FlateDecode" || name == "Fl" || name == "LZWDecode" || name == "LZW") {
			return nil, fmt.Errorf("/%s with predictor %d, which Sekisho does not apply", pdfPrintable(f.s), pr)
		}
		switch name {
		case "FlateDecode", "Fl":
			r = pdfInflate(r)
		case "ASCIIHexDecode", "AHx":
			r = &pdfHexReader{r: bufio.NewReader(r)}
		case "ASCII85Decode", "A85":
			r = ascii85.NewDecoder(&pdfUntil{r: bufio.NewReader(r), end: '~'})
		case "RunLengthDecode", "RL":
			r = &pdfRunLength{r: bufio.NewReader(r)}
		case "LZWDecode", "LZW":
			if num("EarlyChange", 1) != 0 {
				return nil, errors.New("/LZWDecode with early change (the default), which compress/lzw does not read")
			}
			r = lzw.NewReader(r, lzw.MSB, 8)
		case "Crypt":
			if s.crypt != nil && i == 0 {
				// Decrypted above.
				continue
			}
			if n := s.direct(parm["Name"]); n.kind == pdfName && string(n.s) != "Identity" {
				return nil, fmt.Errorf("/Crypt filter /%s, which Sekisho does not decrypt", pdfPrintable(n.s))
			}
		default:
			return nil, fmt.Errorf("filter /%s, which Sekisho does not decode", pdfPrintable(f.s))
		}
	}
	return r, nil
}

// streamMethod is how stream d, whose chain is filters with parms, is
// encrypted (7.6.5): by the crypt filter its own /Crypt filter names,
// first in its chain (/Identity when it names none); not at all for a
// metadata stream when /EncryptMetadata is false; by /EFF for an embedded
// file; by /StmF otherwise.
func (s *pdfScan) streamMethod(d *pdfDef, filters, parms []pdfObject, embedded bool) (string, error) {
	if len(filters) > 0 {
		if f := s.direct(filters[0]); f.kind == pdfName && string(f.s) == "Crypt" {
			name := "Identity"
			if len(parms) > 0 {
				if n := s.direct(s.direct(parms[0]).dict["Name"]); n.kind == pdfName {
					name = string(n.s)
				}
			}
			return s.crypt.filter(name)
		}
	}
	if t := d.val.dict["Type"]; !s.crypt.encryptMetadata && t.kind == pdfName && string(t.s) == "Metadata" {
		return "", nil
	}
	if embedded {
		return s.crypt.eff, nil
	}
	return s.crypt.stm, nil
}

// pdfInflate inflates r: a zlib stream, or raw deflate when it does not
// start with a zlib header (RFC 1950 2.2), as readers accept it. The
// Adler-32 at the end is not checked.
func pdfInflate(r io.Reader) io.Reader {
	br := bufio.NewReader(r)
	h, _ := br.Peek(2)
	if len(h) == 2 && h[0]&0x0f == 8 && h[0]>>4 <= 7 && (uint(h[0])<<8|uint(h[1]))%31 == 0 && h[1]&0x20 == 0 {
		br.Discard(2)
	}
	return flate.NewReader(br)
}

// pdfUntil reads r up to the byte end, which ends the data (ASCII85's
// "~>").
type pdfUntil struct {
	r    *bufio.Reader
	end  byte
	done bool
}

func (u *pdfUntil) Read(p []byte) (int, error) {
	n := 0
	for n < len(p) && !u.done {
		c, err := u.r.ReadByte()
		if err != nil {
			if n > 0 {
				return n, nil
			}
			return 0, err
		}
		if c == u.end {
			u.done = true
			break
		}
		p[n] = c
		n++
	}
	if n == 0 && u.done {
		return 0, io.EOF
	}
	return n, nil
}

// pdfHexReader decodes ASCIIHexDecode (7.4.2): hexadecimal digits, white
// space ignored, ended by '>'; a last odd digit is followed by 0.
type pdfHexReader struct {
	r    *bufio.Reader
	half byte
	odd  bool
	done bool
}

func (h *pdfHexReader) Read(p []byte) (int, error) {
	n := 0
	for n < len(p) && !h.done {
		c, err := h.r.ReadByte()
		if err == io.EOF {
			h.done = true
			break
		}
		if err != nil {
			return n, err
		}
		var v byte
		switch {
		case c == '>':
			h.done = true
			continue
		case isHex(c):
			v = unhex(c)
		case strings.IndexByte(pdfWhite, c) >= 0:
			continue
		default:
			return n, fmt.Errorf("ASCIIHexDecode: byte %#02x", c)
		}
		if h.odd {
			p[n] = h.half<<4 | v
			n++
		}
		h.half, h.odd = v, !h.odd
	}
	if h.done && h.odd && n < len(p) {
		p[n] = h.half << 4
		n++
		h.odd = false
	}
	if n == 0 && h.done {
		return 0, io.EOF
	}
	return n, nil
}

// pdfRunLength decodes RunLengthDecode (7.4.5): a length byte L, then
// L+1 bytes to copy (L < 128) or one byte to repeat 257-L times (L >
// 128); 128 ends the data.
type pdfRunLength struct {
	r      *bufio.Reader
	copy   int
	repeat int
	c      byte
	done   bool
}

func (l *pdfRunLength) Read(p []byte) (int, error) {
	n := 0
	for n < len(p) {
		switch {
		case l.copy > 0:
			c, err := l.r.ReadByte()
			if err != nil {
				return n, io.ErrUnexpectedEOF
			}
			p[n] = c
			n++
			l.copy--
		case l.repeat > 0:
			p[n] = l.c
			n++
			l.repeat--
		case l.done:
			if n == 0 {
				return 0, io.EOF
			}
			return n, nil
		default:
			c, err := l.r.ReadByte()
			switch {
			case err != nil || c == 128:
				l.done = true
			case c < 128:
				l.copy = int(c) + 1
			default:
				b, err := l.r.ReadByte()
				if err != nil {
					return n, io.ErrUnexpectedEOF
				}
				l.c, l.repeat = b, 257-int(c)
			}
		}
	}
	return n, nil
}

// pdfTextString decodes a text string (7.9.2.2): UTF-16BE after its byte
// order mark, UTF-8 after its own (ISO 32000-2), PDFDocEncoding
// otherwise.
func pdfTextString(b []byte) string {
	switch {
	case len(b) >= 2 && b[0] == 0xfe && b[1] == 0xff:
		u := make([]uint16, (len(b)-2)/2)
		for i := range u {
			u[i] = uint16(b[2+2*i])<<8 | uint16(b[3+2*i])
		}
		return string(utf16.Decode(u))
	case bytes.HasPrefix(b, []byte("\xef\xbb\xbf")):
		return strings.ToValidUTF8(string(b[3:]), "\uFFFD")
	}
	var out strings.Builder
	for _, c := range b {
		switch {
		case c >= 0x18 && c < 0x20:
			out.WriteRune(pdfDocLow[c-0x18])
		case c >= 0x80 && c <= 0xa0:
			out.WriteRune(pdfDocHigh[c-0x80])
		case c == 0xad:
			out.WriteRune(utf8.RuneError)
		default:
			out.WriteRune(rune(c))
		}
	}
	return out.String()
}

// PDFDocEncoding's characters that are not Latin-1's (ISO 32000-1 Annex
// D.2).
var (
	pdfDocLow  = [8]rune{'˘', 'ˇ', 'ˆ', '˙', '˝', '˛', '˚', '˜'}
	pdfDocHigh = [33]rune{'•', '†', '‡', '…', '—', '–', 'ƒ', '⁄', '‹', '›', '−', '‰', '„', '“', '”', '‘',
		'’', '‚', '™', 'ﬁ', 'ﬂ', 'Ł', 'Œ', 'Š', 'Ÿ', 'Ž', 'ı', 'ł', 'œ', 'š', 'ž', utf8.RuneError, '€'}
)
