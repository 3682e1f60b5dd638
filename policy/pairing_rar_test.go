package policy_test

import (
	"crypto/aes"
	"crypto/cipher"
	"crypto/hmac"
	"crypto/pbkdf2"
	"crypto/sha256"
	"encoding/base64"
	"encoding/binary"
	"hash/crc32"
	"testing"
	"time"

	"github.com/sekisho/sekisho/policy"
)

// rarEncryptedList is a RAR 5 archive of one stored file as rar -hp writes
// it (rarlab's technote): the archive encryption header in clear, then
// every header block encrypted with AES-256-CBC after an IV of its own,
// and the file's data encrypted too, its checksum turned into a MAC. The
// keys are PBKDF2-HMAC-SHA256 of 2^3 rounds (rar writes 2^15), the MAC key
// and the password check 16 and 32 rounds further. policy/mime checks the
// same construction against rardecode.
func rarEncryptedList(t *testing.T, password, name string, data []byte) []byte {
	t.Helper()
	const kdf = 3
	salt := []byte("salt of the arc.")
	derive := func(rounds int) []byte {
		k, err := pbkdf2.Key(sha256.New, password, salt, rounds, 32)
		if err != nil {
			t.Fatal(err)
		}
		return k
	}
	key, hashKey := derive(1<<kdf), derive(1<<kdf+16)
	check := make([]byte, 8)
	for i, b := range derive(1<<kdf + 32) {
		check[i%8] ^= b
	}
	sum := sha256.Sum256(check)
	check = append(check, sum[:4]...)
	mac := hmac.New(sha256.New, hashKey)
	mac.Write(binary.LittleEndian.AppendUint32(nil, crc32.ChecksumIEEE(data)))
	fileMAC := make([]byte, 4)
	for i, b := range mac.Sum(nil) {
		fileMAC[i%4] ^= b
	}
	blk, err := aes.NewCipher(key)
	if err != nil {
		t.Fatal(err)
	}

	vint := func(b []byte, v uint64) []byte {
		for ; v >= 0x80; v >>= 7 {
			b = append(b, byte(v)|0x80)
		}
		return append(b, byte(v))
	}
	block := func(fields []byte) []byte { // CRC-32, size, fields
		h := append(vint(nil, uint64(len(fields))), fields...)
		return append(binary.LittleEndian.AppendUint32(nil, crc32.ChecksumIEEE(h)), h...)
	}
	ivs := byte(0)
	encrypt := func(plain []byte) (iv, sealed []byte) {
		ivs++
		iv = append([]byte("iv of block "), 0, 0, 0, ivs)
		sealed = append(append([]byte{}, plain...), make([]byte, (16-len(plain)%16)%16)...)
		cipher.NewCBCEncrypter(blk, iv).CryptBlocks(sealed, sealed)
		return iv, sealed
	}
	seal := func(out, fields []byte) []byte {
		iv, sealed := encrypt(block(fields))
		return append(append(out, iv...), sealed...)
	}

	out := []byte("Rar!\x1a\x07\x01\x00")
	f := vint(vint(vint(vint(nil, 4), 0), 0), 1) // archive encryption header: AES-256, password check
	f = append(append(append(f, kdf), salt...), check...)
	out = append(out, block(f)...)
	out = seal(out, vint(vint(vint(nil, 1), 0), 0)) // main archive header

	iv, sealed := encrypt(data)
	rec := vint(vint(vint(nil, 1), 0), 1|2) // file encryption record: AES-256, password check, MAC
	rec = append(append(append(append(rec, kdf), salt...), iv...), check...)
	extra := append(vint(nil, uint64(len(rec))), rec...)
	f = vint(vint(nil, 2), 1|2) // file header with extra and data areas
	f = vint(vint(f, uint64(len(extra))), uint64(len(sealed)))
	f = vint(vint(vint(f, 4), uint64(len(data))), 0x20) // CRC-32, size, attributes
	f = append(f, fileMAC...)
	f = vint(vint(vint(f, 0), 0), uint64(len(name))) // stored, Windows
	f = append(append(f, name...), extra...)
	out = append(seal(out, f), sealed...)
	return seal(out, vint(vint(vint(nil, 5), 0), 0)) // end of archive
}

// rarMail is a mail with a rar archive attached.
func rarMail(archive []byte) []byte {
	return []byte("Subject: quote\r\nMIME-Version: 1.0\r\nContent-Type: multipart/mixed; boundary=b\r\n\r\n" +
		"--b\r\nContent-Type: text/plain; charset=utf-8\r\n\r\nThe quote is attached; the password follows.\r\n" +
		"--b\r\nContent-Type: application/vnd.rar; name=quote.rar\r\nContent-Transfer-Encoding: base64\r\n\r\n" +
		base64.StdEncoding.EncodeToString(archive) + "\r\n--b--\r\n")
}

// TestPairingRarEncryptedHeaders: PPAP with a rar whose entry list is
// encrypted (rar -hp), as TestPairingSevenZipEncryptedHeaders with 7z
// -mhe=on: the archive waits for its password; once the password mail has
// come, the retry is decrypted, entry list and entries, and judged on its
// content.
func TestPairingRarEncryptedHeaders(t *testing.T) {
	const pw = "Mk7#qa9Z"
	const from, to = "yamada@partner.example.jp", "tanaka@example.co.jp"

	t.Run("executable inside", func(t *testing.T) {
		exe := rarMail(rarEncryptedList(t, pw, "quote.pdf", peHead))
		p := newPairing(t, "")
		expectWaiting(t, p.send(exe, from, to))
		p.clock.Advance(time.Minute)
		if o := p.send(passwordMail(t, pw), from, to); !o.Accepted() || o.Rule != "" {
			t.Fatalf("password mail: %+v", o.Verdict)
		}
		p.clock.Advance(5 * time.Minute)
		expect(t, p.send(exe, from, to).Verdict, "attachment_extension", policy.Reject,
			"550 5.7.1 Attachment type not allowed: quote.rar > quote.pdf", `"quote.rar" (part 2) > "quote.pdf" is an executable (pe)`)
	})

	t.Run("clean inside", func(t *testing.T) {
		pdf := rarMail(rarEncryptedList(t, pw, "quote.pdf", []byte("%PDF-1.4\n%...\n")))
		p := newPairing(t, "")
		expectWaiting(t, p.send(pdf, from, to))
		p.send(passwordMail(t, "wrong-one"), from, to)
		expectWaiting(t, p.send(pdf, from, to))
		p.send(passwordMail(t, pw), from, to)
		if o := p.send(pdf, from, to); !o.Accepted() || o.Action != policy.Continue {
			t.Fatalf("decrypted clean archive: %+v", o.Verdict)
		}
	})
}
