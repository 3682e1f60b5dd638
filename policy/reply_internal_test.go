package policy

import (
	"strings"
	"testing"
)

// TestEveryRuleDeclaresPlaceholders: -check knows what each rule's
// replies may use (its table's Needs.Vars), and a rule's hits give no
// placeholder it does not declare.
func TestEveryRuleDeclaresPlaceholders(t *testing.T) {
	for _, name := range RuleNames {
		if _, ok := entryOf(name); !ok {
			t.Errorf("%s is not in the registry", name)
		}
	}
	vars := func(name string) []string {
		e, _ := entryOf(name)
		return newTable(e).needs().Vars
	}
	if v := vars("dnsbl"); strings.Join(v, ",") != "zones,txt" {
		t.Errorf("dnsbl vars %q", v)
	}
	if v := vars("send_only"); v != nil {
		t.Errorf("send_only vars %q", v)
	}
}

func TestReplyName(t *testing.T) {
	tests := []struct{ in, want string }{
		{"invoice.pdf", "invoice.pdf"},
		{"請求書.exe", "???.exe"},
		{"a\r\nb.exe", "a  b.exe"},
		{"bad\xffbyte.exe", "bad?byte.exe"},
		{strings.Repeat("a", 100) + ".exe", strings.Repeat("a", 73) + "....exe"},
		{strings.Repeat("a", 100), strings.Repeat("a", 77) + "..."},
	}
	for _, tt := range tests {
		got := replyName(tt.in)
		if got != tt.want {
			t.Errorf("replyName(%q) = %q, want %q", tt.in, got, tt.want)
		}
		if len(got) > maxReplyName {
			t.Errorf("replyName(%q) is %d bytes", tt.in, len(got))
		}
	}
	if r := replyReason("パスワード " + strings.Repeat("x", 300)); len(r) != maxReplyReason || !strings.HasPrefix(r, "????? x") || !strings.HasSuffix(r, "...") {
		t.Errorf("replyReason = %q", r)
	}
}

func TestSizeLike(t *testing.T) {
	tests := []struct {
		n     int64
		limit Size
		want  string
	}{
		{3_000_001, 3_000_000, "3.1MB"},
		{4 << 20, 3 << 20, "4MiB"},
		{3<<20 + 1, 3 << 20, "3.1MiB"},
		{5_452_595, 3 << 20, "5.2MiB"},
		{1500, 1 << 10, "1.5KiB"},
		{1001, 1000, "1.1KB"},
		{1001, 999, "1001B"},
	}
	for _, tt := range tests {
		if got := sizeLike(tt.n, tt.limit); got != tt.want {
			t.Errorf("sizeLike(%d, %s) = %q, want %q", tt.n, tt.limit, got, tt.want)
		}
	}
}
