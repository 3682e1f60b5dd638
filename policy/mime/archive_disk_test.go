package mime

// Disk images built by the real tools (mkfs.fat and mtools, sfdisk,
// qemu-img, xorriso), then broken by hand for the hostile cases.

import (
	"bytes"
	"encoding/binary"
	"encoding/json"
	"fmt"
	"hash/crc32"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"golang.org/x/text/encoding/japanese"
)

// diskTool returns the path of a program of the disk image tests: mkfs.fat
// and sfdisk are in /usr/sbin, which the PATH of a user may lack. Under
// -short the test is skipped, as tool skips it.
func diskTool(t testing.TB, name string) string {
	t.Helper()
	if testing.Short() {
		t.Skipf("needs %s: run without -short", name)
	}
	if p, err := exec.LookPath(name); err == nil {
		return p
	}
	for _, dir := range []string{"/usr/sbin", "/sbin"} {
		if p := filepath.Join(dir, name); fileExists(p) {
			return p
		}
	}
	return tool(t, name)
}

// fileExists reports whether path exists.
func fileExists(path string) bool {
	_, err := os.Stat(path)
	return err == nil
}

// runTool runs a program in dir, in a UTF-8 locale (mtools reads and
// writes long names in it), with input on its standard input.
func runTool(t testing.TB, dir, input, prog string, args ...string) {
	t.Helper()
	cmd := exec.Command(diskTool(t, prog), args...)
	cmd.Dir = dir
	cmd.Env = append(os.Environ(), "LC_ALL=C.UTF-8", "MTOOLS_SKIP_CHECK=1")
	cmd.Stdin = strings.NewReader(input)
	if b, err := cmd.CombinedOutput(); err != nil {
		t.Fatalf("%s %s: %v\n%s", prog, strings.Join(args, " "), err, b)
	}
}

// fat32 are the mkfs.fat options of a FAT32 image of 34000 KiB.
var fat32 = []string{"-F", "32", "-s", "1", "-S", "512"}

// diskFile is a file, or a directory (a name ending in "/"), copied into
// an image.
type diskFile struct {
	name string
	data []byte
}

// diskFiles is the content of the test images: an executable, a long
// Japanese name in a directory, a text, and a zip of several clusters
// holding an executable.
func diskFiles(t testing.TB) []diskFile {
	pad := bytes.Repeat([]byte("padding "), 5000)
	inner := storeZip(t, "payload.exe", peBytes, "pad.bin", pad)
	return []diskFile{
		{"INVOICE.EXE", peBytes},
		{"readme.txt", []byte("read me\r\n")},
		{"inner.zip", inner},
		{"DOCS/", nil},
		{"DOCS/請求書 2026.exe", peBytes},
	}
}

// diskListing is the listing of an image holding diskFiles.
func diskListing(format string) string {
	return "[" + format + "]\nINVOICE.EXE pe\nreadme.txt\ninner.zip\n  [zip]\n  payload.exe pe\n  pad.bin\nDOCS/請求書 2026.exe pe\n"
}

// fatImage formats a FAT image of kb KiB with mkfs.fat and opts, and
// copies fs into it with mmd and mcopy.
func fatImage(t testing.TB, kb int, opts []string, fs []diskFile) []byte {
	t.Helper()
	dir := t.TempDir()
	runTool(t, dir, "", "mkfs.fat", append(append([]string{"-C"}, opts...), "disk.img", fmt.Sprint(kb))...)
	mtoolsCopy(t, dir, "disk.img", fs)
	data, err := os.ReadFile(filepath.Join(dir, "disk.img"))
	if err != nil {
		t.Fatal(err)
	}
	return data
}

// mtoolsCopy copies fs into the FAT volume image (mtools' image@@offset
// for a partition), in order.
func mtoolsCopy(t testing.TB, dir, image string, fs []diskFile) {
	t.Helper()
	for i, f := range fs {
		if strings.HasSuffix(f.name, "/") {
			runTool(t, dir, "", "mmd", "-i", image, "::/"+strings.TrimSuffix(f.name, "/"))
			continue
		}
		src := fmt.Sprintf("src%d", i)
		if err := os.WriteFile(filepath.Join(dir, src), f.data, 0o644); err != nil {
			t.Fatal(err)
		}
		runTool(t, dir, "", "mcopy", "-i", image, src, "::/"+f.name)
	}
}

// diskVolume is a FAT volume of a partitioned image: where it starts
// (sectors), its size (KiB), mkfs.fat options and files.
type diskVolume struct {
	start, kb int
	opts      []string
	fs        []diskFile
}

