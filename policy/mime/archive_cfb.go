package mime

// Compound files ([MS-CFB], "OLE2"): the container of Word 97-2003 .doc,
// Excel 97-2003 .xls and PowerPoint 97-2003 .ppt files, and of Office
// files encrypted with a password, whatever their format: an encrypted
// .docx or .xlsx is a compound file whose EncryptedPackage stream holds
// the zip package ([MS-OFFCRYPTO] 2.3.4.4). A compound file is looked into
// for three things only: whether it is an encrypted document (reported
// as an encrypted archive, so that encrypted_archive judges it and
// pairing can decrypt it), and the files embedded in it as OLE packages
// (\x01Ole10Native streams: what the user double-clicks in the document
// is written out and opened by Windows), which are listed as entries. A
// compound file with neither is not a container: it is read as the plain
// file it was before.
//
// The reader is written here rather than taken from the Go module proxy:
// github.com/richardlehane/mscfb trusts the sector counts and chains of
// the file (a FAT that loops, or a directory whose sibling tree loops,
// keeps it reading; a sector count in the header allocates what it says)
// and reads every stream's chain up front. This one follows each chain
// for at most as many sectors as the file has, visits each directory
// entry once, and reads no more than a few times the file's size in all.
//
// The file is told by its content only (the signature D0 CF 11 E0 A1 B1
// 1A E1): .xls and .doc names and Office media types are given to CSV and
// HTML files often enough that a name claiming a compound file proves
// nothing.

import (
	"bytes"
	"encoding/binary"
	"errors"
	"fmt"
	"io"
	"strings"
	"unicode/utf16"
)

// cfbSignature starts every compound file ([MS-CFB] 2.2).
const cfbSignature = "\xd0\xcf\x11\xe0\xa1\xb1\x1a\xe1"

// Special sector numbers ([MS-CFB] 2.1).
const (
	cfbMaxRegSect = 0xfffffffa
	cfbEndOfChain = 0xfffffffe
	cfbNoStream   = 0xffffffff
)

// Directory entry object types ([MS-CFB] 2.6.1).
const (
	cfbTypeStorage = 1
	cfbTypeStream  = 2
	cfbTypeRoot    = 5
)

// Bounds of the reader: directory entries read, and the bytes of a stream
// read into memory to be parsed (EncryptionInfo, the head of a document
// stream).
const (
	maxCFBEntries = 1 << 16
	maxCFBSmall   = 1 << 20
)

// Formats reported for compound files: one with embedded packages, and
// the encrypted documents.
const (
	FormatCFB          = "cfb"
	FormatOOXMLEncrypt = "ooxml-encrypted"
	FormatDocEncrypt   = "doc-encrypted"
	FormatXLSEncrypt   = "xls-encrypted"
	FormatPPTEncrypt   = "ppt-encrypted"
)

// init registers compound files as a container format, by content only.
func init() {
	registerContainer(&container{
		format:   FormatCFB,
		sniff:    func(head []byte) bool { return bytes.HasPrefix(head, []byte(cfbSignature)) },
		document: true,
		open:     openCFB,
	})
}

// cfbFile is a compound file being read.
type cfbFile struct {
	ra           io.ReaderAt
	size         int64
	shift        uint // sector size is 1<<shift
	miniShift    uint
	miniCutoff   uint64
	fat          []uint32
	miniFATStart uint32
	miniFAT      []uint32 // loaded on first use
	miniStream   []uint32 // the sectors of the mini stream, loaded on first use
	entries      []cfbEntry
	budget       int64 // bytes left to read from ra
}

// cfbEntry is one directory entry ([MS-CFB] 2.6).
type cfbEntry struct {
	name                string
	typ                 byte
	left, right, child  uint32
	start               uint32
	size                uint64
	path                string // names from the root, "/" between them
	isRootChild, inTree bool
}

// errCFBBudget: the file makes the reader read far more than its size.
var errCFBBudget = errors.New("compound file reads more than its size allows: its chains overlap")

