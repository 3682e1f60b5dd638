// Package mime inspects an RFC 5322 message in one streaming pass and reports
// the facts that policy rules judge: the decoded subject, facts about the
// body text (is it blank, is it ASCII, a sample), and every attachment with
// its decoded file name and extension, its size, whether its content is an
// executable, and what a zip archive holds (names, encryption, nested zips).
//
// It decodes what mail clients decode, leniently: RFC 2047 and RFC 2231 in
// any charset, ISO-2022-JP, Shift_JIS (CP932) and EUC-JP with or without a
// label, base64 and quoted-printable, multipart and message/rfc822 nesting.
// Malformed input degrades into Result.Problems, and exceeded Limits into
// Result.Limit; memory stays bounded whatever the message size: parts are
// decoded through small buffers and only zip attachments are kept, in memory
// up to 4 MiB and in a temporary file beyond.
//
// The package knows nothing about milter, rules or actions: it reports, it
// does not judge. It does not verify signatures, decrypt, or look into
// archive formats other than zip.
package mime

import (
	"bufio"
	"encoding/base64"
	"errors"
	"fmt"
	"io"
	"mime/quotedprintable"
	"strings"
	"unicode/utf8"

	"github.com/emersion/go-message/textproto"
)

// Limits bound the work Inspect does on one message. A zero field takes its
// default.
type Limits struct {
	MaxDepth          int    // multipart and message/rfc822 nesting, default 20
	MaxParts          int    // header blocks (message and parts), default 1000
	MaxHeaderBytes    int    // size of one header block, default 256 KiB
	MaxArchiveDepth   int    // zip nesting, default 3
	MaxArchiveEntries int    // zip entries listed per message, default 10000
	MaxArchiveBytes   int64  // decoded size of a zip looked into, and of all nested zips extracted per message, default 50 MiB
	TempDir           string // where big zips are spooled, "" for os.TempDir()
}

// DefaultLimits returns the default Limits.
func DefaultLimits() Limits {
	return Limits{
		MaxDepth:          20,
		MaxParts:          1000,
		MaxHeaderBytes:    256 << 10,
		MaxArchiveDepth:   3,
		MaxArchiveEntries: 10000,
		MaxArchiveBytes:   50 << 20,
	}
}

// withDefaults fills the zero fields of l with defaults.
func (l Limits) withDefaults() Limits {
	d := DefaultLimits()
	if l.MaxDepth <= 0 {
		l.MaxDepth = d.MaxDepth
	}
	if l.MaxParts <= 0 {
		l.MaxParts = d.MaxParts
	}
	if l.MaxHeaderBytes <= 0 {
		l.MaxHeaderBytes = d.MaxHeaderBytes
	}
	if l.MaxArchiveDepth <= 0 {
		l.MaxArchiveDepth = d.MaxArchiveDepth
	}
	if l.MaxArchiveEntries <= 0 {
		l.MaxArchiveEntries = d.MaxArchiveEntries
	}
	if l.MaxArchiveBytes <= 0 {
		l.MaxArchiveBytes = d.MaxArchiveBytes
	}
	return l
}

// Result holds the facts Inspect found in a message.
type Result struct {
	Subject     string       `json:"subject"`               // decoded subject, "" if absent
	HasSubject  bool         `json:"has_subject"`           // a Subject header is present
	Text        TextFacts    `json:"text"`                  // facts about the body text
	Attachments []Attachment `json:"attachments,omitempty"` // attachments in part order
	Limit       string       `json:"limit,omitempty"`       // the first Limit exceeded, e.g. "part count exceeds 1000"
	Problems    []string     `json:"problems,omitempty"`    // degraded decoding, e.g. `part 1.2: unknown charset "x-foo"`
}

// TextFacts describes the body text: text/plain and text/html parts that are
// not attachments, decoded, HTML reduced to the text a reader sees.
type TextFacts struct {
	Parts    int    `json:"parts"`     // text parts counted as body text
	Runes    int64  `json:"runes"`     // decoded characters
	NonSpace bool   `json:"non_space"` // any visible rune (see IsBlank)
	NonASCII bool   `json:"non_ascii"` // any rune above U+007F
	Sample   string `json:"sample"`    // first 120 runes, invisible runs collapsed to one space, for log lines
}

