package mime

import (
	"bytes"
	"encoding/base64"
	"encoding/binary"
	"encoding/json"
	"hash/crc32"
	"io"
	"maps"
	"os/exec"
	"runtime"
	"slices"
	"strings"
	"testing"
	"time"
)

// compressor is a tool that writes one of the compression formats.
type compressor struct {
	format string
	tool   string
	args   []string // options, both to compress a file and a pipe
	ext    string   // the suffix the tool appends
	sized  bool     // the tool records the size of a file it compresses
}

// compressors write each format with the tool that makes it: bzip2
// (Debian package bzip2), xz and xz --format=lzma (xz-utils), zstd (zstd).
var compressors = []compressor{
	{FormatBzip2, "bzip2", []string{"-9"}, ".bz2", false},
	{FormatXz, "xz", nil, ".xz", true},
	// xz writes an .lzma file's size as unknown, and an end marker.
	{FormatLzma, "xz", []string{"--format=lzma"}, ".lzma", false},
	{FormatZstd, "zstd", []string{"-q"}, ".zst", true},
}

// compress compresses data, named name, with c's tool and returns the file
// the tool wrote.
func (c compressor) compress(t testing.TB, name string, data []byte, opts ...string) []byte {
	t.Helper()
	dir := files(t, map[string][]byte{name: data})
	args := append(append(append([]string{"-k"}, c.args...), opts...), name)
	return run(t, dir, name+c.ext, tool(t, c.tool), args...)
}

// pipe compresses what r gives, streamed through c's tool: the content
// is never held whole.
func (c compressor) pipe(t testing.TB, r io.Reader, opts ...string) []byte {
	t.Helper()
	var out, stderr bytes.Buffer
	cmd := exec.Command(tool(t, c.tool), append(append([]string{"-c"}, c.args...), opts...)...)
	cmd.Stdin, cmd.Stdout, cmd.Stderr = r, &out, &stderr
	if err := cmd.Run(); err != nil {
		t.Fatalf("%s: %v\n%s", cmd, err, stderr.Bytes())
	}
	return out.Bytes()
}

// zeros gives n zero bytes without holding them.
type zeros struct{ n int64 }

func (z *zeros) Read(p []byte) (int, error) {
	if z.n <= 0 {
		return 0, io.EOF
	}
	p = p[:min(int64(len(p)), z.n)]
	clear(p)
	z.n -= int64(len(p))
	return len(p), nil
}

// gnuTar archives fs with GNU tar (Debian package tar), in the order given.
func gnuTar(t testing.TB, fs map[string][]byte, opts ...string) []byte {
	t.Helper()
	dir := files(t, fs)
	args := append(append([]string{"-cf", "out.tar"}, opts...), slices.Sorted(maps.Keys(fs))...)
	return run(t, dir, "out.tar", tool(t, "tar"), args...)
}

// mailOf is a message with data attached in base64 as name, of media
// type ct.
func mailOf(name, ct string, data []byte) string {
	enc := base64.StdEncoding.EncodeToString(data)
	var b strings.Builder
	b.WriteString("Subject: files\r\nMIME-Version: 1.0\r\nContent-Type: multipart/mixed; boundary=b\r\n\r\n")
	b.WriteString("--b\r\nContent-Type: text/plain; charset=UTF-8\r\n\r\nsee attached\r\n")
	b.WriteString("--b\r\nContent-Type: " + ct + "; name=\"" + name + "\"\r\nContent-Disposition: attachment; filename=\"" + name + "\"\r\nContent-Transfer-Encoding: base64\r\n\r\n")
	for len(enc) > 0 {
		n := min(76, len(enc))
		b.WriteString(enc[:n] + "\r\n")
		enc = enc[n:]
	}
	b.WriteString("--b--\r\n")
	return b.String()
}

// inspectMail inspects a message with data attached as name.
func inspectMail(t *testing.T, name, ct string, data []byte, lim Limits) *Result {
	t.Helper()
	lim.TempDir = t.TempDir()
	res, err := Inspect(strings.NewReader(mailOf(name, ct, data)), lim)
	if err != nil {
		t.Fatal(err)
	}
	if len(res.Attachments) != 1 {
		t.Fatalf("attachments = %+v", res.Attachments)
	}
	return res
}