// openCFB reads the header, FAT and directory of the compound file in ra
// and tells what it is: an encrypted document, a file with embedded
// packages, or neither (errNotContainer).
func openCFB(ra io.ReaderAt, size int64, _ string) (arcWalker, error) {
	f, err := readCFB(ra, size)
	if err != nil {
		return nil, err
	}
	w := &cfbWalker{}
	enc, err := f.encryption()
	if err != nil {
		return nil, err
	}
	if enc != nil {
		w.format = enc.format
		if enc.entry != nil {
			w.entries = append(w.entries, enc.entry)
		} else {
			w.stop = enc.stop
		}
	}
	if w.stop == nil || !w.stop.encrypted {
		pkgs, err := f.packages()
		if err != nil {
			return nil, err
		}
		w.entries = append(w.entries, pkgs...)
	}
	if w.format == "" && len(w.entries) == 0 {
		return nil, errNotContainer
	}
	if w.format == "" {
		w.format = FormatCFB
	}
	return w, nil
}

// cfbWalker gives the entries found in a compound file, then its stop.
type cfbWalker struct {
	format  string
	entries []*arcEntry
	stop    *arcStop
}

func (w *cfbWalker) actualFormat() string { return w.format }

func (w *cfbWalker) next() (*arcEntry, error) {
	if len(w.entries) == 0 {
		if w.stop != nil {
			s := w.stop
			w.stop = nil
			return nil, s
		}
		return nil, io.EOF
	}
	e := w.entries[0]
	w.entries = w.entries[1:]
	return e, nil
}

// readCFB reads the header ([MS-CFB] 2.2), the FAT through the DIFAT
// (2.5) and the directory (2.6) of the compound file in ra.
func readCFB(ra io.ReaderAt, size int64) (*cfbFile, error) {
	h := make([]byte, 512)
	if n, _ := ra.ReadAt(h, 0); n < len(h) {
		if n >= 8 && string(h[:8]) == cfbSignature {
			return nil, errors.New("compound file ends in its header")
		}
		return nil, errNotContainer
	}
	if string(h[:8]) != cfbSignature {
		return nil, errNotContainer
	}
	le := binary.LittleEndian
	f := &cfbFile{ra: ra, size: size, budget: 4*size + 1<<20}
	major := le.Uint16(h[26:])
	switch shift := le.Uint16(h[30:]); {
	case le.Uint16(h[28:]) != 0xfffe:
		return nil, errors.New("bad byte order mark")
	case major == 3 && shift == 9, major == 4 && shift == 12:
		f.shift = uint(shift)
	default:
		return nil, fmt.Errorf("version %d with sector shift %d", major, shift)
	}
	if le.Uint16(h[32:]) != 6 {
		return nil, fmt.Errorf("mini sector shift %d", le.Uint16(h[32:]))
	}
	f.miniShift = 6
	f.miniCutoff = uint64(le.Uint32(h[56:]))
	sectors := f.sectors()
	// The FAT sectors: 109 in the header, then DIFAT sectors chained by
	// their last entry ([MS-CFB] 2.5).
	numFAT := int64(le.Uint32(h[44:]))
	if numFAT > sectors {
		return nil, fmt.Errorf("%d FAT sectors in a file of %d sectors", numFAT, sectors)
	}
	var fatSects []uint32
	for i := 0; i < 109 && int64(len(fatSects)) < numFAT; i++ {
		fatSects = append(fatSects, le.Uint32(h[76+4*i:]))
	}
	per := 1<<f.shift/4 - 1
	difat := le.Uint32(h[68:])
	for steps := int64(0); int64(len(fatSects)) < numFAT; steps++ {
		if difat > cfbMaxRegSect || steps > sectors {
			return nil, errors.New("DIFAT chain ends before the FAT sectors it counts, or loops")
		}
		b, err := f.sector(difat)
		if err != nil {
			return nil, err
		}
		for i := 0; i < per && int64(len(fatSects)) < numFAT; i++ {
			fatSects = append(fatSects, le.Uint32(b[4*i:]))
		}
		difat = le.Uint32(b[4*per:])
	}
	f.fat = make([]uint32, 0, len(fatSects)<<(f.shift-2))
	for _, s := range fatSects {
		b, err := f.sector(s)
		if err != nil {
			return nil, fmt.Errorf("FAT: %w", err)
		}
		for i := 0; i < len(b); i += 4 {
			f.fat = append(f.fat, le.Uint32(b[i:]))
		}
	}
	if err := f.readDirectory(le.Uint32(h[48:]), major); err != nil {
		return nil, err
	}
	if le.Uint32(h[64:]) > 0 {
		// Loaded only when a small stream is read.
		f.miniFAT = nil
	}
	f.miniFATStart = le.Uint32(h[60:])
	return f, nil
}