// Attachment describes one attachment.
type Attachment struct {
	Part        string   `json:"part"`                 // MIME part path like "1", "1.2", "2.1.3" (IMAP numbering)
	Filename    string   `json:"filename"`             // decoded as mail clients show it
	Ext         string   `json:"ext"`                  // see Ext
	ContentType string   `json:"content_type"`         // lower-cased media type
	Size        int64    `json:"size"`                 // decoded size in bytes
	Executable  string   `json:"executable,omitempty"` // "", "pe", "elf", "macho" or "macho-fat", from the first bytes
	Archive     *Archive `json:"archive,omitempty"`    // non-nil when the content is a zip (by magic bytes)
}

// Archive describes what a zip archive holds.
type Archive struct {
	Format    string  `json:"format"`            // "zip"
	Encrypted bool    `json:"encrypted"`         // any entry encrypted
	Entries   []Entry `json:"entries,omitempty"` // files in the archive, directories left out
	Skipped   string  `json:"skipped,omitempty"` // why the archive was not (fully) inspected: too big, too deep, corrupt, too many entries
}

// Entry describes one file in an archive.
type Entry struct {
	Name       string   `json:"name"`                 // decoded name, path included
	Ext        string   `json:"ext"`                  // see Ext
	Size       int64    `json:"size"`                 // uncompressed size as recorded in the archive
	Executable string   `json:"executable,omitempty"` // as Attachment.Executable; "" when encrypted
	Encrypted  bool     `json:"encrypted,omitempty"`  // the entry is encrypted and was not read
	Archive    *Archive `json:"archive,omitempty"`    // the entry is itself a zip
}

// maxProblems bounds Result.Problems; maxProblemLen bounds one problem.
const (
	maxProblems   = 32
	maxProblemLen = 200
)

// Inspect reads a whole message from r and reports its facts. The error is
// only ever an I/O error of r; malformed MIME yields a Result with Problems,
// and an exceeded limit a Result with Limit set and everything found until
// then.
func Inspect(r io.Reader, lim Limits) (*Result, error) {
	lim = lim.withDefaults()
	in := &inspector{
		lim:          lim,
		res:          &Result{},
		trap:         &errTrap{r: r},
		entryBudget:  lim.MaxArchiveEntries,
		nestedBudget: lim.MaxArchiveBytes,
	}
	in.text.f = &in.res.Text
	in.message(in.trap, "", 0, false)
	if !in.stopped() {
		// The epilogue is not inspected, but read, so that a failing reader
		// is reported rather than a Result of a message cut short.
		io.Copy(io.Discard, in.trap)
	}
	if in.trap.err != nil {
		return nil, fmt.Errorf("reading message: %w", in.trap.err)
	}
	return in.res, nil
}

// inspector is the state of one Inspect call.
type inspector struct {
	lim          Limits
	res          *Result
	trap         *errTrap
	text         textCollector
	parts        int
	halted       bool
	entryBudget  int
	nestedBudget int64
}

// stopped reports whether the walk must end: a limit stopped it or r failed.
func (in *inspector) stopped() bool {
	return in.halted || in.trap.err != nil
}

// limit records the first exceeded limit.
func (in *inspector) limit(msg string) {
	if in.res.Limit == "" {
		in.res.Limit = msg
	}
}

// stop records an exceeded limit and ends the walk.
func (in *inspector) stop(msg string) {
	in.limit(msg)
	in.halted = true
}

// problem records a degraded decoding, bounded in count and length.
func (in *inspector) problem(msg string) {
	if in.trap.err != nil {
		return
	}
	switch n := len(in.res.Problems); {
	case n > maxProblems:
		return
	case n == maxProblems:
		msg = "further problems left out"
	}
	msg = strings.ToValidUTF8(msg, "\uFFFD")
	if len(msg) > maxProblemLen {
		cut := maxProblemLen
		for cut > 0 && !utf8.RuneStart(msg[cut]) {
			cut--
		}
		msg = msg[:cut] + "…"
	}
	in.res.Problems = append(in.res.Problems, msg)
}

