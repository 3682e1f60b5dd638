package mime

import (
	"bufio"
	"bytes"
	"compress/flate"
	"encoding/binary"
	"errors"
	"fmt"
	"io"
	"strings"
)

// Microsoft Cabinet (.cab) and LHA (.lzh, .lha) archives. Both are read
// by hand, from the formats' documents: no Go module that reads them could
// be had here (github.com/google/go-cabfile, github.com/abemedia/go-cabinet,
// github.com/go-filesystems/cab and github.com/koron-go/lha were refused by
// the module proxy), and the one LZX decoder that could,
// github.com/Microsoft/go-winio/wim/lzx, decodes the WIM variant only: a
// fixed 32 KiB window, each chunk decoded whole into it, no window size
// of its own per folder, whereas a cabinet's LZX window is 32 KiB to 2 MiB
// and its blocks run across data blocks. LZX is decoded in lzx.go.
//
// A cabinet ([MS-CAB], Microsoft's "Cabinet File Format") is a CFHEADER,
// then its CFFOLDER records, each a stream of CFDATA blocks (at most 32 KiB
// each once decoded) compressed with one method, and its CFFILE records:
// a name, a size, a folder and an offset in the folder's decoded stream.
// Stored folders, MSZIP ones ([MS-MCI]: each block "CK" and a deflate
// stream whose dictionary is the 32 KiB decoded before it) and LZX ones
// (one stream for the folder, each block one frame of it; most of
// Microsoft's own cabinets) are read; an entry in a Quantum folder is
// listed and cannot be read (a gap), and so is an entry whose data lies
// in another cabinet of a set.
// MSZIP blocks are inflated by compress/flate, one block at a time into a
// buffer of 32 KiB: a block that says more than it holds fails, one that
// holds more is cut. Entries are read in the order of their records, each
// folder decoded as far as needed: passing over the data not read costs
// decompression, which is charged to the message's budget of
// MaxArchiveBytes, like the solid blocks of 7z and rar archives, and
// bounded for each cabinet too (cabPassPerByte and its bounds). A record
// behind the folder's decoder starts the folder again, and also costs the
// data block decoded anew for its head. The decoders of a cabinet are
// released when it has been walked, and LZX windows kept for the next.
//
// An LHA archive (the LHA format notes: Yoshizaki's LHarc/LHA, and their
// description in LHa for UNIX's header.doc and in lhasa) is a sequence of
// headers, each followed by its entry's data, and ends with a zero byte.
// Headers of levels 0 and 1 hold the name as raw bytes, in the system's
// code page (CP932 in Japan); level 2 headers hold it in extended headers
// (0x01, and 0x02 for the directory, 0xFF separating the path's parts).
// Entries stored (-lh0-, -lz4-) and compressed with -lh5-, -lh6- and -lh7-
// (LZSS over an 8, 32 or 64 KiB window, codes in static Huffman blocks)
// are read and their CRC-16 checked at their end; other methods (-lh1- to
// -lh4-, LArc's -lzs- and -lz5-, …) cannot be read. Level 3 headers are
// not read.
//
// Neither reader allocates by a size the archive declares: records are
// read one by one, data blocks and windows have fixed sizes (an LZX
// folder's window, 2^15 to 2^21 bytes, is the one the folder chooses).
func init() {
	registerContainer(&container{
		format: FormatCab,
		exts:   []string{"cab"},
		types:  []string{"application/vnd.ms-cab-compressed"},
		open:   openCab,
	})
	registerContainer(&container{
		format: FormatLzh,
		exts:   []string{"lzh", "lha"},
		types:  []string{"application/x-lzh-compressed", "application/x-lzh"},
		open:   openLzh,
	})
}

// The formats of this file, as Archive.Format reports them.
const (
	FormatCab = "cab"
	FormatLzh = "lzh"
)

// CFHEADER flags and CFFILE values of [MS-CAB] 2.1 and 2.3.
const (
	cabPrevCabinet    = 0x1
	cabNextCabinet    = 0x2
	cabReservePresent = 0x4

	cabContinuedFromPrev    = 0xfffd
	cabContinuedToNext      = 0xfffe
	cabContinuedPrevAndNext = 0xffff
	cabNameIsUTF8           = 0x80
	cabMaxBlock             = 32768        // decoded bytes of a CFDATA block
	cabMaxCompressedBlock   = 32768 + 6144 // its compressed bytes
	cabMaxString            = 256          // a name, NUL included
)

