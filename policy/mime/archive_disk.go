package mime

// Disk images: raw FAT floppy and disk images (.img, .ima, .vfd, .flp),
// Microsoft VHD (.vhd) and VHDX (.vhdx) virtual disks. Windows mounts
// virtual disks on a double click, and 7-Zip and the like open all of
// them, so a disk image carries files past a filter that does not look
// inside, as an archive does.
//
// The readers are written here, from the specifications:
//   - FAT: Microsoft Extensible Firmware Initiative FAT32 File System
//     Specification 1.03 (boot sector and BPB, FAT type by cluster count,
//     FAT entries, directory entries, long names and their checksum);
//   - MBR and EBR partition tables, and GPT (UEFI Specification 2.x,
//     section 5.3: GPT header and partition entry array, with their CRC-32);
//   - VHD: Microsoft Virtual Hard Disk Image Format Specification 1.0
//     (hard disk footer, dynamic disk header, block allocation table);
//   - VHDX: [MS-VHDX] 2.2 (headers and region table, CRC-32C), 2.5 (BAT and
//     payload block states) and 2.6 (metadata: file parameters, virtual
//     disk size, logical sector size).
//
// No library is used: github.com/diskfs/go-diskfs (v1.9.4, looked at)
// reads FAT only from a backend.Storage (a file with Sys and Writable, not
// an io.ReaderAt), allocates the whole FAT at the size a BPB claims (a
// lying BPB costs gigabytes), follows cluster chains without detecting a
// loop (a FAT whose chain loops hangs it), neither checks long name
// checksums nor decodes OEM short names, and has no VHD or VHDX reader.
// No other Go module found reads FAT and the two virtual disk formats from
// an io.ReaderAt read-only.
//
// Nothing is allocated at a size an image claims: the FAT and the block
// tables are read entry by entry through a small cache, directories sector
// by sector, files cluster by cluster as far as they are read. A virtual
// disk is exposed as an io.ReaderAt over its blocks, unallocated blocks
// reading as zeros. What is not read is a gap with its true reason:
// NTFS, exFAT, ReFS and ext file systems, differencing disks (their parent
// is another file), corrupt structures.

import (
	"bytes"
	"encoding/binary"
	"encoding/hex"
	"errors"
	"fmt"
	"hash/crc32"
	"io"
	"slices"
	"strings"
	"unicode/utf16"
)

// Disk image formats reported in Archive.Format.
const (
	FormatFAT  = "fat"
	FormatVHD  = "vhd"
	FormatVHDX = "vhdx"
)

// The disk image containers; a VHD or VHDX named .img, and a fixed VHD
// (whose head is the raw disk's), are read all the same: openDiskImage
// tells them by content.
func init() {
	registerContainer(&container{
		format: FormatFAT,
		sniff:  sniffRawDisk,
		exts:   []string{"img", "ima", "vfd", "flp"},
		types:  []string{"application/x-raw-disk-image", "application/x-raw-floppy-disk-image"},
		open:   openDiskImage,
	})
	registerContainer(&container{
		format: FormatVHD,
		sniff:  func(head []byte) bool { return bytes.HasPrefix(head, []byte("conectix")) },
		exts:   []string{"vhd"},
		types:  []string{"application/x-vhd-disk", "application/x-virtualbox-vhd"},
		open:   openDiskImage,
	})
	registerContainer(&container{
		format: FormatVHDX,
		sniff:  func(head []byte) bool { return bytes.HasPrefix(head, []byte("vhdxfile")) },
		exts:   []string{"vhdx"},
		types:  []string{"application/x-vhdx-disk", "application/x-virtualbox-vhdx"},
		open:   openDiskImage,
	})
}

// Bounds of the walk of a disk image, besides the entries walk() counts.
const (
	maxDirDepth   = 64         // directory nesting looked into
	maxPartitions = 128        // partitions (and extended boot records) read
	maxDirBytes   = 65536 * 32 // a FAT directory holds at most 65536 entries
	maxGPTArray   = 1 << 20    // bytes of a GPT partition entry array
)

// maxDirScan bounds the directory bytes read in a volume: on a sparse
// virtual disk, directories may lie in blocks that cost the file nothing.
// A variable for the tests.
var maxDirScan int64 = 64 << 20

// errBeyondEnd: a structure of the image points past its end.
var errBeyondEnd = errors.New("read beyond the end of the image")

// le16 reads a little-endian 16-bit field.
func le16(b []byte) uint16 { return binary.LittleEndian.Uint16(b) }

// le32 reads a little-endian 32-bit field.
func le32(b []byte) uint32 { return binary.LittleEndian.Uint32(b) }

// readAt reads exactly len(p) bytes of ra at off.
func readAt(ra io.ReaderAt, p []byte, off int64) error {
	if off < 0 {
		return errBeyondEnd
	}
	n, err := ra.ReadAt(p, off)
	if n == len(p) {
		return nil
	}
	if err == nil || err == io.EOF {
		err = errBeyondEnd
	}
	return err
}

// cachedReader reads the small fields of a table (FAT entries, block
// allocation table entries) through one cached 4 KiB block of ra.
type cachedReader struct {
	ra  io.ReaderAt
	off int64 // of the block held; -1 for none
	n   int   // bytes of it that could be read
	buf [4096]byte
}

// newCachedReader returns a cachedReader of ra.
func newCachedReader(ra io.ReaderAt) *cachedReader { return &cachedReader{ra: ra, off: -1} }

// read reads exactly len(p) bytes at off.
func (c *cachedReader) read(p []byte, off int64) error {
	if off < 0 {
		return errBeyondEnd
	}
	base := off &^ (int64(len(c.buf)) - 1)
	if off+int64(len(p)) > base+int64(len(c.buf)) {
		return readAt(c.ra, p, off)
	}
	if c.off != base {
		n, err := c.ra.ReadAt(c.buf[:], base)
		if n < len(c.buf) && err != nil && err != io.EOF {
			c.off = -1
			return err
		}
		c.off, c.n = base, n
	}
	if int(off-base)+len(p) > c.n {
		return errBeyondEnd
	}
	copy(p, c.buf[off-base:])
	return nil
}

// msGUID returns the on-disk bytes of a GUID written in its text form:
// the first three groups little-endian, as Windows stores a GUID.
func msGUID(s string) (g [16]byte) {
	h, _ := hex.DecodeString(strings.ReplaceAll(s, "-", ""))
	copy(g[:], h)
	slices.Reverse(g[0:4])
	slices.Reverse(g[4:6])
	slices.Reverse(g[6:8])
	return g
}

