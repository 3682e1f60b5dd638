package mime

import (
	"bytes"
	"math/rand/v2"
	"strings"
	"testing"
	"unicode"
)

// visibleHTML returns the text htmlText emits for s.
func visibleHTML(s string) string {
	var b strings.Builder
	h := &htmlText{emit: func(r rune) { b.WriteRune(r) }}
	for _, r := range s {
		h.feed(r)
	}
	h.flush()
	return b.String()
}

// TestHTMLHiddenText: the content of elements a reader does not see is
// not text.
func TestHTMLHiddenText(t *testing.T) {
	tests := []struct{ name, in, want string }{
		{"display none", `<div style="display:none">日本語</div>Hello`, "Hello"},
		{"display none spaced", `<div style="color: red ; DISPLAY : None">日本語</div>Hello`, "Hello"},
		{"display none important", `<span style="display:none !IMPORTANT">日本語</span>Hello`, "Hello"},
		{"display none unquoted", `<span style=display:none>日本語</span>Hello`, "Hello"},
		{"display none single quotes", `<span class=x style='display:none'>日本語</span>Hello`, "Hello"},
		{"visibility hidden", `<span style="visibility:hidden">日本語</span>Hello`, "Hello"},
		{"visibility collapse", `<span style="visibility: collapse">日本語</span>Hello`, "Hello"},
		{"mso-hide shows in Thunderbird", `<span style="mso-hide:all">日本語</span>Hello`, "日本語Hello"},
		{"hidden attribute", `<span hidden>日本語</span>Hello`, "Hello"},
		{"hidden attribute upper case", `<SPAN HIDDEN="hidden">日本語</SPAN>Hello`, "Hello"},
		{"hidden attribute last", `<span class="a" hidden/>日本語</span>Hello`, "Hello"},
		{"template", `<template><p>日本語</p></template>Hello`, "Hello"},
		{"nested templates", `<template><template>日本</template>語</template>Hello`, "Hello"},
		{"nested hidden divs", `<div style="display:none"><div>日本</div><div>語</div></div>Hello`, "Hello"},
		{"nested same name", `<div hidden><div><div>日本</div></div>語</div>Hello`, "Hello"},
		{"nested other hidden", `<div hidden><span style="display:none">日本</span>語</div>Hello`, "Hello"},
		{"unclosed", `<div style="display:none">日本語<p>Hello`, ""},
		{"unclosed nested", `<div hidden><div>日本</div>Hello`, ""},
		{"visible after hidden", `<div hidden>x</div><p>日本語</p>`, "\n日本語\n"},
		{"visible before hidden", `<p>日本語</p><div hidden>x</div>`, "\n日本語\n"},
		{"display block", `<div style="display:block">日本語</div>`, "\n日本語\n"},
		{"display none then block", `<div style="display:none; display:block">日本語</div>`, "\n日本語\n"},
		{"display none then invalid", `<div style="display:none; display:xyz">日本語</div>Hello`, "Hello"},
		{"display important then block", `<div style="display:none!important;display:block">日本語</div>Hello`, "Hello"},
		{"display none in comment", `<div style="/* display:none */color:red">日本語</div>`, "\n日本語\n"},
		{"comment in value", `<div style="display:/*x*/none">日本語</div>Hello`, "Hello"},
		{"comment in name", `<div style="dis/**/play:none">日本語</div>`, "\n日本語\n"},
		{"css escape", `<div style="displ\61 y:n\6f ne">日本語</div>Hello`, "Hello"},
		{"css escape of a letter", `<div style="displa\y:none">日本語</div>Hello`, "Hello"},
		{"css hex escape", `<div style="displ\ay:none">日本語</div>`, "\n日本語\n"},
		{"escaped colon", `<div style="display\:none">日本語</div>`, "\n日本語\n"},
		{"character references", `<div style="displ&#97;y&colon;none">日本語</div>Hello`, "Hello"},
		{"css string", `<div style="font-family:'a;display:none'">日本語</div>`, "\n日本語\n"},
		{"duplicate style", `<div style="color:red" style="display:none">日本語</div>`, "\n日本語\n"},
		{"hidden in a value", `<div title="hidden" data-x='display:none'>日本語</div>`, "\n日本語\n"},
		{"other attribute names", `<div data-hidden hiddenx style-x="display:none">日本語</div>`, "\n日本語\n"},
		{"attributes of an end tag", `<b>日本</b hidden style="display:none">語`, "日本語"},
		{"void element", `<img hidden src="x.png"><br style="display:none">日本語`, "\n日本語"},
		{"hidden body", `<body style="display:none">Hello</body>日本語`, ""},
		{"end tag out of scope", `<div hidden><table><tr><td></div>日本語</td></tr></table></div>Hello`, "Hello"},
		{"script in hidden", `<div hidden><script>"</div>"</script>日本語</div>Hello`, "Hello"},
		{"long element name", `<x-aaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaa hidden>Hello</x-aaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaa>日本語`, ""},
		{"non-ASCII element name", `<x日 hidden>Hello</x本>日本語`, ""},
		{"end tag inside select", `<div hidden><select></div>日本語</select></div>Hello`, "Hello"},
		{"span around a div", `<span style="display:none"><div></span>日本語</div></span>Hello`, "Hello"},
		{"span around a closed div", `<span hidden><div>日本</div></span>語`, "語"},
		{"stray end tag of a bound", `<span hidden><ul></template></span>日本語</ul></span>Hello`, "Hello"},
		{"div around a list", `<div hidden><ul><li>日本</ul></div>語`, "語"},
		{"formatting element around a div", `<b hidden><div>日本</b>語`, "語"},
		{"textarea", `<textarea><b>日本語</b></textarea>`, "<b>日本語</b>"},
		{"textarea end", `<textarea>a</text</textarea>b`, "a</textb"},
		{"textarea in hidden", `<span hidden><textarea></span>日本語</textarea></span>Hello`, "Hello"},
		{"xmp", `<xmp><p>日本語</xmp>`, "<p>日本語"},
		{"unclosed textarea", `<textarea>日本語</tex`, "日本語</tex"},
		{"iframe", `<iframe>日本語</iframe>Hello`, "Hello"},
		{"noembed", `<noembed>日本語</noembed>Hello`, "Hello"},
		{"head", `<html><head><title>日本語</title><style>p{}</style><meta charset="utf-8"></head><body>Hello</body></html>`, "Hello"},
		{"text in head shows", `<head><meta charset="utf-8">日本語</head>`, "日本語"},
		{"reference in hidden", `<span hidden>&#26085;&amp;</span>Hello`, "Hello"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			if got := visibleHTML(tt.in); got != tt.want {
				t.Errorf("text of %q = %q, want %q", tt.in, got, tt.want)
			}
		})
	}
}

