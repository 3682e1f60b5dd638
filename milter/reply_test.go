package milter_test

import (
	"encoding/base64"
	"testing"
)

// TestReplyAsConfigured: a refusal reaches the MTA as configured: the
// attachment's name in place of {filename}, made ASCII, a "%" doubled for
// Postfix, and a multi-line reply, policy_url its last line, as one
// SMFIR_REPLYCODE with CRLF-separated lines, "-" after the code on all
// but the last.
func TestReplyAsConfigured(t *testing.T) {
	const config = `
listen = "inet:127.0.0.1:0"
policy_url = "https://www.example.co.jp/mail-policy?q=100%25"
[rules.send_only]
addresses = ["noreply@*"]
reply = """550 5.1.1 <{rcpt}> receives no mail
Write to info@example.co.jp"""
[rules.attachment_extension]
reply = "550 5.7.1 Attachment type not allowed: {filename} ({reason})"
`
	addr, _ := startServer(t, config)
	m := dial(t, addr, "192.0.2.1")
	m.mail("sender@example.com")
	want := "550-5.1.1 <noreply@example.co.jp> receives no mail\r\n" +
		"550-5.1.1 Write to info@example.co.jp\r\n" +
		"550 5.1.1 See https://www.example.co.jp/mail-policy?q=100%%25"
	if r := m.rcpt("noreply@example.co.jp"); r != want {
		t.Errorf("RCPT reply\n%q\nwant\n%q", r, want)
	}
	if r := m.rcpt("user@example.co.jp"); r != "" {
		t.Fatalf("user: got %q", r)
	}
	h := [][2]string{{"From", "a@example.com"}, {"To", "user@example.co.jp"}, {"Subject", "=?UTF-8?B?6KuL5rGC5pu4?="},
		{"MIME-Version", "1.0"}, {"Content-Type", `multipart/mixed; boundary="b"`}}
	body := "--b\r\nContent-Type: text/plain; charset=UTF-8\r\n\r\n請求書をお送りします。\r\n" +
		"--b\r\nContent-Type: application/octet-stream\r\nContent-Disposition: attachment; filename*=UTF-8''%E8%AB%8B%E6%B1%82%E6%9B%B8.exe\r\n" +
		"Content-Transfer-Encoding: base64\r\n\r\n" + base64.StdEncoding.EncodeToString([]byte("not a program")) + "\r\n--b--\r\n"
	want = "550-5.7.1 Attachment type not allowed: ???.exe (file type .exe not allowed)\r\n" +
		"550 5.7.1 See https://www.example.co.jp/mail-policy?q=100%%25"
	if r, _ := m.data(h, body); r != want {
		t.Errorf("end-of-message reply\n%q\nwant\n%q", r, want)
	}
}
