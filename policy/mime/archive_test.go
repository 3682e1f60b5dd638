package mime

import (
	"archive/tar"
	"archive/zip"
	"bytes"
	"compress/gzip"
	"encoding/base64"
	"encoding/binary"
	"fmt"
	"hash/crc32"
	"os"
	"os/exec"
	"path/filepath"
	"sort"
	"strings"
	"testing"

	"golang.org/x/text/encoding/japanese"
)

// peBytes is the start of a Windows executable.
var peBytes = append([]byte("MZ\x90\x00\x03\x00\x00\x00"), bytes.Repeat([]byte{0}, 56)...)

// tool returns the path of a program the archive tests run (installed by
// testdata/install-deps.sh); without it the test fails: a proof that did
// not run is no proof. Under -short the test is skipped instead: the fast
// loop runs no outside program.
func tool(t testing.TB, name string) string {
	t.Helper()
	if testing.Short() {
		t.Skipf("needs %s: run without -short", name)
	}
	p, err := exec.LookPath(name)
	if err != nil {
		t.Fatalf("%s not found: run bash testdata/install-deps.sh as root to install it", name)
	}
	return p
}

// files writes name → content into a new directory, and returns it.
func files(t testing.TB, fs map[string][]byte) string {
	t.Helper()
	dir := t.TempDir()
	for name, data := range fs {
		p := filepath.Join(dir, name)
		if err := os.MkdirAll(filepath.Dir(p), 0o755); err != nil {
			t.Fatal(err)
		}
		if err := os.WriteFile(p, data, 0o644); err != nil {
			t.Fatal(err)
		}
	}
	return dir
}

// run runs a program in dir and returns the archive it wrote there.
func run(t testing.TB, dir, out string, prog string, args ...string) []byte {
	t.Helper()
	cmd := exec.Command(prog, args...)
	cmd.Dir = dir
	if b, err := cmd.CombinedOutput(); err != nil {
		t.Fatalf("%s %s: %v\n%s", prog, strings.Join(args, " "), err, b)
	}
	data, err := os.ReadFile(filepath.Join(dir, out))
	if err != nil {
		t.Fatal(err)
	}
	return data
}

// sevenZip archives fs with 7z and the given options.
func sevenZip(t testing.TB, fs map[string][]byte, opts ...string) []byte {
	t.Helper()
	p := tool(t, "7z")
	dir := files(t, fs)
	var names []string
	for n := range fs {
		names = append(names, n)
	}
	sort.Strings(names)
	args := append(append([]string{"a", "-bd", "-bso0", "out.archive"}, opts...), names...)
	return run(t, dir, "out.archive", p, args...)
}

// inspect runs InspectFile on one file.
func inspect(t testing.TB, data []byte, name string, lim Limits, passwords ...string) *Result {
	t.Helper()
	var pws [][]byte
	for _, p := range passwords {
		pws = append(pws, []byte(p))
	}
	lim.TempDir = t.TempDir()
	res, err := InspectFile(bytes.NewReader(data), name, "", lim, pws)
	if err != nil {
		t.Fatal(err)
	}
	if len(res.Attachments) != 1 {
		t.Fatalf("attachments = %+v", res.Attachments)
	}
	return res
}

// listing renders an archive's entries, nested ones indented, one a line:
// "name size executable flags".
func listing(a *Archive) string {
	var b strings.Builder
	var walk func(a *Archive, indent string)
	walk = func(a *Archive, indent string) {
		if a == nil {
			return
		}
		b.WriteString(indent + "[" + a.Format)
		if a.Encrypted {
			b.WriteString(" encrypted")
		}
		if a.Skipped != "" {
			b.WriteString(" skipped: " + a.Skipped)
		}
		b.WriteString("]\n")
		for _, e := range a.Entries {
			b.WriteString(indent + e.Name)
			if e.Executable != "" {
				b.WriteString(" " + e.Executable)
			}
			if e.Encrypted {
				b.WriteString(" encrypted")
			}
			if e.Decrypted {
				b.WriteString(" decrypted")
			}
			b.WriteString("\n")
			walk(e.Archive, indent+"  ")
		}
	}
	walk(a, "")
	return b.String()
}

func check(t *testing.T, res *Result, wantListing, wantGaps string) {
	t.Helper()
	if got := listing(res.Attachments[0].Archive); got != wantListing {
		t.Errorf("listing:\n%s\nwant:\n%s", got, wantListing)
	}
	if got := gaps(res); got != wantGaps {
		t.Errorf("gaps:\n%s\nwant:\n%s", got, wantGaps)
	}
}

