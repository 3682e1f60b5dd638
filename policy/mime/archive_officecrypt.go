package mime

// Office documents encrypted with a password by ECMA-376 (Office 2007 and
// later, [MS-OFFCRYPTO] 2.3.4): a compound file with an EncryptionInfo
// stream, which says how the key is derived from the password, and an
// EncryptedPackage stream, the encrypted zip package. Agile encryption
// (2.3.4.10-15, Office 2010 and later, and what msoffcrypto-tool writes)
// and standard encryption (2.3.4.5-9, Office 2007) are decrypted with the
// standard library's AES and SHA; the password is checked against the
// verifier before the package is decrypted. Extensible encryption and
// RC4 CryptoAPI are recognised and not decrypted.

import (
	"bytes"
	"crypto/aes"
	"crypto/cipher"
	"crypto/sha1"
	"crypto/sha256"
	"crypto/sha512"
	"crypto/subtle"
	"encoding/base64"
	"encoding/binary"
	"encoding/xml"
	"errors"
	"fmt"
	"hash"
	"io"
	"unicode/utf16"
)

// maxSpinCount is the most hash rounds a key derivation may ask for
// ([MS-OFFCRYPTO] 2.3.4.10: spinCount is at most 10,000,000).
const maxSpinCount = 10_000_000

// standardSpinCount is the hash rounds of standard encryption (2.3.4.7).
const standardSpinCount = 50000

// errWrongPassword: a password candidate does not fit the verifier.
var errWrongPassword = errors.New("wrong password")

// officeCrypt is how the package of an encrypted Office document is
// encrypted.
type officeCrypt struct {
	what  string // for gap reasons: "agile encryption, AES-256, SHA512"
	agile bool
	// Agile: the key data (how the package is encrypted) and the password
	// key encryptor (how the package's key is derived and checked).
	data, pw    agileParams
	spin        int
	verifierIn  []byte
	verifierOut []byte
	keyValue    []byte
	// Standard: the salt, the encrypted verifier and its hash, and the
	// key size in bytes.
	salt, verifier, verifierHash []byte
	keyLen                       int
}

// agileParams are the attributes of a keyData or encryptedKey element
// (2.3.4.10).
type agileParams struct {
	salt      []byte
	blockSize int
	keyLen    int
	hashSize  int
	hash      func() hash.Hash
}

// agileXML is the XML of agile EncryptionInfo (2.3.4.10), as much as is
// read.
type agileXML struct {
	KeyData       agileAttrs `xml:"keyData"`
	KeyEncryptors []struct {
		URI string      `xml:"uri,attr"`
		Key *agileAttrs `xml:"encryptedKey"`
	} `xml:"keyEncryptors>keyEncryptor"`
}

type agileAttrs struct {
	SaltSize        int    `xml:"saltSize,attr"`
	BlockSize       int    `xml:"blockSize,attr"`
	KeyBits         int    `xml:"keyBits,attr"`
	HashSize        int    `xml:"hashSize,attr"`
	CipherAlgorithm string `xml:"cipherAlgorithm,attr"`
	CipherChaining  string `xml:"cipherChaining,attr"`
	HashAlgorithm   string `xml:"hashAlgorithm,attr"`
	SaltValue       string `xml:"saltValue,attr"`
	SpinCount       int    `xml:"spinCount,attr"`
	VerifierIn      string `xml:"encryptedVerifierHashInput,attr"`
	VerifierOut     string `xml:"encryptedVerifierHashValue,attr"`
	KeyValue        string `xml:"encryptedKeyValue,attr"`
}

// passwordKeyEncryptor is the URI of the key encryptor that derives the
// key from a password (2.3.4.10).
const passwordKeyEncryptor = "http://schemas.microsoft.com/office/2006/keyEncryptor/password"

// parseEncryptionInfo reads an EncryptionInfo stream (2.3.4.5 for
// standard, 2.3.4.10 for agile encryption). An error says why the
// document cannot be decrypted here.
func parseEncryptionInfo(b []byte) (*officeCrypt, error) {
	if len(b) < 8 {
		return nil, errors.New("EncryptionInfo is too short")
	}
	le := binary.LittleEndian
	major, minor, flags := le.Uint16(b), le.Uint16(b[2:]), le.Uint32(b[4:])
	switch {
	case major == 4 && minor == 4:
		return parseAgile(b[8:])
	case (major == 2 || major == 3 || major == 4) && minor == 2:
		return parseStandard(b, flags)
	case (major == 3 || major == 4) && minor == 3:
		return nil, errors.New("extensible encryption")
	}
	return nil, fmt.Errorf("EncryptionInfo version %d.%d", major, minor)
}

