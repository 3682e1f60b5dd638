package milter_test

// Messages read the way Thunderbird reads them: each class is a shape that
// a strict MIME parser and a mail client read differently. A probe holds
// forbidden content where the client would show it and must be refused
// with the reply of the rule that the client's reading implies; its
// control has the same shape around harmless content and must be accepted.
// Everything goes through the milter protocol, as an MTA sends it.

import (
	"archive/zip"
	"bytes"
	"encoding/base64"
	"encoding/binary"
	"hash/crc32"
	"strings"
	"testing"
	"unicode/utf16"
)

// The replies of the content rules (their defaults). A reply that ends in
// ": " goes on with the name of the file refused.
const (
	replyAttachment   = "550 5.7.1 Attachment type not allowed: "
	replyASCII        = "550 5.7.1 The body has no Japanese (non-ASCII) text"
	replyBlankSubject = "550 5.6.0 The subject has no text"
	replyBlankBody    = "550 5.6.0 The body has no text"
	replyUnchecked    = "554 5.6.0 Message content could not be checked"
)

// readingConfig turns on the content rules, attachment_extension first so
// that an executable without a name is judged as an executable. extra is
// added to [rules.uninspectable].
func readingConfig(extra string) string {
	return `
listen = "inet:127.0.0.1:0"
[rules.attachment_extension]
[rules.attachment_no_extension]
[rules.ascii_only]
[rules.blank]
[rules.uninspectable]
` + extra
}

// readingPE is the head of a Windows executable: a DOS header whose
// e_lfanew points at a PE signature and an i386 COFF header.
var readingPE = func() []byte {
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

const (
	jaSubject = "請求書の送付について"
	jaBody    = "いつもお世話になっております。\n請求書をお送りします。\nよろしくお願いいたします。\n"
	enBody    = "Hello,\nplease find the invoice attached.\nBest regards\n"
)

// encWord is s as an RFC 2047 B encoded-word in UTF-8.
func encWord(s string) string {
	return "=?UTF-8?B?" + base64.StdEncoding.EncodeToString([]byte(s)) + "?="
}

// wrap76 cuts base64 text into lines of 76 characters.
func wrap76(s string) string {
	var b strings.Builder
	for len(s) > 76 {
		b.WriteString(s[:76] + "\n")
		s = s[76:]
	}
	b.WriteString(s + "\n")
	return b.String()
}

func b64(data []byte) string { return wrap76(base64.StdEncoding.EncodeToString(data)) }

// crlf turns the LF lines of a test message into CRLF lines.
func crlf(s string) string { return strings.ReplaceAll(s, "\n", "\r\n") }

// readingMail is a message as the MTA sends it to the milter: header
// fields, then the body (LF lines here, sent as CRLF).
type readingMail struct {
	headers [][2]string
	body    string
}

// mailOf is a message with a Japanese subject and the given Content-Type.
func mailOf(subject, contentType, body string) readingMail {
	return readingMail{
		headers: [][2]string{
			{"From", "sender@example.com"},
			{"To", "user@example.co.jp"},
			{"Subject", subject},
			{"Message-ID", "<reading@example.com>"},
			{"MIME-Version", "1.0"},
			{"Content-Type", contentType},
		},
		body: body,
	}
}

// textPart is a Japanese body text part.
const textPart = "Content-Type: text/plain; charset=UTF-8\nContent-Transfer-Encoding: 8bit\n\n" + jaBody

// mixed is a multipart/mixed message: a Japanese text part, then parts
// (each its header block, a blank line and its body).
func mixed(parts ...string) readingMail {
	body := "This is a multi-part message in MIME format.\n--outer\n" + textPart
	for _, p := range parts {
		body += "--outer\n" + p
	}
	return mailOf(encWord(jaSubject), `multipart/mixed; boundary="outer"`, body+"--outer--\n")
}

// b64Part is a base64 attachment part with the given header lines.
func b64Part(data []byte, header ...string) string {
	return strings.Join(header, "\n") + "\nContent-Transfer-Encoding: base64\n\n" + b64(data)
}

// pdfNamed is an application/pdf attachment named name holding data.
func pdfNamed(name string, data []byte) string {
	return b64Part(data, `Content-Type: application/pdf; name="`+name+`"`, `Content-Disposition: attachment; filename="`+name+`"`)
}

// readingCase is one message and what must come of it.
type readingCase struct {
	name   string
	mail   readingMail
	reply  string // "" for accepted
	log    string // a word the milter's log must hold, "" for none
	config string // "" for readingConfig("")
}

// sendReading sends m through a fresh server and returns the end of message
// reply and the log.
func sendReading(t *testing.T, config string, m readingMail) (string, string) {
	t.Helper()
	addr, logs := startServer(t, config)
	c := dial(t, addr, "192.0.2.1")
	c.mail("sender@example.com")
	if r := c.rcpt("user@example.co.jp"); r != "" {
		t.Fatalf("recipient refused: %q", r)
	}
	r, _ := c.data(m.headers, crlf(m.body))
	return r, logs.String()
}

// runReading runs each case as a parallel subtest.
func runReading(t *testing.T, cases []readingCase) {
	t.Helper()
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			t.Parallel()
			config := c.config
			if config == "" {
				config = readingConfig("")
			}
			got, logs := sendReading(t, config, c.mail)
			switch {
			case c.reply == "" && got != "":
				t.Errorf("refused with %q, want accepted", got)
			case c.reply != "" && got == "":
				t.Errorf("accepted, want %q", c.reply)
			case got != c.reply && !(strings.HasSuffix(c.reply, ": ") && strings.HasPrefix(got, c.reply)):
				t.Errorf("refused with %q, want %q", got, c.reply)
			}
			if c.log != "" && !strings.Contains(logs, c.log) {
				t.Errorf("log does not say %q", c.log)
			}
			if t.Failed() {
				t.Logf("log:\n%s", logs)
			}
		})
	}
}

