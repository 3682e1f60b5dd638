package mime

import (
	"bytes"
	"errors"
	"fmt"
	"io"
	"math"
	"time"

	"github.com/nwaples/rardecode/v2"
)

// rarFiles walks the entries of a rar archive (RAR 1.5 to 4, and RAR 5).
// Entries not read are seeked over; in a solid archive every entry is
// decompressed to reach the next one, which is charged to the budget
// before it is done.
type rarFiles struct {
	in    *inspector
	ra    io.ReaderAt
	size  int64
	rr    *rardecode.Reader
	solid bool
	cur   *rardecode.FileHeader
	read  int64   // bytes of cur read by the walk
	idx   int     // index of cur
	sizes []int64 // unpacked sizes of the entries so far, for the cost of reaching one
	// headerPassword is the candidate that decrypts an encrypted entry list.
	headerPassword []byte
	withPassword   map[string]*rarPasswordReader
	// checkable tells, by entry, whether a wrong password can be told
	// (see rar5Checkable); nil for RAR 4, whose entries all have a CRC.
	checkable []bool
	rar5      bool
}

// rarPasswordReader is an archive opened with a password candidate, at
// entry pos (-1 before the first), of which read bytes were read.
type rarPasswordReader struct {
	rr   *rardecode.Reader
	pos  int
	read int64
}

// errRarListEncrypted: the entry list is encrypted (rar -hp).
var errRarListEncrypted = &arcStop{class: GapEncrypted, why: "encrypted: the entry list cannot be read", encrypted: true}

func (in *inspector) openRar(ra io.ReaderAt, size int64, pw []byte) (*rardecode.Reader, error) {
	opts := []rardecode.Option{rardecode.MaxDictionarySize(maxDictionary)}
	if pw != nil {
		opts = append(opts, rardecode.Password(string(pw)))
	}
	return rardecode.NewReader(io.NewSectionReader(ra, 0, size), opts...)
}

// rarWalker opens the rar archive in ra. An encrypted entry list is read
// with the password candidate that opens it, if any.
func (in *inspector) rarWalker(ra io.ReaderAt, size int64) (arcWalker, error) {
	w := &rarFiles{in: in, ra: ra, size: size, solid: rarSolid(ra), idx: -1}
	if len(in.passwords) > 0 {
		var head [8]byte
		n, _ := ra.ReadAt(head[:], 0)
		w.rar5 = bytes.Equal(head[:n], rar5Sig) || !bytes.HasPrefix(head[:n], []byte("Rar!\x1a\x07\x00"))
		if w.rar5 {
			w.checkable = rar5Checkable(ra, size, in.lim.MaxArchiveEntries)
		}
	}
	rr, err := in.openRar(ra, size, nil)
	if err == nil {
		// The first header tells an encrypted entry list of RAR 5.
		var h *rardecode.FileHeader
		h, err = rr.Next()
		if err == nil {
			w.rr, w.cur, w.idx = rr, h, -2
			return w, nil
		}
		if err == io.EOF {
			w.rr = rr
			w.idx = -3
			return w, nil
		}
	}
	if !errors.Is(err, rardecode.ErrArchiveEncrypted) {
		return nil, err
	}
	for i := range in.passwords {
		// As for entries (decryptEntry): the candidate that fitted last
		// goes first.
		pw := in.passwords[(in.fits+i)%len(in.passwords)]
		if in.decryptBudget() != "" {
			break
		}
		start := time.Now()
		rr, err := in.openRar(ra, size, pw)
		var h *rardecode.FileHeader
		if err == nil {
			h, err = rr.Next()
		}
		in.decryptTime += time.Since(start)
		if err == nil {
			w.rr, w.cur, w.idx, w.headerPassword = rr, h, -2, pw
			// The entries have the same password: it goes first for
			// them, and the candidates before it are not counted as
			// misses again.
			in.fits = (in.fits + i) % len(in.passwords)
			return w, nil
		}
		in.misses++
	}
	return nil, errRarListEncrypted
}

// rarSolid reads the solid flag from the archive header: RAR 5 archive
// flag 0x4, RAR 4 main header flag 0x8. Where it cannot be read (an
// encrypted entry list, a self-extracting prefix) the archive is taken as
// solid, which costs more of the budget but never less than the truth.
func rarSolid(ra io.ReaderAt) bool {
	var b [64]byte
	n, _ := ra.ReadAt(b[:], 0)
	h := b[:n]
	switch {
	case bytes.HasPrefix(h, []byte("Rar!\x1a\x07\x01\x00")):
		p := &szParser{b: h[12:]}
		rarVint(p) // header size
		if rarVint(p) != 1 {
			return true
		}
		flags := rarVint(p)
		if flags&1 != 0 {
			rarVint(p)
		}
		if flags&2 != 0 {
			rarVint(p)
		}
		arc := rarVint(p)
		return p.err != nil || arc&0x4 != 0
	case bytes.HasPrefix(h, []byte("Rar!\x1a\x07\x00")) && len(h) >= 12:
		return h[9] != 0x73 || h[10]&0x08 != 0
	}
	return true
}

