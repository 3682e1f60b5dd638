package mime

// Disc images are built by the tools that write them: genisoimage (ISO
// 9660, Joliet, Rock Ridge, UDF 1.02), xorriso (ISO 9660 with a hybrid
// MBR), mkudffs (UDF of every revision and medium it writes) and
// pycdlib-genisoimage (whose library lists a file in one tree and not in
// another); testdata/install-deps.sh installs them. The one image no tool
// here writes, UDF 2.50 with a metadata partition, is built by udf250.

import (
	"archive/zip"
	"bytes"
	"encoding/binary"
	"encoding/json"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"
	"time"
	"unicode/utf16"
)

// isoList is the listing of an image of isoFiles: the files of a
// directory, then those of its subdirectories.
const isoList = "[iso]\nINVOICE.EXE pe\n請求書 2026.exe pe\ndocs/report.pdf\n"

// isoFiles are the files of the test images: an executable, one with a
// long Japanese name, and a harmless PDF in a directory.
var isoFiles = map[string][]byte{
	"INVOICE.EXE":     peBytes,
	"請求書 2026.exe":    evilPE,
	"docs/report.pdf": []byte("%PDF-1.4\n% harmless\n"),
}

// mkiso writes fs into a directory and makes an image of it with prog
// (genisoimage, xorriso or pycdlib-genisoimage) and its options.
func mkiso(t testing.TB, prog string, fs map[string][]byte, opts ...string) []byte {
	t.Helper()
	p := tool(t, prog)
	src := map[string][]byte{}
	for n, d := range fs {
		src["src/"+n] = d
	}
	dir := files(t, src)
	var args []string
	if prog == "xorriso" {
		args = []string{"-as", "mkisofs"}
	}
	args = append(append(args, opts...), "-quiet", "-o", "out.iso", "src")
	return run(t, dir, "out.iso", p, args...)
}

// mkudffs makes an empty UDF file system of size bytes with mkudffs.
func mkudffs(t testing.TB, media, rev string, bs, size int) []byte {
	t.Helper()
	if testing.Short() {
		t.Skip("needs mkudffs: run without -short")
	}
	p, err := exec.LookPath("mkudffs")
	if err != nil {
		p = tool(t, "/usr/sbin/mkudffs")
	}
	dir := files(t, map[string][]byte{"out.udf": make([]byte, size)})
	return run(t, dir, "out.udf", p, "--media-type="+media, "--udfrev="+rev, fmt.Sprintf("--blocksize=%d", bs), "out.udf")
}

// udfOnly blanks the ISO 9660 volume descriptors of a hybrid image: what
// is left is read as UDF alone.
func udfOnly(img []byte) []byte {
	img = bytes.Clone(img)
	for s := 16; string(img[s*isoSector+1:s*isoSector+6]) == "CD001"; s++ {
		clear(img[s*isoSector : (s+1)*isoSector])
	}
	return img
}

// isoListing inspects an image as a file named name, and checks its
// listing and gaps.
func isoListing(t *testing.T, img []byte, name, wantListing, wantGaps string) *Result {
	t.Helper()
	res := inspect(t, img, name, DefaultLimits())
	check(t, res, wantListing, wantGaps)
	return res
}

