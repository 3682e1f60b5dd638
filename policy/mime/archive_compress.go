package mime

import (
	"bufio"
	"bytes"
	"compress/bzip2"
	"crypto/sha256"
	"encoding/binary"
	"errors"
	"fmt"
	"hash"
	"hash/crc32"
	"hash/crc64"
	"io"
	"slices"
	"strings"

	"github.com/klauspost/compress/zstd"
	"github.com/ulikunitz/xz/lzma"
)

// Compression formats looked into besides gzip. Like a gzip file, each is
// an archive of one entry, its content: a .tar.xz is an xz file whose one
// entry is a tar archive, found by the entry's magic bytes.
const (
	FormatBzip2 = "bzip2"
	FormatXz    = "xz"
	FormatLzma  = "lzma"
	FormatZstd  = "zstd"
)

// The extensions are those the tools decompress (compressedSuffixes), the
// media types those of IANA and of freedesktop.org's shared-mime-info,
// which Linux mail clients label attachments with. bzip2, xz and zstd
// frames are told by archiveMagic; lzma files have no magic bytes.
func init() {
	registerContainer(&container{
		format: FormatBzip2,
		exts:   []string{"bz2", "bz", "tbz2", "tbz"},
		types: []string{"application/x-bzip2", "application/x-bzip", "application/x-bzip2-compressed-tar",
			"application/x-bzip-compressed-tar"},
		open: openBzip2,
	})
	registerContainer(&container{
		format: FormatXz,
		exts:   []string{"xz", "txz"},
		types:  []string{"application/x-xz", "application/x-xz-compressed-tar"},
		open:   openXz,
	})
	registerContainer(&container{
		format: FormatLzma,
		sniff:  isLzmaHeader,
		exts:   []string{"lzma", "tlz"},
		types:  []string{"application/x-lzma", "application/x-lzma-compressed-tar"},
		open:   openLzma,
	})
	registerContainer(&container{
		format: FormatZstd,
		sniff:  isZstdSkippable,
		exts:   []string{"zst", "tzst", "zstd"},
		types:  []string{"application/zstd", "application/x-zstd", "application/x-zstd-compressed-tar"},
		open:   openZstd,
	})
}

// compressedSuffixes map the suffixes stripped from a compressed file's
// name to name its content to what replaces them, the short forms of a
// compressed tar archive becoming .tar: those of bzip2 (bzip2.c, zSuffix
// and unzSuffix), xz (suffix.c, which strips the lzma ones too) and zstd
// (fileio.c).
var compressedSuffixes = map[string]string{
	".bz2": "", ".bz": "", ".tbz2": ".tar", ".tbz": ".tar", ".xz": "", ".txz": ".tar",
	".lzma": "", ".tlz": ".tar", ".zst": "", ".zstd": "", ".tzst": ".tar",
}

// decompressedName is the name the tools give the content of the
// compressed file fileName; a name without a suffix they know is kept, as
// gunzipName keeps it.
func decompressedName(fileName string) string {
	i := strings.LastIndexByte(fileName, '.')
	if r, ok := compressedSuffixes[strings.ToLower(fileName[max(i, 0):])]; ok && i > 0 {
		return fileName[:i] + r
	}
	return fileName
}

// decoded is the content of a compressed file: what the decompressor
// gives up to its first error, which is kept. The content ends there, as
// the tools end what they extract there (7-Zip lists and extracts the part
// before the damage), so that the entries of a damaged .tar.xz before the
// damage are listed; the error is reported once the entry has been looked
// into (compressedWalker.next).
type decoded struct {
	r   io.Reader
	err error
}

// Read reads the content, ending it at the decompressor's first error.
func (d *decoded) Read(p []byte) (int, error) {
	if d.err != nil {
		return 0, io.EOF
	}
	n, err := d.r.Read(p)
	if err != nil && err != io.EOF {
		d.err = err
		err = io.EOF
	}
	return n, err
}

