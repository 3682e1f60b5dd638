package mime

import (
	"bytes"
	"crypto/md5"
	"encoding/binary"
	"encoding/hex"
	"fmt"
	"io"
	"math/rand/v2"
	"os"
	"os/exec"
	"path/filepath"
	"runtime"
	"strings"
	"testing"
)

// lzxSampleDir holds cabinets that Microsoft's makecab compressed with LZX
// (lzx-makecab.txt there says where they come from).
const lzxSampleDir = "../../testdata/mime/archives"

// lzxGcabTests is where Debian's libgcab-tests puts the cabinets of gcab's
// test suite, among them one that made libmspack's LZX decoder read
// before its buffer (CVE-2015-4471).
const lzxGcabTests = "/usr/libexec/installed-tests/libgcab-1.0"

// lzxSample reads a cabinet of lzxSampleDir.
func lzxSample(t testing.TB, name string) []byte {
	t.Helper()
	a, err := os.ReadFile(filepath.Join(lzxSampleDir, name))
	if err != nil {
		t.Fatal(err)
	}
	return a
}

// cabextractSums runs cabextract -t on a cabinet and returns the MD5 of
// each file it extracts, in the order of the cabinet's records; a file it
// cannot extract fails the test.
func cabextractSums(t testing.TB, a []byte) []string {
	t.Helper()
	dir := files(t, map[string][]byte{"a.cab": a})
	cmd := exec.Command(tool(t, "cabextract"), "-t", "a.cab")
	cmd.Dir = dir
	out, err := cmd.CombinedOutput()
	if err != nil {
		t.Fatalf("cabextract -t: %v\n%s", err, out)
	}
	var sums []string
	for _, l := range strings.Split(string(out), "\n") {
		f := strings.Fields(l)
		if len(f) >= 3 && f[len(f)-2] == "OK" && len(f[len(f)-1]) == 32 {
			sums = append(sums, f[len(f)-1])
		}
	}
	return sums
}

// cabSums decodes every file of a cabinet, in the order of its records,
// and returns their names and MD5s; a file that cannot be read fails the
// test.
func cabSums(t testing.TB, a []byte) (names, sums []string) {
	t.Helper()
	w, err := openCab(bytes.NewReader(a), int64(len(a)), "a.cab")
	if err != nil {
		t.Fatal(err)
	}
	for {
		e, err := w.next()
		if err == io.EOF {
			return names, sums
		}
		if err != nil {
			t.Fatal(err)
		}
		rc, err := e.open()
		if err != nil {
			t.Fatalf("%s: %v", e.name, err)
		}
		b, err := io.ReadAll(rc)
		if err != nil {
			t.Fatalf("%s: %v", e.name, err)
		}
		if int64(len(b)) != e.size {
			t.Fatalf("%s: %d bytes, not %d", e.name, len(b), e.size)
		}
		s := md5.Sum(b)
		names, sums = append(names, e.name), append(sums, hex.EncodeToString(s[:]))
	}
}

// sameAsCabextract checks that what the reader decodes of each file of a
// cabinet is what cabextract extracts.
func sameAsCabextract(t *testing.T, a []byte) []string {
	t.Helper()
	names, got := cabSums(t, a)
	if want := cabextractSums(t, a); fmt.Sprint(got) != fmt.Sprint(want) {
		t.Errorf("files %q decode to %v, cabextract extracts %v", names, got, want)
	}
	return names
}

// cabFolder reads the first CFFOLDER of a cabinet without reserved fields:
// its typeCompress and its number of CFDATA blocks.
func cabFolder(a []byte) (method uint16, blocks int) {
	return binary.LittleEndian.Uint16(a[36+6:]), int(binary.LittleEndian.Uint16(a[36+4:]))
}

// TestCabLZXMakecab: cabinets that makecab compressed with LZX (window
// 2^18: verbatim, aligned offset and uncompressed blocks; an aligned block
// that runs over two data blocks) decode to what cabextract extracts.
func TestCabLZXMakecab(t *testing.T) {
	for _, c := range []struct {
		file, names string
		blocks      int
	}{
		{"lzx-makecab-2blocks.cab", "[empty zero dir1/file1 dir2/file2]", 2},
		{"lzx-makecab-verbatim.cab", "[file INSTALL random zero]", 1},
		{"lzx-makecab-cp932.cab", "[表だよ/漢字.txt 表だよ/一覧表.txt]", 1},
	} {
		t.Run(c.file, func(t *testing.T) {
			a := lzxSample(t, c.file)
			if m, n := cabFolder(a); m != 0x1203 || n != c.blocks {
				t.Fatalf("folder of method %#x in %d blocks", m, n)
			}
			if names := sameAsCabextract(t, a); fmt.Sprint(names) != c.names {
				t.Errorf("names %q", names)
			}
		})
	}
}

// lzxWriter writes an LZX bit stream: 16-bit little-endian words, each
// from its most significant bit.
type lzxWriter struct {
	out []byte
	acc uint32
	n   uint
}

