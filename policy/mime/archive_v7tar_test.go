package mime

import (
	"archive/tar"
	"bytes"
	"fmt"
	"strings"
	"testing"

	"golang.org/x/text/encoding/japanese"
)

// gzipNamed compresses data, in a file named name, with gzip (Debian
// package gzip), which keeps the name in the gzip header.
func gzipNamed(t testing.TB, name string, data []byte) []byte {
	t.Helper()
	return run(t, files(t, map[string][]byte{name: data}), name+".gz", tool(t, "gzip"), name)
}

// TestV7Tar: tar archives without the ustar magic, as GNU tar writes them
// with --format=v7 (and Unix's tar did before POSIX), are told by their
// first header: in a .tgz whose gzip header names the content "data", as
// an attachment named otherwise, and in a message.
func TestV7Tar(t *testing.T) {
	scr := gnuTar(t, map[string][]byte{"invoice.scr": peBytes}, "--format=v7")
	harmless := gnuTar(t, map[string][]byte{"readme.txt": []byte("read me\n")}, "--format=v7")
	if bytes.Contains(scr, []byte("ustar")) {
		t.Fatal("tar --format=v7 wrote the ustar magic")
	}
	t.Run("tgz named data", func(t *testing.T) {
		res := inspect(t, gzipNamed(t, "data", scr), "invoice.tgz", DefaultLimits())
		check(t, res, "[gzip]\ndata\n  [tar]\n  invoice.scr pe\n", "")
		if e := res.Attachments[0].Archive.Entries[0].Archive.Entries[0]; e.Ext != "scr" || e.Size != int64(len(peBytes)) {
			t.Errorf("entry = %+v", e)
		}
		check(t, inspect(t, gzipNamed(t, "data", harmless), "docs.tgz", DefaultLimits()), "[gzip]\ndata\n  [tar]\n  readme.txt\n", "")
	})
	t.Run("named otherwise", func(t *testing.T) {
		check(t, inspect(t, scr, "scan.dat", DefaultLimits()), "[tar]\ninvoice.scr pe\n", "")
		check(t, inspect(t, harmless, "scan.dat", DefaultLimits()), "[tar]\nreadme.txt\n", "")
	})
	t.Run("message", func(t *testing.T) {
		check(t, inspectMail(t, "scan.dat", "application/octet-stream", scr, DefaultLimits()), "[tar]\ninvoice.scr pe\n", "")
		res := inspectMail(t, "invoice.tgz", "application/x-gzip", gzipNamed(t, "data", scr), DefaultLimits())
		check(t, res, "[gzip]\ndata\n  [tar]\n  invoice.scr pe\n", "")
	})
	t.Run("old GNU", func(t *testing.T) {
		// Its magic is "ustar  ": archiveMagic tells it.
		og := gnuTar(t, map[string][]byte{"invoice.scr": peBytes}, "--format=oldgnu")
		check(t, inspect(t, og, "scan.dat", DefaultLimits()), "[tar]\ninvoice.scr pe\n", "")
	})
	t.Run("signed checksum", func(t *testing.T) {
		// Old BSD, Solaris and HP-UX tars summed signed chars: a name
		// in CP932 makes the sum differ.
		name, _ := japanese.ShiftJIS.NewEncoder().String("請求書.scr")
		a := gnuTar(t, map[string][]byte{name: peBytes}, "--format=v7")
		unsigned, signed := tarSums(a[:tarBlock])
		if unsigned == signed {
			t.Fatal("the sums do not differ")
		}
		copy(a[148:156], fmt.Sprintf("%06o\x00 ", signed))
		check(t, inspect(t, a, "scan.dat", DefaultLimits()), "[tar]\n請求書.scr pe\n", "")
	})
	t.Run("padding not zero", func(t *testing.T) {
		// libarchive and archive/tar ignore the bytes after a V7
		// header but the device numbers (329–344); the sink, which
		// decides on sniffLen bytes, cannot see them.
		a := bytes.Clone(scr)
		copy(a[345:tarBlock], bytes.Repeat([]byte("padding "), 30))
		u, _ := tarSums(a[:tarBlock])
		copy(a[148:156], fmt.Sprintf("%06o\x00 ", u))
		check(t, inspect(t, a, "scan.dat", DefaultLimits()), "[tar]\ninvoice.scr pe\n", "")
	})
	t.Run("shorter than a header", func(t *testing.T) {
		// A small program whose first 268 bytes could start a header
		// with a signed checksum of zero: no tool opens less than one
		// header as a tar archive; it is an executable, no archive gap.
		exe := append(bytes.Clone(peBytes), "PE\x00\x00"...)
		exe = append(exe, make([]byte, 200)...)
		check(t, inspect(t, exe, "invoice.exe", DefaultLimits()), "", "")
		if res := inspect(t, exe, "invoice.exe", DefaultLimits()); res.Attachments[0].Executable != "pe" {
			t.Errorf("executable %q", res.Attachments[0].Executable)
		}
		// Named .tar, the same few bytes are a tar that cannot be
		// opened: a gap, not a plain file.
		if g := gaps(inspect(t, []byte("0"), "a.tar", DefaultLimits())); !strings.Contains(g, "named or typed as a tar archive") {
			t.Errorf("one byte named a.tar: gaps %q", g)
		}
	})
}

