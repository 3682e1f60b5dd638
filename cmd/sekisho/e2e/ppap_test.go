package e2e_test

import (
	"context"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"strings"
	"testing"
	"time"

	"golang.org/x/text/encoding/japanese"
)

const zipCmd = "/usr/bin/zip"

// ppapTimeout is pair_timeout in these tests: an hour in real life.
const ppapTimeout = 6 * time.Second

// rulesPPAP turns pairing on, with clamd scanning in the given mode.
func rulesPPAP(clamd, scan string) string {
	return fmt.Sprintf(`[rules.attachment_extension]
deny = ["exe"]

[rules.encrypted_archive]
mode = "pair"
pair_timeout = %q
action = "reject"
reply = "550 5.7.1 Encrypted archive without its password: please share the file another way"

`, ppapTimeout.String()) + ruleVirus(clamd) + fmt.Sprintf("scan = %q\n", scan)
}

// ppapZip is what PPAP mail attaches: files in a zip encrypted with
// password by zip -P.
func ppapZip(t *testing.T, password string, files map[string][]byte) []byte {
	t.Helper()
	requireProgram(t, zipCmd)
	dir := t.TempDir()
	args := []string{"-q", "-P", password, "out.zip"}
	for name, data := range files {
		if err := os.WriteFile(filepath.Join(dir, name), data, 0o644); err != nil {
			t.Fatal(err)
		}
		args = append(args, name)
	}
	cmd := exec.Command(zipCmd, args...)
	cmd.Dir = dir
	if out, err := cmd.CombinedOutput(); err != nil {
		t.Fatalf("zip: %v\n%s", err, out)
	}
	b, err := os.ReadFile(filepath.Join(dir, "out.zip"))
	if err != nil {
		t.Fatal(err)
	}
	return b
}

// ppapPasswordMail is the second mail of PPAP, in ISO-2022-JP as Japanese
// mail software sends it.
func ppapPasswordMail(t *testing.T, tok, password string) []byte {
	t.Helper()
	enc := japanese.ISO2022JP.NewEncoder()
	body, err := enc.String("先ほどお送りしたファイルのパスワードをお知らせします。\r\n\r\nパスワード：" + password + "\r\n\r\nよろしくお願いいたします。\r\n")
	if err != nil {
		t.Fatal(err)
	}
	return []byte("From: yamada@partner.example.org\r\nTo: tanaka@example.co.jp\r\n" +
		"Subject: " + encodedWord("パスワードのお知らせ") + "\r\n" +
		"Message-ID: <" + tok + "@client.example.org>\r\n" +
		"MIME-Version: 1.0\r\nContent-Type: text/plain; charset=ISO-2022-JP\r\nContent-Transfer-Encoding: 7bit\r\n\r\n" + body)
}

// TestE2EPPAP follows PPAP mail through real Postfix to sekisho and real
// clamd, in both scan modes: an encrypted zip is refused for now (451),
// the password mail that follows is delivered, and the archive sent again,
// now decrypted, is refused because clamd finds EICAR inside. The
// password never appears in the log.
func TestE2EPPAP(t *testing.T) {
	t.Parallel()
	clamd := sharedClamd(t)
	const from, to = "yamada@partner.example.org", "tanaka@example.co.jp"
	for _, scan := range []string{"parts", "message"} {
		t.Run(scan, func(t *testing.T) {
			t.Parallel()
			s, pf := setup(t, sekishoConfig("enforce", rulesPPAP(clamd.Addr, scan)))
			pw := "Q7x-" + token(t)[:8]
			tok := token(t)
			archive := writeMessage(t, japaneseMessage(tok, fileAttachment("請求書.zip", "application/zip",
				ppapZip(t, pw, map[string][]byte{"請求書.txt": []byte(eicar)}))))
			out := pf.mustSwaks(t, 26, "--from", from, "--to", to, "--data", archive)
			mustRefuse(t, out, regexp.QuoteMeta("451 4.7.0 Encrypted archive or document: it will be accepted once its password has been sent in a separate mail"))
			pf.notDelivered(t, tok)

			pwTok := token(t)
			pf.mustSwaks(t, 0, "--from", from, "--to", to, "--data", writeMessage(t, ppapPasswordMail(t, pwTok, pw)))
			pf.waitDelivered(t, pwTok, 1)
			s.waitLog(t, "password candidates kept", "candidates=")

			out = pf.mustSwaks(t, 26, "--from", from, "--to", to, "--data", archive)
			mustRefuse(t, out, regexp.QuoteMeta("554 5.7.1 Virus found: "+eicarSig))
			pf.notDelivered(t, tok)
			s.waitLog(t, "msg=decision", "rule=virus", "請求書.txt")
			if strings.Contains(s.Logs(), pw) {
				t.Errorf("the password is in sekisho's log:\n%s", s.Logs())
			}
		})
	}
}

