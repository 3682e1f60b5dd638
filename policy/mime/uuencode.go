package mime

import (
	"bytes"
	"io"
	"strings"
)

// Files embedded in text. Thunderbird's libmime (mimeunty.cpp) shows a
// uuencoded block ("begin 644 name" … "end") and a yEnc block ("=ybegin
// … name=…" … "=yend") inside a plain text body as attachments of their
// own, and decodes the transfer encodings x-uuencode, x-uue, uuencode, uue
// and x-yencode (mimeleaf.cpp). An inspection that read such text as text
// only would never see the file, so both are decoded here: inside every
// body text part (a superset of what libmime scans, which is only a body
// without Content-Type) and as transfer encodings.

// maxEmbedLine bounds the line an embedScanner keeps; longer lines are not
// begin lines, and inside a block they are decoded in pieces.
const maxEmbedLine = 8 << 10

// embedKind is the encoding of an embedded block.
type embedKind int

const (
	embedNone embedKind = iota
	embedUU
	embedYEnc
	embedBinHex
)

// embedScanner watches decoded text, line by line, for embedded files. A
// block found is decoded into a sink opened by open and ended by close.
type embedScanner struct {
	open  func(name, contentType string) io.Writer
	close func()
	line  []byte
	kind  embedKind
	sink  io.Writer
	long  bool // the line being collected is longer than maxEmbedLine
	buf   []byte
	yEsc  bool // a yEnc escape "=" is pending
}

// Write implements io.Writer; it never fails.
func (e *embedScanner) Write(p []byte) (int, error) {
	n := len(p)
	for len(p) > 0 {
		i := bytes.IndexByte(p, '\n')
		if i < 0 {
			e.add(p)
			break
		}
		e.add(p[:i+1])
		e.endLine()
		p = p[i+1:]
	}
	return n, nil
}

// add appends part of a line, passing on what does not fit.
func (e *embedScanner) add(p []byte) {
	if len(e.line)+len(p) <= maxEmbedLine {
		e.line = append(e.line, p...)
		return
	}
	if e.kind == embedYEnc && !e.long && bytes.HasPrefix(e.line, []byte("=y")) {
		e.line = append(e.line, p[:maxEmbedLine-len(e.line)]...)
		return
	}
	e.long = true
	if e.kind == embedYEnc {
		e.yDecode(e.line)
		e.line = append(e.line[:0], p...)
		if len(e.line) > maxEmbedLine {
			e.yDecode(e.line)
			e.line = e.line[:0]
		}
		return
	}
	e.line = e.line[:0]
}

// flush ends the text: a block still open ends with it.
func (e *embedScanner) flush() {
	if len(e.line) > 0 {
		e.endLine()
	}
	if e.kind != embedNone {
		e.finish()
	}
}

// endLine handles one complete line.
func (e *embedScanner) endLine() {
	line := bytes.TrimRight(e.line, "\r\n")
	long := e.long
	e.line, e.long = e.line[:0], false
	switch e.kind {
	case embedNone:
		if long {
			return
		}
		if name, ok := uuBegin(line); ok {
			e.start(embedUU, name, "")
		} else if bytes.HasPrefix(line, []byte("=ybegin ")) {
			e.start(embedYEnc, yParam(line, "name"), "")
		} else if bytes.HasPrefix(line, []byte("(This file must be converted with BinHex")) {
			e.start(embedBinHex, "", "application/mac-binhex40")
		}
	case embedUU:
		if long || bytes.Equal(bytes.TrimSpace(line), []byte("end")) {
			e.finish()
			return
		}
		e.buf = uuDecodeLine(e.buf[:0], line)
		e.sink.Write(e.buf)
	case embedYEnc:
		switch {
		case bytes.HasPrefix(line, []byte("=yend")):
			e.finish()
		case bytes.HasPrefix(line, []byte("=ypart ")):
		default:
			e.yDecode(line)
		}
	case embedBinHex:
		// Not decoded: the block is listed, its content left uninspected.
		if bytes.HasSuffix(bytes.TrimSpace(line), []byte(":")) && len(bytes.TrimSpace(line)) > 1 {
			e.finish()
		}
	}
}

