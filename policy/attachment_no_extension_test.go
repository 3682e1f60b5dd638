package policy_test

import (
	"context"
	"testing"

	"github.com/sekisho/sekisho/policy"
)

// rtNoExtReply is the rule's default reply, which goes on with the file's
// name (see TestReplyPlaceholders).
const rtNoExtReply = "550 5.7.1 Attachment without a file extension: "

// TestAttachmentNoExtension: alone, the rule refuses an attachment named
// without an extension and lets one with an extension through, even an
// executable's, which is attachment_extension's to judge.
func TestAttachmentNoExtension(t *testing.T) {
	e := rtEngine(t, "[rules.attachment_no_extension]\n", nil)
	rtExpect(t, e.Run(context.Background(), policy.StageEOB, rtFileMessage(t, "no-extension.eml")),
		"attachment_no_extension", policy.Reject, rtNoExtReply+"README", `attachment "README" (part 2) has no file extension`)
	rtExpectContinue(t, e.Run(context.Background(), policy.StageEOB, rtFileMessage(t, "double-extension.eml")))
}