// TestISO: ISO 9660 images of the real tools, Joliet names preferred, Rock
// Ridge names read, 8.3 names as the last resort.
func TestISO(t *testing.T) {
	t.Run("genisoimage joliet rock ridge", func(t *testing.T) {
		res := isoListing(t, mkiso(t, "genisoimage", isoFiles, "-J", "-R"), "scan.iso", isoList, "")
		for _, e := range res.Attachments[0].Archive.Entries {
			if e.Name == "INVOICE.EXE" && (e.Executable != ExecPE || e.Ext != "exe" || e.Size != int64(len(peBytes))) {
				t.Errorf("entry %+v", e)
			}
		}
	})
	t.Run("genisoimage joliet", func(t *testing.T) {
		isoListing(t, mkiso(t, "genisoimage", isoFiles, "-J"), "scan.iso", isoList, "")
	})
	t.Run("genisoimage rock ridge", func(t *testing.T) {
		isoListing(t, mkiso(t, "genisoimage", isoFiles, "-R"), "scan.iso", isoList, "")
	})
	t.Run("genisoimage 8.3 names", func(t *testing.T) {
		isoListing(t, mkiso(t, "genisoimage", isoFiles), "scan.iso", "[iso]\nINVOICE.EXE pe\n________.EXE pe\nDOCS/REPORT.PDF\n", "")
	})
	t.Run("xorriso joliet rock ridge", func(t *testing.T) {
		isoListing(t, mkiso(t, "xorriso", isoFiles, "-J", "-R"), "scan.iso", isoList, "")
	})
	t.Run("deep directories", func(t *testing.T) {
		// Rock Ridge relocates directories past the eighth level; the
		// relocated one is listed where it belongs.
		fs := map[string][]byte{"a/b/c/d/e/f/g/h/i/deep.exe": peBytes}
		isoListing(t, mkiso(t, "genisoimage", fs, "-R"), "deep.iso", "[iso]\na/b/c/d/e/f/g/h/i/deep.exe pe\n", "")
	})
	t.Run("joliet truncates a long name", func(t *testing.T) {
		// Joliet keeps 64 characters (Windows shows no extension), Rock
		// Ridge all of them: both names are judged.
		long := strings.Repeat("L", 70) + ".exe"
		res := inspect(t, mkiso(t, "genisoimage", map[string][]byte{long: peBytes}, "-J", "-R"), "a.iso", DefaultLimits())
		e := res.Attachments[0].Archive.Entries
		if len(e) != 1 || e[0].Name != long[:64] || len(e[0].OtherNames) != 1 || e[0].OtherNames[0] != long || !res.Has(GapAmbiguous) {
			t.Errorf("entries %+v gaps %s", e, gaps(res))
		}
	})
	t.Run("harmless", func(t *testing.T) {
		isoListing(t, mkiso(t, "genisoimage", map[string][]byte{"report.pdf": []byte("%PDF-1.4\n")}, "-J", "-R"), "report.iso", "[iso]\nreport.pdf\n", "")
	})
}

// TestUDF: UDF images, alone and beside ISO 9660 trees, and the union of
// trees that list different files.
func TestUDF(t *testing.T) {
	hybrid := mkiso(t, "genisoimage", isoFiles, "-J", "-R", "-udf")
	t.Run("genisoimage hybrid", func(t *testing.T) {
		isoListing(t, hybrid, "scan.iso", isoList, "")
	})
	t.Run("UDF and 8.3 names", func(t *testing.T) {
		// The 8.3 names of the files UDF lists are not other names.
		isoListing(t, mkiso(t, "genisoimage", isoFiles, "-udf"), "scan.iso", isoList, "")
	})
	t.Run("empty files", func(t *testing.T) {
		// No content: one file by its path in all three trees.
		fs := map[string][]byte{"empty.exe": nil, "docs/empty.txt": nil}
		isoListing(t, mkiso(t, "genisoimage", fs, "-J", "-R", "-udf"), "scan.iso", "[iso]\nempty.exe\ndocs/empty.txt\n", "")
	})
	t.Run("UDF only", func(t *testing.T) {
		isoListing(t, udfOnly(hybrid), "scan.udf", isoList, "")
		isoListing(t, udfOnly(hybrid), "", isoList, "")
	})
	t.Run("only in UDF", func(t *testing.T) {
		img := mkiso(t, "pycdlib-genisoimage", isoFiles, "-J", "-R", "-udf", "-hide", "INVOICE.EXE", "-hide-joliet", "INVOICE.EXE")
		res := inspect(t, img, "scan.iso", DefaultLimits())
		if !findExe(res.Attachments[0].Archive, "INVOICE.EXE") || len(res.Uninspected) > 0 {
			t.Errorf("%s %s", listing(res.Attachments[0].Archive), gaps(res))
		}
	})
	t.Run("only in ISO 9660", func(t *testing.T) {
		img := mkiso(t, "pycdlib-genisoimage", isoFiles, "-J", "-R", "-udf", "-hide-udf", "INVOICE.EXE")
		res := inspect(t, img, "scan.iso", DefaultLimits())
		if !findExe(res.Attachments[0].Archive, "INVOICE.EXE") || len(res.Uninspected) > 0 {
			t.Errorf("%s %s", listing(res.Attachments[0].Archive), gaps(res))
		}
	})
	t.Run("mkudffs", func(t *testing.T) {
		// Empty file systems, as mkudffs writes them for each medium:
		// physical and sparable partitions.
		for _, media := range []string{"hd", "dvd", "cdrw"} {
			for _, rev := range []string{"1.02", "1.50", "2.00", "2.01"} {
				for _, bs := range []int{512, 2048, 4096} {
					if media == "cdrw" && (bs == 4096 || rev == "1.02") {
						continue // not written by mkudffs
					}
					want := "[iso]\n"
					if media == "cdrw" && rev == "1.50" {
						want += "Non-Allocatable Space\n" // UDF 1.50 2.3.13
					}
					name := fmt.Sprintf("%s-%s-%d.udf", media, rev, bs)
					t.Run(name, func(t *testing.T) {
						isoListing(t, mkudffs(t, media, rev, bs, 3<<20), name, want, "")
					})
				}
			}
		}
	})
	t.Run("mkudffs write-once", func(t *testing.T) {
		// The virtual allocation table of a write-once medium is written
		// when a session is closed, which mkudffs does not do: neither
		// the VAT nor the files it maps can be read, a gap.
		for _, c := range []struct{ media, rev string }{{"cdr", "1.50"}, {"cdr", "2.01"}, {"bdr", "2.50"}, {"bdr", "2.60"}} {
			res := inspect(t, mkudffs(t, c.media, c.rev, 2048, 3<<20), "a.udf", DefaultLimits())
			if !res.Has(GapArchive) || !strings.Contains(gaps(res), "virtual partition") {
				t.Errorf("%s %s: %s", c.media, c.rev, gaps(res))
			}
		}
	})
	t.Run("metadata partition", func(t *testing.T) {
		isoListing(t, udf250(t), "w.udf", "[iso]\nINVOICE.EXE pe\nsub/請求書.exe pe\n", "")
	})
}

