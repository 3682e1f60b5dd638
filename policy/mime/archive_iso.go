package mime

// Disc images, ISO 9660 and UDF (.iso, .udf, and .img by content):
// Windows mounts them on a double click and shows the files inside, so an
// INVOICE.EXE in an INVOICE.ISO is one click from running. Three readings
// of an image are listed, as the tools that show them differ:
//   - UDF (ECMA-167 3rd edition, OSTA UDF 1.02 to 2.60), which Windows
//     mounts when an image has it: anchor, volume descriptor sequence,
//     partitions (physical, sparable, and the metadata partition of UDF
//     2.50 and later), file set, file entries and extended file entries,
//     file identifier descriptors;
//   - the Joliet supplementary volume descriptor's names, which Windows
//     shows when there is no UDF (and 7-Zip always);
//   - the primary volume descriptor's tree (ECMA-119), with Rock Ridge
//     names (RRIP, IEEE P1282) when the image has them, which Linux shows.
//
// Their union is listed: a file is one entry, named by the first reading
// that has it, with the names of the others as other names when they
// differ (a crafted image names a file differently for each tool); a file
// that only one reading has is listed all the same. The derived 8.3 names
// of the primary tree are not counted as other names when a reading with
// long names has the same file.
//
// The reader is written here, not taken from a module: no Go module reads
// the three safely. github.com/kdomanski/iso9660 (v0.4.0) reads neither
// Joliet nor UDF, and marks its Rock Ridge reading experimental;
// github.com/diskfs/go-diskfs (v1.9.4, looked at) reads no UDF, allocates
// each directory at the size its record claims (a lying record costs up
// to 4 GiB), finds directories by the path table, which a crafted image
// makes disagree with the tree, and reads a backend.Storage, not an
// io.ReaderAt; github.com/carbon-os/diskiso, which reads all three, has no
// release and no users yet.
//
// This reader bounds what an image may cost: directory records read
// (isoMaxRecords, which also counts the sectors of ISO 9660 directories
// and UDF allocation descriptors), bytes of the names kept, chains of
// descriptors; directories it has read are not read again (a record that
// points to an ancestor does not loop); an extent outside the image is an
// entry that cannot be read, a gap.
//
// Not read, and a gap when met: the virtual partition of write-once
// media (the VAT of a CD-R or BD-R), interleaved ISO 9660 files, extended
// allocation descriptors. Not listed, as Windows does not show them
// either: El Torito boot images that no directory names, UDF named
// streams, High Sierra volumes.

import (
	"bytes"
	"crypto/sha256"
	"encoding/binary"
	"errors"
	"fmt"
	"io"
	"slices"
	"strings"
	"unicode/utf16"
)

// formatISO is the Archive.Format of ISO 9660 and UDF images.
const formatISO = "iso"

// Bounds on what an image may cost.
const (
	isoSector = 2048 // ECMA-119 logical sector; ECMA-167 volume structure descriptors are this far apart
	// isoMaxRecords bounds the directory records, ISO 9660 directory
	// sectors, UDF file identifiers and allocation descriptors read in
	// an image, every reading together.
	isoMaxRecords = 1 << 17
	// isoMaxNameBytes bounds the bytes of the paths kept for an image;
	// isoMaxPath those of one path.
	isoMaxNameBytes = 16 << 20
	isoMaxPath      = 4096
	// isoMaxDescriptors bounds the volume descriptors read in a row;
	// isoMaxHops the chains that continue elsewhere (UDF volume descriptor
	// pointers, indirect entries and allocation extents, Rock Ridge
	// continuation areas).
	isoMaxDescriptors = 64
	isoMaxHops        = 8
)

// init registers the format: sniffed by content, claimed by .iso, .udf
// and the media types of CD images.
func init() {
	registerContainer(&container{
		format:    formatISO,
		sniff:     sniffISO,
		weakSniff: true,
		// A .img is claimed by no name: it may be a FAT image. Its content
		// is sniffed instead.
		exts:  []string{"iso", "udf"},
		types: []string{"application/x-iso9660-image", "application/x-cd-image"},
		open:  openISO,
	})
}

// sniffISO reports whether head may start a disc image. Its volume
// descriptors are at byte 32768, beyond the head: the head is taken when
// it is all zeros (the system area of an ISO 9660 image, the 32 KiB before
// a UDF volume), or else when it ends its first sector with the boot
// signature 0x55AA of an MBR (the system area of a hybrid image that also
// boots from a USB stick) and is not the boot sector of a FAT, exFAT or
// NTFS volume, which is another format. openISO then finds the
// descriptors, or says the content is not an image.
func sniffISO(head []byte) bool {
	if len(head) == 0 {
		return false
	}
	zeros := true
	for _, c := range head {
		zeros = zeros && c == 0
	}
	if zeros {
		return true
	}
	return len(head) >= 512 && head[510] == 0x55 && head[511] == 0xaa && !volumeBootRecord(head)
}

// volumeBootRecord reports whether b starts with the boot sector of a FAT,
// exFAT or NTFS volume: a jump instruction, then the name exFAT gives
// itself or a BIOS parameter block whose sector size (at 11) is a power of
// two from 512 to 4096 and whose sectors per cluster (at 13) a power of
// two.
func volumeBootRecord(b []byte) bool {
	if !(b[0] == 0xeb && b[2] == 0x90 || b[0] == 0xe9) {
		return false
	}
	if string(b[3:11]) == "EXFAT   " {
		return true
	}
	bps, spc := binary.LittleEndian.Uint16(b[11:]), b[13]
	return bps >= 512 && bps <= 4096 && bps&(bps-1) == 0 && spc != 0 && spc&(spc-1) == 0
}