// rarVint reads a RAR 5 variable-length integer: 7 bits a byte, low first.
func rarVint(p *szParser) uint64 {
	var v uint64
	for i := 0; i < 10; i++ {
		c := p.byte()
		v |= uint64(c&0x7f) << (7 * i)
		if c&0x80 == 0 {
			return v
		}
	}
	p.fail()
	return 0
}

func (w *rarFiles) next() (*arcEntry, error) {
	var h *rardecode.FileHeader
	switch w.idx {
	case -3:
		return nil, io.EOF
	case -2:
		h = w.cur
	default:
		// An encrypted entry that is not decrypted is seeked over.
		if w.cur != nil && w.solid && (!w.cur.Encrypted || w.headerPassword != nil) {
			if err := w.charge(w.rest(w.cur, w.read)); err != nil {
				return nil, err
			}
		}
		var err error
		h, err = w.rr.Next()
		switch {
		case err == io.EOF:
			w.cur = nil
			return nil, io.EOF
		case errors.Is(err, rardecode.ErrArchiveEncrypted):
			return nil, errRarListEncrypted
		case errors.Is(err, rardecode.ErrMultiVolume):
			return nil, &arcStop{class: GapArchive, why: "multi-volume archive: continues in another file"}
		case err != nil:
			return nil, err
		}
	}
	w.idx = len(w.sizes)
	w.cur, w.read = h, 0
	w.sizes = append(w.sizes, w.rest(h, 0))
	idx := w.idx
	e := &arcEntry{name: entryName(h.Name, false), size: max(h.UnPackedSize, 0), dir: h.IsDir, encrypted: h.Encrypted}
	e.open = func() (io.ReadCloser, error) { return io.NopCloser(&countReader{r: w.rr, n: &w.read}), nil }
	switch {
	case !h.Encrypted:
	case w.rar5 && w.headerPassword == nil && (idx >= len(w.checkable) || !w.checkable[idx]):
		// Any candidate would seem to fit.
		e.noDecrypt = "no checksum and no password check: a wrong password cannot be told"
	default:
		e.decrypt = func(pw []byte) (io.ReadCloser, error) { return w.decrypt(idx, pw) }
	}
	return e, nil
}

// rest is what is left to decompress of entry h after read bytes.
func (w *rarFiles) rest(h *rardecode.FileHeader, read int64) int64 {
	if h.UnKnownSize || h.UnPackedSize < 0 {
		return math.MaxInt64
	}
	return max(h.UnPackedSize-read, 0)
}

// charge takes n bytes to decompress from the budget.
func (w *rarFiles) charge(n int64) error {
	if n > w.in.unpackBudget {
		return &arcStop{class: GapArchive, why: fmt.Sprintf("too big: solid archive: more than %d bytes to decompress to reach the next entry", w.in.unpackBudget)}
	}
	w.in.unpackBudget -= n
	return nil
}

// decrypt opens entry idx with a password candidate. With an encrypted
// entry list, the entries have the password that opened it. Otherwise the
// archive is opened again with the candidate, and brought to the entry:
// in a solid archive, at the cost of the entries before it.
func (w *rarFiles) decrypt(idx int, pw []byte) (io.ReadCloser, error) {
	if w.headerPassword != nil {
		if !bytes.Equal(pw, w.headerPassword) {
			return nil, errors.New("not the password of the entry list")
		}
		return io.NopCloser(&countReader{r: w.rr, n: &w.read}), nil
	}
	if w.withPassword == nil {
		w.withPassword = map[string]*rarPasswordReader{}
	}
	pr := w.withPassword[string(pw)]
	if pr == nil || pr.pos > idx {
		rr, err := w.in.openRar(w.ra, w.size, pw)
		if err != nil {
			return nil, err
		}
		pr = &rarPasswordReader{rr: rr, pos: -1}
		w.withPassword[string(pw)] = pr
	}
	for pr.pos < idx {
		if w.solid && pr.pos >= 0 {
			cost := w.sizes[pr.pos] - pr.read
			if cost > w.in.unpackBudget {
				return nil, fmt.Errorf("%w: solid archive, more than %d bytes to decompress to reach it", errTooBigToCheck, w.in.unpackBudget)
			}
			w.in.unpackBudget -= cost
		}
		if _, err := pr.rr.Next(); err != nil {
			delete(w.withPassword, string(pw))
			return nil, err
		}
		pr.pos++
		pr.read = 0
	}
	return io.NopCloser(&countReader{r: pr.rr, n: &pr.read}), nil
}

// countReader counts what is read through it into *n.
type countReader struct {
	r io.Reader
	n *int64
}

func (c *countReader) Read(p []byte) (int, error) {
	n, err := c.r.Read(p)
	*c.n += int64(n)
	return n, err
}
