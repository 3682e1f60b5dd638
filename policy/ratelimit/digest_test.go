package ratelimit_test

import (
	"regexp"
	"testing"

	"github.com/sekisho/sekisho/policy/ratelimit"
)

// TestDigest: a store key keeps the kind and hides the addresses; it
// depends on the secret and on every byte of the key.
func TestDigest(t *testing.T) {
	key, err := ratelimit.Key(ratelimit.KindSenderRecipient, "", "yamada.taro@sender.example", "hanako@example.co.jp")
	if err != nil {
		t.Fatal(err)
	}
	d := ratelimit.Digest([]byte("s"), key)
	if !regexp.MustCompile(`^sender\+recipient:[0-9a-f]{32}$`).MatchString(d) {
		t.Errorf("Digest = %q", d)
	}
	if d != ratelimit.Digest([]byte("s"), key) {
		t.Error("Digest is not stable")
	}
	for _, other := range []string{
		ratelimit.Digest([]byte("t"), key),
		ratelimit.Digest(nil, key),
		ratelimit.Digest([]byte("s"), key+"x"),
	} {
		if other == d {
			t.Errorf("%q: same digest for another secret or key", other)
		}
	}
}
