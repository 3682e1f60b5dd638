package mime

import (
	"bytes"
	"encoding/binary"
	"errors"
	"fmt"
	"io"
	"os"
	"sync"

	"github.com/segmentio/asm/base64"
)

// headSize is how many leading decoded bytes of a part or archive entry are
// kept for magic-byte sniffing.
const headSize = 4096

// memSpool is how much of an archive is kept in memory before it is spooled
// to a temporary file.
const memSpool = 4 << 20

// Executable kinds reported in Attachment.Executable and Entry.Executable.
const (
	ExecPE       = "pe"
	ExecELF      = "elf"
	ExecMachO    = "macho"
	ExecMachOFat = "macho-fat"
)

// sniffExec names the executable format whose magic bytes start b, or "".
// "MZ" alone counts as PE: a DOS stub is enough for Windows to run a file.
// CAFEBABE is shared by Mach-O universal binaries and Java class files; the
// next four bytes tell them apart (a small architecture count against a class
// file version of 45 or more).
func sniffExec(b []byte) string {
	switch {
	case bytes.HasPrefix(b, []byte("MZ")):
		return ExecPE
	case bytes.HasPrefix(b, []byte("\x7fELF")):
		return ExecELF
	case len(b) < 4:
		return ""
	}
	switch binary.BigEndian.Uint32(b) {
	case 0xfeedface, 0xfeedfacf, 0xcefaedfe, 0xcffaedfe:
		return ExecMachO
	case 0xcafebabe, 0xcafebabf:
		if len(b) >= 8 {
			if n := binary.BigEndian.Uint32(b[4:]); n > 0 && n < 30 {
				return ExecMachOFat
			}
		}
	}
	return ""
}

// isZip reports whether b starts with a zip local file header or, for an
// empty archive, an end of central directory record.
func isZip(b []byte) bool {
	return bytes.HasPrefix(b, []byte("PK\x03\x04")) || bytes.HasPrefix(b, []byte("PK\x05\x06"))
}

// archiveMagic are the leading bytes of the archive and compression
// formats, other than zip, that hide files from an inspection which does
// not open them.
var archiveMagic = []struct {
	format string
	off    int
	magic  string
}{
	{"rar", 0, "Rar!\x1a\x07"},
	{"7z", 0, "7z\xbc\xaf\x27\x1c"},
	{"gzip", 0, "\x1f\x8b"},
	{"bzip2", 0, "BZh"},
	{"xz", 0, "\xfd7zXZ\x00"},
	{"zstd", 0, "\x28\xb5\x2f\xfd"},
	{"cab", 0, "MSCF\x00\x00\x00\x00"},
	{"arj", 0, "\x60\xea"},
	{"tnef", 0, "\x78\x9f\x3e\x22"}, // winmail.dat: Outlook shows the files inside
	{"lzh", 2, "-lh"},
	{"ace", 7, "**ACE**"},
	{"tar", 257, "ustar"},
}

// sniffArchive names the archive format whose magic bytes start b: "zip",
// one of archiveMagic's, or "".
func sniffArchive(b []byte) string {
	if isZip(b) {
		return FormatZip
	}
	for _, m := range archiveMagic {
		if len(b) >= m.off+len(m.magic) && string(b[m.off:m.off+len(m.magic)]) == m.magic {
			if m.format == "bzip2" && (len(b) < 4 || b[3] < '1' || b[3] > '9') {
				continue
			}
			return m.format
		}
	}
	for _, f := range sniffOrder {
		if containers[f].sniff(b) {
			return f
		}
	}
	return ""
}

// archiveExts and archiveTypes are the file extensions and media types
// that say a file is an archive; see claimedArchive.
var (
	archiveExts = map[string]string{
		"zip": FormatZip, "rar": "rar", "7z": "7z", "gz": "gzip", "tgz": "gzip", "bz2": "bzip2",
		"tbz": "bzip2", "tbz2": "bzip2", "xz": "xz", "txz": "xz", "zst": "zstd", "tar": "tar",
		"lzh": "lzh", "lha": "lzh", "cab": "cab", "arj": "arj", "ace": "ace",
	}
	archiveTypes = map[string]string{
		"application/zip": FormatZip, "application/x-zip": FormatZip, "application/x-zip-compressed": FormatZip,
		"application/x-rar": "rar", "application/x-rar-compressed": "rar", "application/vnd.rar": "rar",
		"application/x-7z-compressed": "7z", "application/gzip": "gzip", "application/x-gzip": "gzip",
		"application/x-tar": "tar", "application/x-gtar": "tar", "application/x-bzip2": "bzip2",
		"application/x-xz": "xz", "application/zstd": "zstd", "application/x-lzh-compressed": "lzh",
		"application/x-lzh": "lzh", "application/vnd.ms-cab-compressed": "cab", "application/x-arj": "arj",
		"application/x-ace-compressed": "ace", "application/ms-tnef": "tnef", "application/vnd.ms-tnef": "tnef",
	}
)