// probeControl is the usual pair of a class: the probe refused with reply,
// the control accepted, both logging log when it is set.
func probeControl(name string, probe, control readingMail, reply, log string) []readingCase {
	return []readingCase{
		{name: name + "/probe", mail: probe, reply: reply, log: log},
		{name: name + "/control", mail: control, log: log},
	}
}

// TestReadingTransferEncoding: a Content-Transfer-Encoding is its first
// token, ending at ';', ',' or white space, case-insensitive.
func TestReadingTransferEncoding(t *testing.T) {
	var cases []readingCase
	for _, s := range []struct{ name, cte, log string }{
		{"semicolon", "base64;", ""},
		{"comment", "base64 (binary)", ""},
		{"upper case", "BASE64", ""},
		{"second value", "base64,7bit", "ambiguous"},
	} {
		part := func(data []byte) readingMail {
			return mixed(`Content-Type: application/pdf; name="invoice.pdf"` + "\n" +
				`Content-Disposition: attachment; filename="invoice.pdf"` + "\n" +
				"Content-Transfer-Encoding: " + s.cte + "\n\n" + b64(data))
		}
		cases = append(cases, probeControl(s.name, part(readingPE), part(readingPDF), replyAttachment, s.log)...)
	}
	runReading(t, cases)
}

// TestReadingBase64Groups: base64 is decoded four characters at a time,
// '=' padding only its own group, so "TQ==" ("M") followed by the base64
// of the rest of a PE is the whole PE.
func TestReadingBase64Groups(t *testing.T) {
	split := func(data []byte) readingMail {
		enc := base64.StdEncoding.EncodeToString(data[:1]) + base64.StdEncoding.EncodeToString(data[1:])
		return mixed(`Content-Type: application/pdf; name="invoice.pdf"` + "\n" +
			`Content-Disposition: attachment; filename="invoice.pdf"` + "\n" +
			"Content-Transfer-Encoding: base64\n\n" + wrap76(enc))
	}
	if p := split(readingPE); !strings.Contains(p.body, "\n\nTQ==WpAAAw") {
		t.Fatalf("probe does not start with TQ==:\n%s", p.body)
	}
	if p := split(readingPDF); !strings.Contains(p.body, "\n\nJQ==UERG") {
		t.Fatalf("control does not start with JQ==:\n%s", p.body)
	}
	runReading(t, probeControl("TQ== then the rest", split(readingPE), split(readingPDF), replyAttachment, ""))
}

