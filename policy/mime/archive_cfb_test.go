package mime

import (
	"archive/zip"
	"bytes"
	"crypto/aes"
	"crypto/cipher"
	"crypto/sha1"
	"crypto/sha512"
	"encoding/base64"
	"encoding/binary"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"
	"time"
	"unicode/utf16"
)

// cfbOf writes a version 3 compound file of the named streams (paths with
// "/" are streams in storages): those under 4096 bytes in the mini
// stream, as [MS-CFB] 2.4 has it. mutate, when not nil, changes the directory entries
// (index, 128 bytes) before they are written, for hostile files.
func cfbOf(t testing.TB, streams map[string][]byte, mutate func(dir [][]byte)) []byte {
	t.Helper()
	const ss = 512
	type node struct {
		name     string
		typ      byte
		data     []byte
		children []int
	}
	nodes := []node{{name: "Root Entry", typ: cfbTypeRoot}}
	find := func(parent int, name string, typ byte) int {
		for _, c := range nodes[parent].children {
			if nodes[c].name == name {
				return c
			}
		}
		nodes = append(nodes, node{name: name, typ: typ})
		nodes[parent].children = append(nodes[parent].children, len(nodes)-1)
		return len(nodes) - 1
	}
	for _, p := range sortedNames(streams) {
		parts := strings.Split(p, "/")
		at := 0
		for _, s := range parts[:len(parts)-1] {
			at = find(at, s, cfbTypeStorage)
		}
		nodes[find(at, parts[len(parts)-1], cfbTypeStream)].data = streams[p]
	}
	var sectors [][]byte
	var fat []uint32
	alloc := func(data []byte) uint32 {
		if len(data) == 0 {
			return cfbEndOfChain
		}
		first := uint32(len(sectors))
		for i := 0; i < len(data); i += ss {
			s := make([]byte, ss)
			copy(s, data[i:])
			sectors = append(sectors, s)
			fat = append(fat, uint32(len(sectors)))
		}
		fat[len(fat)-1] = cfbEndOfChain
		return first
	}
	var mini []byte
	var miniFAT []uint32
	dir := make([][]byte, len(nodes))
	for i, n := range nodes {
		d := make([]byte, 128)
		u := utf16.Encode([]rune(n.name))
		for j, c := range u {
			binary.LittleEndian.PutUint16(d[2*j:], c)
		}
		binary.LittleEndian.PutUint16(d[64:], uint16(2*len(u)+2))
		d[66] = n.typ
		d[67] = 1
		binary.LittleEndian.PutUint32(d[68:], cfbNoStream)
		binary.LittleEndian.PutUint32(d[72:], cfbNoStream)
		binary.LittleEndian.PutUint32(d[76:], cfbNoStream)
		if len(n.children) > 0 {
			binary.LittleEndian.PutUint32(d[76:], uint32(n.children[0]))
		}
		if len(n.data) > 0 && len(n.data) < 4096 {
			binary.LittleEndian.PutUint32(d[116:], uint32(len(mini)/64))
			for j := 0; j < len(n.data); j += 64 {
				miniFAT = append(miniFAT, uint32(len(mini)/64+1))
				mini = append(mini, n.data[j:min(j+64, len(n.data))]...)
				mini = append(mini, make([]byte, (64-len(mini)%64)%64)...)
			}
			miniFAT[len(miniFAT)-1] = cfbEndOfChain
		} else {
			binary.LittleEndian.PutUint32(d[116:], alloc(n.data))
		}
		binary.LittleEndian.PutUint64(d[120:], uint64(len(n.data)))
		dir[i] = d
	}
	// Siblings as a chain of right links: a degenerate tree, which
	// readers accept.
	for _, n := range nodes {
		for k := 0; k+1 < len(n.children); k++ {
			binary.LittleEndian.PutUint32(dir[n.children[k]][72:], uint32(n.children[k+1]))
		}
	}
	binary.LittleEndian.PutUint32(dir[0][116:], alloc(mini))
	binary.LittleEndian.PutUint64(dir[0][120:], uint64(len(mini)))
	miniFATStart := uint32(cfbEndOfChain)
	if len(miniFAT) > 0 {
		b := make([]byte, 4*len(miniFAT))
		for i, v := range miniFAT {
			binary.LittleEndian.PutUint32(b[4*i:], v)
		}
		for len(b)%512 != 0 {
			b = append(b, 0xff)
		}
		miniFATStart = alloc(b)
	}
	if mutate != nil {
		mutate(dir)
	}
	dirStart := alloc(bytes.Join(dir, nil))
	// One FAT sector per 128 entries, itself marked FATSECT.
	nfat := (len(fat) + 2) / 127
	nfat++
	fatStart := uint32(len(sectors))
	for range nfat {
		sectors = append(sectors, make([]byte, ss))
		fat = append(fat, 0xfffffffd)
	}
	for i := range nfat {
		for j := 0; j < 128; j++ {
			v := uint32(0xffffffff)
			if k := i*128 + j; k < len(fat) {
				v = fat[k]
			}
			binary.LittleEndian.PutUint32(sectors[int(fatStart)+i][4*j:], v)
		}
	}
	h := make([]byte, 512)
	copy(h, cfbSignature)
	binary.LittleEndian.PutUint16(h[24:], 0x3e)
	binary.LittleEndian.PutUint16(h[26:], 3)
	binary.LittleEndian.PutUint16(h[28:], 0xfffe)
	binary.LittleEndian.PutUint16(h[30:], 9)
	binary.LittleEndian.PutUint16(h[32:], 6)
	binary.LittleEndian.PutUint32(h[44:], uint32(nfat))
	binary.LittleEndian.PutUint32(h[48:], dirStart)
	binary.LittleEndian.PutUint32(h[56:], 4096)
	binary.LittleEndian.PutUint32(h[60:], miniFATStart)
	binary.LittleEndian.PutUint32(h[64:], uint32((len(miniFAT)*4+511)/512))
	binary.LittleEndian.PutUint32(h[68:], cfbEndOfChain)
	for i := range 109 {
		v := uint32(0xffffffff)
		if i < nfat {
			v = fatStart + uint32(i)
		}
		binary.LittleEndian.PutUint32(h[76+4*i:], v)
	}
	return append(h, bytes.Join(sectors, nil)...)
}

