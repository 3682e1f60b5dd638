package dnsbl

import (
	"net/netip"
	"testing"
)

func TestParseRange(t *testing.T) {
	tests := []struct {
		in, from, to string
	}{
		{"127.0.0.2-127.0.0.11", "127.0.0.2", "127.0.0.11"},
		{" 127.0.0.2 - 127.0.0.11 ", "127.0.0.2", "127.0.0.11"},
		{"127.0.0.2", "127.0.0.2", "127.0.0.2"},
		{"127.0.0.0/24", "127.0.0.0", "127.0.0.255"},
		{"127.0.0.9/29", "127.0.0.8", "127.0.0.15"},
		{"127.0.0.0/8", "127.0.0.0", "127.255.255.255"},
		{"127.0.0.4/32", "127.0.0.4", "127.0.0.4"},
		{"0.0.0.0/0", "0.0.0.0", "255.255.255.255"},
	}
	for _, tt := range tests {
		r, err := ParseRange(tt.in)
		if err != nil {
			t.Errorf("ParseRange(%q): %v", tt.in, err)
			continue
		}
		if r.From != netip.MustParseAddr(tt.from) || r.To != netip.MustParseAddr(tt.to) {
			t.Errorf("ParseRange(%q) = %v, want %s-%s", tt.in, r, tt.from, tt.to)
		}
	}
}

func TestParseRangeErrors(t *testing.T) {
	for _, in := range []string{
		"", "127.0.0.11-127.0.0.2", "127.0.0.256", "::1", "::1-::2", "2001:db8::/32",
		"127.0.0.0/33", "127.0.0.1-", "-127.0.0.1", "127.0.0.1-2001:db8::1", "spam",
	} {
		if r, err := ParseRange(in); err == nil {
			t.Errorf("ParseRange(%q) = %v, want an error", in, r)
		}
	}
}

func TestRangeContainsAndString(t *testing.T) {
	r := Range{From: netip.MustParseAddr("127.0.0.2"), To: netip.MustParseAddr("127.0.0.11")}
	for code, want := range map[string]bool{
		"127.0.0.1": false, "127.0.0.2": true, "127.0.0.5": true, "127.0.0.11": true, "127.0.0.20": false,
	} {
		if got := r.Contains(netip.MustParseAddr(code)); got != want {
			t.Errorf("Contains(%s) = %v, want %v", code, got, want)
		}
	}
	if s := r.String(); s != "127.0.0.2-127.0.0.11" {
		t.Errorf("String() = %q", s)
	}
	if s := (Range{From: r.From, To: r.From}).String(); s != "127.0.0.2" {
		t.Errorf("String() = %q", s)
	}
}

func FuzzParseRange(f *testing.F) {
	for _, s := range []string{"127.0.0.2-127.0.0.11", "127.0.0.2", "127.0.0.0/24", "::1", "1-2-3", "0.0.0.0/0"} {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, s string) {
		r, err := ParseRange(s)
		if err != nil {
			return
		}
		if !r.From.Is4() || !r.To.Is4() || r.To.Less(r.From) {
			t.Fatalf("ParseRange(%q) = %v: not an ordered IPv4 range", s, r)
		}
		if !r.Contains(r.From) || !r.Contains(r.To) {
			t.Fatalf("ParseRange(%q) = %v does not contain its ends", s, r)
		}
		back, err := ParseRange(r.String())
		if err != nil || back != r {
			t.Fatalf("ParseRange(%q).String() = %q does not parse back: %v, %v", s, r.String(), back, err)
		}
	})
}