// TestHTMLHiddenNonASCII: Japanese a reader does not see does not make a
// mail's body non-ASCII, however long the ASCII before it (the fast path of
// scanText reads it as bytes).
func TestHTMLHiddenNonASCII(t *testing.T) {
	long := "<p>" + strings.Repeat("Cheap watches, buy now. ", 20) + "</p>"
	tests := []struct {
		name, body string
		nonASCII   bool
	}{
		{"display none", `<div style="display:none">日本語</div>Hello`, false},
		{"visibility hidden", `<p style="visibility:hidden">日本語</p><p>Hello</p>`, false},
		{"hidden attribute", `<span hidden>日本語</span>Hello`, false},
		{"template", `<template>日本語</template>Hello`, false},
		{"nested", `<div hidden><div><div>日本</div></div>語</div>Hello`, false},
		{"unclosed", `Hello<div style="display:none">日本語`, false},
		{"visible after hidden", `<div hidden>日本</div><p>こんにちは</p>`, true},
		{"hidden references", `<div hidden>&#26085;&#26412;</div>Hello`, false},
	}
	for _, tt := range tests {
		for _, prefix := range []string{"", long} {
			t.Run(tt.name, func(t *testing.T) {
				msg := "Subject: test\r\nContent-Type: text/html; charset=utf-8\r\n\r\n" + prefix + tt.body + "\r\n"
				res := inspectString(t, msg)
				if res.Text.NonASCII != tt.nonASCII || !res.Text.NonSpace {
					t.Errorf("body %q: NonASCII %v NonSpace %v, want NonASCII %v", tt.body, res.Text.NonASCII, res.Text.NonSpace, tt.nonASCII)
				}
				if strings.Contains(res.Text.Sample, "日本") {
					t.Errorf("body %q: sample %q holds hidden text", tt.body, res.Text.Sample)
				}
			})
		}
	}
}

