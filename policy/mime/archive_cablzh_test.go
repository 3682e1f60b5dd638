package mime

import (
	"bytes"
	"crypto/sha256"
	"encoding/binary"
	"errors"
	"fmt"
	"io"
	"math/rand/v2"
	"os"
	"os/exec"
	"path/filepath"
	"runtime"
	"runtime/debug"
	"sort"
	"strings"
	"sync"
	"testing"
	"time"

	"golang.org/x/text/encoding/japanese"
)

// invoiceExe is a PE that compresses: peBytes, then text, so that the
// tools choose -lh5- and deflate blocks with matches for it.
var invoiceExe = append(append([]byte{}, peBytes...), bytes.Repeat([]byte("This program cannot be run in DOS mode.\r\n"), 60)...)

// wordsText returns n bytes of text that compresses, but not to nothing: words
// drawn at random from a small list, so that matches reach far back.
func wordsText(n int) []byte {
	words := strings.Fields("請求書 invoice payment 見積書 order delivery the of and 納品書 total amount due date account bank transfer")
	r := rand.New(rand.NewPCG(1, 2))
	var b bytes.Buffer
	for b.Len() < n {
		b.WriteString(words[r.IntN(len(words))])
		b.WriteByte(" \n"[r.IntN(8)/7])
	}
	return b.Bytes()[:n]
}

// sortedNames returns the names of fs in order.
func sortedNames(fs map[string][]byte) []string {
	var names []string
	for n := range fs {
		names = append(names, n)
	}
	sort.Strings(names)
	return names
}

// gcab makes a cabinet of fs with gcab (MSZIP when zip), its names in
// order, and checks it with cabextract: the file is a cabinet as the
// tools read it.
func gcab(t testing.TB, zip bool, fs map[string][]byte) []byte {
	t.Helper()
	dir := files(t, fs)
	args := []string{"-c"}
	if zip {
		args = append(args, "-z")
	}
	args = append(append(args, "out.cab"), sortedNames(fs)...)
	cab := run(t, dir, "out.cab", tool(t, "gcab"), args...)
	run(t, dir, "out.cab", tool(t, "cabextract"), "-q", "-t", "out.cab")
	return cab
}

// jlha makes an LHA archive of fs with jlha (jlha-utils), its names in
// order: header level 0, 1 or 2, method "o5", "o6", "o7" or "z" (stored);
// names written in CP932. lhasa's lha tests it: the file is an LHA
// archive as another implementation reads it.
func jlha(t testing.TB, level int, method string, fs map[string][]byte) []byte {
	t.Helper()
	h := sha256.New()
	fmt.Fprint(h, level, method)
	for _, n := range sortedNames(fs) {
		fmt.Fprintf(h, "%q%d", n, len(fs[n]))
		h.Write(fs[n])
	}
	key := string(h.Sum(nil))
	if a, ok := jlhaMade.Load(key); ok {
		return append([]byte(nil), a.([]byte)...)
	}
	dir := files(t, fs)
	cmd := exec.Command(tool(t, "jlha"), append([]string{fmt.Sprintf("a%d%s", level, method), "out.lzh"}, sortedNames(fs)...)...)
	cmd.Dir = dir
	cmd.Env = append(os.Environ(), "LC_ALL=C.UTF-8", "JAVA_TOOL_OPTIONS=-Dlha.encoding=MS932")
	if b, err := cmd.CombinedOutput(); err != nil {
		t.Fatalf("jlha: %v\n%s", err, b)
	}
	a := run(t, dir, "out.lzh", tool(t, "lhasa"), "tq", "out.lzh")
	jlhaMade.Store(key, a)
	return append([]byte(nil), a...)
}

// jlhaMade are the archives jlha made, by what they hold: a Java tool
// starts slowly.
var jlhaMade sync.Map

// lzhEntryLen is the length of the first entry of a, header and data
// (levels 0 to 2).
func lzhEntryLen(t testing.TB, a []byte) int {
	t.Helper()
	packed := int(binary.LittleEndian.Uint32(a[7:]))
	switch a[20] {
	case 0, 1: // level 1: the compressed size counts the extended headers
		return 2 + int(a[0]) + packed
	case 2:
		return int(binary.LittleEndian.Uint16(a)) + packed
	}
	t.Fatalf("level %d", a[20])
	return 0
}

// lzhMethodsOf lists the methods of the entries of an LHA archive.
func lzhMethodsOf(t testing.TB, a []byte) []string {
	t.Helper()
	var ms []string
	for at := 0; at+22 <= len(a) && a[at] != 0; at += lzhEntryLen(t, a[at:]) {
		ms = append(ms, string(a[at+2:at+7]))
	}
	return ms
}

// cp932 encodes s in Shift_JIS, as Japanese Windows writes names.
func cp932(s string) string {
	b, _ := japanese.ShiftJIS.NewEncoder().String(s)
	return b
}