func TestSevenZip(t *testing.T) {
	inner := storeZip(t, "payload.exe", peBytes)
	fs := map[string][]byte{"readme.txt": []byte("read me\n"), "bin/setup.exe": peBytes, "inner.zip": inner}
	const list = "[7z]\nbin/setup.exe pe\ninner.zip\n  [zip]\n  payload.exe pe\nreadme.txt\n"
	t.Run("solid", func(t *testing.T) {
		res := inspect(t, sevenZip(t, fs), "a.7z", DefaultLimits())
		check(t, res, list, "")
	})
	t.Run("not solid", func(t *testing.T) {
		res := inspect(t, sevenZip(t, fs, "-ms=off"), "a.7z", DefaultLimits())
		check(t, res, list, "")
	})
	t.Run("by magic, not by name", func(t *testing.T) {
		res := inspect(t, sevenZip(t, fs), "scan.pdf", DefaultLimits())
		check(t, res, list, "")
	})
	t.Run("in zip", func(t *testing.T) {
		z := storeZip(t, "docs/a.7z", sevenZip(t, fs))
		res := inspect(t, z, "outer.zip", DefaultLimits())
		check(t, res, "[zip]\ndocs/a.7z\n  "+strings.ReplaceAll(strings.TrimSuffix(list, "\n"), "\n", "\n  ")+"\n", "")
	})
	t.Run("encrypted entries", func(t *testing.T) {
		a := sevenZip(t, fs, "-psecret")
		res := inspect(t, a, "a.7z", DefaultLimits())
		check(t, res, "[7z encrypted]\nbin/setup.exe encrypted\ninner.zip encrypted\nreadme.txt encrypted\n",
			`encrypted: part 1: attachment "a.7z" > "bin/setup.exe": encrypted; encrypted: part 1: attachment "a.7z" > "inner.zip": encrypted; encrypted: part 1: attachment "a.7z" > "readme.txt": encrypted`)
		res = inspect(t, a, "a.7z", DefaultLimits(), "wrong", "secret")
		check(t, res, "[7z encrypted]\nbin/setup.exe pe encrypted decrypted\ninner.zip encrypted decrypted\n  [zip]\n  payload.exe pe\nreadme.txt encrypted decrypted\n", "")
		res = inspect(t, a, "a.7z", DefaultLimits(), "wrong")
		if !res.Has(GapEncrypted) || strings.Contains(listing(res.Attachments[0].Archive), "decrypted") {
			t.Errorf("wrong password: %s %s", listing(res.Attachments[0].Archive), gaps(res))
		}
	})
	t.Run("encrypted entry list", func(t *testing.T) {
		a := sevenZip(t, fs, "-psecret", "-mhe=on")
		res := inspect(t, a, "a.7z", DefaultLimits())
		check(t, res, "[7z encrypted skipped: encrypted: the entry list cannot be read]\n",
			`encrypted: part 1: attachment "a.7z": encrypted: the entry list cannot be read`)
		res = inspect(t, a, "a.7z", DefaultLimits(), "wrong")
		check(t, res, "[7z encrypted skipped: encrypted: no password candidate opens the entry list]\n",
			`encrypted: part 1: attachment "a.7z": encrypted: no password candidate opens the entry list`)
		// The candidate that opens the list opens the entries.
		res = inspect(t, a, "a.7z", DefaultLimits(), "wrong", "secret")
		check(t, res, "[7z encrypted]\nbin/setup.exe pe encrypted decrypted\ninner.zip encrypted decrypted\n  [zip]\n  payload.exe pe\nreadme.txt encrypted decrypted\n", "")
	})
	t.Run("corrupt", func(t *testing.T) {
		a := sevenZip(t, fs)
		bad := append([]byte(nil), a...)
		for i := 40; i < len(bad)-40; i++ {
			bad[i] ^= 0x55
		}
		res := inspect(t, bad, "a.7z", DefaultLimits())
		if !res.Has(GapArchive) {
			t.Errorf("corrupt data: %s %s", listing(res.Attachments[0].Archive), gaps(res))
		}
		res = inspect(t, a[:len(a)-10], "a.7z", DefaultLimits())
		check(t, res, "[7z skipped: corrupt: 7z header out of bounds]\n", `archive: part 1: attachment "a.7z": corrupt: 7z header out of bounds`)
		res = inspect(t, []byte("not a 7z archive at all"), "a.7z", DefaultLimits())
		check(t, res, "[7z skipped: named or typed as a 7z archive, but its content is no archive format known]\n",
			`archive: part 1: attachment "a.7z": named or typed as a 7z archive, but its content is no archive format known`)
	})
}