// compressedWalker gives the one entry of a compressed file, then the
// error its content ended with, if any: the archive is corrupt, or, for an
// *arcStop, not read for a reason of its own (a dictionary too big).
type compressedWalker struct {
	e     *arcEntry
	body  *decoded
	close func()
}

// newCompressedWalker returns the walker of the compressed file fileName
// whose content r gives, size bytes as recorded (0 when the format does
// not record it). An error found before the content (a damaged end of
// file, a dictionary too big) is passed as err: the entry is listed
// without content, and err is reported after it.
func newCompressedWalker(fileName string, size int64, r io.Reader, err error) *compressedWalker {
	body := &decoded{r: r, err: err}
	e := &arcEntry{name: decompressedName(fileName), size: size}
	if err == nil {
		e.open = func() (io.ReadCloser, error) { return io.NopCloser(body), nil }
	}
	return &compressedWalker{e: e, body: body}
}

// next returns the entry, then io.EOF or the error its content ended
// with.
func (w *compressedWalker) next() (*arcEntry, error) {
	if e := w.e; e != nil {
		w.e = nil
		return e, nil
	}
	switch err := w.body.err; {
	case err == nil:
		return nil, io.EOF
	case errors.Is(err, errDictionary):
		return nil, &arcStop{class: GapArchive, why: "too big: " + errDictionary.Error()}
	case errors.Is(err, zstd.ErrWindowSizeExceeded), errors.Is(err, zstd.ErrDecoderSizeExceeded):
		// zstd refuses a window past WithDecoderMaxWindow, or, for a
		// frame of one segment, a content size past WithDecoderMaxMemory.
		return nil, &arcStop{class: GapArchive, why: fmt.Sprintf("too big: zstd window bigger than %d bytes", maxDictionary)}
	default:
		return nil, err
	}
}

// Close releases the decompressor.
func (w *compressedWalker) Close() error {
	if w.close != nil {
		w.close()
	}
	return nil
}

// hasPrefixAt reports whether the file in ra starts with magic.
func hasPrefixAt(ra io.ReaderAt, size int64, magic string) bool {
	b := make([]byte, len(magic))
	if size < int64(len(magic)) {
		return false
	}
	_, err := ra.ReadAt(b, 0)
	return err == nil && string(b) == magic
}

// openBzip2 opens a bzip2 file. compress/bzip2 reads the streams of a
// multi-stream file (pbzip2's, or files concatenated) one after the
// other, as bunzip2 does; it fails on data after the last stream, which
// bunzip2 ignores with a warning. The format records no size.
func openBzip2(ra io.ReaderAt, size int64, fileName string) (arcWalker, error) {
	var h [4]byte
	if _, err := ra.ReadAt(h[:], 0); err != nil || string(h[:3]) != "BZh" || h[3] < '1' || h[3] > '9' {
		return nil, errors.New("bzip2: no stream header")
	}
	return newCompressedWalker(fileName, 0, bzip2.NewReader(io.NewSectionReader(ra, 0, size)), nil), nil
}

// openZstd opens a zstd file (RFC 8878): its frames, skippable ones
// included, are read one after the other, as zstd -d does. The
// decompressor's memory is bounded like that of a 7z entry's zstd coder
// (newZstd): a window past maxDictionary is refused (the zstd tool refuses
// windows past 128 MiB unless told otherwise). The size is the content
// size the first frame records, if it does.
func openZstd(ra io.ReaderAt, size int64, fileName string) (arcWalker, error) {
	head := make([]byte, min(size, zstd.HeaderMaxSize))
	n, _ := ra.ReadAt(head, 0)
	head = head[:n]
	var h zstd.Header
	if err := h.Decode(head); errors.Is(err, zstd.ErrMagicMismatch) || len(head) < 4 {
		return nil, errors.New("zstd: no frame header")
	}
	var recorded int64
	if h.HasFCS {
		recorded = int64(min(h.FrameContentSize, 1<<62))
	}
	d, err := zstd.NewReader(io.NewSectionReader(ra, 0, size), zstd.WithDecoderConcurrency(1), zstd.WithDecoderLowmem(true),
		zstd.WithDecoderMaxWindow(maxDictionary), zstd.WithDecoderMaxMemory(maxDictionary))
	if err != nil {
		return nil, fmt.Errorf("zstd: %w", err)
	}
	w := newCompressedWalker(fileName, recorded, d, nil)
	w.close = d.Close
	return w, nil
}