// The bytes of a cabinet decoded only to get past data that is not read
// (the rest of an entry whose first bytes were read, an entry out of
// order) are bounded: cabPassPerByte per byte of the cabinet, at least
// cabPassMin and at most cabPassMax. An entry further away is a gap.
const (
	cabPassPerByte = 16
	cabPassMin     = 1 << 20
	cabPassMax     = 64 << 20
)

// Errors of cabinet entries that cannot be read.
var (
	errCabFromPrev = errors.New("continued from a previous cabinet of a multi-cabinet set")
	errCabToNext   = errors.New("continued in the next cabinet of a multi-cabinet set")
	errCabBeyond   = errors.New("corrupt: the file runs past the data of its folder")
)

// cabWalker walks the CFFILE records of a cabinet.
type cabWalker struct {
	ra        io.ReaderAt
	size      int64
	flags     uint16
	folders   int    // cFolders
	files     int    // cFiles
	folderAt  int64  // offset of the first CFFOLDER
	folderLen int64  // size of a CFFOLDER, its reserved bytes included
	dataRes   int    // reserved bytes of each CFDATA
	fileAt    int64  // offset of the next CFFILE
	read      int    // CFFILE records read
	pass      int64  // bytes that may still be decoded to get past data
	budget    *int64 // the message's bytes left to decompress; nil: none given
	started   []bool // folders whose decoding was started
	dec       *cabDecoder
}

// useBudget has the walker charge the bytes it decodes only to get past
// data to budget.
func (w *cabWalker) useBudget(budget *int64) { w.budget = budget }

// Close gives back the LZX window of the cabinet's decoder.
func (w *cabWalker) Close() error {
	if w.dec != nil && w.dec.lzx != nil {
		w.dec.lzx.release()
	}
	return nil
}

// charge takes n bytes to decompress from the message's budget, or fails
// with errTooBigToReach when fewer are left.
func (w *cabWalker) charge(n int64) error {
	if w.budget == nil {
		return nil
	}
	if n > *w.budget {
		return fmt.Errorf("%w: %d bytes to decompress to reach it, %d left for the message", errTooBigToReach, n, *w.budget)
	}
	*w.budget -= n
	return nil
}

// openCab reads the CFHEADER of the cabinet in ra ([MS-CAB] 2.1).
func openCab(ra io.ReaderAt, size int64, _ string) (arcWalker, error) {
	h := make([]byte, 36)
	if !fullAt(ra, h, 0) {
		return nil, errors.New("truncated cabinet header")
	}
	if string(h[:4]) != "MSCF" {
		return nil, errors.New("no cabinet signature")
	}
	w := &cabWalker{
		ra:        ra,
		size:      size,
		flags:     binary.LittleEndian.Uint16(h[30:]),
		folders:   int(binary.LittleEndian.Uint16(h[26:])),
		files:     int(binary.LittleEndian.Uint16(h[28:])),
		fileAt:    int64(binary.LittleEndian.Uint32(h[16:])),
		folderLen: 8,
		pass:      min(cabPassMax, max(cabPassMin, cabPassPerByte*size)),
	}
	at := int64(36)
	if w.flags&cabReservePresent != 0 {
		r := make([]byte, 4)
		if !fullAt(ra, r, at) {
			return nil, errors.New("truncated cabinet header")
		}
		w.folderLen += int64(r[2])
		w.dataRes = int(r[3])
		at += 4 + int64(binary.LittleEndian.Uint16(r))
	}
	// The names of the previous and next cabinets, and of their disks.
	var strs int
	if w.flags&cabPrevCabinet != 0 {
		strs += 2
	}
	if w.flags&cabNextCabinet != 0 {
		strs += 2
	}
	for range strs {
		s, err := cabString(ra, size, at)
		if err != nil {
			return nil, err
		}
		at += int64(len(s)) + 1
	}
	w.folderAt = at
	if at+int64(w.folders)*w.folderLen > size {
		return nil, fmt.Errorf("%d folders past the end of the cabinet", w.folders)
	}
	if w.files > 0 && w.fileAt >= size {
		return nil, errors.New("file records past the end of the cabinet")
	}
	return w, nil
}

// fullAt reads len(p) bytes at off, and reports whether it could.
func fullAt(ra io.ReaderAt, p []byte, off int64) bool {
	n, _ := ra.ReadAt(p, off)
	return n == len(p)
}

