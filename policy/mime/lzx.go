package mime

import (
	"encoding/binary"
	"errors"
	"fmt"
	"math/bits"
	"sync"
)

// The LZX decoder of cabinet folders, written from Microsoft's "LZX DELTA
// Compression and Decompression" ([MS-PATCH] 2) as it applies to
// cabinets, and decoding what libmspack's lzxd.c (cabextract) decodes:
// a window of 2^15 to 2^21 bytes, set by bits 8 to 12 of the folder's
// typeCompress; one stream per folder, its state (window, trees, repeated
// offsets, block under way) carried from CFDATA block to CFDATA block,
// each block's data one frame of at most 32 KiB of output; verbatim,
// aligned offset and uncompressed blocks; the E8 call translation of x86
// code, with the file size of the stream's header, undone on each frame
// of output but its last 10 bytes. Nothing resets the stream within a
// folder.
//
// The byte of padding after an uncompressed block of odd length is where
// libmspack and 7-Zip (LzxDecoder.cpp) take it: after the block's last
// byte, in the same data block when that one byte is all it has left,
// else as the first byte of the next; 16-bit words are read again from
// the byte after it, whatever its offset. It must be zero, as 7-Zip
// requires (libmspack ignores it). A data block that is not the last of
// its folder must hold its frame and nothing more but the padding of its
// last 16-bit word (and that byte): libmspack would read what follows as
// the start of the next frame, and 7-Zip calls it an error. The last data
// block of a folder may hold more (Microsoft's HTML Help compiler writes
// it so).
//
// github.com/Microsoft/go-winio/wim/lzx is not used: it decodes the WIM
// variant only (a fixed 32 KiB window, each chunk a stream of its own, a
// 1-bit block size field, no translation size in the stream).
//
// The window is the only allocation of a size the cabinet chooses (at most
// 2 MiB), taken from lzxWindows and given back to it; each frame decodes
// exactly the bytes its CFDATA block declares, from the bytes that block
// holds: a match or a block that runs past the frame, an offset before
// the start of the stream or beyond the window, a tree that is not a
// complete prefix code, and bits read past the end of the block are
// errors.

// Sizes of the LZX format.
const (
	lzxMinWindow    = 15
	lzxMaxWindow    = 21
	lzxFrame        = 32768
	lzxMinMatch     = 2
	lzxNumChars     = 256
	lzxPretreeSyms  = 20
	lzxLengthSyms   = 249
	lzxAlignedSyms  = 8
	lzxMaxMainSyms  = lzxNumChars + 50*8
	lzxLensSafety   = 64 // runs of lengths may write past their tree, as lzxd.c allows
	lzxMaxCodeLen   = 16
	lzxTableBits    = 10
	lzxVerbatim     = 1
	lzxAligned      = 2
	lzxUncompressed = 3
)

// lzxSlots is the number of position slots for each window size.
var lzxSlots = [lzxMaxWindow + 1]int{15: 30, 16: 32, 17: 34, 18: 36, 19: 38, 20: 42, 21: 50}

// lzxExtraBits and lzxPositionBase are the footer bits and base offset of
// each position slot.
var lzxExtraBits, lzxPositionBase = func() (e [50]uint8, b [50]uint32) {
	j := uint8(0)
	for i := 0; i < 50; i += 2 {
		e[i], e[i+1] = j, j
		if i != 0 && j < 17 {
			j++
		}
	}
	var p uint32
	for i := range b {
		b[i] = p
		p += 1 << e[i]
	}
	return e, b
}()

// Errors of LZX streams.
var (
	errLzxTruncated = errors.New("corrupt: LZX data block ends before its frame")
	errLzxTree      = errors.New("corrupt: LZX code lengths that are no prefix code")
	errLzxEmptyTree = errors.New("corrupt: LZX symbol of an empty tree")
)

// lzxWindows keeps the windows of decoders that are done, one pool per
// size (of *[]byte), so that a message of many cabinets does not allocate
// a window for each.
var lzxWindows [lzxMaxWindow + 1]sync.Pool

