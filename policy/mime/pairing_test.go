package mime

import (
	"bytes"
	"encoding/base64"
	"strings"
	"testing"

	"golang.org/x/text/encoding/japanese"
)

// encryptedZipMail is a message with a zip made by zip -P holding a.exe
// (PE) and note.txt, encrypted with pw.
func encryptedZipMail(t *testing.T, pw string) []byte {
	t.Helper()
	dir := files(t, map[string][]byte{"a.exe": peBytes, "note.txt": []byte("hello\n")})
	z := run(t, dir, "x.zip", tool(t, "zip"), "-q", "-P", pw, "x.zip", "a.exe", "note.txt")
	return []byte("Subject: docs\r\nMIME-Version: 1.0\r\nContent-Type: multipart/mixed; boundary=b\r\n\r\n" +
		"--b\r\nContent-Type: text/plain; charset=utf-8\r\n\r\nzip attached\r\n" +
		"--b\r\nContent-Type: application/zip; name=x.zip\r\nContent-Transfer-Encoding: base64\r\n\r\n" +
		base64.StdEncoding.EncodeToString(z) + "\r\n--b--\r\n")
}

// TestStreamDecryptsForScanner: a Stream given the right candidate reads the
// encrypted entries and hands each, decrypted, to the scanner, after the
// archive itself; without it, the scanner gets only the archive.
func TestStreamDecryptsForScanner(t *testing.T) {
	msg := encryptedZipMail(t, "Pw-2026")
	for _, c := range []struct {
		pws   [][]byte
		parts string
	}{
		{nil, "1 text/plain  false false|2 application/zip x.zip true false|"},
		{[][]byte{[]byte("nope"), []byte("Pw-2026")}, "1 text/plain  false false|2 application/zip x.zip true false|" +
			"2 application/octet-stream a.exe true true|2 application/octet-stream note.txt true true|"},
	} {
		rec := &recorder{}
		s := NewStreamWithPasswords(Limits{TempDir: t.TempDir()}, rec, c.pws)
		for p := msg; len(p) > 0; p = p[min(len(p), 100):] {
			s.Write(p[:min(len(p), 100)])
		}
		res, err := s.Close()
		if err != nil {
			t.Fatal(err)
		}
		var got strings.Builder
		for _, p := range rec.parts {
			got.WriteString(strings.Join([]string{p.Path, p.ContentType, p.Filename, boolStr(p.Attachment), boolStr(p.Decrypted)}, " ") + "|")
		}
		if got.String() != c.parts {
			t.Errorf("passwords %q: parts\n%s\nwant\n%s", c.pws, got.String(), c.parts)
		}
		decrypted := len(c.pws) > 0
		for i, p := range rec.parts {
			if p.Decrypted && p.Filename == "a.exe" && !bytes.Equal(rec.data[i].Bytes(), peBytes) {
				t.Errorf("a.exe handed over as %q", rec.data[i].Bytes())
			}
		}
		a := res.Attachments[0].Archive
		if a == nil || !a.Encrypted || len(a.Entries) != 2 {
			t.Fatalf("archive = %+v", a)
		}
		for _, e := range a.Entries {
			if e.Decrypted != decrypted || (e.Name == "a.exe" && (e.Executable == "pe") != decrypted) {
				t.Errorf("passwords %q: entry %+v", c.pws, e)
			}
		}
		if res.Has(GapEncrypted) == decrypted {
			t.Errorf("passwords %q: gaps %v", c.pws, res.Uninspected)
		}
	}
}

func boolStr(b bool) string {
	if b {
		return "true"
	}
	return "false"
}

// TestKeepText: the decoded body text is kept up to KeepText bytes, in
// UTF-8 whatever the charset, parts apart; none without KeepText.
func TestKeepText(t *testing.T) {
	jis, _ := japanese.ISO2022JP.NewEncoder().String("パスワード：Abc123\r\n")
	msg := []byte("Subject: pw\r\nMIME-Version: 1.0\r\nContent-Type: multipart/alternative; boundary=b\r\n\r\n" +
		"--b\r\nContent-Type: text/plain; charset=iso-2022-jp\r\n\r\n" + jis +
		"--b\r\nContent-Type: text/html; charset=utf-8\r\n\r\n<p>PW: <b>xyz</b></p>\r\n--b--\r\n")
	for _, c := range []struct {
		keep int
		want string
	}{
		{0, ""},
		{4096, "パスワード：Abc123\n\nPW: xyz"},
		{10, "パスワー"}, // the rune that crosses the bound is kept whole
	} {
		res, err := Inspect(bytes.NewReader(msg), Limits{KeepText: c.keep})
		if err != nil {
			t.Fatal(err)
		}
		if got := strings.TrimRight(res.Text.Text, "\r\n "); got != strings.TrimRight(c.want, "\r\n ") {
			t.Errorf("KeepText %d: %q, want %q", c.keep, got, c.want)
		}
		if !res.Text.NonASCII || res.Text.Sample == "" {
			t.Errorf("facts changed: %+v", res.Text)
		}
	}
}