func (w *lzxWriter) bits(v uint32, n uint) {
	for n > 0 {
		k := min(n, 16-w.n)
		w.acc = w.acc<<k | (v>>(n-k))&(1<<k-1)
		w.n += k
		n -= k
		if w.n == 16 {
			w.out = append(w.out, byte(w.acc), byte(w.acc>>8))
			w.acc, w.n = 0, 0
		}
	}
}

// align pads to the next 16-bit boundary.
func (w *lzxWriter) align() {
	if w.n > 0 {
		w.bits(0, 16-w.n)
	}
}

// take returns the bytes written so far and starts anew.
func (w *lzxWriter) take() []byte {
	b := w.out
	w.out = nil
	return b
}

// lzxCode is a complete canonical prefix code of n symbols, every
// length ⌈log2 n⌉ or one less: its lengths and codes.
func lzxCode(n int) (lens []uint8, codes []uint32) {
	l := 1
	for 1<<l < n {
		l++
	}
	short := 1<<l - n // symbols one bit shorter
	lens = make([]uint8, n)
	for i := range lens {
		lens[i] = uint8(l)
		if i < short {
			lens[i] = uint8(l - 1)
		}
	}
	codes = make([]uint32, n)
	code := uint32(0)
	for length := 1; length <= 16; length++ {
		for s, sl := range lens {
			if int(sl) == length {
				codes[s] = code
				code++
			}
		}
		code <<= 1
	}
	return lens, codes
}

// lzxPutLens writes lens as differences from prev through a pretree, one
// symbol each, and makes prev lens.
func lzxPutLens(w *lzxWriter, prev, lens []uint8) {
	pl, pc := lzxCode(lzxPretreeSyms)
	for _, l := range pl {
		w.bits(uint32(l), 4)
	}
	for i, l := range lens {
		z := (int(prev[i]) - int(l) + 17) % 17
		w.bits(pc[z], uint(pl[z]))
		prev[i] = l
	}
}

// lzxEncode is a small LZX compressor for the tests (the tools at hand
// write no LZX): data in frames of 32 KiB, one CFDATA block each, every
// frame one verbatim block (with greedy matches as far back as the window
// allows, across frames and around the window) or, when stored is set,
// one uncompressed block for all. intel is the E8 translation size the
// stream's header gives (0: none).
func lzxEncode(data []byte, bits int, intel uint32, stored bool) (blocks [][]byte, claims []int) {
	w := &lzxWriter{}
	if intel != 0 {
		w.bits(1, 1)
		w.bits(intel>>16, 16)
		w.bits(intel&0xffff, 16)
	} else {
		w.bits(0, 1)
	}
	frames := func(yield func(at, n int) bool) {
		for at := 0; at < len(data); at += lzxFrame {
			if !yield(at, min(lzxFrame, len(data)-at)) {
				return
			}
		}
	}
	if stored {
		w.bits(lzxUncompressed, 3)
		w.bits(uint32(len(data)), 24)
		w.bits(0, 16-w.n) // 1 to 16 bits of padding
		for range 3 {
			w.out = binary.LittleEndian.AppendUint32(w.out, 1)
		}
		for at, n := range frames {
			w.out = append(w.out, data[at:at+n]...)
			if at+n == len(data) && n%2 == 1 {
				w.out = append(w.out, 0)
			}
			blocks, claims = append(blocks, w.take()), append(claims, n)
		}
		return blocks, claims
	}
	nmain := lzxNumChars + lzxSlots[bits]*8
	ml, mc := lzxCode(nmain)
	ll, lc := lzxCode(lzxLengthSyms)
	prevMain, prevLen := make([]uint8, nmain), make([]uint8, lzxLengthSyms)
	maxOff := 1<<bits - 3
	head := map[[3]byte]int{} // the last position of each 3 bytes
	for at, n := range frames {
		w.bits(lzxVerbatim, 3)
		w.bits(uint32(n), 24)
		lzxPutLens(w, prevMain[:lzxNumChars], ml[:lzxNumChars])
		lzxPutLens(w, prevMain[lzxNumChars:], ml[lzxNumChars:])
		lzxPutLens(w, prevLen, ll)
		for i := at; i < at+n; {
			length, off := 0, 0
			if i+3 <= at+n {
				var k [3]byte
				copy(k[:], data[i:])
				if j, ok := head[k]; ok && i-j <= maxOff {
					for length < 257 && i+length < at+n && data[j+length] == data[i+length] {
						length++
					}
					off = i - j
				}
				head[k] = i
			}
			if length < 3 {
				w.bits(mc[data[i]], uint(ml[data[i]]))
				i++
				continue
			}
			f := uint32(off + 2)
			slot := 3
			for slot+1 < len(lzxPositionBase) && lzxPositionBase[slot+1] <= f {
				slot++
			}
			sym := lzxNumChars + slot*8 + min(length-2, 7)
			w.bits(mc[sym], uint(ml[sym]))
			if length-2 >= 7 {
				w.bits(lc[length-9], uint(ll[length-9]))
			}
			w.bits(f-lzxPositionBase[slot], uint(lzxExtraBits[slot]))
			for k := i + 1; k < i+length && k+3 <= len(data); k++ {
				var h [3]byte
				copy(h[:], data[k:])
				head[h] = k
			}
			i += length
		}
		w.align()
		blocks, claims = append(blocks, w.take()), append(claims, n)
	}
	return blocks, claims
}

