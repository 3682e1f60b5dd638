package mime

import (
	"archive/zip"
	"bytes"
	"encoding/binary"
	"errors"
	"fmt"
	"io"
	"slices"
	"strings"
	"time"
	"unicode/utf8"

	"github.com/sekisho/sekisho/policy/mime/zipcrypt"
)

// Archive formats reported in Archive.Format, besides those of the
// registered containers (see container). A .tar.gz is a gzip archive
// whose one entry is a tar archive.
const (
	FormatZip  = "zip"
	Format7z   = "7z"
	FormatRar  = "rar"
	FormatTar  = "tar"
	FormatGzip = "gzip"
)

// opens reports whether archives of format are looked into.
func opens(format string) bool {
	switch format {
	case FormatZip, Format7z, FormatRar, FormatTar, FormatGzip:
		return true
	}
	return containers[format] != nil
}

// A container is a format looked into beyond those of inspectArchive's
// switch, each in a file of its own that registers it (registerContainer):
// how it is told by content, which names and media types claim it, and
// how its entries are listed. Formats are sniffed in the order of their
// names, after the magic bytes of archiveMagic.
type container struct {
	format string
	// sniff reports whether head, the first headSize bytes of a file
	// (fewer for a smaller file), start an archive of this format; nil
	// when archiveMagic tells it.
	sniff func(head []byte) bool
	// weakSniff: sniff only tells that the content may be of the format
	// (a disc image's descriptors lie beyond the head). An attachment it
	// takes is kept whole and opened; an archive entry only when its name
	// claims the format, since extracting every entry that starts with
	// zeros would spend the budget of nested archives on data files.
	weakSniff bool
	// document: the format is a document that may be encrypted or embed
	// files, not an archive: content too big to spool is left as it was
	// before it was looked into, a plain file, with no gap.
	document bool
	exts     []string // file extensions that claim the format
	types    []string // media types that claim it
	// open returns a walker of the entries of the archive in ra (size
	// bytes), named fileName; errNotContainer when the content is not of
	// the format after all (a sniff that needs more than the head). A
	// walker that is an io.Closer is closed after the walk.
	open func(ra io.ReaderAt, size int64, fileName string) (arcWalker, error)
}

// containers are the registered containers by format; sniffOrder their
// formats in the order they are sniffed.
var (
	containers = map[string]*container{}
	sniffOrder []string
)

// registerContainer adds c to the formats looked into.
func registerContainer(c *container) {
	containers[c.format] = c
	for _, e := range c.exts {
		archiveExts[e] = c.format
	}
	for _, t := range c.types {
		archiveTypes[t] = c.format
	}
	if c.sniff != nil {
		sniffOrder = append(sniffOrder, c.format)
		slices.Sort(sniffOrder)
	}
}

// entryFormat is sniffArchive for an archive entry whose name claims the
// format claims: a weak sniff counts only when the name says the same.
func entryFormat(head []byte, claims string) string {
	f := claimFirst(sniffArchive(head), claims)
	if c := containers[f]; c != nil && c.weakSniff && claims != f {
		return ""
	}
	return f
}

// claimFirst is the format sniffed, unless it is a document's and the
// name or media type claims an archive format: the file is then read as
// that archive, as the desktop opens it.
func claimFirst(sniffed, claims string) string {
	if c := containers[sniffed]; c != nil && c.document && claims != "" && claims != sniffed && opens(claims) {
		return ""
	}
	return sniffed
}

// errNotContainer: content sniffed as a container format turned out not
// to be one; it is read as a plain file.
var errNotContainer = errors.New("not an archive of this format")

// zip general purpose flag bits (APPNOTE.TXT 4.4.4).
const (
	zipFlagEncrypted = 0x1
	zipFlagUTF8      = 0x800
)

// Password candidates: how many are tried, and how many tries that do not
// fit are allowed per message. A try costs a key derivation (up to 2^24
// SHA-256 rounds for 7z), so both are bounded.
const (
	maxPasswords      = 16
	maxPasswordMisses = 256
)

