package mime

import (
	"bytes"
	"io"
	"testing"
)

// referenceQP decodes a whole quoted-printable text with the rules of
// qpReader, one byte at a time.
func referenceQP(in []byte) []byte {
	var out []byte
	for i := 0; i < len(in); i++ {
		c := in[i]
		if c != '=' {
			out = append(out, c)
			continue
		}
		if i+2 < len(in) && isHex(in[i+1]) && isHex(in[i+2]) {
			out = append(out, unhex(in[i+1])<<4|unhex(in[i+2]))
			i += 2
			continue
		}
		j := i + 1
		for j < len(in) && j-i <= maxSoftBreakSpace && (in[j] == ' ' || in[j] == '\t') {
			j++
		}
		switch {
		case j-i > maxSoftBreakSpace:
		case j == len(in):
			i = j - 1
			continue
		case in[j] == '\n':
			i = j
			continue
		case in[j] == '\r' && j+1 < len(in) && in[j+1] == '\n':
			i = j + 1
			continue
		}
		out = append(out, '=')
	}
	return out
}

func decodeQP(t testing.TB, in []byte, wrap func(io.Reader) io.Reader) []byte {
	t.Helper()
	out, err := io.ReadAll(newQPReader(wrap(bytes.NewReader(in))))
	if err != nil {
		t.Fatalf("qp: %v", err)
	}
	return out
}

func TestQPReader(t *testing.T) {
	for _, c := range []struct{ in, want string }{
		{"caf=C3=A9", "café"},
		{"lower =c3=a9", "lower é"},
		{"soft=\r\nbreak", "softbreak"},
		{"soft=  \t\nbreak", "softbreak"},
		{"end=", "end"},
		{"a=ZZb", "a=ZZb"},
		{"a=3", "a=3"},
		{"\x1b$B$3$s$K$A$O\x1b(B=1B", "\x1b$B$3$s$K$A$O\x1b(B\x1b"},
		{"8bit \x82\xa0 raw", "8bit \x82\xa0 raw"},
		{"=\rx", "=\rx"},
		{"x=\r", "x=\r"},
	} {
		want := []byte(c.want)
		if ref := referenceQP([]byte(c.in)); !bytes.Equal(ref, want) {
			t.Fatalf("reference(%q) = %q, want %q", c.in, ref, want)
		}
		for name, wrap := range readers {
			if got := decodeQP(t, []byte(c.in), wrap); !bytes.Equal(got, want) {
				t.Errorf("%s: %q decodes to %q, want %q", name, c.in, got, c.want)
			}
		}
	}
}

// FuzzQPReader checks the streaming decoder against referenceQP for every
// chunking of the input.
func FuzzQPReader(f *testing.F) {
	f.Add([]byte("caf=C3=A9 =\r\n=1b$B=zz=  \n="))
	f.Fuzz(func(t *testing.T, in []byte) {
		want := referenceQP(in)
		for name, wrap := range readers {
			if got := decodeQP(t, in, wrap); !bytes.Equal(got, want) {
				t.Fatalf("%s: %q decodes to %q, want %q", name, in, got, want)
			}
		}
	})
}