// TestCab: cabinets made by gcab, stored and MSZIP, are listed, their
// executables found by content, a zip in them looked into; a file after
// one of several data blocks is reached, its MSZIP blocks decoded with
// the dictionary carried from block to block.
func TestCab(t *testing.T) {
	fs := map[string][]byte{
		"INVOICE.EXE":      invoiceExe,
		"a-big.txt":        wordsText(200 << 10),
		"docs/請求書.exe":     peBytes,
		"inner.zip":        storeZip(t, "payload.exe", peBytes),
		"readme.txt":       []byte("read me\n"),
		"z-after-big.scr":  peBytes,
		"z-empty-file.txt": nil,
	}
	const list = "[cab]\nINVOICE.EXE pe\na-big.txt\ndocs/請求書.exe pe\ninner.zip\n  [zip]\n  payload.exe pe\nreadme.txt\nz-after-big.scr pe\nz-empty-file.txt\n"
	for _, zip := range []bool{false, true} {
		t.Run(fmt.Sprintf("zip=%v", zip), func(t *testing.T) {
			a := gcab(t, zip, fs)
			if zip && bytes.Count(a, []byte("CK")) < 7 {
				t.Fatalf("not MSZIP blocks: %d CK", bytes.Count(a, []byte("CK")))
			}
			res := inspect(t, a, "a.cab", DefaultLimits())
			check(t, res, list, "")
			e := res.Attachments[0].Archive.Entries[0]
			if e.Name != "INVOICE.EXE" || e.Ext != "exe" || e.Executable != ExecPE || e.Size != int64(len(invoiceExe)) {
				t.Errorf("entry = %+v", e)
			}
			// By magic, whatever its name.
			check(t, inspect(t, a, "scan.pdf", DefaultLimits()), list, "")
		})
	}
	t.Run("in zip", func(t *testing.T) {
		a := storeZip(t, "x/a.cab", gcab(t, true, map[string][]byte{"INVOICE.EXE": invoiceExe}))
		check(t, inspect(t, a, "a.zip", DefaultLimits()), "[zip]\nx/a.cab\n  [cab]\n  INVOICE.EXE pe\n", "")
	})
}

// cabFileRec is a CFFILE record of a cabinet built by cabBuild.
type cabFileRec struct {
	name   string
	size   uint32
	off    uint32
	folder uint16
	attrs  uint16
}

// cabBuild writes a cabinet from [MS-CAB]: one folder of method (0 stored)
// whose data blocks are blocks (each: its bytes, and the decoded size it
// claims), the files given, and flags (the next/previous cabinets' names
// written when flagged). A tool's cabinet cannot say what these say.
func cabBuild(flags uint16, method uint16, blocks [][]byte, claims []int, recs []cabFileRec) []byte {
	var strs []byte
	if flags&cabPrevCabinet != 0 {
		strs = append(strs, "prev.cab\x00disk1\x00"...)
	}
	if flags&cabNextCabinet != 0 {
		strs = append(strs, "next.cab\x00disk2\x00"...)
	}
	folderAt := 36 + len(strs)
	filesAt := folderAt + 8
	var fileRecs []byte
	for _, r := range recs {
		var h [16]byte
		binary.LittleEndian.PutUint32(h[0:], r.size)
		binary.LittleEndian.PutUint32(h[4:], r.off)
		binary.LittleEndian.PutUint16(h[8:], r.folder)
		binary.LittleEndian.PutUint16(h[14:], r.attrs)
		fileRecs = append(append(append(fileRecs, h[:]...), r.name...), 0)
	}
	dataAt := filesAt + len(fileRecs)
	var data []byte
	for i, b := range blocks {
		var h [8]byte
		binary.LittleEndian.PutUint16(h[4:], uint16(len(b)))
		binary.LittleEndian.PutUint16(h[6:], uint16(claims[i]))
		data = append(append(data, h[:]...), b...)
	}
	h := make([]byte, 36)
	copy(h, "MSCF")
	binary.LittleEndian.PutUint32(h[8:], uint32(dataAt+len(data)))
	binary.LittleEndian.PutUint32(h[16:], uint32(filesAt))
	h[24], h[25] = 3, 1
	binary.LittleEndian.PutUint16(h[26:], 1)
	binary.LittleEndian.PutUint16(h[28:], uint16(len(recs)))
	binary.LittleEndian.PutUint16(h[30:], flags)
	var f [8]byte
	binary.LittleEndian.PutUint32(f[0:], uint32(dataAt))
	binary.LittleEndian.PutUint16(f[4:], uint16(len(blocks)))
	binary.LittleEndian.PutUint16(f[6:], method)
	out := append(append(append(h, strs...), f[:]...), fileRecs...)
	return append(out, data...)
}

// cabStored is a cabinet of one stored folder holding the files given as
// name, content pairs, one after the other, in blocks of 32 KiB.
func cabStored(flags uint16, fs ...any) []byte {
	var data []byte
	var recs []cabFileRec
	for i := 0; i < len(fs); i += 2 {
		b := fs[i+1].([]byte)
		recs = append(recs, cabFileRec{name: fs[i].(string), size: uint32(len(b)), off: uint32(len(data)), attrs: 0x20})
		data = append(data, b...)
	}
	var blocks [][]byte
	var claims []int
	for len(data) > 0 {
		n := min(len(data), cabMaxBlock)
		blocks, claims = append(blocks, data[:n]), append(claims, n)
		data = data[n:]
	}
	return cabBuild(flags, 0, blocks, claims, recs)
}

// TestCabNames: names without the UTF-8 attribute are in the system's code
// page (CP932 in Japan), with backslashes between a path's parts; the
// attribute says UTF-8.
func TestCabNames(t *testing.T) {
	a := cabBuild(0, 0, [][]byte{peBytes}, []int{len(peBytes)}, []cabFileRec{
		{name: cp932(`書類\請求書.exe`), size: uint32(len(peBytes))},
		{name: "見積書.exe", size: uint32(len(peBytes)), attrs: cabNameIsUTF8},
		{name: `dir\plain.exe`, size: uint32(len(peBytes))},
	})
	check(t, inspect(t, a, "a.cab", DefaultLimits()), "[cab]\n書類/請求書.exe pe\n見積書.exe pe\ndir/plain.exe pe\n", "")
}