// isZstdSkippable reports whether head starts with a skippable zstd frame
// (RFC 8878, 3.1.2): zstd -d skips it and decompresses the frames after
// it, while archiveMagic knows only the magic of a zstd frame proper.
func isZstdSkippable(head []byte) bool {
	return len(head) >= 8 && binary.LittleEndian.Uint32(head)&^0xf == 0x184d2a50
}

// lzmaHeaderLen is the size of the header of an .lzma file: properties,
// dictionary size, uncompressed size.
const lzmaHeaderLen = 13

// isLzmaHeader reports whether head starts with the header of an .lzma
// file (LZMA-alone: the LZMA SDK's lzma.txt), which has no magic bytes.
// It takes what both xz (alone_decoder.c, "picky" when the name does not
// say lzma) and 7-Zip (LzmaHandler.cpp, IsArc_Lzma) take for one: a
// properties byte below 9*5*5, a plausible dictionary size
// (lzmaDictionary), a size unknown (-1) or below 256 GiB, and the first
// byte of the range coder, which is always zero. A size of 0, which no
// tool writes (xz writes -1), is not taken, so that a run of zero bytes is
// no lzma file.
func isLzmaHeader(head []byte) bool {
	if len(head) <= lzmaHeaderLen || head[0] >= 9*5*5 || head[lzmaHeaderLen] != 0 {
		return false
	}
	size := binary.LittleEndian.Uint64(head[5:])
	return lzmaDictionary(binary.LittleEndian.Uint32(head[1:])) && (size == 1<<64-1 || size > 0 && size < 1<<38)
}

// lzmaDictionary reports whether d is a dictionary size xz takes from a
// file not named as lzma: 2^n or 2^n+2^(n-1) bytes, or UINT32_MAX; here
// also at least the 4 KiB its encoder allows.
func lzmaDictionary(d uint32) bool {
	switch {
	case d == 1<<32-1:
		return true
	case d < 4<<10:
		return false
	case d%3 == 0:
		d /= 3
	}
	return d&(d-1) == 0
}

// openLzma opens an .lzma file with ulikunitz/xz's lzma reader. The
// dictionary is clamped to the size the header records, and refused past
// maxDictionary, as a 7z entry's LZMA coder (newLZMA). A size of -1 says
// the stream ends with an end marker; the size reported is then 0.
func openLzma(ra io.ReaderAt, size int64, fileName string) (arcWalker, error) {
	var h [lzmaHeaderLen + 1]byte
	if n, _ := ra.ReadAt(h[:], 0); !isLzmaHeader(h[:n]) {
		return nil, errNotContainer
	}
	unpacked := binary.LittleEndian.Uint64(h[5:])
	var recorded int64
	if unpacked != 1<<64-1 {
		recorded = int64(unpacked)
	}
	dict, err := clampDict(uint64(binary.LittleEndian.Uint32(h[1:])), unpacked)
	if err != nil {
		return newCompressedWalker(fileName, recorded, nil, err), nil
	}
	binary.LittleEndian.PutUint32(h[1:], uint32(dict))
	in := io.MultiReader(bytes.NewReader(h[:lzmaHeaderLen]), bufio.NewReader(io.NewSectionReader(ra, lzmaHeaderLen, size-lzmaHeaderLen)))
	lr, err := lzma.ReaderConfig{DictCap: maxDictionary}.NewReader(in)
	if err != nil {
		return newCompressedWalker(fileName, recorded, nil, fmt.Errorf("lzma: %w", err)), nil
	}
	return newCompressedWalker(fileName, recorded, lr, nil), nil
}

