package mime

import (
	"bytes"
	"crypto/aes"
	"crypto/cipher"
	"crypto/sha256"
	"encoding/binary"
	"errors"
	"fmt"
	"hash"
	"hash/crc32"
	"io"
	"slices"
	"strings"
	"sync"
	"time"
	"unicode/utf16"

	"github.com/bodgit/sevenzip"
	"github.com/klauspost/compress/zstd"
	"github.com/stangelandcl/ppmd"
	"github.com/ulikunitz/xz/lzma"
)

// 7z method IDs (7-Zip's DOC/Methods.txt) of the decompressors replaced
// here, and of AES.
var (
	szLZMA  = []byte{0x03, 0x01, 0x01}
	szLZMA2 = []byte{0x21}
	szPPMd  = []byte{0x03, 0x04, 0x01}
	szZstd  = []byte{0x04, 0xf7, 0x11, 0x01}
	szAES   = []byte{0x06, 0xf1, 0x07, 0x01}
)

// maxSevenZipHeader bounds the header (the entry list) of a 7z archive.
const maxSevenZipHeader = 16 << 20

var registerOnce sync.Once

// registerDecompressors replaces sevenzip's decompressors for the methods
// whose memory the archive chooses (a dictionary, a model, a window of up
// to 4 GiB) with ones that bound it: the dictionary is clamped to the size
// of what it decompresses, and refused past maxDictionary.
func registerDecompressors() {
	registerOnce.Do(func() {
		sevenzip.RegisterDecompressor(szLZMA, newLZMA)
		sevenzip.RegisterDecompressor(szLZMA2, newLZMA2)
		sevenzip.RegisterDecompressor(szPPMd, newPPMd)
		sevenzip.RegisterDecompressor(szZstd, newZstd)
	})
}

// errDictionary: a 7z coder needs more memory than maxDictionary.
var errDictionary = fmt.Errorf("dictionary bigger than %d bytes", maxDictionary)

// clampDict is the dictionary a coder needs to decompress size bytes.
func clampDict(dict, size uint64) (uint64, error) {
	d := min(dict, max(size, lzma.MinDictCap))
	if d > maxDictionary {
		return 0, errDictionary
	}
	return d, nil
}

// readCloser is a decompressor's reader closing the stream it reads.
type readCloser struct {
	io.Reader
	close func() error
}

func (r *readCloser) Close() error { return r.close() }

func oneReader(readers []io.ReadCloser) (io.ReadCloser, error) {
	if len(readers) != 1 {
		return nil, errors.New("7z: coder needs exactly one input stream")
	}
	return readers[0], nil
}

func newLZMA(p []byte, size uint64, readers []io.ReadCloser) (io.ReadCloser, error) {
	in, err := oneReader(readers)
	if err != nil {
		return nil, err
	}
	if len(p) != 5 {
		return nil, errors.New("lzma: bad properties")
	}
	dict, err := clampDict(uint64(binary.LittleEndian.Uint32(p[1:])), size)
	if err != nil {
		return nil, err
	}
	var h [lzma.HeaderLen]byte
	h[0] = p[0]
	binary.LittleEndian.PutUint32(h[1:], uint32(dict))
	binary.LittleEndian.PutUint64(h[5:], size)
	lr, err := lzma.ReaderConfig{DictCap: maxDictionary}.NewReader(io.MultiReader(bytes.NewReader(h[:]), in))
	if err != nil {
		return nil, fmt.Errorf("lzma: %w", err)
	}
	return &readCloser{Reader: lr, close: in.Close}, nil
}

func newLZMA2(p []byte, size uint64, readers []io.ReadCloser) (io.ReadCloser, error) {
	in, err := oneReader(readers)
	if err != nil {
		return nil, err
	}
	if len(p) != 1 || p[0] > 40 {
		return nil, errors.New("lzma2: bad properties")
	}
	dict, err := clampDict(uint64(2|p[0]&1)<<(p[0]/2+11), size)
	if err != nil {
		return nil, err
	}
	lr, err := lzma.Reader2Config{DictCap: int(dict)}.NewReader2(in)
	if err != nil {
		return nil, fmt.Errorf("lzma2: %w", err)
	}
	return &readCloser{Reader: lr, close: in.Close}, nil
}