// boundaryShape is a Content-Type whose boundary mail clients read as
// either of two values.
type boundaryShape struct {
	name, contentType string
	a, b              string // the two readings
}

var boundaryShapes = []boundaryShape{
	{"comma then semicolon", `multipart/mixed, boundary="A"; boundary="B"`, "A", "B"},
	{"plain and RFC 2231", `multipart/mixed; boundary="B"; boundary*=us-ascii''A`, "A", "B"},
	{"unquoted with a space", `multipart/mixed; boundary=A x`, "A", "A x"},
}

// hiddenUnder builds a body where the attachment att is a part under the
// boundary visible, and only text of the single text part under the
// boundary hidden. Both readings have Japanese body text.
func hiddenUnder(visible, hidden, att string) string {
	return "--" + hidden + "\n" + textPart +
		"--" + visible + "\n" + textPart +
		"--" + visible + "\n" + att +
		"--" + visible + "--\n" +
		"--" + hidden + "--\n"
}

// TestReadingBoundary: a multipart with two readings of its boundary is
// inspected under each: an executable visible under either is refused,
// and the ambiguity is logged; it refuses by itself only when the
// administrator sets uninspectable's ambiguous to reject.
func TestReadingBoundary(t *testing.T) {
	var cases []readingCase
	for _, s := range boundaryShapes {
		for _, under := range []struct{ visible, hidden string }{{s.a, s.b}, {s.b, s.a}} {
			m := func(data []byte) readingMail {
				return mailOf(encWord(jaSubject), s.contentType, hiddenUnder(under.visible, under.hidden, pdfNamed("invoice.pdf", data)))
			}
			name := s.name + "/visible under " + under.visible
			cases = append(cases, probeControl(name, m(readingPE), m(readingPDF), replyAttachment, "ambiguous")...)
			cases = append(cases, readingCase{name: name + "/control, ambiguous = reject", mail: m(readingPDF),
				reply: replyUnchecked, config: readingConfig("ambiguous = \"reject\"\n")})
		}
	}
	runReading(t, cases)
}

// innerMessage is a forwarded message with attachment att.
func innerMessage(att string) string {
	return "From: " + encWord("山田") + " <yamada@example.com>\nTo: user@example.co.jp\nSubject: " + encWord("転送資料") +
		"\nMIME-Version: 1.0\nContent-Type: multipart/mixed; boundary=\"inner\"\n\n--inner\n" + textPart +
		"--inner\n" + att + "--inner--\n"
}

var (
	innerExe = innerMessage(b64Part(readingPE, `Content-Type: application/octet-stream; name="setup.exe"`,
		`Content-Disposition: attachment; filename="setup.exe"`))
	innerPDF = innerMessage(pdfNamed("report.pdf", readingPDF))
)

// readingZip is a zip archive of one stored entry, with extra as its extra
// field.
func readingZip(t *testing.T, name string, data, extra []byte) []byte {
	t.Helper()
	var b bytes.Buffer
	w := zip.NewWriter(&b)
	f, err := w.CreateHeader(&zip.FileHeader{Name: name, Method: zip.Store, Extra: extra})
	if err != nil {
		t.Fatal(err)
	}
	if _, err := f.Write(data); err != nil {
		t.Fatal(err)
	}
	if err := w.Close(); err != nil {
		t.Fatal(err)
	}
	return b.Bytes()
}