// openISO finds the volume descriptors of the image in ra and lists the
// files of every reading it has. Content without an ISO 9660 or UDF
// descriptor is errNotContainer, unless its name claims an archive format
// (this one included): for sniffed content, errNotContainer makes
// inspectArchive read it as a plain file, which would pass over what the
// name claims (a zip after 4 KiB of zeros, an .iso of zeros).
func openISO(ra io.ReaderAt, size int64, fileName string) (arcWalker, error) {
	r := &isoReader{
		img:       isoImage{ra: ra, size: size},
		budget:    isoMaxRecords,
		nameBytes: isoMaxNameBytes,
		first:     map[[32]byte]int{},
		seen:      map[[32]byte]bool{},
	}
	pvd, joliet, cd001 := r.img.isoDescriptors()
	u, udfErr := r.udf()
	if !cd001 && u == nil && udfErr == nil {
		if c := claimedArchive(Ext(fileName), ""); c != "" {
			return nil, fmt.Errorf("no ISO 9660 or UDF volume descriptor, and the name says %s", c)
		}
		return nil, errNotContainer
	}
	if cd001 && pvd == nil && joliet == nil && u == nil && udfErr == nil {
		return nil, errors.New("no primary volume descriptor")
	}
	r.fail("UDF", udfErr)
	if u != nil && udfErr == nil {
		r.reading("UDF", u.walk)
	}
	if joliet != nil {
		t, err := newISOTree(joliet, true)
		r.fail("Joliet", err)
		if err == nil {
			r.reading("Joliet", t.walk)
		}
	}
	if pvd != nil {
		t, err := newISOTree(pvd, false)
		r.fail("ISO 9660", err)
		if err == nil {
			r.reading("ISO 9660", t.walk)
		}
	}
	err := r.err
	if r.stop != nil {
		err = r.stop
	}
	return &isoWalker{img: r.img, files: r.files, err: err}, nil
}

// isoImage is the image being read.
type isoImage struct {
	ra   io.ReaderAt
	size int64
}

// read returns the n bytes at off, an error when they are not all in the
// image.
func (m isoImage) read(off, n int64) ([]byte, error) {
	if off < 0 || n < 0 || off > m.size || n > m.size-off {
		return nil, fmt.Errorf("%d bytes at %d: beyond the end of the image (%d bytes)", n, off, m.size)
	}
	b := make([]byte, n)
	if k, err := m.ra.ReadAt(b, off); k < len(b) {
		return nil, err
	}
	return b, nil
}

// isoDescriptors reads the ISO 9660 volume descriptor set (ECMA-119 8.1):
// one descriptor a sector from sector 16, until the terminator (type 255),
// a sector that is no descriptor, or isoMaxDescriptors of them. It returns
// the first primary volume descriptor (type 1), the first Joliet
// supplementary one (type 2 with a UCS-2 escape sequence, Joliet
// specification 5), and whether there was any descriptor at all.
func (m isoImage) isoDescriptors() (pvd, joliet []byte, found bool) {
	for i := int64(16); i < 16+isoMaxDescriptors; i++ {
		b, err := m.read(i*isoSector, isoSector)
		if err != nil || string(b[1:6]) != "CD001" {
			break
		}
		found = true
		switch b[0] {
		case 1:
			if pvd == nil {
				pvd = b
			}
		case 2:
			if joliet == nil && b[7]&1 == 0 && b[88] == '%' && b[89] == '/' && (b[90] == '@' || b[90] == 'C' || b[90] == 'E') {
				joliet = b
			}
		case 255:
			return pvd, joliet, found
		}
	}
	return pvd, joliet, found
}

// isoReader collects the files of an image, reading after reading.
type isoReader struct {
	img       isoImage
	budget    int // records left to read
	nameBytes int // bytes of paths left to keep
	files     []*isoFile
	first     map[[32]byte]int  // the first file of each content, by isoData.key
	seen      map[[32]byte]bool // each content and path listed, by the key of both
	current   int               // the reading being walked, counted from 1
	short     bool              // its names are derived 8.3 names, and another reading came first
	stop      error             // a bound reached: nothing more is read
	err       error             // the first error of a reading
}

// isoFile is a file of the image.
type isoFile struct {
	path    string
	other   []string
	size    int64
	data    isoData
	reading int
}

// isoData is where the content of a file lies: pieces of the image, or
// bytes embedded in a UDF file entry, or why it cannot be read.
type isoData struct {
	pieces   []isoPiece
	embedded []byte
	at       int64 // the file entry holding embedded bytes
	err      error
}

// isoPiece is a run of a file's content: n bytes at off in the image, or n
// zero bytes (a UDF extent that is not recorded).
type isoPiece struct {
	off, n int64
	zero   bool
}

// errISORecords and errISONames stop the reading of an image past its
// bounds.
var (
	errISORecords = &arcStop{class: GapLimit, why: fmt.Sprintf("too many directory records: more than %d", isoMaxRecords)}
	errISONames   = &arcStop{class: GapLimit, why: fmt.Sprintf("too many names: more than %d bytes", isoMaxNameBytes)}
)

// spend charges n records to the budget.
func (r *isoReader) spend(n int) error {
	r.budget -= n
	if r.budget < 0 {
		r.stop = errISORecords
		return r.stop
	}
	return nil
}

// fail records the first error of a reading, named.
func (r *isoReader) fail(reading string, err error) {
	var stop *arcStop
	switch {
	case err == nil:
	case errors.As(err, &stop):
		r.stop = err
	case r.err == nil:
		r.err = fmt.Errorf("%s: %w", reading, err)
	}
}

// reading walks one reading of the image, unless a bound was reached.
func (r *isoReader) reading(name string, walk func(*isoReader) error) {
	if r.stop != nil {
		return
	}
	r.current++
	r.short = false
	r.fail(name, walk(r))
}

// path joins a directory's path and a name, charged to the name budget.
func (r *isoReader) path(dir, name string) (string, error) {
	p := name
	if dir != "" {
		p = dir + "/" + name
	}
	if len(p) > isoMaxPath {
		return "", fmt.Errorf("a path is longer than %d bytes", isoMaxPath)
	}
	r.nameBytes -= len(p)
	if r.nameBytes < 0 {
		r.stop = errISONames
		return "", r.stop
	}
	return p, nil
}

// add lists a file of the current reading, unless a file listed has the
// same content (the same pieces of the image) under the same path. The
// same content under another path, in an earlier reading, is another
// name of the file listed, except for derived 8.3 names. A file without
// content is one by its path; one that cannot be read is always listed.
func (r *isoReader) add(f *isoFile) {
	f.reading = r.current
	if f.data.err != nil {
		r.files = append(r.files, f)
		return
	}
	key, content := f.data.key()
	both := sha256.Sum256([]byte(string(key[:]) + f.path))
	if r.seen[both] {
		return
	}
	i, same := r.first[key]
	switch {
	case r.short && (same || !content):
		return
	case content && same && r.files[i].reading != f.reading:
		r.seen[both] = true
		r.files[i].other = append(r.files[i].other, f.path)
		return
	case content && !same:
		r.first[key] = len(r.files)
	}
	r.seen[both] = true
	r.files = append(r.files, f)
}