// lzxBits reads the bits of one CFDATA block: 16-bit little-endian words,
// each from its most significant bit. Past the end it reads zeros, and
// over says so once they are taken.
type lzxBits struct {
	in  []byte
	pos int // in bits
}

func (b *lzxBits) word(i int) uint32 {
	switch j := 2 * i; {
	case j+1 < len(b.in):
		return uint32(b.in[j]) | uint32(b.in[j+1])<<8
	case j < len(b.in):
		return uint32(b.in[j])
	}
	return 0
}

// peek returns the next n bits (n ≤ 17).
func (b *lzxBits) peek(n uint) uint32 {
	if n == 0 {
		return 0
	}
	w := b.pos >> 4
	v := (b.word(w)<<16 | b.word(w+1)) << uint(b.pos&15)
	return v >> (32 - n)
}

func (b *lzxBits) read(n uint) uint32 {
	v := b.peek(n)
	b.pos += int(n)
	return v
}

func (b *lzxBits) over() bool { return b.pos > 8*len(b.in) }

// lzxHuff decodes one canonical prefix code.
type lzxHuff struct {
	empty bool
	table [1 << lzxTableBits]uint16 // symbol<<5 | length, for codes of at most lzxTableBits
	first [lzxMaxCodeLen + 1]uint32 // first code of each length
	count [lzxMaxCodeLen + 1]uint32
	index [lzxMaxCodeLen + 1]uint32 // in syms, of each length's first symbol
	syms  [lzxMaxMainSyms]uint16    // by length, then symbol
}

// build makes the code of lens: complete, or all lengths zero (an empty
// tree, which may not be used), as lzxd.c requires.
func (h *lzxHuff) build(lens []uint8) error {
	var count [lzxMaxCodeLen + 1]uint32
	for _, l := range lens {
		count[l]++
	}
	count[0] = 0
	h.empty = count == [lzxMaxCodeLen + 1]uint32{}
	if h.empty {
		return nil
	}
	left := uint32(1)
	for l := 1; l <= lzxMaxCodeLen; l++ {
		left <<= 1
		if count[l] > left {
			return errLzxTree
		}
		left -= count[l]
	}
	if left != 0 {
		return errLzxTree
	}
	code, idx := uint32(0), uint32(0)
	for l := 1; l <= lzxMaxCodeLen; l++ {
		h.first[l], h.count[l], h.index[l] = code, count[l], idx
		code = (code + count[l]) << 1
		idx += count[l]
	}
	next := h.index
	for s, l := range lens {
		if l != 0 {
			h.syms[next[l]] = uint16(s)
			next[l]++
		}
	}
	for l := 1; l <= lzxTableBits; l++ {
		for i := uint32(0); i < h.count[l]; i++ {
			c := h.first[l] + i
			e := h.syms[h.index[l]+i]<<5 | uint16(l)
			lo, hi := c<<(lzxTableBits-l), (c+1)<<(lzxTableBits-l)
			for j := lo; j < hi; j++ {
				h.table[j] = e
			}
		}
	}
	return nil
}

// decode reads one symbol.
func (h *lzxHuff) decode(b *lzxBits) (int, error) {
	if h.empty {
		return 0, errLzxEmptyTree
	}
	v := b.peek(lzxMaxCodeLen)
	if e := h.table[v>>(lzxMaxCodeLen-lzxTableBits)]; e != 0 {
		b.pos += int(e & 31)
		return int(e >> 5), nil
	}
	for l := lzxTableBits + 1; l <= lzxMaxCodeLen; l++ {
		c := v >> (lzxMaxCodeLen - l)
		if i := c - h.first[l]; c >= h.first[l] && i < h.count[l] {
			b.pos += l
			return int(h.syms[h.index[l]+i]), nil
		}
	}
	return 0, errLzxTree
}