// maxDecryptTime bounds the time spent trying candidates on the encrypted
// archives of one message, the tries that fit included: a key derivation
// may be made to cost seconds (7z up to 2^24 SHA-256 rounds, RAR 5 up to
// 2^24 PBKDF2 rounds), each entry with a salt of its own. What is left
// stays encrypted. A variable for the tests.
var maxDecryptTime = 5 * time.Second

// maxDictionary bounds the dictionary (window) a decompressor of a 7z or
// rar entry may allocate. A dictionary is never bigger than what it
// decompresses, so smaller entries clamp it; bigger ones fail, as too big.
const maxDictionary = 64 << 20

// arcEntry is one entry of an archive, as the reader of its format gives it.
type arcEntry struct {
	name      string   // decoded
	other     []string // other names a tool could show (a zip's Unicode Path field)
	size      int64    // uncompressed size as recorded
	dir       bool     // a directory, or an entry that holds no file: skipped
	encrypted bool
	// prepaid: decompressing the entry is charged to the budget already
	// (an entry of a solid block).
	prepaid bool
	// open returns the content; nil for an entry without content (a link).
	// With sequential formats it is valid until the next entry is asked for.
	open func() (io.ReadCloser, error)
	// decrypt opens an encrypted entry with a password candidate. The
	// content is checked (checksum, authentication code) once read to its
	// end: a reader that ends without error had the right password. nil
	// when the entry cannot be decrypted; noDecrypt then says why.
	decrypt   func(password []byte) (io.ReadCloser, error)
	noDecrypt string
	// locked says what is encrypted, for gap reasons ("encrypted Office
	// document (…)"); "" for an archive entry.
	locked string
}

// arcWalker gives the entries of an archive one by one.
type arcWalker interface {
	// next returns the next entry, io.EOF after the last one, an
	// *arcStop when the rest of the archive is not read for a reason of
	// its own, or another error when the archive is corrupt.
	next() (*arcEntry, error)
}

// arcStop ends the walk of an archive with a gap of its own class.
type arcStop struct {
	class     GapClass
	why       string
	encrypted bool
	// sealed: encrypted in a way no password candidate is tried on
	// (Archive.Undecryptable).
	sealed bool
}

func (s *arcStop) Error() string { return s.why }

// archive looks into the content a sink saw when it is an archive, or
// claims to be one, and records what could not be looked into. fileName
// is the attachment's file name; name and part say where the content is,
// for the gaps.
func (in *inspector) archive(k *sink, fileName, name, part string) *Archive {
	format := claimFirst(sniffArchive(k.head), k.claims)
	if sp := k.spool; sp != nil {
		defer sp.release()
		claimed := format == "" && opens(k.claims)
		if opens(format) || claimed {
			if claimed {
				format = k.claims
			}
			var a *Archive
			if c := containers[format]; c != nil && c.document && (sp.tooBig || sp.err != nil) {
				return nil
			}
			switch {
			case sp.tooBig:
				a = &Archive{Format: format, Skipped: fmt.Sprintf("too big: %d bytes, %d allowed", sp.size(), sp.max)}
			case sp.err != nil:
				a = &Archive{Format: format, Skipped: sp.err.Error()}
			default:
				return in.inspectArchive(format, sp.readerAt(), sp.size(), 1, fileName, name, part, claimed)
			}
			in.gap(GapArchive, part, name+": "+a.Skipped)
			return a
		}
	}
	return in.otherFormat(format, k.claims, name, part)
}

// otherFormat records an archive that is not opened: a format that is not
// looked into, or content that claims an archive format and has none.
func (in *inspector) otherFormat(format, claims, name, part string) *Archive {
	switch {
	case format != "" && !opens(format):
		a := &Archive{Format: format, Skipped: "format not looked into"}
		in.gap(GapArchive, part, fmt.Sprintf("%s: %s archive not looked into", name, format))
		return a
	case format == "" && claims != "":
		a := &Archive{Format: claims, Skipped: "content is not a " + claims + " archive"}
		in.gap(GapArchive, part, fmt.Sprintf("%s: named or typed as a %s archive, but its content is no archive format known", name, claims))
		return a
	}
	return nil
}