// udfDesc sets the tag of descriptor d (ECMA-167 3/7.2): identifier,
// version 3, location, the CRC of the rest and the checksum.
func udfDesc(d []byte, id uint16, loc uint32) []byte {
	binary.LittleEndian.PutUint16(d, id)
	binary.LittleEndian.PutUint16(d[2:], 3)
	binary.LittleEndian.PutUint32(d[12:], loc)
	udfRetag(d)
	return d
}

// udfRetag recomputes the CRC and checksum of descriptor d, over the
// whole of d past its tag.
func udfRetag(d []byte) {
	binary.LittleEndian.PutUint16(d[10:], uint16(len(d)-16))
	binary.LittleEndian.PutUint16(d[8:], udfCRC(d[16:]))
	d[4] = 0
	var sum byte
	for i, c := range d[:16] {
		if i != 4 {
			sum += c
		}
	}
	d[4] = sum
}

// udfRegid writes an entity identifier (ECMA-167 1/7.4) at b.
func udfRegid(b []byte, id string, suffix uint16) {
	copy(b[1:24], id)
	binary.LittleEndian.PutUint16(b[24:], suffix)
}

// udfFID is a file identifier descriptor (ECMA-167 4/14.4) naming the file
// entry at block of partition ref.
func udfFID(chars byte, name []byte, block uint32, ref uint16, loc uint32) []byte {
	d := make([]byte, (38+len(name)+3)&^3)
	binary.LittleEndian.PutUint16(d[16:], 1)
	d[18], d[19] = chars, byte(len(name))
	binary.LittleEndian.PutUint32(d[20:], 512)
	binary.LittleEndian.PutUint32(d[24:], block)
	binary.LittleEndian.PutUint16(d[28:], ref)
	copy(d[38:], name)
	return udfDesc(d, udfTagFileID, loc)
}

// udfEntry is a file entry (FE) or extended file entry (EFE) of a file of
// type typ and size bytes, with allocation descriptors ads of type adType.
func udfEntry(ext bool, typ byte, adType uint16, size int, ads []byte, loc uint32) []byte {
	d := make([]byte, 512)
	base, lea := 176, 168
	id := uint16(udfTagFileEntry)
	if ext {
		base, lea, id = 216, 208, udfTagExtFileEntry
	}
	binary.LittleEndian.PutUint16(d[20:], 4) // strategy 4
	binary.LittleEndian.PutUint16(d[24:], 1)
	d[27] = typ
	binary.LittleEndian.PutUint16(d[34:], adType)
	binary.LittleEndian.PutUint64(d[56:], uint64(size))
	binary.LittleEndian.PutUint32(d[lea+4:], uint32(len(ads)))
	copy(d[base:], ads)
	return udfDesc(d[:base+len(ads)], id, loc)
}