// key tells the content of a file apart from any other, by a hash of its
// pieces or of the entry its bytes are embedded in; content is false for
// a file without content, whose key is that of every such file.
func (d isoData) key() (key [32]byte, content bool) {
	if !slices.ContainsFunc(d.pieces, func(p isoPiece) bool { return p.n > 0 }) && d.embedded == nil {
		return key, false
	}
	h := sha256.New()
	if d.embedded != nil {
		fmt.Fprintf(h, "@%d", d.at)
	}
	for _, p := range d.pieces {
		if p.zero {
			fmt.Fprintf(h, "z%d,", p.n)
		} else {
			fmt.Fprintf(h, "%d+%d,", p.off, p.n)
		}
	}
	h.Sum(key[:0])
	return key, true
}

// open returns the content of a file: its pieces one after the other.
func (d isoData) open(img isoImage) (io.ReadCloser, error) {
	if d.err != nil {
		return nil, d.err
	}
	if d.embedded != nil {
		return io.NopCloser(bytes.NewReader(d.embedded)), nil
	}
	rs := make([]io.Reader, 0, len(d.pieces))
	for _, p := range d.pieces {
		switch {
		case p.zero:
			rs = append(rs, io.LimitReader(isoZeros{}, p.n))
		case p.off < 0 || p.off > img.size || p.n > img.size-p.off:
			return nil, fmt.Errorf("extent of %d bytes at %d: beyond the end of the image (%d bytes)", p.n, p.off, img.size)
		default:
			rs = append(rs, io.NewSectionReader(img.ra, p.off, p.n))
		}
	}
	return io.NopCloser(io.MultiReader(rs...)), nil
}

// isoZeros reads as endless zero bytes.
type isoZeros struct{}

// Read fills p with zeros.
func (isoZeros) Read(p []byte) (int, error) {
	clear(p)
	return len(p), nil
}

// isoWalker gives the files an image's readings listed, then the error
// that ended a reading, if any.
type isoWalker struct {
	img   isoImage
	files []*isoFile
	err   error
}

// next gives the next file, the error after the last one, or io.EOF.
func (w *isoWalker) next() (*arcEntry, error) {
	if len(w.files) == 0 {
		if err := w.err; err != nil {
			w.err = nil
			return nil, err
		}
		return nil, io.EOF
	}
	f := w.files[0]
	w.files = w.files[1:]
	return &arcEntry{
		name:  f.path,
		other: f.other,
		size:  f.size,
		open:  func() (io.ReadCloser, error) { return f.data.open(w.img) },
	}, nil
}

// The ISO 9660 trees.

// isoTree is the directory tree of a primary or a Joliet supplementary
// volume descriptor.
type isoTree struct {
	joliet bool
	bs     int64  // logical block size (ECMA-119 8.4.12)
	root   []byte // root directory record (8.4.18)
	// Rock Ridge, found in the root directory's first record: where the
	// SUSP entries start in a record's system use field (-1 without
	// Rock Ridge), and the bytes its SP entry says to skip.
	rock, skip int
}

// newISOTree reads the block size and root directory record of a volume
// descriptor.
func newISOTree(vd []byte, joliet bool) (*isoTree, error) {
	bs := int64(binary.LittleEndian.Uint16(vd[128:]))
	if bs < 512 || bs > isoSector || bs&(bs-1) != 0 {
		return nil, fmt.Errorf("logical block size %d", bs)
	}
	if vd[156] < 34 {
		return nil, errors.New("bad root directory record")
	}
	return &isoTree{joliet: joliet, bs: bs, root: vd[156 : 156+34], rock: -1}, nil
}

// isoRecord is a directory record (ECMA-119 9.1).
type isoRecord struct {
	off, size   int64 // the extent: size bytes at off in the image, past the extended attribute record
	flags       byte
	interleaved bool
	name        []byte
	su          []byte // system use field
}

// ISO 9660 file flags (ECMA-119 9.1.6).
const (
	isoFlagDir         = 0x02
	isoFlagMultiExtent = 0x80
)

// record parses directory record b.
func (t *isoTree) record(b []byte) (isoRecord, error) {
	n := int(b[32])
	if 33+n > len(b) {
		return isoRecord{}, errors.New("bad directory record")
	}
	su := 33 + n + (n+1)%2
	rec := isoRecord{
		off:         (int64(binary.LittleEndian.Uint32(b[2:])) + int64(b[1])) * t.bs,
		size:        int64(binary.LittleEndian.Uint32(b[10:])),
		flags:       b[25],
		interleaved: b[26] != 0 || b[27] != 0,
		name:        b[33 : 33+n],
	}
	if su < len(b) {
		rec.su = b[su:]
	}
	return rec, nil
}

// isoDirTodo is a directory still to read: size bytes at off, or, when
// size is -1, as long as its own "." record says (a Rock Ridge child link).
type isoDirTodo struct {
	path      string
	off, size int64
}

// walk lists the files of the tree, directory after directory.
func (t *isoTree) walk(r *isoReader) error {
	root, err := t.record(t.root)
	if err != nil {
		return err
	}
	todo := []isoDirTodo{{off: root.off, size: root.size}}
	seen := map[int64]bool{}
	var first error
	for len(todo) > 0 && r.stop == nil {
		d := todo[len(todo)-1]
		todo = todo[:len(todo)-1]
		if seen[d.off] {
			continue
		}
		seen[d.off] = true
		more, err := t.directory(r, d, len(seen) == 1)
		if first == nil {
			first = err
		}
		// Depth first, each directory's subdirectories in their order.
		for i := len(more) - 1; i >= 0; i-- {
			todo = append(todo, more[i])
		}
	}
	if r.stop != nil {
		return r.stop
	}
	return first
}