func newPPMd(p []byte, size uint64, readers []io.ReadCloser) (io.ReadCloser, error) {
	in, err := oneReader(readers)
	if err != nil {
		return nil, err
	}
	if len(p) != 5 {
		return nil, errors.New("ppmd: bad properties")
	}
	// The model's memory is part of the format: it cannot be clamped.
	mem := binary.LittleEndian.Uint32(p[1:])
	if mem > maxDictionary || size > 1<<50 {
		return nil, errDictionary
	}
	pr, err := ppmd.NewH7zReader(in, int(p[0]), int(mem), int(size))
	if err != nil {
		return nil, fmt.Errorf("ppmd: %w", err)
	}
	return &readCloser{Reader: &pr, close: in.Close}, nil
}

func newZstd(_ []byte, _ uint64, readers []io.ReadCloser) (io.ReadCloser, error) {
	in, err := oneReader(readers)
	if err != nil {
		return nil, err
	}
	d, err := zstd.NewReader(in, zstd.WithDecoderConcurrency(1), zstd.WithDecoderLowmem(true),
		zstd.WithDecoderMaxWindow(maxDictionary), zstd.WithDecoderMaxMemory(maxDictionary))
	if err != nil {
		return nil, fmt.Errorf("zstd: %w", err)
	}
	return &readCloser{Reader: d, close: func() error { d.Close(); return in.Close() }}, nil
}

// sevenZipFiles walks the entries of a 7z archive.
type sevenZipFiles struct {
	in      *inspector
	ra      io.ReaderAt
	size    int64
	files   []*sevenzip.File
	i       int
	folders []szFolder
	blocks  map[int]*szBlock
	// readers opened with a password candidate, and the last entry each
	// read to its end (-1 for none).
	withPassword map[string]*szPasswordReader
	// headerPassword is the candidate that decrypted an encrypted entry
	// list (7z -mhe): sevenzip reads the entries with the same password.
	headerPassword []byte
}

// szBlock is what the walk knows of the entries of one folder (a solid
// block when it holds more than one).
type szBlock struct {
	files   int
	total   int64
	last    int   // index of the last entry
	charged bool  // its decompression is charged to the budget
	tooBig  error // set when it is not
}

type szPasswordReader struct {
	r    *sevenzip.Reader
	last int
}

// sevenZipWalker checks the header of the 7z archive in ra (see check7z)
// and returns a walker of its entries.
func (in *inspector) sevenZipWalker(a *Archive, ra io.ReaderAt, size int64) (arcWalker, error) {
	registerDecompressors()
	folders, headerPassword, err := check7z(ra, size, in)
	if err != nil {
		return nil, err
	}
	var zr *sevenzip.Reader
	if headerPassword != nil {
		zr, err = sevenzip.NewReaderWithPassword(ra, size, string(headerPassword))
	} else {
		zr, err = sevenzip.NewReader(ra, size)
	}
	if err != nil {
		return nil, err
	}
	w := &sevenZipFiles{in: in, ra: ra, size: size, files: zr.File, folders: folders, blocks: map[int]*szBlock{}, headerPassword: headerPassword}
	for i, f := range zr.File {
		if f.UncompressedSize == 0 {
			continue
		}
		b := w.blocks[f.Stream]
		if b == nil {
			b = &szBlock{}
			w.blocks[f.Stream] = b
		}
		b.files++
		b.total += int64(min(f.UncompressedSize, 1<<50))
		b.last = i
	}
	return w, nil
}