// partitionedImage makes an image of kb KiB, partitions it with sfdisk
// (script), and formats and fills its FAT volumes.
func partitionedImage(t testing.TB, kb int, script string, vols ...diskVolume) []byte {
	t.Helper()
	dir := t.TempDir()
	p := filepath.Join(dir, "disk.img")
	if err := os.WriteFile(p, make([]byte, kb<<10), 0o644); err != nil {
		t.Fatal(err)
	}
	runTool(t, dir, script, "sfdisk", "-q", "disk.img")
	for _, v := range vols {
		runTool(t, dir, "", "mkfs.fat", append(append([]string{"--offset", fmt.Sprint(v.start)}, v.opts...), "disk.img", fmt.Sprint(v.kb))...)
		mtoolsCopy(t, dir, fmt.Sprintf("disk.img@@%d", v.start*512), v.fs)
	}
	data, err := os.ReadFile(p)
	if err != nil {
		t.Fatal(err)
	}
	return data
}

// mbrDisk is a 256 KiB disk with one FAT16-typed partition holding
// diskFiles at sector 64.
func mbrDisk(t testing.TB) []byte {
	return partitionedImage(t, 256, "label: dos\nstart=64, size=400, type=6\n", diskVolume{start: 64, kb: 200, fs: diskFiles(t)})
}

// qemuConvert converts a raw image with qemu-img to format (vpc, vhdx)
// with options.
func qemuConvert(t testing.TB, raw []byte, format string, opts ...string) []byte {
	t.Helper()
	dir := t.TempDir()
	if err := os.WriteFile(filepath.Join(dir, "raw.img"), raw, 0o644); err != nil {
		t.Fatal(err)
	}
	args := append([]string{"convert", "-f", "raw", "-O", format}, opts...)
	runTool(t, dir, "", "qemu-img", append(args, "raw.img", "out")...)
	data, err := os.ReadFile(filepath.Join(dir, "out"))
	if err != nil {
		t.Fatal(err)
	}
	return data
}

// timed runs f and fails when it takes more than a few seconds: a hostile
// image must not hang the inspection.
func timed(t *testing.T, f func()) {
	t.Helper()
	start := time.Now()
	f()
	if d := time.Since(start); d > 10*time.Second {
		t.Errorf("took %v", d)
	}
}

// TestFATImages: FAT12, FAT16 and FAT32 images by mkfs.fat and mtools
// are listed, long names and paths included, by content and by name.
func TestFATImages(t *testing.T) {
	for _, c := range []struct {
		name string
		kb   int
		opts []string
	}{
		{"fat12", 360, []string{"-F", "12"}},
		{"fat16", 2100, []string{"-F", "16", "-s", "1"}},
		// mtools, like Windows, takes a volume of fewer than 65525
		// clusters for FAT12/16: a FAT32 image is 34 MB at least (sparse
		// on disk).
		{"fat32", 34000, fat32},
	} {
		t.Run(c.name, func(t *testing.T) {
			img := fatImage(t, c.kb, c.opts, diskFiles(t))
			res := inspect(t, img, "disk.img", DefaultLimits())
			check(t, res, diskListing(FormatFAT), "")
			for _, e := range res.Attachments[0].Archive.Entries {
				if e.Name == "INVOICE.EXE" && (e.Size != int64(len(peBytes)) || e.Ext != "exe") {
					t.Errorf("entry %+v", e)
				}
			}
			// By content, whatever the name; by name, whatever the type.
			check(t, inspect(t, img, "scan.pdf", DefaultLimits()), diskListing(FormatFAT), "")
			for _, n := range []string{"a.ima", "a.vfd", "a.flp"} {
				check(t, inspect(t, img, n, DefaultLimits()), diskListing(FormatFAT), "")
			}
		})
	}
}

// findEntry returns the offset of the directory entry of 8.3 name short
// (11 bytes, space padded) in img.
func findEntry(t testing.TB, img []byte, short string) int {
	t.Helper()
	i := bytes.Index(img, []byte(short))
	if i < 0 || i%32 != 0 {
		t.Fatalf("no directory entry %q", short)
	}
	return i
}

// TestFATShortNames: 8.3 names in the OEM code page are read as CP932, a
// leading 0x05 as 0xE5; a long name whose checksum does not fit its short
// entry is ignored, as Windows ignores it, and listed as another name.
func TestFATShortNames(t *testing.T) {
	img := fatImage(t, 360, nil, []diskFile{{"INVOICE.EXE", peBytes}, {"A.EXE", peBytes}, {"請求書 2026.exe", peBytes}})
	sjis, _ := japanese.ShiftJIS.NewEncoder().String("請求書")
	copy(img[findEntry(t, img, "INVOICE EXE"):], sjis+"  EXE")
	a := findEntry(t, img, "A       EXE")
	copy(img[a:], "\x05\x40\x8a\xbf\x20\x20\x20\x20EXE")
	e5, _ := japanese.ShiftJIS.NewDecoder().String("\xe5\x40\x8a\xbf")
	long := findEntry(t, img, "___202~1EXE")
	img[long-32+13] ^= 0xff // the checksum of the first long name entry
	res := inspect(t, img, "disk.img", DefaultLimits())
	check(t, res, "[fat]\n請求書.EXE pe\n"+e5+".EXE pe\n___202~1.EXE pe\n",
		`ambiguous: part 1: attachment "disk.img": entry names "___202~1.EXE", "請求書 2026.exe": each is judged`)
}