// directory lists the files of one directory and returns its
// subdirectories. Records do not cross sector boundaries: a zero length
// ends a sector's records (ECMA-119 6.8.1.1). The records of a file of
// several extents follow each other, all but the last flagged (9.1.6);
// their extents are joined.
func (t *isoTree) directory(r *isoReader, d isoDirTodo, root bool) ([]isoDirTodo, error) {
	var dirs []isoDirTodo
	var multi *isoFile
	for pos := int64(0); d.size < 0 || pos < d.size; pos += isoSector {
		if err := r.spend(1); err != nil {
			return dirs, err
		}
		n := int64(isoSector)
		if d.size >= 0 {
			n = min(n, d.size-pos)
		}
		sec, err := r.img.read(d.off+pos, n)
		if err != nil {
			return dirs, fmt.Errorf("directory: %w", err)
		}
		for p := 0; p < len(sec) && sec[p] != 0; {
			l := int(sec[p])
			if l < 34 || p+l > len(sec) {
				return dirs, fmt.Errorf("bad directory record at %d", d.off+pos+int64(p))
			}
			b := sec[p : p+l]
			p += l
			if err := r.spend(1); err != nil {
				return dirs, err
			}
			rec, err := t.record(b)
			if err != nil {
				return dirs, err
			}
			if len(rec.name) == 1 && rec.name[0] <= 1 {
				// "." and "..": the root's "." tells Rock Ridge; a
				// directory of unknown size takes its own.
				if rec.name[0] == 0 && root && !t.joliet {
					t.findRockRidge(rec.su)
					r.short = t.rock < 0 && r.current > 1
				}
				if rec.name[0] == 0 && d.size < 0 {
					d.size = rec.size
				}
				continue
			}
			name, rr, err := t.name(r, rec)
			if err != nil {
				return dirs, err
			}
			if rr.relocated {
				continue
			}
			path, err := r.path(d.path, name)
			if err != nil {
				return dirs, err
			}
			switch {
			case rr.child >= 0:
				dirs = append(dirs, isoDirTodo{path: path, off: rr.child * t.bs, size: -1})
			case rec.flags&isoFlagDir != 0:
				dirs = append(dirs, isoDirTodo{path: path, off: rec.off, size: rec.size})
			default:
				piece := isoPiece{off: rec.off, n: rec.size}
				if multi != nil {
					multi.data.pieces = append(multi.data.pieces, piece)
					multi.size += rec.size
					if path != multi.path && !slices.Contains(multi.other, path) {
						// Linux lists the file by its last record's name.
						multi.other = append(multi.other, path)
					}
				} else {
					multi = &isoFile{path: path, size: rec.size, data: isoData{pieces: []isoPiece{piece}}}
				}
				if rec.interleaved {
					multi.data.err = errors.New("interleaved file: not read")
				}
				if rec.flags&isoFlagMultiExtent == 0 {
					r.add(multi)
					multi = nil
				}
			}
		}
		if d.size < 0 {
			return dirs, errors.New("relocated directory without a \".\" record")
		}
	}
	if multi != nil {
		r.add(multi)
	}
	return dirs, nil
}

// findRockRidge looks for the SUSP SP entry (SUSP 5.3) that starts the
// system use field of the root directory's "." record, at its start or
// after the 14 bytes of a CD-XA record, and notes where the entries start
// and how many bytes to skip.
func (t *isoTree) findRockRidge(su []byte) {
	for _, at := range []int{0, 14} {
		if e := su[min(at, len(su)):]; len(e) >= 7 && string(e[:2]) == "SP" && e[4] == 0xbe && e[5] == 0xef {
			t.rock, t.skip = at, int(e[6])
			return
		}
	}
}

// isoRockRidge is what a record's Rock Ridge entries say besides its name.
type isoRockRidge struct {
	relocated bool  // RE: a directory moved here, listed where its CL entry is
	child     int64 // CL: the block of the directory this record stands for; -1 for none
}

// name decodes a record's name: Joliet's UCS-2 (read as UTF-16, as
// Windows does), the Rock Ridge NM name, or the 8.3 name; version numbers
// (";1") are dropped.
func (t *isoTree) name(r *isoReader, rec isoRecord) (string, isoRockRidge, error) {
	rr := isoRockRidge{child: -1}
	if t.joliet {
		return isoStripVersion(utf16BE(rec.name)), rr, nil
	}
	if t.rock >= 0 && len(rec.su) > t.rock+t.skip {
		nm, named, err := t.rockRidge(r, rec.su[t.rock+t.skip:], &rr)
		if err != nil {
			return "", rr, err
		}
		if named {
			return entryName(string(nm), false), rr, nil
		}
	}
	name := isoStripVersion(entryName(string(rec.name), false))
	if rec.flags&isoFlagDir == 0 {
		name = strings.TrimSuffix(name, ".")
	}
	return name, rr, nil
}

// rockRidge reads the SUSP entries of a system use field (SUSP 4), and
// its continuation areas (CE), for the NM name (RRIP 4.1.4) and the RE
// and CL entries of relocated directories (4.1.5).
func (t *isoTree) rockRidge(r *isoReader, su []byte, rr *isoRockRidge) ([]byte, bool, error) {
	var nm []byte
	named := false
	for hops := 0; ; hops++ {
		var ce []byte
		for len(su) >= 4 {
			l := int(su[2])
			if l < 4 || l > len(su) {
				break
			}
			e := su[:l]
			su = su[l:]
			switch string(e[:2]) {
			case "NM":
				if l >= 5 && e[4]&0x06 == 0 { // not "." or ".."
					nm = append(nm, e[5:]...)
					named = true
				}
			case "CE":
				if l >= 28 {
					ce = e
				}
			case "RE":
				rr.relocated = true
			case "CL":
				if l >= 12 {
					rr.child = int64(binary.LittleEndian.Uint32(e[4:]))
				}
			case "ST":
				su = nil
			}
		}
		if len(nm) > isoMaxPath {
			return nil, false, fmt.Errorf("a Rock Ridge name is longer than %d bytes", isoMaxPath)
		}
		if ce == nil {
			return nm, named, nil
		}
		if hops >= isoMaxHops {
			return nil, false, fmt.Errorf("continuation areas (Rock Ridge) chained more than %d deep", isoMaxHops)
		}
		if err := r.spend(1); err != nil {
			return nil, false, err
		}
		off := int64(binary.LittleEndian.Uint32(ce[4:]))*t.bs + int64(binary.LittleEndian.Uint32(ce[12:]))
		b, err := r.img.read(off, min(int64(binary.LittleEndian.Uint32(ce[20:])), isoSector))
		if err != nil {
			return nil, false, fmt.Errorf("continuation area (Rock Ridge): %w", err)
		}
		su = b
	}
}

// isoStripVersion drops the version number of an ISO 9660 or Joliet file
// identifier: ";" and the digits after it (ECMA-119 7.5.1).
func isoStripVersion(s string) string {
	i := strings.LastIndexByte(s, ';')
	if i < 0 || strings.TrimLeft(s[i+1:], "0123456789") != "" {
		return s
	}
	return s[:i]
}

// utf16BE decodes big-endian UTF-16, an odd last byte dropped.
func utf16BE(b []byte) string {
	u := make([]uint16, len(b)/2)
	for i := range u {
		u[i] = binary.BigEndian.Uint16(b[2*i:])
	}
	return string(utf16.Decode(u))
}

// UDF.