// lzxCab is a cabinet of one LZX folder of the given window, compressed
// by lzxEncode, holding the files given as name, content pairs.
func lzxCab(bits int, intel uint32, stored bool, fs ...any) []byte {
	var data []byte
	var recs []cabFileRec
	for i := 0; i < len(fs); i += 2 {
		b := fs[i+1].([]byte)
		recs = append(recs, cabFileRec{name: fs[i].(string), size: uint32(len(b)), off: uint32(len(data)), attrs: 0x20})
		data = append(data, b...)
	}
	blocks, claims := lzxEncode(data, bits, intel, stored)
	return cabBuild(0, 3|uint16(bits)<<8, blocks, claims, recs)
}

// x86Like returns n bytes of what E8 translation is for: call
// instructions (E8 and a 32-bit operand) between other bytes, some
// operands within the translation size, some not, and repeats.
func x86Like(n int) []byte {
	r := rand.New(rand.NewPCG(3, 4))
	var b []byte
	for len(b) < n {
		switch r.IntN(4) {
		case 0:
			b = binary.LittleEndian.AppendUint32(append(b, 0xe8), uint32(r.Int32N(1<<20)-1<<10))
		case 1:
			b = append(b, 0x55, 0x8b, 0xec, 0x83, 0xec, 0x10)
		case 2:
			b = append(b, byte(r.IntN(256)))
		default:
			if len(b) > 64 {
				k := r.IntN(len(b) - 32)
				b = append(b, b[k:k+32]...)
			}
		}
	}
	return b[:n]
}

// TestCabLZXWindows: LZX folders of the smallest and the largest window
// and one between, over several data blocks, with matches that reach back
// across blocks and around the window, and uncompressed blocks that run
// over data blocks, decode to what cabextract extracts.
func TestCabLZXWindows(t *testing.T) {
	text := wordsText(300 << 10) // more than the 2^15 and 2^18 windows
	for _, bits := range []int{15, 18, 21} {
		for _, stored := range []bool{false, true} {
			t.Run(fmt.Sprintf("2^%d stored=%v", bits, stored), func(t *testing.T) {
				a := lzxCab(bits, 0, stored, "INVOICE.EXE", invoiceExe, "a.txt", text, "b.txt", []byte("odd\n"))
				if _, n := cabFolder(a); n < 10 {
					t.Fatalf("%d data blocks", n)
				}
				if !stored && len(a) > len(text)/2 {
					t.Fatalf("%d bytes: the encoder found few matches", len(a))
				}
				sameAsCabextract(t, a)
			})
		}
	}
}

// TestCabLZXTranslation: the E8 translation of x86 code is undone with
// the stream's translation size, frame by frame, as cabextract undoes it;
// the decoded bytes are not the stream's.
func TestCabLZXTranslation(t *testing.T) {
	code := x86Like(100 << 10)
	for _, stored := range []bool{false, true} {
		a := lzxCab(16, 12000000, stored, "setup.exe", code)
		sameAsCabextract(t, a)
		if _, sums := cabSums(t, a); sums[0] == fmt.Sprintf("%x", md5.Sum(code)) {
			t.Errorf("stored=%v: nothing translated", stored)
		}
	}
}

// TestCabLZXExecutable: an executable in an LZX folder is found by its
// content, in a cabinet attached to a message, as in a stored or MSZIP
// one; cabextract extracts the cabinet.
func TestCabLZXExecutable(t *testing.T) {
	a := lzxCab(21, 0, false, "INVOICE.EXE", invoiceExe, "readme.txt", []byte("read me\n"), "docs/請求書.exe", peBytes)
	sameAsCabextract(t, a)
	check(t, inspect(t, a, "a.cab", DefaultLimits()), "[cab]\nINVOICE.EXE pe\nreadme.txt\ndocs/請求書.exe pe\n", "")
	msg := "From: a@example.jp\r\nTo: b@example.jp\r\nSubject: invoice\r\nMIME-Version: 1.0\r\nContent-Type: multipart/mixed; boundary=\"b\"\r\n\r\n" +
		"--b\r\nContent-Type: text/plain\r\n\r\nSee attached.\r\n" +
		"--b\r\nContent-Type: application/vnd.ms-cab-compressed; name=\"invoice.cab\"\r\nContent-Transfer-Encoding: base64\r\n\r\n" +
		b64enc(a) + "\r\n--b--\r\n"
	lim := DefaultLimits()
	lim.TempDir = t.TempDir()
	res, err := Inspect(strings.NewReader(msg), lim)
	if err != nil {
		t.Fatal(err)
	}
	if len(res.Attachments) != 1 || listing(res.Attachments[0].Archive) != "[cab]\nINVOICE.EXE pe\nreadme.txt\ndocs/請求書.exe pe\n" || len(res.Uninspected) != 0 {
		t.Errorf("attachments %+v, gaps %s", res.Attachments, gaps(res))
	}
}

