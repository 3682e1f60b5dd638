package mime

import (
	"bytes"
	"encoding/json"
	"errors"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"
	"time"
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
}

// pdfEncryptions are qpdf's ways of encrypting a PDF (PASSWORD stands for
// the user password), and what each says it is.
var pdfEncryptions = map[string]struct {
	args []string
	what string
}{
	"AES-256":                {[]string{"--encrypt", "PASSWORD", "owner", "256", "--print=none", "--"}, "revision 6, AES-256"},
	"AES-256 R5":             {[]string{"--allow-weak-crypto", "--encrypt", "PASSWORD", "owner", "256", "--force-R5", "--"}, "revision 5, AES-256"},
	"AES-128":                {[]string{"--encrypt", "PASSWORD", "owner", "128", "--use-aes=y", "--modify=none", "--"}, "revision 4, AES-128"},
	"AES-128 clear metadata": {[]string{"--encrypt", "PASSWORD", "owner", "128", "--use-aes=y", "--cleartext-metadata", "--"}, "revision 4, AES-128"},
	"RC4-128":                {[]string{"--allow-weak-crypto", "--encrypt", "PASSWORD", "owner", "128", "--use-aes=n", "--"}, "revision 3, RC4-128"},
	"RC4-128 V4":             {[]string{"--allow-weak-crypto", "--encrypt", "PASSWORD", "owner", "128", "--use-aes=n", "--force-V4", "--"}, "revision 4, RC4-128"},
	"RC4-40":                 {[]string{"--allow-weak-crypto", "--encrypt", "PASSWORD", "owner", "40", "--print=n", "--"}, "revision 2, RC4-40"},
	"AES-256 linearized":     {[]string{"--linearize", "--encrypt", "PASSWORD", "owner", "256", "--"}, "revision 6, AES-256"},
	"AES-256 object streams": {[]string{"--object-streams=generate", "--encrypt", "PASSWORD", "owner", "256", "--"}, "revision 6, AES-256"},
	"RC4-128 object streams": {[]string{"--allow-weak-crypto", "--object-streams=generate", "--encrypt", "PASSWORD", "owner", "128", "--use-aes=n", "--"}, "revision 3, RC4-128"},
	"RC4-40 linearized":      {[]string{"--allow-weak-crypto", "--linearize", "--encrypt", "PASSWORD", "owner", "40", "--"}, "revision 2, RC4-40"},
	"AES-128 object streams": {[]string{"--object-streams=generate", "--linearize", "--encrypt", "PASSWORD", "owner", "128", "--use-aes=y", "--"}, "revision 4, AES-128"},
}

// encryptPDF encrypts pdf with qpdf as way says, with user password user.
func encryptPDF(t testing.TB, pdf []byte, way, user string) []byte {
	t.Helper()
	var args []string
	for _, a := range pdfEncryptions[way].args {
		args = append(args, strings.ReplaceAll(a, "PASSWORD", user))
	}
	return qpdf(t, pdf, args...)
}

// qpdfCode runs qpdf with args on pdf and returns its exit code: with
// --requires-password, 0 when a password is needed, 3 when the file is
// encrypted without one.
func qpdfCode(t testing.TB, pdf []byte, args ...string) int {
	t.Helper()
	dir := files(t, map[string][]byte{"in.pdf": pdf})
	cmd := exec.Command(tool(t, "qpdf"), append(args, "in.pdf")...)
	cmd.Dir = dir
	err := cmd.Run()
	var exit *exec.ExitError
	switch {
	case err == nil:
		return 0
	case errors.As(err, &exit):
		return exit.ExitCode()
	}
	t.Fatal(err)
	return -1
}