func (w *sevenZipFiles) next() (*arcEntry, error) {
	if w.i >= len(w.files) {
		return nil, io.EOF
	}
	idx := w.i
	f := w.files[idx]
	w.i++
	e := &arcEntry{name: strings.ToValidUTF8(strings.TrimSuffix(f.Name, "/"), "\uFFFD"), size: int64(min(f.UncompressedSize, 1<<62))}
	if is7zDir(f) {
		e.dir = true
		return e, nil
	}
	b := w.blocks[f.Stream]
	if f.UncompressedSize == 0 || b == nil {
		e.open = f.Open
		return e, nil
	}
	if f.Stream < len(w.folders) && w.folders[f.Stream].encrypted {
		e.encrypted = true
		e.decrypt = func(pw []byte) (io.ReadCloser, error) { return w.decrypt(idx, pw) }
		return e, nil
	}
	if b.files > 1 {
		// Every entry of a solid block but the last is decompressed to
		// reach the next one: the block is paid for once, whole, and the
		// last entry is read to its end so that the block's decompressor
		// is released.
		e.prepaid = true
		if !b.charged {
			b.charged = true
			if b.total > w.in.unpackBudget {
				b.tooBig = fmt.Errorf("too big: solid block of %d bytes, %d left to decompress", b.total, w.in.unpackBudget)
			} else {
				w.in.unpackBudget -= b.total
			}
		}
		if b.tooBig != nil {
			e.prepaid = false
			e.open = func() (io.ReadCloser, error) { return nil, b.tooBig }
			return e, nil
		}
	}
	last := b.files > 1 && idx == b.last
	e.open = func() (io.ReadCloser, error) {
		rc, err := f.Open()
		if err != nil || !last {
			return rc, err
		}
		return &readCloser{Reader: rc, close: func() error {
			io.Copy(io.Discard, rc)
			return rc.Close()
		}}, nil
	}
	return e, nil
}

// decrypt opens entry idx with a password candidate. sevenzip reads all of
// an archive with one password, so a reader is opened per candidate; its
// content is checked against the CRC of the entry once read to the end.
// Reaching an entry of a solid block costs the entries before it, unless
// the same reader read the one just before.
func (w *sevenZipFiles) decrypt(idx int, pw []byte) (io.ReadCloser, error) {
	if w.withPassword == nil {
		w.withPassword = map[string]*szPasswordReader{}
	}
	if w.headerPassword != nil && !bytes.Equal(pw, w.headerPassword) {
		return nil, errors.New("not the password of the entry list")
	}
	pr := w.withPassword[string(pw)]
	if pr == nil {
		r, err := sevenzip.NewReaderWithPassword(w.ra, w.size, string(pw))
		if err != nil {
			return nil, err
		}
		if len(r.File) != len(w.files) {
			return nil, errors.New("7z: entry list differs")
		}
		pr = &szPasswordReader{r: r, last: -1}
		w.withPassword[string(pw)] = pr
	}
	f := pr.r.File[idx]
	if prev := w.previousInFolder(idx); prev >= 0 && pr.last != prev {
		var skip int64
		for i := 0; i < idx; i++ {
			if g := w.files[i]; g.Stream == f.Stream && g.UncompressedSize > 0 {
				skip += int64(min(g.UncompressedSize, 1<<50))
			}
		}
		if skip > w.in.unpackBudget {
			return nil, fmt.Errorf("%w: %d bytes of the solid block before it, %d left to decompress", errTooBigToCheck, skip, w.in.unpackBudget)
		}
		w.in.unpackBudget -= skip
	}
	rc, err := f.Open()
	if err != nil {
		return nil, err
	}
	return &crcReader{r: rc, c: rc, h: crc32.NewIEEE(), want: f.CRC32, size: int64(f.UncompressedSize), done: func() { pr.last = idx }}, nil
}

// is7zDir reports whether an entry is a directory. The directory
// attribute alone does not make one: an entry with content is a file,
// whatever its attributes say, as 7-Zip extracts it.
func is7zDir(f *sevenzip.File) bool { return f.FileInfo().IsDir() && f.UncompressedSize == 0 }