// TestSevenZipBombs: what a 7z archive costs is bounded before it is paid:
// a solid block bigger than what is left to decompress is not read, and
// neither is a nested archive past the limit.
func TestSevenZipBombs(t *testing.T) {
	zeros := make([]byte, 8<<20)
	a := sevenZip(t, map[string][]byte{"a-zeros.bin": zeros, "b-setup.exe": peBytes})
	if len(a) > 64<<10 {
		t.Fatalf("7z of zeros is %d bytes", len(a))
	}
	lim := DefaultLimits()
	lim.MaxArchiveBytes = 1 << 20
	res := inspect(t, a, "bomb.7z", lim)
	check(t, res, "[7z]\na-zeros.bin\nb-setup.exe\n",
		`archive: part 1: attachment "bomb.7z" > "a-zeros.bin": cannot be read: too big: solid block of 8388672 bytes, 1048576 left to decompress; archive: part 1: attachment "bomb.7z" > "b-setup.exe": cannot be read: too big: solid block of 8388672 bytes, 1048576 left to decompress`)
	// Not solid: each entry is its own block, its head read alone.
	res = inspect(t, sevenZip(t, map[string][]byte{"a-zeros.bin": zeros, "b-setup.exe": peBytes}, "-ms=off"), "bomb.7z", lim)
	check(t, res, "[7z]\na-zeros.bin\nb-setup.exe pe\n", "")
	// A nested zip of 8 MiB is not extracted past the limit.
	res = inspect(t, sevenZip(t, map[string][]byte{"zeros.zip": storeZip(t, "zeros.bin", zeros)}), "bomb.7z", lim)
	check(t, res, "[7z]\nzeros.zip\n  [zip skipped: too big: 8388740 bytes, 1048576 allowed]\n",
		`archive: part 1: attachment "bomb.7z" > "zeros.zip": too big: 8388740 bytes, 1048576 allowed`)
}

// sevenZipWith wraps a plain 7z header into an archive with no streams.
func sevenZipWith(hdr []byte) []byte {
	b := make([]byte, 32, 32+len(hdr))
	copy(b, "7z\xbc\xaf\x27\x1c\x00\x04")
	binary.LittleEndian.PutUint64(b[12:], 0)
	binary.LittleEndian.PutUint64(b[20:], uint64(len(hdr)))
	binary.LittleEndian.PutUint32(b[28:], crc32.ChecksumIEEE(hdr))
	binary.LittleEndian.PutUint32(b[8:], crc32.ChecksumIEEE(b[12:32]))
	return append(b, hdr...)
}

// TestSevenZipHeaderCounts: a header of a few bytes that declares billions
// of files, coders or streams is refused before anything is allocated for
// them (sevenzip sizes its slices by these counts).
func TestSevenZipHeaderCounts(t *testing.T) {
	for _, c := range []struct {
		name, hdr, gap string
	}{
		{"files", "\x01\x05\xf0\xff\xff\xff\xff\x00\x00", `limit: part 1: attachment "a.7z": too many entries: 4294967295, 10000 left of 10000`},
		{"coders", "\x01\x04\x07\x0b\x01\x00\xf0\xff\xff\xff\x7f", `archive: part 1: attachment "a.7z": corrupt: bad 7z header`},
		{"coder streams", "\x01\x04\x07\x0b\x01\x00\x01\x11\x00\xf0\xff\xff\xff\x7f\x01", `archive: part 1: attachment "a.7z": corrupt: bad 7z header`},
		{"substreams", "\x01\x04\x06\x00\x01\x09\x01\x00\x07\x0b\x01\x00\x01\x01\x00\x0c\x01\x00\x08\x0d\xf0\xff\xff\xff\xff\x00\x00\x00", `limit: part 1: attachment "a.7z": too many entries: 4294967295, 10000 left of 10000`},
	} {
		t.Run(c.name, func(t *testing.T) {
			res := inspect(t, sevenZipWith([]byte(c.hdr)), "a.7z", DefaultLimits())
			if g := gaps(res); g != c.gap {
				t.Errorf("gaps = %s, want %s", g, c.gap)
			}
		})
	}
}

// tarOf builds a tar archive; names are written as given (raw bytes).
func tarOf(t testing.TB, fs ...any) []byte {
	t.Helper()
	var b bytes.Buffer
	w := tar.NewWriter(&b)
	for i := 0; i < len(fs); i += 2 {
		name, data := fs[i].(string), fs[i+1].([]byte)
		h := &tar.Header{Name: name, Mode: 0o644, Size: int64(len(data)), Typeflag: tar.TypeReg, Format: tar.FormatGNU}
		if strings.HasSuffix(name, "/") {
			h.Typeflag, h.Size = tar.TypeDir, 0
		}
		if err := w.WriteHeader(h); err != nil {
			t.Fatal(err)
		}
		w.Write(data)
	}
	if err := w.Close(); err != nil {
		t.Fatal(err)
	}
	return b.Bytes()
}

