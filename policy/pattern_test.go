package policy_test

import (
	"strings"
	"testing"

	"github.com/sekisho/sekisho/policy"
)

func TestPatternMatch(t *testing.T) {
	tests := []struct {
		pattern string
		addr    string
		want    bool
	}{
		{"noreply@example.co.jp", "noreply@example.co.jp", true},
		{"noreply@example.co.jp", "NoReply@Example.CO.JP", true},
		{"NoReply@Example.co.jp", "noreply@example.co.jp", true},
		{"noreply@example.co.jp", "<noreply@example.co.jp>", true},
		{"noreply@example.co.jp", " <NOREPLY@EXAMPLE.CO.JP> ", true},
		{"noreply@example.co.jp", "noreply@example.co.jp.evil", false},
		{"noreply@example.co.jp", "xnoreply@example.co.jp", false},
		{"noreply@example.co.jp", "noreply@example.co.j", false},

		{"no-reply@*", "no-reply@example.jp", true},
		{"no-reply@*", "No-Reply@shop.example.jp", true},
		{"no-reply@*", "no-reply@", true},
		{"no-reply@*", "noreply@example.jp", false},
		{"no-reply@*", "xno-reply@example.jp", false},

		{"*-noreply@*", "shop-noreply@x.jp", true},
		{"*-noreply@*", "a-b-noreply@x.jp", true},
		{"*-noreply@*", "-noreply@x.jp", true},
		{"*-noreply@*", "noreply@x.jp", false},
		{"*-noreply@*", "shop-noreply.x.jp", false},

		{"*@example.co.jp", "taro@example.co.jp", true},
		{"*@example.co.jp", "taro@sub.example.co.jp", false},
		{"*@*.example.co.jp", "taro@sub.example.co.jp", true},
		{"*@*.example.co.jp", "taro@example.co.jp", false},

		{"user?@example.jp", "user1@example.jp", true},
		{"user?@example.jp", "userA@example.jp", true},
		{"user?@example.jp", "user@example.jp", false},
		{"user?@example.jp", "user12@example.jp", false},
		{"?*@example.jp", "a@example.jp", true},
		{"?*@example.jp", "@example.jp", false},
		{"*?@example.jp", "a@example.jp", true},

		{"*no*reply*@*", "xx-no_reply-yy@example.jp", true},
		{"*no*reply*@*", "replyno@example.jp", false},
		{"a*b*c", "abc", true},
		{"a*b*c", "aXbYc", true},
		{"a*b*c", "acb", false},
		{"a*a", "a", false},
		{"ab*bc", "abc", false},
		{"ab*bc", "abbc", true},
		{"*", "anything@example.jp", true},

		// The null sender: only "<>" matches it, and it matches nothing else.
		{"**", "", false},
		{"*", "<>", false},
		{"<>", "", true},
		{"<>", "<>", true},
		{"<>", " <> ", true},
		{"<>", "mailer-daemon@example.jp", false},
	}
	for _, tt := range tests {
		p, err := policy.CompilePattern(tt.pattern)
		if err != nil {
			t.Fatalf("CompilePattern(%q): %v", tt.pattern, err)
		}
		if got := p.Match(tt.addr); got != tt.want {
			t.Errorf("%q.Match(%q) = %v, want %v", tt.pattern, tt.addr, got, tt.want)
		}
		if p.String() != tt.pattern {
			t.Errorf("String() = %q, want %q", p.String(), tt.pattern)
		}
	}
}

func TestCompilePatternErrors(t *testing.T) {
	for _, s := range []string{"", "   ", "<noreply@example.jp>", "no reply@example.jp", "a@b\tc", "a@b\r\nc"} {
		if _, err := policy.CompilePattern(s); err == nil {
			t.Errorf("CompilePattern(%q) succeeded", s)
		}
	}
	if _, err := policy.CompilePatterns([]string{"noreply@*", "<x>"}); err == nil {
		t.Error("CompilePatterns accepted a bad pattern")
	}
}

func TestPatternsMatch(t *testing.T) {
	ps, err := policy.CompilePatterns([]string{"noreply@*", "*-noreply@*", "*@example.co.jp"})
	if err != nil {
		t.Fatal(err)
	}
	tests := []struct {
		addr, want string
		ok         bool
	}{
		{"noreply@example.co.jp", "noreply@*", true},
		{"shop-noreply@x.jp", "*-noreply@*", true},
		{"taro@example.co.jp", "*@example.co.jp", true},
		{"taro@example.jp", "", false},
	}
	for _, tt := range tests {
		p, ok := ps.Match(tt.addr)
		if ok != tt.ok || p.String() != tt.want {
			t.Errorf("Match(%q) = %q, %v; want %q, %v", tt.addr, p, ok, tt.want, tt.ok)
		}
	}
	if _, ok := (policy.Patterns{}).Match("a@b"); ok {
		t.Error("an empty list matched")
	}
}

func TestNormalizeAddress(t *testing.T) {
	tests := []struct{ in, want string }{
		{"Taro@Example.JP", "taro@example.jp"},
		{"<Taro@Example.JP>", "taro@example.jp"},
		{"  <taro@example.jp>\t", "taro@example.jp"},
		{"<>", ""},
		{"", ""},
		{"taro@example.jp>", "taro@example.jp"},
		{"<<taro@example.jp>>", "<taro@example.jp>"},
	}
	for _, tt := range tests {
		if got := policy.NormalizeAddress(tt.in); got != tt.want {
			t.Errorf("NormalizeAddress(%q) = %q, want %q", tt.in, got, tt.want)
		}
	}
}

// FuzzPatternMatch: matching never panics, and a pattern without wildcards
// matches exactly its own normalized text.
func FuzzPatternMatch(f *testing.F) {
	f.Add("*-noreply@*", "shop-noreply@x.jp")
	f.Add("a*a", "a")
	f.Add("?*?", "ab")
	f.Fuzz(func(t *testing.T, pattern, addr string) {
		p, err := policy.CompilePattern(pattern)
		if err != nil {
			return
		}
		p.Match(addr)
		if !strings.ContainsAny(pattern, "*?") && !p.Match(pattern) {
			t.Fatalf("%q does not match itself", pattern)
		}
	})
}