// The xz format (xz-file-format-1.2.1.txt, "The .xz File Format",
// tukaani.org): streams, each a header, blocks, an index of the blocks and
// a footer, with zero padding between streams. xz decompresses them all,
// one after the other.
const (
	xzMagic     = "\xfd7zXZ\x00"
	xzHeaderLen = 12 // stream header and stream footer alike
	// maxXzBlocks bounds the blocks of an xz file: each costs a
	// decompressor of its own (a dictionary of at least 4 KiB, tables of
	// 24 KiB), even for an empty block. xz -T0 cuts blocks of at least 1
	// MiB, so that this is some 16 GiB of content at the least.
	maxXzBlocks = 1 << 14
	lzma2Filter = 0x21
)

// xzCheckSizes are the sizes of a block's check by check ID (2.1.1.2): the
// IDs that name no check have a size too, and xz decompresses their
// blocks without checking them.
var xzCheckSizes = [16]int64{0, 4, 4, 4, 8, 8, 8, 16, 16, 16, 32, 32, 32, 64, 64, 64}

// xzCRC64 is the table of xz's CRC64 (ECMA-182, as xz's check.c).
var xzCRC64 = crc64.MakeTable(crc64.ECMA)

// newXzCheck returns the hash of a block's check, nil for none or one xz
// does not know. Its Sum is big-endian, where xz stores CRCs
// little-endian.
func newXzCheck(id byte) hash.Hash {
	switch id {
	case 0x01:
		return crc32.NewIEEE()
	case 0x04:
		return crc64.New(xzCRC64)
	case 0x0a:
		return sha256.New()
	}
	return nil
}

// xzStream is a stream of an xz file, as its footer and index say.
type xzStream struct {
	start     int64 // offset of the stream header
	index     int64 // offset of the index
	indexSize int64 // its size, CRC32 included
	check     byte  // the check ID of its blocks
}

// errXzEnd: an xz file does not end with a stream footer, or its index
// does not lead back to a stream header.
var errXzEnd = errors.New("xz: the streams do not end as their footers say (truncated, or data appended)")

// openXz opens an xz file. Its streams are found from its end, as xz
// --list finds them, from each footer to its index to its header; the
// size reported is the sum of the uncompressed sizes the indexes record.
// The blocks are then decompressed one after the other (xzReader), each
// checked against its index record, so that a block's dictionary is
// bounded by the content the record gives it.
func openXz(ra io.ReaderAt, size int64, fileName string) (arcWalker, error) {
	if !hasPrefixAt(ra, size, xzMagic) {
		return nil, errors.New("xz: no stream header")
	}
	streams, unpacked, err := xzStreams(ra, size)
	if err != nil {
		return newCompressedWalker(fileName, 0, nil, err), nil
	}
	return newCompressedWalker(fileName, unpacked, &xzReader{ra: ra, streams: streams}, nil), nil
}