// lzxDecoder decodes the LZX stream of one folder, frame by frame.
type lzxDecoder struct {
	window     []byte
	win        *[]byte // the window, as taken from lzxWindows
	slots      int
	pos        int   // in window
	total      int64 // bytes decoded in the folder
	frames     int
	r          [3]uint32
	header     bool // the stream's header was read
	intelSize  int32
	intelOn    bool // E8 translation started
	blockType  int
	blockLen   int
	blockLeft  int
	padded     bool // the padding after the block, uncompressed and odd, was skipped
	mainLens   [lzxMaxMainSyms + lzxLensSafety]uint8
	lengthLens [lzxLengthSyms + lzxLensSafety]uint8
	in         lzxBits
	pre, main  lzxHuff
	length     lzxHuff
	aligned    lzxHuff
}

// reset starts a folder's stream with a window of 2^bits bytes. The
// largest window yet is kept for the next folders: a cabinet whose files
// go back and forth between folders of two sizes allocates once.
func (z *lzxDecoder) reset(bits int) error {
	if bits < lzxMinWindow || bits > lzxMaxWindow {
		return fmt.Errorf("corrupt: LZX window of 2^%d bytes", bits)
	}
	if cap(z.window) < 1<<bits {
		z.release()
		z.win, _ = lzxWindows[bits].Get().(*[]byte)
		if z.win == nil {
			w := make([]byte, 1<<bits)
			z.win = &w
		}
		z.window = *z.win
	}
	z.window = z.window[:1<<bits]
	z.slots = lzxSlots[bits]
	z.pos, z.total, z.frames = 0, 0, 0
	z.r = [3]uint32{1, 1, 1}
	z.header, z.intelSize, z.intelOn = false, 0, false
	z.blockType, z.blockLen, z.blockLeft, z.padded = 0, 0, 0, false
	clear(z.mainLens[:])
	clear(z.lengthLens[:])
	return nil
}

// release gives the window back to lzxWindows; reset takes one again.
func (z *lzxDecoder) release() {
	if z.win == nil {
		return
	}
	lzxWindows[bits.Len(uint(cap(*z.win)))-1].Put(z.win)
	z.win, z.window = nil, nil
}

// padPending reports whether the block that ended is uncompressed, of odd
// length, and the byte of padding after it not skipped yet.
func (z *lzxDecoder) padPending() bool {
	return z.blockLeft == 0 && z.blockType == lzxUncompressed && z.blockLen&1 == 1 && !z.padded
}

// skipPad skips the byte of padding after an odd uncompressed block: the
// bits are read again in 16-bit words from the byte after it. The byte is
// zero: 7-Zip fails on another, which libmspack ignores.
func (z *lzxDecoder) skipPad() error {
	at := z.in.pos/8 + 1
	if at > len(z.in.in) {
		return errLzxTruncated
	}
	if p := z.in.in[at-1]; p != 0 {
		return fmt.Errorf("corrupt: LZX padding byte %#02x after an uncompressed block", p)
	}
	z.in = lzxBits{in: z.in.in[at:]}
	z.padded = true
	return nil
}