// countPart counts one header block against MaxParts.
func (in *inspector) countPart() bool {
	in.parts++
	if in.parts > in.lim.MaxParts {
		in.stop(fmt.Sprintf("part count exceeds %d", in.lim.MaxParts))
		return false
	}
	return true
}

// where names a part for Problems.
func where(path string) string {
	if path == "" {
		return "message"
	}
	return "part " + path
}

// join appends a part number to a part path.
func join(prefix string, n int) string {
	if prefix == "" {
		return fmt.Sprint(n)
	}
	return fmt.Sprintf("%s.%d", prefix, n)
}

// message reads a message (the top one, or one inside message/rfc822) from
// r. Its parts are numbered under prefix; a single-part body is prefix.1.
func (in *inspector) message(r io.Reader, prefix string, depth int, inAttach bool) {
	if in.stopped() || !in.countPart() {
		return
	}
	if depth > in.lim.MaxDepth {
		in.stop(fmt.Sprintf("nesting depth exceeds %d", in.lim.MaxDepth))
		return
	}
	lr := &limiter{r: r, left: int64(in.lim.MaxHeaderBytes) + sniffPeek, armed: true}
	br := bufio.NewReaderSize(lr, sniffPeek)
	h, err := textproto.ReadHeader(br)
	lr.armed = false
	if lr.tripped {
		in.stop(fmt.Sprintf("%s: header exceeds %d bytes", where(prefix), in.lim.MaxHeaderBytes))
		return
	}
	if err != nil {
		in.problem(fmt.Sprintf("%s: malformed header: %v", where(prefix), err))
	}
	if prefix == "" && h.Has("Subject") {
		in.res.HasSubject = true
		in.res.Subject = DecodeHeader(h.Get("Subject"))
	}
	in.part(h, br, join(prefix, 1), prefix, depth, inAttach)
}

// part handles one entity: path is its own number, prefix the one its
// children are numbered under (they differ only for a message's root).
func (in *inspector) part(h textproto.Header, body io.Reader, path, prefix string, depth int, inAttach bool) {
	if in.stopped() {
		return
	}
	if depth > in.lim.MaxDepth {
		in.stop(fmt.Sprintf("nesting depth exceeds %d", in.lim.MaxDepth))
		return
	}
	mt, ctParams := parseParams(h.Get("Content-Type"))
	if mt == "" {
		mt = "text/plain"
	} else if !strings.Contains(mt, "/") {
		in.problem(fmt.Sprintf("%s: invalid content type %q, read as text/plain", where(path), mt))
		mt = "text/plain"
	}
	if strings.HasPrefix(mt, "multipart/") {
		in.multipart(mt, ctParams, body, prefix, depth, inAttach)
		return
	}
	disp, dParams := parseParams(h.Get("Content-Disposition"))
	name := paramText(dParams, "filename")
	if name == "" {
		name = paramText(ctParams, "name")
	}
	isMessage := mt == "message/rfc822" || mt == "message/global"
	attach := disp == "attachment" || name != "" || (!strings.HasPrefix(mt, "text/") && !strings.HasPrefix(mt, "message/"))
	decoded := in.transferDecoder(h, body, path)

	switch {
	case isMessage:
		in.nestedMessage(decoded, mt, name, path, depth, inAttach, attach)
	case attach:
		in.attachment(decoded, mt, name, path)
	case !inAttach && (mt == "text/plain" || mt == "text/html"):
		in.bodyText(decoded, mt == "text/html", paramRaw(ctParams, "charset"), path)
	default:
		io.Copy(io.Discard, decoded)
	}
}

// paramRaw returns the undecoded value of a plain parameter.
func paramRaw(ps []param, name string) string {
	for _, p := range ps {
		if p.name == name {
			return p.value
		}
	}
	return ""
}