// agileEncrypt encrypts pkg with password as ECMA-376 agile encryption
// (AES-256, SHA-512, 100000 spins), written from [MS-OFFCRYPTO] 2.3.4.10
// to 2.3.4.15 in the direction Office writes it: a second implementation
// of the reader's steps. msoffcrypto-tool decrypts the result in the
// tests, so that the file is one another reader opens.
func agileEncrypt(t testing.TB, pkg []byte, password string, spin int) []byte {
	t.Helper()
	salt := func(b byte) []byte { return bytes.Repeat([]byte{b}, 16) }
	keySalt, pwSalt := salt(0x11), salt(0x22)
	secret := bytes.Repeat([]byte{0x5a, 0xa5}, 16)
	pw := utf16LE([]byte(password))
	spun := spinHash(sha512.New, pwSalt, pw, spin)
	derive := func(block []byte) []byte {
		h := sha512.New()
		h.Write(spun)
		h.Write(block)
		return h.Sum(nil)[:32]
	}
	enc := func(key, iv, data []byte) []byte {
		b, _ := aes.NewCipher(key)
		padded := append([]byte(nil), data...)
		for len(padded)%16 != 0 {
			padded = append(padded, 0)
		}
		out := make([]byte, len(padded))
		cipher.NewCBCEncrypter(b, iv).CryptBlocks(out, padded)
		return out
	}
	verifier := salt(0x33)
	vh := sha512.Sum512(verifier)
	b64 := base64.StdEncoding.EncodeToString
	encVerIn := enc(derive(blockVerifierIn), pwSalt, verifier)
	encVerOut := enc(derive(blockVerifierOut), pwSalt, vh[:])
	encKey := enc(derive(blockKeyValue), pwSalt, secret)
	xmlText := fmt.Sprintf(`<?xml version="1.0" encoding="UTF-8" standalone="yes"?>`+"\r\n"+
		`<encryption xmlns="http://schemas.microsoft.com/office/2006/encryption" xmlns:p="http://schemas.microsoft.com/office/2006/keyEncryptor/password">`+
		`<keyData saltSize="16" blockSize="16" keyBits="256" hashSize="64" cipherAlgorithm="AES" cipherChaining="ChainingModeCBC" hashAlgorithm="SHA512" saltValue="%s"/>`+
		`<dataIntegrity encryptedHmacKey="" encryptedHmacValue=""/>`+
		`<keyEncryptors><keyEncryptor uri="http://schemas.microsoft.com/office/2006/keyEncryptor/password">`+
		`<p:encryptedKey spinCount="%d" saltSize="16" blockSize="16" keyBits="256" hashSize="64" cipherAlgorithm="AES" cipherChaining="ChainingModeCBC" hashAlgorithm="SHA512" saltValue="%s" encryptedVerifierHashInput="%s" encryptedVerifierHashValue="%s" encryptedKeyValue="%s"/>`+
		`</keyEncryptor></keyEncryptors></encryption>`,
		b64(keySalt), spin, b64(pwSalt), b64(encVerIn), b64(encVerOut), b64(encKey))
	info := append([]byte{4, 0, 4, 0, 0x40, 0, 0, 0}, xmlText...)
	var data bytes.Buffer
	binary.Write(&data, binary.LittleEndian, uint64(len(pkg)))
	for i := 0; i*officeSegment < len(pkg); i++ {
		seg := pkg[i*officeSegment : min(len(pkg), (i+1)*officeSegment)]
		h := sha512.New()
		h.Write(keySalt)
		binary.Write(h, binary.LittleEndian, uint32(i))
		data.Write(enc(secret, h.Sum(nil)[:16], seg))
	}
	return cfbOf(t, map[string][]byte{"EncryptionInfo": info, "EncryptedPackage": data.Bytes()}, nil)
}