// TestReadingAttachedMessage: the ways a part is rendered as an attached
// message, whose attachments are then judged.
func TestReadingAttachedMessage(t *testing.T) {
	eml := `Content-Disposition: attachment; filename="fwd.eml"`
	shapes := []struct {
		name string
		part func(inner string) string
	}{
		{"message/news", func(in string) string { return "Content-Type: message/news\n" + eml + "\n\n" + in }},
		{"message/rfc822 with a comma", func(in string) string { return "Content-Type: message/rfc822,\n" + eml + "\n\n" + in }},
		{"type after the last ?", func(in string) string {
			return "Content-Type: application/pdf?message/rfc822\n" + eml + "\n\n" + in
		}},
		{"octet-stream named .eml", func(in string) string {
			return "Content-Type: application/octet-stream; name=\"fwd.eml\"\nContent-Transfer-Encoding: 7bit\n\n" + in
		}},
		{".eml in a zip", func(in string) string {
			return b64Part(readingZip(t, "fwd.eml", []byte(crlf(in)), nil),
				`Content-Type: application/zip; name="fwd.zip"`, `Content-Disposition: attachment; filename="fwd.zip"`)
		}},
	}
	var cases []readingCase
	for _, s := range shapes {
		cases = append(cases, probeControl(s.name, mixed(s.part(innerExe)), mixed(s.part(innerPDF)), replyAttachment, "")...)
	}
	runReading(t, cases)
}

// TestReadingNameHeaders: a part's name also comes from Content-Name and
// X-Sun-Data-Name, and a non-first part of multipart/mixed is an
// attachment.
func TestReadingNameHeaders(t *testing.T) {
	var cases []readingCase
	for _, h := range []string{"Content-Name", "X-Sun-Data-Name"} {
		part := func(name string) readingMail {
			return mixed("Content-Type: text/plain\n" + h + ": " + name + "\n\nThis file is harmless.\n")
		}
		cases = append(cases, probeControl(h, part("setup.exe"), part("readme.pdf"), replyAttachment, "")...)
	}
	runReading(t, cases)
}

// unicodePathExtra is an Info-ZIP Unicode Path extra field (0x7075):
// version 1, the CRC-32 of the header's name, the UTF-8 name.
func unicodePathExtra(headerName, name string) []byte {
	data := binary.LittleEndian.AppendUint32([]byte{1}, crc32.ChecksumIEEE([]byte(headerName)))
	data = append(data, name...)
	ex := binary.LittleEndian.AppendUint16(nil, 0x7075)
	ex = binary.LittleEndian.AppendUint16(ex, uint16(len(data)))
	return append(ex, data...)
}

// TestReadingFileNames: every name a client may read for an attachment is
// judged. The content is a harmless PDF: only the names decide.
func TestReadingFileNames(t *testing.T) {
	pdf := func(header ...string) readingMail { return mixed(b64Part(readingPDF, header...)) }
	zipped := func(name string) readingMail {
		z := readingZip(t, "setup.pdf", readingPDF, unicodePathExtra("setup.pdf", name))
		return mixed(b64Part(z, `Content-Type: application/zip; name="docs.zip"`, `Content-Disposition: attachment; filename="docs.zip"`))
	}
	var cases []readingCase
	cases = append(cases,
		readingCase{name: "two filenames/probe", reply: replyAttachment, log: "ambiguous",
			mail: pdf("Content-Type: application/pdf", `Content-Disposition: attachment; filename="invoice.pdf"; filename="setup.exe"`)},
		readingCase{name: "two filenames/control",
			mail: pdf("Content-Type: application/pdf", `Content-Disposition: attachment; filename="a.pdf"; filename="b.pdf"`)})
	cases = append(cases, probeControl("unquoted with a space",
		pdf("Content-Type: application/pdf", "Content-Disposition: attachment; filename=setup.exe x"),
		pdf("Content-Type: application/pdf", "Content-Disposition: attachment; filename=report.pdf x"), replyAttachment, "")...)
	cases = append(cases, probeControl("name after a comma",
		pdf("Content-Type: application/pdf, name=setup.exe", "Content-Disposition: attachment"),
		pdf("Content-Type: application/pdf, name=report.pdf", "Content-Disposition: attachment"), replyAttachment, "")...)
	cases = append(cases, probeControl("NUL in an RFC 2231 name",
		pdf("Content-Type: application/pdf", "Content-Disposition: attachment; filename*=UTF-8''setup.exe%00.pdf"),
		pdf("Content-Type: application/pdf", "Content-Disposition: attachment; filename*=UTF-8''report.pdf"), replyAttachment, "")...)
	cases = append(cases, probeControl("zip Unicode Path field", zipped("setup.exe"), zipped("report.pdf"), replyAttachment, "")...)
	runReading(t, cases)
}

