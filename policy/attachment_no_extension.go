package policy

import (
	"context"
	"fmt"
)

// AttachmentNoExtensionConfig is [rules.attachment_no_extension]:
// attachments whose decoded name has no extension, or that have no name.
type AttachmentNoExtensionConfig struct {
	RuleCommon
}

func (c *AttachmentNoExtensionConfig) setDefaults() {
	c.outcome(Reject, Reply{Code: 550, Enhanced: "5.7.1", Text: "Attachment without a file extension: {filename}"})
}

func (c *AttachmentNoExtensionConfig) validate() []*ConfigError { return nil }

func (c *AttachmentNoExtensionConfig) needs() Needs {
	return Needs{Stages: []Stage{StageEOB}, Vars: []string{"filename"}, Inspection: true}
}

func (c *AttachmentNoExtensionConfig) build(*Env) (Rule, error) { return attachmentNoExtension{}, nil }

// attachmentNoExtension refuses, at end of body, an attachment whose name
// has no extension; an unnamed image drawn in the body of multipart/related
// is no attachment a reader sees.
type attachmentNoExtension struct{}

func (attachmentNoExtension) Name() string { return "attachment_no_extension" }

func (attachmentNoExtension) Check(_ context.Context, _ Stage, m *Message) (Hit, error) {
	for _, a := range m.Inspection.Attachments {
		vars := map[string]string{"filename": attachmentFilename(a), "reason": "no file extension"}
		if a.Filename == "" {
			vars["reason"] = "no file name"
		}
		if a.Ext == "" && !(a.Inline && a.Filename == "") {
			return Hit{Matched: true, Reason: attachmentName(a) + " has no file extension", Vars: vars}, nil
		}
		for n, ext := range otherNames(a) {
			if ext == "" {
				return Hit{Matched: true, Reason: fmt.Sprintf("%s, also read as %q, has no file extension", attachmentName(a), n), Vars: vars}, nil
			}
		}
	}
	return Hit{}, nil
}