func (e *embedScanner) start(k embedKind, name, contentType string) {
	if contentType == "" {
		contentType = "application/octet-stream"
	}
	e.kind = k
	e.yEsc = false
	e.sink = e.open(name, contentType)
}

func (e *embedScanner) finish() {
	e.kind = embedNone
	e.sink = nil
	e.close()
}

// yDecode decodes yEnc data bytes (CR and LF are not data).
func (e *embedScanner) yDecode(line []byte) {
	out := e.buf[:0]
	for _, c := range line {
		switch {
		case c == '\r' || c == '\n':
		case e.yEsc:
			out = append(out, c-64-42)
			e.yEsc = false
		case c == '=':
			e.yEsc = true
		default:
			out = append(out, c-42)
		}
	}
	e.buf = out
	e.sink.Write(out)
}

// uuBegin parses a uuencode header line "begin MODE NAME" (MODE three or
// four octal digits, as libmime requires).
func uuBegin(line []byte) (string, bool) {
	rest, ok := bytes.CutPrefix(line, []byte("begin "))
	if !ok {
		return "", false
	}
	mode, name, ok := bytes.Cut(rest, []byte(" "))
	if !ok || len(mode) < 3 || len(mode) > 4 || strings.Trim(string(mode), "01234567") != "" {
		return "", false
	}
	return DecodeHeader(string(bytes.TrimSpace(name))), true
}

// yParam returns the value of key in a yEnc header line; "name" runs to the
// end of the line.
func yParam(line []byte, key string) string {
	i := bytes.Index(line, []byte(" "+key+"="))
	if i < 0 {
		return ""
	}
	v := line[i+len(key)+2:]
	if key != "name" {
		if j := bytes.IndexByte(v, ' '); j >= 0 {
			v = v[:j]
		}
	}
	return DecodeHeader(string(bytes.TrimSpace(v)))
}

// uuDecodeLine appends the bytes of one uuencoded line to out: the first
// character gives the count, then each four characters carry three bytes
// (" " and "`" both stand for zero).
func uuDecodeLine(out, line []byte) []byte {
	if len(line) == 0 {
		return out
	}
	n := int((line[0] - ' ') & 63)
	data := line[1:]
	for n > 0 && len(data) > 0 {
		var q [4]byte
		for i := range q {
			if i < len(data) {
				q[i] = (data[i] - ' ') & 63
			}
		}
		b := [3]byte{q[0]<<2 | q[1]>>4, q[1]<<4 | q[2]>>2, q[2]<<6 | q[3]}
		take := min(n, 3)
		out = append(out, b[:take]...)
		n -= take
		data = data[min(4, len(data)):]
	}
	return out
}

// embeddedDecoder decodes a part whose transfer encoding is uuencode or
// yEnc: the data of the first block in the part.
type embeddedDecoder struct {
	src  io.Reader
	scan *embedScanner
	out  bytes.Buffer
	done bool
}

func newEmbeddedDecoder(r io.Reader) *embeddedDecoder {
	d := &embeddedDecoder{src: r}
	blocks := 0
	d.scan = &embedScanner{
		open: func(string, string) io.Writer {
			blocks++
			if blocks > 1 {
				return io.Discard
			}
			return &d.out
		},
		close: func() {},
	}
	return d
}

func (d *embeddedDecoder) Read(p []byte) (int, error) {
	var chunk [4096]byte
	for d.out.Len() == 0 && !d.done {
		n, err := d.src.Read(chunk[:])
		d.scan.Write(chunk[:n])
		if err == io.EOF {
			d.scan.flush()
			d.done = true
		} else if err != nil {
			return 0, err
		}
	}
	if d.out.Len() == 0 {
		return 0, io.EOF
	}
	return d.out.Read(p)
}

// isEmbeddedEncoding reports whether a Content-Transfer-Encoding names
// uuencode or yEnc.
func isEmbeddedEncoding(cte string) bool {
	switch cte {
	case "x-uuencode", "x-uue", "uuencode", "uue", "x-yencode":
		return true
	}
	return false
}