func gzipOf(t testing.TB, name string, data []byte) []byte {
	t.Helper()
	var b bytes.Buffer
	w := gzip.NewWriter(&b)
	// The header holds bytes; compress/gzip writes ISO 8859-1 runes as
	// bytes, so each byte of name is passed as one.
	var latin1 []rune
	for i := 0; i < len(name); i++ {
		latin1 = append(latin1, rune(name[i]))
	}
	w.Name = string(latin1)
	w.Write(data)
	if err := w.Close(); err != nil {
		t.Fatal(err)
	}
	return b.Bytes()
}

func TestTarGzip(t *testing.T) {
	sjis := func(s string) string { b, _ := japanese.ShiftJIS.NewEncoder().String(s); return b }
	tr := tarOf(t, "docs/", []byte(nil), "docs/readme.txt", []byte("read me\n"), sjis("docs/請求書①.exe"), peBytes,
		"inner.zip", storeZip(t, "payload.scr", peBytes))
	const list = "[tar]\ndocs/readme.txt\ndocs/請求書①.exe pe\ninner.zip\n  [zip]\n  payload.scr pe\n"
	t.Run("tar", func(t *testing.T) {
		check(t, inspect(t, tr, "a.tar", DefaultLimits()), list, "")
	})
	t.Run("tar.gz", func(t *testing.T) {
		res := inspect(t, gzipOf(t, "", tr), "a.tar.gz", DefaultLimits())
		check(t, res, "[gzip]\na.tar\n  "+strings.ReplaceAll(strings.TrimSuffix(list, "\n"), "\n", "\n  ")+"\n", "")
		res = inspect(t, gzipOf(t, "", tr), "a.tgz", DefaultLimits())
		check(t, res, "[gzip]\na.tar\n  "+strings.ReplaceAll(strings.TrimSuffix(list, "\n"), "\n", "\n  ")+"\n", "")
	})
	t.Run("gzip exe, stored name", func(t *testing.T) {
		res := inspect(t, gzipOf(t, sjis("請求書.exe"), peBytes), "invoice.gz", DefaultLimits())
		check(t, res, "[gzip]\n請求書.exe pe\n", "")
		if e := res.Attachments[0].Archive.Entries[0]; e.Size != int64(len(peBytes)) || e.Ext != "exe" {
			t.Errorf("entry = %+v", e)
		}
	})
	t.Run("tar bomb in gzip", func(t *testing.T) {
		lim := DefaultLimits()
		lim.MaxArchiveBytes = 1 << 20
		res := inspect(t, gzipOf(t, "x.tar", tarOf(t, "zeros.bin", make([]byte, 4<<20), "setup.exe", peBytes)), "x.tar.gz", lim)
		check(t, res, "[gzip]\nx.tar\n  [tar skipped: too big: 4196864 bytes, 1048576 allowed]\n",
			`archive: part 1: attachment "x.tar.gz" > "x.tar": too big: 4196864 bytes, 1048576 allowed`)
		// The size at the end of a gzip stream can lie: the spool stops
		// all the same.
		g := gzipOf(t, "x.tar", tarOf(t, "zeros.bin", make([]byte, 4<<20), "setup.exe", peBytes))
		binary.LittleEndian.PutUint32(g[len(g)-4:], 100)
		res = inspect(t, g, "x.tar.gz", lim)
		check(t, res, "[gzip]\nx.tar\n  [tar skipped: too big: more than 1048576 bytes]\n",
			`archive: part 1: attachment "x.tar.gz" > "x.tar": too big: more than 1048576 bytes`)
	})
	t.Run("depth", func(t *testing.T) {
		a := gzipOf(t, "", tarOf(t, "setup.exe", peBytes))
		for i := 0; i < 3; i++ {
			a = gzipOf(t, "", tarOf(t, "level.tar.gz", a))
		}
		lim := DefaultLimits()
		lim.MaxArchiveDepth = 5
		res := inspect(t, a, "deep.tgz", lim)
		if !strings.Contains(gaps(res), "too deep: archive nesting exceeds 5") {
			t.Errorf("gaps = %s", gaps(res))
		}
	})
	t.Run("corrupt", func(t *testing.T) {
		res := inspect(t, append([]byte("\x1f\x8b"), bytes.Repeat([]byte{0xee}, 40)...), "a.gz", DefaultLimits())
		check(t, res, "[gzip skipped: corrupt: gzip: invalid header]\n", `archive: part 1: attachment "a.gz": corrupt: gzip: invalid header`)
		bad := append([]byte(nil), tr...)
		bad[512+148] ^= 1 // the checksum of the second header
		res = inspect(t, bad, "a.tar", DefaultLimits())
		check(t, res, "[tar skipped: corrupt: archive/tar: invalid tar header]\n", `archive: part 1: attachment "a.tar": corrupt: archive/tar: invalid tar header`)
		bad = append([]byte(nil), tr...)
		bad[1536+148] ^= 1 // the third: the entries before it are listed
		res = inspect(t, bad, "a.tar", DefaultLimits())
		check(t, res, "[tar skipped: corrupt: archive/tar: invalid tar header]\ndocs/readme.txt\n", `archive: part 1: attachment "a.tar": corrupt: archive/tar: invalid tar header`)
		res = inspect(t, bytes.Repeat([]byte("not tar "), 200), "a.tar", DefaultLimits())
		check(t, res, "[tar skipped: named or typed as a tar archive, but its content is no archive format known]\n",
			`archive: part 1: attachment "a.tar": named or typed as a tar archive, but its content is no archive format known`)
	})
	t.Run("entry limit", func(t *testing.T) {
		var fs []any
		for i := 0; i < 20; i++ {
			fs = append(fs, string(rune('a'+i))+".txt", []byte("x"))
		}
		lim := DefaultLimits()
		lim.MaxArchiveEntries = 5
		res := inspect(t, tarOf(t, fs...), "a.tar", lim)
		if len(res.Attachments[0].Archive.Entries) != 5 || gaps(res) != `limit: part 1: attachment "a.tar": too many entries: limit 5 reached` {
			t.Errorf("%s %s", listing(res.Attachments[0].Archive), gaps(res))
		}
	})
}