// frame decodes len(out) bytes (at most lzxFrame) from the data of one
// CFDATA block; last says that the block is the last of its folder, which
// may hold more than the frame.
func (z *lzxDecoder) frame(in, out []byte, last bool) error {
	z.in = lzxBits{in: in}
	if !z.header {
		z.header = true
		if z.in.read(1) == 1 {
			hi := z.in.read(16)
			z.intelSize = int32(hi<<16 | z.in.read(16))
		}
	}
	if z.pos == len(z.window) {
		z.pos = 0
	}
	if len(out) > lzxFrame || z.pos+len(out) > len(z.window) {
		return fmt.Errorf("corrupt: LZX frame of %d bytes at %d of a window of %d", len(out), z.pos, len(z.window))
	}
	start := z.pos
	for todo := len(out); todo > 0; {
		if z.blockLeft == 0 {
			if z.padPending() {
				if err := z.skipPad(); err != nil {
					return err
				}
			}
			if err := z.blockHeader(); err != nil {
				return err
			}
			continue
		}
		run := min(z.blockLeft, todo)
		var err error
		if z.blockType == lzxUncompressed {
			err = z.raw(run)
		} else {
			err = z.codes(run, start)
		}
		if err != nil {
			return err
		}
		z.blockLeft -= run
		todo -= run
		if z.in.over() {
			return errLzxTruncated
		}
	}
	if z.padPending() && z.in.pos/8+1 == len(z.in.in) {
		// The padding is the one byte left of the data block.
		if err := z.skipPad(); err != nil {
			return err
		}
	}
	used := z.in.pos / 8
	if z.blockType != lzxUncompressed {
		used = min(len(z.in.in), (z.in.pos+15)/16*2)
	}
	if left := len(z.in.in) - used; left > 0 && !last {
		return fmt.Errorf("corrupt: LZX data block holds %d bytes after its frame", left)
	}
	copy(out, z.window[start:z.pos])
	if z.intelOn && z.intelSize != 0 && z.frames < 32768 && len(out) > 10 {
		z.translate(out)
	}
	z.total += int64(len(out))
	z.frames++
	return nil
}

// blockHeader reads the type and size of the next block, and its trees
// or its repeated offsets.
func (z *lzxDecoder) blockHeader() error {
	b := &z.in
	z.blockType = int(b.read(3))
	hi := b.read(16)
	z.blockLen = int(hi<<8 | b.read(8))
	z.blockLeft = z.blockLen
	z.padded = false
	switch z.blockType {
	case lzxAligned:
		var lens [lzxAlignedSyms]uint8
		for i := range lens {
			lens[i] = uint8(b.read(3))
		}
		if err := z.aligned.build(lens[:]); err != nil {
			return err
		}
		fallthrough
	case lzxVerbatim:
		nmain := lzxNumChars + z.slots*8
		if err := z.lens(z.mainLens[:], 0, lzxNumChars); err != nil {
			return err
		}
		if err := z.lens(z.mainLens[:], lzxNumChars, nmain); err != nil {
			return err
		}
		if err := z.main.build(z.mainLens[:nmain]); err != nil {
			return err
		}
		if z.mainLens[0xe8] != 0 {
			z.intelOn = true
		}
		if err := z.lens(z.lengthLens[:], 0, lzxLengthSyms); err != nil {
			return err
		}
		if err := z.length.build(z.lengthLens[:lzxLengthSyms]); err != nil {
			return err
		}
	case lzxUncompressed:
		z.intelOn = true
		// 1 to 16 bits of padding to a 16-bit boundary, then R0, R1, R2.
		if r := b.pos & 15; r != 0 {
			b.pos += 16 - r
		} else {
			b.pos += 16
		}
		at := b.pos / 8
		if at+12 > len(b.in) {
			return errLzxTruncated
		}
		for i := range z.r {
			z.r[i] = binary.LittleEndian.Uint32(b.in[at+4*i:])
		}
		b.pos += 96
	default:
		return fmt.Errorf("corrupt: LZX block type %d", z.blockType)
	}
	if b.over() {
		return errLzxTruncated
	}
	return nil
}