// TestCabGaps: what a cabinet holds that is not read is a gap of its
// entry, the entry listed: Quantum folders, files of other cabinets of a
// set.
func TestCabGaps(t *testing.T) {
	t.Run("quantum", func(t *testing.T) {
		a := gcab(t, true, map[string][]byte{"INVOICE.EXE": invoiceExe})
		folder := 36
		for method, why := range map[uint16]string{0x0f02: "compressed with Quantum: not supported", 0x1502: "compressed with Quantum: not supported"} {
			b := append([]byte(nil), a...)
			binary.LittleEndian.PutUint16(b[folder+6:], method)
			check(t, inspect(t, b, "a.cab", DefaultLimits()), "[cab]\nINVOICE.EXE\n",
				`archive: part 1: attachment "a.cab" > "INVOICE.EXE": cannot be read: `+why)
		}
	})
	t.Run("multi-cabinet set", func(t *testing.T) {
		// The first folder of a cabinet that has a previous one goes on
		// from it; files flagged as continued start there.
		a := cabStored(cabPrevCabinet|cabNextCabinet, "a.exe", peBytes, "b.txt", []byte("x"))
		check(t, inspect(t, a, "a.cab", DefaultLimits()), "[cab]\na.exe\nb.txt\n",
			`archive: part 1: attachment "a.cab" > "a.exe": cannot be read: continued from a previous cabinet of a multi-cabinet set; `+
				`archive: part 1: attachment "a.cab" > "b.txt": cannot be read: continued from a previous cabinet of a multi-cabinet set`)
		// A file continued in the next cabinet: its first bytes are
		// here, and sniffed; the rest is a gap.
		b := cabBuild(cabNextCabinet, 0, [][]byte{peBytes, nil}, []int{len(peBytes), 0}, []cabFileRec{
			{name: "setup.exe", size: 100000, folder: cabContinuedToNext},
		})
		check(t, inspect(t, b, "a.cab", DefaultLimits()), "[cab]\nsetup.exe pe\n",
			`archive: part 1: attachment "a.cab" > "setup.exe": cannot be read: continued in the next cabinet of a multi-cabinet set`)
		for _, folder := range []uint16{cabContinuedFromPrev, cabContinuedPrevAndNext} {
			b := cabBuild(cabPrevCabinet, 0, [][]byte{peBytes}, []int{len(peBytes)}, []cabFileRec{{name: "setup.exe", size: 10, folder: folder}})
			check(t, inspect(t, b, "a.cab", DefaultLimits()), "[cab]\nsetup.exe\n",
				`archive: part 1: attachment "a.cab" > "setup.exe": cannot be read: continued from a previous cabinet of a multi-cabinet set`)
		}
	})
}

// TestCabHostile: cabinets whose records lie cost a bounded effort and
// are gaps, never a clean listing.
func TestCabHostile(t *testing.T) {
	t.Run("file beyond its folder", func(t *testing.T) {
		a := gcab(t, true, map[string][]byte{"INVOICE.EXE": invoiceExe, "b.txt": []byte("x")})
		// The first CFFILE (INVOICE.EXE): its offset in the folder.
		files := int(binary.LittleEndian.Uint32(a[16:]))
		binary.LittleEndian.PutUint32(a[files+4:], 0x7fff0000)
		res := inspect(t, a, "a.cab", DefaultLimits())
		if l := listing(res.Attachments[0].Archive); l != "[cab]\nINVOICE.EXE\nb.txt\n" ||
			!strings.Contains(gaps(res), `"INVOICE.EXE": cannot be read: corrupt: the file (`+fmt.Sprint(len(invoiceExe))+` bytes at 2147418112) lies beyond its folder`) {
			t.Errorf("listing %s gaps %s", l, gaps(res))
		}
		// Past the data the blocks hold, though within what they could.
		b := cabStored(0, "a.txt", []byte("hello"), "setup.exe", peBytes)
		files = int(binary.LittleEndian.Uint32(b[16:]))
		binary.LittleEndian.PutUint32(b[files+16+len("a.txt\x00")+4:], 1000)
		check(t, inspect(t, b, "a.cab", DefaultLimits()), "[cab]\na.txt\nsetup.exe\n",
			`archive: part 1: attachment "a.cab" > "setup.exe": cannot be read: corrupt: the file runs past the data of its folder`)
	})
	t.Run("no folder", func(t *testing.T) {
		a := cabBuild(0, 0, nil, nil, []cabFileRec{{name: "a.exe", size: 2, folder: cabContinuedToNext}, {name: "b.exe", size: 2, folder: 7}})
		binary.LittleEndian.PutUint16(a[26:], 0) // cFolders
		check(t, inspect(t, a, "a.cab", DefaultLimits()), "[cab]\na.exe\nb.exe\n",
			`archive: part 1: attachment "a.cab" > "a.exe": cannot be read: corrupt: folder -1 of 0; archive: part 1: attachment "a.cab" > "b.exe": cannot be read: corrupt: folder 7 of 0`)
	})
	t.Run("65535 files", func(t *testing.T) {
		recs := make([]cabFileRec, 65535)
		for i := range recs {
			recs[i] = cabFileRec{name: "a.txt", size: 1, off: uint32(i % 2)}
		}
		a := cabBuild(0, 0, [][]byte{[]byte("xy")}, []int{2}, recs)
		res := inspect(t, a, "a.cab", DefaultLimits())
		if n := len(res.Attachments[0].Archive.Entries); n != 10000 || gaps(res) != `limit: part 1: attachment "a.cab": too many entries: limit 10000 reached` {
			t.Errorf("%d entries, gaps %s", n, gaps(res))
		}
	})
	t.Run("block claims 64 KiB for 2 bytes", func(t *testing.T) {
		a := cabBuild(0, 0, [][]byte{[]byte("MZ")}, []int{0xffff}, []cabFileRec{{name: "setup.exe", size: 2}})
		check(t, inspect(t, a, "a.cab", DefaultLimits()), "[cab]\nsetup.exe\n",
			`archive: part 1: attachment "a.cab" > "setup.exe": cannot be read: corrupt: data block of 2 bytes decoding to 65535`)
		// A block that claims more bytes than the cabinet holds.
		b := cabBuild(0, 0, [][]byte{[]byte("MZ")}, []int{2}, []cabFileRec{{name: "setup.exe", size: 2}})
		binary.LittleEndian.PutUint16(b[len(b)-2-4:], 0xffff)
		check(t, inspect(t, b, "a.cab", DefaultLimits()), "[cab]\nsetup.exe\n",
			`archive: part 1: attachment "a.cab" > "setup.exe": cannot be read: corrupt: data block of 65535 bytes decoding to 2`)
		// MSZIP: a block that decodes to less than it claims.
		c := gcab(t, true, map[string][]byte{"a.exe": peBytes})
		data := int(binary.LittleEndian.Uint32(c[36:]))
		binary.LittleEndian.PutUint16(c[data+6:], 30000)
		binary.LittleEndian.PutUint32(c[int(binary.LittleEndian.Uint32(c[16:])):], 30000)
		check(t, inspect(t, c, "a.cab", DefaultLimits()), "[cab]\na.exe\n",
			`archive: part 1: attachment "a.cab" > "a.exe": cannot be read: corrupt: MSZIP block decodes to 64 bytes, not 30000`)
	})
	t.Run("truncated", func(t *testing.T) {
		a := gcab(t, true, map[string][]byte{"INVOICE.EXE": invoiceExe, "b.txt": []byte("x")})
		for _, n := range []int{10, 40, 60, 80, len(a) - 10} {
			res := inspect(t, a[:n], "a.cab", DefaultLimits())
			if len(res.Uninspected) == 0 {
				t.Errorf("cut at %d: no gap: %s", n, listing(res.Attachments[0].Archive))
			}
		}
	})
	t.Run("passing over", func(t *testing.T) {
		// 8 MiB of one letter take a few kilobytes of MSZIP: the cabinet
		// may decode 1 MiB to get past data not read, no more.
		a := gcab(t, true, map[string][]byte{"a-filler.txt": bytes.Repeat([]byte("x"), 8<<20), "b-setup.exe": peBytes})
		if len(a) > 64<<10 {
			t.Fatalf("cabinet of %d bytes", len(a))
		}
		check(t, inspect(t, a, "a.cab", DefaultLimits()), "[cab]\na-filler.txt\nb-setup.exe\n",
			fmt.Sprintf(`archive: part 1: attachment "a.cab" > "b-setup.exe": cannot be read: too big: %d bytes to decompress to reach it, %d left for this cabinet`, 8<<20-headSize, cabPassMin))
	})
	t.Run("named cab, no cabinet", func(t *testing.T) {
		check(t, inspect(t, []byte("not a cabinet at all"), "a.cab", DefaultLimits()), "[cab skipped: named or typed as a cab archive, but its content is no archive format known]\n",
			`archive: part 1: attachment "a.cab": named or typed as a cab archive, but its content is no archive format known`)
	})
}