// parseAgile reads the XML of agile encryption.
func parseAgile(b []byte) (*officeCrypt, error) {
	var x agileXML
	if err := xml.Unmarshal(b, &x); err != nil {
		return nil, fmt.Errorf("agile EncryptionInfo: %w", err)
	}
	var pk *agileAttrs
	for _, k := range x.KeyEncryptors {
		if k.URI == passwordKeyEncryptor && k.Key != nil {
			pk = k.Key
		}
	}
	if pk == nil {
		return nil, errors.New("agile encryption without a password key encryptor (a certificate only)")
	}
	c := &officeCrypt{agile: true, spin: pk.SpinCount}
	var err error
	if c.data, err = agileParamsOf(&x.KeyData); err != nil {
		return nil, err
	}
	if c.pw, err = agileParamsOf(pk); err != nil {
		return nil, err
	}
	if c.spin < 0 || c.spin > maxSpinCount {
		return nil, fmt.Errorf("spin count %d", c.spin)
	}
	for _, v := range []struct {
		dst *[]byte
		s   string
	}{{&c.verifierIn, pk.VerifierIn}, {&c.verifierOut, pk.VerifierOut}, {&c.keyValue, pk.KeyValue}} {
		*v.dst, err = base64.StdEncoding.DecodeString(v.s)
		if err != nil || len(*v.dst) == 0 || len(*v.dst)%aes.BlockSize != 0 {
			return nil, errors.New("agile EncryptionInfo: bad encrypted verifier or key")
		}
	}
	c.what = fmt.Sprintf("agile encryption, AES-%d, %s", c.data.keyLen*8, x.KeyData.HashAlgorithm)
	return c, nil
}

// agileParamsOf checks the attributes of a keyData or encryptedKey: AES in
// CBC mode and a SHA hash are decrypted.
func agileParamsOf(a *agileAttrs) (agileParams, error) {
	p := agileParams{blockSize: a.BlockSize, keyLen: a.KeyBits / 8, hashSize: a.HashSize}
	switch a.HashAlgorithm {
	case "SHA1":
		p.hash = sha1.New
	case "SHA256":
		p.hash = sha256.New
	case "SHA384":
		p.hash = sha512.New384
	case "SHA512":
		p.hash = sha512.New
	default:
		return p, fmt.Errorf("hash algorithm %q", a.HashAlgorithm)
	}
	switch {
	case a.CipherAlgorithm != "AES":
		return p, fmt.Errorf("cipher %q", a.CipherAlgorithm)
	case a.CipherChaining != "ChainingModeCBC":
		return p, fmt.Errorf("cipher chaining %q", a.CipherChaining)
	case a.KeyBits != 128 && a.KeyBits != 192 && a.KeyBits != 256:
		return p, fmt.Errorf("key of %d bits", a.KeyBits)
	case a.BlockSize != aes.BlockSize:
		return p, fmt.Errorf("block size %d", a.BlockSize)
	case a.HashSize != p.hash().Size():
		return p, fmt.Errorf("hash size %d for %s", a.HashSize, a.HashAlgorithm)
	}
	var err error
	p.salt, err = base64.StdEncoding.DecodeString(a.SaltValue)
	if err != nil || len(p.salt) == 0 || len(p.salt) > 65536 {
		return p, errors.New("bad salt")
	}
	return p, nil
}

// parseStandard reads standard encryption's header and verifier (2.3.4.5,
// 2.3.4.6, 2.3.4.8): AES with SHA-1, as fCryptoAPI and fAES say.
func parseStandard(b []byte, flags uint32) (*officeCrypt, error) {
	le := binary.LittleEndian
	const fCryptoAPI, fExternal, fAES = 0x04, 0x10, 0x20
	switch {
	case flags&fExternal != 0:
		return nil, errors.New("extensible encryption")
	case flags&fCryptoAPI == 0 || flags&fAES == 0:
		return nil, errors.New("RC4 CryptoAPI encryption")
	}
	alg, algHash, bits, v, err := cryptoAPIHeader(b, "EncryptionInfo")
	if err != nil {
		return nil, err
	}
	if (alg != 0 && alg != 0x660e && alg != 0x660f && alg != 0x6610) || (algHash != 0 && algHash != 0x8004) {
		return nil, fmt.Errorf("algorithm %#x with hash %#x", alg, algHash)
	}
	if bits != 128 && bits != 192 && bits != 256 {
		return nil, fmt.Errorf("key of %d bits", bits)
	}
	if len(v) < 4+16+16+4+32 || le.Uint32(v) != 16 || le.Uint32(v[36:]) != 20 {
		return nil, errors.New("bad encryption verifier")
	}
	return &officeCrypt{what: fmt.Sprintf("standard encryption, AES-%d, SHA1", bits),
		salt: v[4:20], verifier: v[20:36], verifierHash: v[40:72], keyLen: int(bits / 8)}, nil
}