// previousInFolder returns the index of the entry before idx in its folder,
// -1 when idx is the first.
func (w *sevenZipFiles) previousInFolder(idx int) int {
	f := w.files[idx]
	for i := idx - 1; i >= 0; i-- {
		if g := w.files[i]; g.Stream == f.Stream && g.UncompressedSize > 0 {
			return i
		}
	}
	return -1
}

// crcReader checks the CRC-32 and size of what it reads at the end.
type crcReader struct {
	r    io.Reader
	c    io.Closer
	h    hash.Hash32
	n    int64
	want uint32
	size int64
	done func()
}

func (r *crcReader) Read(p []byte) (int, error) {
	n, err := r.r.Read(p)
	r.h.Write(p[:n])
	r.n += int64(n)
	if err == io.EOF {
		if r.n != r.size || r.h.Sum32() != r.want {
			return n, errors.New("checksum mismatch: wrong password or corrupt data")
		}
		r.done()
	}
	return n, err
}

func (r *crcReader) Close() error { return r.c.Close() }

// szFolder is what check7z keeps of a folder of the main streams.
type szFolder struct {
	encrypted bool
}

// 7z header property IDs (7-Zip's DOC/7zFormat.txt).
const (
	szEnd                   = 0x00
	szHeader                = 0x01
	szArchiveProperties     = 0x02
	szAdditionalStreamsInfo = 0x03
	szMainStreamsInfo       = 0x04
	szFilesInfo             = 0x05
	szPackInfo              = 0x06
	szUnpackInfo            = 0x07
	szSubStreamsInfo        = 0x08
	szSize                  = 0x09
	szCRC                   = 0x0a
	szFolderID              = 0x0b
	szCodersUnpackSize      = 0x0c
	szNumUnpackStream       = 0x0d
	szEncodedHeader         = 0x17
)

var errSzHeader = errors.New("bad 7z header")

// check7z reads the header of a 7z archive before sevenzip does, and
// refuses what sevenzip would turn into unbounded allocations: sevenzip
// sizes slices by the counts a header declares (files, coders, streams),
// whatever bytes back them. Every count is bounded here, the file count by
// the entries left to list. An encoded header is decompressed here too (as
// sevenzip will, with the same bounded decompressors); one that is
// encrypted (7z -mhe) is decrypted with the password candidate that fits,
// if any, and reported as encrypted otherwise. It returns the main
// folders, to tell which entries are encrypted, and the candidate that
// decrypted the header (nil when it was not encrypted).
func check7z(ra io.ReaderAt, size int64, in *inspector) ([]szFolder, []byte, error) {
	var sh [32]byte
	if _, err := ra.ReadAt(sh[:], 0); err != nil {
		return nil, nil, errors.New("too short for a 7z archive")
	}
	if string(sh[:6]) != "7z\xbc\xaf\x27\x1c" {
		return nil, nil, errors.New("no 7z signature at the start")
	}
	if crc32.ChecksumIEEE(sh[12:32]) != binary.LittleEndian.Uint32(sh[8:]) {
		return nil, nil, errors.New("bad 7z start header checksum")
	}
	off, n := binary.LittleEndian.Uint64(sh[12:]), binary.LittleEndian.Uint64(sh[20:])
	if off > uint64(size) || n > uint64(size)-32 || off > uint64(size)-32-n {
		return nil, nil, errors.New("7z header out of bounds")
	}
	if n > maxSevenZipHeader {
		return nil, nil, fmt.Errorf("7z header of %d bytes, more than %d", n, maxSevenZipHeader)
	}
	hdr := make([]byte, n)
	if _, err := ra.ReadAt(hdr, int64(32+off)); err != nil && err != io.EOF {
		return nil, nil, err
	}
	if crc32.ChecksumIEEE(hdr) != binary.LittleEndian.Uint32(sh[28:]) {
		return nil, nil, errors.New("bad 7z header checksum")
	}
	var headerPassword []byte
	if len(hdr) > 0 && hdr[0] == szEncodedHeader {
		p := &szParser{b: hdr[1:], files: uint64(in.entryBudget)}
		si := p.streamsInfo()
		if p.err != nil {
			return nil, nil, p.err
		}
		dec, pw, err := decode7zHeader(ra, size, si, in)
		if err != nil {
			return nil, nil, err
		}
		hdr, headerPassword = dec, pw
	}
	p := &szParser{b: hdr, files: uint64(in.entryBudget)}
	folders := p.header()
	if p.tooMany > 0 {
		return nil, nil, &arcStop{class: GapLimit, why: fmt.Sprintf("too many entries: %d, %d left of %d", p.tooMany, in.entryBudget, in.lim.MaxArchiveEntries)}
	}
	if p.err != nil {
		return nil, nil, p.err
	}
	return folders, headerPassword, nil
}