// indent indents a listing by one level, as a nested archive's.
func indent(list string) string {
	return "  " + strings.ReplaceAll(strings.TrimSuffix(list, "\n"), "\n", "\n  ") + "\n"
}

// TestCompressed: files written by the real tools are one entry each,
// named as the tools name what they decompress, with the size the format
// records; a compressed tar archive lists the tar's entries, whatever the
// suffix; the format is told by content too, in a file and in a message.
func TestCompressed(t *testing.T) {
	tr := gnuTar(t, map[string][]byte{"readme.txt": []byte("read me\n"), "setup.exe": peBytes})
	const tarList = "[tar]\nreadme.txt\nsetup.exe pe\n"
	short := map[string]string{FormatBzip2: ".tbz", FormatXz: ".txz", FormatLzma: ".tlz", FormatZstd: ".tzst"}
	for _, c := range compressors {
		t.Run(c.format, func(t *testing.T) {
			exe := c.compress(t, "setup.exe", peBytes)
			res := inspect(t, exe, "setup.exe"+c.ext, DefaultLimits())
			check(t, res, "["+c.format+"]\nsetup.exe pe\n", "")
			want := int64(0)
			if c.sized {
				want = int64(len(peBytes))
			}
			if e := res.Attachments[0].Archive.Entries[0]; e.Ext != "exe" || e.Size != want {
				t.Errorf("entry = %+v, want size %d", e, want)
			}

			check(t, inspect(t, c.compress(t, "readme.txt", []byte("read me\n")), "readme.txt"+c.ext, DefaultLimits()), "["+c.format+"]\nreadme.txt\n", "")

			// Told by content: the entry keeps the file's name.
			check(t, inspect(t, exe, "scan.pdf", DefaultLimits()), "["+c.format+"]\nscan.pdf pe\n", "")

			ctar := c.compress(t, "x.tar", tr)
			check(t, inspect(t, ctar, "x.tar"+c.ext, DefaultLimits()), "["+c.format+"]\nx.tar\n"+indent(tarList), "")
			check(t, inspect(t, ctar, "X"+strings.ToUpper(short[c.format]), DefaultLimits()), "["+c.format+"]\nX.tar\n"+indent(tarList), "")
			// A tar told by its content, the name saying nothing.
			check(t, inspect(t, c.compress(t, "data", tr), "data"+c.ext, DefaultLimits()), "["+c.format+"]\ndata\n"+indent(tarList), "")

			res = inspectMail(t, "setup.exe"+c.ext, "application/octet-stream", exe, DefaultLimits())
			check(t, res, "["+c.format+"]\nsetup.exe pe\n", "")
			res = inspectMail(t, "x.tar"+c.ext, "application/octet-stream", ctar, DefaultLimits())
			check(t, res, "["+c.format+"]\nx.tar\n"+indent(tarList), "")
		})
	}
}

