package mime

// Hostile archives: each case hid an executable from the inspection, or
// cost it without bound, while the tools that open such files showed the
// executable. They must be reported, or counted as uninspected.

import (
	"archive/tar"
	"archive/zip"
	"bytes"
	"compress/gzip"
	"crypto/aes"
	"crypto/cipher"
	"crypto/pbkdf2"
	"crypto/sha256"
	"encoding/binary"
	"fmt"
	"hash/crc32"
	"strings"
	"testing"
	"time"
	"unicode/utf16"
)

// evilPE is a PE "MZ" head padded to a block.
var evilPE = append(append([]byte{}, peBytes...), bytes.Repeat([]byte{0x90}, 64)...)

// patch7zAttrib sets the Windows attributes of the (single) file of a 7z
// archive written with a plain header (-mhc=off) and fixes both CRCs.
func patch7zAttrib(t *testing.T, a []byte, attrib uint32) []byte {
	t.Helper()
	a = append([]byte{}, a...)
	off := int(binary.LittleEndian.Uint64(a[12:]))
	n := int(binary.LittleEndian.Uint64(a[20:]))
	hdr := a[32+off : 32+off+n]
	// kWinAttributes(0x15) size(6) allDefined(1) external(0) attrib
	i := bytes.Index(hdr, []byte{0x15, 0x06, 0x01, 0x00})
	if i < 0 {
		t.Fatalf("no attribute property in header % x", hdr)
	}
	binary.LittleEndian.PutUint32(hdr[i+4:], attrib)
	binary.LittleEndian.PutUint32(a[28:], crc32.ChecksumIEEE(hdr))
	binary.LittleEndian.PutUint32(a[8:], crc32.ChecksumIEEE(a[12:32]))
	return a
}

// rar5Enc builds a RAR 5 archive of one stored entry encrypted with
// AES-256 (PBKDF2-HMAC-SHA256, 2^kdf rounds), WITHOUT a password check
// value and WITHOUT a CRC-32: nothing lets a wrong password be told.
func rar5Enc(name string, data []byte, password string, kdf byte) []byte {
	vint, block := rarVintAppend, rar5Block
	salt := bytes.Repeat([]byte{7}, 16)
	iv := bytes.Repeat([]byte{9}, 16)
	key, _ := pbkdf2.Key(sha256.New, password, salt, 1<<kdf, 32)
	padded := append([]byte{}, data...)
	for len(padded)%16 != 0 {
		padded = append(padded, 0)
	}
	blk, _ := aes.NewCipher(key)
	enc := make([]byte, len(padded))
	cipher.NewCBCEncrypter(blk, iv).CryptBlocks(enc, padded)

	out := []byte("Rar!\x1a\x07\x01\x00")
	out = block(out, vint(vint(vint(nil, 1), 0), 0), nil)
	rec := vint(vint(vint(nil, 1), 0), 0) // type 1 encryption, version 0, flags 0: no check, no MAC
	rec = append(rec, kdf)
	rec = append(rec, salt...)
	rec = append(rec, iv...)
	extra := vint(nil, uint64(len(rec)))
	extra = append(extra, rec...)
	f := vint(nil, 2)               // file header
	f = vint(f, 1|2)                // extra area, data area
	f = vint(f, uint64(len(extra))) // extra size
	f = vint(f, uint64(len(enc)))   // data size
	f = vint(f, 0)                  // file flags: no CRC-32
	f = vint(f, uint64(len(data)))  // unpacked size
	f = vint(f, 0x20)               // attributes
	f = vint(f, 0)                  // compression: stored
	f = vint(f, 0)                  // host OS Windows
	f = vint(f, uint64(len(name)))
	f = append(f, name...)
	f = append(f, extra...)
	out = block(out, f, enc)
	return block(out, vint(vint(vint(nil, 5), 0), 0), nil)
}

// zipCD builds a zip whose central directory holds n entries of empty
// names (46 bytes each), while the end record says n mod 65536.
func zipManyEntries(n int) []byte {
	var b bytes.Buffer
	// one local header for entry 0 (empty stored file)
	lh := make([]byte, 30)
	binary.LittleEndian.PutUint32(lh, 0x04034b50)
	binary.LittleEndian.PutUint16(lh[4:], 10)
	lh[26] = 1 // name length 1
	b.Write(lh)
	b.WriteString("a")
	cdStart := b.Len()
	rec := make([]byte, 46)
	binary.LittleEndian.PutUint32(rec, 0x02014b50)
	binary.LittleEndian.PutUint16(rec[4:], 20)
	binary.LittleEndian.PutUint16(rec[6:], 10)
	for i := 0; i < n; i++ {
		b.Write(rec)
	}
	cdSize := b.Len() - cdStart
	end := make([]byte, 22)
	binary.LittleEndian.PutUint32(end, 0x06054b50)
	binary.LittleEndian.PutUint16(end[8:], uint16(n))
	binary.LittleEndian.PutUint16(end[10:], uint16(n))
	binary.LittleEndian.PutUint32(end[12:], uint32(cdSize))
	binary.LittleEndian.PutUint32(end[16:], uint32(cdStart))
	b.Write(end)
	return b.Bytes()
}