// szStreams is what the parser keeps of a StreamsInfo.
type szStreams struct {
	packPos   uint64
	packSizes []uint64
	folders   []szCoders
}

type szCoders struct {
	coders     []szCoder
	unpack     []uint64
	crc        uint32
	crcDefined bool
}

type szCoder struct {
	id, props []byte
}

// decode7zHeader decompresses an encoded header: one folder of one coder
// (Copy, LZMA or LZMA2), as 7-Zip writes it, or of AES alone or that coder
// behind AES for the entry list of an archive encrypted with -mhe (7-Zip
// leaves a small entry list uncompressed). An encrypted
// header is decrypted with each password candidate in turn, under the
// message's budget of tries; the candidate whose header decompresses with
// the right checksum is returned with it.
func decode7zHeader(ra io.ReaderAt, size int64, si szStreams, in *inspector) ([]byte, []byte, error) {
	if len(si.folders) != 1 || len(si.packSizes) < 1 {
		return nil, nil, errors.New("7z encoded header: not one folder")
	}
	fo := si.folders[0]
	start := 32 + si.packPos
	if si.packPos > uint64(size) || si.packSizes[0] > uint64(size)-start {
		return nil, nil, errors.New("7z encoded header out of bounds")
	}
	packed := io.NewSectionReader(ra, int64(start), int64(si.packSizes[0]))
	aes := slices.IndexFunc(fo.coders, func(c szCoder) bool { return bytes.Equal(c.id, szAES) })
	if aes < 0 {
		if len(fo.coders) != 1 || len(fo.unpack) != 1 {
			return nil, nil, errors.New("7z encoded header: coders not supported")
		}
		hdr, err := unpack7zHeader(fo.coders[0], fo.unpack[0], io.NopCloser(packed), fo)
		return hdr, nil, err
	}
	locked := &arcStop{class: GapEncrypted, why: "encrypted: the entry list cannot be read", encrypted: true}
	if len(fo.coders) > 2 || len(fo.unpack) != len(fo.coders) || !fo.crcDefined {
		// Not as 7-Zip writes it; without a checksum a wrong password
		// cannot be told.
		return nil, nil, locked
	}
	if len(in.passwords) == 0 {
		return nil, nil, locked
	}
	if si.packSizes[0] > maxSevenZipHeader || si.packSizes[0]%16 != 0 || fo.unpack[aes] > si.packSizes[0] {
		return nil, nil, errors.New("7z encrypted header: bad size")
	}
	sealed := make([]byte, si.packSizes[0])
	if _, err := packed.ReadAt(sealed, 0); err != nil {
		return nil, nil, fmt.Errorf("7z encrypted header: %w", err)
	}
	// AES alone: what it decrypts is the header (read through Copy).
	inner, hdrSize := szCoder{id: []byte{0}}, fo.unpack[aes]
	if len(fo.coders) == 2 {
		inner, hdrSize = fo.coders[1-aes], fo.unpack[1-aes]
	}
	for i := range in.passwords {
		// As for entries (decryptEntry): the candidate that fitted last
		// goes first.
		pw := in.passwords[(in.fits+i)%len(in.passwords)]
		if in.decryptBudget() != "" {
			break
		}
		begin := time.Now()
		plain, err := decrypt7zAES(fo.coders[aes].props, pw, sealed)
		var hdr []byte
		if err == nil {
			hdr, err = unpack7zHeader(inner, hdrSize, io.NopCloser(bytes.NewReader(plain[:fo.unpack[aes]])), fo)
		}
		in.decryptTime += time.Since(begin)
		if err == nil {
			// The entries have the same password: it goes first for
			// them, and the candidates before it are not counted as
			// misses again.
			in.fits = (in.fits + i) % len(in.passwords)
			return hdr, pw, nil
		}
		in.misses++
	}
	locked.why = "encrypted: no password candidate opens the entry list"
	return nil, nil, locked
}

