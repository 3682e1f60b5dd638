package e2e_test

// Messages read the way Thunderbird reads them, through a real Postfix: a
// probe hides forbidden content in a shape that a strict MIME parser
// reads differently from a mail client and must be refused with the reply
// of the rule the client's reading implies; its control, the same shape
// around a harmless PDF, is delivered.

import (
	"bytes"
	"encoding/binary"
	"fmt"
	"regexp"
	"strings"
	"testing"
	"time"
)

// readingExe is the head of a Windows executable: a DOS header whose
// e_lfanew points at a PE signature and an i386 COFF header.
var readingExe = func() []byte {
	b := make([]byte, 512)
	copy(b, "MZ\x90\x00\x03\x00\x00\x00\x04\x00\x00\x00\xff\xff\x00\x00\xb8")
	copy(b[0x40:], "\x0e\x1f\xba\x0e\x00\xb4\x09\xcd\x21\xb8\x01\x4c\xcd\x21This program cannot be run in DOS mode.\r\r\n$")
	binary.LittleEndian.PutUint32(b[0x3c:], 0x80)
	copy(b[0x80:], "PE\x00\x00\x4c\x01\x03\x00")
	return b
}()

// readingPDF is a small harmless PDF.
var readingPDF = []byte("%PDF-1.4\n%\xe2\xe3\xcf\xd3\n1 0 obj << /Type /Catalog /Pages 2 0 R >> endobj\n" +
	"2 0 obj << /Type /Pages /Kids [] /Count 0 >> endobj\ntrailer << /Root 1 0 R >>\n%%EOF\n")

// readingText is a Japanese body text part (LF lines, like every piece
// here; readingMessage turns them into CRLF).
var readingText = "Content-Type: text/plain; charset=ISO-2022-JP\nContent-Transfer-Encoding: 7bit\n\n" +
	string(iso2022jp(japaneseBody))

// readingMessage is a message with a Japanese subject, the given top-level
// Content-Type and body, in CRLF lines.
func readingMessage(tok, contentType, body string) []byte {
	var b bytes.Buffer
	fmt.Fprintf(&b, "From: %s <sender@example.org>\n", encodedWord("送信者"))
	fmt.Fprintf(&b, "To: user@example.co.jp\nSubject: %s\nDate: %s\n", encodedWord(japaneseSubject), time.Now().Format(time.RFC1123Z))
	fmt.Fprintf(&b, "Message-ID: <%s@client.example.org>\nX-E2E-Token: %s\nMIME-Version: 1.0\n", tok, tok)
	fmt.Fprintf(&b, "Content-Type: %s\n\n%s", contentType, body)
	return []byte(strings.ReplaceAll(b.String(), "\n", "\r\n"))
}

// readingMixed is a multipart/mixed message: the Japanese text part, then
// parts (each its header block, a blank line and its body).
func readingMixed(tok string, parts ...string) []byte {
	body := "This is a multi-part message in MIME format.\n--outer\n" + readingText
	for _, p := range parts {
		body += "--outer\n" + p
	}
	return readingMessage(tok, `multipart/mixed; boundary="outer"`, body+"--outer--\n")
}

// readingB64 is data in base64 lines of 76 characters, LF-ended.
func readingB64(data []byte) string {
	return strings.ReplaceAll(base64Lines(data), "\r\n", "\n")
}

// readingAttachment is an attachment part named name with the given
// transfer encoding, data encoded in base64.
func readingAttachment(name, cte string, data []byte) string {
	return fmt.Sprintf("Content-Type: application/pdf; name=%q\nContent-Disposition: attachment; filename=%q\n"+
		"Content-Transfer-Encoding: %s\n\n%s", name, name, cte, readingB64(data))
}

// readingCase is one shape of message, built around forbidden content or
// a harmless PDF.
type readingCase struct {
	name  string
	build func(tok string, content []byte) []byte
	// bad is the forbidden content of the probe; reply and rule what it
	// must be refused with.
	bad         []byte
	reply, rule string
	// ambiguous: the accepted control must be logged as ambiguous.
	ambiguous bool
}

// runReadingCase sends the control, which must be delivered, then the
// probe, which must be refused after DATA and not delivered. Each message
// has a sender of its own, to find its log line.
func runReadingCase(t *testing.T, s *sekishoProc, pf *postfix, c readingCase) {
	t.Helper()
	t.Run(c.name+"/control", func(t *testing.T) {
		tok := token(t)
		sender := "reading-" + tok + "@example.org"
		pf.mustSwaks(t, 0, "--from", sender, "--to", "user@example.co.jp",
			"--data", writeMessage(t, c.build(tok, readingPDF)))
		pf.waitDelivered(t, tok, 1)
		if c.ambiguous {
			s.waitLog(t, "sender="+sender, "ambiguous")
		}
	})
	t.Run(c.name+"/probe", func(t *testing.T) {
		tok := token(t)
		sender := "reading-" + tok + "@example.org"
		out := pf.mustSwaks(t, 26, "--from", sender, "--to", "user@example.co.jp",
			"--data", writeMessage(t, c.build(tok, c.bad)))
		mustRefuse(t, out, regexp.QuoteMeta(c.reply))
		pf.notDelivered(t, tok)
		s.waitLog(t, "msg=decision", "sender="+sender, "rule="+c.rule)
	})
}

