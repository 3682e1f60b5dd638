package policy_test

import (
	"context"
	"testing"

	"github.com/sekisho/sekisho/policy"
)

// noExtReply is the rule's default reply, which goes on with the file's
// name (see TestReplyPlaceholders).
const noExtReply = "550 5.7.1 Attachment without a file extension: "

// TestAttachmentNoExtension: alone, the rule refuses an attachment named
// without an extension and lets one with an extension through, even an
// executable's, which is attachment_extension's to judge.
func TestAttachmentNoExtension(t *testing.T) {
	e := newEngine(t, "[rules.attachment_no_extension]\n", nil)
	expect(t, e.Run(context.Background(), policy.StageEOB, fileMessage(t, "no-extension.eml")),
		"attachment_no_extension", policy.Reject, noExtReply+"README", `attachment "README" (part 2) has no file extension`)
	expectContinue(t, e.Run(context.Background(), policy.StageEOB, fileMessage(t, "double-extension.eml")))
}