// udfVolume is the logical volume of a UDF image.
type udfVolume struct {
	r     *isoReader // charged for what is read
	img   isoImage
	bs    int64
	parts []*udfPart // by partition reference number
	root  udfAddr    // root directory ICB
}

// udfAddr is a logical block address (lb_addr, ECMA-167 4/7.1).
type udfAddr struct {
	block uint32
	part  uint16
}

// udfPart is a partition of the logical volume, as its partition map
// says (ECMA-167 3/10.7; UDF 2.60 2.2.8-2.2.10).
type udfPart struct {
	start int64 // first sector of the partition; of the one beneath, for the metadata partition
	// Sparable partitions (UDF 2.2.9): packets of packet blocks moved
	// elsewhere, by their first block.
	packet int64
	spared map[int64]int64
	// The metadata partition (UDF 2.2.10) lies in the metadata file:
	// its pieces, and where each starts in it.
	meta     []isoPiece
	metaAt   []int64
	isMeta   bool
	unusable error // why the partition cannot be read
}

// UDF descriptor tag identifiers (ECMA-167 3/7.2.1, 4/7.2.1).
const (
	udfTagAVDP         = 2
	udfTagVDP          = 3
	udfTagPartition    = 5
	udfTagLogicalVol   = 6
	udfTagTerminating  = 8
	udfTagFileSet      = 256
	udfTagFileID       = 257
	udfTagAllocExtent  = 258
	udfTagIndirect     = 259
	udfTagFileEntry    = 261
	udfTagExtFileEntry = 266
)

// udf finds the UDF volume of the image: nil and no error when there is
// none (neither an NSR descriptor in the volume recognition sequence nor
// an anchor), an error when there is one that cannot be read.
func (r *isoReader) udf() (*udfVolume, error) {
	nsr := r.img.udfRecognition()
	bs, avdp := r.img.udfAnchor()
	if avdp == nil {
		if nsr {
			return nil, errors.New("no anchor volume descriptor pointer")
		}
		return nil, nil
	}
	u := &udfVolume{r: r, img: r.img, bs: bs}
	return u, u.load(avdp)
}

// udfRecognition reports whether the volume recognition sequence (ECMA-167
// 2/8.3), from byte 32768 a descriptor a sector, has an NSR descriptor
// (3/9.1) before its end (TEA01). Sectors that are no descriptor are
// passed over: an image whose ISO 9660 descriptors were blanked still
// counts.
func (m isoImage) udfRecognition() bool {
	for i := int64(16); i < 16+isoMaxDescriptors; i++ {
		b, err := m.read(i*isoSector, 7)
		if err != nil {
			return false
		}
		switch string(b[1:6]) {
		case "NSR02", "NSR03":
			return true
		case "TEA01":
			return false
		}
	}
	return false
}

// udfAnchor finds an anchor volume descriptor pointer (ECMA-167 3/10.2):
// at sector 256, else at the last sector or 256 before it (UDF 2.2.3),
// with the sector sizes UDF images are written with. It returns the
// sector size and the descriptor.
func (m isoImage) udfAnchor() (int64, []byte) {
	for _, last := range []bool{false, true} {
		for _, bs := range []int64{2048, 512, 4096, 1024} {
			locs := []int64{256}
			if last {
				n := m.size / bs
				locs = []int64{n - 1, n - 257}
			}
			for _, loc := range locs {
				if loc < 0 {
					continue
				}
				b, err := m.read(loc*bs, 512)
				if err != nil {
					continue
				}
				if id, err := udfTag(b, loc); err == nil && id == udfTagAVDP {
					return bs, b
				}
			}
		}
	}
	return 0, nil
}

// udfTag checks a descriptor tag (ECMA-167 3/7.2): its checksum, its
// location when loc is not -1, and the CRC of the descriptor when b holds
// it. It returns the tag identifier.
func udfTag(b []byte, loc int64) (uint16, error) {
	if len(b) < 16 {
		return 0, errors.New("short descriptor")
	}
	var sum byte
	for i, c := range b[:16] {
		if i != 4 {
			sum += c
		}
	}
	id := binary.LittleEndian.Uint16(b)
	if sum != b[4] {
		return id, fmt.Errorf("descriptor %d: bad tag checksum", id)
	}
	if at := binary.LittleEndian.Uint32(b[12:]); loc >= 0 && int64(at) != loc {
		return id, fmt.Errorf("descriptor %d: recorded at %d, found at %d", id, at, loc)
	}
	if n := int(binary.LittleEndian.Uint16(b[10:])); n <= len(b)-16 && udfCRC(b[16:16+n]) != binary.LittleEndian.Uint16(b[8:]) {
		return id, fmt.Errorf("descriptor %d: bad CRC", id)
	}
	return id, nil
}

// udfCRCTable is the table of the CRC of UDF descriptors: CRC-ITU-T,
// polynomial 0x1021, initial value 0 (ECMA-167 1/7.2.6).
var udfCRCTable = func() (t [256]uint16) {
	for i := range t {
		c := uint16(i) << 8
		for range 8 {
			if c&0x8000 != 0 {
				c = c<<1 ^ 0x1021
			} else {
				c <<= 1
			}
		}
		t[i] = c
	}
	return t
}()

// udfCRC is the CRC of b.
func udfCRC(b []byte) uint16 {
	var c uint16
	for _, x := range b {
		c = c<<8 ^ udfCRCTable[byte(c>>8)^x]
	}
	return c
}

// load reads the volume descriptor sequence the anchor points to (the
// main one, else the reserve one), the partitions, and the file set
// descriptor with the root directory.
func (u *udfVolume) load(avdp []byte) error {
	parts := map[uint16]*udfPartDesc{}
	var lvd []byte
	var first error
	for _, ext := range [][]byte{avdp[16:24], avdp[24:32]} {
		var err error
		lvd, err = u.sequence(ext, parts, lvd)
		if first == nil {
			first = err
		}
		if lvd != nil && len(parts) > 0 {
			break
		}
	}
	if lvd == nil || len(parts) == 0 {
		if first != nil {
			return first
		}
		return errors.New("no logical volume or partition descriptor")
	}
	if lbs := int64(binary.LittleEndian.Uint32(lvd[212:])); lbs != u.bs {
		return fmt.Errorf("logical block size %d on sectors of %d", lbs, u.bs)
	}
	if err := u.partitionMaps(lvd, parts); err != nil {
		return err
	}
	fsd := udfLongAddr(lvd[248:])
	b, err := u.block(fsd)
	if err != nil {
		return fmt.Errorf("file set descriptor: %w", err)
	}
	if id, err := udfTag(b, int64(fsd.block)); err != nil || id != udfTagFileSet {
		return fmt.Errorf("no file set descriptor at block %d", fsd.block)
	}
	u.root = udfLongAddr(b[400:])
	return nil
}

