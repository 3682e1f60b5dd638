package mime

// Word 97-2003 and Excel 97-2003 files protected by a password are
// encrypted with RC4 ([MS-OFFCRYPTO] 2.3.6: Office 97 and 2000, and what
// LibreOffice writes) or RC4 CryptoAPI (2.3.5: Office XP to 2003). The
// password is checked against the verifier of the document's encryption
// header — in a .doc at the start of its table stream ([MS-DOC] 2.5.2,
// lKey), in a .xls in the FILEPASS record ([MS-XLS] 2.4.117) — with the
// standard library's MD5, SHA-1 and RC4. A candidate that fits opens the
// document as the recipient's Word or Excel will; what it then shows is
// the document's text, which is not read here (the streams are not
// decrypted), and its embedded objects, which RC4 leaves in clear in
// their own storages and which are listed as the compound file's entries
// whether a password fits or not. The XOR obfuscation of older files, and
// PowerPoint's encryption (its header is reached through the persist
// directory of the encrypted stream), are recognised and not checked.

import (
	"crypto/md5"
	"crypto/rc4"
	"crypto/sha1"
	"crypto/subtle"
	"encoding/binary"
	"errors"
	"fmt"
)

// legacyRC4 is the password verifier of an RC4-encrypted binary document.
type legacyRC4 struct {
	what      string // for gap reasons: "RC4", "RC4 CryptoAPI, 128-bit"
	cryptoAPI bool
	keyBytes  int // RC4 CryptoAPI: the key's length, 5 for 40 bits
	salt      []byte
	verifier  []byte // encrypted, 16 bytes
	vHash     []byte // encrypted, 16 (MD5) or 20 (SHA-1) bytes
}

// parseLegacyRC4 reads an encryption header that starts with its
// EncryptionVersionInfo: 1.1 is RC4 (2.3.6.1), 2.2, 3.2 and 4.2 are RC4
// CryptoAPI (2.3.5.1).
func parseLegacyRC4(b []byte) (*legacyRC4, error) {
	le := binary.LittleEndian
	if len(b) < 4 {
		return nil, errors.New("encryption header is too short")
	}
	major, minor := le.Uint16(b), le.Uint16(b[2:])
	switch {
	case major == 1 && minor == 1:
		if len(b) < 4+48 {
			return nil, errors.New("RC4 encryption header is too short")
		}
		return &legacyRC4{what: "RC4", salt: b[4:20], verifier: b[20:36], vHash: b[36:52]}, nil
	case major >= 2 && major <= 4 && minor == 2:
	default:
		return nil, fmt.Errorf("encryption version %d.%d", major, minor)
	}
	alg, algHash, bits, v, err := cryptoAPIHeader(b, "RC4 CryptoAPI encryption")
	if err != nil {
		return nil, err
	}
	if (alg != 0 && alg != 0x6801) || (algHash != 0 && algHash != 0x8004) {
		return nil, fmt.Errorf("RC4 CryptoAPI with algorithm %#x and hash %#x", alg, algHash)
	}
	if bits == 0 {
		bits = 40 // 2.3.5.1: zero means 40 bits
	}
	if bits < 40 || bits > 128 || bits%8 != 0 {
		return nil, fmt.Errorf("RC4 CryptoAPI key of %d bits", bits)
	}
	if len(v) < 4+16+16+4+20 || le.Uint32(v) != 16 || le.Uint32(v[36:]) != 20 {
		return nil, errors.New("bad RC4 CryptoAPI encryption verifier")
	}
	return &legacyRC4{what: fmt.Sprintf("RC4 CryptoAPI, %d-bit", bits), cryptoAPI: true, keyBytes: int(bits / 8),
		salt: v[4:20], verifier: v[20:36], vHash: v[40:60]}, nil
}

// opens reports whether pw is the document's password: the verifier,
// decrypted with the key of block 0, hashes to the verifier hash
// decrypted after it with the same RC4 stream.
func (c *legacyRC4) opens(pw []byte) bool {
	p := utf16LE(pw)
	var key []byte
	if c.cryptoAPI {
		// 2.3.5.2: H0 = SHA1(salt + password); Hfinal = SHA1(H0 +
		// block); the key is its first bytes, a 40-bit key padded to
		// 128 bits with zeros.
		h := sha1.New()
		h.Write(c.salt)
		h.Write(p)
		h0 := h.Sum(nil)
		hf := sha1.Sum(append(h0, 0, 0, 0, 0))
		key = hf[:c.keyBytes]
		if c.keyBytes == 5 {
			key = append(key[:5:5], make([]byte, 11)...)
		}
	} else {
		// 2.3.6.2: H0 = MD5(password), truncated to 40 bits; H1 =
		// MD5 of 16 times H0 and the salt, truncated to 40 bits; the
		// key is MD5(H1 + block).
		h0 := md5.Sum(p)
		buf := make([]byte, 0, 16*(5+16))
		for range 16 {
			buf = append(buf, h0[:5]...)
			buf = append(buf, c.salt...)
		}
		h1 := md5.Sum(buf)
		hf := md5.Sum(append(h1[:5:5], 0, 0, 0, 0))
		key = hf[:]
	}
	ciph, err := rc4.NewCipher(key)
	if err != nil {
		return false
	}
	dec := make([]byte, len(c.verifier)+len(c.vHash))
	ciph.XORKeyStream(dec, append(append([]byte{}, c.verifier...), c.vHash...))
	verifier, got := dec[:len(c.verifier)], dec[len(c.verifier):]
	var want []byte
	if c.cryptoAPI {
		s := sha1.Sum(verifier)
		want = s[:]
	} else {
		s := md5.Sum(verifier)
		want = s[:]
	}
	return subtle.ConstantTimeCompare(want, got) == 1
}
