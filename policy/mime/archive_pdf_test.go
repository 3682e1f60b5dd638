package mime

import (
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"testing"
)

// plainPDF is a one-page PDF, its xref offsets computed.
func plainPDF() []byte {
	objs := []string{
		"<< /Type /Catalog /Pages 2 0 R >>",
		"<< /Type /Pages /Kids [3 0 R] /Count 1 >>",
		"<< /Type /Page /Parent 2 0 R /MediaBox [0 0 200 200] /Contents 4 0 R >>",
		"<< /Length 47 >>\nstream\nBT /F1 12 Tf 20 100 Td (trailer /Encrypt) Tj ET\nendstream",
	}
	var b strings.Builder
	b.WriteString("%PDF-1.4\n")
	var offs []int
	for i, o := range objs {
		offs = append(offs, b.Len())
		fmt.Fprintf(&b, "%d 0 obj\n%s\nendobj\n", i+1, o)
	}
	x := b.Len()
	fmt.Fprintf(&b, "xref\n0 %d\n0000000000 65535 f \n", len(objs)+1)
	for _, o := range offs {
		fmt.Fprintf(&b, "%010d 00000 n \n", o)
	}
	fmt.Fprintf(&b, "trailer\n<< /Size %d /Root 1 0 R /Info << /Title (x /Encrypt) >> >>\nstartxref\n%d\n%%%%EOF\n", len(objs)+1, x)
	return []byte(b.String())
}

// qpdf runs qpdf with args on in.pdf and returns out.pdf.
func qpdf(t testing.TB, in []byte, args ...string) []byte {
	t.Helper()
	dir := files(t, map[string][]byte{"in.pdf": in})
	out := run(t, dir, "out.pdf", tool(t, "qpdf"), append(append([]string{"in.pdf"}, args...), "out.pdf")...)
	if _, err := os.Stat(filepath.Join(dir, "out.pdf")); err != nil {
		t.Fatal(err)
	}
	return out
}

func TestPDFEncrypted(t *testing.T) {
	t.Parallel()
	plain := plainPDF()
	for name, data := range map[string][]byte{
		"plain":          plain,
		"qpdf":           qpdf(t, plain),
		"linearized":     qpdf(t, plain, "--linearize"),
		"object streams": qpdf(t, plain, "--object-streams=generate"),
	} {
		res := inspectDoc(t, "a.pdf", data)
		if res.Attachments[0].Archive != nil || len(res.Uninspected) != 0 {
			t.Errorf("%s: %+v\n%s", name, res.Attachments[0].Archive, gapsOf(res))
		}
	}
	for name, args := range map[string][]string{
		"AES-256":               {"--encrypt", "user", "owner", "256", "--"},
		"RC4-128":               {"--allow-weak-crypto", "--encrypt", "user", "owner", "128", "--use-aes=n", "--"},
		"RC4-40":                {"--allow-weak-crypto", "--encrypt", "user", "owner", "40", "--"},
		"AES-256 linearized":    {"--linearize", "--encrypt", "user", "owner", "256", "--"},
		"AES-256 object stream": {"--object-streams=generate", "--encrypt", "user", "owner", "256", "--"},
	} {
		res := inspectDoc(t, "請求書.pdf", qpdf(t, plain, args...), "user")
		a := res.Attachments[0].Archive
		if a == nil || a.Format != FormatPDFEncrypt || !a.Encrypted || !a.Undecryptable {
			t.Errorf("%s: archive %+v", name, a)
			continue
		}
		if g := gapsOf(res); g != `encrypted: attachment "請求書.pdf": encrypted PDF: protected by a password (/Encrypt in its trailer), which Sekisho does not decrypt` {
			t.Errorf("%s: gaps %q", name, g)
		}
	}
}
