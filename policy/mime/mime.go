// Package mime inspects an RFC 5322 message in one streaming pass and reports
// the facts that policy rules judge: the decoded subject, facts about the
// body text (is it blank, is it ASCII, a sample), and every attachment with
// its decoded file name and extension, its size, whether its content is an
// executable, and what an archive or disk image holds (zip, 7z, rar, tar,
// the compressors, winmail.dat, ISO/UDF, FAT, VHD: names, encryption,
// executables, nested archives in any mix).
//
// It reads a message the way mainstream mail clients show it, and where
// clients differ it reads the superset, so that nothing a user can open is
// missed: RFC 2047 and RFC 2231 in any charset, ISO-2022-JP, Shift_JIS
// (CP932) and EUC-JP with or without a label, base64 and quoted-printable
// decoded leniently, uuencode and yEnc (as transfer encodings and embedded
// in text, as Thunderbird shows them), multipart and message/rfc822 nesting,
// header lines that are not fields skipped (as Thunderbird's libmime does),
// an mbox "From " line opening a message skipped, parts of
// multipart/digest defaulting to message/rfc822 (RFC 2046 section 5.1.5),
// and multipart bodies split by this package's own boundary scanner
// (multipart.go says why go-message's is not used).
//
// What still cannot be read completely is never passed over silently: each
// reason (an exceeded Limit, an ambiguous structure, an archive skipped or
// in a format not looked into, an encrypted archive or entry) is a Gap in
// Result.Uninspected, for a policy to judge. Decoding that degraded without
// losing content (an unknown charset, a missing closing boundary) is listed
// in Result.Problems. Memory stays bounded whatever the message size: parts
// are decoded through small buffers and only archives are kept, in memory
// up to 4 MiB and in a temporary file beyond.
//
// The package knows nothing about milter, rules or actions: it reports, it
// does not judge. It does not verify signatures, nor decrypt unless given
// password candidates (InspectWithPasswords, InspectFile), nor look into
// formats without a reader (arj, ace, NTFS, …), which are Gaps.
package mime

import (
	"bufio"
	"errors"
	"fmt"
	"io"
	"slices"
	"strings"
	"time"
	"unicode/utf8"

	"github.com/emersion/go-message/textproto"
)

// Limits bound the work Inspect does on one message. A zero field takes its
// default.
type Limits struct {
	MaxDepth          int    // multipart and message/rfc822 nesting, default 20
	MaxParts          int    // header blocks (message and parts), default 1000
	MaxHeaderBytes    int    // size of one header block, default 256 KiB
	MaxArchiveDepth   int    // archive nesting, default 10
	MaxArchiveEntries int    // archive entries listed per message, default 10000
	MaxArchiveBytes   int64  // decoded size of an archive looked into, and per message of all bytes decompressed beyond the first 4 KiB of each entry (nested archives extracted, solid blocks passed through, entries decrypted), default 50 MiB
	TempDir           string // where big archives are spooled, "" for os.TempDir()
	// KeepText is how many bytes of decoded body text (UTF-8) are kept in
	// TextFacts.Text, for a rule that reads the words of a message (PPAP
	// pairing reads passwords); 0 keeps none.
	KeepText int
}