// TestCabLZXHostile: an LZX stream cut short, corrupted, or of a window
// LZX has not, is a gap of the files it holds, with its reason.
func TestCabLZXHostile(t *testing.T) {
	const gap = `archive: part 1: attachment "a.cab" > "%s": cannot be read: %s`
	twoBlocks := lzxSample(t, "lzx-makecab-2blocks.cab")
	dataAt := int(binary.LittleEndian.Uint32(twoBlocks[36:]))
	t.Run("truncated", func(t *testing.T) {
		// The second data block of makecab's cabinet keeps 2 of its bytes.
		a := bytes.Clone(twoBlocks)
		second := dataAt + 8 + int(binary.LittleEndian.Uint16(a[dataAt+4:]))
		binary.LittleEndian.PutUint16(a[second+4:], 2)
		// The first 32 KiB of zero, in the first block, are its head;
		// the files after it are out of reach.
		check(t, inspect(t, a, "a.cab", DefaultLimits()), "[cab]\nempty\nzero\ndir1/file1\ndir2/file2\n",
			fmt.Sprintf(gap, "dir1/file1", "corrupt: LZX data block ends before its frame")+"; "+
				fmt.Sprintf(gap, "dir2/file2", "corrupt: LZX data block ends before its frame"))
		// A stream the encoder cut: the last data block loses its end.
		b := lzxCab(15, 0, false, "setup.exe", invoiceExe)
		at := dataAtOf(b)
		n := int(binary.LittleEndian.Uint16(b[at+4:]))
		binary.LittleEndian.PutUint16(b[at+4:], uint16(n/2))
		check(t, inspect(t, b[:at+8+n/2], "a.cab", DefaultLimits()), "[cab]\nsetup.exe\n",
			fmt.Sprintf(gap, "setup.exe", "corrupt: LZX data block ends before its frame"))
	})
	t.Run("corrupted", func(t *testing.T) {
		// One byte of the first data block changed: the block type, the
		// code lengths of a tree, a match's offset, a match's length.
		for at, want := range map[int]string{
			5:  "corrupt: LZX block type 0",
			20: "corrupt: LZX code lengths that are no prefix code",
			76: "corrupt: LZX match at offset 1 before the start of the stream or the window",
			80: "corrupt: LZX match of 257 bytes runs past its block or frame",
		} {
			a := bytes.Clone(twoBlocks)
			a[dataAt+8+at] ^= 0xa5
			check(t, inspect(t, a, "a.cab", DefaultLimits()), "[cab]\nempty\nzero\ndir1/file1\ndir2/file2\n",
				fmt.Sprintf(gap, "zero", want)+"; "+fmt.Sprintf(gap, "dir1/file1", want)+"; "+fmt.Sprintf(gap, "dir2/file2", want))
		}
		// Every byte of the stream flipped in turn: a gap or the same
		// listing, never a panic.
		for i := dataAt + 8; i < len(twoBlocks); i++ {
			a := bytes.Clone(twoBlocks)
			a[i] ^= 0xa5
			if res := inspect(t, a, "a.cab", DefaultLimits()); strings.Contains(gaps(res), "reader failed") {
				t.Fatalf("byte %d: %s", i, gaps(res))
			}
		}
	})
	t.Run("window", func(t *testing.T) {
		for bits, want := range map[uint16]string{14: "corrupt: LZX window of 2^14 bytes", 22: "corrupt: LZX window of 2^22 bytes"} {
			a := bytes.Clone(twoBlocks)
			binary.LittleEndian.PutUint16(a[36+6:], 3|bits<<8)
			check(t, inspect(t, a, "a.cab", DefaultLimits()), "[cab]\nempty\nzero\ndir1/file1\ndir2/file2\n",
				fmt.Sprintf(gap, "empty", want)+"; "+fmt.Sprintf(gap, "zero", want)+"; "+fmt.Sprintf(gap, "dir1/file1", want)+"; "+fmt.Sprintf(gap, "dir2/file2", want))
		}
	})
	t.Run("gcab CVE-2015-4471", func(t *testing.T) {
		if testing.Short() {
			t.Skip("needs libgcab-tests: run without -short")
		}
		a, err := os.ReadFile(filepath.Join(lzxGcabTests, "CVE-2015-4471.cab"))
		if err != nil {
			t.Fatalf("%v: run bash testdata/install-deps.sh as root to install libgcab-tests", err)
		}
		if m, _ := cabFolder(a); m&0xf != 3 {
			t.Fatalf("method %#x", m)
		}
		res := inspect(t, a, "a.cab", DefaultLimits())
		if len(res.Uninspected) == 0 || strings.Contains(gaps(res), "reader failed") {
			t.Errorf("listing %s gaps %s", listing(res.Attachments[0].Archive), gaps(res))
		}
	})
}

// dataAtOf is the offset of the first CFDATA of a cabinet of one folder
// without reserved fields.
func dataAtOf(a []byte) int { return int(binary.LittleEndian.Uint32(a[36:])) }