// udf250 builds a UDF 2.50 image with a metadata partition, which
// Windows writes and no tool here does, of 512-byte blocks: the file set,
// the directories and the file entries lie in the metadata file, blocks
// 40 to 55 of the physical partition; the executable's content lies in
// the physical partition, the other's is embedded in its file entry.
func udf250(t testing.TB) []byte {
	t.Helper()
	const bs, partStart, metaStart = 512, 300, 40
	img := make([]byte, 500*bs)
	put := func(sector int, d []byte) { copy(img[sector*bs:], d) }
	meta := func(m int) int { return partStart + metaStart + m } // sector of metadata block m
	for i, id := range []string{"BEA01", "NSR03", "TEA01"} {
		copy(img[32768+i*isoSector:], "\x00"+id+"\x01")
	}
	avdp := make([]byte, 512)
	for _, at := range []int{16, 24} {
		binary.LittleEndian.PutUint32(avdp[at:], 16*bs)
		binary.LittleEndian.PutUint32(avdp[at+4:], 80)
	}
	put(256, udfDesc(avdp, udfTagAVDP, 256))
	pd := make([]byte, 512)
	binary.LittleEndian.PutUint32(pd[16:], 1)
	udfRegid(pd[24:], "+NSR03", 0)
	binary.LittleEndian.PutUint32(pd[184:], 1)
	binary.LittleEndian.PutUint32(pd[188:], partStart)
	binary.LittleEndian.PutUint32(pd[192:], 200)
	put(80, udfDesc(pd, udfTagPartition, 80))
	lvd := make([]byte, 512)
	binary.LittleEndian.PutUint32(lvd[16:], 2)
	binary.LittleEndian.PutUint32(lvd[212:], bs)
	udfRegid(lvd[216:], "*OSTA UDF Compliant", 0x0250)
	binary.LittleEndian.PutUint32(lvd[248:], bs) // the file set: block 0 of partition 1
	binary.LittleEndian.PutUint16(lvd[256:], 1)
	binary.LittleEndian.PutUint32(lvd[264:], 70)
	binary.LittleEndian.PutUint32(lvd[268:], 2)
	copy(lvd[440:], []byte{1, 6, 1, 0, 0, 0})
	m := lvd[446:]
	m[0], m[1] = 2, 64
	udfRegid(m[4:], "*UDF Metadata Partition", 0x0250)
	binary.LittleEndian.PutUint16(m[36:], 1)
	binary.LittleEndian.PutUint32(m[40:], 10) // the metadata file
	binary.LittleEndian.PutUint32(m[44:], 10) // its mirror
	binary.LittleEndian.PutUint32(m[48:], 0xffffffff)
	put(81, udfDesc(lvd, udfTagLogicalVol, 81))
	put(82, udfDesc(make([]byte, 512), udfTagTerminating, 82))
	// The metadata file: 16 blocks from block 40 of the partition.
	ad := binary.LittleEndian.AppendUint32(binary.LittleEndian.AppendUint32(nil, 16*bs), metaStart)
	put(partStart+10, udfEntry(true, 250, 0, 16*bs, ad, 10))
	fsd := make([]byte, 512)
	binary.LittleEndian.PutUint32(fsd[400:], bs) // the root: block 1 of partition 1
	binary.LittleEndian.PutUint32(fsd[404:], 1)
	binary.LittleEndian.PutUint16(fsd[408:], 1)
	put(meta(0), udfDesc(fsd, udfTagFileSet, 0))
	fids := append(append(udfFID(0x0a, nil, 1, 1, 2),
		udfFID(0, []byte("\x08INVOICE.EXE"), 3, 1, 2)...),
		udfFID(0x02, []byte("\x08sub"), 4, 1, 2)...)
	put(meta(1), udfEntry(true, udfTypeDir, 0, len(fids), binary.LittleEndian.AppendUint32(binary.LittleEndian.AppendUint32(nil, uint32(len(fids))), 2), 1))
	put(meta(2), fids)
	// The executable: 64 bytes at block 100 of partition 0 (long_ad).
	long := make([]byte, 16)
	binary.LittleEndian.PutUint32(long, uint32(len(peBytes)))
	binary.LittleEndian.PutUint32(long[4:], 100)
	put(meta(3), udfEntry(true, 5, 1, len(peBytes), long, 3))
	put(partStart+100, peBytes)
	name := []byte{16}
	for _, u := range utf16.Encode([]rune("請求書.exe")) {
		name = binary.BigEndian.AppendUint16(name, u)
	}
	sub := append(udfFID(0x0a, nil, 1, 1, 4), udfFID(0, name, 5, 1, 4)...)
	put(meta(4), udfEntry(true, udfTypeDir, 3, len(sub), sub, 4))
	put(meta(5), udfEntry(false, 5, 3, len(peBytes), peBytes, 5))
	return img
}