// GUIDs of [MS-VHDX] regions and metadata items, and of the GPT's
// Microsoft Reserved Partition, which holds no file system.
var (
	guidVHDXBAT        = msGUID("2DC27766-F623-4200-9D64-115E9BFD4A08")
	guidVHDXMetadata   = msGUID("8B7CA206-4790-4B9A-B8FE-575F050F886E")
	guidVHDXFileParams = msGUID("CAA16737-FA36-4D43-B3B6-33F0AA44E76B")
	guidVHDXDiskSize   = msGUID("2FA54224-CD1B-4876-B211-5DBED83BF4B8")
	guidVHDXSectorSize = msGUID("8141BF1D-A96F-4709-BA47-F233A8FAAB5F")
	guidGPTMSR         = msGUID("E3C9E316-0B5C-4DB8-817D-F92DF00215AE")
	// The other metadata items [MS-VHDX] 2.6.2 defines: virtual disk ID,
	// physical sector size, parent locator; known, and not needed.
	vhdxOtherItems = [][16]byte{
		msGUID("BECA12AB-B2E6-4523-93EF-C309E000C746"),
		msGUID("CDA348C7-445D-4471-9CC9-E9885251C556"),
		msGUID("A8D35F2D-B30B-454D-ABF7-D3D84834AB0C"),
	}
)

// bootSignature reports whether a sector ends with the 0x55 0xAA of boot
// sectors and partition tables.
func bootSignature(b []byte) bool { return len(b) >= 512 && b[510] == 0x55 && b[511] == 0xAA }

// fatBoot reports whether b is a FAT boot sector: a jump instruction,
// a BPB whose sector size (512–4096), sectors per cluster (a power of two),
// reserved sectors (one at least) and FAT count (1 or 2) are valid, and the
// boot signature.
func fatBoot(b []byte) bool {
	if !bootSignature(b) || !(b[0] == 0xEB && b[2] == 0x90 || b[0] == 0xE9) {
		return false
	}
	bps, spc := le16(b[11:]), b[13]
	return bps >= 512 && bps <= 4096 && bps&(bps-1) == 0 && spc != 0 && spc&(spc-1) == 0 && le16(b[14:]) >= 1 && (b[16] == 1 || b[16] == 2)
}

// bootKind names the file system whose boot sector b is: "FAT", or one
// that is not looked into; "" for none known.
func bootKind(b []byte) string {
	switch {
	case len(b) < 512:
		return ""
	case fatBoot(b):
		return "FAT"
	case string(b[3:11]) == "NTFS    ":
		return "NTFS"
	case string(b[3:11]) == "EXFAT   ":
		return "exFAT"
	case string(b[3:11]) == "ReFS\x00\x00\x00\x00":
		return "ReFS"
	}
	return ""
}

// mbrPart is a partition entry of an MBR or EBR.
type mbrPart struct {
	typ        byte
	lba, count uint32
}

// mbrTable returns the partition entries of an MBR (or EBR) in b, and
// whether b is one: the boot signature, at least one entry used, and every
// entry used with a boot flag of 0x00 or 0x80 and sectors. An entry may
// start at sector 0: an isohybrid ISO's partition covers the whole image.
func mbrTable(b []byte) (parts [4]mbrPart, ok bool) {
	if !bootSignature(b) {
		return parts, false
	}
	for i := range parts {
		e := b[446+16*i:]
		p := mbrPart{typ: e[4], lba: le32(e[8:]), count: le32(e[12:])}
		if p.typ == 0 {
			continue
		}
		if e[0]&0x7F != 0 || p.count == 0 {
			return [4]mbrPart{}, false
		}
		parts[i], ok = p, true
	}
	return parts, ok
}

// sniffRawDisk reports whether head starts a raw disk image: a FAT boot
// sector, another file system's boot sector (to be reported as not looked
// into), an MBR, or a GPT header at sector 1 without a protective MBR. A
// fixed VHD starts so too: its footer is at the end. An isohybrid ISO
// starts with an MBR, and is taken here too (the format "iso" is sniffed
// after this one): openDiskImage has the ISO reader read it.
func sniffRawDisk(head []byte) bool {
	if len(head) >= 520 && string(head[512:520]) == "EFI PART" {
		return true
	}
	if !bootSignature(head) {
		return false
	}
	_, mbr := mbrTable(head)
	return bootKind(head) != "" || mbr
}

// isExtended reports whether an MBR partition type is an extended
// partition, which holds a chain of EBRs.
func isExtended(typ byte) bool { return typ == 0x05 || typ == 0x0F || typ == 0x85 }

// isoIdentifier reports whether b (5 bytes) is the standard identifier of
// an ISO 9660 volume descriptor or of a UDF volume recognition sequence.
func isoIdentifier(b []byte) bool {
	switch string(b) {
	case "CD001", "BEA01", "NSR02", "NSR03":
		return true
	}
	return false
}

// hasISO reports whether ra holds an ISO 9660 or UDF descriptor at 32769,
// the identifier of sector 16 of 2048 bytes.
func hasISO(ra io.ReaderAt) bool {
	var m [5]byte
	return readAt(ra, m[:], 32769) == nil && isoIdentifier(m[:])
}

// vdisk is a disk as a machine sees it: its bytes, its size, and its
// logical sector size (of partition tables).
type vdisk struct {
	ra      io.ReaderAt
	size    int64
	sector  int64
	virtual bool // a VHD or VHDX, not a raw image
}

// openDiskImage returns a walker of the files of the disk image in ra: a
// raw image, a VHD or a VHDX, whose FAT file systems, on the whole disk or
// in MBR and GPT partitions, are listed, and whose other file systems are
// reported as not looked into when the walk ends. errNotContainer when
// nothing of a disk is found.
//
// An ISO 9660 or UDF image, isohybrid ones included (an MBR, often with
// an EFI FAT partition), is also read by the ISO reader when one is
// registered (format "iso"): its entries follow those of the FAT
// partitions, so that the image is not reported as only its FAT partition.
// The name is not needed: the content tells the format.
func openDiskImage(ra io.ReaderAt, size int64, _ string) (arcWalker, error) {
	d, stops, err := openVirtualDisk(ra, size)
	if err != nil {
		return nil, err
	}
	w := &diskWalker{stops: stops}
	iso := hasISO(d.ra)
	found := w.scan(d, iso)
	switch {
	case iso:
		w.openISO(d)
	case !found && !d.virtual:
		return nil, errNotContainer
	case !found:
		var b [512]byte
		if readAt(d.ra, b[:], 0); b != [512]byte{} {
			w.stop("", &arcStop{class: GapArchive, why: "no partition table or file system known on the virtual disk"})
		}
	}
	return w, nil
}

// openISO has the ISO reader, when there is one, read the disk too. It
// is given no file name: the reader uses one only to tell content without
// a descriptor whose name claims another format, and a descriptor is
// there.
func (w *diskWalker) openISO(d *vdisk) {
	c := containers["iso"]
	if c == nil {
		w.stop("", &arcStop{class: GapArchive, why: "ISO 9660/UDF file system not looked into"})
		return
	}
	iw, err := c.open(d.ra, d.size, "")
	switch {
	case errors.Is(err, errNotContainer):
		w.stop("", &arcStop{class: GapArchive, why: "ISO 9660/UDF descriptor found, but the ISO reader does not read it"})
	case err != nil:
		w.fail("ISO 9660/UDF", err)
	default:
		w.iso, w.isoW = iw, iw
	}
}