// sectors is how many sectors the file holds after its header.
func (f *cfbFile) sectors() int64 {
	return (f.size + 1<<f.shift - 1) >> f.shift
}

// sector reads sector s, which must be in the file; a last sector cut
// short is padded with zeros.
func (f *cfbFile) sector(s uint32) ([]byte, error) {
	n := int64(1) << f.shift
	off := (int64(s) + 1) << f.shift
	if s > cfbMaxRegSect || off >= f.size {
		return nil, fmt.Errorf("sector %d is beyond the end of the file", s)
	}
	if f.budget < n {
		return nil, errCFBBudget
	}
	f.budget -= n
	b := make([]byte, n)
	m, err := f.ra.ReadAt(b, off)
	if m == 0 && err != nil {
		return nil, err
	}
	return b, nil
}

// chain returns the n sectors of the chain from start in fat; fewer, up
// to its end, when n is negative. A chain that comes back to a sector
// loops.
func chain(fat []uint32, start uint32, n int64) ([]uint32, error) {
	if n > int64(len(fat)) {
		return nil, fmt.Errorf("%d sectors in a chain, %d in the table", n, len(fat))
	}
	var out []uint32
	seen := make([]uint64, (len(fat)+63)/64)
	s := start
	for n < 0 || int64(len(out)) < n {
		if s == cfbEndOfChain && n < 0 {
			return out, nil
		}
		if int64(s) >= int64(len(fat)) {
			return nil, fmt.Errorf("chain ends early or leaves the table at sector %#x", s)
		}
		if seen[s/64]&(1<<(s%64)) != 0 {
			return nil, errors.New("chain loops")
		}
		seen[s/64] |= 1 << (s % 64)
		out = append(out, s)
		s = fat[s]
	}
	return out, nil
}

// readDirectory reads the directory chain from start and walks its tree
// from the root entry, naming every entry it reaches by its path. Each
// entry is visited once: a sibling or child link back into the tree is
// corruption ([MS-CFB] 2.6.4: the siblings of a storage form a red-black
// tree).
func (f *cfbFile) readDirectory(start uint32, major uint16) error {
	secs, err := chain(f.fat, start, -1)
	if err != nil {
		return fmt.Errorf("directory: %w", err)
	}
	le := binary.LittleEndian
	for _, s := range secs {
		b, err := f.sector(s)
		if err != nil {
			return fmt.Errorf("directory: %w", err)
		}
		for i := 0; i+128 <= len(b); i += 128 {
			if len(f.entries) >= maxCFBEntries {
				return fmt.Errorf("more than %d directory entries", maxCFBEntries)
			}
			d := b[i : i+128]
			e := cfbEntry{typ: d[66], left: le.Uint32(d[68:]), right: le.Uint32(d[72:]),
				child: le.Uint32(d[76:]), start: le.Uint32(d[116:]), size: le.Uint64(d[120:])}
			if major == 3 {
				// [MS-CFB] 2.6.3: the high 32 bits of a version 3 file's
				// stream size may hold anything.
				e.size &= 0xffffffff
			}
			if n := int(le.Uint16(d[64:])); n >= 2 && n <= 64 {
				u := make([]uint16, n/2-1)
				for j := range u {
					u[j] = le.Uint16(d[2*j:])
				}
				e.name = string(utf16.Decode(u))
			}
			f.entries = append(f.entries, e)
		}
	}
	if len(f.entries) == 0 || f.entries[0].typ != cfbTypeRoot {
		return errors.New("no root entry")
	}
	type visit struct {
		id     uint32
		parent string
		top    bool
	}
	stack := []visit{{id: f.entries[0].child, top: true}}
	f.entries[0].inTree = true
	for len(stack) > 0 {
		v := stack[len(stack)-1]
		stack = stack[:len(stack)-1]
		if v.id == cfbNoStream {
			continue
		}
		if int64(v.id) >= int64(len(f.entries)) {
			return fmt.Errorf("directory link to entry %d of %d", v.id, len(f.entries))
		}
		e := &f.entries[v.id]
		if e.inTree {
			return errors.New("directory tree loops")
		}
		e.inTree, e.isRootChild = true, v.top
		e.path = v.parent + e.name
		stack = append(stack, visit{e.left, v.parent, v.top}, visit{e.right, v.parent, v.top})
		if e.typ == cfbTypeStorage {
			stack = append(stack, visit{id: e.child, parent: e.path + "/"})
		}
	}
	return nil
}

