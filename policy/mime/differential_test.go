package mime

import (
	"bytes"
	"crypto/sha256"
	"encoding/base64"
	"encoding/json"
	"fmt"
	"hash"
	"io"
	"os"
	"path/filepath"
	"slices"
	"strconv"
	"strings"
	"testing"
	"unicode/utf8"
)

// FuzzDifferential reads a message twice: with the inspection (fed to a
// Stream in pieces whose sizes come from the fuzz input, and to
// InspectWithParts whole) and with refRead, a second reading written for
// this test alone from the rules Thunderbird's libmime follows, in memory
// and by plain recursion, sharing no code with the inspection. Both must
// find the same attachments, the multiset of (file name, SHA-256 of the
// decoded bytes) of the leaf parts a PartSink is handed with Attachment
// set (files found inside an attachment, such as archive entries, left
// out: the reference does not open archives), unless the inspection flags its result (a gap or a problem) or the
// reference declines the message (refReading.skip says why). The Stream
// and the whole reading must agree exactly, and nothing may panic.
func FuzzDifferential(f *testing.F) {
	files, err := filepath.Glob(filepath.Join(corpusDir, "*.eml"))
	if err != nil || len(files) == 0 {
		f.Fatalf("no messages in %s: %v", corpusDir, err)
	}
	cutSets := [][]byte{nil, {0}, {6, 200, 1}, {0x40, 0xc3, 2, 0x10}}
	for i, file := range files {
		data, err := os.ReadFile(file)
		if err != nil {
			f.Fatal(err)
		}
		f.Add(data, cutSets[i%len(cutSets)])
	}
	var seeds []string
	for _, c := range refCases {
		seeds = append(seeds, c.raw)
	}
	seeds = append(seeds, refSkipCases...)
	seeds = append(seeds, diffShapes()...)
	for i, s := range seeds {
		f.Add([]byte(s), cutSets[i%len(cutSets)])
		f.Add([]byte(strings.ReplaceAll(s, "\n", "\r\n")), cutSets[(i+1)%len(cutSets)])
	}
	f.Fuzz(checkDifferential)
}

// diffMaxInput bounds the messages compared, to keep an iteration short.
const diffMaxInput = 1 << 20

// checkDifferential is one iteration of FuzzDifferential.
func checkDifferential(t *testing.T, msg, cuts []byte) {
	if len(msg) > diffMaxInput {
		return
	}
	lim := DefaultLimits()
	lim.TempDir = t.TempDir()

	whole := &diffScan{}
	want, err := InspectWithParts(bytes.NewReader(msg), lim, whole)
	if err != nil {
		t.Fatalf("InspectWithParts returned %v on an in-memory reader", err)
	}
	streamed := &diffScan{}
	s := NewStream(lim, streamed)
	for i, rest := 0, msg; len(rest) > 0; i++ {
		n := len(rest)
		if len(cuts) > 0 {
			n = min(n, diffPieceSize(cuts[i%len(cuts)]))
		}
		s.Write(rest[:n])
		rest = rest[n:]
	}
	got, err := s.Close()
	if err != nil {
		// A panic of the inspection is recovered by the Stream as an error.
		t.Fatalf("Stream: %v", err)
	}
	g, err := json.Marshal(got)
	if err != nil {
		t.Fatal(err)
	}
	w, err := json.Marshal(want)
	if err != nil {
		t.Fatal(err)
	}
	if !bytes.Equal(g, w) {
		t.Fatalf("Stream in pieces %v and InspectWithParts differ on %s:\nstream %s\nwhole  %s", cuts, diffQuote(msg), g, w)
	}
	if gs, ws := streamed.String(), whole.String(); gs != ws {
		t.Fatalf("Stream in pieces %v and InspectWithParts scan other parts of %s:\nstream %s\nwhole  %s", cuts, diffQuote(msg), gs, ws)
	}
	for _, p := range whole.parts {
		if p.closed != 1 {
			t.Fatalf("part %s closed %d times in %s", p.info.Path, p.closed, diffQuote(msg))
		}
	}

	ref := refRead(msg)
	if ref.skip != "" || len(got.Uninspected) > 0 || len(got.Problems) > 0 {
		return
	}
	var insp, refs []string
	for _, p := range streamed.parts {
		if diffCompared(p.info) {
			insp = append(insp, diffKey(p.info.Filename, p.sum))
		}
	}
	for _, a := range ref.files {
		refs = append(refs, diffKey(a.name, sha256.Sum256(a.data)))
	}
	slices.Sort(insp)
	slices.Sort(refs)
	if !slices.Equal(insp, refs) {
		t.Fatalf("the inspection and the reference find other attachments in %s\ninspection (unflagged): %s\nreference: %s",
			diffQuote(msg), streamed.attachments(), ref)
	}
}

// diffCompared reports whether a part handed to the PartSink is compared
// with the reference: an attachment that is a MIME part of the message (a
// path of numbers), not a file found inside an attachment (an archive's
// entry, decrypted or not, or a part of a message in an archive), which
// the reference does not open.
func diffCompared(p PartInfo) bool {
	return p.Attachment && !p.Decrypted && p.Path != "" && strings.Trim(p.Path, "0123456789.") == ""
}

// diffPieceSize is the size of a piece written to the Stream: 1 to 192
// bytes, or 1 to 64 KiB for the top quarter of byte values.
func diffPieceSize(c byte) int {
	if c < 0xc0 {
		return int(c) + 1
	}
	return int(c-0xbf) * 1024
}

// diffKey is one attachment of the multiset compared.
func diffKey(name string, sum [32]byte) string {
	return fmt.Sprintf("%q sha256:%x", name, sum[:8])
}

// diffQuote quotes a message for a failure, cut to a readable length.
func diffQuote(msg []byte) string {
	const max = 4000
	if len(msg) > max {
		return fmt.Sprintf("%q… (%d bytes)", msg[:max], len(msg))
	}
	return fmt.Sprintf("%q", msg)
}

// diffScan is a PartSink that keeps the SHA-256 of every part handed over.
type diffScan struct{ parts []*diffPart }

func (s *diffScan) Part(p PartInfo) io.WriteCloser {
	d := &diffPart{info: p, h: sha256.New()}
	s.parts = append(s.parts, d)
	return d
}