// BenchmarkCabLZX decodes 4 MiB of text from an LZX folder of window 2^21.
func BenchmarkCabLZX(b *testing.B) {
	text := wordsText(4 << 20)
	a := lzxCab(21, 12000000, false, "a.txt", text)
	b.SetBytes(int64(len(text)))
	for b.Loop() {
		w, err := openCab(bytes.NewReader(a), int64(len(a)), "a.cab")
		if err != nil {
			b.Fatal(err)
		}
		e, err := w.next()
		if err != nil {
			b.Fatal(err)
		}
		rc, err := e.open()
		if err != nil {
			b.Fatal(err)
		}
		if n, err := io.Copy(io.Discard, rc); err != nil || n != int64(len(text)) {
			b.Fatalf("%d bytes, %v", n, err)
		}
	}
}

// lzxFolder is one folder of a cabinet lzxFolders writes.
type lzxFolder struct {
	bits  int
	files []any // name, content pairs
}

// lzxFolders is a cabinet of LZX folders, each compressed by lzxEncode,
// with the files of all folders' records in the order given by order
// (indexes into all folders' files, in turn).
func lzxFolders(folders []lzxFolder, order []int) []byte {
	type rec struct {
		name   string
		size   int
		off    int
		folder int
	}
	var recs []rec
	var datas [][][]byte
	var claimss [][]int
	for i, f := range folders {
		var data []byte
		for j := 0; j < len(f.files); j += 2 {
			b := f.files[j+1].([]byte)
			recs = append(recs, rec{f.files[j].(string), len(b), len(data), i})
			data = append(data, b...)
		}
		blocks, claims := lzxEncode(data, f.bits, 0, false)
		datas, claimss = append(datas, blocks), append(claimss, claims)
	}
	var files []byte
	for _, i := range order {
		r := recs[i]
		var h [16]byte
		binary.LittleEndian.PutUint32(h[0:], uint32(r.size))
		binary.LittleEndian.PutUint32(h[4:], uint32(r.off))
		binary.LittleEndian.PutUint16(h[8:], uint16(r.folder))
		binary.LittleEndian.PutUint16(h[14:], 0x20)
		files = append(append(append(files, h[:]...), r.name...), 0)
	}
	filesAt := 36 + 8*len(folders)
	at := filesAt + len(files)
	var folderRecs, data []byte
	for i, blocks := range datas {
		var f [8]byte
		binary.LittleEndian.PutUint32(f[0:], uint32(at+len(data)))
		binary.LittleEndian.PutUint16(f[4:], uint16(len(blocks)))
		binary.LittleEndian.PutUint16(f[6:], 3|uint16(folders[i].bits)<<8)
		folderRecs = append(folderRecs, f[:]...)
		for j, b := range blocks {
			var h [8]byte
			binary.LittleEndian.PutUint16(h[4:], uint16(len(b)))
			binary.LittleEndian.PutUint16(h[6:], uint16(claimss[i][j]))
			data = append(append(data, h[:]...), b...)
		}
	}
	h := make([]byte, 36)
	copy(h, "MSCF")
	binary.LittleEndian.PutUint32(h[8:], uint32(at+len(data)))
	binary.LittleEndian.PutUint32(h[16:], uint32(filesAt))
	h[24], h[25] = 3, 1
	binary.LittleEndian.PutUint16(h[26:], uint16(len(folders)))
	binary.LittleEndian.PutUint16(h[28:], uint16(len(order)))
	return append(append(append(h, folderRecs...), files...), data...)
}

// TestCabLZXFolders: a cabinet of two LZX folders of windows 2^21 and
// 2^15, its records going back and forth between them, decodes to what
// cabextract extracts, and allocates one window, not one per change of
// folder.
func TestCabLZXFolders(t *testing.T) {
	var big, small []any
	var order []int
	for i := range 50 {
		big = append(big, fmt.Sprintf("big%02d.txt", i), wordsText(300+i))
		small = append(small, fmt.Sprintf("small%02d.exe", i), append(bytes.Clone(peBytes), byte(i)))
		order = append(order, i, 50+i)
	}
	a := lzxFolders([]lzxFolder{{21, big}, {15, small}}, order)
	if names := sameAsCabextract(t, a); len(names) != 100 || names[0] != "big00.txt" || names[1] != "small00.exe" {
		t.Fatalf("names %q", names)
	}
	var before, after runtime.MemStats
	runtime.ReadMemStats(&before)
	cabSums(t, a)
	runtime.ReadMemStats(&after)
	if allocs := after.TotalAlloc - before.TotalAlloc; allocs > 4<<20 {
		t.Errorf("%d bytes allocated to read the cabinet once", allocs)
	}
}

