package ratelimit

import (
	"testing"
)

func TestKey(t *testing.T) {
	tests := []struct {
		kind, client, sender, rcpt string
		want                       string
		wantErr                    bool
	}{
		{KindSenderRecipient, "192.0.2.1", "Alice@Example.COM", "Bob@Example.org", "sender+recipient:alice@example.com|bob@example.org", false},
		{KindSenderRecipient, "", "<alice@example.com>", "<bob@example.org>", "sender+recipient:alice@example.com|bob@example.org", false},
		{KindSenderRecipient, "", "", "bob@example.org", "sender+recipient:<>|bob@example.org", false},
		{KindSenderRecipient, "", "<>", "bob@example.org", "sender+recipient:<>|bob@example.org", false},
		{KindSenderRecipient, "", " <> ", "bob@example.org", "sender+recipient:<>|bob@example.org", false},
		{KindSenderRecipient, "", "a@example.com", "", "", true},
		{KindSenderRecipient, "", "a@example.com", "<>", "", true},
		{KindClientRecipient, "192.0.2.1", "a@example.com", "Bob@example.org", "client+recipient:192.0.2.1|bob@example.org", false},
		{KindClientRecipient, "IPv6:2001:DB8::1", "", "bob@example.org", "client+recipient:2001:db8::1|bob@example.org", false},
		{KindClientRecipient, "::ffff:192.0.2.1", "", "bob@example.org", "client+recipient:192.0.2.1|bob@example.org", false},
		{KindClientRecipient, "", "", "bob@example.org", "", true},
		{KindSender, "192.0.2.1", "Alice@Example.com", "bob@example.org", "sender:alice@example.com", false},
		{KindSender, "", "", "", "sender:<>", false},
		{KindClient, "[192.0.2.1]", "", "", "client:192.0.2.1", false},
		{KindClient, "ipv6:::1", "", "", "client:::1", false},
		{KindClient, "fe80::1%eth0", "", "", "client:fe80::1", false},
		{KindClient, "Unknown", "", "", "client:unknown", false},
		{KindClient, " ", "", "", "", true},
		{KindRecipient, "", "", "Postmaster", "recipient:postmaster", false},
		{KindRecipient, "", "", "\"a|b\"@example.org", "recipient:\"a%7Cb\"@example.org", false},
		{KindRecipient, "", "", "a%b@example.org", "recipient:a%25b@example.org", false},
		{KindRecipient, "", "", "a\x00b@example.org", "recipient:a%00b@example.org", false},
		{KindRecipient, "", "", "", "", true},
		{"recipient+sender", "", "a@example.com", "b@example.org", "", true},
		{"", "", "a@example.com", "b@example.org", "", true},
		{"Sender", "", "a@example.com", "b@example.org", "", true},
	}
	for _, tt := range tests {
		got, err := Key(tt.kind, tt.client, tt.sender, tt.rcpt)
		if tt.wantErr {
			if err == nil {
				t.Errorf("Key(%q, %q, %q, %q) = %q, want an error", tt.kind, tt.client, tt.sender, tt.rcpt, got)
			}
			continue
		}
		if err != nil || got != tt.want {
			t.Errorf("Key(%q, %q, %q, %q) = %q, %v; want %q", tt.kind, tt.client, tt.sender, tt.rcpt, got, err, tt.want)
		}
	}
}

// TestKeyInjective checks that parts containing the separator cannot be
// arranged into another pair's key.
func TestKeyInjective(t *testing.T) {
	a, _ := Key(KindSenderRecipient, "", "\"x|y\"@a", "b@c")
	b, _ := Key(KindSenderRecipient, "", "\"x", "y\"@a|b@c")
	if a == b {
		t.Errorf("two sender/recipient pairs share the key %q", a)
	}
}

func FuzzKey(f *testing.F) {
	f.Add("sender+recipient", "192.0.2.1", "a@example.com", "b@example.org")
	f.Add("client", "IPv6:::1", "", "")
	f.Fuzz(func(t *testing.T, kind, client, sender, rcpt string) {
		k, err := Key(kind, client, sender, rcpt)
		if err == nil && len(k) <= len(kind)+1 {
			t.Errorf("Key(%q, %q, %q, %q) = %q", kind, client, sender, rcpt, k)
		}
	})
}