// String lists every part handed over, for comparing two inspections.
func (s *diffScan) String() string {
	var b strings.Builder
	for _, p := range s.parts {
		fmt.Fprintf(&b, "[%s %s %q attachment=%v decrypted=%v %d bytes %x] ",
			p.info.Path, p.info.ContentType, p.info.Filename, p.info.Attachment, p.info.Decrypted, p.n, p.sum[:8])
	}
	return b.String()
}

// attachments lists the parts handed over as attachments, for a failure.
func (s *diffScan) attachments() string {
	var b strings.Builder
	for _, p := range s.parts {
		if diffCompared(p.info) {
			fmt.Fprintf(&b, "\n  part %s %s %s, %d bytes", p.info.Path, p.info.ContentType, diffKey(p.info.Filename, p.sum), p.n)
		}
	}
	if b.Len() == 0 {
		return "none"
	}
	return b.String()
}

type diffPart struct {
	info   PartInfo
	h      hash.Hash
	n      int64
	sum    [32]byte
	closed int
}

func (d *diffPart) Write(b []byte) (int, error) {
	d.h.Write(b)
	d.n += int64(len(b))
	return len(b), nil
}

func (d *diffPart) Close() error {
	d.closed++
	copy(d.sum[:], d.h.Sum(nil))
	return nil
}

// The reference reading. It follows the rules below (those of
// Thunderbird's libmime, mailnews/mime/src), over the whole message in
// memory, with plain string and byte code:
//
//   - Lines end at LF or CRLF. A header block is the lines up to the first
//     empty one (all of the input if none is); a line starting with a space
//     or tab continues the one before (the line break is removed); a
//     logical line that is not "name: value" is skipped; the first field of
//     a name wins, names compared without case. A message's first line
//     "From …" is skipped.
//   - The media type is the Content-Type value up to ';', ',' or white
//     space, lower-cased, and after its last '?' if it has one; none is
//     text/plain (message/rfc822 in a multipart/digest), one without '/'
//     is text/plain.
//   - Content-Transfer-Encoding is its first token (up to ';', ',', white
//     space or '('): base64 is decoded four characters of the alphabet or
//     '=' at a time, a group with k '=' giving 3, 2 (k=1) or 1 (k>=2)
//     bytes, a last group of 2 or 3 characters 1 or 2; quoted-printable
//     leniently; 7bit, 8bit, binary and none as is; others are not read.
//   - Parameters: name=value or name="quoted", RFC 2231 name*= and
//     name*0*=, name*1= … preferred over the plain form, the first plain
//     one winning; parameters after a ',' in the type are another reading.
//     A parameter read (boundary, filename, name) with two different
//     candidate values is not decided.
//   - The file name is Content-Disposition's filename, else
//     Content-Type's name, else the Content-Name field, else
//     X-Sun-Data-Name, with RFC 2047 and RFC 2231 decoded (UTF-8 and
//     US-ASCII only). A part is an attachment when its disposition is
//     attachment, it has a file name, or its type is none of text/*,
//     message/* and multipart/*.
//   - A multipart body is split at its delimiter lines ("--" boundary,
//     optionally "--", then only spaces and tabs), the line break before a
//     delimiter belonging to it; the preamble is skipped, an empty part is
//     no part, and parts after the closing delimiter are read too.
//   - message/rfc822, message/global, message/news, and
//     application/octet-stream named *.eml are read as messages.

// refMaxDepth bounds the reference's recursion; the inspection flags
// anything nested that deep.
const refMaxDepth = 64

// refMaxWords bounds the length of a value refWords decodes.
const refMaxWords = 16 << 10

// refFile is an attachment of the reference reading.
type refFile struct {
	path string
	name string
	data []byte
}

// refReading is the reference reading of a message: its attachments, or
// why it was not read (the message then is not compared).
type refReading struct {
	files  []refFile
	skip   string
	listed bool // the entity about to be read follows the first of a multipart other than alternative
}

func (r *refReading) String() string {
	if r.skip != "" {
		return "skipped: " + r.skip
	}
	if len(r.files) == 0 {
		return "none"
	}
	var b strings.Builder
	for _, a := range r.files {
		fmt.Fprintf(&b, "\n  part %s %s, %d bytes %q", a.path, diffKey(a.name, sha256.Sum256(a.data)), len(a.data), a.data[:min(len(a.data), 40)])
	}
	return b.String()
}

func (r *refReading) skipf(format string, args ...any) {
	if r.skip == "" {
		r.skip = fmt.Sprintf(format, args...)
	}
}

// refRead reads msg as the reference does.
func refRead(msg []byte) *refReading {
	r := &refReading{}
	if i := bytes.IndexByte(msg, '\r'); i >= 0 && bytes.Contains(bytes.ReplaceAll(msg, []byte("\r\n"), nil), []byte("\r")) {
		// Thunderbird ends a line at a lone CR, the inspection only at LF;
		// Postfix turns a lone CR into a space before a milter sees it.
		r.skipf("a CR not followed by LF at or after byte %d", i)
		return r
	}
	r.message(msg, "", 0)
	return r
}

// message reads a message (the top one or an enclosed one).
func (r *refReading) message(b []byte, path string, depth int) {
	if depth > refMaxDepth {
		r.skipf("nested deeper than %d", refMaxDepth)
		return
	}
	fields, body := refHeader(b, true)
	r.entity(fields, body, refJoin(path, 1), false, depth)
}