// udfPartDesc is what a partition descriptor (ECMA-167 3/10.5) says.
type udfPartDesc struct {
	seq           uint32 // volume descriptor sequence number: the highest prevails
	start, length int64
}

// sequence reads a volume descriptor sequence (ECMA-167 3/8.4.2) of the
// extent ext (extent_ad, 3/7.1): the partition descriptors into parts,
// and the logical volume descriptor that prevails over lvd, which it
// returns. It follows volume descriptor pointers, and stops at the
// terminating descriptor, at a sector that is no descriptor, or after
// isoMaxDescriptors.
func (u *udfVolume) sequence(ext []byte, parts map[uint16]*udfPartDesc, lvd []byte) ([]byte, error) {
	length, loc := int64(binary.LittleEndian.Uint32(ext)), int64(binary.LittleEndian.Uint32(ext[4:]))
	for hops := 0; hops <= isoMaxHops; hops++ {
		next := false
		for i := int64(0); i < min(length/u.bs, isoMaxDescriptors) && !next; i++ {
			if err := u.r.spend(1); err != nil {
				return lvd, err
			}
			b, err := u.img.read((loc+i)*u.bs, u.bs)
			if err != nil {
				return lvd, fmt.Errorf("volume descriptor sequence: %w", err)
			}
			id, err := udfTag(b, loc+i)
			if err != nil {
				return lvd, nil
			}
			seq := binary.LittleEndian.Uint32(b[16:])
			switch id {
			case udfTagVDP:
				length, loc = int64(binary.LittleEndian.Uint32(b[20:])), int64(binary.LittleEndian.Uint32(b[24:]))
				next = true
			case udfTagPartition:
				num := binary.LittleEndian.Uint16(b[22:])
				if p := parts[num]; p == nil || seq >= p.seq {
					parts[num] = &udfPartDesc{seq: seq, start: int64(binary.LittleEndian.Uint32(b[188:])), length: int64(binary.LittleEndian.Uint32(b[192:]))}
				}
			case udfTagLogicalVol:
				if lvd == nil || seq >= binary.LittleEndian.Uint32(lvd[16:]) {
					lvd = b
				}
			case udfTagTerminating:
				return lvd, nil
			}
		}
		if !next {
			return lvd, nil
		}
	}
	return lvd, fmt.Errorf("volume descriptor pointers chained more than %d deep", isoMaxHops)
}

// partitionMaps reads the partition maps of the logical volume
// descriptor (ECMA-167 3/10.6.13, 3/10.7; UDF 2.2.8-2.2.10) into u.parts.
func (u *udfVolume) partitionMaps(lvd []byte, parts map[uint16]*udfPartDesc) error {
	mtl := int64(binary.LittleEndian.Uint32(lvd[264:]))
	if mtl > u.bs-440 {
		return errors.New("partition maps beyond the logical volume descriptor")
	}
	maps := lvd[440 : 440+mtl]
	n := binary.LittleEndian.Uint32(lvd[268:])
	for i := uint32(0); i < n; i++ {
		if len(maps) < 2 || maps[1] < 2 || int(maps[1]) > len(maps) {
			return errors.New("bad partition map")
		}
		m := maps[:maps[1]]
		maps = maps[maps[1]:]
		p := &udfPart{}
		u.parts = append(u.parts, p)
		desc := func(num uint16) *udfPartDesc {
			d := parts[num]
			if d == nil {
				p.unusable = fmt.Errorf("no descriptor of partition %d", num)
				return &udfPartDesc{}
			}
			return d
		}
		switch {
		case m[0] == 1 && len(m) >= 6:
			p.start = desc(binary.LittleEndian.Uint16(m[4:])).start
		case m[0] == 2 && len(m) >= 64:
			id := strings.TrimRight(string(m[5:28]), "\x00")
			p.start = desc(binary.LittleEndian.Uint16(m[38:])).start
			switch id {
			case "*UDF Sparable Partition":
				u.sparable(p, m)
			case "*UDF Metadata Partition":
				u.metadata(p, m)
			case "*UDF Virtual Partition":
				p.unusable = errors.New("virtual partition (CD-R VAT): not read")
			default:
				p.unusable = fmt.Errorf("partition map %q: not read", id)
			}
		default:
			p.unusable = fmt.Errorf("partition map of type %d: not read", m[0])
		}
	}
	return nil
}

// sparable reads the first sparing table (UDF 2.2.12) of a sparable
// partition map m that can be read: the packets it moved.
func (u *udfVolume) sparable(p *udfPart, m []byte) {
	p.packet = int64(binary.LittleEndian.Uint16(m[40:]))
	if p.packet == 0 || p.packet&(p.packet-1) != 0 {
		p.unusable = fmt.Errorf("sparable partition: packet length %d", p.packet)
		return
	}
	size := min(int64(binary.LittleEndian.Uint32(m[44:])), 64<<10)
	for i := 0; i < int(min(m[42], 4)); i++ {
		loc := int64(binary.LittleEndian.Uint32(m[48+4*i:]))
		b, err := u.img.read(loc*u.bs, max(size, 56))
		if err != nil {
			continue
		}
		if id, err := udfTag(b, loc); err != nil || id != 0 || !strings.HasPrefix(string(b[17:]), "*UDF Sparing Table") {
			continue
		}
		n := int(binary.LittleEndian.Uint16(b[48:]))
		if 56+8*n > len(b) || u.r.spend(n) != nil {
			break
		}
		p.spared = map[int64]int64{}
		for e := b[56 : 56+8*n]; len(e) >= 8; e = e[8:] {
			if orig := binary.LittleEndian.Uint32(e); orig < 0xfffffff0 {
				p.spared[int64(orig)] = int64(binary.LittleEndian.Uint32(e[4:]))
			}
		}
		return
	}
	p.unusable = errors.New("sparable partition: no sparing table")
}

