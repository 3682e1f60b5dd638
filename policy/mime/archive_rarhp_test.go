package mime

// RAR 5 archives whose entry list is encrypted (rar -hp): not even the
// names show without the password. The archives are built here from
// rarlab's technote, checked against rardecode, then inspected with
// password candidates as PPAP pairing gives them.

import (
	"bytes"
	"crypto/aes"
	"crypto/cipher"
	"crypto/hmac"
	"crypto/pbkdf2"
	"crypto/sha256"
	"encoding/binary"
	"errors"
	"fmt"
	"hash/crc32"
	"io"
	"strings"
	"testing"
	"time"

	"github.com/nwaples/rardecode/v2"
)

// rarHPKDF is the binary logarithm of the key derivation rounds of the
// archives built here. rar writes 15; a small count keeps the tests fast,
// and keys are derived the same way whatever the count.
const rarHPKDF = 3

// rar5Keys derives from password and salt what RAR 5 encryption uses
// (technote, "File encryption record"): the AES-256 key, PBKDF2-HMAC-SHA256
// of 2^kdf rounds; the key of the checksum MAC, the same PBKDF2 16 rounds
// further; and the password check value, 16 rounds further again, folded
// by XOR to 8 bytes and followed by the first 4 bytes of their SHA-256.
func rar5Keys(password string, salt []byte, kdf byte) (key, hashKey, check []byte) {
	derive := func(rounds int) []byte {
		k, err := pbkdf2.Key(sha256.New, password, salt, rounds, 32)
		if err != nil {
			panic(err)
		}
		return k
	}
	n := 1 << kdf
	key, hashKey = derive(n), derive(n+16)
	check = make([]byte, 8)
	for i, b := range derive(n + 32) {
		check[i%8] ^= b
	}
	sum := sha256.Sum256(check)
	return key, hashKey, append(check, sum[:4]...)
}

// rar5MAC turns a CRC-32 into what rar stores for an encrypted entry: the
// HMAC-SHA256 of its 4 little-endian bytes under the checksum key, folded
// by XOR to 4 bytes.
func rar5MAC(hashKey []byte, crc uint32) []byte {
	m := hmac.New(sha256.New, hashKey)
	m.Write(binary.LittleEndian.AppendUint32(nil, crc))
	out := make([]byte, 4)
	for i, b := range m.Sum(nil) {
		out[i%4] ^= b
	}
	return out
}

// rar5HeadersEncrypted builds a RAR 5 archive of stored entries as rar -hp
// writes it (technote, "Archive encryption header"): after the signature,
// the archive encryption header in clear (AES-256, password check present,
// KDF count, salt, check value); then every header block, main archive
// header to end of archive, encrypted with AES-256-CBC under an IV of its
// own written before it, the block (CRC-32, size, fields) zero-padded to 16
// bytes. -hp encrypts the entries' data too: each file header has an
// encryption record (check value, checksum turned into a MAC) and its data
// is the padded content encrypted under the record's IV. One salt serves
// the whole archive. The encrypted and unknownSize fields of entries are
// not used.
func rar5HeadersEncrypted(password string, entries ...rarEntry) []byte {
	vint := rarVintAppend
	salt := []byte("salt of the arc.")
	key, hashKey, check := rar5Keys(password, salt, rarHPKDF)
	blk, err := aes.NewCipher(key)
	if err != nil {
		panic(err)
	}
	ivs := 0
	nextIV := func() []byte {
		ivs++
		iv := sha256.Sum256(fmt.Appendf(nil, "iv %d", ivs))
		return iv[:16]
	}
	encrypt := func(iv, plain []byte) []byte {
		padded := append(append([]byte{}, plain...), make([]byte, (16-len(plain)%16)%16)...)
		cipher.NewCBCEncrypter(blk, iv).CryptBlocks(padded, padded)
		return padded
	}
	seal := func(out, fields, data []byte) []byte {
		iv := nextIV()
		out = append(out, iv...)
		out = append(out, encrypt(iv, rar5Block(nil, fields, nil))...)
		return append(out, data...)
	}

	out := []byte("Rar!\x1a\x07\x01\x00")
	f := vint(vint(nil, 4), 0) // archive encryption header, no extra or data area
	f = vint(f, 0)             // version 0: AES-256
	f = vint(f, 1)             // password check value present
	f = append(f, rarHPKDF)
	f = append(f, salt...)
	f = append(f, check...)
	out = rar5Block(out, f, nil)

	out = seal(out, vint(vint(vint(nil, 1), 0), 0), nil) // main archive header, archive flags 0
	for _, e := range entries {
		iv := nextIV()
		data := encrypt(iv, e.data)
		rec := vint(nil, 1)  // file encryption record
		rec = vint(rec, 0)   // version 0: AES-256
		rec = vint(rec, 1|2) // password check value present, MAC for the checksum
		rec = append(rec, rarHPKDF)
		rec = append(rec, salt...)
		rec = append(rec, iv...)
		rec = append(rec, check...)
		extra := vint(nil, uint64(len(rec)))
		extra = append(extra, rec...)
		f := vint(nil, 2)               // file header
		f = vint(f, 1|2)                // extra area, data area
		f = vint(f, uint64(len(extra))) // extra size
		f = vint(f, uint64(len(data)))  // data size: the padded content
		f = vint(f, 4)                  // file flags: CRC-32
		f = vint(f, uint64(len(e.data)))
		f = vint(f, 0x20) // attributes
		f = append(f, rar5MAC(hashKey, crc32.ChecksumIEEE(e.data))...)
		f = vint(f, 0) // version 0, stored
		f = vint(f, 0) // host OS Windows
		f = vint(f, uint64(len(e.name)))
		f = append(f, e.name...)
		f = append(f, extra...)
		out = seal(out, f, data)
	}
	return seal(out, vint(vint(vint(nil, 5), 0), 0), nil) // end of archive
}

