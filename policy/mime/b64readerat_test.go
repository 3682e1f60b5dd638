package mime

import (
	"bytes"
	"encoding/base64"
	"io"
	"math/rand/v2"
	"strings"
	"testing"
)

// TestB64ReaderAt reads base64 characters held in a spool at every kind of
// offset and length (inside a group, across the 64 KiB blocks of the spool
// and the pieces b64ReaderAt reads at a time, up to the final group of two
// or three characters) and compares with what encoding/base64 decodes.
func TestB64ReaderAt(t *testing.T) {
	rng := rand.New(rand.NewPCG(1, 2))
	for _, size := range []int{0, 1, 2, 3, 4, 5, 100, b64atChars/4*3 - 1, b64atChars / 4 * 3, b64atChars/4*3 + 1, spoolBlock + 7, 3*spoolBlock + 2} {
		plain := make([]byte, size)
		for i := range plain {
			plain[i] = byte(rng.IntN(256))
		}
		chars := []byte(base64.RawStdEncoding.EncodeToString(plain))
		s := &spool{max: 1 << 30, encoded: true}
		// Written in odd pieces, as decodeBase64 writes them.
		for rest := chars; len(rest) > 0; {
			n := min(len(rest), 1+rng.IntN(40000))
			s.Write(rest[:n])
			rest = rest[n:]
		}
		ra := s.readerAt()
		if got := b64size(s.n); got != int64(size) {
			t.Fatalf("size %d: b64size %d", size, got)
		}
		check := func(off, n int) {
			t.Helper()
			p := make([]byte, n)
			got, err := ra.ReadAt(p, int64(off))
			want := max(0, min(n, size-off))
			if got != want || !bytes.Equal(p[:got], plain[off:off+want]) {
				t.Fatalf("size %d: ReadAt(%d bytes, off %d) = %d bytes (%v), want %d equal bytes", size, n, off, got, err, want)
			}
			if (want < n || off >= size) != (err == io.EOF) {
				t.Fatalf("size %d: ReadAt(%d bytes, off %d): err %v with %d of %d bytes", size, n, off, err, got, n)
			}
		}
		check(0, size)
		check(0, size+5)
		for range 200 {
			off := rng.IntN(size + 1)
			check(off, rng.IntN(size-off+1))
		}
		for off := max(0, size-8); off < size; off++ {
			check(off, 1)
			check(off, 8)
		}
		s.release()
	}
}

// TestSpoolDecodedForScanner: an attachment decoded whole for a scanner is
// spooled decoded, one that is not is spooled as characters; both read the
// same bytes back.
func TestSpoolDecodedForScanner(t *testing.T) {
	plain := bytes.Repeat([]byte("%PDF-1.7 sekisho \x00\xff\x10"), 9000)
	var text strings.Builder
	enc := base64.StdEncoding.EncodeToString(plain)
	for len(enc) > 76 {
		text.WriteString(enc[:76] + "\r\n")
		enc = enc[76:]
	}
	text.WriteString(enc + "\r\n")
	for _, scanned := range []bool{false, true} {
		k := &sink{claims: "pdf", newSpool: func() *spool { return &spool{max: 1 << 30} }}
		var w io.Writer
		var got bytes.Buffer
		if scanned {
			w = &got
		}
		n, err := decodeBase64(strings.NewReader(text.String()), k, w)
		if err != nil || n != int64(len(plain)) {
			t.Fatalf("scanned %v: decodeBase64 = %d, %v", scanned, n, err)
		}
		if k.spool.encoded == scanned {
			t.Errorf("scanned %v: spool encoded %v", scanned, k.spool.encoded)
		}
		if scanned && !bytes.Equal(got.Bytes(), plain) {
			t.Errorf("the scanner got %d bytes, not the attachment's %d", got.Len(), len(plain))
		}
		back := make([]byte, len(plain))
		if m, err := k.spool.readerAt().ReadAt(back, 0); m != len(plain) || !bytes.Equal(back, plain) {
			t.Errorf("scanned %v: the spool reads back %d bytes (%v), equal %v", scanned, m, err, bytes.Equal(back, plain))
		}
		k.spool.release()
	}
}