// TestPDFOwnerPasswordOnly: a PDF with an empty user password, however it
// is encrypted, opens in every reader without a password; it is a plain
// PDF, with no gap.
func TestPDFOwnerPasswordOnly(t *testing.T) {
	t.Parallel()
	plain := plainPDF()
	for way := range pdfEncryptions {
		pdf := encryptPDF(t, plain, way, "")
		if code := qpdfCode(t, pdf, "--requires-password"); code != 3 {
			t.Errorf("%s: qpdf --requires-password exits with %d, not 3: it is not encrypted, or needs a password", way, code)
		}
		res := inspectDoc(t, "a.pdf", pdf)
		if res.Attachments[0].Archive != nil || len(res.Uninspected) != 0 {
			t.Errorf("%s: %+v\n%s", way, res.Attachments[0].Archive, gapsOf(res))
		}
	}
	// A user password with an empty owner password (qpdf allows it for
	// AES-256 only): the empty password opens it as its owner.
	pdf := qpdf(t, plain, "--encrypt", "user", "", "256", "--allow-insecure", "--")
	if code := qpdfCode(t, pdf, "--requires-password"); code != 3 {
		t.Errorf("empty owner password: qpdf --requires-password exits with %d, not 3", code)
	}
	if res := inspectDoc(t, "a.pdf", pdf); res.Attachments[0].Archive != nil || len(res.Uninspected) != 0 {
		t.Errorf("empty owner password: %+v\n%s", res.Attachments[0].Archive, gapsOf(res))
	}
}

// TestPDFUserPassword: a PDF that asks for a password is an encrypted
// document; a candidate that is its user password opens it, any other
// does not, and qpdf agrees on both.
func TestPDFUserPassword(t *testing.T) {
	t.Parallel()
	plain := plainPDF()
	for way, e := range pdfEncryptions {
		pdf := encryptPDF(t, plain, way, "請求 pw")
		if code := qpdfCode(t, pdf, "--requires-password"); code != 0 {
			t.Errorf("%s: qpdf --requires-password exits with %d, not 0: it needs no password", way, code)
		}
		if code := qpdfCode(t, pdf, "--password=請求 pw", "--check"); code != 0 && code != 3 {
			t.Errorf("%s: qpdf --check with the password exits with %d", way, code)
		}
		res := inspectDoc(t, "請求書.pdf", pdf)
		a := res.Attachments[0].Archive
		if a == nil || a.Format != FormatPDFEncrypt || !a.Encrypted || a.Undecryptable || len(a.Entries) != 1 || a.Entries[0].Decrypted {
			t.Errorf("%s: archive %+v", way, a)
			continue
		}
		if g, want := gapsOf(res), `encrypted: attachment "請求書.pdf" > "document": encrypted PDF (standard security handler, `+e.what+")"; g != want {
			t.Errorf("%s: gaps %q, want %q", way, g, want)
		}
		res = inspectDoc(t, "請求書.pdf", pdf, "0wner", "請求", "")
		if a := res.Attachments[0].Archive; a.Entries[0].Decrypted || !strings.HasSuffix(gapsOf(res), "no password candidate fits") {
			t.Errorf("%s: wrong passwords: %+v\n%s", way, a, gapsOf(res))
		}
		// The user password opens it, and so does the owner password,
		// which readers take at the same prompt.
		for _, pw := range []string{"請求 pw", "owner"} {
			res = inspectDoc(t, "請求書.pdf", pdf, "0wner", pw)
			if a := res.Attachments[0].Archive; !a.Entries[0].Decrypted || len(res.Uninspected) != 0 {
				t.Errorf("%s: password %q: %+v\n%s", way, pw, a, gapsOf(res))
			}
		}
	}
}

// pdfWithEncrypt is a PDF whose trailer holds encrypt (an /Encrypt value)
// and id, with extra objects written before the trailer.
func pdfWithEncrypt(encrypt, id string, extra ...string) []byte {
	var b strings.Builder
	b.WriteString("%PDF-1.7\n1 0 obj\n<< /Type /Catalog /Pages 2 0 R >>\nendobj\n2 0 obj\n<< /Type /Pages /Kids [] /Count 0 >>\nendobj\n")
	for _, x := range extra {
		b.WriteString(x)
	}
	fmt.Fprintf(&b, "trailer\n<< /Size 9 /Root 1 0 R /Encrypt %s /ID %s >>\nstartxref\n0\n%%%%EOF\n", encrypt, id)
	return []byte(b.String())
}