// inspectArchive lists the archive of format in ra (size bytes) at archive
// nesting depth (1 for an attachment). fileName is the archive's own file
// name (a gzip entry without a name of its own is named after it). claimed
// says the content only claims to be of format (by name or media type),
// without its magic bytes.
func (in *inspector) inspectArchive(format string, ra io.ReaderAt, size int64, depth int, fileName, name, part string, claimed bool) (a *Archive) {
	a = &Archive{Format: format}
	if depth > in.lim.MaxArchiveDepth {
		in.skip(a, GapArchive, name, part, fmt.Sprintf("too deep: archive nesting exceeds %d", in.lim.MaxArchiveDepth))
		return a
	}
	defer func() {
		// The readers of 7z and rar archives are others' code, reading
		// input made to break them: a panic in one is an archive that
		// cannot be read, not a process down.
		if p := recover(); p != nil {
			in.skip(a, GapArchive, name, part, fmt.Sprintf("cannot be read: the %s reader failed", format))
		}
	}()
	var w arcWalker
	var err error
	switch format {
	case FormatZip:
		w, err = in.zipWalker(a, ra, size, name, part, claimed)
	case FormatTar:
		w, err = newTarWalker(ra, size)
	case FormatGzip:
		var gw *gzipWalker
		gw, err = newGzipWalker(ra, size, fileName)
		if gw != nil {
			defer gw.close()
			w = gw
		}
	case Format7z:
		w, err = in.sevenZipWalker(a, ra, size)
	case FormatRar:
		w, err = in.rarWalker(ra, size)
	default:
		if c := containers[format]; c != nil {
			w, err = c.open(ra, size, fileName)
			if cl, ok := w.(io.Closer); ok {
				defer cl.Close()
			}
			if b, ok := w.(budgetUser); ok {
				b.useBudget(&in.unpackBudget)
			}
		}
	}
	if errors.Is(err, errNotContainer) && !claimed {
		return nil
	}
	if f, ok := w.(interface{ actualFormat() string }); ok {
		// A compound file is reported as what it turned out to be.
		a.Format = f.actualFormat()
	}
	var stop *arcStop
	switch {
	case errors.As(err, &stop):
		in.stopAt(a, stop, name, part)
	case err != nil && claimed:
		in.skip(a, GapArchive, name, part, fmt.Sprintf("named or typed as a %s archive, but its content is no archive format known", format))
	case err != nil:
		in.skip(a, GapArchive, name, part, "corrupt: "+err.Error())
	case w != nil:
		in.walk(a, w, depth, name, part)
	}
	if format != FormatZip && claimedArchive(Ext(fileName), "") == FormatZip && hasZipDirectory(ra, size) {
		// A zip appended to another archive opens as a zip in the tools
		// of a file named .zip (archive/zip, Info-ZIP, 7-Zip with the
		// type given): what they show is read too, as an entry of the
		// file's own name.
		in.problem(fmt.Sprintf("%s: %s content, also read as the zip its name says", where(part), format))
		z := in.inspectArchive(FormatZip, ra, size, depth, fileName, name, part, false)
		a.Entries = append(a.Entries, Entry{Name: fileName, Ext: Ext(fileName), Size: size, Archive: z})
	}
	return a
}

// stopAt records the stop that ended the reading of archive a.
func (in *inspector) stopAt(a *Archive, stop *arcStop, name, part string) {
	a.Encrypted = a.Encrypted || stop.encrypted
	a.Undecryptable = a.Undecryptable || stop.sealed
	in.skip(a, stop.class, name, part, stop.why)
}

// skip records why archive a was not (fully) looked into.
func (in *inspector) skip(a *Archive, c GapClass, name, part, why string) {
	a.Skipped = why
	in.gap(c, part, name+": "+why)
}