// TestISOSniff: images are found by content, whatever their name; content
// that only looks like their system area is read as it was.
func TestISOSniff(t *testing.T) {
	img := mkiso(t, "genisoimage", isoFiles, "-J", "-R")
	for _, name := range []string{"scan.iso", "scan.img", "scan.pdf", ""} {
		isoListing(t, img, name, isoList, "")
	}
	t.Run("hybrid MBR", func(t *testing.T) {
		// The system area of an isohybrid image: syslinux's MBR boot
		// code, a partition table, 0x55AA.
		mbr, err := os.ReadFile("/usr/lib/ISOLINUX/isohdpfx.bin")
		if err != nil {
			t.Fatalf("%v: run bash testdata/install-deps.sh as root to install isolinux", err)
		}
		dir := files(t, map[string][]byte{"mbr.bin": mbr})
		img := mkiso(t, "xorriso", isoFiles, "-J", "-R", "-G", filepath.Join(dir, "mbr.bin"), "--protective-msdos-label")
		if !sniffISO(img[:headSize]) || img[0] != 0x33 {
			t.Fatalf("head % x", img[:16])
		}
		// The FAT reader, sniffed first, may take the MBR and have this
		// reader read the image: the executable is found either way.
		res := inspect(t, img, "", DefaultLimits())
		if !findExe(res.Attachments[0].Archive, "INVOICE.EXE") {
			t.Errorf("%s %s", listing(res.Attachments[0].Archive), gaps(res))
		}
		lim := DefaultLimits()
		lim.TempDir = t.TempDir()
		in := newInspector(bytes.NewReader(nil), lim, nil, nil)
		a := in.inspectArchive(formatISO, bytes.NewReader(img), int64(len(img)), 1, "", "hybrid", "1", false)
		if l := listing(a); l != isoList || len(in.res.Uninspected) > 0 {
			t.Errorf("%s %s", l, gaps(in.res))
		}
	})
	t.Run("not an image", func(t *testing.T) {
		// Zeros, a FAT boot sector: read as they are.
		zeros := make([]byte, 100<<10)
		res := isoListing(t, zeros, "data.bin", "", "")
		if res.Attachments[0].Archive != nil {
			t.Errorf("archive %+v", res.Attachments[0].Archive)
		}
		fat := make([]byte, 64<<10)
		copy(fat, "\xeb\x3c\x90MSDOS5.0\x00\x02\x04")
		fat[510], fat[511] = 0x55, 0xaa
		if sniffISO(fat[:headSize]) {
			t.Error("a FAT boot sector sniffed as an image")
		}
		// Named as an image, it is one that cannot be read.
		isoListing(t, zeros, "data.iso", "[iso skipped: corrupt: no ISO 9660 or UDF volume descriptor, and the name says iso]\n",
			`archive: part 1: attachment "data.iso": corrupt: no ISO 9660 or UDF volume descriptor, and the name says iso`)
	})
	t.Run("zeros then zip", func(t *testing.T) {
		// A zip after 4 KiB of zeros sniffs as an image: it is not passed
		// over as a plain file.
		z := append(make([]byte, headSize), storeZip(t, "evil.exe", peBytes)...)
		res := inspect(t, z, "invoice.zip", DefaultLimits())
		if !res.Has(GapArchive) && !findExe(res.Attachments[0].Archive, "evil.exe") {
			t.Errorf("%s %s", listing(res.Attachments[0].Archive), gaps(res))
		}
	})
}

// TestISOInZip: an image in a zip is looked into, by its name or by its
// content.
func TestISOInZip(t *testing.T) {
	img := mkiso(t, "genisoimage", isoFiles, "-J", "-R")
	zipOf := func(name string) []byte {
		var b bytes.Buffer
		w := zip.NewWriter(&b)
		fw, _ := w.Create(name)
		fw.Write(img)
		w.Close()
		return b.Bytes()
	}
	res := inspect(t, zipOf("INVOICE.ISO"), "invoice.zip", DefaultLimits())
	check(t, res, "[zip]\nINVOICE.ISO\n  [iso]\n  INVOICE.EXE pe\n  請求書 2026.exe pe\n  docs/report.pdf\n", "")
	// An entry is opened as a disc image only when its name says so:
	// Explorer mounts an .iso, not an .bin, and extracting every entry
	// that starts with zeros would spend the budget on data files.
	res = inspect(t, zipOf("invoice.bin"), "invoice.zip", DefaultLimits())
	check(t, res, "[zip]\ninvoice.bin\n", "")
}

