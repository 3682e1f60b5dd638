// Package zipcrypt decrypts encrypted zip entries: traditional PKWARE
// encryption ("ZipCrypto", APPNOTE.TXT section 6.1) and WinZip AES (AE-1
// and AE-2, 128, 192 or 256 bits), then decompresses them (stored or
// deflated), for archive/zip's files.
//
// A wrong password is told from corrupt data as far as each scheme
// allows. ZipCrypto has a one-byte check value in its 12-byte header: one
// wrong password in 256 passes it, so the CRC-32 of the content is checked
// at its end as well, and a mismatch is taken for a wrong password too
// (ErrPassword); so is content that does not decompress. WinZip AES has a
// two-byte password verifier (ErrPassword) and an HMAC-SHA1 over the
// encrypted data, checked at its end (ErrAuthentication: corrupt or
// altered data, or the one wrong password in 65536 that passes the
// verifier); AE-1 also keeps the CRC-32 (zip.ErrChecksum).
//
// Passwords are only used to derive keys; nothing keeps them.
package zipcrypt

import (
	"archive/zip"
	"compress/flate"
	"crypto/aes"
	"crypto/cipher"
	"crypto/hmac"
	"crypto/pbkdf2"
	"crypto/sha1"
	"crypto/subtle"
	"encoding/binary"
	"errors"
	"fmt"
	"hash"
	"hash/crc32"
	"io"
)

var (
	// ErrPassword: the password does not fit the entry.
	ErrPassword = errors.New("zipcrypt: wrong password")
	// ErrAuthentication: the WinZip AES authentication code does not
	// match the data: corrupt or altered, or, rarely, a wrong password.
	ErrAuthentication = errors.New("zipcrypt: authentication code mismatch: data corrupt or altered")
	// ErrNotEncrypted: the entry is not encrypted.
	ErrNotEncrypted = errors.New("zipcrypt: entry not encrypted")
	// ErrAlgorithm: the encryption or compression method is not supported
	// (strong encryption, compression other than store and deflate).
	ErrAlgorithm = errors.New("zipcrypt: method not supported")
	// ErrFormat: the entry's encryption header is malformed or truncated.
	ErrFormat = errors.New("zipcrypt: malformed encrypted entry")
)

// zip constants (APPNOTE.TXT 4.4.4, 4.4.5; WinZip's AES specification).
const (
	flagEncrypted  = 0x1
	flagDescriptor = 0x8
	flagStrong     = 0x40
	methodAES      = 99
	extraAES       = 0x9901
	aesMACLen      = 10
	aesIterations  = 1000
)

// Scheme names the encryption of an entry: "zipcrypto", "aes-128",
// "aes-192", "aes-256", or "" for an entry that is not encrypted or
// encrypted otherwise (PKWARE strong encryption).
func Scheme(f *zip.File) string {
	if f.Flags&flagEncrypted == 0 || f.Flags&flagStrong != 0 {
		return ""
	}
	if f.Method != methodAES {
		return "zipcrypto"
	}
	if ae, err := aesExtra(f.Extra); err == nil {
		return fmt.Sprintf("aes-%d", ae.keyLen*8)
	}
	return ""
}

// Open returns the decrypted, decompressed content of f. The password is
// checked against the entry's check value (ErrPassword) before Open
// returns; the content is checked at its end: the last Read returns
// io.EOF only when its checksum (and for AES its authentication code)
// is right.
func Open(f *zip.File, password []byte) (io.ReadCloser, error) {
	if f.Flags&flagEncrypted == 0 {
		return nil, ErrNotEncrypted
	}
	if f.Flags&flagStrong != 0 {
		return nil, fmt.Errorf("%w: strong encryption", ErrAlgorithm)
	}
	raw, err := f.OpenRaw()
	if err != nil {
		return nil, err
	}
	if f.Method == methodAES {
		return openAES(f, raw, password)
	}
	return openZipCrypto(f, raw, password)
}

// decompressor returns the reader that undoes method on r.
func decompressor(method uint16, r io.Reader) (io.ReadCloser, error) {
	switch method {
	case zip.Store:
		return io.NopCloser(r), nil
	case zip.Deflate:
		return flate.NewReader(r), nil
	}
	return nil, fmt.Errorf("%w: compression method %d", ErrAlgorithm, method)
}

// zipCryptoKeys are the three keys of traditional PKWARE encryption.
type zipCryptoKeys [3]uint32