// standardEncrypt encrypts pkg with password as ECMA-376 standard
// encryption, what Office 2007 writes (AES-128 in ECB mode, SHA-1, 50000
// spins), from [MS-OFFCRYPTO] in the direction Office writes it: the
// EncryptionInfo stream (2.3.4.5) with its EncryptionHeader (2.3.2) and
// EncryptionVerifier (2.3.3), the key derived as 2.3.4.7 says, the
// verifier encrypted as 2.3.4.8 says, and the package encrypted in 16-byte
// blocks after its size (2.3.4.4).
func standardEncrypt(t testing.TB, pkg []byte, password string) []byte {
	t.Helper()
	le := binary.LittleEndian
	salt := bytes.Repeat([]byte{0x44}, 16)
	verifier := bytes.Repeat([]byte{0x55, 0xaa}, 8)
	// 2.3.4.7: H0 = SHA1(salt + password), Hn = SHA1(iterator + Hn-1)
	// for 50000 iterators, Hfinal = SHA1(H + block 0); then X1 and X2,
	// SHA-1 of 64 bytes of 0x36 and of 0x5C XORed with Hfinal: the key is
	// the first 16 bytes of X1 + X2.
	h := sha1.Sum(append(append([]byte(nil), salt...), utf16LE([]byte(password))...))
	for i := range 50000 {
		var it [4]byte
		le.PutUint32(it[:], uint32(i))
		h = sha1.Sum(append(it[:], h[:]...))
	}
	final := sha1.Sum(append(h[:], 0, 0, 0, 0))
	x := func(c byte) []byte {
		b := bytes.Repeat([]byte{c}, 64)
		for i := range final {
			b[i] ^= final[i]
		}
		s := sha1.Sum(b)
		return s[:]
	}
	key := append(x(0x36), x(0x5c)...)[:16]
	block, err := aes.NewCipher(key)
	if err != nil {
		t.Fatal(err)
	}
	ecb := func(data []byte) []byte {
		out := append([]byte(nil), data...)
		out = append(out, make([]byte, (16-len(out)%16)%16)...)
		for i := 0; i < len(out); i += 16 {
			block.Encrypt(out[i:], out[i:])
		}
		return out
	}
	vh := sha1.Sum(verifier)
	var info bytes.Buffer
	w := func(v any) { binary.Write(&info, le, v) }
	// Version 3.2, flags fCryptoAPI | fAES.
	w(uint16(3))
	w(uint16(2))
	w(uint32(0x24))
	var hdr bytes.Buffer
	for _, v := range []uint32{0x24, 0, 0x660e, 0x8004, 128, 0x18, 0, 0} {
		binary.Write(&hdr, le, v)
	}
	hdr.Write(utf16LE([]byte("Microsoft Enhanced RSA and AES Cryptographic Provider\x00")))
	w(uint32(hdr.Len()))
	info.Write(hdr.Bytes())
	w(uint32(16))
	info.Write(salt)
	info.Write(ecb(verifier))
	w(uint32(20))
	info.Write(ecb(vh[:]))
	var data bytes.Buffer
	binary.Write(&data, le, uint64(len(pkg)))
	data.Write(ecb(pkg))
	return cfbOf(t, map[string][]byte{"EncryptionInfo": info.Bytes(), "EncryptedPackage": data.Bytes()}, nil)
}