// TestCompressedConcatenated: files concatenated, as cat and the parallel
// compressors (pbzip2, xz -T, zstd -T) write them, decompress as one
// content, as the tools decompress them; xz streams may be padded.
func TestCompressedConcatenated(t *testing.T) {
	tr := gnuTar(t, map[string][]byte{"a.txt": bytes.Repeat([]byte("a"), 3000), "b.exe": peBytes, "c.txt": []byte("c\n")})
	const list = "x.tar\n  [tar]\n  a.txt\n  b.exe pe\n  c.txt\n"
	for _, c := range compressors {
		if c.format == FormatLzma {
			continue // an .lzma file holds one stream
		}
		t.Run(c.format, func(t *testing.T) {
			half := len(tr) / 2
			cat := append(c.compress(t, "x.tar", tr[:half]), c.compress(t, "x.tar", tr[half:])...)
			check(t, inspect(t, cat, "x.tar"+c.ext, DefaultLimits()), "["+c.format+"]\n"+list, "")
			if c.format == FormatXz {
				padded := append(append(c.compress(t, "x.tar", tr[:half]), 0, 0, 0, 0), c.compress(t, "x.tar", tr[half:])...)
				check(t, inspect(t, append(padded, 0, 0, 0, 0, 0, 0, 0, 0), "x.tar.xz", DefaultLimits()), "[xz]\n"+list, "")
			}
		})
	}
	t.Run("xz blocks", func(t *testing.T) {
		// Multi-threaded, xz cuts blocks, and records their sizes in
		// their headers.
		c := compressors[1]
		big := gnuTar(t, map[string][]byte{"a.txt": bytes.Repeat([]byte("abcdefgh"), 300<<10), "b.exe": peBytes})
		x := c.compress(t, "x.tar", big, "-T2", "--block-size=1MiB")
		check(t, inspect(t, x, "x.tar.xz", DefaultLimits()), "[xz]\nx.tar\n  [tar]\n  a.txt\n  b.exe pe\n", "")
	})
	t.Run("zstd skippable frame", func(t *testing.T) {
		// zstd -d skips skippable frames (RFC 8878, 3.1.2), before the
		// first frame too; such a file is told by content.
		skip := binary.LittleEndian.AppendUint32([]byte("\x5a\x2a\x4d\x18"), 5)
		z := append(append(skip, "hello"...), compressors[3].compress(t, "setup.exe", peBytes)...)
		check(t, inspect(t, z, "scan.pdf", DefaultLimits()), "[zstd]\nscan.pdf pe\n", "")
	})
}

// TestCompressedCorrupt: a truncated or damaged file lists its entry with
// what decompressed before the damage, and is an archive gap, corrupt; a
// file only named so is no archive.
func TestCompressedCorrupt(t *testing.T) {
	tr := gnuTar(t, map[string][]byte{"a.exe": peBytes, "b.txt": bytes.Repeat([]byte("text "), 2000)})
	for _, c := range compressors {
		t.Run(c.format, func(t *testing.T) {
			for _, data := range [][]byte{c.compress(t, "setup.exe", peBytes), c.compress(t, "x.tar", tr)} {
				for _, cut := range []int{len(data) / 2, len(data) - 1} {
					res := inspect(t, data[:cut], "x"+c.ext, DefaultLimits())
					if a := res.Attachments[0].Archive; a == nil || a.Format != c.format || len(a.Entries) != 1 ||
						!strings.HasPrefix(a.Skipped, "corrupt: ") || !strings.Contains(gaps(res), `archive: part 1: attachment "x`+c.ext+`": corrupt: `) {
						t.Errorf("cut at %d of %d: %s %s", cut, len(data), listing(a), gaps(res))
					}
				}
				bad := bytes.Clone(data)
				for i := max(14, len(bad)/3); i < len(bad)-1; i++ {
					bad[i] ^= 0x5a
				}
				if res := inspect(t, bad, "x"+c.ext, DefaultLimits()); !res.Has(GapArchive) {
					t.Errorf("damaged: %s %s", listing(res.Attachments[0].Archive), gaps(res))
				}
			}
			res := inspect(t, []byte("just text, with a name that says otherwise\n"), "notes"+c.ext, DefaultLimits())
			check(t, res, "["+c.format+" skipped: named or typed as a "+c.format+" archive, but its content is no archive format known]\n",
				`archive: part 1: attachment "notes`+c.ext+`": named or typed as a `+c.format+` archive, but its content is no archive format known`)
		})
	}
}

// memory runs f and returns the bytes it allocated, and how long it took.
func memory(f func()) (uint64, time.Duration) {
	var before, after runtime.MemStats
	runtime.GC()
	runtime.ReadMemStats(&before)
	start := time.Now()
	f()
	took := time.Since(start)
	runtime.ReadMemStats(&after)
	return after.TotalAlloc - before.TotalAlloc, took
}