// claimedArchive returns the archive format a file's extension or media
// type claims, "" for none. A file that claims to be an archive is opened
// as one even when its first bytes say otherwise (a zip with data before
// it opens in zip tools), and one that cannot be opened is not judged
// clean.
func claimedArchive(ext, mediaType string) string {
	if f := archiveExts[ext]; f != "" {
		return f
	}
	return archiveTypes[mediaType]
}

// spoolBlock is the unit of a spool's memory; blocks are pooled, so that
// spooling archive after archive neither grows nor copies slices.
const spoolBlock = 64 << 10

var spoolBlocks = sync.Pool{New: func() any { b := make([]byte, spoolBlock); return &b }}

// spool holds a byte stream of bounded size: in memory up to memSpool, then
// in a temporary file. Past max bytes it gives up and only counts. An
// encoded spool holds base64 alphabet characters and is read decoded: an
// archive is only decoded where its reader looks.
type spool struct {
	dir     string
	max     int64 // of the decoded bytes
	n       int64 // bytes held: characters when encoded
	encoded bool
	blocks  []*[]byte // in memory: full blocks, the last one filled up to n
	file    *os.File
	tooBig  bool
	err     error
}

// Write stores p; it never fails, so that the caller's copy goes on counting.
// A failure to spool is kept in s.err.
func (s *spool) Write(p []byte) (int, error) {
	s.n += int64(len(p))
	if s.tooBig || s.err != nil {
		return len(p), nil
	}
	if s.size() > s.max {
		s.tooBig = true
		s.release()
		return len(p), nil
	}
	if s.file == nil && s.n > memSpool {
		f, err := os.CreateTemp(s.dir, "sekisho-archive-*")
		if err != nil {
			s.fail(err)
			return len(p), nil
		}
		s.file = f
		held := s.n - int64(len(p))
		for i, b := range s.blocks {
			chunk := (*b)[:min(int64(spoolBlock), held-int64(i)*spoolBlock)]
			if _, err := f.Write(chunk); err != nil {
				s.fail(err)
				return len(p), nil
			}
		}
		s.freeBlocks()
	}
	if s.file != nil {
		if _, err := s.file.Write(p); err != nil {
			s.fail(err)
		}
		return len(p), nil
	}
	at := s.n - int64(len(p))
	for rest := p; len(rest) > 0; {
		off := int(at % spoolBlock)
		if off == 0 {
			s.blocks = append(s.blocks, spoolBlocks.Get().(*[]byte))
		}
		c := copy((*s.blocks[len(s.blocks)-1])[off:], rest)
		rest, at = rest[c:], at+int64(c)
	}
	return len(p), nil
}

func (s *spool) fail(err error) {
	s.err = fmt.Errorf("spooling archive: %w", err)
	s.release()
}

// size is the decoded size of what the spool holds.
func (s *spool) size() int64 {
	if s.encoded {
		return b64size(s.n)
	}
	return s.n
}

// readerAt returns the spooled bytes, decoded.
func (s *spool) readerAt() io.ReaderAt {
	var ra io.ReaderAt = blockReader{s}
	if s.file != nil {
		ra = s.file
	}
	if s.encoded {
		return b64ReaderAt{ra: ra, chars: s.n}
	}
	return ra
}

// b64ReaderAt decodes the base64 characters of ra at the offsets asked
// for: three bytes from every four characters.
type b64ReaderAt struct {
	ra    io.ReaderAt
	chars int64
}