// TestOOXMLStandard: a package encrypted with standard encryption, which
// msoffcrypto-tool decrypts too, is decrypted by its password and by no
// other.
func TestOOXMLStandard(t *testing.T) {
	t.Parallel()
	// An image that does not compress: the package spans several of the
	// reader's 4096-byte segments, the last one short.
	var image []byte
	for h := sha512.Sum512([]byte("x")); len(image) < 10000; h = sha512.Sum512(h[:]) {
		image = append(image, h[:]...)
	}
	xlsx := zipOf(t, map[string][]byte{"[Content_Types].xml": []byte("<Types/>"), "xl/workbook.xml": []byte("<workbook/>"),
		"xl/embeddings/見積.exe": peBytes, "xl/media/image1.png": image})
	enc := standardEncrypt(t, xlsx, "秘密 pass")
	if got := msoffDecrypt(t, enc, "秘密 pass"); !bytes.Equal(got, xlsx) {
		t.Fatalf("msoffcrypto-tool decrypts the vector to %d bytes, not the package", len(got))
	}
	// The reader's own steps: the verifier refuses a wrong password, and
	// the right one gives the package back, byte for byte.
	c := parseStandardInfo(t, enc)
	if c.what != "standard encryption, AES-128, SHA1" {
		t.Errorf("what = %q", c.what)
	}
	if _, err := c.key([]byte("秘密 pas")); err != errWrongPassword {
		t.Errorf("wrong password: %v", err)
	}
	key, err := c.key([]byte("秘密 pass"))
	if err != nil {
		t.Fatal(err)
	}
	f, err := readCFB(bytes.NewReader(enc), int64(len(enc)))
	if err != nil {
		t.Fatal(err)
	}
	s, err := f.open(f.rootStream("EncryptedPackage"))
	if err != nil {
		t.Fatal(err)
	}
	r, err := c.newPackageReader(key, s, s.size)
	if err != nil {
		t.Fatal(err)
	}
	var got bytes.Buffer
	if _, err := got.ReadFrom(r); err != nil || !bytes.Equal(got.Bytes(), xlsx) {
		t.Fatalf("decrypted package: %d bytes, %v", got.Len(), err)
	}
	// Through the inspection: locked without its password, read with it.
	res := inspectDoc(t, "見積.xlsx", enc, "wrong")
	if a := res.Attachments[0].Archive; a == nil || a.Format != FormatOOXMLEncrypt || a.Entries[0].Decrypted ||
		!strings.Contains(gapsOf(res), "encrypted Office document (standard encryption, AES-128, SHA1): no password candidate fits") {
		t.Fatalf("wrong password: %+v\n%s", a, gapsOf(res))
	}
	res = inspectDoc(t, "見積.xlsx", enc, "wrong", "秘密 pass")
	inner := res.Attachments[0].Archive.Entries[0].Archive
	if !res.Attachments[0].Archive.Entries[0].Decrypted || inner == nil || len(inner.Entries) != 4 || inner.Entries[1].Executable != ExecPE {
		t.Fatalf("decrypted: %+v", inner)
	}
}