// xzStreams reads the streams of the xz file in ra from its end (2.2: a
// footer, the index its backward size says, then the header before the
// blocks the index counts), and returns them in file order with the sum
// of their uncompressed sizes.
func xzStreams(ra io.ReaderAt, size int64) ([]xzStream, int64, error) {
	var streams []xzStream
	var unpacked, blocks int64
	for end := size; end > 0; {
		pad, err := zerosBefore(ra, end)
		if err != nil {
			return nil, 0, err
		}
		if end -= pad; pad%4 != 0 || end < 2*xzHeaderLen+8 {
			return nil, 0, errXzEnd
		}
		var f [xzHeaderLen]byte
		if _, err := ra.ReadAt(f[:], end-xzHeaderLen); err != nil {
			return nil, 0, err
		}
		if string(f[10:]) != "YZ" || binary.LittleEndian.Uint32(f[:]) != crc32.ChecksumIEEE(f[4:10]) || f[8] != 0 || f[9] > 0x0f {
			return nil, 0, errXzEnd
		}
		s := xzStream{check: f[9], indexSize: (int64(binary.LittleEndian.Uint32(f[4:])) + 1) * 4}
		s.index = end - xzHeaderLen - s.indexSize
		if s.index < xzHeaderLen {
			return nil, 0, errXzEnd
		}
		recs, err := newXzRecords(ra, s.index, s.indexSize)
		if err != nil {
			return nil, 0, err
		}
		if blocks += int64(recs.left); recs.left > maxXzBlocks || blocks > maxXzBlocks {
			return nil, 0, &arcStop{class: GapArchive, why: fmt.Sprintf("too many xz blocks: more than %d", maxXzBlocks)}
		}
		var packed int64
		for recs.left > 0 {
			u, n, err := recs.next()
			if err != nil {
				return nil, 0, err
			}
			if packed += (u + 3) &^ 3; packed > s.index {
				return nil, 0, errXzEnd
			}
			unpacked = min(unpacked+n, 1<<62)
		}
		if err := recs.end(); err != nil {
			return nil, 0, err
		}
		if s.start = s.index - packed - xzHeaderLen; s.start < 0 {
			return nil, 0, errXzEnd
		}
		var h [xzHeaderLen]byte
		if _, err := ra.ReadAt(h[:], s.start); err != nil || string(h[:6]) != xzMagic || string(h[6:8]) != string(f[8:10]) ||
			binary.LittleEndian.Uint32(h[8:]) != crc32.ChecksumIEEE(h[6:8]) {
			return nil, 0, errXzEnd
		}
		streams = append(streams, s)
		end = s.start
	}
	slices.Reverse(streams)
	return streams, unpacked, nil
}

// zerosBefore counts the zero bytes that end at offset end of ra.
func zerosBefore(ra io.ReaderAt, end int64) (int64, error) {
	buf := make([]byte, 4<<10)
	var n int64
	for end > 0 {
		b := buf[:min(end, int64(len(buf)))]
		if _, err := ra.ReadAt(b, end-int64(len(b))); err != nil {
			return 0, err
		}
		i := len(b)
		for i > 0 && b[i-1] == 0 {
			i--
		}
		n += int64(len(b) - i)
		if i > 0 {
			break
		}
		end -= int64(len(b))
	}
	return n, nil
}

// xzRecords reads an xz index (4): the indicator, the number of records,
// the records (unpadded and uncompressed size of each block), padding and
// a CRC32, which newXzRecords checks first.
type xzRecords struct {
	r    *bufio.Reader
	read int64 // bytes of the index read
	size int64 // of the index, CRC32 excluded
	left uint64
}

// errXzIndex: an xz index is not as the format has it.
var errXzIndex = errors.New("xz: corrupt index")

// newXzRecords checks the CRC32 of the index of size bytes at off in ra,
// reads its number of records, and returns the reader of the records.
func newXzRecords(ra io.ReaderAt, off, size int64) (*xzRecords, error) {
	crc := crc32.NewIEEE()
	if _, err := io.Copy(crc, io.NewSectionReader(ra, off, size-4)); err != nil {
		return nil, err
	}
	var c [4]byte
	if _, err := ra.ReadAt(c[:], off+size-4); err != nil {
		return nil, err
	}
	if binary.LittleEndian.Uint32(c[:]) != crc.Sum32() {
		return nil, errXzIndex
	}
	x := &xzRecords{r: bufio.NewReader(io.NewSectionReader(ra, off, size-4)), size: size - 4}
	if b, err := x.ReadByte(); err != nil || b != 0 {
		return nil, errXzIndex
	}
	n, err := xzNumber(x)
	if err != nil {
		return nil, err
	}
	x.left = n
	return x, nil
}

// ReadByte reads a byte of the index, counting it.
func (x *xzRecords) ReadByte() (byte, error) {
	b, err := x.r.ReadByte()
	if err == io.EOF {
		return 0, errXzIndex
	}
	if err == nil {
		x.read++
	}
	return b, err
}