// TestCompressedBombs: 200 MB of zeros, compressed by the tools to a few
// KB, cost what the limits allow: as a plain file only its head is
// decompressed; as a tar archive it is decompressed up to
// MaxArchiveBytes, or refused by the size the format records, and is an
// archive gap, too big.
func TestCompressedBombs(t *testing.T) {
	const bomb = 200_000_000
	lim := DefaultLimits()
	lim.MaxArchiveBytes = 8 << 20
	for _, c := range compressors {
		if c.format == FormatLzma {
			continue // xz's LZMA1 encoder is as slow as its LZMA2 one: xz stands for both
		}
		t.Run(c.format, func(t *testing.T) {
			// Zeros after a PDF header: the head of the content is no
			// format of its own (a head of zeros may be a disc image).
			data := c.pipe(t, io.MultiReader(strings.NewReader("%PDF-1.7\n"), &zeros{bomb}), "-1")
			if len(data) > 64<<10 {
				t.Fatalf("%d bytes compressed", len(data))
			}
			var res *Result
			alloc, took := memory(func() { res = inspect(t, data, "zeros.bin"+c.ext, lim) })
			check(t, res, "["+c.format+"]\nzeros.bin\n", "")
			t.Logf("as a plain file: %d bytes allocated in %v", alloc, took)

			alloc, took = memory(func() { res = inspect(t, data, "zeros.tar"+c.ext, lim) })
			a := res.Attachments[0].Archive
			if len(a.Entries) != 1 || a.Entries[0].Archive == nil || !strings.HasPrefix(a.Entries[0].Archive.Skipped, "too big: ") ||
				!strings.HasPrefix(gaps(res), `archive: part 1: attachment "zeros.tar`+c.ext+`" > "zeros.tar": too big: `) {
				t.Errorf("%s %s", listing(a), gaps(res))
			}
			t.Logf("as a tar archive: %d bytes allocated in %v: %s", alloc, took, gaps(res))
			if alloc > 128<<20 || took > 30*time.Second {
				t.Errorf("%d bytes allocated in %v", alloc, took)
			}
		})
	}
}

// TestCompressedMemory: the memory a file asks its decompressor for is
// bounded by maxDictionary, and by the size of what it decompresses: a
// zstd window of 2 GiB (zstd --long=31 on a pipe writes one), a content
// size of 2 GiB in a frame of one segment, an xz or lzma dictionary of 4
// GiB. A file that needs more is an archive gap, too big, at once.
func TestCompressedMemory(t *testing.T) {
	const zstdBig = "too big: zstd window bigger than 67108864 bytes"
	const dictBig = "too big: dictionary bigger than 67108864 bytes"
	// A raw block of 2 bytes, the last (RFC 8878, 3.1.1.2).
	block := []byte{2<<3 | 1, 0, 0, 'h', 'i'}
	singleSegment := binary.LittleEndian.AppendUint64([]byte("\x28\xb5\x2f\xfd\xe0"), 2<<30)
	x := compressors[1].compress(t, "setup.exe", peBytes)
	for _, c := range []struct {
		name string
		data []byte
		list string
		why  string
	}{
		{"zstd --long=31", compressors[3].pipe(t, strings.NewReader("hi\n"), "--long=31"), "[zstd skipped: " + zstdBig + "]\nbig\n", zstdBig},
		{"zstd single segment", append(singleSegment, block...), "[zstd skipped: " + zstdBig + "]\nbig\n", zstdBig},
		// The dictionary is clamped to the content the index records.
		{"xz dictionary 4 GiB, small", xzBlockDict(t, x, 40), "[xz]\nbig pe\n", ""},
		{"xz dictionary 4 GiB, big", xzOf(40, peBytes, 100<<20), "[xz skipped: " + dictBig + "]\nbig\n", dictBig},
		{"lzma dictionary 4 GiB", lzmaDict(compressors[2].compress(t, "setup.exe", peBytes), 1<<32-1), "[lzma skipped: " + dictBig + "]\nbig\n", dictBig},
		{"lzma dictionary 1 GiB", lzmaDict(compressors[2].compress(t, "setup.exe", peBytes), 1<<30), "[lzma skipped: " + dictBig + "]\nbig\n", dictBig},
	} {
		t.Run(c.name, func(t *testing.T) {
			ext := map[byte]string{0x28: ".zst", 0xfd: ".xz", 0x5d: ".lzma"}[c.data[0]]
			var res *Result
			alloc, took := memory(func() { res = inspect(t, c.data, "big"+ext, DefaultLimits()) })
			want := ""
			if c.why != "" {
				want = `archive: part 1: attachment "big` + ext + `": ` + c.why
			}
			check(t, res, c.list, want)
			if alloc > 16<<20 || took > 5*time.Second {
				t.Errorf("%d bytes allocated in %v", alloc, took)
			}
		})
	}
}