// rootStream returns the stream of that name among the root's children
// (names compare without case, [MS-CFB] 2.6.4), nil when there is none.
func (f *cfbFile) rootStream(name string) *cfbEntry {
	for i := range f.entries {
		e := &f.entries[i]
		if e.inTree && e.isRootChild && e.typ == cfbTypeStream && strings.EqualFold(e.name, name) {
			return e
		}
	}
	return nil
}

// cfbStream is the content of a stream: the file offsets of its sectors
// (or mini sectors), each unit bytes long.
type cfbStream struct {
	f    *cfbFile
	offs []int64
	unit int64
	size int64
}

// open returns the content of stream e.
func (f *cfbFile) open(e *cfbEntry) (*cfbStream, error) {
	if e.size == 0 {
		return &cfbStream{f: f}, nil
	}
	if e.size >= f.miniCutoff {
		n := (e.size + 1<<f.shift - 1) >> f.shift
		if n > uint64(len(f.fat)) {
			return nil, fmt.Errorf("stream %q of %d bytes in a file of %d", e.path, e.size, f.size)
		}
		secs, err := chain(f.fat, e.start, int64(n))
		if err != nil {
			return nil, fmt.Errorf("stream %q: %w", e.path, err)
		}
		offs := make([]int64, len(secs))
		for i, s := range secs {
			offs[i] = (int64(s) + 1) << f.shift
		}
		return &cfbStream{f: f, offs: offs, unit: 1 << f.shift, size: int64(e.size)}, nil
	}
	if err := f.loadMini(); err != nil {
		return nil, err
	}
	secs, err := chain(f.miniFAT, e.start, int64((e.size+63)>>6))
	if err != nil {
		return nil, fmt.Errorf("stream %q: mini %w", e.path, err)
	}
	offs := make([]int64, len(secs))
	for i, s := range secs {
		at := int64(s) << f.miniShift
		j := at >> f.shift
		if j >= int64(len(f.miniStream)) {
			return nil, fmt.Errorf("stream %q: mini sector %d beyond the mini stream", e.path, s)
		}
		offs[i] = (int64(f.miniStream[j])+1)<<f.shift + at&(1<<f.shift-1)
	}
	return &cfbStream{f: f, offs: offs, unit: 64, size: int64(e.size)}, nil
}

// loadMini reads the mini FAT and the chain of the mini stream, which
// the root entry holds ([MS-CFB] 2.4).
func (f *cfbFile) loadMini() error {
	if f.miniStream != nil {
		return nil
	}
	secs, err := chain(f.fat, f.miniFATStart, -1)
	if err != nil {
		return fmt.Errorf("mini FAT: %w", err)
	}
	f.miniFAT = []uint32{}
	for _, s := range secs {
		b, err := f.sector(s)
		if err != nil {
			return fmt.Errorf("mini FAT: %w", err)
		}
		for i := 0; i < len(b); i += 4 {
			f.miniFAT = append(f.miniFAT, binary.LittleEndian.Uint32(b[i:]))
		}
	}
	root := &f.entries[0]
	n := (root.size + 1<<f.shift - 1) >> f.shift
	if n > uint64(len(f.fat)) {
		return fmt.Errorf("mini stream of %d bytes in a file of %d", root.size, f.size)
	}
	f.miniStream, err = chain(f.fat, root.start, int64(n))
	if err != nil {
		return fmt.Errorf("mini stream: %w", err)
	}
	return nil
}