// TestDiskPartitions: FAT volumes in MBR, logical and GPT partitions are
// listed; the partitions that hold another file system or none known are
// gaps that say which.
func TestDiskPartitions(t *testing.T) {
	t.Run("mbr", func(t *testing.T) {
		check(t, inspect(t, mbrDisk(t), "disk.img", DefaultLimits()), diskListing(FormatFAT), "")
	})
	t.Run("mbr, logical, ntfs, unknown", func(t *testing.T) {
		img := partitionedImage(t, 512, "label: dos\nstart=64, size=200, type=6\nstart=264, size=100, type=7\nstart=364, size=600, type=5\nstart=372, size=300, type=e\nstart=680, size=100, type=83\n",
			diskVolume{start: 64, kb: 100, fs: []diskFile{{"INVOICE.EXE", peBytes}}},
			diskVolume{start: 372, kb: 150, fs: []diskFile{{"SETUP.EXE", peBytes}}})
		copy(img[264*512:], "\xeb\x52\x90NTFS    \x00\x02\x08")
		img[264*512+510], img[264*512+511] = 0x55, 0xaa
		check(t, inspect(t, img, "disk.img", DefaultLimits()), "[fat skipped: partition 2: NTFS file system not looked into; partition 6: no file system known, not looked into]\nINVOICE.EXE pe\nSETUP.EXE pe\n",
			`archive: part 1: attachment "disk.img": partition 2: NTFS file system not looked into; partition 6: no file system known, not looked into`)
	})
	t.Run("gpt", func(t *testing.T) {
		script := "label: gpt\nfirst-lba: 34\nstart=64, size=400, type=C12A7328-F81F-11D2-BA4B-00A0C93EC93B\n"
		img := partitionedImage(t, 512, script, diskVolume{start: 64, kb: 200, fs: diskFiles(t)})
		check(t, inspect(t, img, "disk.img", DefaultLimits()), diskListing(FormatFAT), "")
		// A primary GPT header that is corrupt: the backup is read.
		img[512+20] ^= 0xff
		check(t, inspect(t, img, "disk.img", DefaultLimits()), diskListing(FormatFAT), "")
		// Both corrupt: a gap.
		img[len(img)-512+20] ^= 0xff
		check(t, inspect(t, img, "disk.img", DefaultLimits()), "[fat skipped: corrupt: GPT partition table: GPT header checksum mismatch]\n",
			`archive: part 1: attachment "disk.img": corrupt: GPT partition table: GPT header checksum mismatch`)
	})
}

// TestVHD: an MBR disk as a dynamic VHD, a fixed VHD (its head is the raw
// disk's: sniffed as a raw image, the footer found by the reader) and a
// VHDX, each by qemu-img.
func TestVHD(t *testing.T) {
	raw := mbrDisk(t)
	dyn := qemuConvert(t, raw, "vpc")
	fixed := qemuConvert(t, raw, "vpc", "-o", "subformat=fixed")
	vhdx := qemuConvert(t, raw, "vhdx", "-o", "block_size=1M")
	for _, c := range []struct {
		name, file, format string
		data               []byte
	}{
		{"dynamic", "disk.vhd", FormatVHD, dyn},
		{"dynamic named img", "disk.img", FormatVHD, dyn},
		{"fixed", "disk.vhd", FormatFAT, fixed},
		{"fixed, no name", "", FormatFAT, fixed},
		{"vhdx", "disk.vhdx", FormatVHDX, vhdx},
		{"vhdx, no name", "", FormatVHDX, vhdx},
	} {
		t.Run(c.name, func(t *testing.T) {
			check(t, inspect(t, c.data, c.file, DefaultLimits()), diskListing(c.format), "")
		})
	}
	t.Run("vhdx 4096-byte sectors", func(t *testing.T) {
		// A 4Kn disk: the VHDX's logical sector size and the GPT's.
		v := append([]byte(nil), vhdx...)
		setVHDXMetadata(t, v, guidVHDXSectorSize, binary.LittleEndian.AppendUint32(nil, 4096))
		res := inspect(t, v, "disk.vhdx", DefaultLimits())
		// The MBR counts sectors of 512 bytes: read as 4096, the
		// partition is elsewhere, and what is there is no file system.
		check(t, res, "[vhdx skipped: partition 1: lies beyond the end of the disk]\n", `archive: part 1: attachment "disk.vhdx": partition 1: lies beyond the end of the disk`)
	})
	t.Run("differencing vhd", func(t *testing.T) {
		d := append([]byte(nil), dyn...)
		binary.BigEndian.PutUint32(d[60:], 4)
		setVHDChecksum(d[:512], 64)
		check(t, inspect(t, d, "disk.vhd", DefaultLimits()), "[vhd skipped: differencing VHD: its parent disk, another file, is needed: not looked into]\n",
			`archive: part 1: attachment "disk.vhd": differencing VHD: its parent disk, another file, is needed: not looked into`)
	})
	t.Run("differencing vhdx", func(t *testing.T) {
		v := append([]byte(nil), vhdx...)
		setVHDXMetadata(t, v, guidVHDXFileParams, []byte{0, 0, 0x10, 0, 2, 0, 0, 0})
		check(t, inspect(t, v, "disk.vhdx", DefaultLimits()), "[vhdx skipped: differencing VHDX: its parent disk, another file, is needed: not looked into]\n",
			`archive: part 1: attachment "disk.vhdx": differencing VHDX: its parent disk, another file, is needed: not looked into`)
	})
	t.Run("vhdx log", func(t *testing.T) {
		v := append([]byte(nil), vhdx...)
		for _, h := range []int{64 << 10, 128 << 10} {
			v[h+48] = 1 // LogGuid
			setVHDXChecksum(v[h : h+4096])
		}
		check(t, inspect(t, v, "disk.vhdx", DefaultLimits()), strings.Replace(diskListing(FormatVHDX), "]", " skipped: VHDX log not replayed: the disk may hold more than is listed]", 1),
			`archive: part 1: attachment "disk.vhdx": VHDX log not replayed: the disk may hold more than is listed`)
	})
}