// chmLZX reads the LZX stream of a compiled HTML Help file (ITSF version
// 3: its directory of PMGL chunks, the MSCompressed section's content,
// control data and reset table), which Microsoft's HTML Help compiler
// writes with the LZX of cabinets, and returns it as a cabinet of one LZX
// folder holding the files of that section. The stream must be one frame:
// a longer one is reset every few frames, which a cabinet's is not.
func chmLZX(t testing.TB, chm []byte) []byte {
	t.Helper()
	le32 := func(at int) int { return int(binary.LittleEndian.Uint32(chm[at:])) }
	le64 := func(at int) int { return int(binary.LittleEndian.Uint64(chm[at:])) }
	if len(chm) < 0x60 || string(chm[:4]) != "ITSF" || le32(4) != 3 {
		t.Fatal("no ITSF version 3 header")
	}
	dir, dirLen, sect0 := le64(0x48), le64(0x50), le64(0x58)
	itsp, chunk := le32(dir+8), le32(dir+0x10)
	type entry struct{ section, off, size int }
	entries := map[string]entry{}
	var names []string
	encint := func(c []byte, i *int) int {
		v := 0
		for {
			x := c[*i]
			*i++
			v = v<<7 | int(x&0x7f)
			if x < 0x80 {
				return v
			}
		}
	}
	for at := dir + itsp; at+chunk <= dir+dirLen; at += chunk {
		c := chm[at : at+chunk]
		if string(c[:4]) != "PMGL" {
			continue
		}
		end := chunk - int(binary.LittleEndian.Uint32(c[4:]))
		for i := 0x14; i < end; {
			n := encint(c, &i)
			name := string(c[i : i+n])
			i += n
			e := entry{encint(c, &i), encint(c, &i), encint(c, &i)}
			entries[name] = e
			names = append(names, name)
		}
	}
	const ms = "::DataSpace/Storage/MSCompressed/"
	get := func(name string) []byte {
		e, ok := entries[ms+name]
		if !ok || e.section != 0 {
			t.Fatalf("no %s", name)
		}
		return chm[sect0+e.off : sect0+e.off+e.size]
	}
	control := get("ControlData")
	reset := get("Transform/{7FC28940-9D31-11D0-9B27-00A0C91E9C7C}/InstanceData/ResetTable")
	content := get("Content")
	if string(control[4:8]) != "LZXC" || binary.LittleEndian.Uint32(control[8:]) != 2 {
		t.Fatalf("control data %x", control)
	}
	bits := 15
	for 1<<bits < int(binary.LittleEndian.Uint32(control[16:]))*lzxFrame {
		bits++
	}
	plain := int(binary.LittleEndian.Uint64(reset[16:]))
	if frames := binary.LittleEndian.Uint32(reset[4:]); frames != 1 || plain > lzxFrame || int(binary.LittleEndian.Uint64(reset[24:])) != len(content) {
		t.Fatalf("%d frames, %d bytes", frames, plain)
	}
	var recs []cabFileRec
	for _, n := range names {
		if e := entries[n]; e.section == 1 && e.size > 0 {
			recs = append(recs, cabFileRec{name: strings.TrimPrefix(n, "/"), size: uint32(e.size), off: uint32(e.off), attrs: 0x20})
		}
	}
	return cabBuild(0, 3|uint16(bits)<<8, [][]byte{content}, []int{plain}, recs)
}

// clamTestFiles is where Debian's clamav-testfiles puts ClamAV's test
// files.
const clamTestFiles = "/usr/share/clamav-testfiles"

// TestCabLZXFromHelpCompiler: the LZX stream that Microsoft's HTML Help
// compiler wrote into ClamAV's clam.chm (its #SYSTEM says HHA Version
// 4.74.8702; window 2^16), as a cabinet, decodes to what cabextract
// extracts; the file clam.exe.txt in it is ClamAV's clam.exe, found by
// its content.
func TestCabLZXFromHelpCompiler(t *testing.T) {
	tool(t, "cabextract")
	chm, err := os.ReadFile(filepath.Join(clamTestFiles, "clam.chm"))
	if err != nil {
		t.Fatalf("%v: run bash testdata/install-deps.sh as root to install clamav-testfiles", err)
	}
	exe, err := os.ReadFile(filepath.Join(clamTestFiles, "clam.exe"))
	if err != nil {
		t.Fatal(err)
	}
	a := chmLZX(t, chm)
	if m, _ := cabFolder(a); m != 0x1003 {
		t.Fatalf("method %#x", m)
	}
	names := sameAsCabextract(t, a)
	if len(names) < 10 {
		t.Fatalf("files %q", names)
	}
	w, err := openCab(bytes.NewReader(a), int64(len(a)), "a.cab")
	if err != nil {
		t.Fatal(err)
	}
	got := readEntries(t, w)
	if !bytes.Equal(got["clam.exe.txt"], exe) {
		t.Errorf("clam.exe.txt is not clam.exe")
	}
	res := inspect(t, a, "help.cab", DefaultLimits())
	if l := listing(res.Attachments[0].Archive); !strings.Contains(l, "\nclam.exe.txt pe\n") || len(res.Uninspected) != 0 {
		t.Errorf("listing %s gaps %s", l, gaps(res))
	}
}

// lzxStoredHeader writes the header of an uncompressed block of n bytes
// whose repeated offsets are 1: its type and size, the padding to 16 bits,
// R0, R1 and R2.
func lzxStoredHeader(w *lzxWriter, n int) {
	w.bits(lzxUncompressed, 3)
	w.bits(uint32(n), 24)
	w.bits(0, 16-w.n)
	for range 3 {
		w.out = binary.LittleEndian.AppendUint32(w.out, 1)
	}
}