// TestHTMLHiddenFastPath: with hidden elements about, the facts are the
// same whether the rest of the text is read as runes or as bytes.
func TestHTMLHiddenFastPath(t *testing.T) {
	pieces := []string{
		"<div hidden>", "<div style=\"display:none\">", "<span style='visibility: hidden !important'>",
		"<div style=display:none>", "<p style=\"displ&#97;y:none\">", "<template>", "</template>",
		"</div>", "</span>", "</p>", "<div>", "<span>", "<table>", "</table>", "<td>", "<br hidden>",
		"<script>'</div>'</script>", "<style>p{}</style>", "<textarea>", "</textarea>", "<xmp>日本</xmp>", "</tex",
		"<span style=\"display:none\">", "<ul>", "</ul>", "<select>", "</select>", "<b hidden>", "</b>", "<!-- 日本 -->", "<a title=\"日本\" href=x>",
		"hello ", "world\n", " ", "\u3000", "\u200b", "\ufe0f", "日本", "é", "\xff", "&#26085;", "&amp;",
		strings.Repeat("a", 130), "<", ">", "=", "\"", "'",
	}
	rng := rand.New(rand.NewPCG(3, 4))
	for i := range 20000 {
		var b strings.Builder
		for range rng.IntN(50) {
			b.WriteString(pieces[rng.IntN(len(pieces))])
		}
		text := b.String()
		for _, keep := range []int{0, 100} {
			facts := func(fast bool) TextFacts {
				defer func(v bool) { asciiFastPath = v }(asciiFastPath)
				asciiFastPath = fast
				var f TextFacts
				c := &textCollector{f: &f, keep: keep}
				if err := scanText(strings.NewReader(text), true, c); err != nil {
					t.Fatal(err)
				}
				c.endPart()
				return f
			}
			if slow, fast := facts(false), facts(true); slow != fast {
				t.Fatalf("case %d %q keep %d: runes %+v, bytes %+v", i, text, keep, slow, fast)
			}
		}
	}
}

// TestIsBlankInvisible: variation selectors, joiners, tag characters and
// the other default ignorable code points show nothing.
func TestIsBlankInvisible(t *testing.T) {
	blank := []string{
		"\ufe0f", "\ufe00", "\U000E0100", "\U000E01EF", "\u034f", "\u200b", "\u200c\u200d\u200e\u200f",
		"\u2060\u2061\u2062\u2063\u2064", "\u180b\u180c\u180d\u180e\u180f", "\U000E0001\U000E0041\U000E007F",
		"\U000E0000", "\u115f\u1160\u3164\uffa0", "\u2800", "\u17b4", " \ufe0f\u034f\u200b\u3000 ",
	}
	for _, s := range blank {
		if !IsBlank(s) {
			t.Errorf("IsBlank(%q) = false", s)
		}
	}
	for _, s := range []string{"❤\ufe0f", "a\u200b", "\u200bあ", "\U000E0041x", "\ufffd"} {
		if IsBlank(s) {
			t.Errorf("IsBlank(%q) = true", s)
		}
	}
	// Every variation selector and default ignorable code point is
	// invisible.
	for _, tab := range []*unicode.RangeTable{unicode.Variation_Selector, unicode.Other_Default_Ignorable_Code_Point} {
		for _, r16 := range tab.R16 {
			for r := rune(r16.Lo); r <= rune(r16.Hi); r += rune(r16.Stride) {
				if !isInvisible(r) {
					t.Errorf("isInvisible(%U) = false", r)
				}
			}
		}
		for _, r32 := range tab.R32 {
			for r := rune(r32.Lo); r <= rune(r32.Hi); r += rune(r32.Stride) {
				if !isInvisible(r) {
					t.Errorf("isInvisible(%U) = false", r)
				}
			}
		}
	}
}