// diskWalker walks the FAT volumes of a disk one after the other, then
// the ISO reader's entries, and ends with a stop that gives every reason
// why some of the disk was not looked into.
type diskWalker struct {
	vols  []*fatVolume
	cur   *fatWalk
	iso   arcWalker // the ISO reader's walker, while it has entries
	isoW  arcWalker // the same, to be closed
	stops []*arcStop
}

// next implements arcWalker.
func (w *diskWalker) next() (*arcEntry, error) {
	for {
		switch {
		case w.cur != nil:
			e, err := w.cur.next()
			if err == nil {
				return e, nil
			}
			if err != io.EOF {
				w.fail(w.cur.v.label, err)
			}
			w.cur = nil
		case len(w.vols) > 0:
			w.cur = w.vols[0].walk()
			w.vols = w.vols[1:]
		case w.iso != nil:
			e, err := w.iso.next()
			if err == nil {
				return e, nil
			}
			if err != io.EOF {
				w.fail("ISO 9660/UDF", err)
			}
			w.iso = nil
		default:
			return nil, w.end()
		}
	}
}

// Close closes the ISO reader's walker, if it is a Closer.
func (w *diskWalker) Close() error {
	if c, ok := w.isoW.(io.Closer); ok {
		return c.Close()
	}
	return nil
}

// stop records why part of the disk (label, "" for the whole) is not
// looked into.
func (w *diskWalker) stop(label string, s *arcStop) {
	if label != "" {
		s = &arcStop{class: s.class, why: label + ": " + s.why, encrypted: s.encrypted}
	}
	w.stops = append(w.stops, s)
}

// fail records the error that ended the reading of part of the disk.
func (w *diskWalker) fail(label string, err error) {
	var s *arcStop
	if !errors.As(err, &s) {
		s = &arcStop{class: GapArchive, why: "corrupt: " + err.Error()}
	}
	w.stop(label, s)
}

// end returns the stops recorded as one, io.EOF when there are none.
func (w *diskWalker) end() error {
	if len(w.stops) == 0 {
		return io.EOF
	}
	s := &arcStop{class: w.stops[0].class}
	var why []string
	for _, t := range w.stops {
		why = append(why, t.why)
		s.encrypted = s.encrypted || t.encrypted
	}
	s.why = strings.Join(why, "; ")
	w.stops = nil
	return s
}

// diskPart is a partition: where it lies on the disk.
type diskPart struct {
	label       string
	off, length int64
}

// scan finds the volumes of d: a file system on the whole disk, and those
// of its MBR, EBR and GPT partitions; the same start is read once. It
// reports whether a boot sector or a partition table was found, or the
// disk could not be read (a stop says why). iso says d is an ISO image
// too: its own partitions (at sector 0, or holding the ISO) are left to
// the ISO reader.
func (w *diskWalker) scan(d *vdisk, iso bool) bool {
	boot := make([]byte, 512)
	if err := readAt(d.ra, boot, 0); err != nil {
		if d.virtual {
			w.fail("", err)
		}
		return d.virtual
	}
	found := bootKind(boot) != ""
	if found {
		w.volume(d, diskPart{off: 0, length: d.size}, iso)
	}
	seen := map[int64]bool{0: found}
	n := 0
	add := func(label string, lba, count uint64) bool {
		if n++; n > maxPartitions {
			w.stop("", &arcStop{class: GapLimit, why: fmt.Sprintf("more than %d partitions: the others not looked into", maxPartitions)})
			return false
		}
		if lba >= 1<<40 || count >= 1<<40 {
			w.stop(label, &arcStop{class: GapArchive, why: "lies beyond the end of the disk"})
			return true
		}
		off := int64(lba) * d.sector
		if !seen[off] {
			seen[off] = true
			w.volume(d, diskPart{label: label, off: off, length: int64(count) * d.sector}, iso)
		}
		return true
	}
	parts, mbr := mbrTable(boot)
	gpt := false
	for i, p := range parts {
		switch {
		case p.typ == 0:
		case p.typ == 0xEE:
			gpt = true
		case isExtended(p.typ):
			if !w.logical(d, p.lba, add) {
				return true
			}
		default:
			if !add(fmt.Sprintf("partition %d", i+1), uint64(p.lba), uint64(p.count)) {
				return true
			}
		}
	}
	var sig [8]byte
	if gpt || readAt(d.ra, sig[:], d.sector) == nil && string(sig[:]) == "EFI PART" {
		w.gpt(d, add)
		return true
	}
	return found || mbr
}

// logical reads the chain of EBRs of the extended partition starting at
// sector base, adding the logical partitions (numbered from 5, as Linux
// does). It returns false when add refused one.
func (w *diskWalker) logical(d *vdisk, base uint32, add func(string, uint64, uint64) bool) bool {
	seen := map[uint64]bool{}
	b := make([]byte, 512)
	var next uint64
	for n := 5; n < 5+maxPartitions; n++ {
		at := uint64(base) + next
		if seen[at] {
			w.stop("", &arcStop{class: GapArchive, why: fmt.Sprintf("corrupt: extended partition table loops at sector %d", at)})
			return true
		}
		seen[at] = true
		if readAt(d.ra, b, int64(at)*d.sector) != nil || !bootSignature(b) {
			w.stop("", &arcStop{class: GapArchive, why: fmt.Sprintf("corrupt: no extended partition table at sector %d", at)})
			return true
		}
		if typ := b[446+4]; typ != 0 && !isExtended(typ) {
			if !add(fmt.Sprintf("partition %d", n), at+uint64(le32(b[446+8:])), uint64(le32(b[446+12:]))) {
				return false
			}
		}
		link := b[446+16:]
		if link[4] == 0 {
			return true
		}
		next = uint64(le32(link[8:]))
	}
	w.stop("", &arcStop{class: GapLimit, why: fmt.Sprintf("more than %d extended partition tables: the others not looked into", maxPartitions)})
	return true
}