// walk lists the entries w gives into a, looking into each while the
// limits allow.
func (in *inspector) walk(a *Archive, w arcWalker, depth int, name, part string) {
	for {
		f, err := w.next()
		var stop *arcStop
		switch {
		case err == io.EOF:
			return
		case errors.As(err, &stop):
			in.stopAt(a, stop, name, part)
			return
		case err != nil:
			in.skip(a, GapArchive, name, part, "corrupt: "+err.Error())
			return
		}
		if in.entryBudget <= 0 {
			in.skip(a, GapLimit, name, part, fmt.Sprintf("too many entries: limit %d reached", in.lim.MaxArchiveEntries))
			return
		}
		in.entryBudget--
		if f.dir {
			continue
		}
		e := Entry{Name: f.name, Size: f.size, Ext: Ext(f.name), OtherNames: f.other}
		if len(f.other) > 0 {
			in.gap(GapAmbiguous, part, fmt.Sprintf("%s: entry names %s: each is judged", name, quoteList(append([]string{f.name}, f.other...))))
		}
		in.entry(&e, f, depth, entryPath(name, e.Name), part)
		a.Encrypted = a.Encrypted || e.Encrypted
		a.Entries = append(a.Entries, e)
	}
}

// entry looks into one entry: its first bytes, and the archive it is.
func (in *inspector) entry(e *Entry, f *arcEntry, depth int, entry, part string) {
	if f.encrypted {
		e.Encrypted = true
		in.decryptEntry(e, f, depth, entry, part)
		return
	}
	if f.open == nil {
		return
	}
	rc, err := f.open()
	if err != nil {
		class := GapArchive
		if errors.Is(err, errTooBigToReach) {
			class = GapLimit
		}
		in.gap(class, part, fmt.Sprintf("%s: cannot be read: %v", entry, err))
		return
	}
	defer rc.Close()
	head, err := readHead(rc)
	e.Executable = sniffExec(head)
	if err != nil {
		in.gap(GapArchive, part, fmt.Sprintf("%s: cannot be read: %v", entry, err))
		return
	}
	if isMessageName(e) {
		in.entryMessage(head, rc, depth, e.Name, entry, part)
		return
	}
	claims := claimedArchive(e.Ext, "")
	switch format := entryFormat(head, claims); {
	case opens(format):
		e.Archive = in.nested(head, rc, f, format, depth+1, entry, part, false)
	case format == "" && opens(claims):
		e.Archive = in.nested(head, rc, f, claims, depth+1, entry, part, true)
	default:
		e.Archive = in.otherFormat(format, claims, entry, part)
	}
}

// isMessageName reports whether an entry is named as a saved message,
// which the desktop opens in the mail client.
func isMessageName(e *Entry) bool {
	return e.Ext == "eml" || slices.ContainsFunc(e.OtherNames, func(n string) bool { return Ext(n) == "eml" })
}

// entryMessage reads an archive entry that is a saved message (head, then
// the rest from r) as a message: what it holds is judged like what the
// outer message holds. Its parts are numbered under "PART[NAME]"; what
// is decompressed beyond the head is charged to the budget of nested
// archives.
func (in *inspector) entryMessage(head []byte, r io.Reader, depth int, name, entry, part string) {
	lr := &io.LimitedReader{R: r, N: in.unpackBudget + 1}
	in.message(io.MultiReader(bytes.NewReader(head), lr), fmt.Sprintf("%s[%s]", part, name), depth+1, true)
	if !in.stopped() {
		io.Copy(io.Discard, lr)
	}
	used := in.unpackBudget + 1 - lr.N
	in.unpackBudget -= min(used, in.unpackBudget)
	if lr.N <= 0 {
		in.gap(GapArchive, part, fmt.Sprintf("%s: too big: more than %d bytes left to extract", entry, in.lim.MaxArchiveBytes))
	}
}

// readHead reads the first headSize bytes of r.
func readHead(r io.Reader) ([]byte, error) {
	head := make([]byte, headSize)
	n, err := io.ReadFull(r, head)
	if err == io.EOF || err == io.ErrUnexpectedEOF {
		err = nil
	}
	return head[:n], err
}

