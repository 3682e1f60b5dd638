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
	html := []string{"<p>", "</p>", "<b>", "<img alt=\"日本\" src='x'>", "<a href=x>", "&amp;", "&eacute;", "&#12354;", "&#x41;", "&", "&nbsp", "<!-- 日本 -- -->", "<!-->", "<!x 日本>", "<?x 日本?>", "<script>var s='日本';</script>", "<style>p{}</style>", "<title>日本</title>", "<", ">", "=", "\"", "'", "-", "<br/>", "<div\n class=\"a\">"}
	pieces := []string{"hello ", "world\n", " ", "\t", "\u3000", "日本", "é", "\xff", "\xe3\x81", "x", strings.Repeat("a", 300), "\u200b"}
	rng := rand.New(rand.NewPCG(1, 2))
	for i := range 20000 {
		var b strings.Builder
		for range rng.IntN(40) {
			b.WriteString(pieces[rng.IntN(len(pieces))])
		}
		text := b.String()
		if i%2 == 1 {
			// HTML: the same pieces among tags, references and comments.
			b.Reset()
			for range rng.IntN(60) {
				if rng.IntN(2) == 0 {
					b.WriteString(html[rng.IntN(len(html))])
				} else {
					b.WriteString(pieces[rng.IntN(len(pieces))])
				}
			}
			text = b.String()
		}
		isHTML := i%2 == 1
		for _, keep := range []int{0, 100} {
			facts := func(fast bool) TextFacts {
				defer func(v bool) { asciiFastPath = v }(asciiFastPath)
				asciiFastPath = fast
				var f TextFacts
				c := &textCollector{f: &f, keep: keep}
				if err := scanText(bytes.NewReader([]byte(text)), isHTML, c); err != nil {
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

// BenchmarkInspectASCIIHTML inspects an English HTML mail of 26 KB.
func BenchmarkInspectASCIIHTML(b *testing.B) {
	msg := []byte("Subject: report\r\nContent-Type: text/html; charset=us-ascii\r\n\r\n<html><body>" +
		strings.Repeat("<p class=\"body\">The quarterly figures are <b>attached</b>, please review them before Friday.</p>\r\n", 300) + "</body></html>")
	b.SetBytes(int64(len(msg)))
	for b.Loop() {
		if _, err := Inspect(bytes.NewReader(msg), Limits{}); err != nil {
			b.Fatal(err)
		}
	}
}