// TestRar5HeadersEncryptedRardecode: what the builder writes is what
// rardecode reads as rar -hp output: nothing without the password, a wrong
// password told by the check value, and with the right one the entries,
// their headers encrypted, their content read to its end with the MAC of
// its checksum right, also when rardecode cannot seek.
func TestRar5HeadersEncryptedRardecode(t *testing.T) {
	const pw = "Ppap#2026"
	entries := []rarEntry{{name: "note.txt", data: []byte("the invoice follows\n")}, {name: "invoice.exe", data: evilPE}, {name: "empty", data: nil}}
	a := rar5HeadersEncrypted(pw, entries...)
	readers := map[string]func() io.Reader{
		"seekable": func() io.Reader { return bytes.NewReader(a) },
		"stream":   func() io.Reader { return struct{ io.Reader }{bytes.NewReader(a)} },
	}
	for name, r := range readers {
		rr, err := rardecode.NewReader(r(), rardecode.Password(pw))
		if err != nil {
			t.Fatalf("%s: open: %v", name, err)
		}
		for _, e := range entries {
			h, err := rr.Next()
			if err != nil {
				t.Fatalf("%s: %s: %v", name, e.name, err)
			}
			if h.Name != e.name || !h.HeaderEncrypted || !h.Encrypted || h.UnPackedSize != int64(len(e.data)) {
				t.Errorf("%s: header %+v, want %s encrypted, %d bytes", name, h, e.name, len(e.data))
			}
			got, err := io.ReadAll(rr)
			if err != nil || !bytes.Equal(got, e.data) {
				t.Errorf("%s: %s: % x, %v", name, e.name, got, err)
			}
		}
		if h, err := rr.Next(); err != io.EOF {
			t.Errorf("%s: after the entries: %+v %v", name, h, err)
		}
	}
	if _, err := rardecode.NewReader(bytes.NewReader(a)); !errors.Is(err, rardecode.ErrArchiveEncrypted) {
		t.Errorf("no password: %v", err)
	}
	if _, err := rardecode.NewReader(bytes.NewReader(a), rardecode.Password("ppap#2026")); !errors.Is(err, rardecode.ErrBadPassword) {
		t.Errorf("wrong password: %v", err)
	}
	// The last block of the last entry's data, 32 bytes (IV and end of
	// archive header) from the end: changed, the content is refused.
	bad := bytes.Clone(rar5HeadersEncrypted(pw, rarEntry{name: "invoice.exe", data: evilPE}))
	bad[len(bad)-33] ^= 1
	rr, err := rardecode.NewReader(bytes.NewReader(bad), rardecode.Password(pw))
	if err == nil {
		_, err = rr.Next()
	}
	if err != nil {
		t.Fatal(err)
	}
	if _, err := io.ReadAll(rr); !errors.Is(err, rardecode.ErrBadFileChecksum) {
		t.Errorf("changed content: %v", err)
	}
}