// lzhFiles are the files of the LHA archives the tests make with jlha, the
// same each time, so that each archive is made once (jlhaMade): an
// executable that compresses and one that does not, a CP932 name, a
// directory, text longer than the largest window, bytes of many code
// lengths, a zip (longer than the head of an entry), an empty file.
func lzhFiles(t testing.TB) map[string][]byte {
	bin := make([]byte, 90000)
	r := rand.New(rand.NewPCG(3, 4))
	for i := range bin {
		bin[i] = byte(r.IntN(16))
	}
	return map[string][]byte{
		"INVOICE.EXE":  invoiceExe,
		"a-big.txt":    wordsText(150 << 10),
		"b.bin":        bin,
		"c-spaces.txt": append(bytes.Repeat([]byte(" "), 300), "end"...),
		"inner.zip":    storeZip(t, "payload.exe", append(append([]byte{}, invoiceExe...), wordsText(8000)...)),
		"readme.txt":   []byte("read me\n"),
		"z-empty.txt":  nil,
		"書類/見積書.exe":   peBytes,
		"請求書.exe":      peBytes,
	}
}

// lzhList is the listing of an archive of lzhFiles.
const lzhList = "[lzh]\nINVOICE.EXE pe\na-big.txt\nb.bin\nc-spaces.txt\ninner.zip\n  [zip]\n  payload.exe pe\nreadme.txt\nz-empty.txt\n書類/見積書.exe pe\n請求書.exe pe\n"

// TestLzh: LHA archives made by jlha, with each header level, stored and
// -lh5-, and -lh6- and -lh7-, are listed, CP932 names decoded, executables
// found by content, a zip in them looked into.
func TestLzh(t *testing.T) {
	fs := lzhFiles(t)
	for _, c := range []struct {
		level  int
		method string
	}{{0, "z"}, {1, "z"}, {2, "z"}, {0, "o5"}, {1, "o5"}, {2, "o5"}, {2, "o6"}, {2, "o7"}} {
		t.Run(fmt.Sprintf("%s level %d", c.method, c.level), func(t *testing.T) {
			a := jlha(t, c.level, c.method, fs)
			want := map[string]string{"z": "-lh0-", "o5": "-lh5-", "o6": "-lh6-", "o7": "-lh7-"}[c.method]
			if ms := lzhMethodsOf(t, a); ms[0] != want || ms[1] != want {
				t.Fatalf("methods %v, want %s", ms, want)
			}
			if c.level < 2 && !bytes.Contains(a, []byte(cp932("請求書.exe"))) {
				t.Fatalf("name not in CP932")
			}
			res := inspect(t, a, "a.lzh", DefaultLimits())
			check(t, res, lzhList, "")
			e := res.Attachments[0].Archive.Entries[0]
			if e.Name != "INVOICE.EXE" || e.Ext != "exe" || e.Executable != ExecPE || e.Size != int64(len(invoiceExe)) {
				t.Errorf("entry = %+v", e)
			}
		})
	}
	t.Run("lha name, by magic", func(t *testing.T) {
		a := jlha(t, 2, "o5", fs)
		check(t, inspect(t, a, "a.lha", DefaultLimits()), lzhList, "")
		check(t, inspect(t, a, "scan.pdf", DefaultLimits()), lzhList, "")
	})
}

