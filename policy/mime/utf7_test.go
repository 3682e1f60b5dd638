package mime

import (
	"bufio"
	"bytes"
	"errors"
	"io"
	"strings"
	"testing"
	"testing/iotest"
	"unicode/utf8"

	"github.com/emersion/go-message/charset"
	"golang.org/x/text/transform"
)

// utf7Tests are UTF-7 inputs and their text; the first ones are the
// examples of RFC 2152.
var utf7Tests = []struct{ name, in, want string }{
	{"rfc 2152 alpha", "A+ImIDkQ.", "A\u2262\u0391."},
	{"rfc 2152 smile", "Hi Mom -+Jjo--!", "Hi Mom -\u263a-!"},
	{"rfc 2152 nihongo", "+ZeVnLIqe-", "日本語"},
	{"hiragana", "+MEIwRDBG-", "あいう"},
	{"no dash", "+MEIwRDBG.", "あいう."},
	{"ended by a line break", "+MEIwRDBG\r\nx", "あいう\r\nx"},
	{"plus", "1 +- 1 = 2", "1 + 1 = 2"},
	{"plus plus", "+-+-", "++"},
	{"dash after shift", "+MEI--", "あ-"},
	{"base64 plus and slash", "+AC8AKw-", "/+"},
	{"surrogate pair", "+2D3eAA-", "😀"},
	{"pair across shifts", "+2D0-+3gA-", "😀"},
	{"direct", "a-b~c\\d\x00\t", "a-b~c\\d\x00\t"},
	// Malformed: what Thunderbird shows nothing for is nothing, the rest
	// is U+FFFD.
	{"plus before punctuation", "a+!b", "a!b"},
	{"plus at end", "a+", "a"},
	{"partial unit", "x+A-y", "xy"},
	{"left-over bits", "+AAA-x", "\x00x"},
	{"non-zero left-over bits", "+MEJ-", "あ"},
	{"lone high surrogate", "+2D0-x", "\ufffdx"},
	{"lone high surrogate at end", "+2D0-", "\ufffd"},
	{"lone low surrogate", "+3gA-", "\ufffd"},
	{"two high surrogates", "+2D3YPQ-", "\ufffd\ufffd"},
	{"high surrogate then text", "+2D0AQQ-", "\ufffdA"},
	{"high byte", "a\xffb", "a\ufffdb"},
	{"high byte in shift", "+MEI\xff", "あ\ufffd"},
}

// decodeUTF7Chunked decodes src calling Transform with one byte of input
// at a time and dst of dstSize bytes, as a caller keeping to the
// transform.Transformer contract would.
func decodeUTF7Chunked(t *testing.T, src []byte, dstSize int) string {
	t.Helper()
	d := &utf7Decoder{}
	dst := make([]byte, dstSize)
	var out []byte
	for i := 0; ; {
		chunk := src[i:min(i+1, len(src))]
		atEOF := i+len(chunk) == len(src)
		nDst, nSrc, err := d.Transform(dst, chunk, atEOF)
		out = append(out, dst[:nDst]...)
		i += nSrc
		switch {
		case err == nil && nSrc != len(chunk):
			t.Fatalf("%q: %d of %d bytes read without an error", src, nSrc, len(chunk))
		case err == nil && atEOF:
			return string(out)
		case err == nil:
		case errors.Is(err, transform.ErrShortDst):
			if nDst == 0 && nSrc == 0 {
				t.Fatalf("%q: no progress with %d bytes of room", src, dstSize)
			}
		default:
			t.Fatalf("%q: %v", src, err)
		}
	}
}

// TestUTF7Decode: RFC 2152 text decodes, leniently, the same whole or
// read a byte at a time, into any room.
func TestUTF7Decode(t *testing.T) {
	for _, tt := range utf7Tests {
		t.Run(tt.name, func(t *testing.T) {
			got, err := utf7.NewDecoder().String(tt.in)
			if err != nil || got != tt.want {
				t.Errorf("decode %q = %q, %v; want %q", tt.in, got, err, tt.want)
			}
			b, err := io.ReadAll(utf7.NewDecoder().Reader(iotest.OneByteReader(strings.NewReader(tt.in))))
			if err != nil || string(b) != tt.want {
				t.Errorf("decode %q a byte at a time = %q, %v; want %q", tt.in, b, err, tt.want)
			}
			for _, size := range []int{6, 7, 8} {
				if got := decodeUTF7Chunked(t, []byte(tt.in), size); got != tt.want {
					t.Errorf("decode %q into %d bytes = %q, want %q", tt.in, size, got, tt.want)
				}
			}
		})
	}
}

// TestUTF7ShortDst: when dst has no room for what a byte completes, the
// byte is left unread and the decoder unchanged.
func TestUTF7ShortDst(t *testing.T) {
	d := &utf7Decoder{}
	dst := make([]byte, 2)
	nDst, nSrc, err := d.Transform(dst, []byte("+MEI-"), true)
	if nDst != 0 || nSrc != 3 || err != transform.ErrShortDst {
		t.Fatalf("Transform = %d, %d, %v; want 0, 3, ErrShortDst", nDst, nSrc, err)
	}
	dst = make([]byte, 8)
	nDst, nSrc, err = d.Transform(dst, []byte("I-"), true)
	if string(dst[:nDst]) != "あ" || nSrc != 2 || err != nil {
		t.Fatalf("Transform = %q, %d, %v; want あ, 2, nil", dst[:nDst], nSrc, err)
	}
}

