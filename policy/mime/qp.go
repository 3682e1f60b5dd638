package mime

import (
	"bufio"
	"io"
)

// maxSoftBreakSpace bounds the white space looked past after a "=" to find
// the line break of a soft line break.
const maxSoftBreakSpace = 256

// qpReader decodes quoted-printable (RFC 2045 section 6.7) the way mail
// clients do, never failing on content: "=XX" (hex digits of either case)
// is the byte XX, "=" then optional white space then a line break is a soft
// line break, and everything else, a "=" that starts no escape, raw 8-bit
// bytes and the ESC of ISO-2022-JP included, passes through as it is, as
// the RFC's note 1 advises robust decoders to do. Go's
// mime/quotedprintable stops at the first such byte instead.
type qpReader struct {
	br  *bufio.Reader
	eof bool
}

func newQPReader(r io.Reader) *qpReader {
	return &qpReader{br: bufio.NewReaderSize(r, 4096)}
}

func (q *qpReader) Read(p []byte) (int, error) {
	n := 0
	for n < len(p) {
		buf, err := q.peek(1)
		if len(buf) == 0 {
			if n > 0 {
				return n, nil
			}
			return 0, err
		}
		// The common cases in one pass over the buffer: plain bytes, "=XX"
		// and "=" with a line break. Whatever needs more input, or white
		// space after "=", goes to the careful path below.
		i := 0
		for i < len(buf) && n < len(p) {
			c := buf[i]
			if c != '=' {
				p[n] = c
				n, i = n+1, i+1
				continue
			}
			if i+2 >= len(buf) {
				break
			}
			if a, b := buf[i+1], buf[i+2]; isHex(a) && isHex(b) {
				p[n] = unhex(a)<<4 | unhex(b)
				n, i = n+1, i+3
				continue
			} else if a == '\n' {
				i += 2
				continue
			} else if a == '\r' && b == '\n' {
				i += 3
				continue
			}
			break
		}
		if i > 0 {
			q.br.Discard(i)
			continue
		}
		if n == len(p) {
			break
		}
		// At an "=" the pass could not decide.
		buf, err = q.peek(3)
		if err != nil && err != io.EOF {
			if n > 0 {
				return n, nil
			}
			return 0, err
		}
		if len(buf) >= 3 && isHex(buf[1]) && isHex(buf[2]) {
			p[n] = unhex(buf[1])<<4 | unhex(buf[2])
			n++
			q.br.Discard(3)
			continue
		}
		if skip, ok := q.softBreak(); ok {
			q.br.Discard(skip)
			continue
		}
		p[n] = '='
		n++
		q.br.Discard(1)
	}
	return n, nil
}

// peek returns at least n buffered bytes when the input has them; with
// fewer, the error says why (io.EOF at the end of the input).
func (q *qpReader) peek(n int) ([]byte, error) {
	if q.br.Buffered() < n && !q.eof {
		_, err := q.br.Peek(n)
		if err == io.EOF {
			q.eof = true
		} else if err != nil && err != bufio.ErrBufferFull {
			b, _ := q.br.Peek(q.br.Buffered())
			return b, err
		}
	}
	b, _ := q.br.Peek(q.br.Buffered())
	if len(b) < n && q.eof {
		return b, io.EOF
	}
	return b, nil
}

// softBreak reports whether the "=" at the read position starts a soft line
// break ("=", spaces or tabs, then CRLF, LF or the end of the input), and
// how many bytes it spans.
func (q *qpReader) softBreak() (int, bool) {
	for i := 1; i <= maxSoftBreakSpace; i++ {
		buf, err := q.peek(i + 1)
		if len(buf) <= i {
			return len(buf), err == io.EOF
		}
		switch buf[i] {
		case ' ', '\t':
			continue
		case '\n':
			return i + 1, true
		case '\r':
			if b, _ := q.peek(i + 2); len(b) > i+1 && b[i+1] == '\n' {
				return i + 2, true
			}
			return 0, false
		}
		return 0, false
	}
	return 0, false
}