// ReadAt implements io.ReaderAt over the stream's content, charged to
// the file's read budget.
func (s *cfbStream) ReadAt(p []byte, off int64) (int, error) {
	if off < 0 {
		return 0, errors.New("negative offset")
	}
	n := 0
	for n < len(p) {
		if off >= s.size {
			return n, io.EOF
		}
		i, within := off/s.unit, off%s.unit
		want := min(int64(len(p)-n), s.unit-within, s.size-off)
		if s.f.budget < want {
			return n, errCFBBudget
		}
		s.f.budget -= want
		m, err := s.f.ra.ReadAt(p[n:n+int(want)], s.offs[i]+within)
		if m < int(want) {
			if err == nil || err == io.EOF {
				err = fmt.Errorf("stream sector at %d is beyond the end of the file", s.offs[i])
			}
			return n + m, err
		}
		n += m
		off += int64(m)
	}
	return n, nil
}

// head reads the first max bytes of stream e at most.
func (f *cfbFile) head(e *cfbEntry, max int64) ([]byte, error) {
	s, err := f.open(e)
	if err != nil {
		return nil, err
	}
	b := make([]byte, min(s.size, max))
	if _, err := s.ReadAt(b, 0); err != nil && err != io.EOF {
		return nil, err
	}
	return b, nil
}

// cfbEncryption is what makes a compound file an encrypted document: the
// format reported, and either the entry of its encrypted package (which a
// password candidate may decrypt) or the stop of a document that is not
// decrypted here.
type cfbEncryption struct {
	format string
	entry  *arcEntry
	stop   *arcStop
}

// sealed is the stop of an encrypted document that no password candidate
// is tried on.
func sealed(format, why string) *cfbEncryption {
	return &cfbEncryption{format: format, stop: &arcStop{class: GapEncrypted, encrypted: true, sealed: true, why: why}}
}

// encryption tells whether the compound file is an encrypted Office
// document, nil when it is not.
func (f *cfbFile) encryption() (*cfbEncryption, error) {
	info, pkg := f.rootStream("EncryptionInfo"), f.rootStream("EncryptedPackage")
	if info != nil && pkg != nil {
		return f.ooxmlEncryption(info, pkg)
	}
	if wd := f.rootStream("WordDocument"); wd != nil {
		// The FIB's FibBase ([MS-DOC] 2.5.2): wIdent 0xA5EC, then at
		// offset 10 the flags whose bit 8 is fEncrypted (bit 15,
		// fObfuscated, says XOR rather than RC4).
		b, err := f.head(wd, 18)
		if err != nil {
			return nil, err
		}
		le := binary.LittleEndian
		if len(b) == 18 && le.Uint16(b) == 0xa5ec && le.Uint16(b[10:])&0x0100 != 0 {
			const what = "Word 97-2003 file"
			if le.Uint16(b[10:])&0x8000 != 0 {
				return sealed(FormatDocEncrypt, "encrypted Office document: "+what+" protected by a password (XOR obfuscation), which Sekisho does not decrypt"), nil
			}
			// Bit 9, fWhichTblStm, names the table stream; lKey is
			// the size of the encryption header at its start.
			name := "0Table"
			if le.Uint16(b[10:])&0x0200 != 0 {
				name = "1Table"
			}
			var hdr []byte
			if tbl := f.rootStream(name); tbl != nil {
				if hdr, err = f.head(tbl, min(int64(le.Uint32(b[14:])), maxCFBSmall)); err != nil {
					return nil, err
				}
			}
			return legacyEncryption(FormatDocEncrypt, what, hdr), nil
		}
	}
	wb := f.rootStream("Workbook")
	if wb == nil {
		wb = f.rootStream("Book")
	}
	if wb != nil {
		pass, enc, err := f.biffFilePass(wb)
		if err != nil {
			return sealed(FormatXLSEncrypt, "encrypted Office document: Excel 97-2003 workbook protected by a password (FILEPASS), which Sekisho does not decrypt"), err
		}
		if enc {
			const what = "Excel 97-2003 workbook"
			// wEncryptionType: 0 is XOR obfuscation, 1 RC4 with its
			// header after it.
			if len(pass) >= 2 && binary.LittleEndian.Uint16(pass) == 0 {
				return sealed(FormatXLSEncrypt, "encrypted Office document: "+what+" protected by a password (XOR obfuscation), which Sekisho does not decrypt"), nil
			}
			var hdr []byte
			if len(pass) >= 2 {
				hdr = pass[2:]
			}
			return legacyEncryption(FormatXLSEncrypt, what, hdr), nil
		}
	}
	if cu := f.rootStream("Current User"); cu != nil && f.rootStream("PowerPoint Document") != nil {
		// CurrentUserAtom ([MS-PPT] 2.3.2): after its 8-byte record
		// header and 4-byte size, headerToken 0xF3D1C4DF marks an
		// encrypted presentation (0xE391C05F a plain one).
		b, err := f.head(cu, 16)
		if err != nil {
			return nil, err
		}
		if len(b) == 16 && binary.LittleEndian.Uint32(b[12:]) == 0xf3d1c4df {
			return sealed(FormatPPTEncrypt, "encrypted Office document: PowerPoint 97-2003 presentation protected by a password (RC4), which Sekisho does not decrypt"), nil
		}
	}
	return nil, nil
}