// entity reads the part whose header is fields.
func (r *refReading) entity(fields []refField, body []byte, path string, digest bool, depth int) {
	if r.skip != "" {
		return
	}
	if depth > refMaxDepth {
		r.skipf("nested deeper than %d", refMaxDepth)
		return
	}
	ct, _ := refGet(fields, "content-type")
	mt := refMediaType(ct, digest)
	if strings.HasPrefix(mt, "multipart/") {
		boundary := r.param(ct, "boundary", false)
		if r.skip != "" {
			return
		}
		if boundary == "" {
			r.skipf("part %s: %s without boundary", path, mt)
			return
		}
		for i, p := range refSplit(body, boundary) {
			f, b := refHeader(p, false)
			r.listed = i > 0 && mt != "multipart/alternative"
			r.entity(f, b, refJoin(path, i+1), mt == "multipart/digest", depth+1)
		}
		return
	}
	listed := r.listed
	r.listed = false
	cte, _ := refGet(fields, "content-transfer-encoding")
	var data []byte
	switch enc := refToken(cte, ";, \t\r\n("); enc {
	case "base64":
		data = refBase64(body)
	case "quoted-printable":
		data = refQP(body)
	case "", "7bit", "8bit", "binary":
		data = body
	default:
		r.skipf("part %s: transfer encoding %q", path, enc)
		return
	}
	name := r.fileName(fields)
	if r.skip != "" {
		return
	}
	cd, _ := refGet(fields, "content-disposition")
	disp := refToken(cd, ";, \t\r\n")
	switch {
	case mt == "message/rfc822" || mt == "message/global" || mt == "message/news" ||
		mt == "application/octet-stream" && strings.HasSuffix(strings.ToLower(name), ".eml"):
		r.message(data, path, depth+1)
	case disp == "attachment" || name != "" ||
		!strings.HasPrefix(mt, "text/") && !strings.HasPrefix(mt, "message/"):
		r.files = append(r.files, refFile{path: path, name: name, data: data})
	case strings.HasPrefix(mt, "text/"):
		if refEmbedsFile(data) {
			r.skipf("part %s: text with an embedded uuencode, yEnc or BinHex block", path)
		}
		if listed && (mt == "text/plain" || mt == "text/html") {
			// Thunderbird lists a text part after the first of a
			// multipart other than alternative; it goes to a scanner as
			// an attachment.
			r.files = append(r.files, refFile{path: path, data: data})
		}
	}
}

// refJoin numbers a part under its parent.
func refJoin(path string, n int) string {
	if path == "" {
		return strconv.Itoa(n)
	}
	return path + "." + strconv.Itoa(n)
}

// refField is a header field; name is lower-cased, value unfolded and
// trimmed.
type refField struct{ name, value string }

// refGet returns the value of the first field called name (lower case).
func refGet(fields []refField, name string) (string, bool) {
	for _, f := range fields {
		if f.name == name {
			return f.value, true
		}
	}
	return "", false
}

// refChomp removes the line break (LF or CRLF) ending a line.
func refChomp(line []byte) []byte {
	if bytes.HasSuffix(line, []byte("\r\n")) {
		return line[:len(line)-2]
	}
	return bytes.TrimSuffix(line, []byte("\n"))
}

// refHeader splits an entity into its header fields and its body.
func refHeader(b []byte, message bool) ([]refField, []byte) {
	var logical [][]byte // lines with their continuations, copied
	var body []byte
	for first := true; len(b) > 0; first = false {
		line := b
		if i := bytes.IndexByte(b, '\n'); i >= 0 {
			line = b[:i+1]
		}
		b = b[len(line):]
		text := refChomp(line)
		switch {
		case len(text) == 0:
			body = b
			b = nil
		case first && message && bytes.HasPrefix(text, []byte("From ")):
			logical = append(logical, []byte{}) // no field, its continuations neither
		case text[0] == ' ' || text[0] == '\t':
			if len(logical) == 0 {
				logical = append(logical, []byte{})
			}
			logical[len(logical)-1] = append(logical[len(logical)-1], text...)
		default:
			logical = append(logical, append([]byte{}, text...))
		}
	}
	var fields []refField
	for _, b := range logical {
		l := string(b)
		colon := strings.IndexByte(l, ':')
		if colon < 0 {
			continue
		}
		name := strings.TrimRight(l[:colon], " \t")
		if name == "" || strings.IndexFunc(name, func(c rune) bool { return c < 33 || c > 126 }) >= 0 {
			continue
		}
		fields = append(fields, refField{name: strings.ToLower(name), value: strings.Trim(l[colon+1:], " \t")})
	}
	return fields, body
}

// refToken returns the first token of a field value, ended by any byte of
// stops, lower-cased.
func refToken(v, stops string) string {
	v = strings.TrimLeft(v, " \t")
	if i := strings.IndexAny(v, stops); i >= 0 {
		v = v[:i]
	}
	return strings.ToLower(v)
}

// refMediaType returns the media type of a Content-Type value.
func refMediaType(ct string, digest bool) string {
	mt := refToken(ct, ";, \t\r\n")
	if i := strings.LastIndexByte(mt, '?'); i >= 0 {
		mt = mt[i+1:]
	}
	switch {
	case mt == "" && digest:
		return "message/rfc822"
	case !strings.Contains(mt, "/"):
		return "text/plain"
	}
	return mt
}

// refParam is a parameter as written: name lower-cased, value unquoted.
type refParam struct{ name, value string }

// refParams parses the parameters of s, separated by any byte of seps.
func refParams(s, seps string) []refParam {
	var ps []refParam
	for {
		s = strings.TrimLeft(s, " \t"+seps)
		if s == "" {
			return ps
		}
		sep := strings.IndexAny(s, seps)
		elem := s
		if sep >= 0 {
			elem = s[:sep]
		}
		eq := strings.IndexByte(elem, '=')
		if eq < 0 {
			// No value: not a parameter.
			if sep < 0 {
				return ps
			}
			s = s[sep:]
			continue
		}
		name := strings.ToLower(strings.Trim(s[:eq], " \t"))
		s = strings.TrimLeft(s[eq+1:], " \t")
		var value string
		if strings.HasPrefix(s, `"`) {
			var v []byte
			i := 1
			for ; i < len(s) && s[i] != '"'; i++ {
				if s[i] == '\\' && i+1 < len(s) {
					i++
				}
				v = append(v, s[i])
			}
			value = string(v)
			s = s[min(i+1, len(s)):]
			if k := strings.IndexAny(s, seps); k >= 0 {
				s = s[k:]
			} else {
				s = ""
			}
		} else {
			k := strings.IndexAny(s, seps)
			if k < 0 {
				k = len(s)
			}
			value = strings.Trim(s[:k], " \t")
			s = s[k:]
		}
		if name != "" {
			ps = append(ps, refParam{name: name, value: value})
		}
	}
}

