package e2e_test

// Test messages, built as Japanese mail clients build them: ISO-2022-JP
// subject and body (RFC 1468), RFC 2047 encoded-words, CRLF lines.

import (
	"bytes"
	"encoding/base64"
	"fmt"
	"os"
	"strings"
	"testing"
	"time"

	"golang.org/x/text/encoding/japanese"
)

// attachment is one MIME part after the text part.
type attachment struct {
	// Header lines without the final CRLF, e.g. Content-Type and
	// Content-Disposition.
	Header []string
	Data   []byte
}

// iso2022jp encodes s in ISO-2022-JP, ending in ASCII.
func iso2022jp(s string) []byte {
	b, err := japanese.ISO2022JP.NewEncoder().Bytes([]byte(s))
	if err != nil {
		panic(fmt.Sprintf("iso-2022-jp %q: %v", s, err))
	}
	return b
}

// encodedWord is s as one RFC 2047 B encoded-word in ISO-2022-JP.
func encodedWord(s string) string {
	return "=?ISO-2022-JP?B?" + base64.StdEncoding.EncodeToString(iso2022jp(s)) + "?="
}

// base64Lines encodes b in lines of 76 characters (RFC 2045 section 6.8).
func base64Lines(b []byte) string {
	enc := base64.StdEncoding.EncodeToString(b)
	var sb strings.Builder
	for len(enc) > 76 {
		sb.WriteString(enc[:76] + "\r\n")
		enc = enc[76:]
	}
	sb.WriteString(enc + "\r\n")
	return sb.String()
}

// buildMessage assembles a message with the given subject header value
// (already encoded), an ISO-2022-JP text body and attachments. tok goes into
// an X-E2E-Token header to find the delivered message.
func buildMessage(tok, subject, body string, atts ...attachment) []byte {
	var b bytes.Buffer
	w := func(format string, args ...any) { fmt.Fprintf(&b, format+"\r\n", args...) }
	w("From: %s <sender@example.org>", encodedWord("送信者"))
	w("To: user@example.co.jp")
	w("Subject: %s", subject)
	w("Date: %s", time.Now().Format(time.RFC1123Z))
	w("Message-ID: <%s@client.example.org>", tok)
	w("X-E2E-Token: %s", tok)
	w("MIME-Version: 1.0")
	text := strings.ReplaceAll(string(iso2022jp(body)), "\n", "\r\n")
	if len(atts) == 0 {
		w("Content-Type: text/plain; charset=ISO-2022-JP")
		w("Content-Transfer-Encoding: 7bit")
		w("")
		w("%s", text)
		return b.Bytes()
	}
	boundary := "----=_Part_" + tok
	w("Content-Type: multipart/mixed; boundary=%q", boundary)
	w("")
	w("This is a multi-part message in MIME format.")
	w("--%s", boundary)
	w("Content-Type: text/plain; charset=ISO-2022-JP")
	w("Content-Transfer-Encoding: 7bit")
	w("")
	w("%s", text)
	for _, a := range atts {
		w("--%s", boundary)
		for _, h := range a.Header {
			w("%s", h)
		}
		w("Content-Transfer-Encoding: base64")
		w("")
		b.WriteString(base64Lines(a.Data))
	}
	w("--%s--", boundary)
	return b.Bytes()
}

// japaneseSubject and japaneseBody make a message that no content rule
// objects to.
const (
	japaneseSubject = "請求書の送付について"
	japaneseBody    = "いつもお世話になっております。\n請求書をお送りします。\nよろしくお願いいたします。\n"
)

// japaneseMessage is an ISO-2022-JP message with attachments.
func japaneseMessage(tok string, atts ...attachment) []byte {
	return buildMessage(tok, encodedWord(japaneseSubject), japaneseBody, atts...)
}

// fileAttachment attaches data under a quoted RFC 2047 filename, as most
// Japanese mail clients do.
func fileAttachment(name, contentType string, data []byte) attachment {
	enc := encodedWord(name)
	if isASCII(name) {
		enc = name
	}
	return attachment{
		Header: []string{
			fmt.Sprintf("Content-Type: %s; name=\"%s\"", contentType, enc),
			fmt.Sprintf("Content-Disposition: attachment; filename=\"%s\"", enc),
		},
		Data: data,
	}
}

// pdfAttachment is a PDF of about size bytes.
func pdfAttachment(name string, size int) attachment {
	data := []byte("%PDF-1.4\n%\xe2\xe3\xcf\xd3\n1 0 obj << /Type /Catalog >> endobj\n")
	for i := 0; len(data) < size; i++ {
		data = append(data, fmt.Sprintf("%% filler %08d\n", i)...)
	}
	data = append(data, "%%EOF\n"...)
	return fileAttachment(name, "application/pdf", data)
}

// unquotedExeAttachment is a Windows executable whose name is an unquoted
// ISO-2022-JP encoded-word, invalid in a parameter (RFC 2047 section 5) and
// sent all the same by some clients.
func unquotedExeAttachment(name string) attachment {
	enc := encodedWord(name)
	return attachment{
		Header: []string{
			"Content-Type: application/octet-stream; name=" + enc,
			"Content-Disposition: attachment; filename=" + enc,
		},
		Data: append([]byte("MZ\x90\x00\x03\x00\x00\x00\x04\x00"), make([]byte, 512)...),
	}
}

// eicarMessage is a Japanese message with EICAR attached in base64.
func eicarMessage(tok string) []byte {
	return japaneseMessage(tok, fileAttachment("eicar.com.txt", "text/plain", []byte(eicar)))
}

func isASCII(s string) bool {
	for i := 0; i < len(s); i++ {
		if s[i] >= 0x80 {
			return false
		}
	}
	return true
}

// writeMessage stores msg in a file for swaks --data.
func writeMessage(t testing.TB, msg []byte) string {
	t.Helper()
	f, err := os.CreateTemp(t.TempDir(), "msg-*.eml")
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	if _, err := f.Write(msg); err != nil {
		t.Fatal(err)
	}
	return f.Name()
}
