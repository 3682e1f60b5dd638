package mime

import (
	"bytes"
	"io"
	"sync"

	"github.com/segmentio/asm/base64"
)

// Base64 is decoded as Thunderbird decodes it (mime_decode_base64_buffer
// and mime_decode_base64_token, mailnews/mime/src/mimeenc.cpp): every
// byte outside the alphabet and '=' (line breaks, stray spaces, garbage)
// is dropped; the rest is read four characters at a time, '=' standing for
// zero bits and ending only its own group ("TQ==" is one byte, and the
// group after it is decoded as usual); a final group of two or three
// characters yields what it holds (Thunderbird writes it out undecoded,
// other clients decode it). b64groups turns the text into characters a
// plain decoder decodes into those bytes. What a rule reads of an attachment is its size and its first bytes;
// only an archive looked into, or a part sent to a scanner, needs all of it
// decoded. So an attachment is decoded while its sink asks for content, and
// the rest is only counted, which costs a fifth of decoding it. Decoding
// itself is segmentio/asm's (AVX2 on amd64, NEON on arm64), on the
// characters gathered by b64compact.

// b64alpha marks the bytes of the base64 alphabet (RFC 2045 section 6.8).
var b64alpha = func() (t [256]uint8) {
	for _, c := range []byte("ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/") {
		t[c] = 1
	}
	return t
}()

// isBase64Char reports whether c is in the base64 alphabet.
func isBase64Char(c byte) bool { return b64alpha[c] == 1 }

// b64count counts the alphabet characters of b: 32 at a time where the
// processor can (b64_amd64.s), the rest by the table.
func b64count(b []byte) int {
	n, done := b64countBlocks(b)
	b = b[done:]
	for len(b) >= 8 {
		n += int(b64alpha[b[0]]) + int(b64alpha[b[1]]) + int(b64alpha[b[2]]) + int(b64alpha[b[3]]) +
			int(b64alpha[b[4]]) + int(b64alpha[b[5]]) + int(b64alpha[b[6]]) + int(b64alpha[b[7]])
		b = b[8:]
	}
	for _, c := range b {
		n += int(b64alpha[c])
	}
	return n
}

// b64compact copies the alphabet characters of src to dst, which is not
// src and at least as long, and returns how many there are: 32 bytes at a
// time where the processor can (b64_amd64.s), the rest by the table.
func b64compact(dst, src []byte) int {
	j, i := b64compactBlocks(dst, src)
	for _, c := range src[i:] {
		dst[j] = c
		j += int(b64alpha[c])
	}
	return j
}

// b64value is the value of each base64 character; '=' and the bytes
// outside the alphabet are 0.
var b64value = func() (t [256]uint8) {
	for i, c := range []byte("ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/") {
		t[c] = uint8(i)
	}
	return t
}()

// b64groups reads base64 text group by group, as Thunderbird does, and
// writes alphabet characters that a plain decoder decodes into the bytes
// Thunderbird decodes. Until a group holds a '=', characters pass as
// they are, a whole group at a time (b64compact, 32 bytes at a time where
// the processor can). A group with '=' is decoded as
// mime_decode_base64_token decodes it (3, 2 or 1 bytes), and from then on
// the part's groups are decoded and their bytes encoded again, so that
// what follows stays aligned: a slow path that only text with padding
// inside it takes.
type b64groups struct {
	tok     [4]byte // the group being read: alphabet characters and '='
	nt      int     // characters in tok
	eq      int     // '=' in tok
	shifted bool    // a group ended early: groups are decoded and encoded again
	carry   [5]byte // shifted: decoded bytes not yet encoded
	nc      int
}

// compact writes the characters of src to dst, which is not src and at
// least len(src)+4 long, whole groups only, and returns how many.
func (g *b64groups) compact(dst, src []byte) int {
	n := 0
	if !g.shifted && g.eq == 0 {
		i := bytes.IndexByte(src, '=')
		if i < 0 {
			i = len(src)
		}
		n = copy(dst, g.tok[:g.nt])
		n += b64compact(dst[n:], src[:i])
		whole := n / 4 * 4
		g.nt = copy(g.tok[:], dst[whole:n])
		n = whole
		src = src[i:]
	}
	for _, c := range src {
		if c == '=' {
			g.eq++
		} else if b64alpha[c] == 0 {
			continue
		}
		g.tok[g.nt] = c
		if g.nt++; g.nt == 4 {
			n += g.group(dst[n:])
		}
	}
	return n
}