// unpack7zHeader decompresses a header of unpack bytes with coder c (Copy,
// LZMA or LZMA2) and checks it against the folder's checksum.
func unpack7zHeader(c szCoder, unpack uint64, packed io.ReadCloser, fo szCoders) ([]byte, error) {
	if unpack > maxSevenZipHeader {
		return nil, fmt.Errorf("7z header of %d bytes, more than %d", unpack, maxSevenZipHeader)
	}
	var r io.ReadCloser
	var err error
	switch {
	case bytes.Equal(c.id, []byte{0}):
		r = packed
	case bytes.Equal(c.id, szLZMA):
		r, err = newLZMA(c.props, unpack, []io.ReadCloser{packed})
	case bytes.Equal(c.id, szLZMA2):
		r, err = newLZMA2(c.props, unpack, []io.ReadCloser{packed})
	default:
		return nil, errors.New("7z encoded header: method not supported")
	}
	if err != nil {
		return nil, err
	}
	defer r.Close()
	hdr := make([]byte, unpack)
	if _, err := io.ReadFull(r, hdr); err != nil {
		return nil, fmt.Errorf("7z encoded header: %w", err)
	}
	if fo.crcDefined && crc32.ChecksumIEEE(hdr) != fo.crc {
		return nil, errors.New("7z encoded header: bad checksum")
	}
	return hdr, nil
}

// maxSzKeyCycles bounds the key derivation an archive may ask for: 7-Zip
// writes 19 (2^19 rounds of SHA-256, some 10 ms); 24 is sevenzip's own cap.
const maxSzKeyCycles = 24

// decrypt7zAES decrypts data sealed by 7-Zip's AES-256-CBC coder with the
// given properties (7-Zip's 7zAes.cpp): the key is SHA-256 over 2^cycles
// rounds of the salt, the password in UTF-16LE and a 64-bit round number.
func decrypt7zAES(props, pw, data []byte) ([]byte, error) {
	if len(props) < 2 || props[0]&0xc0 == 0 {
		return nil, errors.New("7z AES: properties not supported")
	}
	saltLen := int(props[0]>>7&1 + props[1]>>4)
	ivLen := int(props[0]>>6&1 + props[1]&0x0f)
	if len(props) != 2+saltLen+ivLen {
		return nil, errors.New("7z AES: bad properties")
	}
	salt := props[2 : 2+saltLen]
	iv := make([]byte, aes.BlockSize)
	copy(iv, props[2+saltLen:])
	cycles := int(props[0] & 0x3f)
	material := append([]byte(nil), salt...)
	for _, u := range utf16.Encode([]rune(string(pw))) {
		material = binary.LittleEndian.AppendUint16(material, u)
	}
	key := make([]byte, sha256.Size)
	switch {
	case cycles == 0x3f:
		copy(key, material)
	case cycles > maxSzKeyCycles:
		return nil, fmt.Errorf("7z AES: key derivation of 2^%d rounds", cycles)
	default:
		h := sha256.New()
		buf := make([]byte, len(material)+8)
		copy(buf, material)
		for i := uint64(0); i < 1<<cycles; i++ {
			binary.LittleEndian.PutUint64(buf[len(material):], i)
			h.Write(buf)
		}
		key = h.Sum(key[:0])
	}
	block, err := aes.NewCipher(key)
	if err != nil {
		return nil, err
	}
	if len(data)%aes.BlockSize != 0 {
		return nil, errors.New("7z AES: data not a multiple of the block size")
	}
	out := make([]byte, len(data))
	cipher.NewCBCDecrypter(block, iv).CryptBlocks(out, data)
	return out, nil
}