// setVHDChecksum sets the checksum (at byte at) of a VHD footer or
// dynamic disk header.
func setVHDChecksum(b []byte, at int) {
	binary.BigEndian.PutUint32(b[at:], 0)
	var sum uint32
	for _, c := range b {
		sum += uint32(c)
	}
	binary.BigEndian.PutUint32(b[at:], ^sum)
}

// setVHDXChecksum sets the CRC-32C of a VHDX header or region table.
func setVHDXChecksum(b []byte) {
	binary.LittleEndian.PutUint32(b[4:], 0)
	binary.LittleEndian.PutUint32(b[4:], crc32.Checksum(b, crc32.MakeTable(crc32.Castagnoli)))
}

// vhdxRegionEntry returns the offset in v of the entry of region id in
// the region table at table.
func vhdxRegionEntry(t testing.TB, v []byte, table int, id [16]byte) int {
	t.Helper()
	for i := range int(binary.LittleEndian.Uint32(v[table+8:])) {
		if e := table + 16 + 32*i; [16]byte(v[e:e+16]) == id {
			return e
		}
	}
	t.Fatalf("no region %x", id)
	return 0
}

// setVHDXMetadata overwrites the value of a metadata item of a VHDX.
func setVHDXMetadata(t testing.TB, v []byte, id [16]byte, value []byte) {
	t.Helper()
	md := int(binary.LittleEndian.Uint64(v[vhdxRegionEntry(t, v, 192<<10, guidVHDXMetadata)+16:]))
	for i := range int(binary.LittleEndian.Uint16(v[md+10:])) {
		if e := md + 32 + 32*i; [16]byte(v[e:e+16]) == id {
			copy(v[md+int(binary.LittleEndian.Uint32(v[e+16:])):], value)
			return
		}
	}
	t.Fatalf("no metadata item %x", id)
}

// setVHDXRegion moves a region of a VHDX in both region tables.
func setVHDXRegion(t testing.TB, v []byte, id [16]byte, off uint64, length uint32) {
	t.Helper()
	for _, table := range []int{192 << 10, 256 << 10} {
		e := vhdxRegionEntry(t, v, table, id)
		binary.LittleEndian.PutUint64(v[e+16:], off)
		binary.LittleEndian.PutUint32(v[e+24:], length)
		setVHDXChecksum(v[table : table+64<<10])
	}
}

// diskMessage is a message with data attached in base64 as
// application/octet-stream, named name ("" for none), and a PDF.
func diskMessage(data []byte, name string) string {
	enc := b64enc(data)
	var body strings.Builder
	for len(enc) > 76 {
		body.WriteString(enc[:76] + "\r\n")
		enc = enc[76:]
	}
	body.WriteString(enc + "\r\n")
	disp := "attachment"
	if name != "" {
		disp += `; filename="` + name + `"`
	}
	return "Subject: invoice\r\nMIME-Version: 1.0\r\nContent-Type: multipart/mixed; boundary=b\r\n\r\n" +
		"--b\r\nContent-Type: text/plain\r\n\r\nsee attached\r\n" +
		"--b\r\nContent-Type: application/octet-stream\r\nContent-Disposition: " + disp + "\r\nContent-Transfer-Encoding: base64\r\n\r\n" + body.String() +
		"--b\r\nContent-Type: application/pdf; name=\"a.pdf\"\r\nContent-Transfer-Encoding: base64\r\n\r\n" + b64enc([]byte("%PDF-1.4\n%\xe2\xe3\xcf\xd3\n1 0 obj\n<<>>\nendobj\ntrailer\n<<>>\n%%EOF\n")) + "\r\n" +
		"--b--\r\n"
}

