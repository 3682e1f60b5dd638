package mime

import (
	"archive/zip"
	"encoding/binary"
	"errors"
	"fmt"
	"io"
	"strings"
	"unicode/utf8"
)

// Archive formats reported in Archive.Format.
const FormatZip = "zip"

// zip general purpose flag bits (APPNOTE.TXT 4.4.4).
const (
	zipFlagEncrypted = 0x1
	zipFlagUTF8      = 0x800
)

// archive looks into the content a sink saw when it is an archive, or
// claims to be one, and records what could not be looked into. name and
// part say where the content is, for the gaps.
func (in *inspector) archive(k *sink, name, part string) *Archive {
	format := sniffArchive(k.head)
	if sp := k.spool; sp != nil {
		defer sp.release()
		if format == FormatZip || format == "" {
			var a *Archive
			switch {
			case sp.tooBig:
				a = &Archive{Format: FormatZip, Skipped: fmt.Sprintf("too big: %d bytes, %d allowed", sp.size(), sp.max)}
			case sp.err != nil:
				a = &Archive{Format: FormatZip, Skipped: sp.err.Error()}
			default:
				return in.inspectZip(sp.readerAt(), sp.size(), 1, name, part, format == "")
			}
			in.gap(GapArchive, part, name+": "+a.Skipped)
			return a
		}
	}
	return in.otherFormat(format, k.claims, name, part)
}

