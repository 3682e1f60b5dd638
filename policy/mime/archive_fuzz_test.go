package mime

import (
	"bytes"
	"encoding/json"
	"testing"
)

// fuzzArchive inspects data as an archive of format, with small limits and
// one password candidate (the seeds that are encrypted use it), and checks
// that the result can be reported.
func fuzzArchive(t *testing.T, format string, data []byte) {
	lim := DefaultLimits()
	lim.MaxArchiveBytes = 4 << 20
	lim.MaxArchiveEntries = 200
	lim.TempDir = t.TempDir()
	in := newInspector(bytes.NewReader(nil), lim, nil, [][]byte{[]byte("pw")})
	a := in.inspectArchive(format, bytes.NewReader(data), int64(len(data)), 1, "f."+format, "attachment", "1", false)
	if a == nil && format == FormatTar && len(data) < tarBlock {
		// Sniffed (not claimed by a name), less than one header is no
		// tar; claimed, it is a gap (TestV7Tar).
		return
	}
	if a == nil || a.Format != format {
		t.Fatalf("archive = %+v", a)
	}
	if _, err := json.Marshal(in.res); err != nil {
		t.Fatal(err)
	}
}

func FuzzSevenZip(f *testing.F) {
	fs := map[string][]byte{"a.txt": []byte("hello\n"), "b.exe": peBytes, "c.zip": storeZip(f, "d.exe", peBytes)}
	for _, opts := range [][]string{nil, {"-ms=off"}, {"-ppw"}, {"-ppw", "-mhe=on"}, {"-m0=PPMd"}, {"-m0=LZMA2"}, {"-m0=BZip2"}, {"-m0=Deflate"}, {"-m0=Copy", "-ppw"}} {
		f.Add(sevenZip(f, fs, opts...))
	}
	f.Add(sevenZipWith([]byte("\x01\x05\x03\x00\x00")))
	f.Fuzz(func(t *testing.T, data []byte) { fuzzArchive(t, Format7z, data) })
}

func FuzzRar(f *testing.F) {
	f.Add(rar5(false, false, rarEntry{name: "a.txt", data: []byte("x")}, rarEntry{name: "b.exe", data: peBytes, encrypted: true}))
	f.Add(rar5(true, false, rarEntry{name: "a.txt", data: []byte("x"), unknownSize: true}, rarEntry{name: "c.zip", data: storeZip(f, "d.exe", peBytes)}))
	f.Add(rar5(false, true))
	f.Add(rar4(rarEntry{name: "\x8c\xa9.exe", data: peBytes}, rarEntry{name: "e.txt", data: []byte("x"), encrypted: true}))
	f.Fuzz(func(t *testing.T, data []byte) { fuzzArchive(t, FormatRar, data) })
}

func FuzzTar(f *testing.F) {
	f.Add(tarOf(f, "dir/", []byte(nil), "a.txt", []byte("x"), "\x8c\xa9.exe", peBytes, "c.tar.gz", gzipOf(f, "", tarOf(f, "d.exe", peBytes))))
	f.Add(tarOf(f, "c.zip", storeZip(f, "d.exe", peBytes)))
	f.Fuzz(func(t *testing.T, data []byte) { fuzzArchive(t, FormatTar, data) })
}

func FuzzGzip(f *testing.F) {
	f.Add(gzipOf(f, "a.exe", peBytes))
	f.Add(gzipOf(f, "", tarOf(f, "d.exe", peBytes)))
	f.Add(gzipOf(f, "x.zip", storeZip(f, "d.exe", peBytes)))
	f.Fuzz(func(t *testing.T, data []byte) { fuzzArchive(t, FormatGzip, data) })
}

func FuzzCFB(f *testing.F) {
	f.Add(cfbOf(f, map[string][]byte{"WordDocument": []byte("\xec\xa5\xc1\x00\x00\x00\x00\x00\x00\x00\x00\x01"), "ObjectPool/_1/\x01Ole10Native": olePackageOf("a.exe", peBytes)}, nil))
	f.Add(agileEncrypt(f, storeZip(f, "d.exe", peBytes), "pw", 10))
	f.Fuzz(func(t *testing.T, data []byte) {
		lim := DefaultLimits()
		lim.MaxArchiveBytes = 4 << 20
		lim.MaxArchiveEntries = 200
		lim.TempDir = t.TempDir()
		in := newInspector(bytes.NewReader(nil), lim, nil, [][]byte{[]byte("pw")})
		in.inspectArchive(FormatCFB, bytes.NewReader(data), int64(len(data)), 1, "f.doc", "attachment", "1", false)
		if _, err := json.Marshal(in.res); err != nil {
			t.Fatal(err)
		}
	})
}