// gpt reads the GUID partition table of d, the primary one, or the backup
// at the end of the disk when the primary is corrupt, adding its
// partitions but the Microsoft Reserved Partition.
func (w *diskWalker) gpt(d *vdisk, add func(string, uint64, uint64) bool) {
	entries, esz, err := readGPT(d, 1)
	if err != nil {
		var err2 error
		if entries, esz, err2 = readGPT(d, d.size/d.sector-1); err2 != nil {
			w.stop("", &arcStop{class: GapArchive, why: "corrupt: GPT partition table: " + err.Error()})
			return
		}
	}
	for i := 0; i < len(entries)/esz; i++ {
		e := entries[i*esz:]
		typ := [16]byte(e[:16])
		if typ == [16]byte{} || typ == guidGPTMSR {
			continue
		}
		first, last := binary.LittleEndian.Uint64(e[32:]), binary.LittleEndian.Uint64(e[40:])
		label := fmt.Sprintf("partition %d", i+1)
		if last < first {
			w.stop(label, &arcStop{class: GapArchive, why: "corrupt: partition ends before it starts"})
			continue
		}
		if !add(label, first, last-first+1) {
			return
		}
	}
}

// readGPT reads the GPT header at sector lba of d and its partition entry
// array, both checked against their CRC-32, and returns the array and the
// size of an entry.
func readGPT(d *vdisk, lba int64) ([]byte, int, error) {
	h := make([]byte, d.sector)
	if err := readAt(d.ra, h, lba*d.sector); err != nil {
		return nil, 0, err
	}
	if string(h[:8]) != "EFI PART" {
		return nil, 0, errors.New("no GPT header")
	}
	hs := int(le32(h[12:]))
	if hs < 92 || hs > len(h) {
		return nil, 0, errors.New("bad GPT header size")
	}
	sum := le32(h[16:])
	clear(h[16:20])
	if crc32.ChecksumIEEE(h[:hs]) != sum {
		return nil, 0, errors.New("GPT header checksum mismatch")
	}
	at, n, esz := binary.LittleEndian.Uint64(h[72:]), uint64(le32(h[80:])), uint64(le32(h[84:]))
	if esz < 128 || esz%8 != 0 || n*esz > maxGPTArray || at >= 1<<40 {
		return nil, 0, errors.New("bad GPT partition entry array")
	}
	arr := make([]byte, n*esz)
	if err := readAt(d.ra, arr, int64(at)*d.sector); err != nil {
		return nil, 0, err
	}
	if crc32.ChecksumIEEE(arr) != le32(h[88:]) {
		return nil, 0, errors.New("GPT partition entry array checksum mismatch")
	}
	return arr, int(esz), nil
}

// volume reads the file system of partition p of d: a FAT volume is
// walked; another file system is reported as not looked into.
func (w *diskWalker) volume(d *vdisk, p diskPart, iso bool) {
	if p.off >= d.size || p.length <= 0 {
		w.stop(p.label, &arcStop{class: GapArchive, why: "lies beyond the end of the disk"})
		return
	}
	sec := io.NewSectionReader(d.ra, p.off, min(p.length, d.size-p.off))
	kind := fsKind(sec)
	switch {
	case kind == "FAT":
		v, err := newFATVolume(sec, p.label)
		if err != nil {
			w.fail(p.label, err)
			return
		}
		w.vols = append(w.vols, v)
	case iso && (p.off == 0 || kind == "ISO 9660/UDF"):
		// The ISO itself, which the ISO reader reads.
	case kind == "":
		w.stop(p.label, &arcStop{class: GapArchive, why: "no file system known, not looked into"})
	default:
		w.stop(p.label, &arcStop{class: GapArchive, why: kind + " file system not looked into"})
	}
}

// fsKind names the file system that starts ra: by its boot sector, the
// ext superblock magic, or an ISO 9660/UDF descriptor; "" for none known.
func fsKind(ra io.ReaderAt) string {
	b := make([]byte, 512)
	if readAt(ra, b, 0) != nil {
		return ""
	}
	if k := bootKind(b); k != "" {
		return k
	}
	if isoIdentifier(b[1:6]) {
		return "ISO 9660/UDF"
	}
	var m [5]byte
	if readAt(ra, m[:2], 1024+56) == nil && m[0] == 0x53 && m[1] == 0xEF {
		return "ext2/3/4"
	}
	if readAt(ra, m[:], 32769) == nil && isoIdentifier(m[:]) {
		return "ISO 9660/UDF"
	}
	return ""
}

// openVirtualDisk returns the disk that ra (size bytes) holds: the
// virtual disk of a VHD or VHDX, else ra itself. stops are reasons why
// what is listed may not be all.
func openVirtualDisk(ra io.ReaderAt, size int64) (*vdisk, []*arcStop, error) {
	var magic [8]byte
	readAt(ra, magic[:], 0)
	switch string(magic[:]) {
	case "vhdxfile":
		return openVHDX(ra, size)
	case "conectix":
		footer := make([]byte, 512)
		if err := readAt(ra, footer, 0); err != nil {
			return nil, nil, err
		}
		d, err := openVHD(ra, size, footer, true)
		return d, nil, err
	}
	if size >= 1024 {
		footer := make([]byte, 512)
		if readAt(ra, footer, size-512) == nil && string(footer[:8]) == "conectix" && vhdChecksum(footer, 64) {
			d, err := openVHD(ra, size, footer, false)
			return d, nil, err
		}
	}
	d := &vdisk{ra: ra, size: size, sector: 512}
	var sig [8]byte
	if readAt(ra, sig[:], 512) != nil || string(sig[:]) != "EFI PART" {
		if readAt(ra, sig[:], 4096) == nil && string(sig[:]) == "EFI PART" {
			d.sector = 4096
		}
	}
	return d, nil, nil
}

// vhdChecksum checks the checksum of a VHD footer or dynamic disk header
// (at byte at of b): the ones' complement of the sum of its other bytes.
func vhdChecksum(b []byte, at int) bool {
	var sum uint32
	for i, c := range b {
		if i < at || i >= at+4 {
			sum += uint32(c)
		}
	}
	return ^sum == binary.BigEndian.Uint32(b[at:])
}

// openVHD returns the virtual disk of a VHD whose footer is given, read
// at the start of the file (dynamic and differencing disks keep a copy
// there) or at its end.
func openVHD(ra io.ReaderAt, size int64, footer []byte, atStart bool) (*vdisk, error) {
	be := binary.BigEndian
	if !vhdChecksum(footer, 64) {
		return nil, errors.New("VHD footer checksum mismatch")
	}
	virt := be.Uint64(footer[48:])
	switch typ := be.Uint32(footer[60:]); {
	case typ == 2 && !atStart:
		return &vdisk{ra: io.NewSectionReader(ra, 0, size-512), size: size - 512, sector: 512, virtual: true}, nil
	case typ == 2:
		return nil, errors.New("fixed VHD with its footer at the start")
	case typ == 4:
		return nil, &arcStop{class: GapArchive, why: "differencing VHD: its parent disk, another file, is needed: not looked into"}
	case typ != 3:
		return nil, fmt.Errorf("VHD disk type %d not known", typ)
	}
	hoff := be.Uint64(footer[16:])
	h := make([]byte, 1024)
	if hoff > uint64(size) || readAt(ra, h, int64(hoff)) != nil {
		return nil, errors.New("VHD dynamic disk header beyond the end of the file")
	}
	if string(h[:8]) != "cxsparse" || !vhdChecksum(h, 36) {
		return nil, errors.New("bad VHD dynamic disk header")
	}
	bat, entries, block := be.Uint64(h[16:]), uint64(be.Uint32(h[28:])), uint64(be.Uint32(h[32:]))
	if block < 512 || block&(block-1) != 0 || virt >= 1<<48 {
		return nil, errors.New("bad VHD block size or disk size")
	}
	need := (virt + block - 1) / block
	if need > entries || bat > uint64(size) || need*4 > uint64(size)-bat {
		return nil, errors.New("VHD block allocation table beyond the end of the file")
	}
	v := &vhdReader{ra: ra, fileSize: size, bat: newCachedReader(ra), batOff: int64(bat), block: int64(block),
		bitmap: int64(((block/512+7)/8 + 511) &^ 511), size: int64(virt)}
	return &vdisk{ra: v, size: v.size, sector: 512, virtual: true}, nil
}