// group writes the characters of the complete group in tok.
func (g *b64groups) group(dst []byte) int {
	defer func() { g.nt, g.eq = 0, 0 }()
	if !g.shifted && g.eq == 0 {
		return copy(dst, g.tok[:])
	}
	g.shifted = true
	num := uint32(b64value[g.tok[0]])<<18 | uint32(b64value[g.tok[1]])<<12 | uint32(b64value[g.tok[2]])<<6 | uint32(b64value[g.tok[3]])
	k := [...]int{3, 2}[min(g.eq, 1)]
	if g.eq >= 2 {
		k = 1
	}
	return g.put(dst, []byte{byte(num >> 16), byte(num >> 8), byte(num)}[:k], false)
}

// put adds decoded bytes to the carry and writes the characters of each
// three; at the end (last set) it writes those of what is left too.
func (g *b64groups) put(dst, b []byte, last bool) int {
	g.nc += copy(g.carry[g.nc:], b)
	n := 0
	for g.nc >= 3 {
		base64.RawStdEncoding.Encode(dst[n:], g.carry[:3])
		n += 4
		g.nc = copy(g.carry[:], g.carry[3:g.nc])
	}
	if last && g.nc > 0 {
		base64.RawStdEncoding.Encode(dst[n:], g.carry[:g.nc])
		n += base64.RawStdEncoding.EncodedLen(g.nc)
		g.nc = 0
	}
	return n
}

// flush writes the characters of what is left at the end of the text:
// a final group of two or three alphabet characters yields one or two
// bytes, a single one nothing.
func (g *b64groups) flush(dst []byte) int {
	chars := g.nt - g.eq
	if !g.shifted && g.eq == 0 {
		n := 0
		if g.nt >= 2 {
			n = copy(dst, g.tok[:g.nt])
		}
		g.nt = 0
		return n
	}
	var b []byte
	if chars >= 2 {
		var num uint32
		for i := range 4 {
			v := uint32(0)
			if i < g.nt {
				v = uint32(b64value[g.tok[i]])
			}
			num = num<<6 | v
		}
		b = []byte{byte(num >> 16), byte(num >> 8), byte(num)}[:chars-1]
	}
	g.nt, g.eq = 0, 0
	return g.put(dst, b, true)
}

// b64size is the decoded size of n alphabet characters.
func b64size(n int64) int64 { return n/4*3 + [4]int64{0, 0, 1, 2}[n%4] }

// b64bufs are the buffers of decodeBase64: what it reads, the alphabet
// characters of that, and those held until the head is decoded.
type b64bufs struct {
	in    [32 << 10]byte
	chars [32<<10 + 8]byte
	held  [2*headChars + 64]byte
	dec   charDecoder
}

var b64buf = sync.Pool{New: func() any { return new(b64bufs) }}

// headChars is how many alphabet characters hold the first headSize bytes.
const headChars = (headSize + 2) / 3 * 4

// decodeBase64 reads the base64 text of an attachment from r into k: it
// decodes the first headSize bytes for sniffing and, when they (or the
// attachment's name) say zip, spools the rest as characters, which the
// archive's reader decodes only where it looks; otherwise it only counts.
// When w is not nil, all of it is decoded and written to w as well (for a
// scanner). It returns the decoded size of the whole part and the first
// read error.
func decodeBase64(r io.Reader, k *sink, w io.Writer) (int64, error) {
	bufs := b64buf.Get().(*b64bufs)
	defer b64buf.Put(bufs)
	buf, chars := bufs.in[:], bufs.chars[:]
	var g b64groups
	var total int64
	held := bufs.held[:0] // the characters read until the head is decoded
	var err error
	for len(held) < headChars && err == nil {
		// Only about what the head needs is read here (lines of 76
		// characters and their breaks): what follows may only be counted.
		want := min(len(buf), max(512, (headChars-len(held))*5/4))
		var n int
		n, err = r.Read(buf[:want])
		m := g.compact(chars, buf[:n])
		if err != nil {
			m += g.flush(chars[m:])
		}
		total += int64(m)
		held = append(held, chars[:m]...)
	}
	if err == io.EOF {
		err = nil
	}
	k.setHead(decodeChars(held[:min(len(held), headChars)]))
	var dec *charDecoder
	if w != nil {
		// Decoded whole for w anyway: the spool, if any, takes the
		// decoded bytes too, so that what looks inside (a PDF is read
		// whole) does not decode the characters a second time.
		dec = &bufs.dec
		dec.w, dec.spool, dec.nc = w, k.spool, 0
		dec.write(held)
		defer dec.flush()
	} else if k.spool != nil {
		k.spool.encoded = true
		k.spool.Write(held)
	}
	for err == nil {
		if dec == nil && (k.spool == nil || k.spool.tooBig || k.spool.err != nil) {
			if wt, ok := r.(io.WriterTo); ok {
				// Count the rest where it lies, without copying it.
				c := &b64counter{g: &g}
				_, err = wt.WriteTo(c)
				return b64size(total + c.end()), err
			}
		}
		var n int
		n, err = r.Read(buf)
		m := g.compact(chars, buf[:n])
		if err != nil {
			m += g.flush(chars[m:])
		}
		total += int64(m)
		if dec != nil {
			dec.write(chars[:m])
		} else if k.spool != nil {
			k.spool.Write(chars[:m])
		}
	}
	if err == io.EOF {
		err = nil
	}
	return b64size(total), err
}