// metadata reads the metadata file of a metadata partition map m (its
// mirror when the file cannot be read): the metadata partition's blocks
// are its content.
func (u *udfVolume) metadata(p *udfPart, m []byte) {
	beneath := &udfPart{start: p.start}
	var err error
	for _, at := range []uint32{binary.LittleEndian.Uint32(m[40:]), binary.LittleEndian.Uint32(m[44:])} {
		var f *udfNode
		f, err = u.nodeIn(beneath, at)
		if err == nil && f.data.err == nil && f.data.embedded == nil {
			p.meta, p.isMeta = f.data.pieces, true
			var at int64
			for _, q := range p.meta {
				p.metaAt = append(p.metaAt, at)
				at += q.n
			}
			return
		}
		if err == nil {
			err = errors.New("no extents")
		}
	}
	p.unusable = fmt.Errorf("metadata file: %w", err)
}

// udfLongAddr reads the location of a long allocation descriptor
// (long_ad, ECMA-167 4/14.14.2).
func udfLongAddr(b []byte) udfAddr {
	return udfAddr{block: binary.LittleEndian.Uint32(b[4:]), part: binary.LittleEndian.Uint16(b[8:])}
}

// part returns the partition of reference number ref.
func (u *udfVolume) part(ref uint16) (*udfPart, error) {
	if int(ref) >= len(u.parts) {
		return nil, fmt.Errorf("no partition %d", ref)
	}
	p := u.parts[ref]
	return p, p.unusable
}

// pieces returns where n bytes from block of partition p lie in the
// image. Each piece past the first is charged to the budget.
func (u *udfVolume) pieces(p *udfPart, block uint32, n int64) ([]isoPiece, error) {
	if p.unusable != nil {
		return nil, p.unusable
	}
	from := int64(block) * u.bs
	if p.isMeta {
		ps, err := isoSlice(p.meta, p.metaAt, from, n)
		if err == nil {
			err = u.r.spend(len(ps) - 1)
		}
		return ps, err
	}
	if len(p.spared) == 0 {
		return []isoPiece{{off: p.start*u.bs + from, n: n}}, nil
	}
	var ps []isoPiece
	for pos := int64(0); pos < n; {
		if err := u.r.spend(min(len(ps), 1)); err != nil {
			return nil, err
		}
		b := int64(block) + pos/u.bs
		pk := b &^ (p.packet - 1)
		at := (p.start + b) * u.bs
		if m, ok := p.spared[pk]; ok {
			at = (m + b - pk) * u.bs
		}
		k := min(n-pos, (pk+p.packet-b)*u.bs)
		if l := len(ps) - 1; l >= 0 && ps[l].off+ps[l].n == at {
			ps[l].n += k
		} else {
			ps = append(ps, isoPiece{off: at, n: k})
		}
		pos += k
	}
	return ps, nil
}

// isoSlice returns the pieces of n bytes from off in the content ps,
// whose pieces start at at.
func isoSlice(ps []isoPiece, at []int64, off, n int64) ([]isoPiece, error) {
	var out []isoPiece
	i, found := slices.BinarySearch(at, off)
	if !found {
		i--
	}
	if i < 0 {
		return nil, errors.New("beyond the end of the metadata partition")
	}
	off -= at[i]
	for _, p := range ps[i:] {
		if n == 0 {
			break
		}
		if off >= p.n {
			off -= p.n
			continue
		}
		k := min(n, p.n-off)
		q := isoPiece{off: p.off + off, n: k, zero: p.zero}
		if p.zero {
			q.off = 0
		}
		out = append(out, q)
		off, n = 0, n-k
	}
	if n > 0 {
		return nil, errors.New("beyond the end of the metadata partition")
	}
	return out, nil
}

// readPieces reads the content ps, as one slice.
func (u *udfVolume) readPieces(ps []isoPiece) ([]byte, error) {
	var b []byte
	for _, p := range ps {
		if p.zero {
			b = append(b, make([]byte, p.n)...)
			continue
		}
		c, err := u.img.read(p.off, p.n)
		if err != nil {
			return nil, err
		}
		b = append(b, c...)
	}
	return b, nil
}

// block reads the logical block at a.
func (u *udfVolume) block(a udfAddr) ([]byte, error) {
	p, err := u.part(a.part)
	if err != nil {
		return nil, err
	}
	return u.blockIn(p, a.block)
}

// blockIn reads block b of partition p.
func (u *udfVolume) blockIn(p *udfPart, b uint32) ([]byte, error) {
	ps, err := u.pieces(p, b, u.bs)
	if err != nil {
		return nil, err
	}
	return u.readPieces(ps)
}

// udfNode is a file entry (ECMA-167 4/14.9) or an extended file entry
// (4/14.17).
type udfNode struct {
	fileType byte  // 4/14.6.6: 4 a directory
	at       int64 // where the entry is in the image, to tell it apart
	size     int64 // information length
	data     isoData
}

// udfTypeDir is the file type of a directory (ECMA-167 4/14.6.6).
const udfTypeDir = 4

// node reads the file entry at a.
func (u *udfVolume) node(a udfAddr) (*udfNode, error) {
	p, err := u.part(a.part)
	if err != nil {
		return nil, err
	}
	return u.nodeIn(p, a.block)
}

// nodeIn reads the file entry at block b of partition p, following
// indirect entries (ECMA-167 4/14.7).
func (u *udfVolume) nodeIn(p *udfPart, b uint32) (*udfNode, error) {
	for hops := 0; ; hops++ {
		blk, err := u.blockIn(p, b)
		if err != nil {
			return nil, err
		}
		id, err := udfTag(blk, int64(b))
		if err != nil {
			return nil, err
		}
		var base, lea, lad int64
		switch id {
		case udfTagIndirect:
			if hops >= isoMaxHops {
				return nil, fmt.Errorf("indirect entries chained more than %d deep", isoMaxHops)
			}
			a := udfLongAddr(blk[36:])
			if p, err = u.part(a.part); err != nil {
				return nil, err
			}
			b = a.block
			continue
		case udfTagFileEntry:
			base, lea, lad = 176, int64(binary.LittleEndian.Uint32(blk[168:])), int64(binary.LittleEndian.Uint32(blk[172:]))
		case udfTagExtFileEntry:
			base, lea, lad = 216, int64(binary.LittleEndian.Uint32(blk[208:])), int64(binary.LittleEndian.Uint32(blk[212:]))
		default:
			return nil, fmt.Errorf("descriptor %d at block %d where a file entry should be", id, b)
		}
		if lea < 0 || lad < 0 || base+lea+lad > int64(len(blk)) {
			return nil, fmt.Errorf("file entry at block %d: allocation descriptors beyond it", b)
		}
		n := &udfNode{fileType: blk[16+11], size: int64(min(binary.LittleEndian.Uint64(blk[56:]), 1<<62))}
		if ps, err := u.pieces(p, b, u.bs); err == nil && len(ps) > 0 {
			n.at = ps[0].off
		}
		ads := blk[base+lea : base+lea+lad]
		switch blk[16+18] & 7 {
		case 0:
			n.data = u.allocation(p, ads, false, n.size)
		case 1:
			n.data = u.allocation(p, ads, true, n.size)
		case 3:
			if n.size > lad {
				n.data.err = fmt.Errorf("%d bytes embedded in a file entry of %d", n.size, lad)
			} else {
				n.data = isoData{embedded: bytes.Clone(ads[:n.size]), at: n.at}
			}
		default:
			n.data.err = errors.New("extended allocation descriptors: not read")
		}
		return n, nil
	}
}

