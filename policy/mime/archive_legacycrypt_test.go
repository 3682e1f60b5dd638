package mime

import (
	"crypto/rc4"
	"crypto/sha1"
	"encoding/binary"
	"encoding/hex"
	"fmt"
	"os"
	"os/exec"
	"strings"
	"testing"
)

// rc4CryptoAPIHeader writes an RC4 CryptoAPI encryption header
// ([MS-OFFCRYPTO] 2.3.5.1) for password with a key of bits, as Office XP
// and 2003 write it after a FILEPASS's type or at the start of a .doc's
// table stream.
func rc4CryptoAPIHeader(password string, bits int) []byte {
	le := binary.LittleEndian
	salt := []byte("0123456789abcdef")
	verifier := []byte("fedcba9876543210")
	h := sha1.New()
	h.Write(salt)
	h.Write(utf16LE([]byte(password)))
	hf := sha1.Sum(append(h.Sum(nil), 0, 0, 0, 0))
	key := hf[:bits/8]
	if bits == 40 {
		key = append(key[:5:5], make([]byte, 11)...)
	}
	c, _ := rc4.NewCipher(key)
	vh := sha1.Sum(verifier)
	enc := make([]byte, 36)
	c.XORKeyStream(enc, append(append([]byte{}, verifier...), vh[:]...))

	csp := utf16LE([]byte("Microsoft Enhanced Cryptographic Provider v1.0\x00"))
	hdr := make([]byte, 32, 32+len(csp))
	le.PutUint32(hdr[0:], 0x04)   // flags: fCryptoAPI
	le.PutUint32(hdr[8:], 0x6801) // RC4
	le.PutUint32(hdr[12:], 0x8004)
	le.PutUint32(hdr[16:], uint32(bits))
	le.PutUint32(hdr[20:], 1) // PROV_RSA_FULL
	hdr = append(hdr, csp...)
	b := []byte{2, 0, 2, 0, 4, 0, 0, 0}
	b = le.AppendUint32(b, uint32(len(hdr)))
	b = append(b, hdr...)
	b = le.AppendUint32(b, 16)
	b = append(b, salt...)
	b = append(b, enc[:16]...)
	b = le.AppendUint32(b, 20)
	return append(b, enc[16:]...)
}

// TestLegacyRC4CryptoAPI: the verifier of RC4 CryptoAPI, 40 and 128-bit,
// fits its password only; msoffcrypto-tool's own check agrees on the same
// bytes.
func TestLegacyRC4CryptoAPI(t *testing.T) {
	// The interpreter msoffcrypto-tool runs on holds its module.
	script, err := os.ReadFile(tool(t, "msoffcrypto-tool"))
	if err != nil {
		t.Fatal(err)
	}
	first, _, _ := strings.Cut(string(script), "\n")
	py, ok := strings.CutPrefix(first, "#!")
	if !ok {
		t.Fatalf("msoffcrypto-tool starts with %q", first)
	}
	py = strings.TrimSpace(py)
	for _, bits := range []int{40, 56, 128} {
		b := rc4CryptoAPIHeader("見積-2026", bits)
		c, err := parseLegacyRC4(b)
		if err != nil {
			t.Fatalf("%d bits: %v", bits, err)
		}
		if want := fmt.Sprintf("RC4 CryptoAPI, %d-bit", bits); c.what != want {
			t.Errorf("what = %q, want %q", c.what, want)
		}
		if !c.opens([]byte("見積-2026")) || c.opens([]byte("見積-2025")) || c.opens(nil) {
			t.Errorf("%d bits: the verifier does not tell the password", bits)
		}
		check := fmt.Sprintf(`from msoffcrypto.method.rc4_cryptoapi import DocumentRC4CryptoAPI as D
b = bytes.fromhex(%q)
print(D.verifypw("見積-2026", b[:16], %d, b[16:32], b[32:52]), D.verifypw("見積-2025", b[:16], %d, b[16:32], b[32:52]))`,
			hex.EncodeToString(append(append(append([]byte{}, c.salt...), c.verifier...), c.vHash...)), bits, bits)
		out, err := exec.Command(py, "-c", check).CombinedOutput()
		if err != nil || strings.TrimSpace(string(out)) != "True False" {
			t.Errorf("%d bits: msoffcrypto-tool says %v %s", bits, err, out)
		}
	}
}

// TestLegacyRC4Headers: headers that are not RC4 or RC4 CryptoAPI, or
// are cut short, are errors that leave the document sealed.
func TestLegacyRC4Headers(t *testing.T) {
	good := rc4CryptoAPIHeader("pw", 128)
	aes := append([]byte{}, good...)
	binary.LittleEndian.PutUint32(aes[12+8:], 0x660e)
	for name, b := range map[string][]byte{
		"empty":       nil,
		"version 3.3": {3, 0, 3, 0},
		"short RC4":   append([]byte{1, 0, 1, 0}, make([]byte, 40)...),
		"cut":         good[:len(good)-1],
		"AES":         aes,
		"header size": append([]byte{2, 0, 2, 0, 4, 0, 0, 0, 0xff, 0xff, 0xff, 0x7f}, good[12:]...),
	} {
		if _, err := parseLegacyRC4(b); err == nil {
			t.Errorf("%s: no error", name)
		}
		if e := legacyEncryption(FormatXLSEncrypt, "Excel 97-2003 workbook", b); e.entry != nil || e.stop == nil || !e.stop.sealed {
			t.Errorf("%s: not sealed", name)
		}
	}
}