func num7(v uint64) []byte {
	for n := 0; n < 8; n++ {
		if v < 1<<(8*n+7-n) {
			b := []byte{byte(^(0xff >> n)) | byte(v>>(8*n))}
			for i := 0; i < n; i++ {
				b = append(b, byte(v>>(8*i)))
			}
			return b
		}
	}
	b := []byte{0xff}
	return binary.LittleEndian.AppendUint64(b, v)
}

var saltSeq uint64

func key7z(pw string, salt []byte, cycles int) []byte {
	var b []byte
	b = append(b, salt...)
	for _, r := range utf16.Encode([]rune(pw)) {
		b = binary.LittleEndian.AppendUint16(b, r)
	}
	h := sha256.New()
	var ctr [8]byte
	for i := uint64(0); i < 1<<cycles; i++ {
		h.Write(b)
		binary.LittleEndian.PutUint64(ctr[:], i)
		h.Write(ctr[:])
	}
	return h.Sum(nil)
}

// build7zAES writes a 7z archive of n one-file folders, each AES-256
// encrypted (Copy, no compression) with its own salt: each needs a key
// derivation of 2^cycles SHA-256 rounds of its own.
func build7zAES(n int, pw string, cycles int, data []byte) []byte {
	var packed, hdr []byte
	var packSizes []int
	var props [][]byte
	for i := 0; i < n; i++ {
		saltSeq++
		salt := binary.LittleEndian.AppendUint64(bytes.Repeat([]byte{1}, 8), saltSeq)
		iv := bytes.Repeat([]byte{0x42}, 16)
		key := key7z(pw, salt, cycles)
		p := append([]byte{byte(cycles) | 0xc0, 0xff}, salt...)
		p = append(p, iv...)
		props = append(props, p)
		pad := append([]byte{}, data...)
		for len(pad)%16 != 0 {
			pad = append(pad, 0)
		}
		blk, _ := aes.NewCipher(key)
		enc := make([]byte, len(pad))
		cipher.NewCBCEncrypter(blk, iv).CryptBlocks(enc, pad)
		packed = append(packed, enc...)
		packSizes = append(packSizes, len(enc))
	}
	hdr = append(hdr, 0x01, 0x04, 0x06)
	hdr = append(hdr, num7(0)...)
	hdr = append(hdr, num7(uint64(n))...)
	hdr = append(hdr, 0x09)
	for _, s := range packSizes {
		hdr = append(hdr, num7(uint64(s))...)
	}
	hdr = append(hdr, 0x00, 0x07, 0x0b)
	hdr = append(hdr, num7(uint64(n))...)
	hdr = append(hdr, 0x00)
	for i := 0; i < n; i++ {
		hdr = append(hdr, 0x01, 0x24, 0x06, 0xf1, 0x07, 0x01)
		hdr = append(hdr, num7(uint64(len(props[i])))...)
		hdr = append(hdr, props[i]...)
	}
	hdr = append(hdr, 0x0c)
	for i := 0; i < n; i++ {
		hdr = append(hdr, num7(uint64(len(data)))...)
	}
	hdr = append(hdr, 0x0a, 0x01)
	for i := 0; i < n; i++ {
		hdr = binary.LittleEndian.AppendUint32(hdr, crc32.ChecksumIEEE(data))
	}
	hdr = append(hdr, 0x00) // end unpack info
	hdr = append(hdr, 0x08, 0x0d)
	for i := 0; i < n; i++ {
		hdr = append(hdr, 0x01)
	}
	hdr = append(hdr, 0x00, 0x00) // end substreams, end streams info
	hdr = append(hdr, 0x05)
	hdr = append(hdr, num7(uint64(n))...)
	var names []byte
	names = append(names, 0)
	for i := 0; i < n; i++ {
		for _, r := range utf16.Encode([]rune(fmt.Sprintf("f%03d.txt", i))) {
			names = binary.LittleEndian.AppendUint16(names, r)
		}
		names = append(names, 0, 0)
	}
	hdr = append(hdr, 0x11)
	hdr = append(hdr, num7(uint64(len(names)))...)
	hdr = append(hdr, names...)
	hdr = append(hdr, 0x00, 0x00)

	out := make([]byte, 32)
	copy(out, "7z\xbc\xaf\x27\x1c\x00\x04")
	binary.LittleEndian.PutUint64(out[12:], uint64(len(packed)))
	binary.LittleEndian.PutUint64(out[20:], uint64(len(hdr)))
	binary.LittleEndian.PutUint32(out[28:], crc32.ChecksumIEEE(hdr))
	binary.LittleEndian.PutUint32(out[8:], crc32.ChecksumIEEE(out[12:32]))
	out = append(out, packed...)
	return append(out, hdr...)
}

