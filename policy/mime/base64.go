package mime

import (
	"encoding/base64"
	"io"
	"sync"
)

// Base64 is decoded as leniently as mail clients decode it: every byte
// outside the alphabet (line breaks, padding, stray spaces, garbage) is
// dropped, and a final group of two or three characters yields what it
// holds. What a rule reads of an attachment is its size and its first bytes;
// only an archive looked into, or a part sent to a scanner, needs all of it
// decoded. So an attachment is decoded while its sink asks for content, and
// the rest is only counted, which costs a third of decoding it.

// b64alpha marks the bytes of the base64 alphabet (RFC 2045 section 6.8).
var b64alpha = func() (t [256]uint8) {
	for _, c := range []byte("ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/") {
		t[c] = 1
	}
	return t
}()

// isBase64Char reports whether c is in the base64 alphabet.
func isBase64Char(c byte) bool { return b64alpha[c] == 1 }

// b64count counts the alphabet characters of b.
func b64count(b []byte) int {
	n := 0
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

// b64compact moves the alphabet characters of b to its start and returns
// how many there are.
func b64compact(b []byte) int {
	j := 0
	for _, c := range b {
		b[j] = c
		j += int(b64alpha[c])
	}
	return j
}

// b64size is the decoded size of n alphabet characters.
func b64size(n int64) int64 { return n/4*3 + [4]int64{0, 0, 1, 2}[n%4] }

// b64buf is a pool of read buffers for base64 parts.
var b64buf = sync.Pool{New: func() any { b := make([]byte, 32<<10); return &b }}

// decodeBase64 reads the base64 text of a part from r and writes its decoded
// bytes to k for as long as k wants content; then it only counts. It
// returns the decoded size of the whole part and the first read error.
func decodeBase64(r io.Reader, k *sink) (int64, error) {
	bp := b64buf.Get().(*[]byte)
	defer b64buf.Put(bp)
	buf := *bp
	var out [24 << 10]byte
	var carry [3]byte // alphabet characters of an incomplete group
	nc := 0
	var total int64
	for {
		if wt, ok := r.(io.WriterTo); ok && !k.wantsContent() {
			// Count the rest where it lies, without copying it.
			c := &b64counter{}
			_, err := wt.WriteTo(c)
			return b64size(total + c.n), err
		}
		n, err := r.Read(buf[3:])
		chunk := buf[3 : 3+n]
		switch {
		case n == 0:
		case !k.wantsContent():
			total += int64(b64count(chunk))
		default:
			m := b64compact(chunk)
			total += int64(m)
			// Put the carried characters back before the new ones.
			start := 3 - nc
			copy(buf[start:3], carry[:nc])
			data := buf[start : 3+m]
			whole := len(data) / 4 * 4
			nc = copy(carry[:], data[whole:])
			for len(data[:whole]) > 0 {
				step := min(whole, len(out)/3*4)
				d, _ := base64.RawStdEncoding.Decode(out[:], data[:step])
				k.Write(out[:d])
				data, whole = data[step:], whole-step
			}
		}
		if err == io.EOF {
			break
		}
		if err != nil {
			return b64size(total), err
		}
	}
	if nc > 1 && k.wantsContent() {
		d, _ := base64.RawStdEncoding.Decode(out[:], carry[:nc])
		k.Write(out[:d])
	}
	return b64size(total), nil
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
	carry [3]byte
	nc    int
	out   []byte // decoded and not yet returned
	obuf  [3072 + 3]byte
	err   error
}

func (b *base64Reader) Read(p []byte) (int, error) {
	for len(b.out) == 0 {
		if b.err != nil {
			return 0, b.err
		}
		copy(b.in[:], b.carry[:b.nc])
		n, err := b.r.Read(b.in[b.nc:])
		m := b.nc + b64compact(b.in[b.nc:b.nc+n])
		whole := m / 4 * 4
		if err != nil {
			whole = m // the end: decode what a final group holds
			if m%4 == 1 {
				whole--
			}
			b.err = err
		}
		d, _ := base64.RawStdEncoding.Decode(b.obuf[:], b.in[:whole])
		b.out = b.obuf[:d]
		b.nc = copy(b.carry[:], b.in[whole:m])
		if b.err != nil {
			b.nc = 0
		}
	}
	n := copy(p, b.out)
	b.out = b.out[n:]
	return n, nil
}