// TestUTF7Labels: the labels of UTF-7 resolve through lookupCharset,
// decodeLabelled and go-message's charset package.
func TestUTF7Labels(t *testing.T) {
	for _, label := range []string{"utf-7", "UTF-7", "utf7", "unicode-1-1-utf-7", "csUnicode11UTF7", "x-utf-7"} {
		lower := strings.ToLower(label)
		if enc, err := lookupCharset(lower); err != nil || enc != utf7 {
			t.Errorf("lookupCharset(%q) = %v, %v", lower, enc, err)
		}
		if s, ok := decodeLabelled(label, []byte("+MEIwRDBG-")); !ok || s != "あいう" {
			t.Errorf("decodeLabelled(%q) = %q, %v", label, s, ok)
		}
		r, err := charset.Reader(label, strings.NewReader("+ZeVnLIqe-"))
		if err != nil {
			t.Errorf("charset.Reader(%q): %v", label, err)
			continue
		}
		if b, err := io.ReadAll(r); err != nil || string(b) != "日本語" {
			t.Errorf("charset.Reader(%q) read %q, %v", label, b, err)
		}
		tr, known := textReader(bufio.NewReaderSize(strings.NewReader("+MEIwRDBG-"), sniffPeek), label)
		if b, err := io.ReadAll(tr); !known || err != nil || string(b) != "あいう" {
			t.Errorf("textReader(%q) read %q, %v, known %v", label, b, err, known)
		}
	}
}

// TestUTF7Encoder: UTF-7 is only read.
func TestUTF7Encoder(t *testing.T) {
	if _, err := utf7.NewEncoder().String("あ"); err == nil {
		t.Error("encoding to UTF-7 succeeded")
	}
	if s, err := utf7.NewEncoder().String(""); err != nil || s != "" {
		t.Errorf("encoding nothing = %q, %v", s, err)
	}
}

// TestUTF7Body: a body in UTF-7 is read as Thunderbird shows it.
func TestUTF7Body(t *testing.T) {
	tests := []struct {
		name, ctype, cte, body string
		nonASCII               bool
		sample                 string
	}{
		{"plain", "text/plain; charset=UTF-7", "7bit", "+MEIwRDBG-", true, "あいう"},
		{"quoted label", `text/plain; charset="utf-7"`, "7bit", "Hello +ZeVnLIqe-.", true, "Hello 日本語."},
		{"html", "text/html; charset=unicode-1-1-utf-7", "7bit", "<p>+MEIwRDBG-</p>", true, "あいう"},
		{"base64", "text/plain; charset=UTF-7", "base64", b64enc([]byte("+MEIwRDBG- 1 +- 1")), true, "あいう 1 + 1"},
		{"ASCII only", "text/plain; charset=UTF-7", "7bit", "Buy now +- save", false, "Buy now + save"},
		{"ASCII and a stray shift", "text/plain; charset=UTF-7", "7bit", "Buy now+A- today+!", false, "Buy now today!"},
		{"hidden Japanese", "text/html; charset=UTF-7", "7bit", "<div hidden>+MEIwRDBG-</div>Buy now", false, "Buy now"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			msg := "Subject: test\r\nContent-Type: " + tt.ctype + "\r\nContent-Transfer-Encoding: " + tt.cte + "\r\n\r\n" + tt.body + "\r\n"
			res := inspectString(t, msg)
			if res.Text.NonASCII != tt.nonASCII || !res.Text.NonSpace || res.Text.Sample != tt.sample {
				t.Errorf("NonASCII %v NonSpace %v Sample %q, want %v true %q", res.Text.NonASCII, res.Text.NonSpace, res.Text.Sample, tt.nonASCII, tt.sample)
			}
			for _, p := range res.Problems {
				if strings.Contains(p, "charset") {
					t.Errorf("problem: %s", p)
				}
			}
		})
	}
}

// FuzzUTF7: the decoder never panics, writes valid UTF-8, and decodes the
// same whole, a byte at a time, and into little room.
func FuzzUTF7(f *testing.F) {
	for _, tt := range utf7Tests {
		f.Add([]byte(tt.in))
	}
	f.Fuzz(func(t *testing.T, data []byte) {
		whole, err := utf7.NewDecoder().Bytes(data)
		if err != nil {
			t.Fatal(err)
		}
		if !utf8.Valid(whole) {
			t.Fatalf("decode %q = %q, not valid UTF-8", data, whole)
		}
		bytewise, err := io.ReadAll(utf7.NewDecoder().Reader(iotest.OneByteReader(bytes.NewReader(data))))
		if err != nil || !bytes.Equal(bytewise, whole) {
			t.Fatalf("decode %q a byte at a time = %q, %v; whole %q", data, bytewise, err, whole)
		}
		if got := decodeUTF7Chunked(t, data, 6); got != string(whole) {
			t.Fatalf("decode %q into 6 bytes = %q; whole %q", data, got, whole)
		}
	})
}