// TestCabLZXOddUncompressedAtFrameEnd: an uncompressed block of odd
// length that ends with a frame has its byte of padding at the end of
// that frame's data block, or as the first byte of the next; and one
// that runs over two data blocks, the first of odd length, ends at an
// odd offset of the second, the words after its padding read from there.
// Each decodes to what cabextract extracts.
func TestCabLZXOddUncompressedAtFrameEnd(t *testing.T) {
	data := x86Like(lzxFrame + 200)
	// A block of 1 byte, then one that ends or goes on at the frame's
	// end.
	first := func(w *lzxWriter, second int) {
		w.bits(0, 1)
		lzxStoredHeader(w, 1)
		w.out = append(w.out, data[0], 0)
		lzxStoredHeader(w, second)
		w.out = append(w.out, data[1:lzxFrame]...)
	}
	t.Run("pad in the frame's block", func(t *testing.T) {
		w := &lzxWriter{}
		first(w, lzxFrame-1)
		b1 := append(w.take(), 0)
		lzxStoredHeader(w, 200)
		b2 := append(w.take(), data[lzxFrame:]...)
		a := cabBuild(0, 3|15<<8, [][]byte{b1, b2}, []int{lzxFrame, 200}, []cabFileRec{{name: "a.exe", size: uint32(len(data)), attrs: 0x20}})
		sameAsCabextract(t, a)
	})
	t.Run("pad in the next block", func(t *testing.T) {
		w := &lzxWriter{}
		first(w, lzxFrame-1)
		b1 := w.take()
		w.out = append(w.out, 0)
		lzxStoredHeader(w, 200)
		b2 := append(w.take(), data[lzxFrame:]...)
		a := cabBuild(0, 3|15<<8, [][]byte{b1, b2}, []int{lzxFrame, 200}, []cabFileRec{{name: "a.exe", size: uint32(len(data)), attrs: 0x20}})
		sameAsCabextract(t, a)
	})
	t.Run("block over two data blocks", func(t *testing.T) {
		w := &lzxWriter{}
		first(w, lzxFrame-1+100)
		b1 := w.take()
		if len(b1)%2 != 1 {
			t.Fatalf("first data block of %d bytes", len(b1))
		}
		w.out = append(bytes.Clone(data[lzxFrame:lzxFrame+100]), 0)
		lzxStoredHeader(w, 100)
		b2 := append(w.take(), data[lzxFrame+100:]...)
		a := cabBuild(0, 3|15<<8, [][]byte{b1, b2}, []int{lzxFrame, 200}, []cabFileRec{{name: "a.exe", size: uint32(len(data)), attrs: 0x20}})
		sameAsCabextract(t, a)
	})
}

// TestCabLZXPaddingNotZero: the byte of padding after an odd uncompressed
// block, in its frame's data block or first in the next, is zero, or the
// block is corrupt, as 7-Zip finds it (cabextract ignores it).
func TestCabLZXPaddingNotZero(t *testing.T) {
	const gap = `archive: part 1: attachment "a.cab" > "%s": cannot be read: corrupt: LZX padding byte 0x41 after an uncompressed block`
	data := x86Like(lzxFrame + 200)
	w := &lzxWriter{}
	w.bits(0, 1)
	lzxStoredHeader(w, 101)
	w.out = append(w.out, data[:101]...)
	w.out = append(w.out, 'A')
	lzxStoredHeader(w, 99)
	w.out = append(w.out, data[101:200]...)
	a := cabBuild(0, 3|15<<8, [][]byte{w.take()}, []int{200}, []cabFileRec{{name: "a.exe", size: 200, attrs: 0x20}})
	check(t, inspect(t, a, "a.cab", DefaultLimits()), "[cab]\na.exe\n", fmt.Sprintf(gap, "a.exe"))
	w.bits(0, 1)
	lzxStoredHeader(w, 1)
	w.out = append(w.out, data[0], 0)
	lzxStoredHeader(w, lzxFrame-1)
	b1 := append(w.take(), data[1:lzxFrame]...)
	w.out = []byte{'A'}
	lzxStoredHeader(w, 200)
	b2 := append(w.take(), data[lzxFrame:]...)
	b := cabBuild(0, 3|15<<8, [][]byte{b1, b2}, []int{lzxFrame, 200}, []cabFileRec{
		{name: "a.txt", size: lzxFrame, attrs: 0x20},
		{name: "b.exe", size: 200, off: lzxFrame, attrs: 0x20},
	})
	check(t, inspect(t, b, "a.cab", DefaultLimits()), "[cab]\na.txt\nb.exe\n", fmt.Sprintf(gap, "b.exe"))
}