// tarSums are the unsigned and the signed sums of a tar header, its
// checksum field counted as spaces.
func tarSums(h []byte) (unsigned, signed int64) {
	for i, c := range h {
		if i >= 148 && i < 156 {
			c = ' '
		}
		unsigned += int64(c)
		signed += int64(int8(c))
	}
	return unsigned, signed
}

// TestTarSniff: a V7 header is told from the sniffLen bytes the sink
// decides on, and from a whole head; content that is no tar header, or a
// header libarchive would not bid on, is not taken for one.
func TestTarSniff(t *testing.T) {
	v7 := gnuTar(t, map[string][]byte{"invoice.scr": peBytes}, "--format=v7")
	for _, n := range []int{257, sniffLen, tarBlock, headSize} {
		if f := sniffArchive(v7[:n]); f != FormatTar {
			t.Errorf("sniffArchive of %d bytes = %q", n, f)
		}
	}
	// edit returns the header with its bytes at off replaced, the
	// checksum fixed unless keep.
	edit := func(off int, b string, keep bool) []byte {
		h := bytes.Clone(v7[:tarBlock])
		copy(h[off:], b)
		if !keep {
			u, _ := tarSums(h)
			copy(h[148:156], fmt.Sprintf("%06o\x00 ", u))
		}
		return h
	}
	for name, c := range map[string]struct {
		head []byte
		want bool
	}{
		"checksum wrong":            {edit(148, "000001\x00 ", true), false},
		"checksum not octal":        {edit(148, "01234x\x00 ", true), false},
		"size not a number":         {edit(124, "0000000010x\x00", false), false},
		"type flag not a letter":    {edit(156, "\x01", false), false},
		"device number not one":     {edit(329, "abc", false), false},
		"size base-256":             {edit(124, "\x80\x00\x00\x00\x00\x00\x00\x00\x00\x00\x00\x40", false), true},
		"checksum with spaces":      {edit(148, "  ", false), true},
		"name empty":                {edit(0, "\x00", false), true},
		"name of control bytes":     {edit(0, "\x01\x02", false), true},
		"zeros":                     {make([]byte, tarBlock), false},
		"text":                      {[]byte(strings.Repeat("not a tar header, only text ", 30)), false},
		"shorter than a V7 header":  {v7[:256], false},
		"ustar, told by magic also": {tarOf(t, "a.txt", []byte("x")), true},
	} {
		if got := isTarHeader(c.head); got != c.want {
			t.Errorf("%s: isTarHeader = %v", name, got)
		}
	}
}

// FuzzTarSniff: the sniff never panics, and takes every head of a header
// it takes, down to 257 bytes, so that the sink keeps what archive then
// takes for a tar archive; a header it takes, archive/tar reads or
// refuses as corrupt, which is a gap.
func FuzzTarSniff(f *testing.F) {
	f.Add(gnuTar(f, map[string][]byte{"a.exe": peBytes}, "--format=v7"), uint16(262))
	f.Add(tarOf(f, "a.txt", []byte("x")), uint16(300))
	f.Add([]byte(strings.Repeat("text ", 200)), uint16(400))
	f.Fuzz(func(t *testing.T, data []byte, cut uint16) {
		full := isTarHeader(data)
		if n := int(cut); full && n >= 257 && n < min(len(data), tarBlock) && !isTarHeader(data[:n]) {
			t.Fatalf("a header, but not its first %d bytes", n)
		}
		if !full || len(data) < tarBlock {
			return
		}
		if _, err := tar.NewReader(bytes.NewReader(data)).Next(); err != nil {
			res := inspect(t, data, "scan.dat", DefaultLimits())
			if a := res.Attachments[0].Archive; a == nil || a.Format != FormatTar || !res.Has(GapArchive) {
				t.Fatalf("archive/tar: %v; inspected as %s %s", err, listing(a), gaps(res))
			}
		}
	})
}
