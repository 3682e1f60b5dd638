package mime

import (
	"bytes"
	"math/rand/v2"
	"strings"
	"testing"
	"unicode"
)

// TestASCIIFastPath: the facts are the same whether the rest of the text is
// read as runes or as bytes.
func TestASCIIFastPath(t *testing.T) {
	pieces := []string{"hello ", "world\n", " ", "\t", "\u3000", "日本", "é", "\xff", "\xe3\x81", "x", strings.Repeat("a", 300), "\u200b"}
	rng := rand.New(rand.NewPCG(1, 2))
	for i := range 3000 {
		var b strings.Builder
		for range rng.IntN(40) {
			b.WriteString(pieces[rng.IntN(len(pieces))])
		}
		text := b.String()
		for _, keep := range []int{0, 100} {
			facts := func(fast bool) TextFacts {
				defer func(v bool) { asciiFastPath = v }(asciiFastPath)
				asciiFastPath = fast
				var f TextFacts
				c := &textCollector{f: &f, keep: keep}
				if err := scanText(bytes.NewReader([]byte(text)), false, c); err != nil {
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

// BenchmarkInspectASCIIText inspects an English plain-text mail of 28 KB:
// once the sample is taken, only a byte above 0x7f can change the facts.
func BenchmarkInspectASCIIText(b *testing.B) {
	msg := []byte("Subject: report\r\nContent-Type: text/plain; charset=us-ascii\r\n\r\n" +
		strings.Repeat("The quarterly figures are attached, please review them before Friday.\r\n", 400))
	b.SetBytes(int64(len(msg)))
	for b.Loop() {
		if _, err := Inspect(bytes.NewReader(msg), Limits{}); err != nil {
			b.Fatal(err)
		}
	}
}

// TestIsInvisibleASCII: the ASCII shortcut of isInvisible says what the
// Unicode tables say.
func TestIsInvisibleASCII(t *testing.T) {
	for r := rune(0); r < 0x80; r++ {
		want := unicode.IsSpace(r) || unicode.In(r, unicode.Cc, unicode.Cf)
		if isInvisible(r) != want {
			t.Errorf("isInvisible(%U) = %v, want %v", r, !want, want)
		}
	}
}
