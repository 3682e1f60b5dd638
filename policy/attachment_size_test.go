package policy_test

import (
	"context"
	"testing"

	"github.com/sekisho/sekisho/policy"
)

func TestAttachmentSize(t *testing.T) {
	const cfg = `
[rules.attachment_size]
max = "3MiB"
max_total = "5MiB"
overrides = [{ recipients = ["big@example.co.jp"], max = "10MiB" }]
`
	const bigReply = "552 5.3.4 Attachment too large: ??.pdf (4MiB, limit 3MiB)"
	drawing := make([]byte, 4<<20)
	copy(drawing, pdfHead)
	big := multipartMail(jisWord(t, "図面送付"), japaneseText, attachment{"application/pdf", "図面.pdf", drawing})
	over := multipartMail(jisWord(t, "資料送付"), japaneseText,
		attachment{"application/pdf", "資料1.pdf", make([]byte, 3<<20)},
		attachment{"application/pdf", "資料2.pdf", make([]byte, 2<<20+1)},
	)
	fits := multipartMail(jisWord(t, "資料送付"), japaneseText,
		attachment{"application/pdf", "資料1.pdf", make([]byte, 3<<20)},
		attachment{"application/pdf", "資料2.pdf", make([]byte, 2<<20)},
	)
	tests := []struct {
		name   string
		raw    []byte
		rcpts  []string
		reason string // "" when accepted
		reply  string
	}{
		{"over max", big, []string{"tanaka@example.co.jp"}, `attachment "図面.pdf" (part 2) is 4194304 bytes, over the limit of 3MiB`, bigReply},
		{"override", big, []string{"big@example.co.jp"}, "", ""},
		{"override matches without case", big, []string{"<BIG@Example.CO.JP>"}, "", ""},
		// One message cannot be split: the smallest limit holds.
		{"override and another recipient", big, []string{"big@example.co.jp", "tanaka@example.co.jp"}, "over the limit of 3MiB", bigReply},
		{"another recipient first", big, []string{"tanaka@example.co.jp", "big@example.co.jp"}, "over the limit of 3MiB", bigReply},
		{"exactly max, total over", over, []string{"tanaka@example.co.jp"}, "attachments total 5242881 bytes, over the limit of 5MiB",
			"552 5.3.4 Attachment too large: all attachments together (5.1MiB, limit 5MiB)"},
		{"exactly max, total exactly max_total", fits, []string{"tanaka@example.co.jp"}, "", ""},
	}
	e := newEngine(t, cfg, nil)
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			v := e.Run(context.Background(), policy.StageEOB, rawMessage(t, tt.raw, tt.rcpts...))
			if tt.reason == "" {
				expectContinue(t, v)
				return
			}
			expect(t, v, "attachment_size", policy.Reject, tt.reply, tt.reason)
		})
	}
}

func TestAttachmentSizeDefaultMax(t *testing.T) {
	e := newEngine(t, "[rules.attachment_size]\n", nil)
	over := multipartMail(jisWord(t, "図面"), japaneseText, attachment{"application/pdf", "a.pdf", make([]byte, 3<<20+1)})
	expect(t, e.Run(context.Background(), policy.StageEOB, rawMessage(t, over)),
		"attachment_size", policy.Reject, "552 5.3.4 Attachment too large: a.pdf (3.1MiB, limit 3MiB)", "is 3145729 bytes, over the limit of 3MiB")
	at := multipartMail(jisWord(t, "図面"), japaneseText, attachment{"application/pdf", "a.pdf", make([]byte, 3<<20)})
	expectContinue(t, e.Run(context.Background(), policy.StageEOB, rawMessage(t, at)))
}