// cryptoAPIHeader splits an encryption header of the CryptoAPI form, as
// standard encryption and RC4 CryptoAPI share it (2.3.4.5, 2.3.5.1):
// version and flags, HeaderSize, the EncryptionHeader (2.3.2), then the
// EncryptionVerifier (2.3.3), which it returns with the header's AlgID,
// AlgIDHash and KeySize. name names the structure in errors.
func cryptoAPIHeader(b []byte, name string) (alg, algHash, bits uint32, verifier []byte, err error) {
	le := binary.LittleEndian
	if len(b) < 12 {
		return 0, 0, 0, nil, errors.New(name + " is too short")
	}
	hs := int64(le.Uint32(b[8:]))
	if hs < 32 || hs > int64(len(b))-12 {
		return 0, 0, 0, nil, errors.New(name + " header size")
	}
	h := b[12 : 12+hs]
	return le.Uint32(h[8:]), le.Uint32(h[12:]), le.Uint32(h[16:]), b[12+hs:], nil
}

// utf16LE is a password as Office hashes it: UTF-16LE, at most 255
// characters (2.3.4.7).
func utf16LE(pw []byte) []byte {
	u := utf16.Encode([]rune(string(pw)))
	u = u[:min(len(u), 255)]
	b := make([]byte, 2*len(u))
	for i, c := range u {
		binary.LittleEndian.PutUint16(b[2*i:], c)
	}
	return b
}

// spinHash is H0 = H(salt + password), then Hn = H(iterator + Hn-1) for
// spin rounds (2.3.4.7, 2.3.4.11).
func spinHash(newHash func() hash.Hash, salt, pw []byte, spin int) []byte {
	h := newHash()
	h.Write(salt)
	h.Write(pw)
	sum := h.Sum(nil)
	var it [4]byte
	for i := range spin {
		binary.LittleEndian.PutUint32(it[:], uint32(i))
		h.Reset()
		h.Write(it[:])
		h.Write(sum)
		sum = h.Sum(sum[:0])
	}
	return sum
}

// fitTo truncates b to n bytes, or pads it with 0x36 (2.3.4.11).
func fitTo(b []byte, n int) []byte {
	if len(b) >= n {
		return b[:n]
	}
	return append(b, bytes.Repeat([]byte{0x36}, n-len(b))...)
}

// Block keys of agile encryption's password key encryptor (2.3.4.13).
var (
	blockVerifierIn  = []byte{0xfe, 0xa7, 0xd2, 0x76, 0x3b, 0x4b, 0x9e, 0x79}
	blockVerifierOut = []byte{0xd7, 0xaa, 0x0f, 0x6d, 0x30, 0x61, 0x34, 0x4e}
	blockKeyValue    = []byte{0x14, 0x6e, 0x0b, 0xe7, 0xab, 0xac, 0xd0, 0xd6}
)

// key derives the package's key from a password and checks it against
// the verifier: errWrongPassword when it does not fit.
func (c *officeCrypt) key(password []byte) ([]byte, error) {
	pw := utf16LE(password)
	if !c.agile {
		return c.standardKey(pw)
	}
	p := c.pw
	spun := spinHash(p.hash, p.salt, pw, c.spin)
	derive := func(block []byte) []byte {
		h := p.hash()
		h.Write(spun)
		h.Write(block)
		return fitTo(h.Sum(nil), p.keyLen)
	}
	iv := fitTo(append([]byte(nil), p.salt...), p.blockSize)
	in, err := cbcDecrypt(derive(blockVerifierIn), iv, c.verifierIn)
	if err != nil {
		return nil, err
	}
	out, err := cbcDecrypt(derive(blockVerifierOut), iv, c.verifierOut)
	if err != nil {
		return nil, err
	}
	h := p.hash()
	h.Write(in[:min(len(in), len(p.salt))])
	if len(out) < p.hashSize || subtle.ConstantTimeCompare(h.Sum(nil), out[:p.hashSize]) != 1 {
		return nil, errWrongPassword
	}
	k, err := cbcDecrypt(derive(blockKeyValue), iv, c.keyValue)
	if err != nil || len(k) < c.data.keyLen {
		return nil, errors.New("bad encrypted key")
	}
	return k[:c.data.keyLen], nil
}