// xzOf builds an xz file (xz-file-format-1.2.1.txt) of one stream of one
// block: data in an uncompressed LZMA2 chunk, under the dictionary size
// code dict, with a CRC32 check; its index records uncompressed as the
// block's size.
func xzOf(dict byte, data []byte, uncompressed uint64) []byte {
	num := func(b []byte, v uint64) []byte {
		for ; v >= 0x80; v >>= 7 {
			b = append(b, byte(v)|0x80)
		}
		return append(b, byte(v))
	}
	crc := func(b []byte, of []byte) []byte { return binary.LittleEndian.AppendUint32(b, crc32.ChecksumIEEE(of)) }
	out := crc([]byte("\xfd7zXZ\x00\x00\x01"), []byte{0, 1})
	hdr := []byte{2, 0, 0x21, 1, dict, 0, 0, 0}
	out = crc(append(out, hdr...), hdr)
	lz := append(binary.BigEndian.AppendUint16([]byte{1}, uint16(len(data)-1)), data...)
	lz = append(lz, 0)
	out = append(out, lz...)
	out = append(out, make([]byte, -len(lz)&3)...)
	out = crc(out, data)
	index := num(num(num([]byte{0}, 1), uint64(len(hdr)+4+len(lz)+4)), uncompressed)
	index = append(index, make([]byte, -len(index)&3)...)
	index = crc(index, index)
	out = append(out, index...)
	foot := binary.LittleEndian.AppendUint32(nil, uint32(len(index)/4-1))
	foot = append(foot, 0, 1)
	return append(crc(out, foot), append(foot, 'Y', 'Z')...)
}

// xzBlockDict sets the dictionary size code of the first block of xz file
// x written by xz, whose block header holds the LZMA2 filter alone, and
// fixes the header's CRC32.
func xzBlockDict(t *testing.T, x []byte, dict byte) []byte {
	t.Helper()
	x = bytes.Clone(x)
	h := x[12 : 12+(int(x[12])+1)*4]
	if h[1] != 0 || h[2] != 0x21 || h[3] != 1 {
		t.Fatalf("block header % x", h)
	}
	h[4] = dict
	binary.LittleEndian.PutUint32(h[len(h)-4:], crc32.ChecksumIEEE(h[:len(h)-4]))
	return x
}

// lzmaDict sets the dictionary size in the header of .lzma file a.
func lzmaDict(a []byte, dict uint32) []byte {
	a = bytes.Clone(a)
	binary.LittleEndian.PutUint32(a[1:], dict)
	return a
}

// TestCompressedXzOf: the xz files the tests build are xz files to xz.
func TestCompressedXzOf(t *testing.T) {
	dir := files(t, map[string][]byte{"a.xz": xzOf(0x16, peBytes, uint64(len(peBytes)))})
	run(t, dir, "a.xz", tool(t, "xz"), "-t", "a.xz")
	check(t, inspect(t, xzOf(0x16, peBytes, uint64(len(peBytes))), "a.exe.xz", DefaultLimits()), "[xz]\na.exe pe\n", "")
	// An index that says more than the block holds is corrupt.
	check(t, inspect(t, xzOf(0x16, peBytes, 1000), "a.exe.xz", DefaultLimits()), "[xz skipped: corrupt: xz: block size differs from its index record]\na.exe pe\n",
		`archive: part 1: attachment "a.exe.xz": corrupt: xz: block size differs from its index record`)
}

