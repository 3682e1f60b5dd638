package mime

import (
	"bufio"
	"bytes"
	"io"
)

// Why a multipart body is split here and not by go-message: its reader
// (v0.18.2) takes "--b1-x" for the delimiter of boundary "b1" (a prefix
// match followed by anything), stops for good at a repeated boundary line
// or at a header line without a colon, and its preamble scan gives up on
// boundaries longer than its buffer. Each of those let a mail client show
// parts an inspection built on it never saw. The scanner below matches
// delimiters exactly as RFC 2046 section 5.1.1 defines them and as
// Thunderbird's libmime does (the boundary, then optionally "--", then
// only white space up to the end of the line), whatever their length; part
// headers are read by readHeader, leniently, on top of go-message's
// textproto.

// scanBufMin is the smallest read buffer of a partScanner; the buffer also
// holds a whole delimiter line of a long boundary.
const scanBufMin = 32 << 10

// maxPadding bounds the white space allowed after a boundary on its line
// (RFC 2046 "transport-padding"); a longer run on a delimiter line is
// reported as ambiguous.
const maxPadding = 1024

// delimKind says how a part ended.
type delimKind int

const (
	delimNone  delimKind = iota // the part is still being read
	delimSep                    // "--boundary": another part follows
	delimClose                  // "--boundary--": the last part
	delimEOF                    // the input ended
)

// partScanner splits a multipart body into the bytes of its parts. The
// preamble before the first delimiter is skipped. After the closing
// delimiter, the epilogue is still scanned: a mail client that does not
// stop at a premature close shows the parts that follow, so they are
// returned too (and reported by the caller).
type partScanner struct {
	br     *bufio.Reader
	dash   []byte // "--" + boundary
	nlDash []byte // "\n--" + boundary

	kind      delimKind // how the region being read ended; delimNone while reading
	lineStart bool      // the region starts at a line start (right after a delimiter)
	eof       bool      // the input has no more bytes than those buffered
	found     int       // delimiters found
	closed    bool      // a closing delimiter was found
	ambiguous bool      // a delimiter line with over maxPadding bytes of padding was met
	skipped   bool      // text other than white space was skipped (preamble, epilogue)
}

// newPartScanner reads a multipart body with the given boundary from r.
func newPartScanner(r io.Reader, boundary string) *partScanner {
	dash := []byte("--" + boundary)
	size := max(scanBufMin, 2*len(dash)+maxPadding+16)
	return &partScanner{
		br:        newScanReader(r, size),
		dash:      dash,
		nlDash:    append([]byte("\n"), dash...),
		lineStart: true,
	}
}

// free gives the scanner's buffer back; the scanner is not used again.
func (s *partScanner) free() { freeScanReader(s.br) }

// next skips what is left of the current region (the preamble, a part, or
// the epilogue after a closing delimiter) and returns a reader over the
// next part, or io.EOF when the input has no further part. Read errors of
// the input are returned as they are.
func (s *partScanner) next() (io.Reader, error) {
	for {
		if s.kind == delimNone {
			if _, err := io.Copy(skipWriter{s}, regionReader{s}); err != nil {
				return nil, err
			}
		}
		switch s.kind {
		case delimEOF:
			return nil, io.EOF
		case delimClose:
			// The epilogue: skip to a later delimiter, if any.
			s.kind = delimNone
			s.lineStart = true
			continue
		}
		s.kind = delimNone
		s.lineStart = true
		return regionReader{s}, nil
	}
}

// skipWriter notes whether what a partScanner skips holds more than white
// space.
type skipWriter struct{ s *partScanner }

func (w skipWriter) Write(p []byte) (int, error) {
	if !w.s.skipped && len(bytes.Trim(p, " \t\r\n")) > 0 {
		w.s.skipped = true
	}
	return len(p), nil
}

// regionReader reads the current region of a partScanner up to its
// delimiter.
type regionReader struct{ s *partScanner }

func (r regionReader) Read(p []byte) (int, error) { return r.s.read(p) }

// WriteTo writes the rest of the region to w straight from the scanner's
// buffer, without copying it through a caller's buffer first: counting an
// attachment's base64 text then reads each byte once.
func (r regionReader) WriteTo(w io.Writer) (int64, error) {
	var total int64
	for {
		span, err := r.s.span()
		if len(span) > 0 {
			n, werr := w.Write(span)
			total += int64(n)
			r.s.br.Discard(len(span))
			if werr != nil {
				return total, werr
			}
		}
		if err == io.EOF {
			return total, nil
		}
		if err != nil {
			return total, err
		}
	}
}

// read returns bytes of the current region, and io.EOF at its delimiter.
// The line break before a delimiter belongs to the delimiter (RFC 2046
// section 5.1.1).
func (s *partScanner) read(p []byte) (int, error) {
	if len(p) == 0 {
		return 0, nil
	}
	span, err := s.span()
	if len(span) == 0 {
		return 0, err
	}
	n := copy(p, span)
	s.br.Discard(n)
	return n, nil
}