var crcTable = crc32.MakeTable(crc32.IEEE)

func crcByte(c uint32, b byte) uint32 { return crcTable[byte(c)^b] ^ c>>8 }

func newZipCryptoKeys(password []byte) *zipCryptoKeys {
	k := &zipCryptoKeys{0x12345678, 0x23456789, 0x34567890}
	for _, b := range password {
		k.update(b)
	}
	return k
}

func (k *zipCryptoKeys) update(b byte) {
	k[0] = crcByte(k[0], b)
	k[1] = (k[1]+k[0]&0xff)*134775813 + 1
	k[2] = crcByte(k[2], byte(k[1]>>24))
}

func (k *zipCryptoKeys) decrypt(p []byte) {
	for i, c := range p {
		t := k[2] | 2
		p[i] = c ^ byte(t*(t^1)>>8)
		k.update(p[i])
	}
}

type zipCryptoReader struct {
	r io.Reader
	k *zipCryptoKeys
}

func (z *zipCryptoReader) Read(p []byte) (int, error) {
	n, err := z.r.Read(p)
	z.k.decrypt(p[:n])
	return n, err
}

func openZipCrypto(f *zip.File, raw io.Reader, password []byte) (io.ReadCloser, error) {
	if f.CompressedSize64 < 12 {
		return nil, ErrFormat
	}
	k := newZipCryptoKeys(password)
	var hdr [12]byte
	if _, err := io.ReadFull(raw, hdr[:]); err != nil {
		return nil, fmt.Errorf("%w: %v", ErrFormat, err)
	}
	k.decrypt(hdr[:])
	// The check byte is the CRC's high byte, or, when the CRC follows the
	// data in a descriptor, the high byte of the DOS time.
	check := byte(f.CRC32 >> 24)
	if f.Flags&flagDescriptor != 0 {
		check = byte(f.ModifiedTime >> 8)
	}
	if hdr[11] != check {
		return nil, ErrPassword
	}
	dec, err := decompressor(f.Method, &zipCryptoReader{r: raw, k: k})
	if err != nil {
		return nil, err
	}
	return &checked{r: dec, c: dec, crc: crc32.NewIEEE(), f: f, checkCRC: true, zipCrypto: true}, nil
}

// aesParams is the WinZip AES extra field.
type aesParams struct {
	version uint16 // 1: AE-1, 2: AE-2
	keyLen  int
	method  uint16
}

func aesExtra(extra []byte) (aesParams, error) {
	for len(extra) >= 4 {
		id, n := binary.LittleEndian.Uint16(extra), int(binary.LittleEndian.Uint16(extra[2:]))
		if len(extra) < 4+n {
			break
		}
		data := extra[4 : 4+n]
		extra = extra[4+n:]
		if id != extraAES {
			continue
		}
		if n < 7 || data[2] != 'A' || data[3] != 'E' {
			return aesParams{}, ErrFormat
		}
		p := aesParams{version: binary.LittleEndian.Uint16(data), method: binary.LittleEndian.Uint16(data[5:])}
		switch data[4] {
		case 1, 2, 3:
			p.keyLen = 8 + 8*int(data[4])
		default:
			return aesParams{}, fmt.Errorf("%w: AES strength %d", ErrAlgorithm, data[4])
		}
		if p.version != 1 && p.version != 2 {
			return aesParams{}, fmt.Errorf("%w: AE-%d", ErrAlgorithm, p.version)
		}
		return p, nil
	}
	return aesParams{}, fmt.Errorf("%w: no AES extra field", ErrFormat)
}

func openAES(f *zip.File, raw io.Reader, password []byte) (io.ReadCloser, error) {
	p, err := aesExtra(f.Extra)
	if err != nil {
		return nil, err
	}
	saltLen := p.keyLen / 2
	overhead := uint64(saltLen + 2 + aesMACLen)
	if f.CompressedSize64 < overhead {
		return nil, ErrFormat
	}
	head := make([]byte, saltLen+2)
	if _, err := io.ReadFull(raw, head); err != nil {
		return nil, fmt.Errorf("%w: %v", ErrFormat, err)
	}
	keys, err := pbkdf2.Key(sha1.New, string(password), head[:saltLen], aesIterations, 2*p.keyLen+2)
	if err != nil {
		return nil, err
	}
	if subtle.ConstantTimeCompare(keys[2*p.keyLen:], head[saltLen:]) != 1 {
		return nil, ErrPassword
	}
	block, err := aes.NewCipher(keys[:p.keyLen])
	if err != nil {
		return nil, err
	}
	ar := &aesReader{
		r:     io.LimitReader(raw, int64(f.CompressedSize64-overhead)),
		raw:   raw,
		block: block,
		mac:   hmac.New(sha1.New, keys[p.keyLen:2*p.keyLen]),
	}
	dec, err := decompressor(p.method, ar)
	if err != nil {
		return nil, err
	}
	// AE-2 leaves the CRC out (zero): the authentication code stands for it.
	return &checked{r: dec, c: dec, crc: crc32.NewIEEE(), f: f, checkCRC: p.version == 1, aes: ar}, nil
}