// charDecoder decodes alphabet characters written to it in any pieces and
// writes the bytes to w, and to spool when it is not nil.
type charDecoder struct {
	w     io.Writer
	spool *spool
	carry [3]byte
	nc    int
	group [4]byte // a group completed from carry (a local would escape to the heap)
	out   [24 << 10]byte
}

func (d *charDecoder) write(c []byte) {
	if d.nc > 0 {
		need := 4 - d.nc
		if len(c) < need {
			d.nc += copy(d.carry[d.nc:], c)
			return
		}
		g := d.group[:]
		copy(g, d.carry[:d.nc])
		copy(g[d.nc:], c[:need])
		c, d.nc = c[need:], 0
		n, _ := base64.RawStdEncoding.Decode(d.out[:], g)
		d.emit(d.out[:n])
	}
	for len(c) >= 4 {
		whole := min(len(c)/4*4, len(d.out)/3*4)
		n, _ := base64.RawStdEncoding.Decode(d.out[:], c[:whole])
		d.emit(d.out[:n])
		c = c[whole:]
	}
	d.nc = copy(d.carry[:], c)
}

// flush decodes a final group of two or three characters.
func (d *charDecoder) flush() {
	if d.nc > 1 {
		n, _ := base64.RawStdEncoding.Decode(d.out[:], d.carry[:d.nc])
		d.emit(d.out[:n])
	}
	d.nc = 0
	d.w, d.spool = nil, nil
}

func (d *charDecoder) emit(b []byte) {
	d.w.Write(b)
	if d.spool != nil {
		d.spool.Write(b)
	}
}

// decodeChars decodes alphabet characters, a final group of two or three
// included.
func decodeChars(c []byte) []byte {
	c = c[:len(c)/4*4+[4]int{0, 0, 2, 3}[len(c)%4]]
	out := make([]byte, base64.RawStdEncoding.DecodedLen(len(c)))
	n, _ := base64.RawStdEncoding.Decode(out, c)
	return out[:n]
}

// b64counter counts the characters b64groups would write for the text
// written to it: where no '=' is in sight, by counting alphabet
// characters (b64count) and keeping only the last group's; otherwise
// through b64groups itself.
type b64counter struct {
	g       *b64groups
	n       int64
	scratch [4096 + 8]byte
}

func (c *b64counter) Write(p []byte) (int, error) {
	g := c.g
	if !g.shifted && g.eq == 0 && bytes.IndexByte(p, '=') < 0 {
		k := b64count(p)
		all := g.nt + k
		c.n += int64(all / 4 * 4)
		// Keep the characters of the group left incomplete: the last
		// ones of p, after those kept before when p holds too few.
		left := all % 4
		from := 0
		if k < left {
			from = left - k
			copy(g.tok[:], g.tok[g.nt-from:g.nt])
		}
		i := from
		tail := g.tok[from:left]
		for j := len(p) - 1; j >= 0 && i < left; j-- {
			if b64alpha[p[j]] == 1 {
				tail[left-1-i] = p[j]
				i++
			}
		}
		g.nt = left
		return len(p), nil
	}
	for q := p; len(q) > 0; {
		chunk := q[:min(len(q), 4096)]
		c.n += int64(g.compact(c.scratch[:], chunk))
		q = q[len(chunk):]
	}
	return len(p), nil
}

// end returns the count, the end of the text included.
func (c *b64counter) end() int64 {
	return c.n + int64(c.g.flush(c.scratch[:]))
}

// base64Reader is a lenient base64 decoder over r for parts that are read
// whole (text).
type base64Reader struct {
	r     io.Reader
	g     b64groups
	in    [4096]byte
	chars [4096 + 8]byte
	out   []byte // decoded and not yet returned
	obuf  [3072 + 8]byte
	err   error
}

func (b *base64Reader) Read(p []byte) (int, error) {
	for len(b.out) == 0 {
		if b.err != nil {
			return 0, b.err
		}
		n, err := b.r.Read(b.in[:])
		m := b.g.compact(b.chars[:], b.in[:n])
		if err != nil {
			m += b.g.flush(b.chars[m:]) // the end: decode what a final group holds
			b.err = err
		}
		d, _ := base64.RawStdEncoding.Decode(b.obuf[:], b.chars[:m])
		b.out = b.obuf[:d]
	}
	n := copy(p, b.out)
	b.out = b.out[n:]
	return n, nil
}