// next reads the next record: the block's unpadded size (header,
// compressed data and check) and its uncompressed size.
func (x *xzRecords) next() (unpadded, uncompressed int64, err error) {
	u, err := xzNumber(x)
	if err != nil {
		return 0, 0, err
	}
	n, err := xzNumber(x)
	if err != nil {
		return 0, 0, err
	}
	if u < 5 || u > 1<<62 || n > 1<<62 {
		return 0, 0, errXzIndex
	}
	x.left--
	return int64(u), int64(n), nil
}

// end checks that the records are followed by their padding only.
func (x *xzRecords) end() error {
	pad := x.size - x.read
	if pad != -x.read&3 {
		return errXzIndex
	}
	for ; pad > 0; pad-- {
		if b, err := x.ReadByte(); err != nil || b != 0 {
			return errXzIndex
		}
	}
	return nil
}

// xzNumber reads a multibyte integer (1.2): seven bits a byte, least
// significant first, at most nine bytes, no superfluous zero byte.
func xzNumber(r io.ByteReader) (uint64, error) {
	var v uint64
	for i := range 9 {
		b, err := r.ReadByte()
		if err != nil {
			return 0, err
		}
		v |= uint64(b&0x7f) << (7 * i)
		if b&0x80 == 0 {
			if i > 0 && b == 0 {
				return 0, errors.New("xz: corrupt multibyte integer")
			}
			return v, nil
		}
	}
	return 0, errors.New("xz: corrupt multibyte integer")
}

// xzReader decompresses the blocks of the streams of an xz file in order.
type xzReader struct {
	ra      io.ReaderAt
	streams []xzStream // those after the current one
	recs    *xzRecords // the index records of the current stream
	check   byte       // its check ID
	pos     int64      // offset of the next block header
	block   *xzBlock   // the block being read, nil between blocks
}

// Read decompresses the blocks one after the other.
func (x *xzReader) Read(p []byte) (int, error) {
	for x.block == nil {
		if err := x.nextBlock(); err != nil {
			return 0, err
		}
	}
	n, err := x.block.Read(p)
	if err == io.EOF {
		err = x.block.end()
		x.block = nil
	}
	return n, err
}

// nextBlock opens the block at x.pos, after the last block of a stream the
// first block of the next one; io.EOF after the last stream.
func (x *xzReader) nextBlock() error {
	for x.recs == nil || x.recs.left == 0 {
		if len(x.streams) == 0 {
			return io.EOF
		}
		s := x.streams[0]
		recs, err := newXzRecords(x.ra, s.index, s.indexSize)
		if err != nil {
			return err
		}
		x.streams, x.recs, x.check, x.pos = x.streams[1:], recs, s.check, s.start+xzHeaderLen
	}
	unpadded, uncompressed, err := x.recs.next()
	if err != nil {
		return err
	}
	if x.block, err = openXzBlock(x.ra, x.pos, unpadded, uncompressed, x.check); err != nil {
		return err
	}
	x.pos += (unpadded + 3) &^ 3
	return nil
}

// xzBlock is the content of an xz block (3), checked against its index
// record while it is read.
type xzBlock struct {
	ra    io.ReaderAt
	lz    *lzma.Reader2
	in    *bufio.Reader // the compressed data, for the LZMA2 decoder
	left  int64         // uncompressed bytes the record gives, not read yet
	check hash.Hash
	id    byte  // check ID
	tail  int64 // offset of the block padding, after the compressed data
	pad   int64 // its size, which makes the block a multiple of four bytes
}

