package e2e_test

import (
	"encoding/base64"
	"regexp"
	"strings"
	"testing"
)

// replyConfig refuses a send-only address with a reply of two lines of
// its own, and an executable attachment with the rule's default reply,
// which names the file; policy_url adds a line to both. Its %-escapes
// (the page is メール) are doubled by the milter and undone by both MTAs.
const replyConfig = `policy_url = "` + replyURL + `"

[rules.send_only]
addresses = ["noreply@example.co.jp"]
reply = """550 5.1.1 <{rcpt}> receives no mail
Write to info@example.co.jp instead"""

[rules.attachment_extension]
`

const replyURL = "https://www.example.co.jp/%E3%83%A1%E3%83%BC%E3%83%AB"

// replyMessage is a Japanese mail with an attachment named 請求書.exe
// (RFC 2231, UTF-8).
func replyMessage(tok string) []byte {
	return []byte("From: sender@example.org\r\nTo: user@example.co.jp\r\n" +
		"Subject: =?UTF-8?B?" + base64.StdEncoding.EncodeToString([]byte("請求書の送付")) + "?=\r\n" +
		"X-E2E-Token: " + tok + "\r\nMIME-Version: 1.0\r\nContent-Type: multipart/mixed; boundary=\"b\"\r\n\r\n" +
		"--b\r\nContent-Type: text/plain; charset=UTF-8\r\nContent-Transfer-Encoding: base64\r\n\r\n" +
		base64.StdEncoding.EncodeToString([]byte("請求書をお送りします。\r\n")) + "\r\n" +
		"--b\r\nContent-Type: application/octet-stream\r\n" +
		"Content-Disposition: attachment; filename*=UTF-8''%E8%AB%8B%E6%B1%82%E6%9B%B8.exe\r\n" +
		"Content-Transfer-Encoding: base64\r\n\r\n" + base64.StdEncoding.EncodeToString([]byte("stand-in program")) + "\r\n--b--\r\n")
}

// refusalLines returns the lines of the first refusal in swaks's
// transcript ("<** 550-…", "<** 550 …"), without their marks.
func refusalLines(out string) []string {
	var lines []string
	for _, m := range regexp.MustCompile(`(?m)^<\*\* (.*?)\r?$`).FindAllStringSubmatch(out, -1) {
		lines = append(lines, m[1])
		if len(m[1]) > 3 && m[1][3] == ' ' {
			break
		}
	}
	return lines
}

// TestE2EReply: through each MTA, a refusal reaches the SMTP client as
// configured: a multi-line reply line by line with "-" after the code on
// all but the last, {filename} as the attachment's name made ASCII, and
// policy_url as the last line.
func TestE2EReply(t *testing.T) {
	t.Parallel()
	eachMTA(t, replyConfig, func(t *testing.T, s *sekishoProc, m mta) {
		t.Run("rcpt", func(t *testing.T) {
			out := m.mustSwaks(t, 24, "--from", "sender@example.org", "--to", "noreply@example.co.jp",
				"--header", "X-E2E-Token: "+token(t))
			want := []string{
				"550-5.1.1 <noreply@example.co.jp> receives no mail",
				"550-5.1.1 Write to info@example.co.jp instead",
				"550 5.1.1 See " + replyURL,
			}
			if _, ok := m.(*sendmail); ok {
				// Sendmail puts the address before the milter's text.
				want[0] = "550-5.1.1 <noreply@example.co.jp>... <noreply@example.co.jp> receives no mail"
			}
			if got := refusalLines(out); strings.Join(got, "\n") != strings.Join(want, "\n") {
				t.Errorf("reply\n%s\nwant\n%s\nswaks:\n%s", strings.Join(got, "\n"), strings.Join(want, "\n"), out)
			}
		})
		t.Run("filename", func(t *testing.T) {
			tok := token(t)
			out := m.mustSwaks(t, 26, "--from", "sender@example.org", "--to", "user@example.co.jp",
				"--data", writeMessage(t, replyMessage(tok)))
			want := []string{
				"550-5.7.1 Attachment type not allowed: ???.exe",
				"550 5.7.1 See " + replyURL,
			}
			if got := refusalLines(out); strings.Join(got, "\n") != strings.Join(want, "\n") {
				t.Errorf("reply\n%s\nwant\n%s\nswaks:\n%s", strings.Join(got, "\n"), strings.Join(want, "\n"), out)
			}
			m.notDelivered(t, tok)
			s.waitLog(t, "msg=decision", "rule=attachment_extension", `reason="attachment \"請求書.exe\" (part 2) denied extension exe"`)
		})
	})
}