// lzh0 writes a level 0 LHA header and its stored data: the name as raw
// bytes, the header's checksum and the data's CRC-16 computed.
func lzh0(name string, data []byte, method string) []byte {
	h := []byte{0, 0}
	h = append(h, method...)
	h = binary.LittleEndian.AppendUint32(h, uint32(len(data)))
	h = binary.LittleEndian.AppendUint32(h, uint32(len(data)))
	h = append(h, 0, 0, 0x21, 0x55, 0x20, 0, byte(len(name)))
	h = append(h, name...)
	var crc uint16
	for _, b := range data {
		crc = crc16Table[byte(crc)^b] ^ crc>>8
	}
	h = binary.LittleEndian.AppendUint16(h, crc)
	h[0] = byte(len(h) - 2)
	for _, c := range h[2:] {
		h[1] += c
	}
	return append(h, data...)
}

// TestLzhNames: level 0 names are raw bytes, in CP932 on Japanese Windows,
// with backslashes between a path's parts. The archive is checked with
// lhasa.
func TestLzhNames(t *testing.T) {
	a := append(append(lzh0(cp932(`請求書.exe`), peBytes, "-lh0-"), lzh0(cp932(`書類\表.exe`), peBytes, "-lh0-")...), 0)
	dir := files(t, map[string][]byte{"a.lzh": a})
	run(t, dir, "a.lzh", tool(t, "lhasa"), "tq", "a.lzh")
	check(t, inspect(t, a, "a.lzh", DefaultLimits()), "[lzh]\n請求書.exe pe\n書類/表.exe pe\n", "")
}

// lzhEntryAt returns the offset of the i-th entry of an LHA archive.
func lzhEntryAt(t testing.TB, a []byte, i int) int {
	at := 0
	for range i {
		at += lzhEntryLen(t, a[at:])
	}
	return at
}

// lzhFixSum sets the checksum of the header at at, of level 0 or 1.
func lzhFixSum(a []byte, at int) {
	a[at+1] = 0
	for _, c := range a[at+2 : at+2+int(a[at])] {
		a[at+1] += c
	}
}

// lzhSetSize sets the size of the entry at at, and the header's checksum
// (levels 0 and 1).
func lzhSetSize(a []byte, at int, size uint32) {
	binary.LittleEndian.PutUint32(a[at+11:], size)
	if a[at+20] < 2 {
		lzhFixSum(a, at)
	}
}