// openXzBlock reads the header of the block at pos, whose index record
// gives unpadded and uncompressed sizes, and starts its decompressor. Only
// the LZMA2 filter is known (as to ulikunitz/xz): a block with a filter
// before it (x86, ARM, delta, …) is not looked into.
func openXzBlock(ra io.ReaderAt, pos, unpadded, uncompressed int64, id byte) (*xzBlock, error) {
	var buf [1024]byte
	if _, err := ra.ReadAt(buf[:1], pos); err != nil {
		return nil, err
	}
	if buf[0] == 0 {
		return nil, errXzIndex // an index where the records say a block is
	}
	hlen := (int64(buf[0]) + 1) * 4
	h := buf[:hlen]
	if _, err := ra.ReadAt(h, pos); err != nil {
		return nil, err
	}
	if binary.LittleEndian.Uint32(h[hlen-4:]) != crc32.ChecksumIEEE(h[:hlen-4]) || h[1]&0x3c != 0 {
		return nil, errors.New("xz: corrupt block header")
	}
	packed := unpadded - hlen - xzCheckSizes[id]
	if packed <= 0 {
		return nil, errXzIndex
	}
	p := bytes.NewReader(h[2 : hlen-4])
	for _, v := range []struct {
		flag   byte
		record int64
	}{{0x40, packed}, {0x80, uncompressed}} {
		if h[1]&v.flag != 0 {
			if n, err := xzNumber(p); err != nil || n != uint64(v.record) {
				return nil, errors.New("xz: block header and index disagree")
			}
		}
	}
	filters := int(h[1]&3) + 1
	var props []byte
	for i := range filters {
		fid, err := xzNumber(p)
		if err != nil {
			return nil, err
		}
		n, err := xzNumber(p)
		if err != nil || n > uint64(p.Len()) {
			return nil, errors.New("xz: corrupt block header")
		}
		props = make([]byte, n)
		p.Read(props)
		if fid != lzma2Filter || i != filters-1 {
			return nil, &arcStop{class: GapArchive, why: fmt.Sprintf("xz filter %#x not supported", fid)}
		}
	}
	if len(props) != 1 || props[0] > 40 || slices.ContainsFunc(h[hlen-4-int64(p.Len()):hlen-4], func(b byte) bool { return b != 0 }) {
		return nil, errors.New("xz: corrupt block header")
	}
	dict, err := clampDict(uint64(2|props[0]&1)<<(props[0]/2+11), uint64(uncompressed))
	if err != nil {
		return nil, err
	}
	in := bufio.NewReader(io.NewSectionReader(ra, pos+hlen, packed))
	lz, err := lzma.Reader2Config{DictCap: int(dict)}.NewReader2(in)
	if err != nil {
		return nil, fmt.Errorf("xz: %w", err)
	}
	return &xzBlock{ra: ra, lz: lz, in: in, left: uncompressed, check: newXzCheck(id), id: id, tail: pos + hlen + packed, pad: -packed & 3}, nil
}

// errXzRecord: a block holds more or less than its index record says.
var errXzRecord = errors.New("xz: block size differs from its index record")

// Read decompresses the block, hashing what it gives for its check, and
// fails past the size its index record gives.
func (b *xzBlock) Read(p []byte) (int, error) {
	n, err := b.lz.Read(p[:min(int64(len(p)), b.left+1)])
	if b.left -= int64(n); b.left < 0 {
		return 0, errXzRecord
	}
	if b.check != nil {
		b.check.Write(p[:n])
	}
	return n, err
}

// end checks the end of a block read to its end: all of its compressed
// data read, its padding and its check.
func (b *xzBlock) end() error {
	if b.left != 0 {
		return errXzRecord
	}
	if _, err := b.in.ReadByte(); err != io.EOF {
		return errXzRecord
	}
	tail := make([]byte, b.pad+xzCheckSizes[b.id])
	if _, err := b.ra.ReadAt(tail, b.tail); err != nil {
		return err
	}
	if slices.ContainsFunc(tail[:b.pad], func(c byte) bool { return c != 0 }) {
		return errors.New("xz: corrupt block padding")
	}
	if b.check == nil {
		return nil
	}
	sum := b.check.Sum(nil)
	if b.id != 0x0a {
		slices.Reverse(sum)
	}
	if !bytes.Equal(sum, tail[b.pad:]) {
		return errors.New("xz: block check failed")
	}
	return nil
}