// TestDiskInMessage: an image attached to a message, named or not, is
// looked into by content; the harmless PDF beside it is no archive and
// no gap.
func TestDiskInMessage(t *testing.T) {
	img := fatImage(t, 360, nil, diskFiles(t))
	vhd := qemuConvert(t, mbrDisk(t), "vpc")
	for _, c := range []struct {
		name, file, format string
		data               []byte
	}{
		{"named img", "invoice.img", FormatFAT, img},
		{"unnamed img", "", FormatFAT, img},
		{"named vhd", "invoice.vhd", FormatVHD, vhd},
		{"unnamed vhd", "", FormatVHD, vhd},
	} {
		t.Run(c.name, func(t *testing.T) {
			lim := DefaultLimits()
			lim.TempDir = t.TempDir()
			res, err := Inspect(strings.NewReader(diskMessage(c.data, c.file)), lim)
			if err != nil {
				t.Fatal(err)
			}
			if len(res.Attachments) != 2 {
				t.Fatalf("attachments %+v", res.Attachments)
			}
			if got := listing(res.Attachments[0].Archive); got != diskListing(c.format) {
				t.Errorf("listing:\n%s\nwant:\n%s", got, diskListing(c.format))
			}
			if pdf := res.Attachments[1]; pdf.Archive != nil || pdf.Executable != "" {
				t.Errorf("pdf %+v", pdf)
			}
			if g := gaps(res); g != "" {
				t.Errorf("gaps: %s", g)
			}
		})
	}
	t.Run("pdf named img", func(t *testing.T) {
		// Content that only its name says is an image: a gap, not a pass.
		res := inspect(t, []byte("%PDF-1.4\n"), "scan.img", DefaultLimits())
		check(t, res, "[fat skipped: named or typed as a fat archive, but its content is no archive format known]\n",
			`archive: part 1: attachment "scan.img": named or typed as a fat archive, but its content is no archive format known`)
	})
}

// TestDiskInZip: an image in a zip is extracted and looked into.
func TestDiskInZip(t *testing.T) {
	z := storeZip(t, "docs/disk.img", fatImage(t, 360, nil, diskFiles(t)))
	want := "[zip]\ndocs/disk.img\n  " + strings.ReplaceAll(strings.TrimSuffix(diskListing(FormatFAT), "\n"), "\n", "\n  ") + "\n"
	check(t, inspect(t, z, "a.zip", DefaultLimits()), want, "")
}

// TestDiskISOHybrid: an isohybrid ISO made by xorriso, with an EFI FAT
// partition appended: the FAT partition is listed, and so is the ISO,
// by the ISO reader when one is registered.
func TestDiskISOHybrid(t *testing.T) {
	dir := t.TempDir()
	if err := os.WriteFile(filepath.Join(dir, "efi.img"), fatImage(t, 64, nil, []diskFile{{"INVOICE.EXE", peBytes}}), 0o644); err != nil {
		t.Fatal(err)
	}
	if err := os.MkdirAll(filepath.Join(dir, "tree", "docs"), 0o755); err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(filepath.Join(dir, "tree", "docs", "setup.exe"), peBytes, 0o644); err != nil {
		t.Fatal(err)
	}
	runTool(t, dir, "", "xorriso", "-as", "mkisofs", "-quiet", "-J", "-o", "hybrid.iso", "-append_partition", "2", "0xef", "efi.img", "tree")
	iso, err := os.ReadFile(filepath.Join(dir, "hybrid.iso"))
	if err != nil {
		t.Fatal(err)
	}
	for _, name := range []string{"hybrid.iso", "hybrid.img", ""} {
		res := inspect(t, iso, name, DefaultLimits())
		l, g := listing(res.Attachments[0].Archive), gaps(res)
		if !strings.HasPrefix(l, "[fat") || !strings.Contains(l, "\nINVOICE.EXE pe\n") {
			t.Errorf("%q: listing\n%s", name, l)
		}
		if containers["iso"] == nil {
			if g != `archive: part 1: attachment "`+name+`": ISO 9660/UDF file system not looked into` && name != "" {
				t.Errorf("%q: gaps %s", name, g)
			}
			continue
		}
		if !strings.Contains(l, "setup.exe pe") || g != "" {
			t.Errorf("%q: listing\n%s\ngaps %s", name, l, g)
		}
	}
}

