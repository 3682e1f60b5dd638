package policy_test

import (
	"context"
	"testing"

	"github.com/sekisho/sekisho/policy"
)

// The rule's default replies.
const (
	blankSubjectReply = "550 5.6.0 The subject has no text"
	blankBodyReply    = "550 5.6.0 The body has no text"
)

func TestBlankBody(t *testing.T) {
	e := newEngine(t, contentConfig, nil)
	for name, raw := range map[string]string{
		"empty":              "Subject: " + jisWord(t, "ご連絡") + "\r\n\r\n",
		"spaces and lines":   "Subject: " + jisWord(t, "ご連絡") + "\r\n\r\n \t\r\n\r\n   \r\n",
		"ideographic spaces": "Subject: " + jisWord(t, "ご連絡") + "\r\nContent-Type: text/plain; charset=utf-8\r\n\r\n\u3000\u3000\r\n\u3000\r\n",
	} {
		t.Run(name, func(t *testing.T) {
			expect(t, e.Run(context.Background(), policy.StageEOB, rawMessage(t, []byte(raw))),
				"blank", policy.Reject, blankBodyReply, "blank body")
		})
	}
}