// nested extracts an entry that is itself an archive (head, then the rest
// from r) and inspects it. The bytes extracted for nested archives, and
// those decompressed only to get past entries, share one budget of
// MaxArchiveBytes per message, so that a few kilobytes of nested archives
// cannot cost gigabytes.
func (in *inspector) nested(head []byte, r io.Reader, f *arcEntry, format string, depth int, entry, part string, claimed bool) *Archive {
	skip := func(why string) *Archive {
		if c := containers[format]; c != nil && c.document {
			// A document that cannot be looked into stays the plain
			// file it was.
			return nil
		}
		in.gap(GapArchive, part, entry+": "+why)
		return &Archive{Format: format, Skipped: why}
	}
	if depth > in.lim.MaxArchiveDepth {
		return skip(fmt.Sprintf("too deep: archive nesting exceeds %d", in.lim.MaxArchiveDepth))
	}
	max := in.lim.MaxArchiveBytes
	if !f.prepaid {
		max = min(max, in.unpackBudget)
	}
	if f.size > max {
		return skip(fmt.Sprintf("too big: %d bytes, %d allowed", f.size, max))
	}
	sp := &spool{dir: in.lim.TempDir, max: max}
	defer sp.release()
	sp.Write(head)
	_, err := io.Copy(sp, io.LimitReader(r, max+1-int64(len(head))))
	if !f.prepaid {
		in.unpackBudget -= min(sp.n, in.unpackBudget)
	}
	switch {
	case sp.tooBig:
		return skip(fmt.Sprintf("too big: more than %d bytes", max))
	case sp.err != nil:
		return skip(sp.err.Error())
	case err != nil:
		return skip("corrupt: " + err.Error())
	}
	return in.inspectArchive(format, sp.readerAt(), sp.n, depth, f.name, entry, part, claimed)
}

// budgetUser is a walker that decompresses data only to get past it, and
// charges those bytes to the message's budget of MaxArchiveBytes once
// given it.
type budgetUser interface{ useBudget(budget *int64) }

// errTooBigToReach: an entry lies beyond more data to decompress than is
// left of the message's budget. Its gap is of class limit.
var errTooBigToReach = errors.New("too big to reach")

// errTooBigToCheck: a decrypted entry is bigger than what is left to
// extract, so the password cannot be checked.
var errTooBigToCheck = errors.New("too big to decrypt and check")

// errFitsUnreadable: the password is known to fit (a PDF's embedded file,
// once the document opened), and the content cannot be read all the same:
// no other candidate reads it better.
var errFitsUnreadable = errors.New("the password fits, and the content cannot be read")

// decryptEntry tries the password candidates on an encrypted entry. One
// fits when the entry, decrypted, reads to its end with its checksum (and
// authentication code) right; the entry is then looked into like a plain
// one. Otherwise it stays an encrypted gap.
func (in *inspector) decryptEntry(e *Entry, f *arcEntry, depth int, entry, part string) {
	what := entry + ": encrypted"
	if f.locked != "" {
		what = entry + ": " + f.locked
	}
	if len(in.passwords) == 0 {
		in.gap(GapEncrypted, part, what)
		return
	}
	if f.decrypt == nil {
		in.gap(GapEncrypted, part, what+": not decrypted: "+f.noDecrypt)
		return
	}
	for i := range in.passwords {
		// The candidate that fitted last goes first: an archive has one
		// password, most often.
		pw := in.passwords[(in.fits+i)%len(in.passwords)]
		if why := in.decryptBudget(); why != "" {
			in.gap(GapEncrypted, part, what+": not decrypted: "+why)
			return
		}
		start := time.Now()
		sp, err := in.readDecrypted(f, pw)
		in.decryptTime += time.Since(start)
		if errors.Is(err, errTooBigToCheck) || errors.Is(err, errFitsUnreadable) || errors.Is(err, zipcrypt.ErrAlgorithm) || errors.Is(err, zipcrypt.ErrFormat) {
			// No candidate can do better: the others are not tried, and
			// the tries of the message's other entries are kept.
			in.gap(GapEncrypted, part, fmt.Sprintf("%s: not decrypted: %v", what, err))
			return
		}
		if err != nil {
			in.misses++
			continue
		}
		in.fits = (in.fits + i) % len(in.passwords)
		e.Decrypted = true
		in.decrypted(e, sp, f, depth, entry, part)
		sp.release()
		return
	}
	in.gap(GapEncrypted, part, what+": no password candidate fits")
}