// span returns the next bytes of the current region, still in the
// buffer (the caller discards what it uses), or io.EOF at the region's
// delimiter.
func (s *partScanner) span() ([]byte, error) {
	for {
		if s.kind != delimNone {
			return nil, io.EOF
		}
		buf, err := s.fill()
		if err != nil {
			return nil, err
		}
		atEOF := s.eof
		if s.lineStart {
			if len(buf) < len(s.dash) && !atEOF {
				if err := s.more(len(buf)); err != nil {
					return nil, err
				}
				continue
			}
			s.lineStart = false
			if bytes.HasPrefix(buf, s.dash) {
				// Whatever it decides, the buffer may have moved: look
				// again.
				if _, err := s.delimiterAt(0); err != nil {
					return nil, err
				}
				continue
			}
		}
		i := indexLineDash(buf, s.dash)
		if i < 0 {
			// Everything but a possible start of a delimiter at the end of
			// the buffer is content.
			n := len(buf)
			if !atEOF {
				n -= len(s.nlDash) - 1
				if n > 0 && buf[n-1] == '\r' {
					n--
				}
			}
			if n <= 0 {
				if atEOF {
					s.kind = delimEOF
					return nil, io.EOF
				}
				if err := s.more(len(buf)); err != nil {
					return nil, err
				}
				continue
			}
			return buf[:n], nil
		}
		end := i
		if end > 0 && buf[end-1] == '\r' {
			end--
		}
		if end > 0 {
			return buf[:end], nil
		}
		// A candidate delimiter line right at the read position.
		done, err := s.delimiterAt(i + 1)
		if err != nil {
			return nil, err
		}
		if done {
			continue
		}
		// Not a delimiter: the candidate is content. The buffer may have
		// moved while the line was looked at.
		b, _ := s.br.Peek(i + len(s.nlDash))
		return b, nil
	}
}

// indexLineDash returns the index of the first line break in buf that is
// followed by dash, -1 if none. It looks for dash itself: "-" is not in
// the base64 alphabet, so in the bulk of an attachment there is nothing to
// stop at, where every line break would be a candidate.
func indexLineDash(buf, dash []byte) int {
	for off := 1; off < len(buf); {
		j := bytes.Index(buf[off:], dash)
		if j < 0 {
			return -1
		}
		if k := off + j; buf[k-1] == '\n' {
			return k - 1
		} else {
			off = k + 1
		}
	}
	return -1
}

// fill returns the buffered bytes, reading more when none are buffered.
func (s *partScanner) fill() ([]byte, error) {
	if s.br.Buffered() == 0 && !s.eof {
		if err := s.more(0); err != nil {
			return nil, err
		}
	}
	b, _ := s.br.Peek(s.br.Buffered())
	return b, nil
}

// more tries to make the buffer hold more than have bytes; at the end of
// the input it sets s.eof instead.
func (s *partScanner) more(have int) error {
	_, err := s.br.Peek(have + 1)
	switch err {
	case nil, bufio.ErrBufferFull:
		return nil
	case io.EOF:
		s.eof = true
		return nil
	}
	return err
}

// delimiterAt decides whether the line starting at buffer offset at (which
// starts with "--boundary") is a delimiter. If it is, the line break before
// it, the line and its own line break are consumed, the region ends and done
// is true. If it is not, nothing is consumed.
func (s *partScanner) delimiterAt(at int) (done bool, err error) {
	for {
		buf, _ := s.br.Peek(s.br.Buffered())
		line := buf[at:]
		nl := bytes.IndexByte(line, '\n')
		if nl < 0 && !s.eof {
			if len(buf) < s.br.Size() {
				if err := s.more(len(buf)); err != nil {
					return false, err
				}
				continue
			}
			// The line does not fit in the buffer: it is a delimiter
			// only if all of it is padding, which cannot be told here.
			if isPadding(line[len(s.dash):]) {
				s.ambiguous = true
				s.br.Discard(at)
				s.discardLine()
				s.end(line[len(s.dash):])
				return true, nil
			}
			return false, nil
		}
		rest := line[len(s.dash):]
		if nl >= 0 {
			rest = line[len(s.dash):nl]
		}
		if !isPadding(rest) {
			return false, nil
		}
		if nl >= 0 {
			s.br.Discard(at + nl + 1)
		} else {
			s.br.Discard(len(buf))
		}
		s.end(rest)
		return true, nil
	}
}

// isPadding reports whether b, what follows "--boundary" on its line, makes
// the line a delimiter: an optional "--", then only spaces, tabs and a CR.
func isPadding(b []byte) bool {
	b = bytes.TrimPrefix(b, []byte("--"))
	for _, c := range b {
		if c != ' ' && c != '\t' && c != '\r' {
			return false
		}
	}
	return true
}

// end records the delimiter whose line rest followed the boundary.
func (s *partScanner) end(rest []byte) {
	s.found++
	if bytes.HasPrefix(rest, []byte("--")) {
		s.kind = delimClose
		s.closed = true
		return
	}
	s.kind = delimSep
}

// discardLine consumes input up to and including the next line break.
func (s *partScanner) discardLine() {
	for {
		_, err := s.br.ReadSlice('\n')
		if err != bufio.ErrBufferFull {
			return
		}
	}
}