// TestPDFEncryptionDictionary: the security handler's values are read as
// PDF writes them: strings hexadecimal or literal with escapes, the
// dictionary inline or indirect, defined again by an update. What cannot
// be read, or is encrypted by another handler, stays encrypted, and no
// password is tried on it.
func TestPDFEncryptionDictionary(t *testing.T) {
	t.Parallel()
	// An RC4-40 dictionary of qpdf with an empty user password, its
	// values as hexadecimal strings.
	owner := encryptPDF(t, plainPDF(), "RC4-40", "")
	dicts := pdfEncryptDicts(owner)
	if len(dicts) != 1 {
		t.Fatalf("%d trailers with /Encrypt", len(dicts))
	}
	sec, err := pdfSecurityOf(bytes.NewReader(owner), int64(len(owner)), dicts)
	if _, fits, _ := sec.unlock(nil); err != nil || len(sec) != 1 || !fits {
		t.Fatalf("security %+v, %v", sec, err)
	}
	s := sec[0]
	lit := func(b []byte) string {
		// A literal string with every escape 7.3.4.2 has.
		var w strings.Builder
		w.WriteString("(")
		for i, c := range b {
			switch {
			case c == '(' || c == ')' || c == '\\':
				w.WriteString("\\" + string(c))
			case c == '\n':
				w.WriteString("\\n")
			case c == '\r':
				w.WriteString("\\r")
			case c == '\t':
				w.WriteString("\\t")
			case c == '\b':
				w.WriteString("\\b")
			case c == '\f':
				w.WriteString("\\f")
			case c < ' ' || c >= 0x7f:
				fmt.Fprintf(&w, "\\%03o", c)
			case i%7 == 3 && !strings.ContainsRune("nrtbf01234567", rune(c)):
				// A line continuation, and a backslash that is ignored.
				w.WriteString("\\\r\n\\" + string(c))
			default:
				w.WriteByte(c)
			}
		}
		return w.String() + ")"
	}
	hex := func(b []byte) string { return fmt.Sprintf("<%X>", b) }
	dictP := func(str func([]byte) string, p int32) string {
		return fmt.Sprintf("<< /Filter /Standard /V 1 /R 2 /O %s /U %s /P %d >>", str(s.o), str(s.u), p)
	}
	dict := func(str func([]byte) string) string { return dictP(str, int32(s.p)) }
	id := fmt.Sprintf("[%s %s]", hex(s.id), hex(s.id))
	for name, c := range map[string]struct {
		pdf       []byte
		encrypted bool
		why       string
	}{
		"inline, hexadecimal":        {pdf: pdfWithEncrypt(dict(hex), id)},
		"inline, literal":            {pdf: pdfWithEncrypt(dict(lit), "[ "+lit(s.id)+" ()]")},
		"indirect":                   {pdf: pdfWithEncrypt("7 0 R", id, "7 0 obj "+dict(lit)+"\nendobj\n")},
		"indirect, odd white space":  {pdf: pdfWithEncrypt("7 0 R", id, "%c\r17 0 obj\n<<>>\nendobj\n7\r\n0\tobj"+dict(hex)+"\nendobj\n")},
		"updated, still empty":       {pdf: pdfWithEncrypt("7 0 R", id, "7 0 obj "+dict(lit)+" endobj\n", "7 0 obj "+dict(hex)+" endobj\n")},
		"updated to a user password": {pdf: pdfWithEncrypt("7 0 R", id, "7 0 obj "+dict(hex)+" endobj\n", "7 0 obj "+dictP(hex, int32(s.p)^8)+" endobj\n"), encrypted: true, why: `encrypted: attachment "a.pdf" > "document": encrypted PDF (standard security handler, revision 2, RC4-40)`},
		"another ID":                 {pdf: pdfWithEncrypt(dict(hex), "[<00><00>]"), encrypted: true, why: "revision 2, RC4-40"},
		"missing object":             {pdf: pdfWithEncrypt("8 0 R", id, "7 0 obj "+dict(lit)+" endobj\n"), encrypted: true, why: `encrypted: attachment "a.pdf": encrypted PDF: its encryption dictionary (object 8 0) is not in the file, which Sekisho does not decrypt`},
		"public key":                 {pdf: pdfWithEncrypt("<< /Filter /Adobe.PubSec /SubFilter /adbe.pkcs7.s5 /V 4 /R 4 /Recipients [<3082>] >>", id), encrypted: true, why: "encrypted PDF: protected by the security handler /Adobe.PubSec (a certificate or a plug-in, no password), which Sekisho does not decrypt"},
		"unknown revision":           {pdf: pdfWithEncrypt("<< /Filter /Standard /V 7 /R 9 /O <00> /U <00> /P 0 >>", id), encrypted: true, why: "standard security handler of version 7, revision 9"},
		"short /U":                   {pdf: pdfWithEncrypt("<< /Filter /Standard /V 5 /R 6 /O <00> /U <00> /P 0 >>", id), encrypted: true, why: "its encryption dictionary of revision 6 is malformed"},
		"unterminated":               {pdf: []byte("%PDF-1.4\ntrailer\n<< /Encrypt << /Filter /Standard /O (abc"), encrypted: true, why: "its trailer cannot be read"},
		"deep":                       {pdf: pdfWithEncrypt(strings.Repeat("[", 100)+strings.Repeat("]", 100), id), encrypted: true, why: "its trailer cannot be read"},
		"many trailers":              {pdf: append([]byte("%PDF-1.4\n"), strings.Repeat("trailer\n<< /Encrypt << /O (", 100000)...), encrypted: true, why: "its trailer cannot be read"},
		"many dictionaries": {pdf: pdfWithEncrypt("7 0 R", id, "7 0 obj "+dict(hex)+" endobj 9 0 obj "+dict(hex)+" endobj 10 0 obj "+dict(hex)+" endobj 11 0 obj "+dict(hex)+" endobj 12 0 obj "+dict(hex)+" endobj\n",
			strings.Repeat("trailer << /ID "+id+" /Encrypt 9 0 R >>\ntrailer << /ID "+id+" /Encrypt 10 0 R >>\ntrailer << /ID "+id+" /Encrypt 11 0 R >>\ntrailer << /ID "+id+" /Encrypt 12 0 R >>\n", 50)),
			encrypted: true, why: "its trailers name more than 4 encryption dictionaries"},
		"not a dictionary": {pdf: pdfWithEncrypt("7 0 R", id, "7 0 obj 12 endobj\n"), encrypted: true, why: "its encryption dictionary cannot be read"},
	} {
		start := time.Now()
		res := inspectDoc(t, "a.pdf", c.pdf, "pw")
		if time.Since(start) > 2*time.Second {
			t.Errorf("%s: took %v", name, time.Since(start))
		}
		a := res.Attachments[0].Archive
		if !c.encrypted {
			if a != nil || len(res.Uninspected) != 0 {
				t.Errorf("%s: %+v\n%s", name, a, gapsOf(res))
			}
			continue
		}
		if a == nil || !a.Encrypted || a.Format != FormatPDFEncrypt || !strings.Contains(gapsOf(res), c.why) {
			t.Errorf("%s: %+v\n%s", name, a, gapsOf(res))
		}
	}
}