// TestZipCP932Names: zip names without the UTF-8 flag are decoded as CP932
// when they are not UTF-8, NEC and IBM extensions included; UTF-8 and
// ASCII names are kept.
func TestZipCP932Names(t *testing.T) {
	enc := func(s string) string { b, _ := japanese.ShiftJIS.NewEncoder().String(s); return b }
	var b bytes.Buffer
	w := zip.NewWriter(&b)
	for _, n := range []struct {
		raw  string
		utf8 bool
	}{{enc("見積書①②.pdf.exe"), false}, {"\xfb\xfc.txt", false}, {"plain.txt", false}, {"日本語.txt", false}, {"flagged.txt", true}} {
		h := &zip.FileHeader{Name: n.raw, Method: zip.Store, NonUTF8: !n.utf8}
		fw, _ := w.CreateHeader(h)
		fw.Write(peBytes)
	}
	w.Close()
	res := inspect(t, b.Bytes(), "a.zip", DefaultLimits())
	check(t, res, "[zip]\n見積書①②.pdf.exe pe\n髙.txt pe\nplain.txt pe\n日本語.txt pe\nflagged.txt pe\n", "")
}

// TestZipPasswords: entries encrypted by real tools, traditional PKWARE
// (zip -P) and WinZip AES (7z -tzip -mem=AES…), are decrypted with the
// right candidate only, nested archives and executables included.
func TestZipPasswords(t *testing.T) {
	inner := storeZip(t, "payload.exe", peBytes)
	fs := map[string][]byte{"note.txt": bytes.Repeat([]byte("password in the next mail\n"), 100), "setup.exe": peBytes, "inner.zip": inner}
	type archive struct {
		data []byte
		pw   string // the right one; "wrong" and pw[:2] are tried before
	}
	archives := map[string]archive{}
	zipTool := tool(t, "zip")
	dir := files(t, fs)
	// zip takes the password's bytes as they are (UTF-8 here); 7z takes
	// only ASCII for zip archives.
	archives["zipcrypto"] = archive{run(t, dir, "zc.zip", zipTool, "-q", "-P", "秘密pw", "zc.zip", "note.txt", "setup.exe", "inner.zip"), "秘密pw"}
	for _, m := range []string{"AES128", "AES192", "AES256"} {
		archives[m] = archive{sevenZip(t, fs, "-tzip", "-ps3cret!pw", "-mem="+m), "s3cret!pw"}
	}
	for name, ar := range archives {
		a, pw := ar.data, ar.pw
		t.Run(name, func(t *testing.T) {
			res := inspect(t, a, "a.zip", DefaultLimits())
			if l := listing(res.Attachments[0].Archive); strings.Contains(l, " pe\n") || len(res.Uninspected) != 3 {
				t.Errorf("without password: %s %s", l, gaps(res))
			}
			res = inspect(t, a, "a.zip", DefaultLimits(), "wrong", pw[:2], pw)
			want := map[string]string{"note.txt": "", "setup.exe": "pe", "inner.zip": ""}
			for _, e := range res.Attachments[0].Archive.Entries {
				if !e.Encrypted || !e.Decrypted || e.Executable != want[e.Name] {
					t.Errorf("entry %+v", e)
				}
				if e.Name == "inner.zip" && (e.Archive == nil || len(e.Archive.Entries) != 1 || e.Archive.Entries[0].Executable != "pe") {
					t.Errorf("inner zip %+v", e.Archive)
				}
			}
			if len(res.Uninspected) != 0 {
				t.Errorf("gaps: %s", gaps(res))
			}
			res = inspect(t, a, "a.zip", DefaultLimits(), "wrong", pw[:2])
			if g := gaps(res); strings.Count(g, "no password candidate fits") != 3 || strings.Contains(g, "wrong") {
				t.Errorf("wrong passwords: %s", g)
			}
		})
	}
}

