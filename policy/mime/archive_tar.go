package mime

import (
	"archive/tar"
	"compress/gzip"
	"encoding/binary"
	"errors"
	"io"
	"strings"
	"unicode/utf8"
)

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