// TestCabLZXPadPolyglot: the data block after an odd uncompressed block
// that ended with the frame before, made so that words read from the
// wrong offset would decode too, to other bytes, cabextract extracting
// an executable: its padding is not zero (7-Zip fails), and the file a
// gap.
func TestCabLZXPadPolyglot(t *testing.T) {
	w := &lzxWriter{}
	w.bits(0, 1)
	text := wordsText(lzxFrame)
	lzxStoredHeader(w, 1)
	w.out = append(w.out, text[0], 0)
	lzxStoredHeader(w, lzxFrame-1)
	w.out = append(w.out, text[1:]...)
	b1 := w.take()
	// The padding, then the header of an uncompressed block, read in
	// words from the byte after the padding; read in words from the
	// padding, it would be the header of one too, its data a byte later.
	const n = 1000
	b2 := []byte{0x60, 0x10, 0x60, 0x10, 0}
	for range 12 {
		b2 = append(b2, 1)
	}
	b2 = append(b2, invoiceExe[:n+1]...)
	a := cabBuild(0, 3|15<<8, [][]byte{b1, b2}, []int{lzxFrame, n}, []cabFileRec{
		{name: "readme.txt", size: lzxFrame, attrs: 0x20},
		{name: "x.exe", size: n, off: lzxFrame, attrs: 0x20},
	})
	if s := md5.Sum(invoiceExe[:n]); cabextractSums(t, a)[1] != hex.EncodeToString(s[:]) {
		t.Fatal("cabextract does not extract the executable")
	}
	check(t, inspect(t, a, "a.cab", DefaultLimits()), "[cab]\nreadme.txt\nx.exe\n",
		`archive: part 1: attachment "a.cab" > "x.exe": cannot be read: corrupt: LZX padding byte 0x60 after an uncompressed block`)
}

// TestCabLZXBytesAfterFrame: a data block that is not the last of its
// folder and holds more than its frame (cabextract reads what follows as
// the next frame) is corrupt; the last data block of a folder may hold
// more.
func TestCabLZXBytesAfterFrame(t *testing.T) {
	const gap = `archive: part 1: attachment "a.cab" > "%s": cannot be read: corrupt: LZX data block holds 2 bytes after its frame`
	text := wordsText(lzxFrame)
	w := &lzxWriter{}
	w.bits(0, 1)
	lzxStoredHeader(w, 2*lzxFrame)
	w.out = append(w.out, text...)
	b1 := append(w.take(), "MZ"...)
	b2 := append([]byte("\x90\x00\x03\x00"), bytes.Repeat([]byte("y"), 1000)...)
	a := cabBuild(0, 3|15<<8, [][]byte{b1, b2}, []int{lzxFrame, 1000}, []cabFileRec{
		{name: "readme.txt", size: lzxFrame, attrs: 0x20},
		{name: "x.exe", size: 1000, off: lzxFrame, attrs: 0x20},
	})
	check(t, inspect(t, a, "a.cab", DefaultLimits()), "[cab]\nreadme.txt\nx.exe\n",
		fmt.Sprintf(gap, "readme.txt")+"; "+fmt.Sprintf(gap, "x.exe"))
	// Compressed: two bytes after the first frame's last word.
	data := x86Like(2 * lzxFrame)
	blocks, claims := lzxEncode(data, 15, 0, false)
	blocks[0] = append(bytes.Clone(blocks[0]), 0, 0)
	b := cabBuild(0, 3|15<<8, blocks, claims, []cabFileRec{{name: "a.bin", size: lzxFrame, attrs: 0x20}, {name: "b.bin", size: lzxFrame, off: lzxFrame, attrs: 0x20}})
	check(t, inspect(t, b, "a.cab", DefaultLimits()), "[cab]\na.bin\nb.bin\n", fmt.Sprintf(gap, "a.bin")+"; "+fmt.Sprintf(gap, "b.bin"))
	// The last data block of the folder.
	c := cabBuild(0, 3|15<<8, [][]byte{b1}, []int{lzxFrame}, []cabFileRec{{name: "readme.txt", size: lzxFrame, attrs: 0x20}})
	check(t, inspect(t, c, "a.cab", DefaultLimits()), "[cab]\nreadme.txt\n", "")
}

// FuzzLZXFrames decodes frames of a stream directly: the window's bits,
// then each data block as its size, the size of its frame and its bytes,
// the last one the folder's last.
func FuzzLZXFrames(f *testing.F) {
	for _, bits := range []int{15, 16, 21} {
		for _, stored := range []bool{false, true} {
			blocks, claims := lzxEncode(x86Like(40000), bits, 12000000, stored)
			in := []byte{byte(bits - lzxMinWindow)}
			for i, b := range blocks {
				in = binary.LittleEndian.AppendUint16(in, uint16(len(b)))
				in = binary.LittleEndian.AppendUint16(in, uint16(claims[i]))
				in = append(in, b...)
			}
			f.Add(in)
		}
	}
	f.Fuzz(func(t *testing.T, data []byte) {
		if len(data) < 1 {
			return
		}
		z := new(lzxDecoder)
		if err := z.reset(lzxMinWindow + int(data[0])%(lzxMaxWindow-lzxMinWindow+1)); err != nil {
			t.Fatal(err)
		}
		data = data[1:]
		out := make([]byte, lzxFrame)
		for len(data) >= 4 {
			packed := min(int(binary.LittleEndian.Uint16(data)), len(data)-4)
			plain := int(binary.LittleEndian.Uint16(data[2:]))
			data = data[4:]
			if plain == 0 || plain > lzxFrame {
				return
			}
			if err := z.frame(data[:packed], out[:plain], packed == len(data)); err != nil {
				return
			}
			data = data[packed:]
		}
	})
}