// TestReadingUnseenText: text a mail client does not show does not count
// as text.
func TestReadingUnseenText(t *testing.T) {
	var cases []readingCase
	cases = append(cases, probeControl("EBCDIC label",
		mailOf(encWord(jaSubject), "text/plain; charset=IBM037", enBody),
		mailOf(encWord(jaSubject), "text/plain; charset=IBM037", jaBody), replyASCII, "")...)
	html := func(open, close, text string) readingMail {
		return mailOf(encWord(jaSubject), "text/html; charset=UTF-8",
			"<html><body>\n<p>Please find the invoice attached.</p>\n"+open+text+close+"\n</body></html>\n")
	}
	for _, h := range []struct{ name, open, close, shownOpen, shownClose string }{
		{"display:none", `<div style="display:none">`, "</div>", `<div style="display:block">`, "</div>"},
		{"hidden attribute", "<span hidden>", "</span>", "<span>", "</span>"},
		{"template", "<template>", "</template>", "<div>", "</div>"},
	} {
		cases = append(cases, probeControl("html "+h.name,
			html(h.open, h.close, "いつもお世話になっております。"),
			html(h.shownOpen, h.shownClose, "いつもお世話になっております。"), replyASCII, "")...)
	}
	cases = append(cases, probeControl("subject of U+FE0F",
		mailOf(encWord("\ufe0f\ufe0f\ufe0f"), "text/plain; charset=UTF-8", jaBody),
		mailOf(encWord(jaSubject+"\ufe0f"), "text/plain; charset=UTF-8", jaBody), replyBlankSubject, "")...)
	for _, r := range []string{"\u200b", "\u034f"} {
		cases = append(cases, probeControl("body of "+fmtRune(r),
			mailOf(encWord(jaSubject), "text/plain; charset=UTF-8", strings.Repeat(r, 3)+"\n"+r+"\n"),
			mailOf(encWord(jaSubject), "text/plain; charset=UTF-8", jaBody+r+"\n"), replyBlankBody, "")...)
	}
	runReading(t, cases)
}

// fmtRune names the single rune of s as U+XXXX.
func fmtRune(s string) string {
	r := []rune(s)[0]
	const hex = "0123456789ABCDEF"
	return "U+" + string([]byte{hex[r>>12&15], hex[r>>8&15], hex[r>>4&15], hex[r&15]})
}

// utf7 encodes s in UTF-7 (RFC 2152): ASCII other than '+', '\' and '~' as
// itself, '+' as "+-", every other run as the base64 of its UTF-16BE
// without padding, between '+' and '-'.
func utf7(s string) string {
	var b strings.Builder
	var run []rune
	flush := func() {
		if len(run) == 0 {
			return
		}
		var buf []byte
		for _, u := range utf16.Encode(run) {
			buf = binary.BigEndian.AppendUint16(buf, u)
		}
		b.WriteString("+" + base64.RawStdEncoding.EncodeToString(buf) + "-")
		run = nil
	}
	for _, r := range s {
		switch {
		case r == '+':
			flush()
			b.WriteString("+-")
		case r < 0x80 && r != '\\' && r != '~':
			flush()
			b.WriteRune(r)
		default:
			run = append(run, r)
		}
	}
	flush()
	return b.String()
}

// TestReadingUTF7: UTF-7 is decoded, as mail clients decode it.
func TestReadingUTF7(t *testing.T) {
	if got := utf7("あいう"); got != "+MEIwRDBG-" {
		t.Fatalf("utf7(あいう) = %q, want +MEIwRDBG-", got)
	}
	runReading(t, []readingCase{
		{name: "japanese/control", mail: mailOf(encWord(jaSubject), "text/plain; charset=UTF-7", utf7(jaBody))},
		{name: "english/probe", reply: replyASCII,
			mail: mailOf(encWord(jaSubject), "text/plain; charset=UTF-7", utf7("Hello,\n1+1 is 2: see the invoice.\n"))},
	})
}
