package policy_test

import (
	"bytes"
	"context"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/sekisho/sekisho/policy"
	"github.com/sekisho/sekisho/policy/internal/testkit"
)

// encryptedZip writes files into a zip encrypted with password by zip -P
// (traditional PKWARE encryption), as PPAP mail carries them.
func encryptedZip(t *testing.T, password string, files map[string][]byte) []byte {
	t.Helper()
	prog, err := exec.LookPath("zip")
	if err != nil {
		t.Fatal("zip not found: run bash testdata/install-deps.sh as root to install it")
	}
	dir := t.TempDir()
	args := []string{"-q", "-P", password, "out.zip"}
	for name, data := range files {
		if err := os.WriteFile(filepath.Join(dir, name), data, 0o644); err != nil {
			t.Fatal(err)
		}
		args = append(args, name)
	}
	cmd := exec.Command(prog, args...)
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

// archiveMail is a Japanese mail with a zip attached.
func archiveMail(zip []byte) []byte {
	return attachmentMail("見積書の送付", "見積書を添付します。パスワードは別途お送りします。", "application/zip", "mitsumori.zip", zip)
}

// passwordMail is the mail that follows, in ISO-2022-JP as Japanese mail
// software sends it.
func passwordMail(t *testing.T, password string) []byte {
	body := jis(t, "先ほどのファイルのパスワードをお知らせします。\r\n\r\nパスワード："+password+"\r\n\r\nよろしくお願いいたします。\r\n")
	return []byte("Subject: " + jisWord(t, "パスワードのお知らせ") + "\r\n" +
		"MIME-Version: 1.0\r\nContent-Type: text/plain; charset=ISO-2022-JP\r\nContent-Transfer-Encoding: 7bit\r\n\r\n" + body)
}

// pairing is an engine in pair mode with a clock the test moves.
type pairing struct {
	t     *testing.T
	e     *policy.Engine
	clock *testkit.Clock
	log   bytes.Buffer
}

func newPairing(t *testing.T, extra string) *pairing {
	p := &pairing{t: t, clock: testkit.NewClock(time.Date(2026, 12, 1, 9, 0, 0, 0, time.UTC))}
	env := logEnv(&p.log)
	env.Now = p.clock.Now
	p.e = newEngine(t, "[rules.attachment_extension]\n\n[rules.encrypted_archive]\nmode = \"pair\"\npair_timeout = \"1h\"\n"+extra, env)
	return p
}

// send passes raw on to the engine as the milter does, streamed, from
// sender to rcpts, and returns the outcome.
func (p *pairing) send(raw []byte, sender string, rcpts ...string) policy.Outcome {
	p.t.Helper()
	m := envelope(rcpts...)
	m.Sender = sender
	m.Headers = headersOf(p.t, raw)
	feed(p.e, m, raw, 512)
	defer m.Close()
	return p.e.Finish(context.Background(), m)
}

func TestEncryptedArchiveJudge(t *testing.T) {
	zip := encryptedZip(t, "Pw-2026", map[string][]byte{"見積書.pdf": []byte("%PDF-1.4\n")})
	e := newEngine(t, "[rules.encrypted_archive]\n", nil)
	v := e.Run(context.Background(), policy.StageEOB, rawMessage(t, archiveMail(zip)))
	expect(t, v, "encrypted_archive", policy.Reject,
		"550 5.7.1 Encrypted archives and documents are not accepted: their content cannot be checked. Please share the file another way",
		`attachment "mitsumori.zip" (part 2) is an encrypted archive`)
	e = newEngine(t, "[rules.encrypted_archive]\naction = \"tempfail\"\n", nil)
	v = e.Run(context.Background(), policy.StageEOB, rawMessage(t, archiveMail(zip)))
	expect(t, v, "encrypted_archive", policy.Tempfail,
		"450 4.7.1 Encrypted archives and documents are not accepted: their content cannot be checked. Please share the file another way")
	// {filename} and {reason} name the file.
	e = newEngine(t, "[rules.encrypted_archive]\nreply = \"550 5.7.1 {filename}: encrypted ({reason})\"\n", nil)
	v = e.Run(context.Background(), policy.StageEOB, rawMessage(t, archiveMail(zip)))
	expect(t, v, "encrypted_archive", policy.Reject, "550 5.7.1 mitsumori.zip: encrypted (mitsumori.zip is an encrypted archive)")
	// A plain zip is no business of this rule.
	plain := fileMessage(t, "zip-with-exe.eml")
	expectContinue(t, newEngine(t, "[rules.encrypted_archive]\n", nil).Run(context.Background(), policy.StageEOB, plain))
}

// TestEncryptedArchivePairing follows PPAP mail through the engine: the
// archive waits, its password comes in the next mail, the retry is
// decrypted and judged on its content.
func TestEncryptedArchivePairing(t *testing.T) {
	const pw = "Mk7#qa9Z"
	exe := archiveMail(encryptedZip(t, pw, map[string][]byte{"見積書.pdf": peHead, "readme.txt": []byte("hello\n")}))
	pdf := archiveMail(encryptedZip(t, pw, map[string][]byte{"見積書.pdf": []byte("%PDF-1.4\n%...\n")}))
	const from, to = "yamada@partner.example.jp", "tanaka@example.co.jp"

	t.Run("executable inside", func(t *testing.T) {
		// Its name, which zip does not encrypt, says PDF: only the
		// content tells.
		p := newPairing(t, "")
		o := p.send(exe, from, to)
		expect(t, o.Verdict, "encrypted_archive", policy.Tempfail,
			"451 4.7.0 Encrypted archive or document: it will be accepted once its password has been sent in a separate mail", "waiting for its password")
		// The MTA retries before the password came: still waiting.
		p.clock.Advance(10 * time.Minute)
		o = p.send(exe, from, to)
		expect(t, o.Verdict, "encrypted_archive", policy.Tempfail, o.Reply.String(), "10m0s of 1h0m0s waited")
		// The password mail is delivered.
		p.clock.Advance(time.Minute)
		if o := p.send(passwordMail(t, pw), from, to); !o.Accepted() || o.Rule != "" {
			t.Fatalf("password mail: %+v", o.Verdict)
		}
		// The retry is decrypted: the executable inside is refused.
		p.clock.Advance(5 * time.Minute)
		o = p.send(exe, from, to)
		expect(t, o.Verdict, "attachment_extension", policy.Reject, "550 5.7.1 Attachment type not allowed: mitsumori.zip > ???.pdf",
			`"mitsumori.zip" (part 2) > "見積書.pdf" is an executable (pe)`)
		if strings.Contains(p.log.String(), pw) {
			t.Errorf("the password is in the log:\n%s", p.log.String())
		}
		if !strings.Contains(p.log.String(), "password candidates kept") {
			t.Errorf("log does not say candidates were kept:\n%s", p.log.String())
		}
	})

	t.Run("clean inside", func(t *testing.T) {
		p := newPairing(t, "")
		expect(t, p.send(pdf, from, to).Verdict, "encrypted_archive", policy.Tempfail, "451 4.7.0 Encrypted archive or document: it will be accepted once its password has been sent in a separate mail")
		// Another sender's password, or one to another recipient, opens nothing.
		p.send(passwordMail(t, pw), "other@partner.example.jp", to)
		p.send(passwordMail(t, pw), from, "suzuki@example.co.jp")
		expect(t, p.send(pdf, from, to).Verdict, "encrypted_archive", policy.Tempfail, "451 4.7.0 Encrypted archive or document: it will be accepted once its password has been sent in a separate mail")
		p.send(passwordMail(t, "wrong-one"), from, to)
		p.send(passwordMail(t, pw), from, to)
		o := p.send(pdf, from, to)
		if !o.Accepted() || o.Action != policy.Continue {
			t.Fatalf("decrypted clean archive: %+v", o.Verdict)
		}
		if len(o.Headers) != 1 || !strings.Contains(o.Headers[0].Value, "rule=encrypted_archive") || !strings.Contains(o.Headers[0].Value, "decrypted with the password sent after it, and checked") {
			t.Errorf("headers = %+v, want the tag of a checked archive", o.Headers)
		}
		// Once accepted, the archive and its candidates are forgotten: the
		// same file sent again waits anew.
		expect(t, p.send(pdf, from, to).Verdict, "encrypted_archive", policy.Tempfail, "451 4.7.0 Encrypted archive or document: it will be accepted once its password has been sent in a separate mail", "0s of 1h0m0s waited")
	})

	t.Run("password never comes", func(t *testing.T) {
		p := newPairing(t, "action = \"reject\"\nreply = \"550 5.7.1 Send the file by the file server, not as an encrypted zip\"\n")
		p.send(pdf, from, to)
		p.clock.Advance(59 * time.Minute)
		expect(t, p.send(pdf, from, to).Verdict, "encrypted_archive", policy.Tempfail, "451 4.7.0 Encrypted archive or document: it will be accepted once its password has been sent in a separate mail")
		p.clock.Advance(time.Minute)
		expect(t, p.send(pdf, from, to).Verdict, "encrypted_archive", policy.Reject,
			"550 5.7.1 Send the file by the file server, not as an encrypted zip", "no password that opens it came within pair_timeout 1h0m0s")
		// The null sender cannot send a password: the action applies at once.
		expect(t, newPairing(t, "").send(pdf, "", to).Verdict, "encrypted_archive", policy.Reject,
			"550 5.7.1 Encrypted archives and documents are not accepted: their content cannot be checked. Please share the file another way", "null sender")
	})

	t.Run("not streamed", func(t *testing.T) {
		// A message judged from its raw bytes (sekisho scan) gets the
		// candidates too.
		p := newPairing(t, "")
		p.send(exe, from, to)
		p.send(passwordMail(t, pw), from, to)
		m := rawMessage(t, exe, to)
		m.Sender = from
		expect(t, p.e.Finish(context.Background(), m).Verdict, "attachment_extension", policy.Reject, "550 5.7.1 Attachment type not allowed: mitsumori.zip > ???.pdf")
	})
}

// TestEncryptedArchiveRedacts: with pairing on, a password quoted by
// another rule's reason (ascii_only quotes the body) reaches neither the
// log nor the header.
func TestEncryptedArchiveRedacts(t *testing.T) {
	p := newPairing(t, "\n[rules.ascii_only]\naction = \"tag\"\n")
	mail := []byte("Subject: pw\r\nMIME-Version: 1.0\r\nContent-Type: text/plain\r\n\r\nPassword: Tr0ub4dor\r\n")
	o := p.send(mail, "a@example.org", "b@example.co.jp")
	if len(o.Headers) == 0 || strings.Contains(o.Headers[0].Value, "Tr0ub4dor") || !strings.Contains(o.Headers[0].Value, "Password: *****") {
		t.Errorf("headers %+v", o.Headers)
	}
	if strings.Contains(p.log.String(), "Tr0ub4dor") {
		t.Errorf("log:\n%s", p.log.String())
	}
}

func TestEncryptedArchiveConfig(t *testing.T) {
	for cfg, want := range map[string]string{
		"mode = \"wait\"\n":                        `mode: must be judge or pair, not "wait"`,
		"pair_reply = \"550 5.7.1 no\"\n":          "pair_reply: must be a 4xx reply",
		"patterns = [\"PW: \\\\S+\"]\n":            "needs a group",
		"pair_timeout = \"0s\"\n":                  "pair_timeout: must be above zero",
		"mode = \"pair\"\npatterns = []\n":         "mode pair needs at least one pattern",
		"action = \"tag\"\nmax_pairs = 0\n":        "max_pairs: must be at least 1",
		"patterns = [\"(unclosed\"]\n":             "missing closing )",
		"action = \"tempfail\"\nmode = \"pair\"\n": "",
	} {
		_, err := policy.Parse("t.toml", []byte("[rules.encrypted_archive]\n"+cfg))
		switch {
		case want == "" && err != nil:
			t.Errorf("%s: %v", cfg, err)
		case want != "" && (err == nil || !strings.Contains(err.Error(), want)):
			t.Errorf("%s: error %v, want %q", cfg, err, want)
		}
	}
}

// TestEncryptedArchiveOneOutcome: the outcome of encrypted archives is set
// in one place.
func TestEncryptedArchiveOneOutcome(t *testing.T) {
	_, err := policy.Parse("t.toml", []byte("[rules.attachment_extension]\nencrypted = \"reject\"\n\n[rules.encrypted_archive]\nmode = \"pair\"\n"))
	if err == nil || !strings.Contains(err.Error(), "rules.attachment_extension.encrypted: encrypted archives are judged by rules.encrypted_archive") {
		t.Errorf("error = %v", err)
	}
}

// documentMail is a mail with an Office document attached, from the
// encrypted documents of policy/mime's tests (password "Pw-2026").
func documentMail(t *testing.T, fixture, name string) []byte {
	t.Helper()
	doc, err := os.ReadFile(filepath.Join("mime", "testdata", "documents", fixture))
	if err != nil {
		t.Fatal(err)
	}
	return attachmentMail("見積書の送付", "見積書を添付します。", "application/vnd.openxmlformats-officedocument.spreadsheetml.sheet", name, doc)
}

// TestEncryptedDocumentJudge: an Office file protected by a password is
// judged like an encrypted archive, and only by this rule.
func TestEncryptedDocumentJudge(t *testing.T) {
	raw := documentMail(t, "harmless.xlsx", "mitsumori.xlsx")
	v := newEngine(t, "[rules.encrypted_archive]\n", nil).Run(context.Background(), policy.StageEOB, rawMessage(t, raw))
	expect(t, v, "encrypted_archive", policy.Reject,
		"550 5.7.1 Encrypted archives and documents are not accepted: their content cannot be checked. Please share the file another way",
		`attachment "mitsumori.xlsx" (part 2) is an encrypted document`)
	// Without the rule it is accepted: uninspectable leaves encrypted
	// attachments to it.
	expectContinue(t, newEngine(t, "[rules.attachment_extension]\n\n[rules.uninspectable]\n", nil).Run(context.Background(), policy.StageEOB, rawMessage(t, raw)))
}

// TestEncryptedDocumentPairing: an encrypted .xlsx waits for its
// password, and the retry is decrypted and judged on its package.
func TestEncryptedDocumentPairing(t *testing.T) {
	const from, to = "yamada@partner.example.jp", "tanaka@example.co.jp"
	harmless := documentMail(t, "harmless.xlsx", "mitsumori.xlsx")
	exe := documentMail(t, "exe.docx", "mitsumori.docx")
	p := newPairing(t, "")
	expect(t, p.send(harmless, from, to).Verdict, "encrypted_archive", policy.Tempfail,
		"451 4.7.0 Encrypted archive or document: it will be accepted once its password has been sent in a separate mail", "is an encrypted document: waiting for its password")
	expect(t, p.send(exe, from, to).Verdict, "encrypted_archive", policy.Tempfail, "451 4.7.0 Encrypted archive or document: it will be accepted once its password has been sent in a separate mail")
	p.clock.Advance(time.Minute)
	if o := p.send(passwordMail(t, "Pw-2026"), from, to); !o.Accepted() {
		t.Fatalf("password mail: %+v", o.Verdict)
	}
	o := p.send(harmless, from, to)
	if !o.Accepted() || len(o.Headers) != 1 || !strings.Contains(o.Headers[0].Value, "decrypted with the password sent after it, and checked") {
		t.Fatalf("decrypted harmless document: %+v %+v", o.Verdict, o.Headers)
	}
	expect(t, p.send(exe, from, to).Verdict, "attachment_extension", policy.Reject,
		"550 5.7.1 Attachment type not allowed: mitsumori.docx > EncryptedPackage > word/embeddings/invoice.exe",
		`"EncryptedPackage" > "word/embeddings/invoice.exe" denied extension exe`)
}

// encryptedPDF is an empty PDF encrypted by qpdf with AES-256, with user
// password user ("" for none: only the owner password, which restricts
// printing) and owner password owner.
func encryptedPDF(t *testing.T, user, owner string) []byte {
	t.Helper()
	prog, err := exec.LookPath("qpdf")
	if err != nil {
		t.Fatal("qpdf not found: run bash testdata/install-deps.sh as root to install it")
	}
	dir := t.TempDir()
	cmd := exec.Command(prog, "--empty", "--encrypt", user, owner, "256", "--print=none", "--", "out.pdf")
	cmd.Dir = dir
	if out, err := cmd.CombinedOutput(); err != nil {
		t.Fatalf("qpdf: %v\n%s", err, out)
	}
	b, err := os.ReadFile(filepath.Join(dir, "out.pdf"))
	if err != nil {
		t.Fatal(err)
	}
	return b
}

// pdfMail is a mail with a PDF attached as name.
func pdfMail(pdf []byte, name string) []byte {
	return attachmentMail("請求書の送付", "請求書を添付します。", "application/pdf", name, pdf)
}

// TestEncryptedPDFJudge: a PDF with an owner password only (no printing,
// no editing) opens without a password: it is no encrypted document, and
// is accepted; one with a user password is refused.
func TestEncryptedPDFJudge(t *testing.T) {
	e := newEngine(t, "[rules.encrypted_archive]\n", nil)
	expectContinue(t, e.Run(context.Background(), policy.StageEOB, rawMessage(t, pdfMail(encryptedPDF(t, "", "owner-Pw"), "seikyu.pdf"))))
	v := e.Run(context.Background(), policy.StageEOB, rawMessage(t, pdfMail(encryptedPDF(t, "user-Pw", "owner-Pw"), "seikyu.pdf")))
	expect(t, v, "encrypted_archive", policy.Reject,
		"550 5.7.1 Encrypted archives and documents are not accepted: their content cannot be checked. Please share the file another way",
		`attachment "seikyu.pdf" (part 2) is an encrypted document`)
}

// TestEncryptedPDFPairing: a PDF protected by a password waits for it
// like an archive; once it has come, the retry opens with it and is
// accepted, tagged. A PDF whose password never comes gets the action
// after pair_timeout.
func TestEncryptedPDFPairing(t *testing.T) {
	const from, to = "yamada@partner.example.jp", "tanaka@example.co.jp"
	const pw = "Pdf-2026"
	mail := pdfMail(encryptedPDF(t, pw, "owner-"+pw), "seikyu.pdf")
	p := newPairing(t, "")
	expect(t, p.send(mail, from, to).Verdict, "encrypted_archive", policy.Tempfail,
		"451 4.7.0 Encrypted archive or document: it will be accepted once its password has been sent in a separate mail", "is an encrypted document: waiting for its password")
	p.clock.Advance(time.Minute)
	if o := p.send(passwordMail(t, "not-"+pw), from, to); !o.Accepted() {
		t.Fatalf("password mail: %+v", o.Verdict)
	}
	expect(t, p.send(mail, from, to).Verdict, "encrypted_archive", policy.Tempfail, "451 4.7.0 Encrypted archive or document: it will be accepted once its password has been sent in a separate mail")
	p.send(passwordMail(t, pw), from, to)
	o := p.send(mail, from, to)
	if !o.Accepted() || len(o.Headers) != 1 || !strings.Contains(o.Headers[0].Value, "decrypted with the password sent after it, and checked") {
		t.Fatalf("opened PDF: %+v %+v", o.Verdict, o.Headers)
	}

	lone := pdfMail(encryptedPDF(t, "never-sent", "owner"), "shiryo.pdf")
	p.send(lone, from, to)
	p.clock.Advance(time.Hour)
	expect(t, p.send(lone, from, to).Verdict, "encrypted_archive", policy.Reject,
		"550 5.7.1 Encrypted archives and documents are not accepted: their content cannot be checked. Please share the file another way",
		"no password that opens it came within pair_timeout 1h0m0s")
}