// parseStandardInfo reads the EncryptionInfo stream of an encrypted
// document.
func parseStandardInfo(t testing.TB, enc []byte) *officeCrypt {
	t.Helper()
	f, err := readCFB(bytes.NewReader(enc), int64(len(enc)))
	if err != nil {
		t.Fatal(err)
	}
	b, err := f.head(f.rootStream("EncryptionInfo"), maxCFBSmall)
	if err != nil {
		t.Fatal(err)
	}
	c, err := parseEncryptionInfo(b)
	if err != nil {
		t.Fatal(err)
	}
	return c
}

// msoffDecrypt decrypts an encrypted Office file with msoffcrypto-tool and
// returns the package.
func msoffDecrypt(t testing.TB, enc []byte, password string) []byte {
	t.Helper()
	dir := files(t, map[string][]byte{"enc": enc})
	run(t, dir, "dec", tool(t, "msoffcrypto-tool"), "-p", password, "enc", "dec")
	b, err := os.ReadFile(filepath.Join(dir, "dec"))
	if err != nil {
		t.Fatal(err)
	}
	return b
}

// zipOf writes a zip of fs, names in order.
func zipOf(t testing.TB, fs map[string][]byte) []byte {
	t.Helper()
	var b bytes.Buffer
	w := zip.NewWriter(&b)
	for _, n := range sortedNames(fs) {
		f, err := w.Create(n)
		if err != nil {
			t.Fatal(err)
		}
		f.Write(fs[n])
	}
	if err := w.Close(); err != nil {
		t.Fatal(err)
	}
	return b.Bytes()
}

// inspectDoc inspects data as an attachment named name, with passwords.
func inspectDoc(t testing.TB, name string, data []byte, passwords ...string) *Result {
	t.Helper()
	var pws [][]byte
	for _, p := range passwords {
		pws = append(pws, []byte(p))
	}
	lim := DefaultLimits()
	lim.TempDir = t.TempDir()
	res, err := InspectFile(bytes.NewReader(data), name, "application/octet-stream", lim, pws)
	if err != nil {
		t.Fatal(err)
	}
	return res
}

// gapsOf lists the classes and reasons of a result's gaps.
func gapsOf(res *Result) string {
	var s []string
	for _, g := range res.Uninspected {
		s = append(s, string(g.Class)+": "+g.Reason)
	}
	return strings.Join(s, "\n")
}

func TestOOXMLAgile(t *testing.T) {
	t.Parallel()
	xlsx := zipOf(t, map[string][]byte{"[Content_Types].xml": []byte("<Types/>"), "xl/workbook.xml": []byte("<workbook/>")})
	enc := agileEncrypt(t, xlsx, "秘密 pass", 100000)
	if got := msoffDecrypt(t, enc, "秘密 pass"); !bytes.Equal(got, xlsx) {
		t.Fatalf("msoffcrypto-tool decrypts the vector to %d bytes, not the package", len(got))
	}
	// No password: an encrypted document, with its gap.
	res := inspectDoc(t, "見積.xlsx", enc)
	a := res.Attachments[0].Archive
	if a == nil || a.Format != FormatOOXMLEncrypt || !a.Encrypted || len(a.Entries) != 1 || !a.Entries[0].Encrypted || a.Entries[0].Decrypted {
		t.Fatalf("archive = %+v", a)
	}
	if g := gapsOf(res); !strings.Contains(g, "encrypted: ") || !strings.Contains(g, "encrypted Office document (agile encryption, AES-256, SHA512)") {
		t.Errorf("gaps:\n%s", g)
	}
	// A wrong candidate: still locked.
	res = inspectDoc(t, "見積.xlsx", enc, "wrong")
	if a := res.Attachments[0].Archive; a.Entries[0].Decrypted || !strings.Contains(gapsOf(res), "no password candidate fits") {
		t.Errorf("wrong password: %+v\n%s", a, gapsOf(res))
	}
	// The right one: the package is read as the zip it is.
	res = inspectDoc(t, "見積.xlsx", enc, "wrong", "秘密 pass")
	a = res.Attachments[0].Archive
	if !a.Entries[0].Decrypted || a.Entries[0].Archive == nil || a.Entries[0].Archive.Format != FormatZip || len(a.Entries[0].Archive.Entries) != 2 {
		t.Fatalf("decrypted: %+v", a.Entries[0])
	}
	if len(res.Uninspected) != 0 {
		t.Errorf("gaps after decryption:\n%s", gapsOf(res))
	}
	// A package with an executable in it: found once decrypted.
	enc = agileEncrypt(t, zipOf(t, map[string][]byte{"word/document.xml": []byte("<w/>"), "word/embeddings/invoice.exe": peBytes}), "pw", 1000)
	res = inspectDoc(t, "a.docx", enc, "pw")
	inner := res.Attachments[0].Archive.Entries[0].Archive
	if inner == nil || len(inner.Entries) != 2 || inner.Entries[1].Executable != ExecPE {
		t.Fatalf("inner = %+v", inner)
	}
}