// param returns the value of parameter name of the field value v,
// decoded (RFC 2231, and RFC 2047 in the plain form when words is set);
// "" if it has none. A parameter with two different candidate values, or
// one the reference does not decode, skips the message.
func (r *refReading) param(v, name string, words bool) string {
	typ, rest, _ := strings.Cut(v, ";")
	main := refParams(rest, ";")
	value, ok := r.paramOf(main, name, words)
	if !ok {
		return ""
	}
	if _, after, found := strings.Cut(typ, ","); found {
		// Parameters after a ',' in the type: another reading, which
		// must not tell otherwise.
		alt := append(refParams(after, ","), main...)
		other, ok := r.paramOf(alt, name, words)
		if !ok {
			return ""
		}
		if other != value {
			r.skipf("parameter %s is %q, or %q after the ',' in %q", name, value, other, typ)
			return ""
		}
	}
	return value
}

// paramOf resolves parameter name in ps; ok is false when the message is
// skipped.
func (r *refReading) paramOf(ps []refParam, name string, words bool) (value string, ok bool) {
	var candidates []string
	add := func(s string) {
		if !slices.Contains(candidates, s) {
			candidates = append(candidates, s)
		}
	}
	var plain, ext []string
	sections := map[int]refParam{}
	for _, p := range ps {
		switch rest, isExt := strings.CutPrefix(p.name, name+"*"); {
		case p.name == name:
			s := p.value
			if words {
				var ok bool
				if s, ok = refWords(s); !ok {
					r.skipf("parameter %s=%q: not read by the reference (too long, a charset, or bytes not UTF-8)", name, p.value)
					return "", false
				}
			}
			plain = append(plain, s)
			add(s)
		case isExt && rest == "":
			s, ok := ref2231(p.value)
			if !ok {
				r.skipf("parameter %s*=%q: charset not read by the reference", name, p.value)
				return "", false
			}
			ext = append(ext, s)
			add(s)
		case isExt:
			digits := strings.TrimSuffix(rest, "*")
			n, err := strconv.Atoi(digits)
			if err != nil || n < 0 || strings.HasPrefix(digits, "+") {
				continue
			}
			if _, dup := sections[n]; dup {
				r.skipf("parameter %s: section %d twice", name, n)
				return "", false
			}
			sections[n] = p
		}
	}
	if len(sections) > 0 {
		var data []byte
		charset := ""
		for n := range len(sections) {
			p, found := sections[n]
			if !found {
				r.skipf("parameter %s: section %d missing", name, n)
				return "", false
			}
			v := p.value
			if strings.HasSuffix(p.name, "*") {
				if n == 0 {
					charset, v = ref2231Split(v)
				}
				data = append(data, refPercent(v)...)
			} else {
				data = append(data, v...)
			}
		}
		s, ok := refCharset(charset, data)
		if !ok {
			r.skipf("parameter %s: charset %q not read by the reference", name, charset)
			return "", false
		}
		ext = append(ext, s)
		add(s)
	}
	if len(candidates) > 1 {
		r.skipf("parameter %s has the values %q", name, candidates)
		return "", false
	}
	switch {
	case len(ext) > 0:
		return ext[0], true
	case len(plain) > 0:
		return plain[0], true
	}
	return "", true
}

// ref2231 decodes an RFC 2231 value charset'language'%XX….
func ref2231(v string) (string, bool) {
	charset, text := ref2231Split(v)
	return refCharset(charset, refPercent(text))
}

// ref2231Split splits charset'language'text; without both quotes all of
// v is text.
func ref2231Split(v string) (charset, text string) {
	parts := strings.SplitN(v, "'", 3)
	if len(parts) < 3 {
		return "", v
	}
	return parts[0], parts[2]
}

// refPercent decodes %XX; a '%' without two hex digits is kept.
func refPercent(s string) []byte {
	var out []byte
	for i := 0; i < len(s); i++ {
		if s[i] == '%' && i+2 < len(s) {
			if b, err := strconv.ParseUint(s[i+1:i+3], 16, 8); err == nil {
				out = append(out, byte(b))
				i += 2
				continue
			}
		}
		out = append(out, s[i])
	}
	return out
}

// refCharset returns b, in charset, as text: the reference reads only
// UTF-8 and US-ASCII (and no label), and only bytes that are valid UTF-8
// without ISO-2022-JP escapes (which the inspection would guess at).
func refCharset(charset string, b []byte) (string, bool) {
	charset = strings.ToLower(charset)
	if i := strings.IndexByte(charset, '*'); i >= 0 {
		charset = charset[:i] // RFC 2231 section 5 language
	}
	switch charset {
	case "", "utf-8":
	case "us-ascii":
		for _, c := range b {
			if c >= 0x80 {
				return "", false
			}
		}
	default:
		return "", false
	}
	if !utf8.Valid(b) || bytes.IndexByte(b, 0x1b) >= 0 {
		return "", false
	}
	return string(b), true
}

// refWords decodes the RFC 2047 encoded words of s ("=?charset?B|Q?text?="
// without white space in text); white space between two words is dropped.
// ok is false when s holds what the reference does not read.
func refWords(s string) (string, bool) {
	if len(s) > refMaxWords {
		// Looking for the end of every "=?" would take quadratic time.
		return "", false
	}
	type piece struct {
		text    string
		word    bool
		charset string
		data    []byte
	}
	var pieces []piece
	lit := 0
	for i := 0; i+1 < len(s); {
		if s[i] != '=' || s[i+1] != '?' {
			i++
			continue
		}
		charset, data, n := refWord(s[i:])
		if n == 0 {
			i++
			continue
		}
		if i > lit {
			pieces = append(pieces, piece{text: s[lit:i]})
		}
		pieces = append(pieces, piece{word: true, charset: charset, data: data})
		i += n
		lit = i
	}
	if lit < len(s) {
		pieces = append(pieces, piece{text: s[lit:]})
	}
	var out strings.Builder
	var run []byte // bytes of adjacent words
	var runCharset string
	inRun := false
	flush := func() bool {
		if !inRun {
			return true
		}
		inRun = false
		text, ok := refCharset(runCharset, run)
		out.WriteString(text)
		run = run[:0]
		return ok
	}
	for i, p := range pieces {
		if !p.word {
			if i > 0 && i+1 < len(pieces) && pieces[i-1].word && pieces[i+1].word && strings.Trim(p.text, " \t") == "" {
				continue
			}
			if !flush() {
				return "", false
			}
			if _, ok := refCharset("", []byte(p.text)); !ok {
				return "", false
			}
			out.WriteString(p.text)
			continue
		}
		cs := strings.ToLower(p.charset)
		if i := strings.IndexByte(cs, '*'); i >= 0 {
			cs = cs[:i]
		}
		if inRun && cs != runCharset {
			if !flush() {
				return "", false
			}
		}
		runCharset, inRun = cs, true
		run = append(run, p.data...)
	}
	if !flush() {
		return "", false
	}
	return out.String(), true
}