// TestLzhHostile: LHA archives that are corrupt or lie are gaps, at a
// bounded cost.
func TestLzhHostile(t *testing.T) {
	fs := lzhFiles(t)
	t.Run("crc", func(t *testing.T) {
		a := lzh0("a.exe", peBytes, "-lh0-")
		a[len(a)-1] ^= 1
		check(t, inspect(t, a, "a.lzh", DefaultLimits()), "[lzh]\na.exe pe\n",
			`archive: part 1: attachment "a.lzh" > "a.exe": cannot be read: corrupt: the data does not match its CRC-16`)
		// -lh5-: a bit changed near the end of INVOICE.EXE's data.
		b := jlha(t, 2, "o5", fs)
		b[lzhEntryLen(t, b)-3] ^= 0x10
		res := inspect(t, b, "a.lzh", DefaultLimits())
		if g := gaps(res); !strings.HasPrefix(g, `archive: part 1: attachment "a.lzh" > "INVOICE.EXE": cannot be read: corrupt: `) {
			t.Errorf("gaps %s", g)
		}
	})
	t.Run("4 GiB declared", func(t *testing.T) {
		for level := range 3 {
			a := jlha(t, level, "o5", fs)
			lzhSetSize(a, 0, 0xffffffff)
			inner := lzhEntryAt(t, a, 4)
			if got := binary.LittleEndian.Uint32(a[inner+11:]); got != uint32(len(fs["inner.zip"])) {
				t.Fatalf("entry 4 of %d bytes", got)
			}
			lzhSetSize(a, inner, 0xffffffff)
			start := time.Now()
			res := inspect(t, a, "a.lzh", DefaultLimits())
			if d := time.Since(start); d > 5*time.Second {
				t.Errorf("level %d: took %v", level, d)
			}
			e := res.Attachments[0].Archive.Entries[0]
			g := gaps(res)
			if e.Size != 0xffffffff || e.Executable != ExecPE || !strings.Contains(g, `"INVOICE.EXE": cannot be read: corrupt: `) {
				t.Errorf("level %d: %+v gaps %s", level, e, g)
			}
			// A nested archive that says so is too big to extract.
			if !strings.Contains(g, `"inner.zip": too big: 4294967295 bytes`) {
				t.Errorf("level %d: gaps %s", level, g)
			}
		}
	})
	t.Run("truncated", func(t *testing.T) {
		for level := range 3 {
			a := jlha(t, level, "o5", fs)
			// Cut at the end of an entry, the archive just lacks the
			// zero byte of its end, as lhasa reads it.
			ends := map[int]bool{}
			for at := 0; at < len(a)-1; {
				at += lzhEntryLen(t, a[at:])
				ends[at] = true
			}
			for n := 1; n < len(a); n += max(1, len(a)/97) {
				if ends[n] {
					continue
				}
				start := time.Now()
				res := inspect(t, a[:n], "a.lzh", DefaultLimits())
				if d := time.Since(start); d > 5*time.Second {
					t.Errorf("level %d cut at %d: took %v", level, n, d)
				}
				if len(res.Uninspected) == 0 && res.Attachments[0].Archive != nil {
					t.Errorf("level %d cut at %d: no gap: %s", level, n, listing(res.Attachments[0].Archive))
				}
			}
		}
	})
	t.Run("headers", func(t *testing.T) {
		a := jlha(t, 1, "o5", fs)
		// Level 1: the first extended header's size, past the end.
		b := append([]byte(nil), a...)
		n := 2 + int(b[0])
		binary.LittleEndian.PutUint16(b[n-2:], 0xfff0)
		lzhFixSum(b, 0)
		b = b[:n+0xff00]
		check(t, inspect(t, b, "a.lzh", DefaultLimits()), "[lzh skipped: corrupt: truncated extended header]\n",
			`archive: part 1: attachment "a.lzh": corrupt: truncated extended header`)
		// An extended header of 2 bytes, which would not move on.
		binary.LittleEndian.PutUint16(b[n-2:], 2)
		lzhFixSum(b, 0)
		check(t, inspect(t, b, "a.lzh", DefaultLimits()), "[lzh skipped: corrupt: truncated extended header]\n",
			`archive: part 1: attachment "a.lzh": corrupt: truncated extended header`)
		// Extended headers that take more than the entry.
		b = append([]byte(nil), a...)
		binary.LittleEndian.PutUint32(b[7:], 3)
		lzhFixSum(b, 0)
		check(t, inspect(t, b, "a.lzh", DefaultLimits()), "[lzh skipped: corrupt: extended headers larger than the entry]\n",
			`archive: part 1: attachment "a.lzh": corrupt: extended headers larger than the entry`)
		// A header size too small for the fields it must hold.
		b = append([]byte(nil), a...)
		b[0] = 1
		lzhFixSum(b, 0)
		check(t, inspect(t, b, "a.lzh", DefaultLimits()), "[lzh skipped: corrupt: header too short]\n",
			`archive: part 1: attachment "a.lzh": corrupt: header too short`)
		// A checksum that does not hold.
		b = append([]byte(nil), a...)
		b[1]++
		check(t, inspect(t, b, "a.lzh", DefaultLimits()), "[lzh skipped: corrupt: header checksum mismatch]\n",
			`archive: part 1: attachment "a.lzh": corrupt: header checksum mismatch`)
		// Level 2: an extended header chain running past the header.
		c := jlha(t, 2, "o5", fs)
		binary.LittleEndian.PutUint16(c[24:], 0xffff)
		check(t, inspect(t, c, "a.lzh", DefaultLimits()), "[lzh skipped: corrupt: extended header past the end of the header]\n",
			`archive: part 1: attachment "a.lzh": corrupt: extended header past the end of the header`)
		// Level 3 is not read.
		c = jlha(t, 2, "o5", fs)
		c[20] = 3
		check(t, inspect(t, c, "a.lzh", DefaultLimits()), "[lzh skipped: corrupt: header level 3 not supported]\n",
			`archive: part 1: attachment "a.lzh": corrupt: header level 3 not supported`)
		// Each header moves on by its size and its data: the second
		// entry's header, copied over and over, is read as many entries,
		// as many as the limit lets.
		second := a[lzhEntryAt(t, a, 1):lzhEntryAt(t, a, 2)]
		many := bytes.Repeat(second, 300)
		lim := DefaultLimits()
		lim.MaxArchiveEntries = 100
		res := inspect(t, many, "a.lzh", lim)
		if n := len(res.Attachments[0].Archive.Entries); n != 100 || !strings.Contains(gaps(res), "too many entries: limit 100 reached") {
			t.Errorf("%d entries, gaps %s", n, gaps(res))
		}
	})
	t.Run("methods not read", func(t *testing.T) {
		for _, m := range []string{"-lh1-", "-lzs-", "-lz5-", "-lh4-", "-lhx-"} {
			a := append(lzh0("a.exe", peBytes, m), lzh0("b.exe", peBytes, "-lh0-")...)
			check(t, inspect(t, a, "a.lzh", DefaultLimits()), "[lzh]\na.exe\nb.exe pe\n",
				fmt.Sprintf(`archive: part 1: attachment "a.lzh" > "a.exe": cannot be read: compression method %q not supported`, m))
		}
	})
	t.Run("named lzh, no archive", func(t *testing.T) {
		check(t, inspect(t, []byte("not an archive"), "a.lzh", DefaultLimits()), "[lzh skipped: named or typed as a lzh archive, but its content is no archive format known]\n",
			`archive: part 1: attachment "a.lzh": named or typed as a lzh archive, but its content is no archive format known`)
		// "-lh" at offset 2 in text is no archive.
		res := inspect(t, []byte("a -lh5 is the method of most LHA archives made by LHA 2.x\n"), "notes.txt", DefaultLimits())
		if res.Attachments[0].Archive != nil || len(res.Uninspected) != 0 {
			t.Errorf("text: %s %s", listing(res.Attachments[0].Archive), gaps(res))
		}
	})
}

// TestCabLzhMessage: a message with a cabinet and an LHA archive attached
// in base64, each holding an executable.
func TestCabLzhMessage(t *testing.T) {
	cab := gcab(t, true, map[string][]byte{"INVOICE.EXE": invoiceExe, "readme.txt": []byte("x\n")})
	lzh := jlha(t, 1, "o5", lzhFiles(t))
	var b strings.Builder
	b.WriteString("From: a@example.jp\r\nTo: b@example.jp\r\nSubject: invoice\r\nMIME-Version: 1.0\r\nContent-Type: multipart/mixed; boundary=\"b\"\r\n\r\n")
	b.WriteString("--b\r\nContent-Type: text/plain\r\n\r\nSee attached.\r\n")
	for _, a := range []struct {
		name, typ string
		data      []byte
	}{{"invoice.cab", "application/vnd.ms-cab-compressed", cab}, {"invoice.lzh", "application/octet-stream", lzh}} {
		fmt.Fprintf(&b, "--b\r\nContent-Type: %s; name=\"%s\"\r\nContent-Disposition: attachment; filename=\"%s\"\r\nContent-Transfer-Encoding: base64\r\n\r\n", a.typ, a.name, a.name)
		enc := b64enc(a.data)
		for len(enc) > 76 {
			b.WriteString(enc[:76] + "\r\n")
			enc = enc[76:]
		}
		b.WriteString(enc + "\r\n")
	}
	b.WriteString("--b--\r\n")
	lim := DefaultLimits()
	lim.TempDir = t.TempDir()
	res, err := Inspect(strings.NewReader(b.String()), lim)
	if err != nil {
		t.Fatal(err)
	}
	var got []string
	for _, a := range res.Attachments {
		if a.Archive != nil {
			got = append(got, listing(a.Archive))
		}
	}
	if want := []string{"[cab]\nINVOICE.EXE pe\nreadme.txt\n", lzhList}; fmt.Sprint(got) != fmt.Sprint(want) {
		t.Errorf("archives %q, want %q", got, want)
	}
	if len(res.Uninspected) != 0 {
		t.Errorf("gaps %s", gaps(res))
	}
}