// szParser reads 7z header structures, bounding every count. It keeps the
// first error; after one, every read returns zero.
type szParser struct {
	b       []byte
	err     error
	files   uint64 // entries that may still be listed
	streams uint64 // substreams counted so far
	tooMany uint64 // a file or substream count past files
}

func (p *szParser) fail() {
	if p.err == nil {
		p.err = errSzHeader
	}
	p.b = nil
}

func (p *szParser) byte() byte {
	if len(p.b) == 0 {
		p.fail()
		return 0
	}
	c := p.b[0]
	p.b = p.b[1:]
	return c
}

func (p *szParser) bytes(n uint64) []byte {
	if n > uint64(len(p.b)) {
		p.fail()
		return nil
	}
	b := p.b[:n]
	p.b = p.b[n:]
	return b
}

// number reads a 7z NUMBER: the leading one bits of the first byte count
// the bytes that follow.
func (p *szParser) number() uint64 {
	first := p.byte()
	mask := byte(0x80)
	var v uint64
	for i := 0; i < 8; i++ {
		if first&mask == 0 {
			return v | uint64(first&(mask-1))<<(8*i)
		}
		v |= uint64(p.byte()) << (8 * i)
		mask >>= 1
	}
	return v
}

// count reads a NUMBER that counts things, at most limit.
func (p *szParser) count(limit uint64) int {
	n := p.number()
	if n > limit {
		p.fail()
		return 0
	}
	return int(n)
}

// items is the bound of a count of things that each take at least one
// byte of what is left.
func (p *szParser) items() uint64 { return uint64(len(p.b)) }

// digests skips n CRCs, all defined or after a bit field; it returns
// them, 0 where undefined.
func (p *szParser) digests(n int) ([]uint32, []bool) {
	defined := make([]bool, n)
	if p.byte() != 0 {
		for i := range defined {
			defined[i] = true
		}
	} else {
		var b byte
		for i := range defined {
			if i%8 == 0 {
				b = p.byte()
			}
			defined[i] = b&(0x80>>(i%8)) != 0
		}
	}
	crcs := make([]uint32, n)
	for i := range crcs {
		if defined[i] {
			crcs[i] = binary.LittleEndian.Uint32(append(p.bytes(4), 0, 0, 0, 0))
		}
	}
	return crcs, defined
}

// header reads a plain header and returns its main folders.
func (p *szParser) header() []szFolder {
	if p.byte() != szHeader {
		p.fail()
	}
	id := p.byte()
	if id == szArchiveProperties {
		for p.err == nil && p.byte() != szEnd {
			p.bytes(p.number())
		}
		id = p.byte()
	}
	if id == szAdditionalStreamsInfo {
		p.streamsInfo()
		id = p.byte()
	}
	var folders []szFolder
	if id == szMainStreamsInfo {
		for _, f := range p.streamsInfo().folders {
			var enc bool
			for _, c := range f.coders {
				enc = enc || bytes.Equal(c.id, szAES)
			}
			folders = append(folders, szFolder{encrypted: enc})
		}
		id = p.byte()
	}
	if id == szFilesInfo {
		if n := p.number(); n > p.files {
			p.tooMany = n
			p.fail()
		}
		for p.err == nil && p.byte() != szEnd {
			p.bytes(p.number())
		}
		id = p.byte()
	}
	if id != szEnd {
		p.fail()
	}
	return folders
}

