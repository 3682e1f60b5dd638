package mime

import (
	"strings"
	"testing"
)

// TestSevenZipEncryptedSmallEntryList: 7-Zip leaves a small entry list
// uncompressed behind AES alone; it is decrypted with the candidate that
// fits as a compressed one is, and a wrong candidate is counted as a miss.
func TestSevenZipEncryptedSmallEntryList(t *testing.T) {
	a := sevenZip(t, map[string][]byte{"quote.pdf": peBytes}, "-pMk7#qa9Z", "-mhe=on")
	res := inspect(t, a, "a.7z", DefaultLimits(), "wrong", "Mk7#qa9Z")
	check(t, res, "[7z encrypted]\nquote.pdf pe encrypted decrypted\n", "")
	res = inspect(t, a, "a.7z", DefaultLimits(), "wrong")
	if got := gaps(res); !strings.Contains(got, "no password candidate opens the entry list") {
		t.Errorf("wrong candidate: %s", got)
	}
}

// TestDecrypt7zAESBounds: an archive asking for a key derivation beyond
// what 7-Zip writes is refused before any work.
func TestDecrypt7zAESBounds(t *testing.T) {
	props := []byte{0xc0 | 30, 0x00, 0x01, 0x02} // 2^30 rounds, salt and IV of one byte
	if _, err := decrypt7zAES(props, []byte("pw"), make([]byte, 16)); err == nil || !strings.Contains(err.Error(), "2^30") {
		t.Errorf("2^30 rounds: %v", err)
	}
}