// biffFilePass reports whether the workbook stream wb has a FILEPASS
// record ([MS-XLS] 2.4.117) in its globals substream, which starts with a
// BOF record and ends with EOF (2.4.21, 2.4.103), and returns its data
// (what of it was read).
func (f *cfbFile) biffFilePass(wb *cfbEntry) ([]byte, bool, error) {
	b, err := f.head(wb, 64<<10)
	if err != nil {
		return nil, false, err
	}
	le := binary.LittleEndian
	if len(b) < 4 || le.Uint16(b)&0xff != 0x09 {
		// Not a BOF of BIFF2 to BIFF8: not a workbook stream this reads.
		return nil, false, nil
	}
	for p := 0; p+4 <= len(b); p += 4 + int(le.Uint16(b[p+2:])) {
		switch le.Uint16(b[p:]) {
		case 0x002f:
			end := min(p+4+int(le.Uint16(b[p+2:])), len(b))
			return b[p+4 : end], true, nil
		case 0x000a:
			return nil, false, nil
		}
	}
	return nil, false, nil
}

// legacyEncryption is a Word or Excel 97-2003 document encrypted with RC4
// whose encryption header is hdr: one entry, which a password candidate
// that fits its verifier opens (see archive_legacycrypt.go). A header
// that cannot be read leaves it sealed.
func legacyEncryption(format, what string, hdr []byte) *cfbEncryption {
	c, err := parseLegacyRC4(hdr)
	if err != nil {
		return sealed(format, fmt.Sprintf("encrypted Office document: %s protected by a password (%v), which Sekisho does not decrypt", what, err))
	}
	return &cfbEncryption{format: format, entry: &arcEntry{
		name:      "document",
		encrypted: true,
		locked:    "encrypted Office document (" + what + ", " + c.what + ")",
		decrypt: func(pw []byte) (io.ReadCloser, error) {
			if !c.opens(pw) {
				return nil, errWrongPassword
			}
			return io.NopCloser(bytes.NewReader(nil)), nil
		},
	}}
}

// ole10Native is the name of the stream that holds an OLE 1.0 object's
// native data ([MS-OLEDS] 2.3.6); for a Packager object, an embedded file.
const ole10Native = "\x01Ole10Native"