// findExe reports whether an archive tree lists name as an executable.
func findExe(a *Archive, name string) bool {
	if a == nil {
		return false
	}
	for _, e := range a.Entries {
		if (e.Name == name && e.Executable == "pe") || findExe(e.Archive, name) {
			return true
		}
	}
	return false
}

// A 7z entry with content and the directory attribute is a file: 7-Zip
// extracts it.
func TestHostile7zDirectoryAttribute(t *testing.T) {
	a := patch7zAttrib(t, sevenZip(t, map[string][]byte{"evil.exe": evilPE}, "-mhc=off", "-mx0"), 0x10)
	if res := inspect(t, a, "invoice.7z", DefaultLimits()); !findExe(res.Attachments[0].Archive, "evil.exe") {
		t.Errorf("plain: %s", listing(res.Attachments[0].Archive))
	}
	a = patch7zAttrib(t, sevenZip(t, map[string][]byte{"evil.exe": evilPE}, "-mhc=off", "-mx0", "-psecret"), 0x10)
	res := inspect(t, a, "invoice.7z", DefaultLimits())
	if ar := res.Attachments[0].Archive; !ar.Encrypted || !res.Has(GapEncrypted) {
		t.Errorf("encrypted: %s gaps %s", listing(ar), gaps(res))
	}
	if res := inspect(t, a, "invoice.7z", DefaultLimits(), "secret"); !findExe(res.Attachments[0].Archive, "evil.exe") {
		t.Errorf("decrypted: %s gaps %s", listing(res.Attachments[0].Archive), gaps(res))
	}
}

// A tar entry of a type tar does not know is extracted as a regular file
// by GNU tar and libarchive. A hard link that carries data (libarchive
// extracts it; archive/tar reads its data as the next header) is listed or
// a gap, never passed over.
func TestHostileTarTypes(t *testing.T) {
	for _, typ := range []byte{'Z', '8', 'M', tar.TypeLink} {
		var b bytes.Buffer
		w := tar.NewWriter(&b)
		w.WriteHeader(&tar.Header{Name: "evil.exe", Mode: 0o755, Size: int64(len(evilPE)), Typeflag: tar.TypeReg, Format: tar.FormatUSTAR})
		w.Write(evilPE)
		w.Close()
		a := b.Bytes()
		a[156] = typ
		sum := 0
		copy(a[148:156], "        ")
		for _, c := range a[:512] {
			sum += int(c)
		}
		copy(a[148:156], fmt.Sprintf("%06o\x00 ", sum))
		res := inspect(t, a, "invoice.tar", DefaultLimits())
		if !findExe(res.Attachments[0].Archive, "evil.exe") && !res.Has(GapArchive) {
			t.Errorf("type %q: %s gaps %s", typ, listing(res.Attachments[0].Archive), gaps(res))
		}
	}
}

// A zip appended to a gzip or a tar, named .zip, opens as that zip.
func TestHostileZipAppended(t *testing.T) {
	var g bytes.Buffer
	gw := gzip.NewWriter(&g)
	gw.Name = "readme.txt"
	gw.Write(bytes.Repeat([]byte("hello world\n"), 1000))
	gw.Close()
	var tb bytes.Buffer
	tw := tar.NewWriter(&tb)
	tw.WriteHeader(&tar.Header{Name: "readme.txt", Mode: 0o644, Size: 5, Typeflag: tar.TypeReg})
	tw.Write([]byte("hello"))
	tw.Close()
	z := storeZip(t, "evil.exe", evilPE)
	for name, front := range map[string][]byte{"gzip": g.Bytes(), "tar": tb.Bytes()} {
		poly := append(append([]byte{}, front...), z...)
		res := inspect(t, poly, "invoice.zip", DefaultLimits())
		if !findExe(res.Attachments[0].Archive, "evil.exe") {
			t.Errorf("%s then zip: %s gaps %s", name, listing(res.Attachments[0].Archive), gaps(res))
		}
		// Inside a zip, by the entry's name.
		res = inspect(t, storeZip(t, "invoice.zip", poly), "outer.zip", DefaultLimits())
		if !findExe(res.Attachments[0].Archive, "evil.exe") {
			t.Errorf("nested %s then zip: %s gaps %s", name, listing(res.Attachments[0].Archive), gaps(res))
		}
	}
}