// vhdReader reads the virtual disk of a dynamic VHD: block by block
// through its block allocation table, unallocated blocks as zeros. The
// sector bitmaps are not read: a dynamic disk's sectors are all in its
// blocks, as qemu reads them.
type vhdReader struct {
	ra       io.ReaderAt
	fileSize int64
	bat      *cachedReader
	batOff   int64
	block    int64
	bitmap   int64 // bytes of the sector bitmap before a block's data
	size     int64
}

// ReadAt implements io.ReaderAt.
func (v *vhdReader) ReadAt(p []byte, off int64) (int, error) {
	n := 0
	for len(p) > 0 {
		if off < 0 || off >= v.size {
			return n, io.EOF
		}
		blk, in := off/v.block, off%v.block
		c := min(int64(len(p)), v.block-in, v.size-off)
		var e [4]byte
		if err := v.bat.read(e[:], v.batOff+4*blk); err != nil {
			return n, err
		}
		if s := binary.BigEndian.Uint32(e[:]); s == 0xFFFFFFFF {
			clear(p[:c])
		} else if pos := int64(s)*512 + v.bitmap + in; pos+c > v.fileSize {
			return n, fmt.Errorf("VHD block %d lies beyond the end of the file", blk)
		} else if err := readAt(v.ra, p[:c], pos); err != nil {
			return n, err
		}
		p, off, n = p[c:], off+c, n+int(c)
	}
	return n, nil
}

// crc32c is the CRC-32C table of VHDX checksums.
var crc32c = crc32.MakeTable(crc32.Castagnoli)

// vhdxChecksum checks a VHDX header or region table: the CRC-32C of b
// with its checksum field (bytes 4–8) zero.
func vhdxChecksum(b []byte) bool {
	sum := le32(b[4:])
	c := slices.Clone(b)
	clear(c[4:8])
	return crc32.Checksum(c, crc32c) == sum
}

// openVHDX returns the virtual disk of a VHDX: the current header, the
// region table, the metadata (block size, virtual disk size, logical
// sector size) and the BAT. A log to replay is reported in stops.
func openVHDX(ra io.ReaderAt, size int64) (*vdisk, []*arcStop, error) {
	var head []byte
	var seq uint64
	for _, at := range []int64{64 << 10, 128 << 10} {
		h := make([]byte, 4096)
		if readAt(ra, h, at) != nil || string(h[:4]) != "head" || !vhdxChecksum(h) || le16(h[66:]) != 1 {
			continue
		}
		if s := binary.LittleEndian.Uint64(h[8:]); head == nil || s > seq {
			head, seq = h, s
		}
	}
	if head == nil {
		return nil, nil, errors.New("no valid VHDX header")
	}
	var stops []*arcStop
	if [16]byte(head[48:64]) != [16]byte{} {
		stops = append(stops, &arcStop{class: GapArchive, why: "VHDX log not replayed: the disk may hold more than is listed"})
	}
	regions, err := vhdxRegions(ra, size)
	if err != nil {
		return nil, nil, err
	}
	bat, md := regions[guidVHDXBAT], regions[guidVHDXMetadata]
	if bat.length == 0 || md.length == 0 {
		return nil, nil, errors.New("VHDX without BAT or metadata region")
	}
	m, err := vhdxMetadata(ra, md)
	if err != nil {
		return nil, nil, err
	}
	if m.parent {
		return nil, nil, &arcStop{class: GapArchive, why: "differencing VHDX: its parent disk, another file, is needed: not looked into"}
	}
	chunk := (int64(1) << 23) * m.sector / m.block
	blocks := (m.size + m.block - 1) / m.block
	if total := blocks + (blocks-1)/chunk; total*8 > bat.length {
		return nil, nil, fmt.Errorf("VHDX BAT region of %d bytes too small for %d entries", bat.length, total)
	}
	v := &vhdxReader{ra: ra, fileSize: size, bat: newCachedReader(ra), batOff: bat.off, block: m.block, chunk: chunk, size: m.size}
	return &vdisk{ra: v, size: m.size, sector: m.sector, virtual: true}, stops, nil
}

// vhdxRegion is where a VHDX region lies in the file.
type vhdxRegion struct{ off, length int64 }

// vhdxRegions reads the first valid region table of a VHDX: the regions
// by GUID, each within the file. A region required but not known means
// the file cannot be read.
func vhdxRegions(ra io.ReaderAt, size int64) (map[[16]byte]vhdxRegion, error) {
	for _, at := range []int64{192 << 10, 256 << 10} {
		t := make([]byte, 64<<10)
		if readAt(ra, t, at) != nil || string(t[:4]) != "regi" || !vhdxChecksum(t) {
			continue
		}
		n := le32(t[8:])
		if n > 2047 {
			return nil, fmt.Errorf("VHDX region table of %d entries", n)
		}
		regions := map[[16]byte]vhdxRegion{}
		for i := range int(n) {
			e := t[16+32*i:]
			id, off, length := [16]byte(e[:16]), binary.LittleEndian.Uint64(e[16:]), uint64(le32(e[24:]))
			if id != guidVHDXBAT && id != guidVHDXMetadata {
				if le32(e[28:])&1 != 0 {
					return nil, &arcStop{class: GapArchive, why: "VHDX region unknown to this reader is required: not looked into"}
				}
				continue
			}
			if off < 1<<20 || off > uint64(size) || length > uint64(size)-off {
				return nil, errors.New("VHDX region beyond the end of the file")
			}
			regions[id] = vhdxRegion{int64(off), int64(length)}
		}
		return regions, nil
	}
	return nil, errors.New("no valid VHDX region table")
}

// vhdxMeta is what a VHDX's metadata says of its virtual disk.
type vhdxMeta struct {
	block, size, sector int64
	parent              bool
}