// fuzzCabLzh inspects data as an archive of format and fails on a reader
// that panicked (inspectArchive recovers) or that hangs; content that is not of the format at all
// (errNotContainer) is read as a plain file.
func fuzzCabLzh(t *testing.T, format string, data []byte) {
	lim := DefaultLimits()
	lim.MaxArchiveBytes = 4 << 20
	lim.MaxArchiveEntries = 200
	lim.TempDir = t.TempDir()
	in := newInspector(bytes.NewReader(nil), lim, nil, nil)
	start := time.Now()
	done := make(chan bool)
	defer close(done)
	go func() {
		select {
		case <-done:
		case <-time.After(10 * time.Second):
			// A failure could not be reported while the inspection
			// hangs: the process ends, and the fuzzer keeps the input.
			panic(fmt.Sprintf("inspecting %d bytes as %s takes more than 10s", len(data), format))
		}
	}()
	a := in.inspectArchive(format, bytes.NewReader(data), int64(len(data)), 1, "f."+format, "attachment", "1", false)
	if d := time.Since(start); d > 5*time.Second {
		t.Fatalf("took %v", d)
	}
	if a == nil {
		if _, err := containers[format].open(bytes.NewReader(data), int64(len(data)), "f"); !errors.Is(err, errNotContainer) {
			t.Fatalf("no archive, but %v", err)
		}
		return
	}
	if strings.Contains(a.Skipped, "reader failed") {
		t.Fatalf("the reader panicked: %s", a.Skipped)
	}
}

// FuzzCAB: cabinets of gcab, stored and MSZIP, of makecab, LZX, and built
// ones (a set's first cabinet, a block that lies, LZX of each kind of
// block and window, the LZX stream of a help file), mutated.
func FuzzCAB(f *testing.F) {
	fs := map[string][]byte{"INVOICE.EXE": invoiceExe, "a.txt": wordsText(40000), "c.zip": storeZip(f, "d.exe", peBytes)}
	f.Add(gcab(f, false, fs))
	f.Add(gcab(f, true, fs))
	for _, name := range []string{"lzx-makecab-2blocks.cab", "lzx-makecab-verbatim.cab", "lzx-makecab-cp932.cab"} {
		f.Add(lzxSample(f, name))
	}
	f.Add(lzxCab(15, 0, false, "INVOICE.EXE", invoiceExe, "a.txt", wordsText(40000)))
	f.Add(lzxCab(21, 12000000, true, "setup.exe", x86Like(40000)))
	chm, err := os.ReadFile(filepath.Join(clamTestFiles, "clam.chm"))
	if err != nil {
		f.Fatalf("%v: run bash testdata/install-deps.sh as root to install clamav-testfiles", err)
	}
	f.Add(chmLZX(f, chm))
	f.Add(cabStored(cabNextCabinet, "a.exe", peBytes, "b.txt", []byte("x")))
	f.Add(cabBuild(0, 0, [][]byte{[]byte("MZ")}, []int{0xffff}, []cabFileRec{{name: "setup.exe", size: 0xffff}}))
	f.Fuzz(func(t *testing.T, data []byte) { fuzzCabLzh(t, FormatCab, data) })
}

// FuzzLZH: LHA archives of jlha, of each level and method, and built
// ones, mutated.
func FuzzLZH(f *testing.F) {
	fs := lzhFiles(f)
	for _, c := range []struct {
		level  int
		method string
	}{{1, "z"}, {0, "o5"}, {1, "o5"}, {2, "o5"}, {2, "o6"}, {2, "o7"}} {
		f.Add(jlha(f, c.level, c.method, fs))
	}
	f.Add(append(lzh0(cp932(`書類\表.exe`), peBytes, "-lh0-"), 0))
	// A level 0 header whose size leaves no room for the name length.
	f.Add([]byte("\x01\x00\x00\x00-h@0\x00\x00\x00@\x00\b\x00\x00\x00\xff\x7f\\\x00\v\x8f\x91\x97-\\\x95"))
	f.Fuzz(func(t *testing.T, data []byte) { fuzzCabLzh(t, FormatLzh, data) })
}

// readEntries reads every entry of the archive w walks, by name.
func readEntries(t *testing.T, w arcWalker) map[string][]byte {
	t.Helper()
	got := map[string][]byte{}
	for {
		e, err := w.next()
		if err == io.EOF {
			return got
		}
		if err != nil {
			t.Fatal(err)
		}
		if e.dir {
			continue
		}
		rc, err := e.open()
		if err != nil {
			t.Fatal(err)
		}
		var b bytes.Buffer
		if _, err := b.ReadFrom(rc); err != nil {
			t.Fatalf("%s: %v", e.name, err)
		}
		got[e.name] = b.Bytes()
	}
}