// readingHidden builds a body where att is a part under the boundary
// visible, and only text of the single text part under the boundary
// hidden.
func readingHidden(visible, hidden, att string) string {
	return "--" + hidden + "\n" + readingText +
		"--" + visible + "\n" + readingText +
		"--" + visible + "\n" + att +
		"--" + visible + "--\n" +
		"--" + hidden + "--\n"
}

// readingInner is a forwarded message with a base64 attachment named name.
func readingInner(name string, data []byte) string {
	return fmt.Sprintf("From: %s <yamada@example.com>\nTo: user@example.co.jp\nSubject: %s\nMIME-Version: 1.0\n"+
		"Content-Type: multipart/mixed; boundary=\"inner\"\n\n--inner\n%s--inner\n"+
		"Content-Type: application/octet-stream; name=%q\nContent-Disposition: attachment; filename=%q\n"+
		"Content-Transfer-Encoding: base64\n\n%s--inner--\n",
		encodedWord("山田"), encodedWord("転送資料"), readingText, name, name, readingB64(data))
}

// TestE2EReading sends, through Postfix, three classes of messages that
// mail clients read differently from a strict parser: a transfer encoding
// with a trailing ';', a multipart with two boundaries, an attached
// message/news.
func TestE2EReading(t *testing.T) {
	t.Parallel()
	s, pf := setup(t, sekishoConfig("enforce", rulesContent, "[rules.uninspectable]\n"))
	const refused = "550 5.7.1 Attachment type not allowed"
	cases := []readingCase{
		{name: "base64;", bad: readingExe, reply: refused, rule: "attachment_extension",
			build: func(tok string, content []byte) []byte {
				return readingMixed(tok, readingAttachment("invoice.pdf", "base64;", content))
			}},
	}
	// The executable is a part under one reading of the boundary and text
	// under the other: once under each.
	for _, under := range [][2]string{{"A", "B"}, {"B", "A"}} {
		cases = append(cases, readingCase{name: "two boundaries/visible under " + under[0], bad: readingExe,
			reply: refused, rule: "attachment_extension", ambiguous: true,
			build: func(tok string, content []byte) []byte {
				return readingMessage(tok, `multipart/mixed, boundary="A"; boundary="B"`,
					readingHidden(under[0], under[1], readingAttachment("invoice.pdf", "base64", content)))
			}})
	}
	cases = append(cases, readingCase{name: "message/news", reply: refused, rule: "attachment_extension",
		bad: readingExe, build: func(tok string, content []byte) []byte {
			name := "setup.exe"
			if bytes.HasPrefix(content, []byte("%PDF")) {
				name = "report.pdf"
			}
			return readingMixed(tok, "Content-Type: message/news\nContent-Disposition: attachment; filename=\"fwd.eml\"\n\n"+
				readingInner(name, content))
		}})
	for _, c := range cases {
		runReadingCase(t, s, pf, c)
	}
}

// TestE2EReadingVirus: EICAR under "Content-Transfer-Encoding: base64;" is
// decoded before it goes to clamd, which finds it.
func TestE2EReadingVirus(t *testing.T) {
	t.Parallel()
	clamd := sharedClamd(t)
	s, pf := setup(t, sekishoConfig("enforce", rulesContent, "[rules.uninspectable]\n", ruleVirus(clamd.Addr)))
	runReadingCase(t, s, pf, readingCase{name: "base64; eicar", bad: []byte(eicar),
		reply: "554 5.7.1 Virus found: " + eicarSig, rule: "virus",
		build: func(tok string, content []byte) []byte {
			return readingMixed(tok, readingAttachment("invoice.pdf", "base64;", content))
		}})
}

// TestE2EForgedHeader: X-Sekisho fields a sender wrote are gone from the
// delivered message; sekisho's own (a dry run's) is there.
func TestE2EForgedHeader(t *testing.T) {
	t.Parallel()
	_, pf := setup(t, sekishoConfig("enforce", rulesContent, "[rules.recipient_limit]\nmax = 1\ndry_run = true\n"))
	tok := token(t)
	msg := bytes.Replace(japaneseMessage(tok), []byte("MIME-Version: 1.0\r\n"), []byte("X-Sekisho: accept (checked by sekisho)\r\nx-sekisho: clean\r\nMIME-Version: 1.0\r\n"), 1)
	pf.mustSwaks(t, 0, "--from", "sender@example.org", "--to", "user@example.co.jp,user2@example.co.jp", "--data", writeMessage(t, msg))
	got := string(pf.waitDelivered(t, tok, 2)[0].Data)
	if strings.Contains(got, "checked by sekisho") || strings.Contains(got, "x-sekisho: clean") {
		t.Errorf("a forged field was delivered:\n%s", got)
	}
	if !strings.Contains(got, "X-Sekisho: would-reject rule=recipient_limit") {
		t.Errorf("sekisho's own field is missing:\n%s", got)
	}
}