// vhdxMetadata reads the metadata region md of a VHDX: its table and the
// items it needs, each within the region. An item required but not known
// means the file cannot be read.
func vhdxMetadata(ra io.ReaderAt, md vhdxRegion) (vhdxMeta, error) {
	var m vhdxMeta
	if md.length < 64<<10 {
		return m, errors.New("VHDX metadata region too small")
	}
	t := make([]byte, 64<<10)
	if err := readAt(ra, t, md.off); err != nil {
		return m, err
	}
	n := int(le16(t[10:]))
	if string(t[:8]) != "metadata" || n > 2047 {
		return m, errors.New("bad VHDX metadata table")
	}
	items := map[[16]byte][]byte{}
	for i := range n {
		e := t[32+32*i:]
		id, off, length := [16]byte(e[:16]), int64(le32(e[16:])), int64(le32(e[20:]))
		switch {
		case id == guidVHDXFileParams, id == guidVHDXDiskSize, id == guidVHDXSectorSize:
		case slices.Contains(vhdxOtherItems, id):
			continue
		default:
			if le32(e[24:])&4 != 0 {
				return m, &arcStop{class: GapArchive, why: "VHDX metadata item unknown to this reader is required: not looked into"}
			}
			continue
		}
		if length > 8 || off > md.length-length {
			return m, errors.New("VHDX metadata item beyond its region")
		}
		v := make([]byte, 8)
		if err := readAt(ra, v[:length], md.off+off); err != nil {
			return m, err
		}
		items[id] = v
	}
	fp, ds, ss := items[guidVHDXFileParams], items[guidVHDXDiskSize], items[guidVHDXSectorSize]
	if fp == nil || ds == nil || ss == nil {
		return m, errors.New("VHDX metadata item missing")
	}
	m.block, m.parent = int64(le32(fp)), le32(fp[4:])&2 != 0
	m.size, m.sector = int64(binary.LittleEndian.Uint64(ds)), int64(le32(ss))
	switch {
	case m.block < 1<<20 || m.block > 256<<20 || m.block&(m.block-1) != 0:
		return m, fmt.Errorf("VHDX block size %d not valid", m.block)
	case m.sector != 512 && m.sector != 4096:
		return m, fmt.Errorf("VHDX logical sector size %d not valid", m.sector)
	case m.size <= 0 || m.size > 64<<40 || m.size%m.sector != 0:
		return m, fmt.Errorf("VHDX virtual disk size %d not valid", m.size)
	}
	return m, nil
}

// vhdxReader reads the virtual disk of a VHDX through its BAT: payload
// blocks fully present are read from the file, blocks not present, zero
// or unmapped read as zeros.
type vhdxReader struct {
	ra       io.ReaderAt
	fileSize int64
	bat      *cachedReader
	batOff   int64
	block    int64
	chunk    int64 // payload blocks per sector bitmap block, whose BAT entry follows theirs
	size     int64
}

// ReadAt implements io.ReaderAt.
func (v *vhdxReader) ReadAt(p []byte, off int64) (int, error) {
	n := 0
	for len(p) > 0 {
		if off < 0 || off >= v.size {
			return n, io.EOF
		}
		blk, in := off/v.block, off%v.block
		c := min(int64(len(p)), v.block-in, v.size-off)
		var b [8]byte
		if err := v.bat.read(b[:], v.batOff+8*(blk+blk/v.chunk)); err != nil {
			return n, err
		}
		e := binary.LittleEndian.Uint64(b[:])
		switch e & 7 {
		case 0, 1, 2, 3:
			clear(p[:c])
		case 6:
			pos := (e>>20)<<20 + uint64(in)
			if pos+uint64(c) > uint64(v.fileSize) {
				return n, fmt.Errorf("VHDX block %d lies beyond the end of the file", blk)
			}
			if err := readAt(v.ra, p[:c], int64(pos)); err != nil {
				return n, err
			}
		default:
			return n, fmt.Errorf("VHDX block %d in state %d", blk, e&7)
		}
		p, off, n = p[c:], off+c, n+int(c)
	}
	return n, nil
}

// fatVolume is a FAT12, FAT16 or FAT32 file system, read from ra.
type fatVolume struct {
	ra          io.ReaderAt
	label       string // the partition, "" for a whole disk
	fat         *cachedReader
	bits        int    // 12, 16 or 32
	eoc         uint32 // FAT values from this one on end a chain; eoc-1 marks a bad cluster
	bps         int64  // bytes per sector
	clusterSize int64
	fatOff      int64  // the FAT read: the first, or FAT32's active one
	rootOff     int64  // FAT12/16: the fixed root directory
	rootLen     int64  // its bytes
	rootCluster uint32 // FAT32: the root directory's first cluster
	dataOff     int64  // cluster 2
	maxCluster  uint32 // the highest cluster number the volume and its FAT have
	dirScan     int64  // directory bytes read, up to maxDirScan
}

// fatEOC is, by FAT type, the first FAT value that ends a cluster chain.
var fatEOC = map[int]uint32{12: 0xFF8, 16: 0xFFF8, 32: 0x0FFFFFF8}

// newFATVolume reads the BPB of the FAT volume in ra. The FAT type is told
// as Windows' fastfat and Linux tell it: FAT32 when the 16-bit FAT size is
// zero (the FAT32 BPB), else FAT12 below 4085 clusters and FAT16 above.
func newFATVolume(ra io.ReaderAt, label string) (*fatVolume, error) {
	b := make([]byte, 512)
	if err := readAt(ra, b, 0); err != nil {
		return nil, err
	}
	bps, spc, rsv, nf := uint64(le16(b[11:])), uint64(b[13]), uint64(le16(b[14:])), uint64(b[16])
	rootEnt := uint64(le16(b[17:]))
	tot := uint64(le16(b[19:]))
	if tot == 0 {
		tot = uint64(le32(b[32:]))
	}
	v := &fatVolume{ra: ra, label: label, fat: newCachedReader(ra), bps: int64(bps), clusterSize: int64(spc * bps)}
	fatSz := uint64(le16(b[22:]))
	if fatSz == 0 {
		v.bits, fatSz = 32, uint64(le32(b[36:]))
		if rootEnt != 0 {
			return nil, errors.New("FAT32 BPB with a fixed root directory")
		}
	}
	rootSecs := (rootEnt*32 + bps - 1) / bps
	first := rsv + nf*fatSz + rootSecs
	if fatSz == 0 || tot <= first {
		return nil, errors.New("BPB sizes do not add up")
	}
	count := (tot - first) / spc
	if v.bits == 0 {
		v.bits = 16
		if count < 4085 {
			v.bits = 12
		}
	}
	v.eoc = fatEOC[v.bits]
	v.maxCluster = uint32(min(count+1, fatSz*bps*8/uint64(v.bits)-1, uint64(v.eoc-2)))
	active := uint64(0)
	if fl := le16(b[40:]); v.bits == 32 && fl&0x80 != 0 {
		if active = uint64(fl & 0x0F); active >= nf {
			return nil, fmt.Errorf("active FAT %d of %d", active, nf)
		}
	}
	v.fatOff = int64((rsv + active*fatSz) * bps)
	v.rootOff, v.rootLen = int64((rsv+nf*fatSz)*bps), int64(rootSecs*bps)
	v.dataOff = int64(first * bps)
	if v.bits == 32 {
		if v.rootCluster = le32(b[44:]); v.rootCluster < 2 || v.rootCluster > v.maxCluster {
			return nil, fmt.Errorf("root directory cluster %d out of range", v.rootCluster)
		}
	}
	return v, nil
}

