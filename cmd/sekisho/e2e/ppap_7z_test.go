package e2e_test

import (
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"testing"
)

const sevenZipCmd = "/usr/bin/7z"

// ppap7z is a 7z archive of files encrypted with password, its entry
// list too (7z -mhe=on): no name shows before it is decrypted.
func ppap7z(t *testing.T, password string, files map[string][]byte) []byte {
	t.Helper()
	requireProgram(t, sevenZipCmd)
	dir := t.TempDir()
	args := []string{"a", "-bd", "-bso0", "-p" + password, "-mhe=on", "out.7z"}
	for name, data := range files {
		if err := os.WriteFile(filepath.Join(dir, name), data, 0o644); err != nil {
			t.Fatal(err)
		}
		args = append(args, name)
	}
	cmd := exec.Command(sevenZipCmd, args...)
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

// TestE2EPPAP7zEncryptedList: PPAP with a 7z whose entry list is encrypted,
// through real Postfix and clamd: the archive waits (451), the password
// mail is delivered, and the archive sent again is decrypted, entry list
// and entries, and refused because clamd finds EICAR inside.
func TestE2EPPAP7zEncryptedList(t *testing.T) {
	t.Parallel()
	clamd := sharedClamd(t)
	const from, to = "yamada@partner.example.org", "tanaka@example.co.jp"
	s, pf := setup(t, sekishoConfig("enforce", rulesPPAP(clamd.Addr, "parts")))
	pw := "Q7x-" + token(t)[:8]
	tok := token(t)
	archive := writeMessage(t, japaneseMessage(tok, fileAttachment("請求書.7z", "application/x-7z-compressed",
		ppap7z(t, pw, map[string][]byte{"請求書.txt": []byte(eicar)}))))
	out := pf.mustSwaks(t, 26, "--from", from, "--to", to, "--data", archive)
	mustRefuse(t, out, `451 4\.7\.0 Encrypted archive`)
	pf.notDelivered(t, tok)

	pwTok := token(t)
	pf.mustSwaks(t, 0, "--from", from, "--to", to, "--data", writeMessage(t, ppapPasswordMail(t, pwTok, pw)))
	pf.waitDelivered(t, pwTok, 1)
	s.waitLog(t, "password candidates kept", "candidates=")

	out = pf.mustSwaks(t, 26, "--from", from, "--to", to, "--data", archive)
	mustRefuse(t, out, regexp.QuoteMeta("554 5.7.1 Virus found: "+eicarSig))
	pf.notDelivered(t, tok)
	s.waitLog(t, "msg=decision", "rule=virus", "請求書.txt")
}
