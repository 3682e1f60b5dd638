package mime

import (
	"archive/tar"
	"bytes"
	"compress/gzip"
	"encoding/binary"
	"errors"
	"io"
	"slices"
	"strings"
	"unicode/utf8"
)

// tar archives with the ustar magic (POSIX, and GNU's "ustar  ") are told
// by archiveMagic; those without it, the V7 format of Unix's tar before
// POSIX and of tar --format=v7, by their first header (isTarHeader). The
// archive is opened by inspectArchive itself: the container only sniffs.
func init() {
	registerContainer(&container{format: FormatTar, sniff: isTarHeader})
}

// tarBlock is the size of a tar header.
const tarBlock = 512

// isTarHeader reports whether head starts with a tar header, with or
// without the ustar magic, as libarchive, which opens tar archives in
// Windows, bids on one (archive_read_support_format_tar.c,
// archive_read_format_tar_bid): a checksum that holds (tarChecksum), a
// type flag NUL, a digit or a letter, and numeric fields that are numbers
// (tarNumber). Like libarchive it does not judge the name: a first entry
// named to look wrong would hide the entries after it. The checksum is
// the sum of the header's bytes, its own field counted as spaces, taken as
// unsigned bytes or, for the old BSD, Solaris and HP-UX tars that summed
// signed chars, as signed ones; GNU tar and archive/tar take both too.
//
// A head shorter than a header (the sink decides whether to keep an
// attachment on its first sniffLen bytes) is taken when the bytes after
// it could complete a header: the fields it holds are checked, and the
// checksum must be within reach of what the missing bytes can add. Then
// archive sniffs the whole header again.
func isTarHeader(head []byte) bool {
	const chksum, typeflag = 148, 156
	if len(head) < 257 {
		return false
	}
	h := head[:min(len(head), tarBlock)]
	if t := h[typeflag]; t != 0 && (t < '0' || t > '9') && (t < 'A' || t > 'Z') && (t < 'a' || t > 'z') {
		return false
	}
	// mode, uid, gid, size, mtime, and the device numbers after the magic.
	for _, f := range [...]struct{ off, len int }{{100, 8}, {108, 8}, {116, 8}, {124, 12}, {136, 12}, {329, 8}, {337, 8}} {
		if f.off+f.len <= len(h) && !tarNumber(h[f.off:f.off+f.len]) {
			return false
		}
	}
	want, ok := tarChecksum(h[chksum : chksum+8])
	if !ok {
		return false
	}
	var unsigned, signed int64
	for i, c := range h {
		if i >= chksum && i < chksum+8 {
			c = ' '
		}
		unsigned += int64(c)
		signed += int64(int8(c))
	}
	missing := int64(tarBlock - len(h))
	return want >= unsigned && want <= unsigned+0xff*missing || want >= signed-0x80*missing && want <= signed+0x7f*missing
}

// tarNumber reports whether f is a numeric field as libarchive's
// validate_number_field takes one: octal digits after spaces, then spaces
// and NULs only; or a field starting with a NUL (empty), or with 0x80 or
// 0xff (a base-256 number, which GNU tar writes for big values).
func tarNumber(f []byte) bool {
	if f[0] == 0 || f[0] == 0x80 || f[0] == 0xff {
		return true
	}
	f = bytes.TrimLeft(f, " ")
	f = bytes.TrimLeft(f, "01234567")
	return !slices.ContainsFunc(f, func(c byte) bool { return c != ' ' && c != 0 })
}

// tarChecksum reads a checksum field as libarchive does (checksum,
// tar_atol): spaces, NULs and octal digits only, the number being the
// digits after the leading spaces, up to the first other byte.
func tarChecksum(f []byte) (int64, bool) {
	if slices.ContainsFunc(f, func(c byte) bool { return c != ' ' && c != 0 && (c < '0' || c > '7') }) {
		return 0, false
	}
	var v int64
	for _, c := range bytes.TrimLeft(f, " ") {
		if c < '0' || c > '7' {
			break
		}
		v = v*8 + int64(c-'0')
	}
	return v, true
}

// tarWalker walks the entries of a tar archive. The archive lies in a
// spool, so that entries not read are seeked over, not read.
type tarWalker struct {
	tr    *tar.Reader
	first *tar.Header // read by newTarWalker, to tell a tar archive from other content
}