// TestRarEncryptedEntryList: an archive of rar -hp is opened with the
// candidate that fits, and its entries, encrypted with the same password,
// are looked into; without that candidate the archive stays encrypted.
func TestRarEncryptedEntryList(t *testing.T) {
	const pw = "Ppap#2026"
	t.Run("executable inside", func(t *testing.T) {
		a := rar5HeadersEncrypted(pw, rarEntry{name: "invoice.exe", data: peBytes})
		check(t, inspect(t, a, "a.rar", DefaultLimits(), "wrong", pw), "[rar encrypted]\ninvoice.exe pe encrypted decrypted\n", "")
		a = rar5HeadersEncrypted(pw, rarEntry{name: "note.txt", data: []byte("see the invoice\n")}, rarEntry{name: "invoice.exe", data: peBytes})
		check(t, inspect(t, storeZip(t, "a.rar", a), "a.zip", DefaultLimits(), pw, "wrong"),
			"[zip]\na.rar\n  [rar encrypted]\n  note.txt encrypted decrypted\n  invoice.exe pe encrypted decrypted\n", "")
	})
	t.Run("clean inside", func(t *testing.T) {
		a := rar5HeadersEncrypted(pw, rarEntry{name: "note.txt", data: []byte("see the invoice\n")})
		check(t, inspect(t, a, "a.rar", DefaultLimits(), "wrong", pw), "[rar encrypted]\nnote.txt encrypted decrypted\n", "")
	})
	t.Run("no candidate fits", func(t *testing.T) {
		a := rar5HeadersEncrypted(pw, rarEntry{name: "invoice.exe", data: peBytes})
		for _, pws := range [][]string{nil, {"wrong"}, {"ppap#2026", "Ppap#2025", pw[:len(pw)-1]}} {
			check(t, inspect(t, a, "a.rar", DefaultLimits(), pws...), "[rar encrypted skipped: encrypted: the entry list cannot be read]\n",
				`encrypted: part 1: attachment "a.rar": encrypted: the entry list cannot be read`)
		}
	})
}

// TestRarEncryptedEntryListBudget: opening an entry list with candidates
// spends the message's tries: every candidate that does not fit is a miss,
// and once the misses or the time allowed are spent the list is not tried;
// the entries of a list opened do not cost the candidates before the one
// that opened it again.
func TestRarEncryptedEntryListBudget(t *testing.T) {
	var candidates []string
	for i := range maxPasswords {
		candidates = append(candidates, fmt.Sprintf("candidate-%02d", i))
	}
	pw := candidates[len(candidates)-1]
	target := rar5HeadersEncrypted(pw, rarEntry{name: "invoice.exe", data: peBytes})
	decoy := rar5HeadersEncrypted("not a candidate", rarEntry{name: "note.txt", data: []byte("x")})
	// Each decoy misses with every candidate.
	decoys := maxPasswordMisses / maxPasswords
	for _, n := range []int{decoys - 1, decoys} {
		fs := map[string][]byte{"target.rar": target}
		for i := range n {
			fs[fmt.Sprintf("decoy-%02d.rar", i)] = decoy
		}
		res := inspect(t, zipOf(t, fs), "a.zip", DefaultLimits(), candidates...)
		z := res.Attachments[0].Archive
		if len(z.Entries) != n+1 || z.Entries[n].Name != "target.rar" {
			t.Fatalf("%d decoys: %s", n, listing(z))
		}
		got := listing(z.Entries[n].Archive)
		want := "[rar encrypted]\ninvoice.exe pe encrypted decrypted\n"
		if n == decoys {
			want = "[rar encrypted skipped: encrypted: the entry list cannot be read]\n"
		}
		if got != want {
			t.Errorf("%d decoys: target %s, want %s (gaps %s)", n, got, want, gaps(res))
		}
		if g := gaps(res); strings.Count(g, "the entry list cannot be read") != n+strings.Count(want, "skipped") {
			t.Errorf("%d decoys: gaps %s", n, g)
		}
	}

	defer func(d time.Duration) { maxDecryptTime = d }(maxDecryptTime)
	maxDecryptTime = time.Nanosecond
	check(t, inspect(t, target, "a.rar", DefaultLimits(), "wrong", pw), "[rar encrypted skipped: encrypted: the entry list cannot be read]\n",
		`encrypted: part 1: attachment "a.rar": encrypted: the entry list cannot be read`)
}