// setFAT12 sets the entry of cluster c in both FATs of a FAT12 image made
// by mkfs.fat (one reserved sector).
func setFAT12(img []byte, c int, v uint16) {
	fatSz := int(binary.LittleEndian.Uint16(img[22:])) * 512
	for f := range 2 {
		at := 512 + f*fatSz + c + c/2
		old := binary.LittleEndian.Uint16(img[at:])
		if c&1 == 1 {
			old = old&0x000F | v<<4
		} else {
			old = old&0xF000 | v&0x0FFF
		}
		binary.LittleEndian.PutUint16(img[at:], old)
	}
}

// entryCluster returns the first cluster of the directory entry at e.
func entryCluster(img []byte, e int) int {
	return int(binary.LittleEndian.Uint16(img[e+26:])) | int(binary.LittleEndian.Uint16(img[e+20:]))<<16
}

// TestDiskHostile: images that loop, lie about their sizes or point
// outside themselves are read in bounded time, and what is not read is a
// gap.
func TestDiskHostile(t *testing.T) {
	base := fatImage(t, 360, nil, diskFiles(t))
	hostile := func(t *testing.T, img []byte, name string, wantListing, wantGap string) {
		t.Helper()
		timed(t, func() {
			res := inspect(t, img, name, DefaultLimits())
			if wantListing != "" {
				if got := listing(res.Attachments[0].Archive); got != wantListing {
					t.Errorf("listing:\n%s\nwant:\n%s", got, wantListing)
				}
			}
			if g := gaps(res); !strings.Contains(g, wantGap) {
				t.Errorf("gaps: %s\nwant: %s", g, wantGap)
			}
		})
	}
	t.Run("file chain loops", func(t *testing.T) {
		img := append([]byte(nil), base...)
		c := entryCluster(img, findEntry(t, img, "INNER   ZIP"))
		setFAT12(img, c+3, uint16(c+1))
		hostile(t, img, "disk.img", "[fat]\nINVOICE.EXE pe\nreadme.txt\ninner.zip\n  [zip skipped: corrupt: cluster chain loops at cluster "+fmt.Sprint(c+1)+"]\nDOCS/請求書 2026.exe pe\n",
			`archive: part 1: attachment "disk.img" > "inner.zip": corrupt: cluster chain loops at cluster `+fmt.Sprint(c+1))
	})
	t.Run("file chain shorter and longer than the file", func(t *testing.T) {
		img := append([]byte(nil), base...)
		c := entryCluster(img, findEntry(t, img, "INNER   ZIP"))
		setFAT12(img, c+3, 0xFFF)
		hostile(t, img, "disk.img", "", `"disk.img" > "inner.zip": corrupt: cluster chain shorter than the file`)
		img = append([]byte(nil), base...)
		e := findEntry(t, img, "INNER   ZIP")
		binary.LittleEndian.PutUint32(img[e+28:], binary.LittleEndian.Uint32(img[e+28:])-2048)
		hostile(t, img, "disk.img", "", `"disk.img" > "inner.zip": corrupt: cluster chain longer than the file`)
	})
	t.Run("directory chain loops", func(t *testing.T) {
		img := append([]byte(nil), base...)
		c := entryCluster(img, findEntry(t, img, "DOCS       "))
		setFAT12(img, c, uint16(c))
		hostile(t, img, "disk.img", "", `attachment "disk.img": corrupt: directory "DOCS": cluster chain loops at cluster `+fmt.Sprint(c))
	})
	t.Run("directory loop", func(t *testing.T) {
		img := fatImage(t, 34000, fat32, diskFiles(t))
		docs := findEntry(t, img, "DOCS       ")
		c := entryCluster(img, docs)
		// A subdirectory of DOCS that is the root again, then DOCS.
		first := bytes.Index(img, []byte("..         "))
		for i, target := range []int{2, c} {
			e := img[first+32*(4+i):]
			copy(e, fmt.Sprintf("LOOP%d      ", i))
			e[11] = 0x10
			binary.LittleEndian.PutUint16(e[26:], uint16(target))
			binary.LittleEndian.PutUint16(e[20:], uint16(target>>16))
		}
		hostile(t, img, "disk.img", "", `corrupt: directory "DOCS/LOOP0": directory loop at cluster 2`)
	})
	t.Run("bpb claims 2^32 sectors", func(t *testing.T) {
		for _, img := range [][]byte{base, fatImage(t, 34000, fat32, diskFiles(t))} {
			img = append([]byte(nil), img...)
			binary.LittleEndian.PutUint16(img[19:], 0)
			binary.LittleEndian.PutUint32(img[32:], 0xFFFFFFFF)
			timed(t, func() {
				res := inspect(t, img, "disk.img", DefaultLimits())
				if l := listing(res.Attachments[0].Archive); l != diskListing(FormatFAT) && !res.Has(GapArchive) {
					t.Errorf("listing %s without a gap", l)
				}
			})
		}
	})
	t.Run("extended partition loops", func(t *testing.T) {
		img := partitionedImage(t, 256, "label: dos\nstart=64, size=100, type=6\nstart=200, size=50, type=5\nstart=208, size=20, type=83\n",
			diskVolume{start: 64, kb: 50, fs: []diskFile{{"A.EXE", peBytes}}})
		e := 200*512 + 446 + 16
		img[e+4] = 5
		binary.LittleEndian.PutUint32(img[e+8:], 0)
		binary.LittleEndian.PutUint32(img[e+12:], 50)
		hostile(t, img, "disk.img", "[fat skipped: partition 5: no file system known, not looked into; corrupt: extended partition table loops at sector 200]\nA.EXE pe\n", "extended partition table loops at sector 200")
	})
	raw := mbrDisk(t)
	dyn := qemuConvert(t, raw, "vpc")
	t.Run("vhd bat beyond the file", func(t *testing.T) {
		d := append([]byte(nil), dyn...)
		bat := int(binary.BigEndian.Uint64(d[512+16:]))
		binary.BigEndian.PutUint32(d[bat:], 0x7FFFFFFF)
		hostile(t, d, "disk.vhd", "[vhd skipped: corrupt: VHD block 0 lies beyond the end of the file]\n", `attachment "disk.vhd": corrupt: VHD block 0 lies beyond the end of the file`)
	})
	t.Run("vhd table too small", func(t *testing.T) {
		d := append([]byte(nil), dyn...)
		binary.BigEndian.PutUint64(d[48:], 1<<40) // a virtual size of 1 TiB
		setVHDChecksum(d[:512], 64)
		hostile(t, d, "disk.vhd", "", `attachment "disk.vhd": corrupt: VHD block allocation table beyond the end of the file`)
	})
	vhdx := qemuConvert(t, raw, "vhdx", "-o", "block_size=1M")
	t.Run("vhdx region beyond the file", func(t *testing.T) {
		v := append([]byte(nil), vhdx...)
		setVHDXRegion(t, v, guidVHDXBAT, 1<<40, 1<<20)
		hostile(t, v, "disk.vhdx", "", `attachment "disk.vhdx": corrupt: VHDX region beyond the end of the file`)
	})
	t.Run("vhdx bat too small for the disk", func(t *testing.T) {
		v := append([]byte(nil), vhdx...)
		setVHDXMetadata(t, v, guidVHDXDiskSize, binary.LittleEndian.AppendUint64(nil, 64<<40))
		hostile(t, v, "disk.vhdx", "", `attachment "disk.vhdx": corrupt: VHDX BAT region of 1048576 bytes too small`)
	})
	t.Run("vhdx bat entry beyond the file", func(t *testing.T) {
		v := append([]byte(nil), vhdx...)
		bat := int(binary.LittleEndian.Uint64(v[vhdxRegionEntry(t, v, 192<<10, guidVHDXBAT)+16:]))
		binary.LittleEndian.PutUint64(v[bat:], 1<<40|6)
		hostile(t, v, "disk.vhdx", "", `attachment "disk.vhdx": corrupt: VHDX block 0 lies beyond the end of the file`)
	})
	t.Run("vhdx required region unknown", func(t *testing.T) {
		v := append([]byte(nil), vhdx...)
		for _, table := range []int{192 << 10, 256 << 10} {
			e := vhdxRegionEntry(t, v, table, guidVHDXMetadata)
			v[e] ^= 0xff
			v[e+28] |= 1
			setVHDXChecksum(v[table : table+64<<10])
		}
		hostile(t, v, "disk.vhdx", "", `attachment "disk.vhdx": VHDX region unknown to this reader is required: not looked into`)
	})
}