// allocation reads the allocation descriptors ads of a file entry in
// partition p (ECMA-167 4/12, 4/14.14): short_ad, or long_ad when long;
// extents not recorded read as zeros, and the descriptors may continue in
// allocation extent descriptors (4/14.5). The content is the first size
// bytes of the extents.
func (u *udfVolume) allocation(p *udfPart, ads []byte, long bool, size int64) isoData {
	step := 8
	if long {
		step = 16
	}
	var d isoData
	var total int64
	fail := func(err error) isoData { return isoData{err: err} }
	for hops := 0; total < size; {
		if len(ads) < step {
			return fail(fmt.Errorf("size %d beyond its extents (%d bytes)", size, total))
		}
		if err := u.r.spend(1); err != nil {
			return fail(err)
		}
		l := binary.LittleEndian.Uint32(ads)
		typ, n := l>>30, int64(l&0x3fffffff)
		q, block := p, binary.LittleEndian.Uint32(ads[4:])
		if long {
			var err error
			if q, err = u.part(binary.LittleEndian.Uint16(ads[8:])); err != nil {
				return fail(err)
			}
		}
		ads = ads[step:]
		switch {
		case n == 0:
			return fail(fmt.Errorf("size %d beyond its extents (%d bytes)", size, total))
		case typ == 3:
			if hops++; hops > isoMaxHops*8 {
				return fail(errors.New("allocation extents chained too deep"))
			}
			b, err := u.blockIn(q, block)
			if err != nil {
				return fail(err)
			}
			if id, err := udfTag(b, int64(block)); err != nil || id != udfTagAllocExtent {
				return fail(fmt.Errorf("no allocation extent descriptor at block %d", block))
			}
			m := int64(binary.LittleEndian.Uint32(b[20:]))
			if m > int64(len(b))-24 {
				return fail(errors.New("allocation descriptors beyond their extent"))
			}
			ads = b[24 : 24+m]
			continue
		case typ != 0:
			n = min(n, size-total)
			d.pieces = append(d.pieces, isoPiece{n: n, zero: true})
		default:
			n = min(n, size-total)
			ps, err := u.pieces(q, block, n)
			if err != nil {
				return fail(err)
			}
			d.pieces = append(d.pieces, ps...)
		}
		total += n
	}
	return d
}

// walk lists the files of the UDF file set, directory after directory.
func (u *udfVolume) walk(r *isoReader) error {
	type todo struct {
		path string
		at   udfAddr
	}
	stack := []todo{{at: u.root}}
	seen := map[int64]bool{}
	var first error
	for len(stack) > 0 && r.stop == nil {
		d := stack[len(stack)-1]
		stack = stack[:len(stack)-1]
		n, err := u.node(d.at)
		if err == nil && n.fileType != udfTypeDir {
			err = fmt.Errorf("%q: not a directory", d.path)
		}
		if err != nil {
			if first == nil {
				first = err
			}
			continue
		}
		if seen[n.at] {
			continue
		}
		seen[n.at] = true
		var dirs []todo
		err = u.directory(r, n, func(name string, a udfAddr) error {
			path, err := r.path(d.path, name)
			if err != nil {
				return err
			}
			f, err := u.node(a)
			switch {
			case err != nil:
				r.add(&isoFile{path: path, data: isoData{err: err}})
			case f.fileType == udfTypeDir:
				dirs = append(dirs, todo{path, a})
			default:
				r.add(&isoFile{path: path, size: f.size, data: f.data})
			}
			return nil
		})
		if first == nil {
			first = err
		}
		for i := len(dirs) - 1; i >= 0; i-- {
			stack = append(stack, dirs[i])
		}
	}
	if r.stop != nil {
		return r.stop
	}
	return first
}

// directory reads the file identifier descriptors (ECMA-167 4/14.4) of
// directory n and calls each with the name and file entry of those that
// are neither deleted nor the parent.
func (u *udfVolume) directory(r *isoReader, n *udfNode, each func(string, udfAddr) error) error {
	rc, err := n.data.open(u.img)
	if err != nil {
		return fmt.Errorf("directory: %w", err)
	}
	defer rc.Close()
	for left := n.size; left >= 38; {
		if err := r.spend(1); err != nil {
			return err
		}
		fid := make([]byte, 38, 64)
		if _, err := io.ReadFull(rc, fid); err != nil {
			return fmt.Errorf("directory: %w", err)
		}
		lfi, liu := int64(fid[19]), int64(binary.LittleEndian.Uint16(fid[36:]))
		if liu+lfi > u.bs || 38+liu+lfi > left {
			return errors.New("directory: bad file identifier descriptor")
		}
		l := (38 + liu + lfi + 3) &^ 3
		fid = append(fid, make([]byte, l-38)...)
		if _, err := io.ReadFull(rc, fid[38:min(l, left)]); err != nil {
			return fmt.Errorf("directory: %w", err)
		}
		left -= l
		if id, err := udfTag(fid, -1); err != nil || id != udfTagFileID {
			return errors.New("directory: bad file identifier descriptor")
		}
		if fid[18]&0x0c != 0 { // deleted, or the parent
			continue
		}
		if err := each(udfName(fid[38+liu:38+liu+lfi]), udfLongAddr(fid[20:])); err != nil {
			return err
		}
	}
	return nil
}

// udfName decodes a file identifier in OSTA CS0 (UDF 2.1.1): 16-bit
// characters, big-endian, after a compression ID of 16 (or 255), else
// 8-bit ones (ID 8 or 254).
func udfName(b []byte) string {
	if len(b) == 0 {
		return ""
	}
	if b[0] == 16 || b[0] == 255 {
		return utf16BE(b[1:])
	}
	rs := make([]rune, len(b)-1)
	for i, c := range b[1:] {
		rs[i] = rune(c)
	}
	return string(rs)
}