func (r b64ReaderAt) ReadAt(p []byte, off int64) (int, error) {
	size := b64size(r.chars)
	if off < 0 {
		return 0, errors.New("spool: negative offset")
	}
	if off >= size {
		return 0, io.EOF
	}
	want := int(min(int64(len(p)), size-off))
	// The characters are read through a pooled buffer, a piece at a time,
	// and whole groups decoded straight into p: a PDF is read whole, and
	// a buffer of its size encoded and another decoded cost more than the
	// decoding itself.
	bp := b64atBufs.Get().(*[b64atChars]byte)
	defer b64atBufs.Put(bp)
	n := 0
	for n < want {
		pos := off + int64(n)
		from := pos / 3 * 4
		if skip := int(pos % 3); skip > 0 || want-n < 3 || from+4 > r.chars {
			// A group read in part: decoded aside, the bytes asked for copied.
			enc := bp[:min(4, r.chars-from)]
			if m, err := r.ra.ReadAt(enc, from); m < len(enc) {
				return n, err
			}
			var g [3]byte
			d, _ := base64.RawStdEncoding.Decode(g[:], enc[:len(enc)/4*4+[4]int{0, 0, 2, 3}[len(enc)%4]])
			if d <= skip {
				return n, io.EOF
			}
			n += copy(p[n:want], g[skip:d])
			continue
		}
		// Whole groups, as many as p and the buffer take and the
		// characters hold.
		groups := min(int64(want-n)/3, int64(len(bp)/4), (r.chars-from)/4)
		enc := bp[:groups*4]
		if m, err := r.ra.ReadAt(enc, from); m < len(enc) {
			return n, err
		}
		d, _ := base64.RawStdEncoding.Decode(p[n:], enc)
		n += d
		if d < len(enc)/4*3 {
			// The spool holds alphabet characters only; never loop on
			// what does not decode.
			return n, errors.New("spool: characters that do not decode")
		}
	}
	if n < len(p) {
		return n, io.EOF
	}
	return n, nil
}

// b64atChars is the piece of characters b64ReaderAt reads at a time.
const b64atChars = 16 << 10

var b64atBufs = sync.Pool{New: func() any { return new([b64atChars]byte) }}

// blockReader reads the blocks of a spool held in memory.
type blockReader struct{ s *spool }

func (r blockReader) ReadAt(p []byte, off int64) (int, error) {
	if off < 0 {
		return 0, errors.New("spool: negative offset")
	}
	n := 0
	for len(p) > 0 && off < r.s.n {
		b := *r.s.blocks[off/spoolBlock]
		c := copy(p, b[off%spoolBlock:min(int64(spoolBlock), r.s.n-off/spoolBlock*spoolBlock)])
		p, off, n = p[c:], off+int64(c), n+c
	}
	if len(p) > 0 {
		return n, io.EOF
	}
	return n, nil
}

func (s *spool) freeBlocks() {
	for _, b := range s.blocks {
		spoolBlocks.Put(b)
	}
	s.blocks = nil
}

// release frees the memory and removes the temporary file.
func (s *spool) release() {
	s.freeBlocks()
	if s.file != nil {
		name := s.file.Name()
		s.file.Close()
		os.Remove(name)
		s.file = nil
	}
}

// sink receives the decoded content of an attachment: it counts it, keeps its
// first bytes for sniffing and, when those say an archive format that is
// opened or the attachment claims to be one, spools it for a look inside.
type sink struct {
	n        int64
	head     []byte
	claims   string // the archive format the name or media type claims
	decided  bool
	spool    *spool
	newSpool func() *spool
}

// setHead gives the sink the first bytes of content that is not written
// to it (base64, which decodeBase64 reads), and decides whether it spools.
func (k *sink) setHead(head []byte) {
	k.head = head[:min(len(head), headSize)]
	k.decided = true
	if spools(k.head, k.claims) {
		k.spool = k.newSpool()
	}
}

// Write implements io.Writer; it never fails.
func (k *sink) Write(p []byte) (int, error) {
	k.n += int64(len(p))
	rest := p
	if len(k.head) < headSize {
		take := min(len(p), headSize-len(k.head))
		k.head = append(k.head, p[:take]...)
		rest = p[take:]
	}
	if !k.decided {
		if len(k.head) < sniffLen {
			return len(p), nil
		}
		k.decide()
	} else {
		rest = p
	}
	if k.spool != nil {
		k.spool.Write(rest)
	}
	return len(p), nil
}

// sniffLen is how many leading bytes decide whether a sink spools: the
// whole head, as for base64 attachments (a boot sector's signature is at
// offset 510).
const sniffLen = headSize

// spools reports whether content starting with head, named or typed as
// claims, is kept for a look inside.
func spools(head []byte, claims string) bool {
	return opens(sniffArchive(head)) || opens(claims)
}

// decide spools the content seen so far when it is an archive.
func (k *sink) decide() {
	k.decided = true
	if spools(k.head, k.claims) {
		k.spool = k.newSpool()
		k.spool.Write(k.head)
	}
}

// end decides for content shorter than sniffLen, once it is all written.
func (k *sink) end() {
	if !k.decided {
		k.decide()
	}
}
