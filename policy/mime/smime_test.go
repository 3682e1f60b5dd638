package mime

import (
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"
)

// smimeKey makes a self-signed certificate and key with openssl in dir.
func smimeKey(t *testing.T, dir string) (cert, key string) {
	t.Helper()
	openssl := tool(t, "openssl")
	cert, key = filepath.Join(dir, "c.pem"), filepath.Join(dir, "k.pem")
	if out, err := exec.Command(openssl, "req", "-x509", "-newkey", "rsa:2048", "-nodes", "-keyout", key, "-out", cert,
		"-subj", "/CN=sender.example", "-days", "2").CombinedOutput(); err != nil {
		t.Fatalf("openssl req: %v\n%s", err, out)
	}
	return cert, key
}

// smimeMessage runs openssl smime with args on the entity inner and
// returns the message it writes, with a Japanese subject.
func smimeMessage(t *testing.T, dir, inner string, args ...string) string {
	t.Helper()
	in := filepath.Join(dir, "in.eml")
	if err := os.WriteFile(in, []byte(inner), 0o600); err != nil {
		t.Fatal(err)
	}
	cmd := exec.Command(tool(t, "openssl"), append([]string{"smime", "-in", in}, args...)...)
	out, err := cmd.Output()
	if err != nil {
		t.Fatalf("openssl smime %v: %v", args, err)
	}
	return "Subject: =?UTF-8?B?5L+d6K236KuL5rGC?=\r\n" + strings.ReplaceAll(string(out), "\r\n", "\n")
}

// TestSMIME: an opaque-signed message made by openssl is read as the
// entity it signs; an encrypted one is an encrypted gap whose body is not
// blank; PGP/MIME likewise; a detached signature is no attachment.
func TestSMIME(t *testing.T) {
	dir := t.TempDir()
	cert, key := smimeKey(t, dir)
	entity := func(name string, data []byte) string {
		return "Content-Type: multipart/mixed; boundary=in\r\n\r\n--in\r\nContent-Type: text/plain; charset=UTF-8\r\n\r\n請求書を送ります。\r\n--in\r\n" +
			"Content-Type: application/octet-stream; name=\"" + name + "\"\r\nContent-Transfer-Encoding: base64\r\n\r\n" + b64enc(data) + "\r\n--in--\r\n"
	}
	t.Run("opaque-signed exe", func(t *testing.T) {
		msg := smimeMessage(t, dir, entity("invoice.pdf", peBytes), "-sign", "-nodetach", "-signer", cert, "-inkey", key)
		if !strings.Contains(msg, "smime-type=signed-data") {
			t.Fatalf("openssl wrote no opaque-signed message:\n%s", msg[:min(len(msg), 400)])
		}
		res := inspectString(t, msg)
		if !finds(res, "") || !res.Text.NonASCII || len(res.Uninspected) > 0 {
			t.Fatalf("%+v", res)
		}
	})
	t.Run("opaque-signed pdf", func(t *testing.T) {
		res := inspectString(t, smimeMessage(t, dir, entity("invoice.pdf", []byte("%PDF-1.4\n")), "-sign", "-nodetach", "-signer", cert, "-inkey", key))
		if finds(res, "") || len(res.Attachments) != 1 || res.Attachments[0].Filename != "invoice.pdf" || !res.Text.NonSpace || len(res.Uninspected) > 0 {
			t.Fatalf("%+v", res)
		}
	})
	t.Run("encrypted", func(t *testing.T) {
		res := inspectString(t, smimeMessage(t, dir, entity("invoice.pdf", peBytes), "-encrypt", "-aes256", cert))
		if !res.Has(GapEncrypted) || !res.Text.Encrypted || len(res.Attachments) != 0 {
			t.Fatalf("%+v", res)
		}
	})
	t.Run("signed file named .p7m", func(t *testing.T) {
		// A CAdES-signed file is an attachment, not a message to open.
		res := inspectString(t, mixed("multipart/mixed; boundary=b", "Content-Type: application/octet-stream; name=\"invoice.pdf.p7m\"\r\nContent-Transfer-Encoding: base64\r\n\r\nMIIBAAYJKoZIhvcNAQcCoIIB\r\n"))
		if len(res.Attachments) != 1 || res.Attachments[0].Filename != "invoice.pdf.p7m" || len(res.Uninspected) != 0 {
			t.Fatalf("%+v", res)
		}
	})
	t.Run("corrupt", func(t *testing.T) {
		res := inspectString(t, "Subject: x\r\nContent-Type: application/pkcs7-mime; smime-type=signed-data; name=smime.p7m\r\nContent-Transfer-Encoding: base64\r\n\r\nMIIBAAYJKoZIhvcNAQcCoIIB\r\n")
		if !res.Has(GapStructure) {
			t.Fatalf("%+v", res)
		}
	})
	t.Run("pgp/mime encrypted", func(t *testing.T) {
		res := inspectString(t, "Subject: x\r\nContent-Type: multipart/encrypted; protocol=\"application/pgp-encrypted\"; boundary=e\r\n\r\n--e\r\nContent-Type: application/pgp-encrypted\r\n\r\nVersion: 1\r\n--e\r\nContent-Type: application/octet-stream\r\n\r\n-----BEGIN PGP MESSAGE-----\r\nhQEMA0\r\n-----END PGP MESSAGE-----\r\n--e--\r\n")
		if !res.Has(GapEncrypted) || !res.Text.Encrypted || len(res.Attachments) != 0 {
			t.Fatalf("%+v", res)
		}
	})
	t.Run("pgp signature", func(t *testing.T) {
		res := inspectString(t, "Subject: x\r\nContent-Type: multipart/signed; protocol=\"application/pgp-signature\"; boundary=s\r\n\r\n--s\r\nContent-Type: text/plain; charset=UTF-8\r\n\r\nこんにちは\r\n--s\r\nContent-Type: application/pgp-signature\r\n\r\n-----BEGIN PGP SIGNATURE-----\r\niQEz\r\n-----END PGP SIGNATURE-----\r\n--s--\r\n")
		if len(res.Attachments) != 0 || len(res.Uninspected) != 0 || !res.Text.NonASCII {
			t.Fatalf("%+v", res)
		}
	})
}