// DefaultLimits returns the default Limits.
func DefaultLimits() Limits {
	return Limits{
		MaxDepth:          20,
		MaxParts:          1000,
		MaxHeaderBytes:    256 << 10,
		MaxArchiveDepth:   10,
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
	Uninspected []Gap        `json:"uninspected,omitempty"` // what could not be read completely
	Problems    []string     `json:"problems,omitempty"`    // degraded decoding, e.g. `part 1.2: unknown charset "x-foo"`
}

// GapClass says why part of a message was left uninspected.
type GapClass string

// The classes of Gap.
const (
	// GapLimit: an inspection Limit was exceeded (nesting depth, part
	// count, header size, archive entries); the rest was not read.
	GapLimit GapClass = "limit"
	// GapStructure: the MIME structure is ambiguous in a way that mail
	// clients may read differently (a header block that runs into the next
	// boundary after lines that are not fields, a delimiter line with more
	// padding than can be looked at, a multipart body without any
	// delimiter, a message/partial fragment, an undecoded BinHex block).
	GapStructure GapClass = "structure"
	// GapArchive: an archive that was not looked into completely: nested
	// too deep, too big, corrupt, an entry that cannot be read, or a format
	// this package does not open.
	GapArchive GapClass = "archive"
	// GapEncrypted: an encrypted archive or archive entry.
	GapEncrypted GapClass = "encrypted"
	// GapAmbiguous: bytes that mail clients read in more than one way (two
	// boundaries, two file names, a transfer encoding with a second
	// value). Every reading was inspected, and what any of them shows is
	// in the Result: the gap says that the message is crafted or broken,
	// not that anything went unread.
	GapAmbiguous GapClass = "ambiguous"
)

// GapClasses lists every GapClass.
var GapClasses = []GapClass{GapLimit, GapStructure, GapArchive, GapEncrypted, GapAmbiguous}

// Gap is one thing Inspect could not read completely.
type Gap struct {
	Class  GapClass `json:"class"`
	Part   string   `json:"part,omitempty"` // the MIME part, "" for the message as a whole
	Reason string   `json:"reason"`         // e.g. `attachment "a.zip": too deep: archive nesting exceeds 10`
}

// String returns the gap for a log line: "archive: part 2: …".
func (g Gap) String() string {
	if g.Part == "" {
		return string(g.Class) + ": " + g.Reason
	}
	return string(g.Class) + ": part " + g.Part + ": " + g.Reason
}

// Has reports whether the result has a gap of class c.
func (r *Result) Has(c GapClass) bool {
	for _, g := range r.Uninspected {
		if g.Class == c {
			return true
		}
	}
	return false
}

// TextFacts describes the body text: text/plain and text/html parts that are
// not attachments, decoded, HTML reduced to the text a reader sees.
type TextFacts struct {
	Parts    int    `json:"parts"`     // text parts counted as body text
	NonSpace bool   `json:"non_space"` // any visible rune (see IsBlank)
	NonASCII bool   `json:"non_ascii"` // any visible rune above U+007F
	Sample   string `json:"sample"`    // first 120 runes, invisible runs collapsed to one space, for log lines
	// Encrypted: the body is an encrypted S/MIME or PGP/MIME message,
	// whose text only the recipient's key shows (a GapEncrypted says so):
	// it is neither blank nor ASCII-only to the gate.
	Encrypted bool `json:"encrypted,omitempty"`
	// Text is the start of the decoded body text, parts separated by a
	// line break, when Limits.KeepText asks for it. It may hold secrets:
	// it is never printed.
	Text string `json:"-"`
}

// Attachment describes one attachment.
type Attachment struct {
	Part        string   `json:"part"`                  // MIME part path like "1", "1.2", "2.1.3" (IMAP numbering)
	Filename    string   `json:"filename"`              // decoded as Thunderbird shows it
	OtherNames  []string `json:"other_names,omitempty"` // other names a mail client could show (GapAmbiguous)
	Reading     string   `json:"reading,omitempty"`     // found by another reading of the message than Thunderbird's, e.g. `reading boundary "b2"`
	Inline      bool     `json:"inline,omitempty"`      // an unnamed part of multipart/related with a Content-ID or Content-Location: drawn in the body, not listed
	Ext         string   `json:"ext"`                   // see Ext
	ContentType string   `json:"content_type"`          // lower-cased media type
	Size        int64    `json:"size"`                  // decoded size in bytes
	Executable  string   `json:"executable,omitempty"`  // "", "pe", "elf", "macho" or "macho-fat", from the first bytes
	Archive     *Archive `json:"archive,omitempty"`     // non-nil when the content is an archive (by magic bytes), or claims to be one
}

// Archive describes what an archive holds.
type Archive struct {
	Format    string  `json:"format"`            // "zip", "7z", "rar", "tar", "gzip", a registered container's ("xz", "iso", "fat", "tnef", …), or a format not looked into ("arj", …)
	Encrypted bool    `json:"encrypted"`         // any entry encrypted, or the entry list itself
	Entries   []Entry `json:"entries,omitempty"` // files in the archive, directories left out; a gzip archive has one
	Skipped   string  `json:"skipped,omitempty"` // why the archive was not (fully) inspected: too big, too deep, corrupt, too many entries, encrypted entry list
	// Undecryptable: encrypted in a way Sekisho decrypts with no password
	// (a legacy Office document, a PDF): pairing cannot open it.
	Undecryptable bool `json:"undecryptable,omitempty"`
}

// Entry describes one file in an archive.
type Entry struct {
	Name       string   `json:"name"`                  // decoded name, path included
	Ext        string   `json:"ext"`                   // see Ext
	Size       int64    `json:"size"`                  // uncompressed size as recorded in the archive
	OtherNames []string `json:"other_names,omitempty"` // other names a tool could show (GapAmbiguous)
	Executable string   `json:"executable,omitempty"`  // as Attachment.Executable; "" when encrypted and not decrypted
	Encrypted  bool     `json:"encrypted,omitempty"`   // the entry is encrypted
	Decrypted  bool     `json:"decrypted,omitempty"`   // encrypted, and decrypted with a password candidate: read like a plain entry
	Archive    *Archive `json:"archive,omitempty"`     // the entry is itself an archive
}

// maxProblems bounds Result.Problems and Result.Uninspected; maxProblemLen
// bounds one problem or gap reason.
const (
	maxProblems   = 32
	maxProblemLen = 200
)

// Inspect reads a whole message from r and reports its facts. The error is
// only ever an I/O error of r; malformed MIME yields a Result with Problems,
// and what could not be read completely (an exceeded limit included, after
// which the rest is not read) a Result with Uninspected gaps and everything
// found until then.
func Inspect(r io.Reader, lim Limits) (*Result, error) {
	return InspectWithParts(r, lim, nil)
}

// PartSink receives the decoded content of the parts an inspection reads,
// for a scanner that judges parts rather than the raw message (a virus
// scanner that needs neither MIME nor transfer encodings undone again).
type PartSink interface {
	// Part returns where the decoded content of part p goes, nil when p is
	// not to be scanned. The inspection closes it at the part's end.
	Part(p PartInfo) io.WriteCloser
}

// PartInfo describes a part handed to a PartSink.
type PartInfo struct {
	Path        string // MIME part path, as in Attachment.Part
	ContentType string // lower-cased media type
	Filename    string // decoded, "" when none
	Attachment  bool   // an attachment, or a file embedded in text; else text
	// Decrypted marks the decrypted content of an encrypted archive entry
	// (Path is then its attachment's, Filename the entry's name): a
	// scanner cannot open the archive itself.
	Decrypted bool
}

// InspectWithParts is Inspect that also hands the decoded content of every
// leaf part (attachments, files embedded in text, and text parts) to parts.
// Archives are handed over whole, as the attachment holds them.
func InspectWithParts(r io.Reader, lim Limits, parts PartSink) (*Result, error) {
	return inspectMessage(r, lim, parts, nil, nil)
}

// inspectMessage inspects the message r.
func inspectMessage(r io.Reader, lim Limits, parts PartSink, passwords [][]byte, abort <-chan struct{}) (*Result, error) {
	in := newInspector(r, lim, parts, passwords)
	in.abort = abort
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

// InspectWithPasswords is Inspect that decrypts encrypted archive entries
// with password candidates: an entry that one of them decrypts, checked
// against its checksum or authentication code, is read like a plain entry
// (executables and nested archives included) and marked Decrypted; the
// others stay GapEncrypted. Zip (traditional PKWARE and WinZip AES), 7z
// and rar entries are decrypted; 7z and rar entry lists that are encrypted
// themselves are not. The first 16 candidates are tried, the one that
// fitted last first, and at most 256 tries that fail per message. The
// candidates are neither kept nor written anywhere.
func InspectWithPasswords(r io.Reader, lim Limits, passwords [][]byte) (*Result, error) {
	return inspectMessage(r, lim, nil, passwords, nil)
}

// InspectFile inspects the decoded content of one file, such as an
// attachment kept from an earlier message, as Inspect inspects an
// attachment named name of media type contentType: the Result has that one
// attachment (part "1") and its gaps. passwords, which may be nil, are
// tried on encrypted archive entries as by InspectWithPasswords.
func InspectFile(r io.Reader, name, contentType string, lim Limits, passwords [][]byte) (*Result, error) {
	in := newInspector(r, lim, nil, passwords)
	in.attachment(in.trap, strings.ToLower(contentType), []string{name}, "1")
	if in.trap.err != nil {
		return nil, fmt.Errorf("reading file: %w", in.trap.err)
	}
	return in.res, nil
}

// newInspector prepares the inspection of r.
func newInspector(r io.Reader, lim Limits, parts PartSink, passwords [][]byte) *inspector {
	lim = lim.withDefaults()
	in := &inspector{
		scan:         parts,
		lim:          lim,
		res:          &Result{},
		trap:         &errTrap{r: r},
		entryBudget:  lim.MaxArchiveEntries,
		unpackBudget: lim.MaxArchiveBytes,
		passwords:    passwords[:min(len(passwords), maxPasswords)],
		readings:     new(int),
	}
	in.text.f = &in.res.Text
	in.text.keep = lim.KeepText
	return in
}

// inspector is the state of one Inspect call.
type inspector struct {
	scan         PartSink
	lim          Limits
	res          *Result
	trap         *errTrap
	text         textCollector
	parts        int
	halted       bool
	entryBudget  int
	unpackBudget int64           // bytes left to decompress beyond entry heads; see Limits.MaxArchiveBytes
	passwords    [][]byte        // candidates for encrypted archive entries
	fits         int             // index of the candidate that fitted last
	misses       int             // password tries that failed
	decryptTime  time.Duration   // spent trying candidates
	abort        <-chan struct{} // closed when the inspection is aborted; nil for none
	readings     *int            // other readings made of the message, shared with theirs (see alsoRead)
	listed       bool            // the part about to be read is one Thunderbird lists as an attachment (see bodyText)
	related      bool            // the part about to be read is a part of multipart/related after its root
}

// stopped reports whether the walk must end: a limit stopped it or r failed.
func (in *inspector) stopped() bool {
	return in.halted || in.trap.err != nil
}

// gap records something left uninspected, bounded in count and length; a
// gap of the same class and reason is recorded once.
func (in *inspector) gap(c GapClass, part, reason string) {
	reason = clipText(reason)
	for _, g := range in.res.Uninspected {
		if g.Class == c && g.Reason == reason {
			return
		}
	}
	switch n := len(in.res.Uninspected); {
	case n > maxProblems:
		return
	case n == maxProblems:
		part, reason = "", "further gaps left out"
	}
	in.res.Uninspected = append(in.res.Uninspected, Gap{Class: c, Part: part, Reason: reason})
}

// stop records an exceeded limit and ends the walk.
func (in *inspector) stop(part, reason string) {
	in.gap(GapLimit, part, reason)
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
	in.res.Problems = append(in.res.Problems, clipText(msg))
}

// clipText makes msg valid UTF-8 of at most maxProblemLen bytes.
func clipText(msg string) string {
	msg = strings.ToValidUTF8(msg, "\uFFFD")
	if len(msg) > maxProblemLen {
		cut := maxProblemLen
		for cut > 0 && !utf8.RuneStart(msg[cut]) {
			cut--
		}
		msg = msg[:cut] + "…"
	}
	return msg
}

// countPart counts one header block against MaxParts.
func (in *inspector) countPart(path string) bool {
	in.parts++
	if in.parts > in.lim.MaxParts {
		in.stop(path, fmt.Sprintf("part count exceeds %d", in.lim.MaxParts))
		return false
	}
	return true
}

// header reads the header block of the message or part at path; false
// means the walk must stop.
func (in *inspector) header(br *bufio.Reader, path string, message bool) (textproto.Header, headerBlock, bool) {
	h, info := readHeader(br, in.lim.MaxHeaderBytes, message)
	if info.tooBig {
		in.stop(path, fmt.Sprintf("header exceeds %d bytes", in.lim.MaxHeaderBytes))
		return h, info, false
	}
	if info.mboxFrom {
		in.problem(fmt.Sprintf("%s: mbox From line skipped", where(path)))
	}
	for _, l := range info.skipped {
		in.problem(fmt.Sprintf("%s: header line skipped: %q", where(path), l))
	}
	if info.unended && len(info.skipped) > 0 {
		in.gap(GapStructure, path, "header block runs into the end of the part after lines that are not header fields: they may be content")
	}
	return h, info, true
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
	if in.stopped() || !in.countPart(prefix) {
		return
	}
	if depth > in.lim.MaxDepth {
		in.stop(prefix, fmt.Sprintf("nesting depth exceeds %d", in.lim.MaxDepth))
		return
	}
	br := newReader(r)
	defer freeReader(br)
	h, _, ok := in.header(br, prefix, true)
	if !ok {
		return
	}
	if prefix == "" && h.Has("Subject") {
		in.res.HasSubject = true
		in.res.Subject = DecodeHeader(h.Get("Subject"))
	}
	in.part(h, br, join(prefix, 1), prefix, depth, inAttach, false)
}

// part handles one entity: path is its own number, prefix the one its
// children are numbered under (they differ only for a message's root). In
// a multipart/digest (digest set) a part without Content-Type is a
// message/rfc822 (RFC 2046 section 5.1.5). The header is read as
// Thunderbird reads it (see partHeader); where another client would read
// it otherwise, that reading is made too (see alsoRead).
func (in *inspector) part(h textproto.Header, body io.Reader, path, prefix string, depth int, inAttach, digest bool) {
	listed, related := in.listed, in.related
	in.listed, in.related = false, false
	if in.stopped() {
		return
	}
	if depth > in.lim.MaxDepth {
		in.stop(path, fmt.Sprintf("nesting depth exceeds %d", in.lim.MaxDepth))
		return
	}
	ph := in.partHeader(h, path, digest)
	for _, alt := range ph.others {
		var finish func()
		body, finish = in.alsoRead(body, path, alt.label, func(c *inspector, r io.Reader) {
			c.part(alt.h, r, path, prefix, depth, inAttach, digest)
		})
		defer finish()
	}
	mt := ph.mt
	if strings.HasPrefix(mt, "multipart/") {
		in.multipart(mt, ph.ctParams, body, prefix, depth, inAttach)
		return
	}
	names := ph.names
	isMessage := mt == "message/rfc822" || mt == "message/global" || mt == "message/news"
	attach := ph.disp == "attachment" || len(names) > 0 || (!strings.HasPrefix(mt, "text/") && !strings.HasPrefix(mt, "message/"))
	switch {
	case isSMIME(mt, names):
		in.smime(in.transferDecoder(ph.cte, body, path), ph.ctParams, path, depth, inAttach)
		return
	case isSignature(mt) && len(names) == 0:
		// A detached signature (RFC 1847, RFC 8551): clients show that the
		// message is signed, not a file to save.
		attach = false
	}
	if !isMessage && retypedMessage(mt, names) {
		// Thunderbird's mime_create (mimei.cpp) retypes an octet-stream
		// named *.eml as message/rfc822 unless it is base64; the desktop
		// opens a saved .eml in the mail client in any case.
		isMessage = true
	}
	if attach && related && len(names) == 0 && (h.Has("Content-Id") || h.Has("Content-Location")) {
		// A part of multipart/related that the HTML refers to by
		// Content-ID or Content-Location is drawn in the body, not listed
		// as an attachment (mimemrel.cpp): an inline image of a newsletter
		// or an Outlook signature.
		defer in.markInline(path, len(in.res.Attachments))
	}
	if attach && !isMessage && mt != "message/partial" && ph.cte == "base64" {
		in.base64Attachment(body, mt, names, path)
		return
	}
	decoded := in.transferDecoder(ph.cte, body, path)

	switch {
	case mt == "message/partial":
		// RFC 2046 section 5.2.2: a fragment of a message sent in pieces,
		// which some clients join; none of its pieces can be judged alone.
		in.gap(GapStructure, path, "message/partial fragment: the whole message is only seen once joined")
		in.attachment(decoded, mt, names, path)
	case isMessage:
		in.nestedMessage(decoded, mt, names, path, depth, inAttach, attach)
	case attach:
		in.attachment(decoded, mt, names, path)
	case !inAttach && (mt == "text/plain" || mt == "text/html"):
		in.bodyText(decoded, mt == "text/html", ph.charset, path, listed)
	case mt == "text/plain":
		// The text of an attached message: not body text, but a file
		// embedded in it is still a file.
		in.embedded(decoded, path, listed)
	default:
		io.Copy(io.Discard, decoded)
	}
}

// isSMIME reports whether a part is an S/MIME message (RFC 8551 section
// 3.2): application/pkcs7-mime, or the octet-stream named smime.p7m that
// some agents send. Another file named *.p7m is a signed file (CAdES),
// not a message: it stays an attachment, judged as one.
func isSMIME(mt string, names []string) bool {
	switch mt {
	case "application/pkcs7-mime", "application/x-pkcs7-mime":
		return true
	}
	return slices.ContainsFunc(names, func(n string) bool { return strings.EqualFold(n, "smime.p7m") })
}

// isSignature reports whether mt is a detached signature's media type.
func isSignature(mt string) bool {
	switch mt {
	case "application/pgp-signature", "application/pkcs7-signature", "application/x-pkcs7-signature":
		return true
	}
	return false
}

// markInline marks the attachments of part path listed from index from
// on as drawn in the body.
func (in *inspector) markInline(path string, from int) {
	for i := from; i < len(in.res.Attachments); i++ {
		if in.res.Attachments[i].Part == path {
			in.res.Attachments[i].Inline = true
		}
	}
}

// retypedMessage reports whether a part of media type mt named names is
// read as a message: an octet-stream (or untyped) file named *.eml.
func retypedMessage(mt string, names []string) bool {
	if mt != "application/octet-stream" && mt != "application/x-unknown-content-type" {
		return false
	}
	return slices.ContainsFunc(names, func(n string) bool { return Ext(n) == "eml" })
}

// partHead is a part header as Thunderbird reads it, and the other
// readings of it that another client could make.
type partHead struct {
	mt       string   // media type
	ctParams []param  // Content-Type parameters
	disp     string   // Content-Disposition value, lower-cased
	names    []string // file names, Thunderbird's first (see partNames)
	cte      string   // transfer encoding, lower-cased (see transferEncoding)
	charset  string   // charset parameter, as written
	others   []otherHead
}

// otherHead is another reading of a part header: the header as that
// reading takes it.
type otherHead struct {
	label string
	h     textproto.Header
}

// partHeader reads the header of the part at path. The Content-Type is the
// first field's first token (see fieldToken and mediaType); a second field
// that says otherwise, or a transfer encoding with a second value, is
// another reading, and names that disagree are GapAmbiguous.
func (in *inspector) partHeader(h textproto.Header, path string, digest bool) partHead {
	cts := h.Values("Content-Type")
	ct := ""
	if len(cts) > 0 {
		ct = cts[0]
	}
	tok, ctParams := parseParams(ct)
	ph := partHead{mt: mediaType(tok), ctParams: ctParams}
	switch {
	case ph.mt == "" && digest:
		ph.mt = "message/rfc822"
	case ph.mt == "" || ph.mt == "text":
		ph.mt = "text/plain"
	case !strings.Contains(ph.mt, "/"):
		// Thunderbird shows a part of a type it cannot place as a file
		// (mimeExternalObjectClass).
		in.problem(fmt.Sprintf("%s: invalid content type %q, read as a file", where(path), ph.mt))
		ph.mt = "application/octet-stream"
	}
	for _, v := range cts[min(1, len(cts)):] {
		if v != ct {
			in.gap(GapAmbiguous, path, fmt.Sprintf("two Content-Type fields, %s: each is read", quoteList([]string{ct, v})))
			ph.others = append(ph.others, otherHead{label: fmt.Sprintf("reading Content-Type %q", clipText(v)), h: withField(h, "Content-Type", v)})
		}
	}
	if bs := paramValues(ctParams, "boundary", false); len(bs) > 1 && strings.HasPrefix(ph.mt, "multipart/") {
		in.gap(GapAmbiguous, path, fmt.Sprintf("boundaries %s: each is read", quoteList(bs)))
	}
	var dParams []param
	ds := h.Values("Content-Disposition")
	if len(ds) > 0 {
		ph.disp, dParams = parseParams(ds[0])
	}
	for _, v := range ds[min(1, len(ds)):] {
		if v == ds[0] {
			continue
		}
		// A client that takes another field shows its name and
		// disposition: both are judged.
		in.gap(GapAmbiguous, path, fmt.Sprintf("two Content-Disposition fields, %s: each is read", quoteList([]string{ds[0], v})))
		d, ps := parseParams(v)
		if d == "attachment" {
			ph.disp = d
		}
		dParams = append(dParams, ps...)
	}
	ph.names = partNames(h, dParams, ctParams)
	if len(ph.names) > 1 {
		in.gap(GapAmbiguous, path, fmt.Sprintf("file names %s: each is judged", quoteList(ph.names)))
	}
	if cs := paramValues(ctParams, "charset", false); len(cs) > 0 {
		ph.charset = cs[0]
	}
	var alts []string
	ph.cte, alts = transferEncoding(h)
	for _, alt := range alts {
		in.gap(GapAmbiguous, path, fmt.Sprintf("transfer encoding %q also reads as %q: each is read", ph.cte, alt))
		ph.others = append(ph.others, otherHead{label: fmt.Sprintf("reading transfer encoding %q", alt), h: withField(h, "Content-Transfer-Encoding", alt)})
	}
	return ph
}

// withField returns a copy of h with field k set to v alone.
func withField(h textproto.Header, k, v string) textproto.Header {
	c := h.Copy()
	c.Set(k, v)
	return c
}

// partNames returns the file names mail clients could show for a part,
// Thunderbird's first: MimeHeaders_get_name (mimehdrs.cpp) takes the
// Content-Disposition filename, then the Content-Type name, then the
// Content-Name and X-Sun-Data-Name fields; every reading of each (see
// paramValues) follows, since Outlook and others read them in another
// order.
func partNames(h textproto.Header, dParams, ctParams []param) []string {
	var names []string
	add := func(vs ...string) {
		for _, v := range vs {
			if v != "" && !slices.Contains(names, v) && len(names) < maxReadingsOfParam {
				names = append(names, v)
			}
		}
	}
	add(paramValues(dParams, "filename", true)...)
	add(paramValues(ctParams, "name", true)...)
	for _, k := range []string{"Content-Name", "X-Sun-Data-Name"} {
		if v := strings.TrimSpace(h.Get(k)); v != "" {
			add(DecodeHeader(v))
		}
	}
	return names
}

// transferEncodingClass groups transfer encodings by how they decode.
func transferEncodingClass(cte string) string {
	switch {
	case cte == "base64" || cte == "quoted-printable":
		return cte
	case isEmbeddedEncoding(cte):
		return "embedded"
	}
	return "identity"
}

// transferEncoding returns the Content-Transfer-Encoding as Thunderbird
// reads it: the first token of the first field (see fieldToken),
// lower-cased; "uuencode", "uue" and "x-uue" are x-uuencode, as in
// mimei.cpp. alts are the other encodings a client could apply that decode
// otherwise: a second value in the field (comments in parentheses left
// out, RFC 2045 section 6.1) or a second field.
func transferEncoding(h textproto.Header) (cte string, alts []string) {
	vs := h.Values("Content-Transfer-Encoding")
	if len(vs) == 0 {
		return "", nil
	}
	tok, rest := fieldToken(vs[0])
	cte = normalEncoding(tok)
	var others []string
	for _, w := range strings.FieldsFunc(stripComments(rest), func(r rune) bool { return r == ';' || r == ',' || r == ' ' || r == '\t' || r == '\r' || r == '\n' }) {
		others = append(others, normalEncoding(w))
	}
	for _, v := range vs[1:] {
		t, _ := fieldToken(v)
		others = append(others, normalEncoding(t))
	}
	seen := []string{transferEncodingClass(cte)}
	for _, o := range others {
		if c := transferEncodingClass(o); !slices.Contains(seen, c) {
			seen = append(seen, c)
			alts = append(alts, o)
		}
	}
	return cte, alts
}

// normalEncoding lower-cases an encoding token and gives the uuencode
// aliases their one name.
func normalEncoding(tok string) string {
	tok = strings.ToLower(tok)
	switch tok {
	case "uuencode", "uue", "x-uue":
		return "x-uuencode"
	}
	return tok
}

// stripComments removes RFC 822 comments, "(…)", nested or not.
func stripComments(s string) string {
	if !strings.Contains(s, "(") {
		return s
	}
	var b strings.Builder
	depth := 0
	for i := 0; i < len(s); i++ {
		switch c := s[i]; {
		case c == '(':
			depth++
		case c == ')' && depth > 0:
			depth--
		case depth == 0:
			b.WriteByte(c)
		}
	}
	return b.String()
}

// multipart walks the parts of a multipart body (RFC 2046 section 5.1).
func (in *inspector) multipart(mt string, params []param, body io.Reader, prefix string, depth int, inAttach bool) {
	bs := paramValues(params, "boundary", false)
	for _, b := range bs[min(1, len(bs)):] {
		var finish func()
		body, finish = in.alsoRead(body, prefix, fmt.Sprintf("reading boundary %q", clipText(b)), func(c *inspector, r io.Reader) {
			c.multipartWith(mt, b, r, prefix, depth, inAttach)
		})
		defer finish()
	}
	boundary := ""
	if len(bs) > 0 {
		boundary = bs[0]
	}
	in.multipartWith(mt, boundary, body, prefix, depth, inAttach)
}

// multipartWith walks the parts of a multipart body split by boundary.
func (in *inspector) multipartWith(mt, boundary string, body io.Reader, prefix string, depth int, inAttach bool) {
	if boundary == "" {
		in.problem(fmt.Sprintf("%s: %s without boundary, read as text", where(prefix), mt))
		if inAttach {
			in.embedded(body, prefix, false)
			return
		}
		in.bodyText(body, false, "", prefix, false)
		return
	}
	if mt == "multipart/encrypted" {
		// RFC 1847 section 2.2 (PGP/MIME, RFC 3156): the parts are a
		// control part and the ciphertext, which only the recipient's key
		// opens; neither is a file or text the gate could read.
		in.encrypted(prefix, "PGP/MIME encrypted message: only the recipient's key opens it", inAttach)
		io.Copy(io.Discard, body)
		return
	}
	digest := mt == "multipart/digest"
	s := newPartScanner(body, boundary)
	defer s.free()
	n := 0
	for !in.stopped() {
		r, err := s.next()
		if err != nil {
			// io.EOF, or an I/O error that the errTrap keeps.
			break
		}
		if !in.multipartPart(s, r, prefix, &n, depth, inAttach, digest, mt == "multipart/alternative", mt == "multipart/related") {
			return
		}
	}
	if in.stopped() {
		return
	}
	switch {
	case s.found == 0 && !s.skipped:
		// Nothing but white space: an empty multipart hides nothing.
		in.problem(fmt.Sprintf("%s: empty %s", where(prefix), mt))
	case s.found == 0:
		in.gap(GapStructure, prefix, fmt.Sprintf("%s without a single delimiter of its boundary %q", mt, clipText(boundary)))
	case !s.closed:
		in.problem(fmt.Sprintf("%s: closing boundary missing after part %d", where(prefix), n))
	}
	if s.ambiguous {
		in.gap(GapStructure, prefix, fmt.Sprintf("a delimiter line has more than %d bytes of padding", maxPadding))
	}
}

// multipartPart reads the part r of a multipart body, numbered after *n;
// false means the walk must stop.
func (in *inspector) multipartPart(s *partScanner, r io.Reader, prefix string, n *int, depth int, inAttach, digest, alternative, related bool) bool {
	after := s.closed
	br := newReader(r)
	defer freeReader(br)
	path := join(prefix, *n+1)
	h, info, ok := in.header(br, path, false)
	if !ok {
		return false
	}
	if len(h.Map()) == 0 && len(info.skipped) == 0 {
		if _, err := br.Peek(1); err == io.EOF {
			// Nothing between two delimiters (a repeated boundary line):
			// no part, as in Thunderbird.
			return true
		}
	}
	*n++
	if !in.countPart(path) {
		return false
	}
	if after {
		in.problem(fmt.Sprintf("%s: part %d follows the closing boundary", where(prefix), *n))
	}
	in.listed = *n > 1 && !alternative
	in.related = *n > 1 && related
	in.part(h, br, path, path, depth+1, inAttach, digest)
	if in.stopped() {
		return false
	}
	io.Copy(io.Discard, br)
	return true
}

// transferDecoder undoes the Content-Transfer-Encoding cte (RFC 2045
// section 6).
func (in *inspector) transferDecoder(cte string, body io.Reader, path string) io.Reader {
	switch cte {
	case "base64":
		return &base64Reader{r: body}
	case "quoted-printable":
		return newQPReader(body)
	case "", "7bit", "8bit", "binary":
		return body
	}
	if isEmbeddedEncoding(cte) {
		return newEmbeddedDecoder(body)
	}
	in.problem(fmt.Sprintf("%s: unknown transfer encoding %q, read as is", where(path), cte))
	return body
}

// bodyText scans one body text part; files embedded in plain text are
// listed as attachments.
func (in *inspector) bodyText(body io.Reader, isHTML bool, label, path string, listed bool) {
	var emb *embedScanner
	if !isHTML {
		emb = in.embedScanner(path)
		body = io.TeeReader(body, emb)
	}
	mt := "text/plain"
	if isHTML {
		mt = "text/html"
	}
	if w := in.scanPart(path, mt, "", listed); w != nil {
		defer w.Close()
		body = io.TeeReader(body, w)
	}
	if listed {
		// A text part Thunderbird lists as an attachment is body text
		// and, when its content is an executable, an attachment too. It
		// goes to a scanner as an attachment.
		defer in.listedText(&body, path, mt)()
	}
	br := newReader(body)
	defer freeReader(br)
	r, known := textReader(br, label)
	if !known {
		in.problem(fmt.Sprintf("%s: unknown charset %q", where(path), label))
	}
	in.res.Text.Parts++
	err := scanText(r, isHTML, &in.text)
	in.text.endPart()
	if err != nil {
		in.problem(fmt.Sprintf("%s: decoding: %v", where(path), err))
	}
	// What the charset decoder left unread still counts.
	io.Copy(io.Discard, body)
	if emb != nil {
		emb.flush()
	}
}

// headKeeper keeps the first headSize bytes written to it and counts all.
type headKeeper struct {
	head []byte
	n    int64
}

func (k *headKeeper) Write(p []byte) (int, error) {
	if len(k.head) < headSize {
		k.head = append(k.head, p[:min(len(p), headSize-len(k.head))]...)
	}
	k.n += int64(len(p))
	return len(p), nil
}

// scanPart opens the scan of a part, nil when there is no scanner or it
// does not want the part.
func (in *inspector) scanPart(path, mt, name string, attachment bool) io.WriteCloser {
	if in.scan == nil {
		return nil
	}
	return in.scan.Part(PartInfo{Path: path, ContentType: mt, Filename: name, Attachment: attachment})
}

// embedded reads text that is not body text only for the files embedded
// in it.
func (in *inspector) embedded(body io.Reader, path string, listed bool) {
	emb := in.embedScanner(path)
	var dst io.Writer = emb
	if w := in.scanPart(path, "text/plain", "", listed); w != nil {
		defer w.Close()
		dst = io.MultiWriter(emb, w)
	}
	if listed {
		defer in.listedText(&body, path, "text/plain")()
	}
	io.Copy(dst, body)
	emb.flush()
}

// listedText makes *body also keep the head of a text part that
// Thunderbird lists as an attachment (BuildAttachmentList, mimemoz2.cpp),
// which the reader can save; the returned function lists the part as an
// attachment when that head is an executable's.
func (in *inspector) listedText(body *io.Reader, path, mt string) func() {
	k := &headKeeper{}
	*body = io.TeeReader(*body, k)
	return func() {
		if kind := sniffExec(k.head); kind != "" {
			in.res.Attachments = append(in.res.Attachments, Attachment{Part: path, ContentType: mt, Size: k.n, Executable: kind})
		}
	}
}

// embedScanner returns a scanner that lists the files embedded in the text
// of part path as attachments.
func (in *inspector) embedScanner(path string) *embedScanner {
	var a Attachment
	var k *sink
	var w io.WriteCloser
	e := &embedScanner{}
	e.open = func(name, contentType string) io.Writer {
		a = Attachment{Part: path, Filename: name, Ext: Ext(name), ContentType: contentType}
		k = in.newSink(name, contentType)
		if e.kind == embedBinHex {
			in.gap(GapStructure, path, "BinHex block in the text is not decoded")
		}
		if w = in.scanPart(path, contentType, name, true); w != nil {
			return io.MultiWriter(k, w)
		}
		return k
	}
	e.close = func() {
		if w != nil {
			w.Close()
			w = nil
		}
		in.finishAttachment(a, k)
	}
	return e
}

// newAttachment starts the Attachment of part path, of media type mt, with
// the file names a client could show, Thunderbird's first.
func newAttachment(path, mt string, names []string) Attachment {
	a := Attachment{Part: path, ContentType: mt}
	if len(names) > 0 {
		a.Filename = names[0]
		a.Ext = Ext(names[0])
		if len(names) > 1 {
			a.OtherNames = names[1:]
		}
	}
	return a
}

// newSink returns the sink an attachment's decoded content is written to.
func (in *inspector) newSink(name, mt string) *sink {
	return &sink{
		claims:   claimedArchive(Ext(name), mt),
		newSpool: func() *spool { return &spool{dir: in.lim.TempDir, max: in.lim.MaxArchiveBytes} },
	}
}

// attachment decodes one attachment: size, magic bytes, archive contents.
func (in *inspector) attachment(body io.Reader, mt string, names []string, path string) {
	a := newAttachment(path, mt, names)
	k := in.newSink(a.Filename, mt)
	var dst io.Writer = k
	w := in.scanPart(path, mt, a.Filename, true)
	if w != nil {
		dst = io.MultiWriter(k, w)
	}
	if _, err := io.Copy(dst, body); err != nil {
		in.problem(fmt.Sprintf("%s: decoding: %v", where(path), err))
	}
	if w != nil {
		w.Close()
	}
	in.finishAttachment(a, k)
}

// base64Attachment reads a base64 attachment: decoded while its sink wants
// content, counted after that.
func (in *inspector) base64Attachment(body io.Reader, mt string, names []string, path string) {
	a := newAttachment(path, mt, names)
	k := in.newSink(a.Filename, mt)
	w := in.scanPart(path, mt, a.Filename, true)
	size, err := decodeBase64(body, k, w)
	if w != nil {
		w.Close()
	}
	if err != nil {
		in.problem(fmt.Sprintf("%s: decoding: %v", where(path), err))
	}
	k.n = size
	in.finishAttachment(a, k)
}

// finishAttachment completes an attachment from what its sink saw and
// lists it.
func (in *inspector) finishAttachment(a Attachment, k *sink) {
	k.end()
	a.Size = k.n
	a.Executable = sniffExec(k.head)
	a.Archive = in.archive(k, a.Filename, attachmentName(a), a.Part)
	in.res.Attachments = append(in.res.Attachments, a)
}

// attachmentName names an attachment in gap reasons.
func attachmentName(a Attachment) string {
	if a.Filename == "" {
		return "unnamed attachment"
	}
	return fmt.Sprintf("attachment %q", a.Filename)
}

// nestedMessage handles a message/rfc822 part: listed as an attachment when
// it is one, and walked in any case. The text of a message that is attached
// is not body text.
func (in *inspector) nestedMessage(body io.Reader, mt string, names []string, path string, depth int, inAttach, attach bool) {
	cr := &countingReader{r: body}
	idx := -1
	if attach {
		idx = len(in.res.Attachments)
		in.res.Attachments = append(in.res.Attachments, newAttachment(path, mt, names))
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

// errHeaderTooBig is returned by readLine past its budget.
var errHeaderTooBig = errors.New("header too big")
