package mime

import (
	"bytes"
	"io"
	"strings"
	"testing"
	"testing/iotest"
)

// scanAll splits body with a partScanner reading through wrap and returns
// the parts' bytes and the scanner; with the chunking "write to", parts are
// read through their WriteTo instead of Read.
func scanAll(t testing.TB, body []byte, boundary string, wrap func(io.Reader) io.Reader) ([]string, *partScanner) {
	t.Helper()
	viaWriteTo := wrap == nil
	if viaWriteTo {
		wrap = iotest.HalfReader
	}
	s := newPartScanner(wrap(bytes.NewReader(body)), boundary)
	var parts []string
	for {
		r, err := s.next()
		if err == io.EOF {
			return parts, s
		}
		if err != nil {
			t.Fatalf("next: %v", err)
		}
		var b bytes.Buffer
		if viaWriteTo {
			_, err = r.(io.WriterTo).WriteTo(&b)
		} else {
			_, err = b.ReadFrom(io.MultiReader(r))
		}
		if err != nil {
			t.Fatalf("read part: %v", err)
		}
		parts = append(parts, b.String())
		if len(parts) > len(body)+1 {
			t.Fatalf("more parts than bytes: %q", parts)
		}
	}
}

// referenceSplit is the obvious, slow reading of RFC 2046 section 5.1.1
// over a whole body: a line is a delimiter when it is "--boundary", then
// optionally "--", then only white space; the line break before a
// delimiter belongs to it; the text before the first delimiter is the
// preamble; parts after a closing delimiter are kept.
func referenceSplit(body []byte, boundary string) []string {
	dash := []byte("--" + boundary)
	var parts []string
	var cur []byte
	in := false // inside a part (not the preamble or an epilogue)
	start := 0
	lineStart := true
	for start <= len(body) {
		end := bytes.IndexByte(body[start:], '\n')
		var line []byte
		next := len(body) + 1
		if end >= 0 {
			line = body[start : start+end]
			next = start + end + 1
		} else {
			line = body[start:]
		}
		if lineStart && bytes.HasPrefix(line, dash) && isPadding(line[len(dash):]) {
			if in {
				// Drop the line break that belongs to the delimiter.
				cur = bytes.TrimSuffix(cur, []byte("\n"))
				cur = bytes.TrimSuffix(cur, []byte("\r"))
				parts = append(parts, string(cur))
			}
			cur = nil
			in = !bytes.HasPrefix(line[len(dash):], []byte("--"))
		} else {
			cur = append(cur, line...)
			if end >= 0 {
				cur = append(cur, '\n')
			}
		}
		start = next
	}
	if in {
		parts = append(parts, string(cur))
	}
	return parts
}

// readers are the chunkings every split is checked under.
var readers = map[string]func(io.Reader) io.Reader{
	"whole":    func(r io.Reader) io.Reader { return r },
	"one byte": iotest.OneByteReader,
	"half":     iotest.HalfReader,
}

// splitReaders are the chunkings of readers, and "write to": parts read
// through their WriteTo (see scanAll).
var splitReaders = func() map[string]func(io.Reader) io.Reader {
	m := map[string]func(io.Reader) io.Reader{"write to": nil}
	for k, v := range readers {
		m[k] = v
	}
	return m
}()

func checkSplit(t *testing.T, body, boundary string, want []string) {
	t.Helper()
	if ref := referenceSplit([]byte(body), boundary); !equalParts(ref, want) {
		t.Fatalf("reference split = %q, want %q", ref, want)
	}
	for name, wrap := range splitReaders {
		got, _ := scanAll(t, []byte(body), boundary, wrap)
		if !equalParts(got, want) {
			t.Errorf("%s: parts = %q, want %q", name, got, want)
		}
	}
}

func equalParts(a, b []string) bool {
	if len(a) != len(b) {
		return false
	}
	for i := range a {
		if a[i] != b[i] {
			return false
		}
	}
	return true
}