// clusterOff is where cluster c starts.
func (v *fatVolume) clusterOff(c uint32) int64 { return v.dataOff + int64(c-2)*v.clusterSize }

// link returns the cluster that follows c in its chain; end when c is the
// last one. A free, reserved or bad cluster, or one out of range, in a
// chain is an error.
func (v *fatVolume) link(c uint32) (next uint32, end bool, err error) {
	var b [4]byte
	switch v.bits {
	case 12:
		err = v.fat.read(b[:2], v.fatOff+int64(c)+int64(c/2))
		next = uint32(le16(b[:]))
		if c&1 == 1 {
			next >>= 4
		}
		next &= 0xFFF
	case 16:
		err = v.fat.read(b[:2], v.fatOff+2*int64(c))
		next = uint32(le16(b[:]))
	default:
		err = v.fat.read(b[:], v.fatOff+4*int64(c))
		next = le32(b[:]) & 0x0FFFFFFF
	}
	switch {
	case err != nil:
		return 0, false, err
	case next >= v.eoc:
		return 0, true, nil
	case next == v.eoc-1:
		return 0, false, fmt.Errorf("bad cluster in the chain after cluster %d", c)
	case next < 2 || next > v.maxCluster:
		return 0, false, fmt.Errorf("cluster chain broken after cluster %d", c)
	}
	return next, false, nil
}

// walk returns a walker of the files of the volume, from its root.
func (v *fatVolume) walk() *fatWalk {
	fw := &fatWalk{v: v, seen: map[uint32]bool{}}
	root := &fatDir{v: v, buf: make([]byte, 0, v.bps)}
	if v.bits == 32 {
		root.cluster, root.clusters = v.rootCluster, 1
		fw.seen[v.rootCluster] = true
	} else {
		root.fixed, root.off, root.end = true, v.rootOff, v.rootOff+v.rootLen
	}
	fw.dirs = []*fatDir{root}
	return fw
}

// fatWalk walks the directory tree of a FAT volume depth first.
type fatWalk struct {
	v       *fatVolume
	dirs    []*fatDir       // the directories being read, the root first
	seen    map[uint32]bool // clusters of the directories read: a loop ends the walk
	tooDeep bool            // a directory was left out, nested too deep
}

// next implements arcWalker; directories are entries too (counted, not
// listed).
func (fw *fatWalk) next() (*arcEntry, error) {
	for len(fw.dirs) > 0 {
		d := fw.dirs[len(fw.dirs)-1]
		de, err := d.next()
		if err != nil {
			return nil, fmt.Errorf("directory %q: %w", d.path, err)
		}
		if de == nil {
			fw.dirs = fw.dirs[:len(fw.dirs)-1]
			continue
		}
		e := &arcEntry{name: de.name, size: int64(de.size), dir: de.dir}
		if d.path != "" {
			e.name = d.path + "/" + de.name
		}
		if de.other != "" {
			e.other = []string{strings.TrimSuffix(e.name, de.name) + de.other}
		}
		if !de.dir {
			e.open = fw.v.opener(de.cluster, de.size)
			return e, nil
		}
		e.size = 0
		if len(fw.dirs) > maxDirDepth {
			fw.tooDeep = true
			return e, nil
		}
		switch c := de.cluster; {
		case c < 2 || c > fw.v.maxCluster:
			return nil, fmt.Errorf("directory %q: first cluster %d out of range", e.name, c)
		case fw.seen[c]:
			return nil, fmt.Errorf("directory %q: directory loop at cluster %d", e.name, c)
		default:
			fw.seen[c] = true
			fw.dirs = append(fw.dirs, &fatDir{v: fw.v, path: e.name, seen: fw.seen, cluster: c, clusters: 1, buf: make([]byte, 0, fw.v.bps)})
		}
		return e, nil
	}
	if fw.tooDeep {
		fw.tooDeep = false
		return nil, &arcStop{class: GapLimit, why: fmt.Sprintf("directories nested deeper than %d levels not looked into", maxDirDepth)}
	}
	return nil, io.EOF
}

// fatDir reads the entries of one directory, a sector at a time: the
// fixed root directory of FAT12/16, or a cluster chain.
type fatDir struct {
	v        *fatVolume
	path     string
	seen     map[uint32]bool // shared by the walk: a cluster read twice is a loop
	fixed    bool
	off, end int64 // the fixed root directory: the next sector, and the end
	cluster  uint32
	inClus   int64 // bytes of the cluster read
	clusters int64 // clusters of the chain read
	buf      []byte
	pos      int
	lfn      lfnRun
}

// fatDirent is a file or directory read from a directory.
type fatDirent struct {
	name, other string // other: a long name that does not belong to the short name
	dir         bool
	cluster     uint32
	size        uint32
}

// next returns the next file or directory, nil at the end. Entries past
// one marked as the last (a first byte of zero) are read too, as Linux
// reads them.
func (d *fatDir) next() (*fatDirent, error) {
	for {
		if d.pos >= len(d.buf) {
			if ok, err := d.fill(); !ok || err != nil {
				return nil, err
			}
		}
		e := d.buf[d.pos : d.pos+32]
		d.pos += 32
		if de := d.entry(e); de != nil {
			return de, nil
		}
	}
}

// fill reads the next sector of the directory; false at its end.
func (d *fatDir) fill() (bool, error) {
	var at int64
	if d.fixed {
		if d.off >= d.end {
			return false, nil
		}
		at, d.off = d.off, d.off+d.v.bps
	} else {
		if d.inClus == d.v.clusterSize {
			next, end, err := d.v.link(d.cluster)
			if end || err != nil {
				return false, err
			}
			if d.seen[next] {
				return false, fmt.Errorf("cluster chain loops at cluster %d", next)
			}
			if d.clusters++; d.clusters*d.v.clusterSize > maxDirBytes {
				return false, errors.New("longer than the 65536 entries a directory may hold")
			}
			d.seen[next] = true
			d.cluster, d.inClus = next, 0
		}
		at = d.v.clusterOff(d.cluster) + d.inClus
		d.inClus += d.v.bps
	}
	if d.v.dirScan += d.v.bps; d.v.dirScan > maxDirScan {
		return false, &arcStop{class: GapLimit, why: fmt.Sprintf("directories of more than %d bytes not looked into", maxDirScan)}
	}
	d.buf = d.buf[:d.v.bps]
	d.pos = 0
	return true, readAt(d.v.ra, d.buf, at)
}