// rarVintAppend appends a RAR 5 variable-length integer.
func rarVintAppend(b []byte, v uint64) []byte {
	for v >= 0x80 {
		b = append(b, byte(v)|0x80)
		v >>= 7
	}
	return append(b, byte(v))
}

// rar5Block appends a RAR 5 header block: CRC-32, size, fields, then data.
func rar5Block(out []byte, fields []byte, data []byte) []byte {
	h := rarVintAppend(nil, uint64(len(fields)))
	h = append(h, fields...)
	var c [4]byte
	binary.LittleEndian.PutUint32(c[:], crc32.ChecksumIEEE(h))
	out = append(out, c[:]...)
	return append(append(out, h...), data...)
}

// rar5 builds a RAR 5 archive of stored entries from the format's
// specification (rarlab's technote): headers with their CRC-32, vint
// fields. encrypted marks entries with an encryption record (their data is
// not encrypted: only the flag is tested); listEncrypted writes an archive
// encryption header first, as rar -hp does.
func rar5(solid, listEncrypted bool, entries ...rarEntry) []byte {
	vint, block := rarVintAppend, rar5Block
	out := []byte("Rar!\x1a\x07\x01\x00")
	if listEncrypted {
		f := vint(vint(vint(vint(nil, 4), 0), 0), 1) // type 4, flags, version 0, password check
		f = append(f, 15)
		f = append(f, make([]byte, 16+12)...)
		return block(out, f, nil)
	}
	var arc uint64
	if solid {
		arc = 4
	}
	out = block(out, vint(vint(vint(nil, 1), 0), arc), nil)
	for _, e := range entries {
		var extra []byte
		if e.encrypted {
			rec := vint(vint(vint(nil, 1), 0), 0) // encryption, AES-256, no check value
			rec = append(rec, 15)
			rec = append(rec, make([]byte, 32)...)
			extra = vint(nil, uint64(len(rec)))
			extra = append(extra, rec...)
		}
		flags := uint64(2) // data area
		if len(extra) > 0 {
			flags |= 1
		}
		f := vint(vint(nil, 2), flags)
		if len(extra) > 0 {
			f = vint(f, uint64(len(extra)))
		}
		f = vint(f, uint64(len(e.data)))
		if e.unknownSize {
			f = vint(f, 4|8) // file flags: CRC-32, unknown size
		} else {
			f = vint(f, 4) // file flags: CRC-32
		}
		f = vint(f, uint64(len(e.data)))
		f = vint(f, 0x20) // attributes
		var c [4]byte
		binary.LittleEndian.PutUint32(c[:], crc32.ChecksumIEEE(e.data))
		f = append(f, c[:]...)
		comp := uint64(0)
		if solid {
			comp = 0x40
		}
		f = vint(f, comp) // version 0, stored
		f = vint(f, 0)    // host OS Windows
		f = vint(f, uint64(len(e.name)))
		f = append(f, e.name...)
		f = append(f, extra...)
		out = block(out, f, e.data)
	}
	return block(out, vint(vint(vint(nil, 5), 0), 0), nil)
}

type rarEntry struct {
	name        string
	data        []byte
	encrypted   bool
	unknownSize bool
}