// TestISOMessage: an image attached to a message as
// application/octet-stream in base64, named scan.iso and without a name.
func TestISOMessage(t *testing.T) {
	img := mkiso(t, "genisoimage", isoFiles, "-J", "-R")
	var enc strings.Builder
	for s := b64enc(img); len(s) > 0; {
		n := min(76, len(s))
		enc.WriteString(s[:n] + "\r\n")
		s = s[n:]
	}
	for _, disposition := range []string{`attachment; filename="scan.iso"`, "attachment"} {
		msg := "From: a@example.com\r\nTo: b@example.com\r\nSubject: scan\r\nMIME-Version: 1.0\r\n" +
			"Content-Type: multipart/mixed; boundary=\"b\"\r\n\r\n--b\r\nContent-Type: text/plain\r\n\r\nsee attached\r\n" +
			"--b\r\nContent-Type: application/octet-stream\r\nContent-Disposition: " + disposition + "\r\n" +
			"Content-Transfer-Encoding: base64\r\n\r\n" + enc.String() + "--b--\r\n"
		lim := DefaultLimits()
		lim.TempDir = t.TempDir()
		res, err := Inspect(strings.NewReader(msg), lim)
		if err != nil {
			t.Fatal(err)
		}
		if len(res.Attachments) != 1 {
			t.Fatalf("%s: attachments %+v", disposition, res.Attachments)
		}
		check(t, res, isoList, "")
	}
}

// isoRecordsNamed returns the offsets of the directory records of img
// whose file identifier is name.
func isoRecordsNamed(img, name []byte) []int {
	var at []int
	for i := 0; ; {
		j := bytes.Index(img[i:], name)
		if j < 0 {
			return at
		}
		if p := i + j; p >= 33 && int(img[p-1]) == len(name) && int(img[p-33]) >= 33+len(name) {
			at = append(at, p-33)
		}
		i += j + 1
	}
}

// ucs2 is s in UCS-2, big-endian, as Joliet has it.
func ucs2(s string) []byte {
	var b []byte
	for _, u := range utf16.Encode([]rune(s)) {
		b = binary.BigEndian.AppendUint16(b, u)
	}
	return b
}

// bothEndian32 writes v in both byte orders (ECMA-119 7.3.3).
func bothEndian32(b []byte, v uint32) {
	binary.LittleEndian.PutUint32(b, v)
	binary.BigEndian.PutUint32(b[4:], v)
}