// TestDiskLimits: nesting deeper than maxDirDepth, more entries than
// allowed and more directory bytes than maxDirScan are limits, with what
// was reached listed.
func TestDiskLimits(t *testing.T) {
	t.Run("depth", func(t *testing.T) {
		var fs []diskFile
		p := ""
		for range maxDirDepth + 2 {
			p += "D/"
			fs = append(fs, diskFile{p, nil})
		}
		fs = append(fs, diskFile{p + "DEEP.EXE", peBytes}, diskFile{"TOP.EXE", peBytes})
		res := inspect(t, fatImage(t, 360, nil, fs), "disk.img", DefaultLimits())
		check(t, res, "[fat skipped: directories nested deeper than 64 levels not looked into]\nTOP.EXE pe\n",
			`limit: part 1: attachment "disk.img": directories nested deeper than 64 levels not looked into`)
	})
	t.Run("entries", func(t *testing.T) {
		var fs []diskFile
		for i := range 20 {
			fs = append(fs, diskFile{fmt.Sprintf("F%d.TXT", i), []byte("x")})
		}
		lim := DefaultLimits()
		lim.MaxArchiveEntries = 5
		res := inspect(t, fatImage(t, 360, nil, fs), "disk.img", lim)
		check(t, res, "[fat skipped: too many entries: limit 5 reached]\nF0.TXT\nF1.TXT\nF2.TXT\nF3.TXT\nF4.TXT\n",
			`limit: part 1: attachment "disk.img": too many entries: limit 5 reached`)
	})
	t.Run("directory bytes", func(t *testing.T) {
		// The root directory of a 360 KiB FAT12 is 14 sectors: a budget
		// of 4 reads the root's first sector (its files and DOCS), the
		// first of DOCS, and two more of the root, free.
		defer func(m int64) { maxDirScan = m }(maxDirScan)
		maxDirScan = 4 * 512
		res := inspect(t, fatImage(t, 360, nil, diskFiles(t)), "disk.img", DefaultLimits())
		check(t, res, "[fat skipped: directories of more than 2048 bytes not looked into]\n"+strings.SplitN(diskListing(FormatFAT), "\n", 2)[1],
			`limit: part 1: attachment "disk.img": directories of more than 2048 bytes not looked into`)
	})
}

