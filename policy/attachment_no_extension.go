package policy

import "context"

// AttachmentNoExtensionConfig is [rules.attachment_no_extension]:
// attachments whose decoded name has no extension, or that have no name.
type AttachmentNoExtensionConfig struct {
	RuleCommon
}

func (c *AttachmentNoExtensionConfig) defaults() (Action, Reply) {
	return Reject, Reply{Code: 550, Enhanced: "5.7.1", Text: "Attachments must have a file extension"}
}

func (c *AttachmentNoExtensionConfig) check() []*ConfigError { return nil }

func (c *AttachmentNoExtensionConfig) build(*Env) (Rule, error) { return attachmentNoExtension{}, nil }

// attachmentNoExtension refuses, at end of body, an attachment whose name
// has no extension.
type attachmentNoExtension struct{}

func (attachmentNoExtension) Name() string    { return "attachment_no_extension" }
func (attachmentNoExtension) Stages() []Stage { return []Stage{StageBody} }
func (attachmentNoExtension) inspects()       {}

func (attachmentNoExtension) Check(_ context.Context, _ Stage, m *Message) (Hit, error) {
	for _, a := range m.Inspection.Attachments {
		if a.Ext == "" {
			return Hit{Matched: true, Reason: attachmentName(a) + " has no file extension"}, nil
		}
	}
	return Hit{}, nil
}