// TestISOHostile: images that lie about where and how big their files
// are, or that loop, are read within bounds; what cannot be read is a gap.
func TestISOHostile(t *testing.T) {
	img := mkiso(t, "genisoimage", isoFiles, "-J", "-R")
	records := func(img []byte) []int {
		r := append(isoRecordsNamed(img, []byte("INVOICE.EXE;1")), isoRecordsNamed(img, ucs2("INVOICE.EXE"))...)
		if len(r) != 2 {
			t.Fatalf("records of INVOICE.EXE: %v", r)
		}
		return r
	}
	t.Run("extent beyond the image", func(t *testing.T) {
		bad := bytes.Clone(img)
		for _, r := range records(bad) {
			bothEndian32(bad[r+2:], 0x00ffffff)
		}
		res := inspect(t, bad, "a.iso", DefaultLimits())
		if !strings.Contains(gaps(res), `"INVOICE.EXE": cannot be read: extent of 64 bytes at 34359736320: beyond the end of the image`) {
			t.Errorf("gaps %s", gaps(res))
		}
	})
	t.Run("size beyond the image", func(t *testing.T) {
		bad := bytes.Clone(img)
		for _, r := range records(bad) {
			bothEndian32(bad[r+10:], 0x7ffffff0)
		}
		res := inspect(t, bad, "a.iso", DefaultLimits())
		if !strings.Contains(gaps(res), `"INVOICE.EXE": cannot be read: extent of 2147483632 bytes`) {
			t.Errorf("gaps %s", gaps(res))
		}
	})
	t.Run("directory loop", func(t *testing.T) {
		// docs/ points to the root, in both trees.
		bad := bytes.Clone(img)
		for _, c := range []struct {
			name []byte
			vd   int
		}{{[]byte("DOCS"), 16}, {ucs2("docs"), 17}} {
			root := binary.LittleEndian.Uint32(bad[c.vd*isoSector+156+2:])
			rs := isoRecordsNamed(bad, c.name)
			if len(rs) != 1 {
				t.Fatalf("records of %q: %v", c.name, rs)
			}
			bothEndian32(bad[rs[0]+2:], root)
		}
		isoListing(t, bad, "a.iso", "[iso]\nINVOICE.EXE pe\n請求書 2026.exe pe\n", "")
	})
	t.Run("multi-extent file", func(t *testing.T) {
		// A.EXE flagged as continued in the next record, B.BIN: one file
		// of both extents, named by the first record and, as Linux names
		// it, by the last.
		img := mkiso(t, "genisoimage", map[string][]byte{"A.EXE": peBytes, "B.BIN": bytes.Repeat([]byte{0x90}, 100)})
		rs := isoRecordsNamed(img, []byte("A.EXE;1"))
		if len(rs) != 1 {
			t.Fatalf("records of A.EXE: %v", rs)
		}
		img[rs[0]+25] |= isoFlagMultiExtent
		res := inspect(t, img, "a.iso", DefaultLimits())
		e := res.Attachments[0].Archive.Entries
		if len(e) != 1 || e[0].Name != "A.EXE" || e[0].Size != 164 || e[0].Executable != ExecPE || len(e[0].OtherNames) != 1 || e[0].OtherNames[0] != "B.BIN" {
			t.Errorf("entries %+v gaps %s", e, gaps(res))
		}
	})
	t.Run("a million directory records", func(t *testing.T) {
		// A primary volume descriptor whose root directory holds 10^6
		// records of 34 bytes, 60 a sector.
		const n = 1000000
		sectors := (n + 59) / 60
		big := make([]byte, (20+sectors)*isoSector)
		pvd := big[16*isoSector:]
		copy(pvd, "\x01CD001\x01")
		binary.LittleEndian.PutUint16(pvd[128:], isoSector)
		pvd[156] = 34
		bothEndian32(pvd[156+2:], 20)
		bothEndian32(pvd[156+10:], uint32(sectors*isoSector))
		pvd[156+25] = isoFlagDir
		copy(big[17*isoSector:], "\xffCD001\x01")
		for i := range n {
			r := big[20*isoSector+i/60*isoSector+i%60*34:]
			r[0], r[32], r[33] = 34, 1, 'A'+byte(i%26)
		}
		start := time.Now()
		lim := DefaultLimits()
		lim.TempDir = t.TempDir()
		in := newInspector(bytes.NewReader(nil), lim, nil, nil)
		in.inspectArchive(formatISO, bytes.NewReader(big), int64(len(big)), 1, "a.iso", "a.iso", "1", false)
		if g := gaps(in.res); g != fmt.Sprintf("limit: part 1: a.iso: too many directory records: more than %d", isoMaxRecords) {
			t.Errorf("gaps %s", g)
		}
		if d := time.Since(start); d > 5*time.Second {
			t.Errorf("took %v", d)
		}
	})
	t.Run("descriptor set without terminator", func(t *testing.T) {
		// Sector after sector of supplementary volume descriptors that
		// are not Joliet, none a terminator.
		bad := make([]byte, 2000*isoSector)
		for s := 16; s < 2000; s++ {
			copy(bad[s*isoSector:], "\x02CD001\x01")
		}
		isoListing(t, bad, "a.iso", "[iso skipped: corrupt: no primary volume descriptor]\n", `archive: part 1: attachment "a.iso": corrupt: no primary volume descriptor`)
	})
}