// cabString reads a NUL-terminated string of at most cabMaxString bytes,
// its NUL included, at off.
func cabString(ra io.ReaderAt, size, off int64) ([]byte, error) {
	if off >= size {
		return nil, errors.New("truncated cabinet")
	}
	b := make([]byte, min(cabMaxString, size-off))
	n, _ := ra.ReadAt(b, off)
	i := bytes.IndexByte(b[:n], 0)
	if i < 0 {
		return nil, errors.New("unterminated name in cabinet")
	}
	return b[:i], nil
}

// next reads the next CFFILE record ([MS-CAB] 2.3). Names are UTF-8 when
// the attribute says so, else in the system's code page.
func (w *cabWalker) next() (*arcEntry, error) {
	if w.read >= w.files {
		return nil, io.EOF
	}
	h := make([]byte, 16)
	if !fullAt(w.ra, h, w.fileAt) {
		return nil, errors.New("truncated file record")
	}
	raw, err := cabString(w.ra, w.size, w.fileAt+16)
	if err != nil {
		return nil, err
	}
	w.fileAt += 16 + int64(len(raw)) + 1
	w.read++
	size := int64(binary.LittleEndian.Uint32(h))
	off := int64(binary.LittleEndian.Uint32(h[4:]))
	folder := int(binary.LittleEndian.Uint16(h[8:]))
	attrs := binary.LittleEndian.Uint16(h[14:])
	// Decoded first: a CP932 name may hold 0x5C as a trail byte.
	name := strings.ReplaceAll(entryName(string(raw), attrs&cabNameIsUTF8 != 0), `\`, "/")
	return &arcEntry{
		name: name,
		size: size,
		open: func() (io.ReadCloser, error) { return w.open(folder, off, size) },
	}, nil
}

// open returns the content of a file of size bytes at off in the folder
// numbered folder: its decoder is taken on from where it stands, or
// started anew when the file lies behind it.
func (w *cabWalker) open(folder int, off, size int64) (io.ReadCloser, error) {
	toNext := false
	switch folder {
	case cabContinuedFromPrev, cabContinuedPrevAndNext:
		return nil, errCabFromPrev
	case cabContinuedToNext:
		folder, toNext = w.folders-1, true
	}
	if folder < 0 || folder >= w.folders {
		return nil, fmt.Errorf("corrupt: folder %d of %d", folder, w.folders)
	}
	if folder == 0 && w.flags&cabPrevCabinet != 0 {
		// The first folder goes on from the previous cabinet: offsets
		// count from its start there, and MSZIP needs what it held.
		return nil, errCabFromPrev
	}
	f := make([]byte, 8)
	if !fullAt(w.ra, f, w.folderAt+int64(folder)*w.folderLen) {
		return nil, errors.New("truncated folder record")
	}
	start := int64(binary.LittleEndian.Uint32(f))
	blocks := int64(binary.LittleEndian.Uint16(f[4:]))
	method := binary.LittleEndian.Uint16(f[6:])
	switch method & 0xf {
	case 0, 1, 3:
	case 2:
		return nil, errors.New("compressed with Quantum: not supported")
	default:
		return nil, fmt.Errorf("corrupt: compression method %d", method&0xf)
	}
	continued := folder == w.folders-1 && w.flags&cabNextCabinet != 0
	// Each block decodes to at most cabMaxBlock bytes, and takes at
	// least its header in the cabinet.
	most := min(blocks, max(0, w.size-start)/(8+int64(w.dataRes))) * cabMaxBlock
	if !continued && off+size > most {
		return nil, fmt.Errorf("corrupt: the file (%d bytes at %d) lies beyond its folder (at most %d bytes)", size, off, most)
	}
	d := w.dec
	if d == nil {
		d = &cabDecoder{w: w, folder: -1}
		w.dec = d
	}
	need := off - d.pos
	restart := d.folder != folder || d.pos > off
	if restart {
		need = off
		if w.started == nil {
			w.started = make([]bool, w.folders)
		}
		if w.started[folder] && method&0xf != 0 {
			// The folder decoded again from its start: the data block
			// of the file's head is paid for once more.
			if err := w.charge(cabMaxBlock); err != nil {
				return nil, err
			}
		}
	}
	if need > w.pass {
		return nil, fmt.Errorf("too big: %d bytes to decompress to reach it, %d left for this cabinet", need, w.pass)
	}
	if err := w.charge(need); err != nil {
		return nil, err
	}
	if restart {
		w.started[folder] = true
		if err := d.start(folder, start, blocks, method, continued); err != nil {
			return nil, err
		}
	}
	passed, err := d.discard(off - d.pos)
	w.pass -= passed
	switch {
	case err == io.EOF && continued:
		return nil, errCabToNext
	case err == io.EOF:
		return nil, errCabBeyond
	case err != nil:
		return nil, err
	}
	return &cabFile{d: d, left: size, toNext: toNext || continued}, nil
}

// cabDecoder decodes the CFDATA blocks of a folder ([MS-CAB] 2.4) one by
// one, as they are read.
type cabDecoder struct {
	w         *cabWalker
	folder    int
	method    uint16 // 0 stored, 1 MSZIP, 3 LZX
	at        int64  // offset of the next CFDATA
	blocks    int64  // CFDATA blocks left
	continued bool   // the folder goes on in the next cabinet
	pos       int64  // offset in the folder of the next byte given
	data      []byte // decoded, not given yet
	err       error
	hdr       [8]byte
	in        []byte // a compressed block
	out       []byte // a decoded block
	hist      []byte // the last 32 KiB decoded: MSZIP's dictionary
	src       *bytes.Reader
	fr        io.ReadCloser // MSZIP's inflater
	lzx       *lzxDecoder
}

// start sets d to the start of a folder; method is the folder's
// typeCompress, which holds LZX's window size.
func (d *cabDecoder) start(folder int, at, blocks int64, method uint16, continued bool) error {
	d.folder, d.at, d.blocks, d.method, d.continued = folder, at, blocks, method&0xf, continued
	d.pos, d.data, d.err = 0, nil, nil
	d.hist = d.hist[:0]
	if d.method != 3 {
		return nil
	}
	if d.lzx == nil {
		d.lzx = new(lzxDecoder)
	}
	if err := d.lzx.reset(int(method>>8) & 0x1f); err != nil {
		d.folder = -1
		return err
	}
	return nil
}

// block decodes the next CFDATA block into d.data; io.EOF after the last.
func (d *cabDecoder) block() error {
	if d.blocks == 0 {
		return io.EOF
	}
	d.blocks--
	hdr := d.hdr[:]
	if !fullAt(d.w.ra, hdr, d.at) {
		return errors.New("corrupt: truncated data block")
	}
	packed := int64(binary.LittleEndian.Uint16(hdr[4:]))
	plain := int(binary.LittleEndian.Uint16(hdr[6:]))
	from := d.at + 8 + int64(d.w.dataRes)
	d.at = from + packed
	switch {
	case plain == 0 && d.continued:
		// A block split between two cabinets.
		return errCabToNext
	case plain == 0 || plain > cabMaxBlock || packed > cabMaxCompressedBlock:
		return fmt.Errorf("corrupt: data block of %d bytes decoding to %d", packed, plain)
	case d.at > d.w.size:
		return errors.New("corrupt: truncated data block")
	}
	if d.in == nil {
		d.in = make([]byte, cabMaxCompressedBlock)
		d.out = make([]byte, cabMaxBlock)
		d.hist = make([]byte, 0, cabMaxBlock)
	}
	in := d.in[:packed]
	if !fullAt(d.w.ra, in, from) {
		return errors.New("corrupt: truncated data block")
	}
	if d.method == 0 {
		if int(packed) != plain {
			return fmt.Errorf("corrupt: stored data block of %d bytes says %d", packed, plain)
		}
		d.data = in
		return nil
	}
	if d.method == 3 {
		out := d.out[:plain]
		if err := d.lzx.frame(in, out, d.blocks == 0 && !d.continued); err != nil {
			return err
		}
		d.data = out
		return nil
	}
	if packed < 2 || in[0] != 'C' || in[1] != 'K' {
		return errors.New("corrupt: MSZIP block without its CK signature")
	}
	if d.src == nil {
		d.src = bytes.NewReader(in[2:])
		d.fr = flate.NewReaderDict(d.src, d.hist)
	} else {
		d.src.Reset(in[2:])
		d.fr.(flate.Resetter).Reset(d.src, d.hist)
	}
	out := d.out[:plain]
	if n, _ := io.ReadFull(d.fr, out); n < plain {
		return fmt.Errorf("corrupt: MSZIP block decodes to %d bytes, not %d", n, plain)
	}
	keep := min(len(d.hist), cabMaxBlock-plain)
	copy(d.hist, d.hist[len(d.hist)-keep:])
	d.hist = append(d.hist[:keep], out...)
	d.data = out
	return nil
}

// read gives decoded bytes of the folder into p.
func (d *cabDecoder) read(p []byte) (int, error) {
	for len(d.data) == 0 {
		if d.err != nil {
			return 0, d.err
		}
		d.err = d.block()
	}
	n := copy(p, d.data)
	d.data = d.data[n:]
	d.pos += int64(n)
	return n, nil
}

// discard decodes n bytes and drops them; it returns how many it decoded.
func (d *cabDecoder) discard(n int64) (int64, error) {
	var done int64
	for done < n {
		for len(d.data) == 0 {
			if d.err != nil {
				return done, d.err
			}
			d.err = d.block()
		}
		k := min(int64(len(d.data)), n-done)
		d.data = d.data[k:]
		d.pos += k
		done += k
	}
	return done, nil
}

// cabFile reads one file of a folder.
type cabFile struct {
	d      *cabDecoder
	left   int64
	toNext bool // the folder goes on in the next cabinet
}

// Read gives the file's bytes; the end of its folder's data before the
// file's is an error.
func (f *cabFile) Read(p []byte) (int, error) {
	if f.left == 0 {
		return 0, io.EOF
	}
	p = p[:min(int64(len(p)), f.left)]
	n, err := f.d.read(p)
	f.left -= int64(n)
	switch {
	case err == io.EOF && f.toNext:
		err = errCabToNext
	case err == io.EOF:
		err = errCabBeyond
	}
	return n, err
}

// Close does nothing: the decoder is the walker's.
func (f *cabFile) Close() error { return nil }

// LHA header fields and methods.
const (
	lzhBaseLen = 22  // the fields common to the header levels, up to the name length
	lzhMaxBits = 16  // the longest Huffman code
	lzhNC      = 510 // literals and match lengths: 256 + 256 - 3 + 1
	lzhNT      = 19  // code lengths 0 to 16, and three kinds of runs of zeros
)

// lzhMethods are the methods read: the window bits, the number of offset
// codes and the bits of their count (LHa for UNIX's slide.c); stored
// methods have none.
var lzhMethods = map[string]struct{ dicbit, np, pbit int }{
	"-lh0-": {}, "-lz4-": {},
	"-lh5-": {13, 14, 4},
	"-lh6-": {15, 16, 5},
	"-lh7-": {16, 17, 5},
}

// lzhWalker walks the headers of an LHA archive.
type lzhWalker struct {
	ra   io.ReaderAt
	size int64
	at   int64 // offset of the next header
}

// openLzh checks that the archive in ra starts with what may be an LHA
// header: long enough, of a level LHA tools know. Content that does not is
// no LHA archive (text may hold "-lh" at offset 2 too); anything else is
// read as LHA, as lhasa reads it, so that an archive its tools open is
// never taken for a plain file.
func openLzh(ra io.ReaderAt, size int64, _ string) (arcWalker, error) {
	h := make([]byte, lzhBaseLen)
	if !fullAt(ra, h, 0) || h[20] > 3 {
		return nil, errNotContainer
	}
	return &lzhWalker{ra: ra, size: size}, nil
}

// lzhHeader is what a header says of its entry.
type lzhHeader struct {
	method    string
	name, dir []byte
	packed    int64
	size      int64
	crc       uint16
	data      int64 // offset of the entry's data
}

// next reads the next header; a zero byte, or the end of the file, ends
// the archive.
func (w *lzhWalker) next() (*arcEntry, error) {
	if w.at == w.size {
		return nil, io.EOF
	}
	if w.at > w.size {
		return nil, errors.New("truncated entry data")
	}
	var first [1]byte
	if !fullAt(w.ra, first[:], w.at) {
		return nil, errors.New("truncated header")
	}
	if first[0] == 0 {
		// The end of the archive.
		return nil, io.EOF
	}
	h, err := w.header()
	if err != nil {
		return nil, err
	}
	w.at = h.data + h.packed
	raw := append(bytes.ReplaceAll(h.dir, []byte{0xff}, []byte{'/'}), bytes.ReplaceAll(h.name, []byte{0xff}, []byte{'/'})...)
	// Decoded first: a CP932 name may hold 0x5C as a trail byte.
	name := strings.ReplaceAll(entryName(string(raw), false), `\`, "/")
	e := &arcEntry{name: name, size: h.size, dir: h.method == "-lhd-"}
	if !e.dir {
		e.open = func() (io.ReadCloser, error) { return w.open(h) }
	}
	return e, nil
}

// header reads the header at w.at, of level 0, 1 or 2.
func (w *lzhWalker) header() (*lzhHeader, error) {
	b := make([]byte, lzhBaseLen)
	if !fullAt(w.ra, b, w.at) {
		return nil, errors.New("truncated header")
	}
	h := &lzhHeader{
		method: string(b[2:7]),
		packed: int64(binary.LittleEndian.Uint32(b[7:])),
		size:   int64(binary.LittleEndian.Uint32(b[11:])),
	}
	switch level := b[20]; level {
	case 0, 1:
		// The header's size after its first two bytes, a checksum of
		// those bytes, the name, the CRC-16; level 1 adds the OS and
		// the size of its first extended header.
		n := 2 + int64(b[0])
		if n < lzhBaseLen {
			return nil, errors.New("header too short")
		}
		hdr := make([]byte, n)
		if !fullAt(w.ra, hdr, w.at) {
			return nil, errors.New("truncated header")
		}
		var sum byte
		for _, c := range hdr[2:] {
			sum += c
		}
		if sum != hdr[1] {
			return nil, errors.New("header checksum mismatch")
		}
		nameLen := int64(hdr[21])
		tail := int64(2)
		if level == 1 {
			tail = 5
		}
		if lzhBaseLen+nameLen+tail > n {
			return nil, errors.New("header too short for its name")
		}
		h.name = hdr[22 : 22+nameLen]
		h.crc = binary.LittleEndian.Uint16(hdr[22+nameLen:])
		h.data = w.at + n
		if level == 1 {
			// The extended headers follow, each counted in the
			// compressed size.
			next := int64(binary.LittleEndian.Uint16(hdr[n-2:]))
			for next != 0 {
				if next < 3 || h.data+next > w.size {
					return nil, errors.New("truncated extended header")
				}
				ext := make([]byte, next)
				if !fullAt(w.ra, ext, h.data) {
					return nil, errors.New("truncated extended header")
				}
				if err := h.extended(ext[0], ext[1:next-2]); err != nil {
					return nil, err
				}
				h.data += next
				h.packed -= next
				next = int64(binary.LittleEndian.Uint16(ext[next-2:]))
			}
			if h.packed < 0 {
				return nil, errors.New("extended headers larger than the entry")
			}
		}
	case 2:
		// The size of the whole header, extended headers included.
		n := int64(binary.LittleEndian.Uint16(b))
		if n < 26 {
			return nil, errors.New("header too short")
		}
		hdr := make([]byte, n)
		if !fullAt(w.ra, hdr, w.at) {
			return nil, errors.New("truncated header")
		}
		h.crc = binary.LittleEndian.Uint16(hdr[21:])
		h.data = w.at + n
		next := int64(binary.LittleEndian.Uint16(hdr[24:]))
		for i := int64(26); next != 0; {
			if next < 3 || i+next > n {
				return nil, errors.New("extended header past the end of the header")
			}
			ext := hdr[i : i+next]
			if err := h.extended(ext[0], ext[1:next-2]); err != nil {
				return nil, err
			}
			i += next
			next = int64(binary.LittleEndian.Uint16(ext[next-2:]))
		}
	default:
		return nil, fmt.Errorf("header level %d not supported", level)
	}
	return h, nil
}

// extended takes what h needs from an extended header of type t.
func (h *lzhHeader) extended(t byte, data []byte) error {
	switch t {
	case 0x01: // the file name
		h.name = data
	case 0x02: // the directory, its parts ending with 0xFF
		h.dir = data
		if len(data) > 0 && data[len(data)-1] != 0xff && data[len(data)-1] != '/' && data[len(data)-1] != '\\' {
			h.dir = append(data[:len(data):len(data)], 0xff)
		}
	case 0x42: // 64-bit sizes (UNLHA32)
		if len(data) < 16 {
			return errors.New("short 64-bit size header")
		}
		packed, size := binary.LittleEndian.Uint64(data), binary.LittleEndian.Uint64(data[8:])
		if packed > 1<<62 || size > 1<<62 {
			return errors.New("entry size out of range")
		}
		h.packed, h.size = int64(packed), int64(size)
	}
	return nil
}

// open returns the content of the entry of h, checked against its CRC-16
// once read to its end.
func (w *lzhWalker) open(h *lzhHeader) (io.ReadCloser, error) {
	m, ok := lzhMethods[h.method]
	if !ok {
		return nil, fmt.Errorf("compression method %q not supported", h.method)
	}
	var r io.Reader = io.NewSectionReader(w.ra, h.data, h.packed)
	if m.dicbit > 0 {
		r = newLzhDecoder(bufio.NewReader(r), m.dicbit, m.np, m.pbit)
	}
	return &lzhCRCReader{r: r, left: h.size, want: h.crc}, nil
}

// lzhCRCReader reads the first left bytes of r and checks their CRC-16
// (polynomial 0x8005, reflected, starting at zero) once they are read.
type lzhCRCReader struct {
	r    io.Reader
	left int64
	crc  uint16
	want uint16
	err  error
}

// crc16Table is the table of the CRC-16 of LHA.
var crc16Table = func() (t [256]uint16) {
	for i := range t {
		c := uint16(i)
		for range 8 {
			if c&1 != 0 {
				c = c>>1 ^ 0xa001
			} else {
				c >>= 1
			}
		}
		t[i] = c
	}
	return t
}()

// Read gives the entry's bytes; the read that reaches its end fails when
// the CRC-16 does not match.
func (c *lzhCRCReader) Read(p []byte) (int, error) {
	if c.err != nil {
		return 0, c.err
	}
	p = p[:min(int64(len(p)), c.left)]
	n, err := c.r.Read(p)
	for _, b := range p[:n] {
		c.crc = crc16Table[byte(c.crc)^b] ^ c.crc>>8
	}
	c.left -= int64(n)
	switch {
	case c.left == 0 && c.crc != c.want:
		c.err = errors.New("corrupt: the data does not match its CRC-16")
	case c.left == 0:
		c.err = io.EOF
		return n, nil
	case err == io.EOF:
		c.err = errors.New("corrupt: the data ends before the entry does")
	case err != nil:
		c.err = err
	default:
		return n, nil
	}
	return n, c.err
}

// Close does nothing: the entry is read from the archive in place.
func (c *lzhCRCReader) Close() error { return nil }

// errLzhData: compressed data that does not decode.
var errLzhData = errors.New("corrupt: bad compressed data")

// lzhHuffman is a canonical Huffman code: how many codes of each length,
// and the symbols in code order. A code of one symbol and no bits is
// single.
type lzhHuffman struct {
	count  [lzhMaxBits + 1]uint16
	sym    []uint16
	single int // the symbol, or -1
}

// build makes the code of the lengths, one a symbol (0: no code). An
// incomplete code is taken; a code that is over-subscribed is not.
func (h *lzhHuffman) build(lens []uint8) error {
	h.single = -1
	h.count = [lzhMaxBits + 1]uint16{}
	for _, l := range lens {
		h.count[l]++
	}
	h.count[0] = 0
	left := 1
	for l := 1; l <= lzhMaxBits; l++ {
		left = left<<1 - int(h.count[l])
		if left < 0 {
			return errLzhData
		}
	}
	var offs [lzhMaxBits + 2]uint16
	for l := 1; l <= lzhMaxBits; l++ {
		offs[l+1] = offs[l] + h.count[l]
	}
	h.sym = h.sym[:0]
	h.sym = append(h.sym, make([]uint16, len(lens))...)
	for s, l := range lens {
		if l != 0 {
			h.sym[offs[l]] = uint16(s)
			offs[l]++
		}
	}
	return nil
}

// lzhDecoder decodes -lh5-, -lh6- and -lh7- data: blocks of a count of
// codes and their three Huffman codes (of the code lengths, of the
// literals and match lengths, of the offsets' bit counts), as LHa for
// UNIX's huf.c reads them. The window starts filled with spaces.
type lzhDecoder struct {
	r        *bufio.Reader
	bits     uint32 // bits not used yet, the next one highest
	nbits    uint
	win      []byte
	pos      int
	np, pbit int
	left     int // codes left in the block
	pt, c, p lzhHuffman
	lens     [lzhNC]uint8
	copyLen  int
	copyFrom int
	err      error
}

// newLzhDecoder returns a decoder of data from r with a window of 2^dicbit
// bytes.
func newLzhDecoder(r *bufio.Reader, dicbit, np, pbit int) *lzhDecoder {
	return &lzhDecoder{r: r, win: bytes.Repeat([]byte{' '}, 1<<dicbit), np: np, pbit: pbit}
}

// getBits reads n bits, n at most 16.
func (d *lzhDecoder) getBits(n uint) int {
	for d.nbits < n {
		b, err := d.r.ReadByte()
		if err != nil {
			if d.err == nil {
				d.err = errors.New("corrupt: compressed data ends early")
			}
			return 0
		}
		d.bits |= uint32(b) << (24 - d.nbits)
		d.nbits += 8
	}
	v := int(d.bits >> (32 - n))
	d.bits <<= n
	d.nbits -= n
	return v
}

// decode reads one symbol of h.
func (d *lzhDecoder) decode(h *lzhHuffman) int {
	if h.single >= 0 {
		return h.single
	}
	code, first, index := 0, 0, 0
	for l := 1; l <= lzhMaxBits; l++ {
		code |= d.getBits(1)
		count := int(h.count[l])
		if code-first < count {
			return int(h.sym[index+code-first])
		}
		index += count
		first = (first + count) << 1
		code <<= 1
	}
	if d.err == nil {
		d.err = errLzhData
	}
	return 0
}

// readPtLen reads the lengths of the code of code lengths (nn symbols,
// special: after the first three lengths, a count of zeros) or of the
// offsets' bit counts, and builds h.
func (d *lzhDecoder) readPtLen(h *lzhHuffman, nn int, nbit uint, special int) {
	n := d.getBits(nbit)
	if n == 0 {
		c := d.getBits(nbit)
		if c >= nn {
			d.fail()
			return
		}
		h.single = c
		return
	}
	if n > nn {
		d.fail()
		return
	}
	lens := d.lens[:nn]
	clear(lens)
	for i := 0; i < n && d.err == nil; {
		c := d.getBits(3)
		if c == 7 {
			for d.getBits(1) == 1 && d.err == nil {
				if c++; c > lzhMaxBits {
					d.fail()
					return
				}
			}
		}
		lens[i] = uint8(c)
		i++
		if i == special {
			for z := d.getBits(2); z > 0 && i < nn; z-- {
				lens[i] = 0
				i++
			}
		}
	}
	if d.err == nil && h.build(lens) != nil {
		d.fail()
	}
}

// readCLen reads the lengths of the code of literals and match lengths.
func (d *lzhDecoder) readCLen() {
	n := d.getBits(9)
	if n == 0 {
		c := d.getBits(9)
		if c >= lzhNC {
			d.fail()
			return
		}
		d.c.single = c
		return
	}
	if n > lzhNC {
		d.fail()
		return
	}
	lens := d.lens[:lzhNC]
	clear(lens)
	for i := 0; i < n && d.err == nil; {
		c := d.decode(&d.pt)
		if c > 2 {
			lens[i] = uint8(c - 2)
			i++
			continue
		}
		zeros := 1
		switch c {
		case 1:
			zeros = d.getBits(4) + 3
		case 2:
			zeros = d.getBits(9) + 20
		}
		if i+zeros > lzhNC {
			d.fail()
			return
		}
		i += zeros
	}
	if d.err == nil && d.c.build(lens) != nil {
		d.fail()
	}
}

// fail records corrupt data.
func (d *lzhDecoder) fail() {
	if d.err == nil {
		d.err = errLzhData
	}
}

// block reads the header of the next block: its count of codes and codes.
func (d *lzhDecoder) block() {
	d.left = d.getBits(16)
	if d.left == 0 {
		// A 16-bit count that wrapped around, as LHa for UNIX reads it.
		d.left = 1 << 16
	}
	d.readPtLen(&d.pt, lzhNT, 5, 3)
	d.readCLen()
	d.readPtLen(&d.p, d.np, uint(d.pbit), -1)
}

// Read decodes into p. It never ends by itself: lzhCRCReader stops at the
// entry's size.
func (d *lzhDecoder) Read(p []byte) (int, error) {
	mask := len(d.win) - 1
	n := 0
	for n < len(p) && d.err == nil {
		if d.copyLen > 0 {
			b := d.win[d.copyFrom]
			d.copyFrom = (d.copyFrom + 1) & mask
			d.copyLen--
			d.win[d.pos] = b
			d.pos = (d.pos + 1) & mask
			p[n] = b
			n++
			continue
		}
		if d.left == 0 {
			d.block()
			if d.err != nil {
				break
			}
		}
		d.left--
		c := d.decode(&d.c)
		if d.err != nil {
			break
		}
		if c < 256 {
			d.win[d.pos] = byte(c)
			d.pos = (d.pos + 1) & mask
			p[n] = byte(c)
			n++
			continue
		}
		// A match of c-253 bytes (3 to 256), at an offset of a bit
		// count coded, then the bits.
		j := d.decode(&d.p)
		if j > 1 {
			j = 1<<(j-1) + d.getBits(uint(j-1))
		}
		d.copyLen = c - 253
		d.copyFrom = (d.pos - j - 1) & mask
	}
	if n > 0 {
		return n, nil
	}
	return 0, d.err
}