// rar4 builds a RAR 1.5–4 archive of stored entries (technote of RAR
// 4): the name is written as given, as RAR 4 does on Windows without the
// Unicode flag (the system's code page).
func rar4(entries ...rarEntry) []byte {
	block := func(out []byte, typ byte, flags uint16, rest []byte, data []byte) []byte {
		h := []byte{typ, byte(flags), byte(flags >> 8), 0, 0}
		binary.LittleEndian.PutUint16(h[3:], uint16(2+len(h)+len(rest)))
		h = append(h, rest...)
		var c [2]byte
		binary.LittleEndian.PutUint16(c[:], uint16(crc32.ChecksumIEEE(h)))
		return append(append(append(out, c[:]...), h...), data...)
	}
	out := []byte("Rar!\x1a\x07\x00")
	out = block(out, 0x73, 0, make([]byte, 6), nil)
	for _, e := range entries {
		var r []byte
		r = binary.LittleEndian.AppendUint32(r, uint32(len(e.data)))
		r = binary.LittleEndian.AppendUint32(r, uint32(len(e.data)))
		r = append(r, 2) // host OS Windows
		r = binary.LittleEndian.AppendUint32(r, crc32.ChecksumIEEE(e.data))
		r = binary.LittleEndian.AppendUint32(r, 0x21000000)
		r = append(r, 29, 0x30) // version 2.9, stored
		r = binary.LittleEndian.AppendUint16(r, uint16(len(e.name)))
		r = binary.LittleEndian.AppendUint32(r, 0x20)
		r = append(r, e.name...)
		flags := uint16(0x8000)
		if e.encrypted {
			flags |= 0x4
		}
		out = block(out, 0x74, flags, r, e.data)
	}
	return block(out, 0x7b, 0x4000, nil, nil)
}

func TestRar(t *testing.T) {
	sjis := func(s string) string { b, _ := japanese.ShiftJIS.NewEncoder().String(s); return b }
	inner := storeZip(t, "payload.exe", peBytes)
	t.Run("rar5", func(t *testing.T) {
		for _, solid := range []bool{false, true} {
			a := rar5(solid, false, rarEntry{name: "readme.txt", data: []byte("read me\n")}, rarEntry{name: "請求書.exe", data: peBytes},
				rarEntry{name: "inner.zip", data: inner})
			check(t, inspect(t, a, "a.rar", DefaultLimits()), "[rar]\nreadme.txt\n請求書.exe pe\ninner.zip\n  [zip]\n  payload.exe pe\n", "")
		}
	})
	t.Run("rar4 cp932 name", func(t *testing.T) {
		a := rar4(rarEntry{name: sjis("見積書.pdf.exe"), data: peBytes}, rarEntry{name: "a.txt", data: []byte("x")})
		check(t, inspect(t, a, "a.rar", DefaultLimits()), "[rar]\n見積書.pdf.exe pe\na.txt\n", "")
	})
	t.Run("in 7z", func(t *testing.T) {
		a := sevenZip(t, map[string][]byte{"a.rar": rar5(false, false, rarEntry{name: "setup.exe", data: peBytes})})
		check(t, inspect(t, a, "a.7z", DefaultLimits()), "[7z]\na.rar\n  [rar]\n  setup.exe pe\n", "")
	})
	t.Run("encrypted entries", func(t *testing.T) {
		a := rar5(false, false, rarEntry{name: "note.txt", data: []byte("x")}, rarEntry{name: "invoice.exe", data: peBytes, encrypted: true})
		check(t, inspect(t, a, "a.rar", DefaultLimits()), "[rar encrypted]\nnote.txt\ninvoice.exe encrypted\n",
			`encrypted: part 1: attachment "a.rar" > "invoice.exe": encrypted`)
		a = rar4(rarEntry{name: "invoice.exe", data: peBytes, encrypted: true})
		check(t, inspect(t, a, "a.rar", DefaultLimits()), "[rar encrypted]\ninvoice.exe encrypted\n",
			`encrypted: part 1: attachment "a.rar" > "invoice.exe": encrypted`)
	})
	t.Run("encrypted entry list", func(t *testing.T) {
		check(t, inspect(t, rar5(false, true), "a.rar", DefaultLimits(), "pw"), "[rar encrypted skipped: encrypted: the entry list cannot be read]\n",
			`encrypted: part 1: attachment "a.rar": encrypted: the entry list cannot be read`)
	})
	t.Run("solid costs", func(t *testing.T) {
		// An entry of unknown size may decompress to anything: in a solid
		// archive, the entries after it are not reached.
		big := make([]byte, 64<<10)
		a := rar5(true, false, rarEntry{name: "zeros.bin", data: big, unknownSize: true}, rarEntry{name: "setup.exe", data: peBytes})
		check(t, inspect(t, a, "a.rar", DefaultLimits()), "[rar skipped: too big: solid archive: more than 52428800 bytes to decompress to reach the next entry]\nzeros.bin\n",
			`archive: part 1: attachment "a.rar": too big: solid archive: more than 52428800 bytes to decompress to reach the next entry`)
		// Solid, the entries passed are charged (64 KiB less the 4 KiB
		// read of each) to what is left once the rar is extracted from
		// the zip: 200 KiB less its size.
		lim := DefaultLimits()
		lim.MaxArchiveBytes = 200 << 10
		a = rar5(true, false, rarEntry{name: "zeros.bin", data: big}, rarEntry{name: "zeros2.bin", data: big}, rarEntry{name: "setup.exe", data: peBytes})
		left := lim.MaxArchiveBytes - int64(len(a)) - (60 << 10)
		why := fmt.Sprintf("too big: solid archive: more than %d bytes to decompress to reach the next entry", left)
		check(t, inspect(t, storeZip(t, "a.rar", a), "a.zip", lim), "[zip]\na.rar\n  [rar skipped: "+why+"]\n  zeros.bin\n  zeros2.bin\n",
			`archive: part 1: attachment "a.zip" > "a.rar": `+why)
		// Not solid, entries are seeked over.
		a = rar5(false, false, rarEntry{name: "zeros.bin", data: big, unknownSize: true}, rarEntry{name: "zeros2.bin", data: big}, rarEntry{name: "setup.exe", data: peBytes})
		check(t, inspect(t, storeZip(t, "a.rar", a), "a.zip", lim), "[zip]\na.rar\n  [rar]\n  zeros.bin\n  zeros2.bin\n  setup.exe pe\n", "")
	})
	t.Run("corrupt", func(t *testing.T) {
		a := rar5(false, false, rarEntry{name: "setup.exe", data: peBytes})
		a[len("Rar!\x1a\x07\x01\x00")+20] ^= 0xff
		res := inspect(t, a, "a.rar", DefaultLimits())
		if !res.Has(GapArchive) {
			t.Errorf("corrupt: %s %s", listing(res.Attachments[0].Archive), gaps(res))
		}
	})
}