// TestCompressedXzChecks: each check xz writes is verified: a block whose
// check fails is corrupt.
func TestCompressedXzChecks(t *testing.T) {
	for kind, size := range map[string]int{"none": 0, "crc32": 4, "crc64": 8, "sha256": 32} {
		x := compressors[1].compress(t, "setup.exe", peBytes, "--check="+kind)
		check(t, inspect(t, x, "setup.exe.xz", DefaultLimits()), "[xz]\nsetup.exe pe\n", "")
		if size == 0 {
			continue
		}
		// The check ends the block, before the index: its last byte is
		// the last of the block's.
		x[xzIndexAt(t, x)-1] ^= 1
		check(t, inspect(t, x, "setup.exe.xz", DefaultLimits()), "[xz skipped: corrupt: xz: block check failed]\nsetup.exe pe\n",
			`archive: part 1: attachment "setup.exe.xz": corrupt: xz: block check failed`)
	}
}

// xzIndexAt returns where the index of the one stream of xz file x
// starts.
func xzIndexAt(t *testing.T, x []byte) int64 {
	t.Helper()
	streams, _, err := xzStreams(bytes.NewReader(x), int64(len(x)))
	if err != nil || len(streams) != 1 {
		t.Fatalf("streams %+v: %v", streams, err)
	}
	return streams[0].index
}

// TestCompressedXzFilters: a block with a filter before LZMA2 (xz --x86)
// is not looked into, and says why.
func TestCompressedXzFilters(t *testing.T) {
	x := compressors[1].compress(t, "setup.exe", peBytes, "--x86", "--lzma2")
	check(t, inspect(t, x, "setup.exe.xz", DefaultLimits()), "[xz skipped: xz filter 0x4 not supported]\nsetup.exe\n",
		`archive: part 1: attachment "setup.exe.xz": xz filter 0x4 not supported`)
}

// TestCompressedXzBlocks: an xz file of more blocks than maxXzBlocks is
// not decompressed, each block costing a decompressor.
func TestCompressedXzBlocks(t *testing.T) {
	one := xzOf(0, []byte("x"), 1)
	// One stream of many blocks: the stream's block (a header of 12
	// bytes, an LZMA2 stream of 5, padding of 3, a CRC32), repeated, and
	// an index of as many records.
	body := one[12 : 12+24]
	var blocks []byte
	n := maxXzBlocks + 1
	for range n {
		blocks = append(blocks, body...)
	}
	num := func(b []byte, v uint64) []byte {
		for ; v >= 0x80; v >>= 7 {
			b = append(b, byte(v)|0x80)
		}
		return append(b, byte(v))
	}
	index := num([]byte{0}, uint64(n))
	for range n {
		index = num(num(index, 12+5+4), 1)
	}
	index = append(index, make([]byte, -len(index)&3)...)
	index = binary.LittleEndian.AppendUint32(index, crc32.ChecksumIEEE(index))
	foot := append(binary.LittleEndian.AppendUint32(nil, uint32(len(index)/4-1)), 0, 1)
	x := append(append(append([]byte(nil), one[:12]...), blocks...), index...)
	x = append(binary.LittleEndian.AppendUint32(x, crc32.ChecksumIEEE(foot)), append(foot, 'Y', 'Z')...)
	check(t, inspect(t, x, "many.xz", DefaultLimits()), "[xz skipped: too many xz blocks: more than 16384]\nmany\n",
		`archive: part 1: attachment "many.xz": too many xz blocks: more than 16384`)
}

// TestCompressedNames: a compressed file's content is named as the tools
// name it.
func TestCompressedNames(t *testing.T) {
	for in, want := range map[string]string{
		"report.pdf.bz2": "report.pdf", "docs.tbz": "docs.tar", "docs.TBZ2": "docs.tar", "data.zst": "data", "a.tzst": "a.tar",
		"a.zstd": "a", "a.tar.xz": "a.tar", "A.TXZ": "A.tar", "a.lzma": "a", "a.tlz": "a.tar", "a.bz": "a", "scan.pdf": "scan.pdf",
		".xz": ".xz", "請求書.exe.xz": "請求書.exe",
	} {
		if got := decompressedName(in); got != want {
			t.Errorf("decompressedName(%q) = %q, want %q", in, got, want)
		}
	}
}