// decryptBudget says why no more candidates are tried in this message, ""
// while they are.
func (in *inspector) decryptBudget() string {
	select {
	case <-in.abort:
		return "the inspection was aborted"
	default:
	}
	switch {
	case in.misses >= maxPasswordMisses:
		return fmt.Sprintf("%d password tries failed in this message", maxPasswordMisses)
	case in.decryptTime >= maxDecryptTime:
		return fmt.Sprintf("trying passwords took more than the %v allowed per message", maxDecryptTime)
	}
	return ""
}

// readDecrypted decrypts an entry with pw into a spool, to its end: only
// then is the password known to fit.
func (in *inspector) readDecrypted(f *arcEntry, pw []byte) (*spool, error) {
	max := in.lim.MaxArchiveBytes
	if !f.prepaid {
		max = min(max, in.unpackBudget)
	}
	if f.size > max {
		return nil, fmt.Errorf("%w: %d bytes, %d allowed", errTooBigToCheck, f.size, max)
	}
	rc, err := f.decrypt(pw)
	if err != nil {
		return nil, err
	}
	defer rc.Close()
	sp := &spool{dir: in.lim.TempDir, max: max}
	_, err = io.Copy(sp, io.LimitReader(rc, max+1))
	if !f.prepaid {
		in.unpackBudget -= min(sp.n, in.unpackBudget)
	}
	switch {
	case sp.tooBig:
		err = fmt.Errorf("%w: more than %d bytes", errTooBigToCheck, max)
	case sp.err != nil:
		err = sp.err
	}
	if err != nil {
		sp.release()
		return nil, err
	}
	return sp, nil
}

// decrypted looks into the decrypted content of an entry, held in sp.
func (in *inspector) decrypted(e *Entry, sp *spool, f *arcEntry, depth int, entry, part string) {
	if in.scan != nil {
		// A scanner given the archive cannot open this entry: it gets the
		// content decrypted.
		if w := in.scan.Part(PartInfo{Path: part, ContentType: "application/octet-stream", Filename: e.Name, Attachment: true, Decrypted: true}); w != nil {
			io.Copy(w, io.NewSectionReader(sp.readerAt(), 0, sp.n))
			w.Close()
		}
	}
	head := make([]byte, min(sp.n, headSize))
	n, _ := sp.readerAt().ReadAt(head, 0)
	head = head[:n]
	e.Executable = sniffExec(head)
	claims := claimedArchive(e.Ext, "")
	format, claimed := entryFormat(head, claims), false
	if format == "" && opens(claims) {
		format, claimed = claims, true
	}
	if !opens(format) {
		e.Archive = in.otherFormat(format, claims, entry, part)
		return
	}
	if depth+1 > in.lim.MaxArchiveDepth {
		why := fmt.Sprintf("too deep: archive nesting exceeds %d", in.lim.MaxArchiveDepth)
		in.gap(GapArchive, part, entry+": "+why)
		e.Archive = &Archive{Format: format, Skipped: why}
		return
	}
	e.Archive = in.inspectArchive(format, sp.readerAt(), sp.n, depth+1, f.name, entry, part, claimed)
}

// entryPath names an archive entry in gap reasons: the path from the
// attachment, its middle elided past four levels.
func entryPath(parent, entry string) string {
	p := strings.Split(parent, " > ")
	p = append(p, fmt.Sprintf("%q", entry))
	if len(p) > 4 {
		p = append([]string{p[0], "…"}, p[len(p)-2:]...)
	}
	return strings.Join(p, " > ")
}