// multipart walks the parts of a multipart body (RFC 2046 section 5.1).
func (in *inspector) multipart(mt string, params []param, body io.Reader, prefix string, depth int, inAttach bool) {
	boundary := paramRaw(params, "boundary")
	if boundary == "" {
		in.problem(fmt.Sprintf("%s: %s without boundary, read as text", where(prefix), mt))
		if inAttach {
			io.Copy(io.Discard, body)
			return
		}
		in.bodyText(body, false, "", prefix)
		return
	}
	br := bufio.NewReaderSize(body, sniffPeek)
	if err := skipPreamble(br, "--"+boundary); err != nil {
		if !errors.Is(err, io.EOF) {
			in.problem(fmt.Sprintf("%s: %v", where(prefix), err))
		}
	}
	lr := &limiter{r: br}
	mr := textproto.NewMultipartReader(lr, boundary)
	for i := 1; !in.stopped(); i++ {
		lr.arm(int64(in.lim.MaxHeaderBytes) + 2*sniffPeek)
		p, err := mr.NextPart()
		lr.armed = false
		if lr.tripped {
			in.stop(fmt.Sprintf("%s: header exceeds %d bytes", where(join(prefix, i)), in.lim.MaxHeaderBytes))
			return
		}
		if err == io.EOF {
			return
		}
		if err != nil {
			if i == 1 {
				in.problem(fmt.Sprintf("%s: no part found: boundary %q missing", where(prefix), boundary))
			} else {
				in.problem(fmt.Sprintf("%s: %v", where(prefix), err))
			}
			return
		}
		if !in.countPart() {
			return
		}
		pr := &partReader{r: p}
		in.part(p.Header, pr, join(prefix, i), join(prefix, i), depth+1, inAttach)
		if in.stopped() {
			return
		}
		io.Copy(io.Discard, pr)
		if pr.truncated {
			in.problem(fmt.Sprintf("%s: closing boundary missing after part %d", where(prefix), i))
			return
		}
	}
}

// skipPreamble consumes the lines before the first boundary line, whatever
// their length, so that a long preamble cannot hide the parts (RFC 2046
// section 5.1.1).
func skipPreamble(br *bufio.Reader, dashBoundary string) error {
	for {
		b, err := br.Peek(len(dashBoundary) + 1)
		if len(b) > len(dashBoundary) && strings.HasPrefix(string(b), dashBoundary) {
			return nil
		}
		if err != nil {
			if len(b) == len(dashBoundary) && string(b) == dashBoundary {
				return nil
			}
			return err
		}
		for {
			_, err := br.ReadSlice('\n')
			if err == nil {
				break
			}
			if err != bufio.ErrBufferFull {
				return err
			}
		}
	}
}

// partReader turns the io.ErrUnexpectedEOF of a part cut short by the end of
// input (missing closing boundary) into io.EOF, and remembers it.
type partReader struct {
	r         io.Reader
	truncated bool
}

func (p *partReader) Read(b []byte) (int, error) {
	n, err := p.r.Read(b)
	if err == io.ErrUnexpectedEOF {
		p.truncated = true
		err = io.EOF
	}
	return n, err
}

// transferDecoder undoes the Content-Transfer-Encoding (RFC 2045 section 6).
func (in *inspector) transferDecoder(h textproto.Header, body io.Reader, path string) io.Reader {
	cte := strings.ToLower(strings.TrimSpace(h.Get("Content-Transfer-Encoding")))
	switch cte {
	case "base64":
		return base64.NewDecoder(base64.RawStdEncoding, &base64Filter{r: body})
	case "quoted-printable":
		return quotedprintable.NewReader(body)
	case "", "7bit", "8bit", "binary":
		return body
	}
	in.problem(fmt.Sprintf("%s: unknown transfer encoding %q, read as is", where(path), cte))
	return body
}

// bodyText scans one body text part.
func (in *inspector) bodyText(body io.Reader, isHTML bool, label, path string) {
	r, known := textReader(body, label)
	if !known {
		in.problem(fmt.Sprintf("%s: unknown charset %q", where(path), label))
	}
	in.res.Text.Parts++
	err := scanText(r, isHTML, &in.text)
	in.text.endPart()
	if err != nil {
		in.problem(fmt.Sprintf("%s: decoding: %v", where(path), err))
	}
}