// fixChecksums returns data with the checksums of its VHD footer and
// dynamic disk header, or of its VHDX headers and region tables, set: a
// mutation of the fields behind them then reaches the readers.
func fixChecksums(data []byte) []byte {
	data = append([]byte(nil), data...)
	switch {
	case bytes.HasPrefix(data, []byte("conectix")) && len(data) >= 512:
		setVHDChecksum(data[:512], 64)
		if h := binary.BigEndian.Uint64(data[16:]); h < uint64(len(data)) && uint64(len(data))-h >= 1024 {
			setVHDChecksum(data[h:h+1024], 36)
		}
	case bytes.HasPrefix(data, []byte("vhdxfile")):
		for _, at := range []int{64 << 10, 128 << 10, 192 << 10, 256 << 10} {
			n := 4096
			if at >= 192<<10 {
				n = 64 << 10
			}
			if at+n <= len(data) {
				setVHDXChecksum(data[at : at+n])
			}
		}
	}
	return data
}

// FuzzDiskImage: real images (FAT12, the head of a FAT32, an MBR disk
// with a logical partition, the head of a dynamic VHD holding it, the
// headers and region tables of a VHDX) through inspectArchive, as they
// are and with their checksums fixed: whatever the bytes, no panic, no
// hang, and a result that can be reported.
func FuzzDiskImage(f *testing.F) {
	fs := []diskFile{{"A.EXE", peBytes}, {"D/", nil}, {"D/長い名前.txt", []byte("x")}, {"D/b.zip", storeZip(f, "c.exe", peBytes)}}
	mbr := partitionedImage(f, 128, "label: dos\nstart=32, size=150, type=1\nstart=190, size=60, type=5\nstart=192, size=50, type=83\n", diskVolume{start: 32, kb: 64, fs: fs})
	f.Add(fatImage(f, 64, nil, fs))
	// One FAT: its boot sector, FAT and root directory are in the first
	// 320 KiB, with the first files.
	f.Add(fatImage(f, 34000, append([]string{"-f", "1"}, fat32...), fs)[:320<<10])
	f.Add(mbr)
	f.Add(qemuConvert(f, mbr, "vpc")[:192<<10])
	f.Add(qemuConvert(f, mbr, "vhdx", "-o", "block_size=1M")[:320<<10])
	f.Fuzz(func(t *testing.T, data []byte) {
		for _, d := range [][]byte{data, fixChecksums(data)} {
			lim := DefaultLimits()
			lim.MaxArchiveBytes = 4 << 20
			lim.MaxArchiveEntries = 200
			lim.TempDir = t.TempDir()
			in := newInspector(bytes.NewReader(nil), lim, nil, nil)
			start := time.Now()
			a := in.inspectArchive(FormatFAT, bytes.NewReader(d), int64(len(d)), 1, "f.img", "attachment", "1", true)
			if d := time.Since(start); d > 5*time.Second {
				t.Fatalf("took %v", d)
			}
			if a == nil || a.Format != FormatFAT {
				t.Fatalf("archive = %+v", a)
			}
			// inspectArchive recovers a panic as a gap: the readers of
			// this package must not need it.
			if g := gaps(in.res); strings.Contains(g, "reader failed") {
				t.Fatalf("panic: %s", g)
			}
			if _, err := json.Marshal(in.res); err != nil {
				t.Fatal(err)
			}
		}
	})
}