// TestInvisibleBody: a subject or body of invisible runes is blank, and
// invisible runes do not make ASCII text non-ASCII, whether they come
// before the sample is full or after (the fast path of scanText).
func TestInvisibleBody(t *testing.T) {
	long := strings.Repeat("Cheap watches, buy now. ", 20)
	tests := []struct {
		name, ctype, body  string
		nonSpace, nonASCII bool
	}{
		{"variation selector", "text/plain; charset=utf-8", "\ufe0f", false, false},
		{"grapheme joiner", "text/plain; charset=utf-8", "\u034f\u034f", false, false},
		{"zero width space", "text/plain; charset=utf-8", "\u200b\r\n\u200b", false, false},
		{"mixed invisible", "text/plain; charset=utf-8", " \ufe0f\u034f\u200b\u3000\U000E0041\u2060 ", false, false},
		{"html invisible", "text/html; charset=utf-8", "<p>&#xFE0F;&zwj;\u034f</p>", false, false},
		{"ASCII and invisible", "text/plain; charset=utf-8", "Hello\u3000world\u200b\u00a0\ufe0f", true, false},
		{"long ASCII and invisible", "text/plain; charset=utf-8", long + "\u3000\u200b\ufe0f\u00a0 end", true, false},
		{"long ASCII then Japanese", "text/plain; charset=utf-8", long + "\u3000\u200b日本", true, true},
		{"long ASCII then invalid", "text/plain; charset=utf-8", long + "\u200b\xff", true, true},
		{"long HTML and invisible", "text/html; charset=utf-8", "<p>" + long + "&nbsp;\u3000\u200b</p>", true, false},
		{"Japanese", "text/plain; charset=utf-8", "\u200bこんにちは", true, true},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			msg := "Subject: =?UTF-8?B?" + b64enc([]byte("\ufe0f\u034f\u200b")) + "?=\r\nContent-Type: " + tt.ctype + "\r\n\r\n" + tt.body + "\r\n"
			res := inspectString(t, msg)
			if !res.HasSubject || !IsBlank(res.Subject) {
				t.Errorf("subject %q: IsBlank false", res.Subject)
			}
			if res.Text.NonSpace != tt.nonSpace || res.Text.NonASCII != tt.nonASCII {
				t.Errorf("body %q: NonSpace %v NonASCII %v, want %v %v", tt.body, res.Text.NonSpace, res.Text.NonASCII, tt.nonSpace, tt.nonASCII)
			}
		})
	}
}

// TestIndexHighByte: the first byte above 0x7f is found at any offset.
func TestIndexHighByte(t *testing.T) {
	for n := range 40 {
		b := bytes.Repeat([]byte{'a'}, n)
		if got := indexHighByte(b); got != -1 {
			t.Errorf("len %d, ASCII: %d", n, got)
		}
		for i := range n {
			c := bytes.Clone(b)
			c[i] = 0x80
			if i+1 < n {
				c[i+1] = 0xff
			}
			if got := indexHighByte(c); got != i {
				t.Errorf("len %d, high byte at %d: %d", n, i, got)
			}
		}
	}
}
