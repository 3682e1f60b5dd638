package policy_test

import (
	"context"
	"fmt"
	"regexp"
	"strings"
	"testing"

	"github.com/sekisho/sekisho/policy"
	"github.com/sekisho/sekisho/policy/ratelimit/redistest"
)

// TestRateLimitRedisKeysAreDigests: the counts in Redis are kept under
// keyed digests: no key shows the sender's or the recipient's address
// (who mailed whom), two secrets give two keys, and the limit still
// holds. The log line may name the addresses: the log is the admin's.
func TestRateLimitRedisKeysAreDigests(t *testing.T) {
	srv := redistest.StartServer(t, "pw")
	config := func(secret string) string {
		return fmt.Sprintf("[rules.rate_limit]\nlimit = 2\nwindow = \"10m\"\nstore = %q\nkey_secret = %q\n", srv.URL("pw"), secret)
	}
	e := newEngine(t, config("first secret"), nil)
	rateSend(t, e, aliceToBob)
	rateSend(t, e, aliceToBob)
	v, _ := rateRcpt(e, aliceToBob)
	expect(t, v, "rate_limit", policy.Tempfail, rateReply,
		"sender+recipient:alice@example.net|bob@example.co.jp had 2 messages within 10m0s (limit 2)")

	cl := srv.Client("pw")
	defer cl.Close()
	keys := func() []string {
		k, err := cl.Keys(context.Background(), "*").Result()
		if err != nil {
			t.Fatal(err)
		}
		return k
	}
	digest := regexp.MustCompile(`^sekisho:rl:sender\+recipient:[0-9a-f]{32}$`)
	first := keys()
	if len(first) != 1 {
		t.Fatalf("keys %q, want one", first)
	}
	for _, k := range first {
		if !digest.MatchString(k) || strings.Contains(k, "alice") || strings.Contains(k, "bob") || strings.Contains(k, "example") {
			t.Errorf("key %q shows more than a digest", k)
		}
	}

	other := newEngine(t, config("second secret"), nil)
	rateSend(t, other, aliceToBob) // counted apart: another digest
	if got := keys(); len(got) != 2 {
		t.Errorf("keys %q with two secrets, want two", got)
	}
}