// newTarWalker reads the first header of the tar archive in ra: content
// that only claims to be a tar archive (an old tar has no magic bytes) is
// told apart here.
func newTarWalker(ra io.ReaderAt, size int64) (*tarWalker, error) {
	if size < tarBlock {
		// Shorter than one header: no tool opens it (isTarHeader took a
		// head that more bytes could have completed; there are none).
		return nil, errNotContainer
	}
	w := &tarWalker{tr: tar.NewReader(io.NewSectionReader(ra, 0, size))}
	h, err := w.header()
	if err != nil && err != io.EOF {
		return nil, err
	}
	w.first = h
	return w, nil
}

// header returns the next header; an insecure path is no reason to stop,
// as the name is only reported.
func (w *tarWalker) header() (*tar.Header, error) {
	h, err := w.tr.Next()
	if errors.Is(err, tar.ErrInsecurePath) && h != nil {
		err = nil
	}
	return h, err
}

func (w *tarWalker) next() (*arcEntry, error) {
	h := w.first
	w.first = nil
	if h == nil {
		var err error
		if h, err = w.header(); err != nil {
			return nil, err
		}
	}
	e := &arcEntry{name: entryName(h.Name, false), size: max(h.Size, 0)}
	switch h.Typeflag {
	case tar.TypeDir, tar.TypeChar, tar.TypeBlock, tar.TypeFifo, tar.TypeXGlobalHeader:
		// They hold no file.
		e.dir = true
	case tar.TypeSymlink:
		// A link holds no content, but is listed by its name.
		e.size = 0
	case tar.TypeLink:
		if h.Size <= 0 {
			e.size = 0
			break
		}
		// A hard link with data: libarchive extracts the data.
		e.open = func() (io.ReadCloser, error) { return io.NopCloser(w.tr), nil }
	default:
		// Regular files, and every type tar does not know: POSIX, GNU
		// tar and libarchive extract those as regular files.
		e.open = func() (io.ReadCloser, error) { return io.NopCloser(w.tr), nil }
	}
	return e, nil
}

// gzipWalker gives the one entry of a gzip archive: its content.
type gzipWalker struct {
	zr   *gzip.Reader
	e    *arcEntry
	done bool
}

// newGzipWalker reads the gzip header of the archive in ra. The entry is
// named as gunzip names it: the name stored in the header, else the
// archive's name without its .gz suffix (.tgz becomes .tar). Its size is
// the one recorded at the end of the stream (modulo 2^32, as the format
// has it); the content is only decompressed as far as it is read.
func newGzipWalker(ra io.ReaderAt, size int64, fileName string) (*gzipWalker, error) {
	zr, err := gzip.NewReader(io.NewSectionReader(ra, 0, size))
	if err != nil {
		return nil, err
	}
	var isize int64
	if size >= 18 {
		var t [4]byte
		if _, err := ra.ReadAt(t[:], size-4); err == nil {
			isize = int64(binary.LittleEndian.Uint32(t[:]))
		}
	}
	name := gzipStoredName(zr.Name)
	if name == "" {
		name = gunzipName(fileName)
	}
	e := &arcEntry{name: name, size: isize, open: func() (io.ReadCloser, error) { return io.NopCloser(zr), nil }}
	return &gzipWalker{zr: zr, e: e}, nil
}

func (w *gzipWalker) next() (*arcEntry, error) {
	if w.done {
		return nil, io.EOF
	}
	w.done = true
	return w.e, nil
}

func (w *gzipWalker) close() { w.zr.Close() }

// gzipStoredName decodes the name in a gzip header. compress/gzip reads it
// as ISO 8859-1, which RFC 1952 prescribes; Japanese tools store the
// system's code page instead, so the bytes are taken back and decoded as
// entry names are.
func gzipStoredName(s string) string {
	raw := make([]byte, 0, len(s))
	for _, r := range s {
		if r > 0xff {
			return s
		}
		raw = append(raw, byte(r))
	}
	if utf8.Valid(raw) {
		return string(raw)
	}
	if d := entryName(string(raw), false); !strings.ContainsRune(d, utf8.RuneError) {
		return d
	}
	return s
}

// gunzipName is the name gunzip gives the content of fileName.
func gunzipName(fileName string) string {
	lower := strings.ToLower(fileName)
	switch {
	case strings.HasSuffix(lower, ".tgz"):
		return fileName[:len(fileName)-len(".tgz")] + ".tar"
	case strings.HasSuffix(lower, ".gz"):
		return fileName[:len(fileName)-len(".gz")]
	}
	return fileName
}