// zipWalker checks the entry count of the zip archive in ra and returns a
// walker of its entries.
func (in *inspector) zipWalker(a *Archive, ra io.ReaderAt, size int64, name, part string, claimed bool) (arcWalker, error) {
	end, err := readZipEnd(ra, size)
	if err != nil {
		return nil, err
	}
	// archive/zip reads every directory record in a row and compares the
	// end record's count with them modulo 65536 only: the records are
	// counted as it will read them, before it does, so that an archive
	// with more entries than allowed is refused before it is loaded.
	count := max(end.count, end.directoryRecords(ra, size, uint64(in.entryBudget)+1))
	if count > uint64(in.entryBudget) {
		return nil, &arcStop{class: GapLimit, why: fmt.Sprintf("too many entries: %d, %d left of %d", count, in.entryBudget, in.lim.MaxArchiveEntries)}
	}
	zr, err := zip.NewReader(ra, size)
	if err != nil && !errors.Is(err, zip.ErrInsecurePath) {
		return nil, err
	}
	return &zipFiles{files: zr.File}, nil
}

// zipFiles walks the entries of a zip archive.
type zipFiles struct{ files []*zip.File }

func (z *zipFiles) next() (*arcEntry, error) {
	if len(z.files) == 0 {
		return nil, io.EOF
	}
	f := z.files[0]
	z.files = z.files[1:]
	name := zipName(f)
	var other []string
	if u := zipUnicodePath(f); u != "" && u != name {
		other = []string{u}
	}
	return &arcEntry{
		name:      name,
		other:     other,
		size:      int64(min(f.UncompressedSize64, 1<<62)),
		dir:       strings.HasSuffix(f.Name, "/"),
		encrypted: f.Flags&zipFlagEncrypted != 0,
		open: func() (io.ReadCloser, error) {
			rc, err := f.Open()
			if errors.Is(err, zip.ErrAlgorithm) {
				return nil, fmt.Errorf("compression method %d not supported", f.Method)
			}
			return rc, err
		},
		decrypt: func(pw []byte) (io.ReadCloser, error) { return zipcrypt.Open(f, pw) },
	}, nil
}

// zipName decodes an entry name: UTF-8 when flagged or valid, otherwise
// guessed as Shift_JIS or EUC-JP (Japanese Windows writes CP932 names
// without the UTF-8 flag).
func zipName(f *zip.File) string {
	return entryName(f.Name, f.Flags&zipFlagUTF8 != 0)
}

// zipUnicodePath returns the name of the Info-ZIP Unicode Path extra
// field (0x7075: version 1, CRC-32 of the header name, the UTF-8 name;
// APPNOTE.TXT 4.6.9), which 7-Zip and Info-ZIP show instead of the header
// name when its CRC matches; "" when there is none. The CRC is not
// checked: a tool that does not check it shows this name too.
func zipUnicodePath(f *zip.File) string {
	x := f.Extra
	for len(x) >= 4 {
		id, n := binary.LittleEndian.Uint16(x), int(binary.LittleEndian.Uint16(x[2:]))
		x = x[4:]
		if n > len(x) {
			return ""
		}
		if id == 0x7075 && n > 5 && x[0] == 1 {
			return strings.ToValidUTF8(string(x[5:n]), "\uFFFD")
		}
		x = x[n:]
	}
	return ""
}

// entryName decodes an archive entry name stored as raw bytes: kept when
// flagged as UTF-8 or valid UTF-8 (ASCII included), otherwise guessed as
// Shift_JIS (CP932) or EUC-JP, as Japanese tools write names in the
// system's code page.
func entryName(raw string, isUTF8 bool) string {
	if isUTF8 || utf8.ValidString(raw) {
		return strings.ToValidUTF8(raw, "\uFFFD")
	}
	return decodeUnlabelled([]byte(raw))
}

// zipEnd is what the end of central directory record of a zip says
// (APPNOTE.TXT 4.3.16, and 4.3.14-15 for ZIP64).
type zipEnd struct {
	count   uint64 // entries
	dirSize int64  // bytes of the central directory
	dirOff  int64  // its offset, relative to the start of the archive
	at      int64  // where the end record (or the ZIP64 one) is in ra
}