// entry reads a 32-byte directory entry: a file or directory is
// returned; long name parts are gathered, deleted and free entries, the
// volume label, "." and ".." skipped.
func (d *fatDir) entry(e []byte) *fatDirent {
	switch {
	case e[0] == 0 || e[0] == 0xE5:
		d.lfn = lfnRun{}
		return nil
	case e[11]&0x3F == 0x0F:
		d.lfn.add(e)
		return nil
	}
	lfn := d.lfn
	d.lfn = lfnRun{}
	short := shortName(e)
	if e[11]&0x08 != 0 || short == "." || short == ".." {
		return nil
	}
	de := &fatDirent{name: short, dir: e[11]&0x10 != 0, size: le32(e[28:]), cluster: uint32(le16(e[26:]))}
	if d.v.bits == 32 {
		de.cluster |= uint32(le16(e[20:])) << 16
	}
	if long, ok := lfn.name(lfnChecksum(e[:11])); ok {
		de.name = long
	} else if long != "" && long != short {
		// Windows and Linux show the short name; a tool that does not
		// check the checksum shows the long one.
		de.other = long
	}
	return de
}

// shortName decodes the 8.3 name of a directory entry: trailing spaces
// dropped, a leading 0x05 read as 0xE5 (a lead byte of the OEM code page),
// the lower-case flags of Windows NT applied to ASCII parts, and bytes
// beyond ASCII decoded as the OEM code page of Japanese Windows (CP932)
// by decodeUnlabelled.
func shortName(e []byte) string {
	base := slices.Clone(bytes.TrimRight(e[0:8], " "))
	ext := slices.Clone(bytes.TrimRight(e[8:11], " "))
	if len(base) > 0 && base[0] == 0x05 {
		base[0] = 0xE5
	}
	lower := func(b []byte, flag byte) {
		if e[12]&flag == 0 || slices.ContainsFunc(b, func(c byte) bool { return c >= 0x80 }) {
			return
		}
		for i, c := range b {
			if 'A' <= c && c <= 'Z' {
				b[i] = c + 'a' - 'A'
			}
		}
	}
	lower(base, 0x08)
	lower(ext, 0x10)
	name := base
	if len(ext) > 0 {
		name = append(append(name, '.'), ext...)
	}
	if slices.ContainsFunc(name, func(c byte) bool { return c >= 0x80 }) {
		return decodeUnlabelled(name)
	}
	return string(name)
}

// lfnChecksum is the checksum of an 8.3 name that its long name entries
// carry.
func lfnChecksum(short []byte) byte {
	var s byte
	for _, c := range short {
		s = (s>>1 | s<<7) + c
	}
	return s
}

// lfnOffsets are where the 13 UTF-16 units of a long name entry lie.
var lfnOffsets = [13]int{1, 3, 5, 7, 9, 14, 16, 18, 20, 22, 24, 28, 30}

// lfnRun gathers the long name entries before a short entry: up to 20,
// the last part first, each numbered and carrying the short name's
// checksum.
type lfnRun struct {
	units  [20][13]uint16
	have   [20]bool
	count  int // parts announced by the first entry (the last part); 0 before it
	want   int // the number of the part expected next
	sum    byte
	broken bool // a part out of sequence, or of another checksum
}

// add gathers a long name entry.
func (r *lfnRun) add(e []byte) {
	ord := int(e[0] & 0x3F)
	if e[0]&0x40 != 0 {
		*r = lfnRun{count: ord, want: ord, sum: e[13]}
	}
	if ord < 1 || ord > len(r.units) {
		r.broken = true
		return
	}
	if r.count == 0 || ord != r.want || e[13] != r.sum {
		r.broken = true
	} else {
		r.want--
	}
	r.have[ord-1] = true
	for i, o := range lfnOffsets {
		r.units[ord-1][i] = le16(e[o:])
	}
}

// name returns the long name gathered, and whether it belongs to the
// short name of checksum sum: all its parts in sequence, of that checksum.
func (r *lfnRun) name(sum byte) (string, bool) {
	var u []uint16
	for i, ok := range r.have {
		if ok {
			u = append(u, r.units[i][:]...)
		}
	}
	if k := slices.Index(u, 0); k >= 0 {
		u = u[:k]
	}
	for len(u) > 0 && u[len(u)-1] == 0xFFFF {
		u = u[:len(u)-1]
	}
	s := string(utf16.Decode(u))
	return s, s != "" && !r.broken && r.count > 0 && r.want == 0 && r.sum == sum
}

// opener returns the open function of a file of size bytes from cluster c.
func (v *fatVolume) opener(c uint32, size uint32) func() (io.ReadCloser, error) {
	return func() (io.ReadCloser, error) {
		switch {
		case size == 0:
			return io.NopCloser(bytes.NewReader(nil)), nil
		case c < 2 || c > v.maxCluster:
			return nil, fmt.Errorf("first cluster %d out of range", c)
		case int64(size) > int64(v.maxCluster-1)*v.clusterSize:
			return nil, fmt.Errorf("%d bytes: bigger than the volume", size)
		}
		return io.NopCloser(&fatFile{v: v, cluster: c, left: int64(size), seen: map[uint32]bool{c: true}}), nil
	}
}

// fatFile reads a file along its cluster chain, as far as it is read. A
// chain that ends before the file, loops, or goes on after it is an
// error.
type fatFile struct {
	v       *fatVolume
	cluster uint32
	inClus  int64 // bytes of the cluster read
	left    int64 // bytes of the file not read
	seen    map[uint32]bool
}

// Read implements io.Reader.
func (f *fatFile) Read(p []byte) (int, error) {
	if f.left == 0 {
		if f.seen == nil {
			return 0, io.EOF
		}
		f.seen = nil
		_, end, err := f.v.link(f.cluster)
		switch {
		case err != nil:
			return 0, err
		case !end:
			return 0, errors.New("cluster chain longer than the file")
		}
		return 0, io.EOF
	}
	if f.inClus == f.v.clusterSize {
		next, end, err := f.v.link(f.cluster)
		switch {
		case err != nil:
			return 0, err
		case end:
			return 0, errors.New("cluster chain shorter than the file")
		case f.seen[next]:
			return 0, fmt.Errorf("cluster chain loops at cluster %d", next)
		}
		f.seen[next] = true
		f.cluster, f.inClus = next, 0
	}
	n := min(int64(len(p)), f.v.clusterSize-f.inClus, f.left)
	if err := readAt(f.v.ra, p[:n], f.v.clusterOff(f.cluster)+f.inClus); err != nil {
		return 0, err
	}
	f.inClus += n
	f.left -= n
	return int(n), nil
}