// TestZipEndRecord: the end record is found after an archive comment of
// any length (it is looked for in the last KiB first, then in the last 64
// KiB), in a raw attachment and in a base64 one (decoded where it is read),
// also when it starts just inside the first KiB looked at.
func TestZipEndRecord(t *testing.T) {
	for _, n := range []int{0, 900, 1000, 1002, 1010, 5000, 65535} {
		var b bytes.Buffer
		w := zip.NewWriter(&b)
		fw, _ := w.Create("a.exe")
		fw.Write(peBytes)
		if err := w.SetComment(strings.Repeat("c", n)); err != nil {
			t.Fatal(err)
		}
		w.Close()
		check(t, inspect(t, b.Bytes(), "a.zip", DefaultLimits()), "[zip]\na.exe pe\n", "")

		enc := base64.StdEncoding.EncodeToString(b.Bytes())
		var body strings.Builder
		for len(enc) > 76 {
			body.WriteString(enc[:76] + "\r\n")
			enc = enc[76:]
		}
		body.WriteString(enc + "\r\n")
		msg := "Subject: z\r\nContent-Type: application/zip; name=\"a.zip\"\r\nContent-Transfer-Encoding: base64\r\n\r\n" + body.String()
		lim := DefaultLimits()
		lim.TempDir = t.TempDir()
		res, err := Inspect(strings.NewReader(msg), lim)
		if err != nil {
			t.Fatal(err)
		}
		if got := listing(res.Attachments[0].Archive); got != "[zip]\na.exe pe\n" {
			t.Errorf("comment of %d bytes, base64: listing\n%s", n, got)
		}
	}
}

// TestZipEndRecordZip64: when the end record lies within the last KiB but
// too near its start for the ZIP64 locator before it, the wider span is
// read, so that a saturated count is still taken from the ZIP64 record.
func TestZipEndRecordZip64(t *testing.T) {
	var b bytes.Buffer
	w := zip.NewWriter(&b)
	for i := 0; i < 65536; i++ {
		w.CreateHeader(&zip.FileHeader{Name: fmt.Sprintf("%05d", i), Method: zip.Store})
	}
	w.SetComment(strings.Repeat("c", 1000)) // the record starts 2 bytes into the last KiB
	w.Close()
	res := inspect(t, b.Bytes(), "a.zip", DefaultLimits())
	if got, want := res.Attachments[0].Archive.Skipped, "too many entries: 65536, 10000 left of 10000"; got != want {
		t.Errorf("skipped %q, want %q", got, want)
	}
}