// lens reads the code lengths of lens[first:last] through a pretree, as
// differences from their previous values.
func (z *lzxDecoder) lens(lens []uint8, first, last int) error {
	b := &z.in
	var pl [lzxPretreeSyms]uint8
	for i := range pl {
		pl[i] = uint8(b.read(4))
	}
	if err := z.pre.build(pl[:]); err != nil {
		return err
	}
	delta := func(x, d int) uint8 {
		v := int(lens[x]) - d
		if v < 0 {
			v += 17
		}
		return uint8(v)
	}
	for x := first; x < last; {
		if b.over() {
			return errLzxTruncated
		}
		s, err := z.pre.decode(b)
		if err != nil {
			return err
		}
		var n int
		var v uint8
		switch s {
		case 17:
			n = 4 + int(b.read(4))
		case 18:
			n = 20 + int(b.read(5))
		case 19:
			n = 4 + int(b.read(1))
			d, err := z.pre.decode(b)
			if err != nil {
				return err
			}
			if d > 16 {
				return fmt.Errorf("corrupt: LZX pretree symbol %d in a run", d)
			}
			v = delta(x, d)
		default:
			n, v = 1, delta(x, s)
		}
		if x+n > len(lens) {
			return errors.New("corrupt: LZX code lengths run past their tree")
		}
		for range n {
			lens[x] = v
			x++
		}
	}
	return nil
}

// raw copies n bytes of an uncompressed block.
func (z *lzxDecoder) raw(n int) error {
	at := z.in.pos / 8
	if at+n > len(z.in.in) {
		return errLzxTruncated
	}
	copy(z.window[z.pos:], z.in.in[at:at+n])
	z.pos += n
	z.in.pos += 8 * n
	return nil
}

// codes decodes n bytes of a verbatim or aligned offset block; start is
// where the frame began in the window.
func (z *lzxDecoder) codes(n, start int) error {
	b := &z.in
	w := z.window
	for n > 0 {
		if b.over() {
			return errLzxTruncated
		}
		s, err := z.main.decode(b)
		if err != nil {
			return err
		}
		if s < lzxNumChars {
			w[z.pos] = byte(s)
			z.pos++
			n--
			continue
		}
		s -= lzxNumChars
		length := s & 7
		if length == 7 {
			f, err := z.length.decode(b)
			if err != nil {
				return err
			}
			length += f
		}
		length += lzxMinMatch
		slot := s >> 3
		var off uint32
		switch {
		case slot > 2:
			extra := uint(lzxExtraBits[slot])
			off = lzxPositionBase[slot] - 2
			if z.blockType == lzxAligned && extra >= 3 {
				if extra > 3 {
					off += b.read(extra-3) << 3
				}
				a, err := z.aligned.decode(b)
				if err != nil {
					return err
				}
				off += uint32(a)
			} else {
				off += b.read(extra)
			}
			if slot == 3 {
				off = 1
			}
			z.r[0], z.r[1], z.r[2] = off, z.r[0], z.r[1]
		case slot == 0:
			off = z.r[0]
		case slot == 1:
			off = z.r[1]
			z.r[0], z.r[1] = off, z.r[0]
		default:
			off = z.r[2]
			z.r[0], z.r[2] = off, z.r[0]
		}
		if length > n {
			return fmt.Errorf("corrupt: LZX match of %d bytes runs past its block or frame", length)
		}
		if int64(off) > z.total+int64(z.pos-start) || int(off) > len(w) || off == 0 {
			return fmt.Errorf("corrupt: LZX match at offset %d before the start of the stream or the window", off)
		}
		src := z.pos - int(off)
		if src < 0 {
			src += len(w)
		}
		for range length {
			w[z.pos] = w[src]
			z.pos++
			if src++; src == len(w) {
				src = 0
			}
		}
		n -= length
	}
	return nil
}

// translate undoes the E8 translation on a frame of output: the 32-bit
// operand after each E8 byte, an absolute address when it lies within the
// translation size, becomes the relative one the file held.
func (z *lzxDecoder) translate(out []byte) {
	cur := z.total
	size := int64(z.intelSize)
	end := len(out) - 10
	for i := 0; i < end; {
		if out[i] != 0xe8 {
			i++
			cur++
			continue
		}
		abs := int64(int32(binary.LittleEndian.Uint32(out[i+1:])))
		if abs >= -cur && abs < size {
			rel := abs - cur
			if abs < 0 {
				rel = abs + size
			}
			binary.LittleEndian.PutUint32(out[i+1:], uint32(rel))
		}
		i += 5
		cur += 5
	}
}