// TestE2EPPAPRelayed: the archive mail comes through a relaying MTA, which
// queues it on the 451 and retries on its own; once the password mail has
// come, the retry is decrypted, found clean, and delivered with the tag
// saying it was checked after decryption. An archive whose password never
// comes gets the rule's action once pair_timeout has passed.
func TestE2EPPAPRelayed(t *testing.T) {
	t.Parallel()
	clamd := sharedClamd(t)
	s := startSekisho(t, sekishoConfig("enforce", rulesPPAP(clamd.Addr, "parts")))
	mx := startPostfix(t, s.Milter, postfixOptions{})
	relay := startRelay(t, mx)
	const from, to = "yamada@partner.example.org", "tanaka@example.co.jp"
	pw := "見積-" + token(t)[:6]
	tok := token(t)
	relay.mustSwaks(t, 0, "--from", from, "--to", to, "--data", writeMessage(t, japaneseMessage(tok,
		fileAttachment("見積書.zip", "application/zip", ppapZip(t, pw, map[string][]byte{"見積書.pdf": pdfAttachment("x", 20000).Data})))))
	// The relay holds it: sekisho answered 451.
	waitRelayed(t, relay, mx, "archive deferred", func() bool {
		return strings.Contains(relay.Maillog(), "451 4.7.0 Encrypted archive")
	})
	mx.notDelivered(t, tok)

	pwTok := token(t)
	relay.mustSwaks(t, 0, "--from", from, "--to", to, "--data", writeMessage(t, ppapPasswordMail(t, pwTok, pw)))
	waitRelayed(t, relay, mx, "password mail and archive delivered", func() bool {
		return len(mx.messages(t, pwTok)) == 1 && len(mx.messages(t, tok)) == 1
	})
	msg := mx.messages(t, tok)[0].Data
	if !containsAll(msg, "X-Sekisho: tag rule=encrypted_archive", "decrypted with the password sent after it, and checked") {
		t.Errorf("delivered archive mail has no tag of its check:\n%s", msg)
	}
	if strings.Contains(s.Logs(), pw) {
		t.Errorf("the password is in sekisho's log:\n%s", s.Logs())
	}

	// No password: refused for now, then refused for good after the timeout.
	tok = token(t)
	lone := writeMessage(t, japaneseMessage(tok, fileAttachment("資料.zip", "application/zip",
		ppapZip(t, "never-sent", map[string][]byte{"資料.pdf": pdfAttachment("y", 5000).Data}))))
	out := mx.mustSwaks(t, 26, "--from", from, "--to", to, "--data", lone)
	mustRefuse(t, out, regexp.QuoteMeta("451 4.7.0 Encrypted archive"))
	time.Sleep(ppapTimeout)
	out = mx.mustSwaks(t, 26, "--from", from, "--to", to, "--data", lone)
	mustRefuse(t, out, regexp.QuoteMeta("550 5.7.1 Encrypted archive without its password: please share the file another way"))
	mx.notDelivered(t, tok)
	s.waitLog(t, "msg=decision", "rule=encrypted_archive", "no password that opens it came within pair_timeout")
}

// TestE2EPPAPTwoMX: two MX hosts, each Postfix with its own sekisho,
// keep their pairs in one Redis. The archive reaches the first host, its
// password the second, and the first host's retry is decrypted with it.
func TestE2EPPAPTwoMX(t *testing.T) {
	t.Parallel()
	redis := sharedRedis(t)
	cfg := sekishoConfig("enforce", `[rules.attachment_extension]
deny = ["exe"]

[rules.encrypted_archive]
mode = "pair"
pair_timeout = "1h"
store = "redis://`+redis.Addr+`/0"
timeout = "2s"
`)
	s1, mx1 := setup(t, cfg)
	_, mx2 := setup(t, cfg)
	tok := token(t)
	from, to := "sato+"+tok+"@partner.example.org", "tanaka@example.co.jp"
	pw := "Zq-" + tok[:8]
	peHead := append([]byte("MZ\x90\x00\x03\x00\x00\x00"), make([]byte, 56)...)
	archive := writeMessage(t, japaneseMessage(tok, fileAttachment("発注書.zip", "application/zip",
		ppapZip(t, pw, map[string][]byte{"発注書.pdf": peHead}))))
	out := mx1.mustSwaks(t, 26, "--from", from, "--to", to, "--data", archive)
	mustRefuse(t, out, regexp.QuoteMeta("451 4.7.0 Encrypted archive"))
	pwTok := token(t)
	mx2.mustSwaks(t, 0, "--from", from, "--to", to, "--data", writeMessage(t, ppapPasswordMail(t, pwTok, pw)))
	mx2.waitDelivered(t, pwTok, 1)
	// Decrypted on the first host: the PDF is a Windows executable.
	out = mx1.mustSwaks(t, 26, "--from", from, "--to", to, "--data", archive)
	mustRefuse(t, out, regexp.QuoteMeta("550 5.7.1 Attachment type not allowed"))
	s1.waitLog(t, "msg=decision", "rule=attachment_extension", `発注書.pdf\" is an executable (pe)`)
	mx1.notDelivered(t, tok)
	// The pairing keys in Redis are digests: no address is stored.
	c := redis.Client("")
	defer c.Close()
	keys, err := c.Keys(context.Background(), "sekisho:pair:*").Result()
	if err != nil {
		t.Fatal(err)
	}
	if strings.Contains(strings.Join(keys, " "), "@") {
		t.Errorf("pairing keys hold addresses: %s", keys)
	}
}

