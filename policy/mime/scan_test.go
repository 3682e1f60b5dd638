package mime

import (
	"bytes"
	"io"
	"os"
	"strings"
	"testing"
)

// recorder is a PartSink that keeps what it is given.
type recorder struct {
	parts []PartInfo
	data  []*bytes.Buffer
}

type nopCloser struct{ io.Writer }

func (nopCloser) Close() error { return nil }

func (r *recorder) Part(p PartInfo) io.WriteCloser {
	r.parts = append(r.parts, p)
	b := &bytes.Buffer{}
	r.data = append(r.data, b)
	return nopCloser{b}
}

// TestScannerParts: every leaf part is handed over decoded, with what the
// scanner needs to choose (type, name, attachment or text).
func TestScannerParts(t *testing.T) {
	msg, _ := base64Attachment(100000)
	for _, c := range []struct {
		file  string
		raw   []byte
		parts []string // "path type name attachment"
	}{
		{raw: msg, parts: []string{"1 text/plain  false", "2 application/pdf a.pdf true"}},
		{file: "uuencode-inline", parts: []string{"1 text/plain  false", "1 application/octet-stream setup.exe true"}},
		{file: "zip-with-exe", parts: []string{"1 text/plain  false", "2 application/zip docs.zip true"}},
		{file: "rfc822-with-exe", parts: []string{"1 text/plain  false", "2.1 text/plain  false", "2.2 application/octet-stream payload.exe true"}},
	} {
		raw := c.raw
		if c.file != "" {
			var err error
			if raw, err = os.ReadFile("../../testdata/mime/" + c.file + ".eml"); err != nil {
				t.Fatal(err)
			}
		}
		rec := &recorder{}
		res, err := InspectWithParts(bytes.NewReader(raw), DefaultLimits(), rec)
		if err != nil {
			t.Fatal(err)
		}
		var got []string
		for _, p := range rec.parts {
			got = append(got, strings.Join([]string{p.Path, p.ContentType, p.Filename, map[bool]string{true: "true", false: "false"}[p.Attachment]}, " "))
		}
		if strings.Join(got, "; ") != strings.Join(c.parts, "; ") {
			t.Errorf("%s: parts %q, want %q", c.file, got, c.parts)
		}
		// Each attachment is handed over whole, decoded.
		for i, p := range rec.parts {
			if !p.Attachment {
				continue
			}
			for _, a := range res.Attachments {
				if a.Part == p.Path && a.Filename == p.Filename && int64(rec.data[i].Len()) != a.Size {
					t.Errorf("%s: part %s: %d bytes scanned, attachment of %d", c.file, p.Path, rec.data[i].Len(), a.Size)
				}
			}
		}
	}
	// The content is the decoded content.
	rec := &recorder{}
	if _, err := InspectWithParts(bytes.NewReader(msg), DefaultLimits(), rec); err != nil {
		t.Fatal(err)
	}
	if d := rec.data[1].Bytes(); len(d) != 100000 || !bytes.HasPrefix(d, []byte("%PDF-1.7\n")) {
		t.Errorf("scanned attachment: %d bytes, starting %q", len(d), d[:min(len(d), 9)])
	}
}