// packages lists the files embedded as OLE packages in the compound file.
// Packager's native data is a size, then two bytes, the label, the
// source path and (after two 32-bit fields, the second its length) the
// temporary path, as ANSI strings ended by NUL, then the file's length
// and content (as oletools' oleobj reads it; [MS-OLEDS] leaves the
// layout of Packager's data to Packager). Other OLE 1.0 objects are
// listed by their stream's path, with the native data as content.
func (f *cfbFile) packages() ([]*arcEntry, error) {
	var out []*arcEntry
	for i := range f.entries {
		e := &f.entries[i]
		if !e.inTree || e.typ != cfbTypeStream || !strings.EqualFold(e.name, ole10Native) {
			continue
		}
		s, err := f.open(e)
		if err != nil {
			return nil, err
		}
		head := make([]byte, min(s.size, 8<<10))
		if _, err := s.ReadAt(head, 0); err != nil && err != io.EOF {
			return nil, err
		}
		p := parsePackage(head, s.size)
		if p.name == "" {
			p.name = strings.ReplaceAll(e.path, "\x01", "")
		}
		sec := io.NewSectionReader(s, p.off, p.n)
		out = append(out, &arcEntry{name: p.name, other: p.other, size: p.n,
			open: func() (io.ReadCloser, error) { return io.NopCloser(sec), nil }})
	}
	return out, nil
}

// olePackage is where the embedded file of an Ole10Native stream is, and
// its names.
type olePackage struct {
	name   string
	other  []string
	off, n int64
}

// parsePackage reads Packager's header at the start of an Ole10Native
// stream of size bytes; without one, the whole native data is the file,
// unnamed.
func parsePackage(b []byte, size int64) olePackage {
	raw := olePackage{off: min(4, size), n: max(size-4, 0)}
	le := binary.LittleEndian
	p := 6
	str := func() (string, bool) {
		i := bytes.IndexByte(b[min(p, len(b)):], 0)
		if i < 0 {
			return "", false
		}
		s := string(b[p : p+i])
		p += i + 1
		return s, true
	}
	if len(b) < 6 {
		return raw
	}
	label, ok1 := str()
	src, ok2 := str()
	if !ok1 || !ok2 || p+8 > len(b) {
		return raw
	}
	p += 4
	tl := int(le.Uint32(b[p:]))
	p += 4
	if tl > len(b)-p || tl < 0 {
		return raw
	}
	tmp := strings.TrimRight(string(b[p:p+tl]), "\x00")
	p += tl
	if p+4 > len(b) {
		return raw
	}
	n := int64(le.Uint32(b[p:]))
	p += 4
	if n > size-int64(p) {
		return raw
	}
	pkg := olePackage{off: int64(p), n: n}
	seen := map[string]bool{}
	for _, s := range []string{label, src, tmp} {
		s = entryName(s, false)
		if i := strings.LastIndexAny(s, `\/`); i >= 0 {
			s = s[i+1:]
		}
		if s == "" || seen[s] {
			continue
		}
		seen[s] = true
		if pkg.name == "" {
			pkg.name = s
		} else {
			pkg.other = append(pkg.other, s)
		}
	}
	return pkg
}

// ooxmlEncryption reads the EncryptionInfo of an encrypted OOXML document
// and returns the entry of its package, which a password decrypts into
// the zip package the document is.
func (f *cfbFile) ooxmlEncryption(info, pkg *cfbEntry) (*cfbEncryption, error) {
	b, err := f.head(info, maxCFBSmall)
	if err != nil {
		return nil, err
	}
	c, err := parseEncryptionInfo(b)
	if err != nil {
		return sealed(FormatOOXMLEncrypt, fmt.Sprintf("encrypted Office document (%v), which Sekisho does not decrypt", err)), nil
	}
	s, err := f.open(pkg)
	if err != nil {
		return nil, err
	}
	var sb [8]byte
	if _, err := s.ReadAt(sb[:], 0); err != nil {
		return nil, fmt.Errorf("EncryptedPackage: %w", err)
	}
	return &cfbEncryption{format: FormatOOXMLEncrypt, entry: &arcEntry{
		name:      "EncryptedPackage",
		size:      int64(min(binary.LittleEndian.Uint64(sb[:]), 1<<62)),
		encrypted: true,
		locked:    "encrypted Office document (" + c.what + ")",
		decrypt: func(pw []byte) (io.ReadCloser, error) {
			key, err := c.key(pw)
			if err != nil {
				return nil, err
			}
			r, err := c.newPackageReader(key, s, s.size)
			if err != nil {
				return nil, err
			}
			return io.NopCloser(r), nil
		},
	}}, nil
}