// attachment decodes one attachment: size, magic bytes, zip contents.
func (in *inspector) attachment(body io.Reader, mt, name, path string) {
	a := Attachment{Part: path, Filename: name, Ext: Ext(name), ContentType: mt}
	k := &sink{newSpool: func() *spool { return &spool{dir: in.lim.TempDir, max: in.lim.MaxArchiveBytes} }}
	_, err := io.Copy(k, body)
	if err != nil {
		in.problem(fmt.Sprintf("%s: decoding: %v", where(path), err))
	}
	a.Size = k.n
	a.Executable = sniffExec(k.head)
	if sp := k.spool; sp != nil {
		switch {
		case sp.tooBig:
			a.Archive = &Archive{Format: FormatZip, Skipped: fmt.Sprintf("too big: %d bytes, %d allowed", sp.n, sp.max)}
		case sp.err != nil:
			a.Archive = &Archive{Format: FormatZip, Skipped: sp.err.Error()}
		default:
			a.Archive = in.inspectZip(sp.readerAt(), sp.n, 1, where(path))
		}
		sp.release()
	}
	in.res.Attachments = append(in.res.Attachments, a)
}

// nestedMessage handles a message/rfc822 part: listed as an attachment when
// it is one, and walked in any case. The text of a message that is attached
// is not body text.
func (in *inspector) nestedMessage(body io.Reader, mt, name, path string, depth int, inAttach, attach bool) {
	cr := &countingReader{r: body}
	idx := -1
	if attach {
		idx = len(in.res.Attachments)
		in.res.Attachments = append(in.res.Attachments, Attachment{Part: path, Filename: name, Ext: Ext(name), ContentType: mt})
	}
	in.message(cr, path, depth+1, inAttach || attach)
	if in.stopped() {
		return
	}
	io.Copy(io.Discard, cr)
	if idx >= 0 {
		in.res.Attachments[idx].Size = cr.n
	}
}

// countingReader counts the bytes read through it.
type countingReader struct {
	r io.Reader
	n int64
}

func (c *countingReader) Read(p []byte) (int, error) {
	n, err := c.r.Read(p)
	c.n += int64(n)
	return n, err
}

// base64Filter drops everything outside the base64 alphabet, padding
// included, so that decoding is as lenient as mail clients are: line breaks,
// stray spaces and garbage are skipped, and a missing final padding does not
// matter.
type base64Filter struct {
	r io.Reader
}

func (f *base64Filter) Read(p []byte) (int, error) {
	if len(p) == 0 {
		return 0, nil
	}
	for {
		n, err := f.r.Read(p)
		j := 0
		for _, c := range p[:n] {
			if isBase64Char(c) {
				p[j] = c
				j++
			}
		}
		if j > 0 || err != nil {
			return j, err
		}
	}
}

// errTrap remembers the first I/O error of the message reader, to tell it
// apart from malformed content.
type errTrap struct {
	r   io.Reader
	err error
}

func (t *errTrap) Read(p []byte) (int, error) {
	if t.err != nil {
		return 0, t.err
	}
	n, err := t.r.Read(p)
	if err != nil && err != io.EOF {
		t.err = err
	}
	return n, err
}

// errHeaderTooBig is returned by an armed limiter past its budget.
var errHeaderTooBig = errors.New("header too big")

// limiter bounds the bytes read while a header block is being read.
type limiter struct {
	r       io.Reader
	left    int64
	armed   bool
	tripped bool
}

// arm starts a budget of n bytes.
func (l *limiter) arm(n int64) {
	l.left = n
	l.armed = true
}

func (l *limiter) Read(p []byte) (int, error) {
	if !l.armed {
		return l.r.Read(p)
	}
	if l.left <= 0 {
		l.tripped = true
		return 0, errHeaderTooBig
	}
	if int64(len(p)) > l.left {
		p = p[:l.left]
	}
	n, err := l.r.Read(p)
	l.left -= int64(n)
	return n, err
}
