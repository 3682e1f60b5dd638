package digest

import (
	"bytes"
	"strings"
	"testing"
	"unicode"

	"github.com/sekisho/sekisho/policy/history"
)

// FuzzCompose: whatever a sender wrote in the subject, the envelope
// sender, an attachment's name or (quoted) the reason, the digest parses
// back with one To and the fixed subject, and its body has no control or
// bidi character.
func FuzzCompose(f *testing.F) {
	f.Add("御見積\r\nBcc: victim@example.com", "evil@example.net\nX: y", "a\u202Efdp.exe", "reason \x1b[2J")
	f.Add("", "", "", "")
	f.Add("\xff\xfe", "\x00", strings.Repeat("長", 1000), "\u2028\u2029\u0085")
	f.Fuzz(func(t *testing.T, subj, sender, file, reason string) {
		d := Digest{Rcpt: "suzuki@example.co.jp", Records: []history.Record{{
			Time: at(1), Sender: sender, Subject: subj, Attachments: []string{file, file},
			Action: "quarantine", Reason: reason,
		}}}
		msg, err := Mail{From: "postmaster@example.co.jp", Since: since, Now: day}.Compose(d)
		if err != nil {
			t.Fatal(err)
		}
		head, _, _ := bytes.Cut(msg, []byte("\n\n"))
		if n := bytes.Count(head, []byte("\nTo: ")); n != 1 {
			t.Errorf("%d To fields:\n%s", n, head)
		}
		h, body := parse(t, msg)
		if s, _ := h.Subject(); s != subject(Both, 1) {
			t.Errorf("Subject %q", s)
		}
		for _, line := range strings.Split(strings.TrimSuffix(body, "\r\n"), "\r\n") {
			for _, c := range line {
				if unicode.IsControl(c) || unicode.Is(unicode.Bidi_Control, c) {
					t.Fatalf("character %U in line %q", c, line)
				}
			}
		}
	})
}
