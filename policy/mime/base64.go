package mime

import (
	"io"
	"sync"

	"github.com/segmentio/asm/base64"
)

// Base64 is decoded as leniently as mail clients decode it: every byte
// outside the alphabet (line breaks, padding, stray spaces, garbage) is
// dropped, and a final group of two or three characters yields what it
// holds. What a rule reads of an attachment is its size and its first bytes;
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

// b64size is the decoded size of n alphabet characters.
func b64size(n int64) int64 { return n/4*3 + [4]int64{0, 0, 1, 2}[n%4] }

// b64bufs are the buffers of decodeBase64: what it reads, the alphabet
// characters of that, and those held until the head is decoded.
type b64bufs struct {
	in, chars [32 << 10]byte
	held      [2*headChars + 64]byte
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
	var total int64
	held := bufs.held[:0] // the characters read until the head is decoded
	var err error
	for len(held) < headChars && err == nil {
		// Only about what the head needs is read here (lines of 76
		// characters and their breaks): what follows may only be counted.
		want := min(len(buf), max(512, (headChars-len(held))*5/4))
		var n int
		n, err = r.Read(buf[:want])
		m := b64compact(chars, buf[:n])
		total += int64(m)
		held = append(held, chars[:m]...)
	}
	if err == io.EOF {
		err = nil
	}
	k.setHead(decodeChars(held[:min(len(held), headChars)]))
	if k.spool != nil {
		k.spool.encoded = true
		k.spool.Write(held)
	}
	var dec *charDecoder
	if w != nil {
		dec = &charDecoder{w: w}
		dec.write(held)
		defer dec.flush()
	}
	for err == nil {
		if dec == nil && (k.spool == nil || k.spool.tooBig || k.spool.err != nil) {
			if wt, ok := r.(io.WriterTo); ok {
				// Count the rest where it lies, without copying it.
				c := &b64counter{}
				_, err = wt.WriteTo(c)
				return b64size(total + c.n), err
			}
		}
		var n int
		n, err = r.Read(buf)
		m := b64compact(chars, buf[:n])
		total += int64(m)
		if k.spool != nil {
			k.spool.Write(chars[:m])
		}
		if dec != nil {
			dec.write(chars[:m])
		}
	}
	if err == io.EOF {
		err = nil
	}
	return b64size(total), err
}

// charDecoder decodes alphabet characters written to it in any pieces and
// writes the bytes to w.
type charDecoder struct {
	w     io.Writer
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
		d.w.Write(d.out[:n])
	}
	for len(c) >= 4 {
		whole := min(len(c)/4*4, len(d.out)/3*4)
		n, _ := base64.RawStdEncoding.Decode(d.out[:], c[:whole])
		d.w.Write(d.out[:n])
		c = c[whole:]
	}
	d.nc = copy(d.carry[:], c)
}

// flush decodes a final group of two or three characters.
func (d *charDecoder) flush() {
	if d.nc > 1 {
		n, _ := base64.RawStdEncoding.Decode(d.out[:], d.carry[:d.nc])
		d.w.Write(d.out[:n])
	}
	d.nc = 0
}

// decodeChars decodes alphabet characters, a final group of two or three
// included.
func decodeChars(c []byte) []byte {
	c = c[:len(c)/4*4+[4]int{0, 0, 2, 3}[len(c)%4]]
	out := make([]byte, base64.RawStdEncoding.DecodedLen(len(c)))
	n, _ := base64.RawStdEncoding.Decode(out, c)
	return out[:n]
}

// b64counter counts the alphabet characters written to it.
type b64counter struct{ n int64 }

func (c *b64counter) Write(p []byte) (int, error) {
	c.n += int64(b64count(p))
	return len(p), nil
}

// base64Reader is a lenient base64 decoder over r for parts that are read
// whole (text).
type base64Reader struct {
	r     io.Reader
	in    [4096]byte
	chars [4096 + 3]byte // the characters carried from the last read, then those of in
	nc    int            // how many are carried
	out   []byte         // decoded and not yet returned
	obuf  [3072 + 3]byte
	err   error
}

func (b *base64Reader) Read(p []byte) (int, error) {
	for len(b.out) == 0 {
		if b.err != nil {
			return 0, b.err
		}
		n, err := b.r.Read(b.in[:])
		m := b.nc + b64compact(b.chars[b.nc:], b.in[:n])
		whole := m / 4 * 4
		if err != nil {
			whole = m // the end: decode what a final group holds
			if m%4 == 1 {
				whole--
			}
			b.err = err
		}
		d, _ := base64.RawStdEncoding.Decode(b.obuf[:], b.chars[:whole])
		b.out = b.obuf[:d]
		b.nc = copy(b.chars[:], b.chars[whole:m])
		if b.err != nil {
			b.nc = 0
		}
	}
	n := copy(p, b.out)
	b.out = b.out[n:]
	return n, nil
}