// readZipEnd finds the end record of the zip in ra, and its ZIP64
// counterpart when a field is saturated, as archive/zip does.
func readZipEnd(ra io.ReaderAt, size int64) (zipEnd, error) {
	const eocdLen = 22
	if size < eocdLen {
		return zipEnd{}, errors.New("too short for a zip archive")
	}
	// The record is at most a comment of 64 KiB from the end, and nearly
	// always at the very end: the last KiB is read first (an archive in
	// base64 is decoded where it is read), the whole span only if the
	// record, with room for a ZIP64 locator before it, is not in it.
	var buf []byte
	var tail int64
	i := -1
	for _, n := range [2]int64{1 << 10, eocdLen + 0xffff} {
		tail = min(size, n)
		buf = make([]byte, tail)
		if _, err := ra.ReadAt(buf, size-tail); err != nil && err != io.EOF {
			return zipEnd{}, fmt.Errorf("reading end of archive: %w", err)
		}
		for i = len(buf) - eocdLen; i >= 0 && binary.LittleEndian.Uint32(buf[i:]) != 0x06054b50; i-- {
		}
		if i >= 20 || tail == size {
			break
		}
	}
	if i < 0 {
		return zipEnd{}, errors.New("no end of central directory record")
	}
	e := zipEnd{
		count:   uint64(binary.LittleEndian.Uint16(buf[i+10:])),
		dirSize: int64(binary.LittleEndian.Uint32(buf[i+12:])),
		dirOff:  int64(binary.LittleEndian.Uint32(buf[i+16:])),
		at:      size - tail + int64(i),
	}
	saturated := e.count == 0xffff || e.dirSize == 0xffffffff || e.dirOff == 0xffffffff
	if !saturated || i < 20 || binary.LittleEndian.Uint32(buf[i-20:]) != 0x07064b50 {
		return e, nil
	}
	off := binary.LittleEndian.Uint64(buf[i-20+8:])
	if off >= uint64(size) {
		return zipEnd{}, errors.New("zip64 record out of bounds")
	}
	rec := make([]byte, 56)
	if _, err := ra.ReadAt(rec, int64(off)); err != nil {
		return zipEnd{}, fmt.Errorf("reading zip64 end of archive: %w", err)
	}
	if binary.LittleEndian.Uint32(rec) != 0x06064b50 {
		return zipEnd{}, errors.New("bad zip64 end of central directory record")
	}
	return zipEnd{
		count:   binary.LittleEndian.Uint64(rec[32:]),
		dirSize: int64(binary.LittleEndian.Uint64(rec[40:])),
		dirOff:  int64(binary.LittleEndian.Uint64(rec[48:])),
		at:      int64(off),
	}, nil
}

// directoryRecords counts the central directory records of the zip in ra
// the way archive/zip reads them, one after the other from where the end
// record says the directory starts (after data prepended to the archive,
// as archive/zip finds it), stopping once the count passes max.
func (e zipEnd) directoryRecords(ra io.ReaderAt, size int64, max uint64) uint64 {
	base := e.at - e.dirSize - e.dirOff
	if base < 0 || e.dirSize < 0 || e.dirOff < 0 {
		base = 0
	}
	pos := base + e.dirOff
	var n uint64
	hdr := make([]byte, 46)
	for n <= max && pos >= 0 && pos <= size-46 {
		if _, err := ra.ReadAt(hdr, pos); err != nil || binary.LittleEndian.Uint32(hdr) != 0x02014b50 {
			break
		}
		n++
		pos += 46 + int64(binary.LittleEndian.Uint16(hdr[28:])) + int64(binary.LittleEndian.Uint16(hdr[30:])) + int64(binary.LittleEndian.Uint16(hdr[32:]))
	}
	return n
}

// hasZipDirectory reports whether ra ends with a zip whose directory
// starts where its end record says.
func hasZipDirectory(ra io.ReaderAt, size int64) bool {
	e, err := readZipEnd(ra, size)
	return err == nil && e.directoryRecords(ra, size, 0) > 0
}