// ppapDocument is an Office document encrypted with agile encryption by
// policy/mime's tests (password "Pw-2026"): harmless.xlsx a workbook,
// exe.docx a document with an executable embedded in its package.
func ppapDocument(t *testing.T, fixture string) []byte {
	t.Helper()
	b, err := os.ReadFile(filepath.Join("..", "..", "..", "policy", "mime", "testdata", "documents", fixture))
	if err != nil {
		t.Fatal(err)
	}
	return b
}

// TestE2EPPAPDocument: an .xlsx protected by a password comes through a
// relaying MTA, which queues it on the 451; its password comes in the
// next mail, and the relay's own retry is decrypted, found harmless and
// delivered with the tag of its check. A document whose decrypted
// package holds an executable is refused once its password has come.
func TestE2EPPAPDocument(t *testing.T) {
	t.Parallel()
	clamd := sharedClamd(t)
	s := startSekisho(t, sekishoConfig("enforce", rulesPPAP(clamd.Addr, "parts")))
	mx := startPostfix(t, s.Milter, postfixOptions{})
	relay := startRelay(t, mx)
	const from, to, pw = "suzuki@partner.example.org", "tanaka@example.co.jp", "Pw-2026"
	tok := token(t)
	relay.mustSwaks(t, 0, "--from", from, "--to", to, "--data", writeMessage(t, japaneseMessage(tok,
		fileAttachment("見積書.xlsx", "application/vnd.openxmlformats-officedocument.spreadsheetml.sheet", ppapDocument(t, "harmless.xlsx")))))
	waitRelayed(t, relay, mx, "document deferred", func() bool {
		return strings.Contains(relay.Maillog(), "451 4.7.0 Encrypted archive or document")
	})
	mx.notDelivered(t, tok)

	// The executable document, sent straight to the MX, waits too.
	exeTok := token(t)
	exe := writeMessage(t, japaneseMessage(exeTok, fileAttachment("発注書.docx", "application/vnd.openxmlformats-officedocument.wordprocessingml.document", ppapDocument(t, "exe.docx"))))
	out := mx.mustSwaks(t, 26, "--from", from, "--to", to, "--data", exe)
	mustRefuse(t, out, regexp.QuoteMeta("451 4.7.0 Encrypted archive or document"))

	pwTok := token(t)
	relay.mustSwaks(t, 0, "--from", from, "--to", to, "--data", writeMessage(t, ppapPasswordMail(t, pwTok, pw)))
	waitRelayed(t, relay, mx, "password mail and document delivered", func() bool {
		return len(mx.messages(t, pwTok)) == 1 && len(mx.messages(t, tok)) == 1
	})
	msg := mx.messages(t, tok)[0].Data
	if !containsAll(msg, "X-Sekisho: tag rule=encrypted_archive", "decrypted with the password sent after it, and checked") {
		t.Errorf("delivered document mail has no tag of its check:\n%s", msg)
	}
	s.waitLog(t, "msg=decision", "rule=encrypted_archive", "decrypted with the password sent after it")

	out = mx.mustSwaks(t, 26, "--from", from, "--to", to, "--data", exe)
	mustRefuse(t, out, regexp.QuoteMeta("550 5.7.1 Attachment type not allowed"))
	mx.notDelivered(t, exeTok)
	s.waitLog(t, "msg=decision", "rule=attachment_extension", "word/embeddings/invoice.exe")
	if strings.Contains(s.Logs(), pw) {
		t.Errorf("the password is in sekisho's log:\n%s", s.Logs())
	}
}