// refWord parses the encoded word at the start of s, returning its
// charset, its decoded bytes and its length (0 when s starts none).
func refWord(s string) (charset string, data []byte, n int) {
	rest := s[2:]
	q := strings.IndexByte(rest, '?')
	if q <= 0 || strings.ContainsAny(rest[:q], " \t") || len(rest) < q+3 || rest[q+2] != '?' {
		return "", nil, 0
	}
	charset, enc, text := rest[:q], rest[q+1], rest[q+3:]
	end := strings.Index(text, "?=")
	if end < 0 || strings.ContainsAny(text[:end], " \t") {
		return "", nil, 0
	}
	text = text[:end]
	switch enc {
	case 'B', 'b':
		var clean []byte
		for i := 0; i < len(text); i++ {
			if refB64Value(text[i]) >= 0 {
				clean = append(clean, text[i])
			}
		}
		data = refBase64(clean)
	case 'Q', 'q':
		for i := 0; i < len(text); i++ {
			switch {
			case text[i] == '_':
				data = append(data, ' ')
			case text[i] == '=' && i+2 < len(text) && refHex(text[i+1]) >= 0 && refHex(text[i+2]) >= 0:
				data = append(data, byte(refHex(text[i+1])<<4|refHex(text[i+2])))
				i += 2
			default:
				data = append(data, text[i])
			}
		}
	default:
		return "", nil, 0
	}
	return charset, data, 2 + q + 3 + end + 2
}

// fileName returns the file name of the part whose header is fields.
func (r *refReading) fileName(fields []refField) string {
	// MIME_StripContinuations (mimehdrs.cpp): CR and LF are not part of a
	// name.
	return strings.NewReplacer("\r", "", "\n", "").Replace(r.rawFileName(fields))
}

// rawFileName is fileName before line breaks are taken out.
func (r *refReading) rawFileName(fields []refField) string {
	if cd, ok := refGet(fields, "content-disposition"); ok {
		if name := r.param(cd, "filename", true); name != "" || r.skip != "" {
			return name
		}
	}
	if ct, ok := refGet(fields, "content-type"); ok {
		if name := r.param(ct, "name", true); name != "" || r.skip != "" {
			return name
		}
	}
	for _, field := range []string{"content-name", "x-sun-data-name"} {
		if v, ok := refGet(fields, field); ok {
			name, ok := refWords(v)
			if !ok {
				r.skipf("%s %q: not read by the reference", field, v)
				return ""
			}
			if name != "" {
				return name
			}
		}
	}
	return ""
}

// refSplit returns the parts of a multipart body.
func refSplit(body []byte, boundary string) [][]byte {
	dash := []byte("--" + boundary)
	var parts [][]byte
	open := false // a part is being read
	start := 0    // where it started
	for off := 0; off < len(body); {
		end := len(body)
		if i := bytes.IndexByte(body[off:], '\n'); i >= 0 {
			end = off + i + 1
		}
		if closing, ok := refDelimiter(refChomp(body[off:end]), dash); ok {
			if open {
				stop := off
				if stop > start {
					// The line break before the delimiter is the
					// delimiter's.
					stop--
					if stop > start && body[stop-1] == '\r' {
						stop--
					}
				}
				if stop > start {
					parts = append(parts, body[start:stop])
				}
			}
			open, start = !closing, end
		}
		off = end
	}
	if open && start < len(body) {
		parts = append(parts, body[start:])
	}
	return parts
}

// refDelimiter reports whether line (without its line break) is a
// delimiter line of dash ("--" boundary), and whether it is the closing one.
func refDelimiter(line, dash []byte) (closing, ok bool) {
	rest, found := bytes.CutPrefix(line, dash)
	if !found {
		return false, false
	}
	rest, closing = bytes.CutPrefix(rest, []byte("--"))
	// Thunderbird strips the white space that ends a line, CR included
	// (MimeMultipart_check_boundary).
	if len(bytes.Trim(rest, " \t\r")) > 0 {
		return false, false
	}
	return closing, true
}

// refB64Value returns the value of a base64 alphabet character, -1 for
// other bytes.
func refB64Value(c byte) int {
	return strings.IndexByte("ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/", c)
}

// refBase64 decodes base64 as libmime does: bytes other than the alphabet
// and '=' are skipped; each group of four gives 3 bytes, 2 with one '=',
// 1 with more ('=' counting as 0 bits), and decoding goes on after it; a
// last group of 2 or 3 alphabet characters gives 1 or 2 bytes.
func refBase64(b []byte) []byte {
	var out, group []byte
	emit := func(n int) {
		var bits uint32
		for i := range 4 {
			bits <<= 6
			if i < len(group) && group[i] != '=' {
				bits |= uint32(refB64Value(group[i]))
			}
		}
		out = append(out, []byte{byte(bits >> 16), byte(bits >> 8), byte(bits)}[:n]...)
	}
	for _, c := range b {
		if c != '=' && refB64Value(c) < 0 {
			continue
		}
		group = append(group, c)
		if len(group) < 4 {
			continue
		}
		switch bytes.Count(group, []byte("=")) {
		case 0:
			emit(3)
		case 1:
			emit(2)
		default:
			emit(1)
		}
		group = group[:0]
	}
	if n := len(group) - bytes.Count(group, []byte("=")); n >= 2 {
		emit(n - 1)
	}
	return out
}