// TestCompressedLzmaSniff: the .lzma files xz writes, at every preset, are
// told by content; zeros, text and headers xz would not take are not.
func TestCompressedLzmaSniff(t *testing.T) {
	for _, preset := range []string{"-0", "-6", "-9", "-9e"} {
		a := compressors[2].compress(t, "a.txt", []byte("some text\n"), preset)
		if !isLzmaHeader(a) || sniffArchive(a) != FormatLzma {
			t.Errorf("xz --format=lzma %s: % x not sniffed", preset, a[:14])
		}
	}
	a := compressors[2].compress(t, "a.txt", []byte("some text\n"))
	known := bytes.Clone(a)
	binary.LittleEndian.PutUint64(known[5:], 10) // the LZMA SDK records the size
	for name, c := range map[string]struct {
		head []byte
		want bool
	}{
		"size recorded":        {known, true},
		"dictionary 3 * 2^20":  {lzmaDict(a, 3<<20), true},
		"zeros":                {make([]byte, 4096), false},
		"text":                 {[]byte("]this is only text, whose first byte is 0x5d\n"), false},
		"dictionary 5 * 2^20":  {lzmaDict(a, 5<<20), false},
		"dictionary 2 KiB":     {lzmaDict(a, 2<<10), false},
		"properties 225":       {append([]byte{225}, a[1:]...), false},
		"size 0":               {append(append(bytes.Clone(a[:5]), make([]byte, 8)...), a[13:]...), false},
		"size 256 GiB":         {binary.LittleEndian.AppendUint64(bytes.Clone(a[:5]), 1<<38), false},
		"range coder not zero": {append(bytes.Clone(a[:13]), 1, 2, 3), false},
		"header only":          {a[:13], false},
	} {
		if got := isLzmaHeader(c.head); got != c.want {
			t.Errorf("%s: isLzmaHeader(% x) = %v", name, c.head[:min(len(c.head), 14)], got)
		}
	}
}

// FuzzCompressed: mutated files of the four formats are inspected as such
// without a panic, at a bounded cost, and the result can be reported.
func FuzzCompressed(f *testing.F) {
	tr := tarOf(f, "a.txt", []byte("hello\n"), "b.exe", peBytes)
	for i, c := range compressors {
		f.Add(uint8(i), c.compress(f, "a.exe", peBytes))
		f.Add(uint8(i), c.compress(f, "x.tar", tr))
	}
	f.Add(uint8(1), xzOf(0x16, peBytes, uint64(len(peBytes))))
	f.Add(uint8(1), append(compressors[1].compress(f, "x.tar", tr), compressors[1].compress(f, "x.tar", tr)...))
	f.Add(uint8(3), append(binary.LittleEndian.AppendUint32([]byte("\x50\x2a\x4d\x18"), 1), 0))
	f.Fuzz(func(t *testing.T, kind uint8, data []byte) {
		format := compressors[int(kind)%len(compressors)].format
		lim := DefaultLimits()
		lim.MaxArchiveBytes = 1 << 20
		lim.MaxArchiveEntries = 100
		lim.TempDir = t.TempDir()
		in := newInspector(bytes.NewReader(nil), lim, nil, nil)
		a := in.inspectArchive(format, bytes.NewReader(data), int64(len(data)), 1, "f.tar", "attachment", "1", false)
		// Only an lzma file, which has no magic bytes, may turn out to be
		// none, and is then read as a plain file.
		if a == nil && (format != FormatLzma || isLzmaHeader(data)) || a != nil && a.Format != format {
			t.Fatalf("archive = %+v", a)
		}
		if _, err := json.Marshal(in.res); err != nil {
			t.Fatal(err)
		}
	})
}