// aesReader decrypts WinZip AES data: AES in CTR mode with a little-endian
// counter from 1, and an HMAC-SHA1 over the encrypted bytes, whose first
// ten bytes follow them.
type aesReader struct {
	r       io.Reader // the encrypted data
	raw     io.Reader // the authentication code, after it
	block   cipher.Block
	mac     hash.Hash
	ctr     [aes.BlockSize]byte
	stream  [aes.BlockSize]byte
	used    int // bytes of stream used
	started bool
	err     error
}

func (a *aesReader) Read(p []byte) (int, error) {
	if a.err != nil {
		return 0, a.err
	}
	n, err := a.r.Read(p)
	a.mac.Write(p[:n])
	for i := range p[:n] {
		if !a.started || a.used == aes.BlockSize {
			a.started = true
			for j := range a.ctr {
				a.ctr[j]++
				if a.ctr[j] != 0 {
					break
				}
			}
			a.block.Encrypt(a.stream[:], a.ctr[:])
			a.used = 0
		}
		p[i] ^= a.stream[a.used]
		a.used++
	}
	if err == io.EOF {
		var code [aesMACLen]byte
		if _, rerr := io.ReadFull(a.raw, code[:]); rerr != nil {
			err = fmt.Errorf("%w: authentication code: %v", ErrFormat, rerr)
		} else if !hmac.Equal(a.mac.Sum(nil)[:aesMACLen], code[:]) {
			err = ErrAuthentication
		}
		a.err = err
	}
	return n, err
}

// checked checks the size and CRC-32 of the decompressed content at its
// end, and that the encrypted data ended with it.
type checked struct {
	r         io.Reader
	c         io.Closer
	crc       hash.Hash32
	n         uint64
	f         *zip.File
	checkCRC  bool
	zipCrypto bool       // failures after the check byte mean a wrong password
	aes       *aesReader // nil for ZipCrypto
	err       error
}

func (c *checked) Read(p []byte) (int, error) {
	if c.err != nil {
		return 0, c.err
	}
	n, err := c.r.Read(p)
	c.crc.Write(p[:n])
	c.n += uint64(n)
	switch {
	case err == io.EOF:
		err = c.end()
	case err == nil && c.n > c.f.UncompressedSize64:
		err = c.fail(fmt.Errorf("more than the %d bytes recorded", c.f.UncompressedSize64))
	case err != nil:
		err = c.fail(err)
	}
	if err != nil {
		c.err = err
	}
	return n, err
}

// end checks the content once it is all read.
func (c *checked) end() error {
	if c.aes != nil && c.aes.err == nil {
		// Deflate may end before the encrypted data does: read to its end,
		// which checks the authentication code.
		if _, err := io.Copy(io.Discard, c.aes); err != nil {
			return c.fail(err)
		}
	}
	if c.aes != nil && c.aes.err != io.EOF {
		return c.fail(c.aes.err)
	}
	if c.n != c.f.UncompressedSize64 {
		return c.fail(fmt.Errorf("%d bytes, %d recorded", c.n, c.f.UncompressedSize64))
	}
	if c.checkCRC && c.crc.Sum32() != c.f.CRC32 {
		return c.fail(zip.ErrChecksum)
	}
	return io.EOF
}

// fail qualifies an error of the content: with ZipCrypto, past the check
// byte, a wrong password is far likelier than corrupt data.
func (c *checked) fail(err error) error {
	switch {
	case errors.Is(err, ErrAuthentication), errors.Is(err, ErrFormat):
		return err
	case c.zipCrypto:
		return fmt.Errorf("%w: content does not check after decrypting: %v", ErrPassword, err)
	}
	return err
}

func (c *checked) Close() error { return c.c.Close() }