// A RAR 5 entry with neither a CRC nor a password check decrypts to
// garbage under any password: no candidate can be said to fit, and the
// entry stays encrypted.
func TestHostileRar5Unverifiable(t *testing.T) {
	a := rar5Enc("invoice.exe", evilPE, "real-pass", 4)
	for _, pws := range [][]string{{"decoy"}, {"real-pass"}, {"decoy", "real-pass"}} {
		res := inspect(t, a, "invoice.rar", DefaultLimits(), pws...)
		e := res.Attachments[0].Archive.Entries[0]
		if e.Decrypted || !e.Encrypted || !res.Has(GapEncrypted) || !strings.Contains(gaps(res), "cannot be told") {
			t.Errorf("candidates %q: entry %+v gaps %s", pws, e, gaps(res))
		}
	}
}

// The end record's 16-bit count does not hide directory records:
// 65536*k+1 of them are a limit gap, found before they are loaded.
func TestHostileZipEntryCount(t *testing.T) {
	inner := zipManyEntries(65536*13 + 1)
	var outer bytes.Buffer
	w := zip.NewWriter(&outer)
	fw, _ := w.Create("inner.zip")
	fw.Write(inner)
	w.Close()
	start := time.Now()
	res := inspect(t, outer.Bytes(), "a.zip", DefaultLimits())
	if !res.Has(GapLimit) || !strings.Contains(gaps(res), "too many entries: 10001") {
		t.Errorf("gaps %s", gaps(res))
	}
	t.Logf("%d bytes of mail, %d of directory: %v", outer.Len(), len(inner), time.Since(start))
	if res := inspect(t, zipManyEntries(3), "b.zip", DefaultLimits()); res.Has(GapLimit) {
		t.Errorf("3 entries: %s", gaps(res))
	}
}

// Trying candidates is bounded in time per message, tries that fit
// included: what is left stays encrypted.
func TestHostileKeyDerivationCost(t *testing.T) {
	defer func(d time.Duration) { maxDecryptTime = d }(maxDecryptTime)
	// Far below one derivation of 2^20 rounds, however fast the machine:
	// the first try spends the budget.
	maxDecryptTime = time.Millisecond
	a := build7zAES(12, "pw", 20, []byte("hello"))
	start := time.Now()
	res := inspect(t, a, "a.7z", DefaultLimits(), "pw")
	took := time.Since(start)
	if !res.Has(GapEncrypted) || !strings.Contains(gaps(res), "allowed per message") {
		t.Errorf("gaps %s", gaps(res))
	}
	var wrong []string
	for i := range 16 {
		wrong = append(wrong, fmt.Sprintf("wrong%d", i))
	}
	start2 := time.Now()
	res = inspect(t, build7zAES(1, "pw", 20, []byte("hello")), "a.7z", DefaultLimits(), wrong...)
	took2 := time.Since(start2)
	if !res.Has(GapEncrypted) {
		t.Errorf("wrong candidates: gaps %s", gaps(res))
	}
	t.Logf("12 entries of 2^20 rounds: %v; 16 wrong candidates: %v (budget %v)", took, took2, maxDecryptTime)
}

// Entries no candidate can open (an encryption method not supported, a
// malformed encryption record) do not use up the message's password
// tries: the entries after them are still tried.
func TestHostileUndecryptableEntriesKeepTries(t *testing.T) {
	var b bytes.Buffer
	w := zip.NewWriter(&b)
	for i := range maxPasswordMisses + 10 {
		fw, err := w.CreateRaw(&zip.FileHeader{Name: fmt.Sprintf("f%d.bin", i), Method: 99, Flags: 0x1, CompressedSize64: 32, UncompressedSize64: 16})
		if err != nil {
			t.Fatal(err)
		}
		fw.Write(bytes.Repeat([]byte{0xAA}, 32))
	}
	w.Close()
	lim := DefaultLimits()
	res := inspect(t, b.Bytes(), "a.zip", lim, "pw")
	if g := gaps(res); strings.Contains(g, "password tries failed") || !strings.Contains(g, "not decrypted: zipcrypt") {
		t.Errorf("gaps %.300s", g)
	}
}