// streamsInfo reads a StreamsInfo.
func (p *szParser) streamsInfo() szStreams {
	var s szStreams
	id := p.byte()
	if id == szPackInfo {
		s.packPos = p.number()
		n := p.count(p.items())
		for id = p.byte(); p.err == nil && id != szEnd; id = p.byte() {
			switch id {
			case szSize:
				s.packSizes = make([]uint64, n)
				for i := range s.packSizes {
					s.packSizes[i] = p.number()
				}
			case szCRC:
				p.digests(n)
			default:
				p.fail()
			}
		}
		id = p.byte()
	}
	if id == szUnpackInfo {
		if p.byte() != szFolderID {
			p.fail()
		}
		n := p.count(p.items())
		if p.byte() != 0 {
			p.fail() // external folders
		}
		for i := 0; i < n && p.err == nil; i++ {
			s.folders = append(s.folders, p.folder())
		}
		if p.byte() != szCodersUnpackSize {
			p.fail()
		}
		for i := range s.folders {
			for j := range s.folders[i].unpack {
				s.folders[i].unpack[j] = p.number()
			}
		}
		id = p.byte()
		if id == szCRC {
			crcs, defined := p.digests(len(s.folders))
			for i := range s.folders {
				s.folders[i].crc, s.folders[i].crcDefined = crcs[i], defined[i]
			}
			id = p.byte()
		}
		if id != szEnd {
			p.fail()
		}
		id = p.byte()
	}
	if id == szSubStreamsInfo {
		nums := make([]int, len(s.folders))
		for i := range nums {
			nums[i] = 1
		}
		id = p.byte()
		if id == szNumUnpackStream {
			for i := range nums {
				k := p.number()
				if p.streams += k; k > p.files || p.streams > p.files {
					p.tooMany = p.streams
					p.fail()
					break
				}
				nums[i] = int(k)
			}
			id = p.byte()
		}
		if id == szSize {
			for i := range nums {
				for j := 1; j < nums[i]; j++ {
					p.number()
				}
			}
			id = p.byte()
		}
		if id == szCRC {
			n := 0
			for i, k := range nums {
				if k != 1 || !s.folders[i].crcDefined {
					n += k
				}
			}
			p.digests(n)
			id = p.byte()
		}
		if id != szEnd {
			p.fail()
		}
		id = p.byte()
	}
	if id != szEnd {
		p.fail()
	}
	return s
}

// maxCoderStreams bounds the coders of a folder and their streams, as
// 7-Zip does.
const maxCoderStreams = 64

// folder reads a Folder: its coders, bind pairs and packed streams.
func (p *szParser) folder() szCoders {
	var f szCoders
	n := p.count(maxCoderStreams)
	if n == 0 {
		p.fail()
	}
	var ins, outs int
	for i := 0; i < n && p.err == nil; i++ {
		flags := p.byte()
		if flags&0xc0 != 0 {
			p.fail() // alternative methods: reserved
		}
		c := szCoder{id: p.bytes(uint64(flags & 0x0f))}
		in, out := 1, 1
		if flags&0x10 != 0 {
			in, out = p.count(maxCoderStreams), p.count(maxCoderStreams)
		}
		if flags&0x20 != 0 {
			c.props = p.bytes(p.number())
		}
		ins, outs = ins+in, outs+out
		f.coders = append(f.coders, c)
	}
	if outs == 0 || outs > maxCoderStreams || ins > maxCoderStreams {
		p.fail()
		return f
	}
	f.unpack = make([]uint64, outs)
	for i := 0; i < outs-1; i++ {
		p.count(uint64(ins - 1))
		p.count(uint64(outs - 1))
	}
	packed := ins - (outs - 1)
	if packed < 1 {
		p.fail()
	}
	if packed > 1 {
		for i := 0; i < packed; i++ {
			p.count(uint64(ins - 1))
		}
	}
	return f
}
