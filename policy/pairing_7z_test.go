package policy_test

import (
	"encoding/base64"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/sekisho/sekisho/policy"
)

// sevenZipEncrypted writes files into a 7z archive encrypted with
// password, its entry list too (7z -mhe=on): not even the names show.
func sevenZipEncrypted(t *testing.T, password string, files map[string][]byte) []byte {
	t.Helper()
	prog, err := exec.LookPath("7z")
	if err != nil {
		t.Fatal("7z not found: run bash testdata/install-deps.sh as root to install it")
	}
	dir := t.TempDir()
	args := []string{"a", "-bd", "-bso0", "-p" + password, "-mhe=on", "out.7z"}
	for name, data := range files {
		if err := os.WriteFile(filepath.Join(dir, name), data, 0o644); err != nil {
			t.Fatal(err)
		}
		args = append(args, name)
	}
	cmd := exec.Command(prog, args...)
	cmd.Dir = dir
	if out, err := cmd.CombinedOutput(); err != nil {
		t.Fatalf("7z: %v\n%s", err, out)
	}
	b, err := os.ReadFile(filepath.Join(dir, "out.7z"))
	if err != nil {
		t.Fatal(err)
	}
	return b
}

// sevenZipMail is a mail with a 7z archive attached.
func sevenZipMail(archive []byte) []byte {
	return []byte("Subject: quote\r\nMIME-Version: 1.0\r\nContent-Type: multipart/mixed; boundary=b\r\n\r\n" +
		"--b\r\nContent-Type: text/plain; charset=utf-8\r\n\r\nThe quote is attached; the password follows.\r\n" +
		"--b\r\nContent-Type: application/x-7z-compressed; name=quote.7z\r\nContent-Transfer-Encoding: base64\r\n\r\n" +
		base64.StdEncoding.EncodeToString(archive) + "\r\n--b--\r\n")
}

// expectWaiting checks that an archive waits for its password.
func expectWaiting(t *testing.T, o policy.Outcome) {
	t.Helper()
	if o.Rule != "encrypted_archive" || o.Action != policy.Tempfail || !strings.Contains(o.Reason, "waiting for its password") {
		t.Errorf("outcome %s %s %s (%s), want encrypted_archive waiting for its password", o.Rule, o.Action, o.Reply, o.Reason)
	}
}

// TestPairingSevenZipEncryptedHeaders: PPAP with a 7z whose entry list is
// encrypted (7z -mhe=on). The archive waits for its password; once the
// password mail has come, the retry is decrypted, entry list and entries,
// and judged on its content, as an archive whose names show is.
func TestPairingSevenZipEncryptedHeaders(t *testing.T) {
	const pw = "Mk7#qa9Z"
	const from, to = "yamada@partner.example.jp", "tanaka@example.co.jp"

	t.Run("executable inside", func(t *testing.T) {
		exe := sevenZipMail(sevenZipEncrypted(t, pw, map[string][]byte{"quote.pdf": peHead}))
		p := newPairing(t, "")
		expectWaiting(t, p.send(exe, from, to))
		p.clock.Advance(time.Minute)
		if o := p.send(passwordMail(t, pw), from, to); !o.Accepted() || o.Rule != "" {
			t.Fatalf("password mail: %+v", o.Verdict)
		}
		p.clock.Advance(5 * time.Minute)
		expect(t, p.send(exe, from, to).Verdict, "attachment_extension", policy.Reject,
			"550 5.7.1 Attachment type not allowed: quote.7z > quote.pdf", `"quote.7z" (part 2) > "quote.pdf" is an executable (pe)`)
	})

	t.Run("clean inside", func(t *testing.T) {
		pdf := sevenZipMail(sevenZipEncrypted(t, pw, map[string][]byte{"quote.pdf": []byte("%PDF-1.4\n%...\n")}))
		p := newPairing(t, "")
		expectWaiting(t, p.send(pdf, from, to))
		p.send(passwordMail(t, "wrong-one"), from, to)
		expectWaiting(t, p.send(pdf, from, to))
		p.send(passwordMail(t, pw), from, to)
		if o := p.send(pdf, from, to); !o.Accepted() || o.Action != policy.Continue {
			t.Fatalf("decrypted clean archive: %+v", o.Verdict)
		}
	})
}