// TestCabLzhContent: what the readers decode of every entry, to its end,
// is what cabextract and jlha (the archiver that made the LZH files)
// extract, for each method; lhasa checks the archives elsewhere, but
// lower-cases MS-DOS names when it extracts.
func TestCabLzhContent(t *testing.T) {
	fs := lzhFiles(t)
	// cabextract writes names in UTF-8; jlha takes each byte of the
	// archive's names (CP932 here) for a character of ISO 8859-1.
	extract := func(t *testing.T, a []byte, onDisk func(string) string, prog string, args ...string) {
		t.Helper()
		dir := files(t, map[string][]byte{"archive": a})
		cmd := exec.Command(tool(t, prog), args...)
		cmd.Dir = dir
		if b, err := cmd.CombinedOutput(); err != nil {
			t.Fatalf("%s: %v\n%s", prog, err, b)
		}
		for name, want := range fs {
			if got, err := os.ReadFile(filepath.Join(dir, onDisk(name))); err != nil || !bytes.Equal(got, want) {
				t.Fatalf("%s extracts %s differently (%v)", prog, name, err)
			}
		}
	}
	for _, zip := range []bool{false, true} {
		a := gcab(t, zip, fs)
		extract(t, a, func(s string) string { return s }, "cabextract", "-q", "archive")
		w, err := openCab(bytes.NewReader(a), int64(len(a)), "a.cab")
		if err != nil {
			t.Fatal(err)
		}
		if got := readEntries(t, w); fmt.Sprint(got) != fmt.Sprint(fs) {
			t.Errorf("cab zip=%v: content differs", zip)
		}
	}
	for _, m := range []string{"z", "o5", "o6", "o7"} {
		a := jlha(t, 2, m, fs)
		extract(t, a, func(s string) string {
			var r []rune
			for _, b := range []byte(cp932(s)) {
				r = append(r, rune(b))
			}
			return string(r)
		}, "jlha", "xq", "archive")
		w, err := openLzh(bytes.NewReader(a), int64(len(a)), "a.lzh")
		if err != nil {
			t.Fatal(err)
		}
		if got := readEntries(t, w); fmt.Sprint(got) != fmt.Sprint(fs) {
			t.Errorf("lzh %s: content differs", m)
		}
	}
}

// TestCabPassCharged: the bytes decoded only to get past data in a
// cabinet are charged to the message's budget: cabinets in a zip, each
// with a file to read after a megabyte of zeros, end in a limit gap
// rather than cost a megabyte each without end.
func TestCabPassCharged(t *testing.T) {
	one := lzxCab(15, 0, false, "a.bin", make([]byte, 1<<20), "x.exe", invoiceExe)
	var fs []any
	for i := range 20 {
		fs = append(fs, fmt.Sprintf("c%02d.cab", i), one)
	}
	lim := DefaultLimits()
	lim.MaxArchiveBytes = 8 << 20
	lim.TempDir = t.TempDir()
	res := inspect(t, storeZip(t, fs...), "a.zip", lim)
	if l := listing(res.Attachments[0].Archive); !strings.HasPrefix(l, "[zip]\nc00.cab\n  [cab]\n  a.bin\n  x.exe pe\n") {
		t.Errorf("listing %s", l)
	}
	var limits int
	for _, g := range res.Uninspected {
		if g.Class == GapLimit && strings.Contains(g.Reason, `.cab" > "x.exe": cannot be read: too big to reach: `) {
			limits++
		}
	}
	if limits == 0 {
		t.Errorf("no limit gap: %s", gaps(res))
	}
}

// TestCabRestartCharged: a record behind the folder's decoder starts the
// folder again, and the data block decoded anew for its head is charged:
// records all at the start of one LZX folder end in limit gaps.
func TestCabRestartCharged(t *testing.T) {
	blocks, claims := lzxEncode(wordsText(lzxFrame), 15, 0, false)
	var recs []cabFileRec
	var want, wantGaps []string
	for i := range 40 {
		name := fmt.Sprintf("f%02d.txt", i)
		recs = append(recs, cabFileRec{name: name, size: lzxFrame, attrs: 0x20})
		want = append(want, name)
		if i > 32 {
			wantGaps = append(wantGaps, fmt.Sprintf(`limit: part 1: attachment "a.cab" > "%s": cannot be read: too big to reach: 32768 bytes to decompress to reach it, 0 left for the message`, name))
		}
	}
	a := cabBuild(0, 3|15<<8, blocks, claims, recs)
	lim := DefaultLimits()
	lim.MaxArchiveBytes = 1 << 20
	res := inspect(t, a, "a.cab", lim)
	if l := listing(res.Attachments[0].Archive); l != "[cab]\n"+strings.Join(want, "\n")+"\n" {
		t.Errorf("listing %s", l)
	}
	if g := gaps(res); g != strings.Join(wantGaps, "; ") {
		t.Errorf("gaps %s", g)
	}
}

// TestCabLZXWindowsReused: the cabinets of a message, each of an LZX
// folder of window 2^21, share their windows rather than allocate one
// each.
func TestCabLZXWindowsReused(t *testing.T) {
	one := lzxCab(21, 0, false, "a.txt", wordsText(1000))
	var fs []any
	for i := range 40 {
		fs = append(fs, fmt.Sprintf("c%02d.cab", i), one)
	}
	z := storeZip(t, fs...)
	lim := DefaultLimits()
	lim.TempDir = t.TempDir()
	// A collection empties the pool, and the race detector's pool drops
	// a quarter of what is put back: with collections off during the
	// reading, the pool reads the 40 cabinets in 9–11 MB (about 30 MB
	// under -race), one window each would take 91 MB.
	defer debug.SetGCPercent(debug.SetGCPercent(-1))
	var before, after runtime.MemStats
	runtime.ReadMemStats(&before)
	res := inspect(t, z, "a.zip", lim)
	runtime.ReadMemStats(&after)
	if len(res.Uninspected) != 0 || len(res.Attachments[0].Archive.Entries) != 40 {
		t.Fatalf("gaps %s", gaps(res))
	}
	if allocs := after.TotalAlloc - before.TotalAlloc; allocs > 64<<20 {
		t.Errorf("%d bytes allocated to read 40 cabinets", allocs)
	}
}