// TestUDFHostile: UDF structures that lie or loop.
func TestUDFHostile(t *testing.T) {
	img := udfOnly(mkiso(t, "genisoimage", isoFiles, "-J", "-R", "-udf"))
	// The file entry of INVOICE.EXE: the one of 64 bytes.
	var fe []byte
	for s := 257; s*isoSector < len(img); s++ {
		d := img[s*isoSector : (s+1)*isoSector]
		if binary.LittleEndian.Uint16(d) == udfTagFileEntry && d[27] == 5 && binary.LittleEndian.Uint64(d[56:]) == uint64(len(peBytes)) {
			fe = d[:176+binary.LittleEndian.Uint32(d[168:])+binary.LittleEndian.Uint32(d[172:])]
		}
	}
	if fe == nil {
		t.Fatal("no file entry of INVOICE.EXE")
	}
	patched := func(f func()) []byte {
		save := bytes.Clone(fe)
		defer copy(fe, save)
		f()
		udfRetag(fe)
		return bytes.Clone(img)
	}
	t.Run("size beyond its extents", func(t *testing.T) {
		bad := patched(func() { binary.LittleEndian.PutUint64(fe[56:], 1<<40) })
		res := inspect(t, bad, "a.udf", DefaultLimits())
		if !strings.Contains(gaps(res), `"INVOICE.EXE": cannot be read: size 1099511627776 beyond its extents (64 bytes)`) {
			t.Errorf("gaps %s", gaps(res))
		}
	})
	t.Run("extent beyond the image", func(t *testing.T) {
		bad := patched(func() { binary.LittleEndian.PutUint32(fe[176+4:], 0x7fffffff) })
		res := inspect(t, bad, "a.udf", DefaultLimits())
		if !strings.Contains(gaps(res), `"INVOICE.EXE": cannot be read: extent of 64 bytes at `) {
			t.Errorf("gaps %s", gaps(res))
		}
	})
	t.Run("allocation extent loop", func(t *testing.T) {
		// The descriptors continue in an allocation extent descriptor
		// that continues in itself.
		block := binary.LittleEndian.Uint32(fe[12:]) + 100
		aed := make([]byte, 24+8)
		binary.LittleEndian.PutUint32(aed[20:], 8)
		binary.LittleEndian.PutUint32(aed[24:], 3<<30|isoSector)
		binary.LittleEndian.PutUint32(aed[28:], block)
		bad := patched(func() {
			binary.LittleEndian.PutUint32(fe[176:], 3<<30|isoSector)
			binary.LittleEndian.PutUint32(fe[176+4:], block)
		})
		part := 257 // genisoimage's partition starts there
		bad = append(bad, make([]byte, 200*isoSector)...)
		copy(bad[(part+int(block))*isoSector:], udfDesc(aed, udfTagAllocExtent, block))
		res := inspect(t, bad, "a.udf", DefaultLimits())
		if !strings.Contains(gaps(res), `"INVOICE.EXE": cannot be read: allocation extents chained too deep`) {
			t.Errorf("gaps %s", gaps(res))
		}
	})
	t.Run("directory loop", func(t *testing.T) {
		// docs/ is the root: its file identifier points to the root's
		// file entry.
		bad := bytes.Clone(img)
		i := bytes.Index(bad, []byte("\x08docs"))
		fid := bad[i-38 : i-38+((38+5+3)&^3)]
		var root uint32
		for s := 257; s*isoSector < len(bad); s++ {
			if d := bad[s*isoSector:]; binary.LittleEndian.Uint16(d) == udfTagFileSet {
				root = binary.LittleEndian.Uint32(d[404:])
			}
		}
		binary.LittleEndian.PutUint32(fid[24:], root)
		udfRetag(fid)
		isoListing(t, bad, "a.udf", "[iso]\nINVOICE.EXE pe\n請求書 2026.exe pe\n", "")
	})
	t.Run("volume descriptor pointer loop", func(t *testing.T) {
		// The main sequence ends in a pointer to itself.
		bad := bytes.Clone(img)
		avdp := bad[256*isoSector:]
		loc := binary.LittleEndian.Uint32(avdp[20:])
		for s := loc; ; s++ {
			d := bad[s*isoSector : (s+1)*isoSector]
			if binary.LittleEndian.Uint16(d) == udfTagTerminating {
				vdp := make([]byte, 28)
				binary.LittleEndian.PutUint32(vdp[20:], 16*isoSector)
				binary.LittleEndian.PutUint32(vdp[24:], loc)
				copy(d, udfDesc(vdp, udfTagVDP, s))
				break
			}
		}
		isoListing(t, bad, "a.udf", isoList, "")
	})
}

// FuzzISO inspects data as a disc image; the seeds are small images of
// the real tools and the UDF 2.50 one.
func FuzzISO(f *testing.F) {
	fs := map[string][]byte{"a.exe": peBytes, "d/b.zip": storeZip(f, "c.exe", peBytes)}
	f.Add(mkiso(f, "genisoimage", fs, "-J", "-R", "-no-pad"))
	f.Add(mkiso(f, "genisoimage", fs, "-no-pad"))
	f.Add(mkudffs(f, "hd", "2.01", 512, 200<<10))
	f.Add(udf250(f))
	f.Fuzz(func(t *testing.T, data []byte) {
		lim := DefaultLimits()
		lim.MaxArchiveBytes = 4 << 20
		lim.MaxArchiveEntries = 200
		lim.TempDir = t.TempDir()
		in := newInspector(bytes.NewReader(nil), lim, nil, nil)
		a := in.inspectArchive(formatISO, bytes.NewReader(data), int64(len(data)), 1, "f.iso", "attachment", "1", false)
		if a != nil && a.Format != formatISO {
			t.Fatalf("archive = %+v", a)
		}
		if _, err := json.Marshal(in.res); err != nil {
			t.Fatal(err)
		}
	})
}
