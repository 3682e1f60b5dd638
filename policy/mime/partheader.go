package mime

import (
	"bufio"
	"bytes"
	"io"
	"sync"

	"github.com/emersion/go-message/textproto"
)

// headerBlock is what readHeader found besides the fields.
type headerBlock struct {
	tooBig    bool     // the block is longer than the limit
	unended   bool     // the input ended before the blank line that ends a header block
	skipped   []string // lines that are not header fields, skipped
	mboxFrom  bool     // an mbox "From " line opened the block
	readError error    // an I/O error of the input
}

// maxSkippedKept bounds the skipped lines headerBlock keeps for problems.
const maxSkippedKept = 3

// readHeader reads a header block (RFC 5322 section 2.2) of at most max
// bytes from br, the way mail clients do: a line that is not a field (no
// colon, or a name with characters RFC 5322 does not allow, or a
// continuation line with nothing to continue) is skipped instead of ending
// the parse, and in a message (fromLine set) an mbox "From " line before
// the first field is skipped too. The fields are then parsed by
// go-message's textproto.ReadHeader, which would stop at the first such
// line. The block ends at a blank line or at the end of the input; past
// max bytes, tooBig is set and the rest of the block is not read.
func readHeader(br *bufio.Reader, max int, fromLine bool) (textproto.Header, headerBlock) {
	var info headerBlock
	sc := headerScratches.Get().(*headerScratch)
	defer sc.free()
	clean := &sc.clean
	field := sc.field[:0] // the logical line being collected, with its line breaks
	collecting := false   // whether field holds one
	left := max
	first := true
	flush := func() {
		if !collecting {
			return
		}
		if validField(field) {
			clean.Write(unfoldField(field))
		} else if len(info.skipped) < maxSkippedKept {
			info.skipped = append(info.skipped, string(bytes.TrimRight(field, "\r\n")))
		} else {
			info.skipped = append(info.skipped[:maxSkippedKept], "…")
		}
		field, collecting = field[:0], false
	}
	for {
		line, err := readLine(br, &left)
		if err == errHeaderTooBig {
			info.tooBig = true
			break
		}
		if err != nil && err != io.EOF {
			info.readError = err
			break
		}
		if len(line) == 0 && err == io.EOF {
			info.unended = !first || clean.Len() > 0
			break
		}
		if isBlankLine(line) {
			break
		}
		switch {
		case first && fromLine && bytes.HasPrefix(line, []byte("From ")):
			info.mboxFrom = true
		case line[0] == ' ' || line[0] == '\t':
			collecting = true // alone, a continuation of nothing: skipped
			field = append(field, line...)
		default:
			flush()
			field, collecting = append(field, line...), true
		}
		first = false
		if err == io.EOF {
			info.unended = true
			break
		}
	}
	flush()
	sc.field = field
	clean.WriteString("\r\n")
	fr := newReader(clean)
	h, _ := textproto.ReadHeader(fr)
	freeReader(fr)
	return h, info
}

// unfoldField joins the lines of a folded field, in place: its line breaks
// go, the white space that starts each continuation stays (RFC 5322
// section 2.2.3, and Thunderbird's MIME_StripContinuations), and the field
// ends in one CRLF. textproto would otherwise fold the white space into
// one space: "long\r\n  name.exe" is "long  name.exe" to a client.
func unfoldField(f []byte) []byte {
	if bytes.Count(f, []byte{'\n'}) < 2 {
		return f
	}
	out := f[:0]
	for _, c := range f {
		if c != '\r' && c != '\n' {
			out = append(out, c)
		}
	}
	return append(out, '\r', '\n')
}

// headerScratch is what readHeader collects a block in; textproto.ReadHeader
// copies what it keeps, so it is reused.
type headerScratch struct {
	clean bytes.Buffer
	field []byte
}

var headerScratches = sync.Pool{New: func() any { return new(headerScratch) }}

// free gives the scratch back, unless a huge block grew it.
func (sc *headerScratch) free() {
	if sc.clean.Cap() > 64<<10 || cap(sc.field) > 64<<10 {
		return
	}
	sc.clean.Reset()
	sc.field = sc.field[:0]
	headerScratches.Put(sc)
}

// readLine reads one line, its line break included, charging its length to
// *left; past the budget it fails with errHeaderTooBig.
func readLine(br *bufio.Reader, left *int) ([]byte, error) {
	var line []byte
	for {
		b, err := br.ReadSlice('\n')
		*left -= len(b)
		if *left < 0 {
			return nil, errHeaderTooBig
		}
		if err == bufio.ErrBufferFull {
			line = append(line, b...)
			continue
		}
		if line != nil {
			line = append(line, b...)
		} else {
			line = b
		}
		return line, err
	}
}

// isBlankLine reports whether line is an empty line (CRLF or LF alone).
func isBlankLine(line []byte) bool {
	return len(line) == 1 && line[0] == '\n' || len(line) == 2 && line[0] == '\r' && line[1] == '\n'
}

// validField reports whether a logical header line is a field: a name of
// printable ASCII without a colon (RFC 5322 section 2.2), white space
// allowed before the colon as found in the wild, and a colon. A line that
// starts with white space continues nothing and is not a field.
func validField(f []byte) bool {
	if len(f) == 0 || f[0] == ' ' || f[0] == '\t' {
		return false
	}
	i := bytes.IndexByte(f, ':')
	if i <= 0 {
		return false
	}
	name := bytes.TrimRight(f[:i], " \t")
	if len(name) == 0 {
		return false
	}
	for _, c := range name {
		if c < 33 || c > 126 {
			return false
		}
	}
	return true
}