// olePackageOf is the Ole10Native stream of a file embedded with Packager.
func olePackageOf(name string, data []byte) []byte {
	var b bytes.Buffer
	b.Write([]byte{0, 0, 0, 0, 2, 0})
	b.WriteString(name + "\x00")
	b.WriteString(`C:\Users\a\` + name + "\x00")
	tmp := `C:\Users\a\AppData\Local\Temp\` + name + "\x00"
	binary.Write(&b, binary.LittleEndian, uint32(0x00030000))
	binary.Write(&b, binary.LittleEndian, uint32(len(tmp)))
	b.WriteString(tmp)
	binary.Write(&b, binary.LittleEndian, uint32(len(data)))
	b.Write(data)
	out := b.Bytes()
	binary.LittleEndian.PutUint32(out, uint32(len(out)-4))
	return out
}

func TestCFBPackages(t *testing.T) {
	t.Parallel()
	doc := cfbOf(t, map[string][]byte{
		"WordDocument":                  append([]byte("\xec\xa5\xc1\x00"), make([]byte, 600)...),
		"1Table":                        make([]byte, 5000),
		"ObjectPool/_1/\x01Ole10Native": olePackageOf("請求書.exe", peBytes),
	}, nil)
	res := inspectDoc(t, "a.doc", doc)
	a := res.Attachments[0].Archive
	if a == nil || a.Format != FormatCFB || a.Encrypted || len(a.Entries) != 1 || a.Entries[0].Name != "請求書.exe" || a.Entries[0].Executable != ExecPE {
		t.Fatalf("archive = %+v", a)
	}
	// Without packages, a compound file is the plain file it was.
	plain := cfbOf(t, map[string][]byte{"WordDocument": append([]byte("\xec\xa5\xc1\x00"), make([]byte, 600)...), "1Table": make([]byte, 5000)}, nil)
	if res := inspectDoc(t, "a.doc", plain); res.Attachments[0].Archive != nil || len(res.Uninspected) != 0 {
		t.Errorf("plain compound file: %+v\n%s", res.Attachments[0].Archive, gapsOf(res))
	}
}

// TestCFBHostile: compound files whose chains and trees lie end with a
// gap, at once.
func TestCFBHostile(t *testing.T) {
	t.Parallel()
	streams := map[string][]byte{"WordDocument": make([]byte, 5000), "ObjectPool/_1/\x01Ole10Native": olePackageOf("a.exe", peBytes)}
	loopTree := cfbOf(t, streams, func(dir [][]byte) {
		// The last entry's right sibling is the root's first child.
		binary.LittleEndian.PutUint32(dir[len(dir)-1][72:], 1)
		binary.LittleEndian.PutUint32(dir[len(dir)-1][68:], 1)
	})
	childLoop := cfbOf(t, streams, func(dir [][]byte) {
		for i := range dir {
			if dir[i][66] == cfbTypeStorage {
				binary.LittleEndian.PutUint32(dir[i][76:], 0)
			}
		}
	})
	hugeSize := cfbOf(t, streams, func(dir [][]byte) {
		for i := range dir {
			binary.LittleEndian.PutUint64(dir[i][120:], 0xfffffff0)
		}
	})
	fatLoop := cfbOf(t, streams, nil)
	// The FAT's first entry points to itself: the WordDocument chain loops.
	binary.LittleEndian.PutUint32(fatLoop[512*(1+binary.LittleEndian.Uint32(fatLoop[76:])):], 0)
	manyFAT := cfbOf(t, streams, nil)
	binary.LittleEndian.PutUint32(manyFAT[44:], 0x7fffffff)
	for name, data := range map[string][]byte{"tree loop": loopTree, "child loop": childLoop, "huge size": hugeSize, "fat loop": fatLoop, "FAT count": manyFAT, "truncated": fatLoop[:700]} {
		start := time.Now()
		res := inspectDoc(t, "a.doc", data)
		if time.Since(start) > 5*time.Second {
			t.Errorf("%s: took %v", name, time.Since(start))
		}
		if g := gapsOf(res); !strings.HasPrefix(g, "archive: ") {
			t.Errorf("%s: gaps %q", name, g)
		}
	}
}

// libreOffice converts src (named name) with LibreOffice's filter, saving
// it with password when one is given: a Basic macro in a profile of its
// own stores the document with the Password property, as Save As with a
// password does.
func libreOffice(t testing.TB, name string, src []byte, filter, ext, password string) []byte {
	t.Helper()
	if testing.Short() {
		t.Skip("needs LibreOffice, which takes seconds to start: run without -short")
	}
	soffice := tool(t, "soffice")
	dir := files(t, map[string][]byte{name: src})
	prof := filepath.Join(dir, "profile")
	basic := filepath.Join(prof, "user", "basic", "Standard")
	macro := `<?xml version="1.0" encoding="UTF-8"?>
<!DOCTYPE script:module PUBLIC "-//OpenOffice.org//DTD OfficeDocument 1.0//EN" "module.dtd">
<script:module xmlns:script="http://openoffice.org/2000/script" script:name="Module1" script:language="StarBasic">
Sub Save(src As String, dst As String, filter As String, pw As String)
  Dim args(0) As New com.sun.star.beans.PropertyValue
  args(0).Name = "Hidden"
  args(0).Value = True
  doc = StarDesktop.loadComponentFromURL(ConvertToURL(src), "_blank", 0, args())
  Dim out(1) As New com.sun.star.beans.PropertyValue
  out(0).Name = "FilterName"
  out(0).Value = filter
  out(1).Name = "Password"
  out(1).Value = pw
  If pw = "" Then out(1).Name = "Overwrite"
  If pw = "" Then out(1).Value = True
  doc.storeToURL(ConvertToURL(dst), out())
  doc.close(True)
End Sub
</script:module>`
	macro = strings.NewReplacer(`"Hidden"`, "&quot;Hidden&quot;", `"_blank"`, "&quot;_blank&quot;", `"FilterName"`, "&quot;FilterName&quot;",
		`"Password"`, "&quot;Password&quot;", `""`, "&quot;&quot;", `"Overwrite"`, "&quot;Overwrite&quot;").Replace(macro)
	lib := `<?xml version="1.0" encoding="UTF-8"?>
<!DOCTYPE library:library PUBLIC "-//OpenOffice.org//DTD OfficeDocument 1.0//EN" "library.dtd">
<library:library xmlns:library="http://openoffice.org/2000/library" library:name="Standard" library:readonly="false" library:passwordprotected="false">
 <library:element library:name="Module1"/>
</library:library>`
	// A first start creates the profile; the macro is written into it.
	init := exec.Command(soffice, "-env:UserInstallation=file://"+prof, "--headless", "--terminate_after_init")
	if b, err := init.CombinedOutput(); err != nil {
		t.Fatalf("soffice: %v\n%s", err, b)
	}
	if err := os.WriteFile(filepath.Join(basic, "Module1.xba"), []byte(macro), 0o644); err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(filepath.Join(basic, "script.xlb"), []byte(lib), 0o644); err != nil {
		t.Fatal(err)
	}
	out := "out." + ext
	call := fmt.Sprintf(`macro:///Standard.Module1.Save(%q,%q,%q,%q)`, filepath.Join(dir, name), filepath.Join(dir, out), filter, password)
	return run(t, dir, out, soffice, "-env:UserInstallation=file://"+prof, "--headless", call)
}

// TestLegacyEncrypted: Excel 97-2003 and Word 97-2003 files that
// LibreOffice saves with a password are encrypted documents, which the
// right password candidate opens (as msoffcrypto-tool does) and a wrong
// one does not; saved without one, they are the plain files they were.
// CSV named .xls and HTML named .doc are no compound files at all.
func TestLegacyEncrypted(t *testing.T) {
	t.Parallel()
	csv := []byte("品名,数量\nりんご,3\n")
	xls := libreOffice(t, "t.csv", csv, "MS Excel 97", "xls", "")
	res := inspectDoc(t, "a.xls", xls)
	if res.Attachments[0].Archive != nil || len(res.Uninspected) != 0 {
		t.Errorf("plain .xls: %+v\n%s", res.Attachments[0].Archive, gapsOf(res))
	}
	docs := []struct{ name, format, what string }{
		{"a.xls", FormatXLSEncrypt, "Excel 97-2003 workbook"},
		{"a.doc", FormatDocEncrypt, "Word 97-2003 file"},
	}
	for _, d := range docs {
		var enc []byte
		if d.format == FormatXLSEncrypt {
			enc = libreOffice(t, "t.csv", csv, "MS Excel 97", "xls", "秘密")
		} else {
			enc = libreOffice(t, "t.txt", []byte("見積書\n"), "MS Word 97", "doc", "秘密")
		}
		// The password is the one msoffcrypto-tool decrypts it with.
		msoffDecrypt(t, enc, "秘密")
		res := inspectDoc(t, d.name, enc, "wrong", "秘密")
		a := res.Attachments[0].Archive
		if a == nil || a.Format != d.format || !a.Encrypted || a.Undecryptable || len(a.Entries) != 1 ||
			!a.Entries[0].Decrypted || len(res.Uninspected) != 0 {
			t.Errorf("%s with its password: %+v\n%s", d.name, a, gapsOf(res))
		}
		res = inspectDoc(t, d.name, enc, "wrong", "秘密!")
		a = res.Attachments[0].Archive
		if a == nil || a.Format != d.format || a.Undecryptable || len(a.Entries) != 1 || a.Entries[0].Decrypted ||
			!strings.Contains(gapsOf(res), "encrypted Office document ("+d.what+", RC4") ||
			!strings.Contains(gapsOf(res), "no password candidate fits") {
			t.Errorf("%s with wrong candidates: %+v\n%s", d.name, a, gapsOf(res))
		}
		t.Logf("%s: %s", d.name, gapsOf(res))
	}
	for name, data := range map[string][]byte{"a.xls": csv, "b.doc": []byte("<html><body>見積</body></html>")} {
		res := inspectDoc(t, name, data)
		if res.Attachments[0].Archive != nil || len(res.Uninspected) != 0 {
			t.Errorf("%s: %+v\n%s", name, res.Attachments[0].Archive, gapsOf(res))
		}
	}
}

// TestDocumentFixtures keeps testdata/documents, the encrypted documents
// other packages' tests attach (with -update, they are written anew):
// each decrypts with msoffcrypto-tool to the package it holds.
func TestDocumentFixtures(t *testing.T) {
	t.Parallel()
	fixtures := map[string][]byte{
		"harmless.xlsx": zipOf(t, map[string][]byte{"[Content_Types].xml": []byte("<Types/>"), "xl/workbook.xml": []byte("<workbook/>")}),
		"exe.docx":      zipOf(t, map[string][]byte{"[Content_Types].xml": []byte("<Types/>"), "word/document.xml": []byte("<w/>"), "word/embeddings/invoice.exe": peBytes}),
	}
	for name, pkg := range fixtures {
		path := filepath.Join("testdata", "documents", name)
		if *update {
			if err := os.MkdirAll(filepath.Dir(path), 0o755); err != nil {
				t.Fatal(err)
			}
			if err := os.WriteFile(path, agileEncrypt(t, pkg, "Pw-2026", 100000), 0o644); err != nil {
				t.Fatal(err)
			}
		}
		enc, err := os.ReadFile(path)
		if err != nil {
			t.Fatal(err)
		}
		if got := msoffDecrypt(t, enc, "Pw-2026"); !bytes.Equal(got, pkg) {
			t.Errorf("%s: msoffcrypto-tool decrypts it to another package", name)
		}
	}
}