// otherFormat records an archive that is not opened: a format other than
// zip, or content that claims an archive format and has none.
func (in *inspector) otherFormat(format, claims, name, part string) *Archive {
	switch {
	case format != "" && format != FormatZip:
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

// inspectZip lists the entries of the zip archive in ra (size bytes) at
// archive nesting depth (1 for an attachment). Entries that are zips
// themselves are looked into while the limits allow. claimed says the
// content only claims to be a zip (by name or media type), without the
// magic bytes at its start.
func (in *inspector) inspectZip(ra io.ReaderAt, size int64, depth int, name, part string, claimed bool) *Archive {
	a := &Archive{Format: FormatZip}
	skip := func(c GapClass, why string) *Archive {
		a.Skipped = why
		in.gap(c, part, name+": "+why)
		return a
	}
	if depth > in.lim.MaxArchiveDepth {
		return skip(GapArchive, fmt.Sprintf("too deep: archive nesting exceeds %d", in.lim.MaxArchiveDepth))
	}
	count, err := zipEntryCount(ra, size)
	if err != nil && claimed {
		return skip(GapArchive, "named or typed as a zip archive, but its content is no archive format known")
	}
	if err != nil {
		return skip(GapArchive, "corrupt: "+err.Error())
	}
	if count > uint64(in.entryBudget) {
		return skip(GapLimit, fmt.Sprintf("too many entries: %d, %d left of %d", count, in.entryBudget, in.lim.MaxArchiveEntries))
	}
	zr, err := zip.NewReader(ra, size)
	if err != nil && !errors.Is(err, zip.ErrInsecurePath) {
		return skip(GapArchive, "corrupt: "+err.Error())
	}
	for _, f := range zr.File {
		if in.entryBudget <= 0 {
			skip(GapLimit, fmt.Sprintf("too many entries: limit %d reached", in.lim.MaxArchiveEntries))
			break
		}
		in.entryBudget--
		if strings.HasSuffix(f.Name, "/") {
			continue
		}
		e := Entry{Name: zipName(f), Size: int64(min(f.UncompressedSize64, 1<<62))}
		e.Ext = Ext(e.Name)
		entry := entryPath(name, e.Name)
		if f.Flags&zipFlagEncrypted != 0 {
			e.Encrypted = true
			a.Encrypted = true
			a.Entries = append(a.Entries, e)
			in.gap(GapEncrypted, part, entry+": encrypted")
			continue
		}
		head, err := readHead(f)
		if err != nil {
			in.gap(GapArchive, part, fmt.Sprintf("%s: cannot be read: %v", entry, err))
		}
		e.Executable = sniffExec(head)
		claims := claimedArchive(e.Ext, "")
		switch format := sniffArchive(head); {
		case format == FormatZip || (format == "" && claims == FormatZip && err == nil):
			e.Archive = in.nestedZip(f, depth+1, entry, part, format == "")
		case err == nil:
			e.Archive = in.otherFormat(format, claims, entry, part)
		}
		a.Entries = append(a.Entries, e)
	}
	return a
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

// readHead reads the first headSize bytes of an entry.
func readHead(f *zip.File) ([]byte, error) {
	rc, err := f.Open()
	if err != nil {
		if errors.Is(err, zip.ErrAlgorithm) {
			return nil, fmt.Errorf("compression method %d not supported", f.Method)
		}
		return nil, err
	}
	defer rc.Close()
	head := make([]byte, headSize)
	n, err := io.ReadFull(rc, head)
	if err == io.EOF || err == io.ErrUnexpectedEOF {
		err = nil
	}
	return head[:n], err
}

// nestedZip extracts a zip entry that is itself a zip and inspects it. The
// bytes extracted for nested archives share one budget of MaxArchiveBytes per
// message, so that a few kilobytes of nested archives cannot cost gigabytes.
func (in *inspector) nestedZip(f *zip.File, depth int, name, part string, claimed bool) *Archive {
	skip := func(why string) *Archive {
		in.gap(GapArchive, part, name+": "+why)
		return &Archive{Format: FormatZip, Skipped: why}
	}
	if depth > in.lim.MaxArchiveDepth {
		return skip(fmt.Sprintf("too deep: archive nesting exceeds %d", in.lim.MaxArchiveDepth))
	}
	max := min(in.lim.MaxArchiveBytes, in.nestedBudget)
	if f.UncompressedSize64 > uint64(max) {
		return skip(fmt.Sprintf("too big: %d bytes, %d allowed", f.UncompressedSize64, max))
	}
	rc, err := f.Open()
	if err != nil {
		return skip("corrupt: " + err.Error())
	}
	defer rc.Close()
	sp := &spool{dir: in.lim.TempDir, max: max}
	defer sp.release()
	_, err = io.Copy(sp, io.LimitReader(rc, max+1))
	in.nestedBudget -= min(sp.n, in.nestedBudget)
	switch {
	case sp.tooBig:
		return skip(fmt.Sprintf("too big: more than %d bytes", max))
	case sp.err != nil:
		return skip(sp.err.Error())
	case err != nil:
		return skip("corrupt: " + err.Error())
	}
	return in.inspectZip(sp.readerAt(), sp.n, depth, name, part, claimed)
}

// zipName decodes an entry name: UTF-8 when flagged or valid, otherwise
// guessed as Shift_JIS or EUC-JP (Japanese Windows writes CP932 names
// without the UTF-8 flag).
func zipName(f *zip.File) string {
	if f.Flags&zipFlagUTF8 != 0 || utf8.ValidString(f.Name) {
		return strings.ToValidUTF8(f.Name, "\uFFFD")
	}
	return decodeUnlabelled([]byte(f.Name))
}

// zipEntryCount reads the entry count from the end of central directory
// record (APPNOTE.TXT 4.3.16, and 4.3.14 for ZIP64), so that an archive
// with more entries than allowed is refused before its directory is loaded.
func zipEntryCount(ra io.ReaderAt, size int64) (uint64, error) {
	const eocdLen = 22
	tail := min(size, eocdLen+0xffff)
	if tail < eocdLen {
		return 0, errors.New("too short for a zip archive")
	}
	buf := make([]byte, tail)
	if _, err := ra.ReadAt(buf, size-tail); err != nil && err != io.EOF {
		return 0, fmt.Errorf("reading end of archive: %w", err)
	}
	i := len(buf) - eocdLen
	for ; i >= 0; i-- {
		if binary.LittleEndian.Uint32(buf[i:]) == 0x06054b50 {
			break
		}
	}
	if i < 0 {
		return 0, errors.New("no end of central directory record")
	}
	count := uint64(binary.LittleEndian.Uint16(buf[i+10:]))
	if count != 0xffff || i < 20 || binary.LittleEndian.Uint32(buf[i-20:]) != 0x07064b50 {
		return count, nil
	}
	off := binary.LittleEndian.Uint64(buf[i-20+8:])
	rec := make([]byte, 56)
	if off > uint64(size) {
		return 0, errors.New("zip64 record out of bounds")
	}
	if _, err := ra.ReadAt(rec, int64(off)); err != nil {
		return 0, fmt.Errorf("reading zip64 end of archive: %w", err)
	}
	if binary.LittleEndian.Uint32(rec) != 0x06064b50 {
		return 0, errors.New("bad zip64 end of central directory record")
	}
	return binary.LittleEndian.Uint64(rec[32:]), nil
}