// refHex returns the value of a hex digit, -1 for other bytes.
func refHex(c byte) int {
	switch {
	case c >= '0' && c <= '9':
		return int(c - '0')
	case c >= 'a' && c <= 'f':
		return int(c-'a') + 10
	case c >= 'A' && c <= 'F':
		return int(c-'A') + 10
	}
	return -1
}

// refQP decodes quoted-printable leniently: "=XX" is the byte XX, "="
// then spaces or tabs then a line break (or the end) is removed, any
// other '=' is kept, and every other byte passed.
func refQP(b []byte) []byte {
	var out []byte
	for i := 0; i < len(b); i++ {
		if b[i] != '=' {
			out = append(out, b[i])
			continue
		}
		if i+2 < len(b) && refHex(b[i+1]) >= 0 && refHex(b[i+2]) >= 0 {
			out = append(out, byte(refHex(b[i+1])<<4|refHex(b[i+2])))
			i += 2
			continue
		}
		j := i + 1
		for j < len(b) && (b[j] == ' ' || b[j] == '\t') {
			j++
		}
		switch {
		case j == len(b):
			i = j - 1
		case b[j] == '\n':
			i = j
		case b[j] == '\r' && j+1 < len(b) && b[j+1] == '\n':
			i = j + 1
		default:
			out = append(out, '=')
		}
	}
	return out
}

// refEmbedsFile reports whether text has a line opening a uuencode, yEnc
// or BinHex block, which the inspection lists as attachments of its own.
func refEmbedsFile(text []byte) bool {
	for _, l := range bytes.Split(text, []byte("\n")) {
		for _, p := range []string{"begin ", "=ybegin", "(This file must be converted with BinHex"} {
			if bytes.HasPrefix(l, []byte(p)) {
				return true
			}
		}
	}
	return false
}

// refCase is a message and the attachments the reference must find in it
// (file name, decoded content), in part order.
type refCase struct {
	name string
	raw  string
	want [][2]string
}

// refCases prove the reference and seed FuzzDifferential.
var refCases = []refCase{
	{
		name: "base64 groups",
		raw: "Subject: b64\nMIME-Version: 1.0\nContent-Type: multipart/mixed; boundary=b\n\n" +
			"--b\nContent-Type: application/octet-stream; name=a.bin\nContent-Transfer-Encoding: base64\n\n" +
			"QQ==QUJD\nQ k!J*D\n" +
			"--b\nContent-Type: application/octet-stream; name=b.bin\nContent-Transfer-Encoding: Base64; x=y\n\n" +
			"QUJD====QUJ\n" +
			"--b\nContent-Type: application/octet-stream; name=c.bin\nContent-Transfer-Encoding: base64(old)\n\n" +
			"QUJDR\n--b--\n",
		want: [][2]string{{"a.bin", "AABCBBC"}, {"b.bin", "ABC\x00AB"}, {"c.bin", "ABC"}},
	},
	{
		name: "quoted-printable and identity",
		raw: "Content-Type: multipart/mixed; boundary=b\n\n" +
			"--b\nContent-Type: application/octet-stream; name=q.bin\nContent-Transfer-Encoding: quoted-printable\n\n" +
			"a=3Db=\nc=  \nd=XYe=4\nf=3d=\n" +
			"--b\nContent-Type: text/plain; name=t.txt\nContent-Transfer-Encoding: 8BIT\n\n" +
			"line1\nline2\n\n--b--\n",
		want: [][2]string{{"q.bin", "a=bcd=XYe=4\nf="}, {"t.txt", "line1\nline2\n"}},
	},
	{
		name: "header lines and media types",
		raw: "From sender@example.com Mon Jan  1 00:00:00 2024\nSubject: headers\n" +
			"Content-Type: multipart/mixed;\n\tboundary=\"b\"\nContent-Type: text/plain\n\n" +
			"--b\nthis line is no field\nContent-Type: application/x?text/html\n" +
			"Content-Disposition: attachment;\n filename=\"first\n .txt\"\nContent-Disposition: attachment; filename=second.txt\n\n<p>x</p>\n" +
			"--b\nContent-Type: text/plain?application/x-msdownload\n\nMZ\n" +
			"--b\nContent-Type: foo; name=nofwd.txt\n\nplain\n" +
			"--b\nContent-Type: TEXT/PLAIN(x); name=up.txt\n\nup\n" +
			"--b\nContent-Type: text/html\n\n<b>body</b>\n--b--\n",
		// The last part is body text and, after the first of a mixed,
		// listed as a file too.
		want: [][2]string{{"first .txt", "<p>x</p>"}, {"", "MZ"}, {"nofwd.txt", "plain"}, {"up.txt", "up"}, {"", "<b>body</b>"}},
	},
	{
		name: "file names",
		raw: "Content-Type: multipart/mixed; boundary=\"=_x\"\n\n" +
			"--=_x\nContent-Type: application/octet-stream; name*=UTF-8''%E6%97%A5%E6%9C%AC.exe\n\n1\n" +
			"--=_x\nContent-Type: application/octet-stream\nContent-Disposition: inline; filename*0*=utf-8''a%20; filename*1=\"b.exe\"; filename=\"a b.exe\"\n\n2\n" +
			"--=_x\nContent-Type: application/octet-stream; name=\"=?UTF-8?B?5pel?= =?utf-8?q?=E6=9C=AC_x.exe?=\"\n\n3\n" +
			"--=_x\nContent-Type: application/octet-stream\nContent-Name: =?us-ascii?q?cn.exe?=\n\n4\n" +
			"--=_x\nContent-Type: application/octet-stream\nX-Sun-Data-Name: sun.exe\n\n5\n" +
			"--=_x\nContent-Type: text/plain\nContent-Disposition: ATTACHMENT\n\n6\n" +
			"--=_x\nContent-Type: application/octet-stream; name=ct.exe\nContent-Disposition: attachment; filename=cd.exe\n\n7\n" +
			"--=_x--\n",
		want: [][2]string{{"日本.exe", "1"}, {"a b.exe", "2"}, {"日本 x.exe", "3"}, {"cn.exe", "4"}, {"sun.exe", "5"}, {"", "6"}, {"cd.exe", "7"}},
	},
	{
		name: "delimiters",
		raw: "Content-Type: multipart/mixed; boundary=b\n\npreamble\n--bx not a delimiter\n--b-\n" +
			"--b \t\nContent-Type: application/octet-stream; name=one.bin\n\none\n--b-\n" +
			"--b\n--b\nContent-Type: multipart/alternative; boundary=c\n\n" +
			"--c\nContent-Type: application/octet-stream; name=two.bin\n\ntwo\n--c--\n" +
			"--b--\t \nepilogue\n" +
			"--b\nContent-Type: application/octet-stream; name=after.bin\n\nafter\n",
		want: [][2]string{{"one.bin", "one\n--b-"}, {"two.bin", "two"}, {"after.bin", "after\n"}},
	},
	{
		name: "enclosed messages",
		raw: "Content-Type: multipart/mixed; boundary=b\n\n" +
			"--b\nContent-Type: message/rfc822 (comment)\n\nSubject: inner\nContent-Type: application/octet-stream; name=in1.exe\n\nin1\n" +
			"--b\nContent-Type: message/global\nContent-Transfer-Encoding: base64\n\n" +
			base64.StdEncoding.EncodeToString([]byte("Content-Type: application/x-msdownload; name=in2.exe\n\nin2")) + "\n" +
			"--b\nContent-Type: message/news\n\nContent-Type: multipart/mixed; boundary=n\n\n" +
			"--n\nContent-Type: application/octet-stream; name=in3.exe\n\nin3\n--n--\n" +
			"--b\nContent-Type: application/octet-stream; name=fwd.EML\n\nFrom x Mon\nContent-Disposition: attachment; filename=in4.exe\n\nin4\n" +
			"--b\nContent-Type: multipart/digest; boundary=d\n\n" +
			"--d\n\nContent-Type: application/octet-stream; name=in5.exe\n\nin5\n--d--\n" +
			"--b--\n",
		want: [][2]string{{"in1.exe", "in1"}, {"in2.exe", "in2"}, {"in3.exe", "in3"}, {"in4.exe", "in4"}, {"in5.exe", "in5"}},
	},
	{
		name: "ordinary CRLF message",
		raw: "From: a@example.com\r\nTo: b@example.com\r\nSubject: report\r\nMIME-Version: 1.0\r\n" +
			"Content-Type: multipart/mixed; boundary=\"----=_Part_0\"\r\n\r\n" +
			"This is a multi-part message in MIME format.\r\n" +
			"------=_Part_0\r\nContent-Type: text/plain; charset=utf-8\r\nContent-Transfer-Encoding: 7bit\r\n\r\nSee attached.\r\n" +
			"------=_Part_0\r\nContent-Type: application/pdf; name=\"report.pdf\"\r\nContent-Transfer-Encoding: base64\r\n" +
			"Content-Disposition: attachment; filename=\"report.pdf\"\r\n\r\n" +
			"JVBERi0xLjcK\r\nJSVFT0YK\r\n" +
			"------=_Part_0--\r\n",
		want: [][2]string{{"report.pdf", "%PDF-1.7\n%%EOF\n"}},
	},
	{
		name: "single part",
		raw:  "Subject: x\nContent-Type: image/png\nContent-Transfer-Encoding: base64\n\niVBORw0KGgo=\n",
		want: [][2]string{{"", "\x89PNG\r\n\x1a\n"}},
	},
}