// TestPDFLatin1Password: a password with a Latin-1 letter, which RC4
// revisions take in PDFDocEncoding and AES-256 in UTF-8, is opened by the
// candidate, which is UTF-8.
func TestPDFLatin1Password(t *testing.T) {
	t.Parallel()
	for _, way := range []string{"RC4-128", "AES-256"} {
		pdf := encryptPDF(t, plainPDF(), way, "café")
		res := inspectDoc(t, "a.pdf", pdf, "café")
		if a := res.Attachments[0].Archive; a == nil || len(a.Entries) != 1 || !a.Entries[0].Decrypted {
			t.Errorf("%s: %+v\n%s", way, a, gapsOf(res))
		}
	}
}

func FuzzPDF(f *testing.F) {
	plain := plainPDF()
	f.Add(plain)
	for _, way := range []string{"AES-256", "RC4-40", "AES-128 object streams", "RC4-128"} {
		f.Add(encryptPDF(f, plain, way, ""))
		f.Add(encryptPDF(f, plain, way, "pw"))
	}
	f.Add(pdfWithEncrypt("7 0 R", "[(a) (b)]", "7 0 obj << /Filter /Standard /V 2 /R 3 /Length 128 /O (\\101\\r\\n) /U <00> /P -4 >> endobj\n"))
	f.Fuzz(func(t *testing.T, data []byte) {
		lim := DefaultLimits()
		lim.TempDir = t.TempDir()
		in := newInspector(bytes.NewReader(nil), lim, nil, [][]byte{[]byte("pw")})
		a := in.inspectArchive("pdf", bytes.NewReader(data), int64(len(data)), 1, "f.pdf", "attachment", "1", false)
		// An encrypted PDF, or one whose embedded files are entries.
		if a != nil && a.Format != FormatPDFEncrypt && a.Format != "pdf" {
			t.Fatalf("archive = %+v", a)
		}
		if _, err := json.Marshal(in.res); err != nil {
			t.Fatal(err)
		}
	})
}