// standardKey derives and checks standard encryption's key (2.3.4.7,
// 2.3.4.9).
func (c *officeCrypt) standardKey(pw []byte) ([]byte, error) {
	hf := sha1.Sum(append(spinHash(sha1.New, c.salt, pw, standardSpinCount), 0, 0, 0, 0))
	x := func(pad byte) []byte {
		buf := bytes.Repeat([]byte{pad}, 64)
		for i, b := range hf {
			buf[i] ^= b
		}
		s := sha1.Sum(buf)
		return s[:]
	}
	key := append(x(0x36), x(0x5c)...)[:c.keyLen]
	b, err := aes.NewCipher(key)
	if err != nil {
		return nil, err
	}
	v := make([]byte, 16)
	b.Decrypt(v, c.verifier)
	vh := make([]byte, len(c.verifierHash))
	for i := 0; i < len(vh); i += 16 {
		b.Decrypt(vh[i:], c.verifierHash[i:])
	}
	want := sha1.Sum(v)
	if subtle.ConstantTimeCompare(want[:], vh[:20]) != 1 {
		return nil, errWrongPassword
	}
	return key, nil
}

// cbcDecrypt decrypts data with AES in CBC mode.
func cbcDecrypt(key, iv, data []byte) ([]byte, error) {
	b, err := aes.NewCipher(key)
	if err != nil {
		return nil, err
	}
	out := make([]byte, len(data))
	cipher.NewCBCDecrypter(b, iv).CryptBlocks(out, data)
	return out, nil
}

// officeSegment is the size of the segments of an agile package, each
// encrypted with an IV of its own (2.3.4.15).
const officeSegment = 4096

// packageReader decrypts the EncryptedPackage stream in pkg with key: its
// first 8 bytes are the package's size, then the encrypted segments (agile,
// 2.3.4.15) or blocks (standard, 2.3.4.8; AES-ECB).
type packageReader struct {
	c     *officeCrypt
	block cipher.Block
	pkg   io.ReaderAt
	off   int64 // of the next segment in pkg
	seg   uint32
	left  int64 // bytes of the package still to give
	buf   []byte
	err   error
}

// newPackageReader returns the decrypted package of pkg (size bytes).
func (c *officeCrypt) newPackageReader(key []byte, pkg io.ReaderAt, size int64) (io.Reader, error) {
	var sb [8]byte
	if _, err := pkg.ReadAt(sb[:], 0); err != nil {
		return nil, fmt.Errorf("EncryptedPackage: %w", err)
	}
	n := binary.LittleEndian.Uint64(sb[:])
	if n > uint64(size-8) {
		return nil, fmt.Errorf("EncryptedPackage says %d bytes in a stream of %d", n, size)
	}
	b, err := aes.NewCipher(key)
	if err != nil {
		return nil, err
	}
	return &packageReader{c: c, block: b, pkg: pkg, off: 8, left: int64(n)}, nil
}

func (r *packageReader) Read(p []byte) (int, error) {
	for len(r.buf) == 0 {
		if r.left == 0 {
			return 0, io.EOF
		}
		if r.err != nil {
			return 0, r.err
		}
		r.fill()
	}
	n := copy(p, r.buf)
	r.buf = r.buf[n:]
	return n, nil
}

// fill decrypts the next segment.
func (r *packageReader) fill() {
	want := (min(r.left, officeSegment) + aes.BlockSize - 1) / aes.BlockSize * aes.BlockSize
	seg := make([]byte, want)
	if m, err := r.pkg.ReadAt(seg, r.off); int64(m) < want {
		if err == nil || err == io.EOF {
			err = io.ErrUnexpectedEOF
		}
		r.err = fmt.Errorf("EncryptedPackage: %w", err)
		return
	}
	if r.c.agile {
		d := r.c.data
		h := d.hash()
		h.Write(d.salt)
		binary.Write(h, binary.LittleEndian, r.seg)
		cipher.NewCBCDecrypter(r.block, fitTo(h.Sum(nil), d.blockSize)).CryptBlocks(seg, seg)
	} else {
		for i := 0; i < len(seg); i += aes.BlockSize {
			r.block.Decrypt(seg[i:], seg[i:])
		}
	}
	r.off += want
	r.seg++
	n := min(r.left, officeSegment)
	r.left -= n
	r.buf = seg[:n]
}