// refSkipCases are messages the reference declines to read.
var refSkipCases = []string{
	"Content-Type: application/octet-stream; name=a.exe\nContent-Transfer-Encoding: x-uuencode\n\nbegin 644 a.exe\n#86)C\n`\nend\n",
	"Content-Type: multipart/mixed\n\n--b\nContent-Type: application/octet-stream; name=a.exe\n\nx\n--b--\n",
	"Content-Type: application/octet-stream; name=a.exe; name=b.exe\n\nx\n",
	"Content-Type: application/octet-stream, name=a.exe\n\nx\n",
	"Content-Type: application/octet-stream\nContent-Disposition: attachment; filename*=utf-8''a.exe; filename*0=b.exe\n\nx\n",
	"Content-Type: multipart/mixed; boundary=a; boundary*=utf-8''b\n\n--a\n\nx\n--a--\n",
	"Content-Type: text/plain\n\nsee below\nbegin 644 a.exe\n#86)C\n`\nend\n",
	"Content-Type: text/plain\n\n=ybegin line=128 size=3 name=a.exe\nabc\n=yend size=3\n",
	"Content-Type: application/octet-stream; name=\"=?iso-2022-jp?B?GyRCJEgbKEI=?=.exe\"\n\nx\n",
	"Content-Type: application/octet-stream; name=\"\x93\xfa\x96\x7b.exe\"\n\nx\n",
}

func TestDifferentialReference(t *testing.T) {
	for _, c := range refCases {
		got := refRead([]byte(c.raw))
		if got.skip != "" {
			t.Errorf("%s: skipped: %s", c.name, got.skip)
			continue
		}
		var files [][2]string
		for _, f := range got.files {
			files = append(files, [2]string{f.name, string(f.data)})
		}
		if !slices.Equal(files, c.want) {
			t.Errorf("%s: reference reads\n%q\nwant\n%q", c.name, files, c.want)
		}
	}
	for _, m := range refSkipCases {
		if got := refRead([]byte(m)); got.skip == "" {
			t.Errorf("reference reads %q, want it skipped; it found %s", m, got)
		}
	}
}