func TestPartScanner(t *testing.T) {
	long := strings.Repeat("L", 5000)
	huge := strings.Repeat("H", 70000)
	for _, c := range []struct {
		name, body, boundary string
		want                 []string
	}{
		{"basic", "preamble\r\n--b\r\nA: 1\r\n\r\none\r\n--b\r\n\r\ntwo\r\n--b--\r\nepilogue\r\n", "b",
			[]string{"A: 1\r\n\r\none", "\r\ntwo"}},
		{"lf only", "--b\nx\n--b\ny\n--b--\n", "b", []string{"x", "y"}},
		{"no preamble, no final newline", "--b\r\nx\r\n--b--", "b", []string{"x"}},
		{"prefix of the boundary is content", "--b1\r\nx\r\n--b1-x\r\ny\r\n--b1--\r\n", "b1",
			[]string{"x\r\n--b1-x\r\ny"}},
		{"repeated boundary line", "--b\r\n--b\r\nx\r\n--b--\r\n", "b", []string{"", "x"}},
		{"padding", "--b \t\r\nx\r\n--b--  \r\n", "b", []string{"x"}},
		{"text after the close is not a delimiter", "--b\r\nx\r\n--b--junk\r\ny\r\n--b--\r\n", "b",
			[]string{"x\r\n--b--junk\r\ny"}},
		{"missing close", "--b\r\nx\r\ny\r\n", "b", []string{"x\r\ny\r\n"}},
		{"part after the close", "--b\r\nx\r\n--b--\r\nepi\r\n--b\r\nhidden\r\n--b--\r\n", "b",
			[]string{"x", "hidden"}},
		{"not at a line start", "--b\r\nx --b\r\n--b--\r\n", "b", []string{"x --b"}},
		{"lone CR kept", "--b\r\nx\r\r\n--b--\r\n", "b", []string{"x\r"}},
		{"long boundary", "--" + long + "\r\nx\r\n--" + long + "--\r\n", long, []string{"x"}},
		{"huge boundary", "pre\r\n--" + huge + "\r\nx\r\n--" + huge + "\r\ny\r\n--" + huge + "--\r\n", huge, []string{"x", "y"}},
		{"no delimiter", "just text\r\n", "b", nil},
		{"empty", "", "b", nil},
	} {
		t.Run(c.name, func(t *testing.T) { checkSplit(t, c.body, c.boundary, c.want) })
	}
}

func TestPartScannerLongPadding(t *testing.T) {
	pad := strings.Repeat(" ", 100<<10)
	body := "--b\r\nx\r\n--b" + pad + "\r\ny\r\n--b--\r\n"
	parts, s := scanAll(t, []byte(body), "b", readers["whole"])
	if !s.ambiguous {
		t.Errorf("a delimiter line with %d bytes of padding is not reported", len(pad))
	}
	if !equalParts(parts, []string{"x", "y"}) {
		t.Errorf("parts = %q", parts)
	}
	// Whether a line of more padding than the buffer holds ends in more
	// padding or in text cannot be told: it is reported either way.
	body = "--b\r\nx\r\n--b" + pad + "z\r\n--b--\r\n"
	if _, s = scanAll(t, []byte(body), "b", readers["whole"]); !s.ambiguous {
		t.Errorf("a line of %d bytes of padding and text is not reported", len(pad))
	}
	// A long content line that starts with the boundary and text is content.
	body = "--b\r\nx\r\n--b z" + pad + "\r\n--b--\r\n"
	parts, s = scanAll(t, []byte(body), "b", readers["whole"])
	if s.ambiguous || !equalParts(parts, []string{"x\r\n--b z" + pad}) {
		t.Errorf("ambiguous = %v, %d parts", s.ambiguous, len(parts))
	}
}

func TestPartScannerReadError(t *testing.T) {
	r := io.MultiReader(strings.NewReader("--b\r\nxx"), iotest.ErrReader(io.ErrClosedPipe))
	s := newPartScanner(r, "b")
	p, err := s.next()
	if err != nil {
		t.Fatal(err)
	}
	if _, err := io.ReadAll(p); err != io.ErrClosedPipe {
		t.Errorf("read error = %v, want %v", err, io.ErrClosedPipe)
	}
}

// FuzzPartScanner checks the streaming scanner against referenceSplit for
// every chunking of the input.
func FuzzPartScanner(f *testing.F) {
	f.Add([]byte("pre\r\n--b\r\nA: 1\r\n\r\none\r\n--b\r\n--b-x\r\n--b--\r\nepi\r\n--b\r\nz"), "b")
	f.Add([]byte("--b\n\n--b--\n"), "b")
	f.Add([]byte("\r\n--bb\r--b\r\n"), "b")
	f.Fuzz(func(t *testing.T, body []byte, boundary string) {
		if boundary == "" || strings.ContainsAny(boundary, "\r\n") || len(boundary) > 200 {
			return
		}
		want := referenceSplit(body, boundary)
		for name, wrap := range splitReaders {
			got, _ := scanAll(t, body, boundary, wrap)
			if !equalParts(got, want) {
				t.Fatalf("%s: parts = %q, want %q", name, got, want)
			}
		}
	})
}