// diffShapes are small messages of one shape each, for seeds: a single
// part whose reading is flagged would hide the others of a bigger one.
func diffShapes() []string {
	mixed := func(part string) string {
		return "Subject: shape\nMIME-Version: 1.0\nContent-Type: multipart/mixed; boundary=\"sep\"\n\n" +
			"--sep\nContent-Type: text/plain; charset=us-ascii\n\nhello\n" +
			"--sep\n" + part + "\n--sep--\n"
	}
	oct := "Content-Type: application/octet-stream; name=\"a.exe\"\n"
	parts := []string{
		oct + "Content-Transfer-Encoding: base64\n\nQQ==QUJD\n",
		oct + "Content-Transfer-Encoding: base64\n\nTVqQAAMAAAAEAAAA//8AALgAAAA=\nQUJD====QUJ\n",
		oct + "Content-Transfer-Encoding: base64\n\nTVq QAA\tMAA!AAE\n",
		oct + "Content-Transfer-Encoding: base64 (comment)\n\nTVqQ\n",
		oct + "Content-Transfer-Encoding: quoted-printable\n\nMZ=90=00=\n=03x=  \ny=ZZ=\n",
		oct + "Content-Transfer-Encoding: 7BIT\n\nMZ\n",
		"Content-Type: application/x?message/rfc822\n\nContent-Type: application/octet-stream; name=in.exe\n\nMZ\n",
		"Content-Type: text/plain?application/x-msdownload\n\nMZ\n",
		"Content-Type: message/rfc822 (forwarded)\n\nContent-Type: application/octet-stream; name=in.exe\n\nMZ\n",
		"Content-Type: message/rfc822,x\n\nContent-Type: application/octet-stream; name=in.exe\n\nMZ\n",
		"Content-Type: message/news\n\nSubject: n\nContent-Type: application/octet-stream; name=in.exe\n\nMZ\n",
		"Content-Type: message/global\n\nContent-Type: application/octet-stream; name=in.exe\n\nMZ\n",
		"Content-Type: application/octet-stream; name=fwd.eml\n\nSubject: f\nContent-Type: application/octet-stream; name=in.exe\n\nMZ\n",
		"Content-Type: foo; name=a.txt\n\nx\n",
		"Content-Type: APPLICATION/PDF\n\n%PDF\n",
		"Content-Type: application/octet-stream\nContent-Disposition: attachment; filename*=UTF-8''%E6%97%A5.exe\n\nMZ\n",
		"Content-Type: application/octet-stream\nContent-Disposition: attachment; filename*0*=utf-8''a%2E; filename*1=exe\n\nMZ\n",
		"Content-Type: application/octet-stream\nContent-Disposition: attachment; filename=\"=?utf-8?B?5pel?= =?utf-8?Q?=2Eexe?=\"\n\nMZ\n",
		"Content-Type: application/octet-stream\nContent-Name: cn.exe\n\nMZ\n",
		"Content-Type: application/octet-stream\nX-Sun-Data-Name: sun.exe\n\nMZ\n",
		"Content-Type: text/plain\nContent-Disposition: attachment\n\nnot body text\n",
		"Content-Type: text/plain\nContent-Disposition: attachment, filename=a.exe\n\nMZ\n",
		"Content-Type: application/octet-stream\nContent-Disposition: attachment;\n filename=\"long\n  name.exe\"\nContent-Disposition: attachment; filename=other.exe\n\nMZ\n",
		"Content-Type: application/octet-stream, name=a.exe; name=b.exe\n\nMZ\n",
		"Content-Type: application/octet-stream; name=a.exe\nContent-Transfer-Encoding: x-uuencode\n\nbegin 644 a.exe\n\"35H`\n`\nend\n",
		"Content-Type: text/plain\n\nbegin 644 a.exe\n\"35H`\n`\nend\n",
		"Content-Type: multipart/digest; boundary=d\n\n--d\n\nContent-Type: application/octet-stream; name=in.exe\n\nMZ\n--d--\n",
		"Content-Type: multipart/alternative; boundary=sep2\n\n--sep2 \nContent-Type: text/html\n\n<p>x</p>\n--sep2\n--sep2\n" + oct + "\nMZ\n--sep2--  \n",
		"Content-Type: multipart/related; boundary=\"in\"\n\n--in\n" + oct + "\nMZ\n--in--\n",
		"Content-Type: multipart/related; boundary=\"in\"\n\n--in\n" + oct + "\nMZ\n--in\r \n" + oct + "\nCR\n--in--\n",
		"Content-Type: text/plain\nContent-Disposition: attachment x\n\nnot body text either\n",
		oct + "Content-Transfer-Encoding: base64\n\n=QUJD\nQ=UJD\nQUJD=\n",
		"Content-Type: application/octet-stream;\n name=\"a\tb.exe\"\n\nMZ\n",
		"Content-Type : application/octet-stream ; name = a.exe\n\nMZ\n",
	}
	var out []string
	for _, p := range parts {
		out = append(out, mixed(p))
	}
	return append(out,
		"From MAILER-DAEMON Mon Jan  1 00:00:00 2024\nSubject: mbox\nContent-Type: application/octet-stream; name=a.exe\n\nMZ\n",
		"Content-Type: multipart/mixed; boundary=b\n\n--b\n"+oct+"\nMZ\n--b--\n--b\n"+oct+"\nafter close\n",
		"Content-Type: multipart/mixed; boundary=b\n\n--b\n"+oct+"\nno closing delimiter\n",
		"Subject: no header end\nContent-Type: application/octet-stream; name=a.exe",
		"Subject: list\nContent-Type: multipart/mixed; boundary=b\n\n--b\nContent-Type: text/plain\n\nbody\n--b\nContent-Type: text/plain\n\n-- \nlist footer\n--b--\n",
		oct+"Content-Disposition: attachment; filename=\"=?utf-8?q?a?==?utf-8?q?b?=.exe\"\n\nMZ\n",
		oct+"Content-Disposition: attachment; filename=\"=?utf-8?q?=E6=97?= =?utf-8?q?=A5?= =?utf-8?q?a b?=\"\n\nMZ\n",
		"Content-Type: application/octet-stream; name*0*=utf-8''%E6%97; name*1*=%A5.exe; name*2=\"x\\\"y\"\n\nMZ\n",
		"Content-Type: message/rfc822\nContent-Transfer-Encoding: quoted-printable\n\nContent-Type: application/x=\n-y; name=3Da=2Eexe\n\nMZ=\n\n",
		"Content-Type: multipart/mixed; boundary=b\n\n--b\nContent-Type: multipart/mixed; boundary=c\n\n--c\n"+oct+"\nc\n--b\n"+oct+"\nb\n--c--\n--b--\n",
		"Content-Type: multipart/mixed; boundary=\"a b\"\n\n--a b \n"+oct+"\n\n\r\n--a b\n\n--a b\n"+oct+"Content-Transfer-Encoding: base64\n\nT\n--a b--\n",
	)
}
