package policy

import (
	"context"
	"fmt"

	"github.com/sekisho/sekisho/policy/mime"
)

// inspector is a rule that judges the parsed body (Message.Inspection).
type inspector interface {
	inspects()
}

// limits returns the inspection limits of the [inspect] table.
func (c InspectConfig) limits() mime.Limits {
	l := mime.DefaultLimits()
	l.MaxDepth = c.MaxDepth
	l.MaxParts = c.MaxParts
	l.MaxHeaderBytes = int(c.MaxHeaderSize)
	l.MaxArchiveBytes = int64(c.MaxArchiveSize)
	l.MaxArchiveDepth = c.MaxArchiveDepth
	l.TempDir = c.TempDir
	return l
}

// inspect parses the raw message once, before the first rule that needs it.
func (e *Engine) inspect(_ context.Context, m *Message) error {
	if m.Inspection != nil {
		return nil
	}
	if m.Raw == nil {
		return fmt.Errorf("inspect: the message body is not available")
	}
	r, err := m.Raw()
	if err != nil {
		return fmt.Errorf("inspect: %w", err)
	}
	defer r.Close()
	res, err := mime.Inspect(r, e.limits)
	if err != nil {
		return fmt.Errorf("inspect: %w", err)
	}
	m.Inspection = res
	return nil
}

// subject returns the decoded Subject and whether the header is present.
func subject(m *Message) (string, bool) {
	if m.Inspection != nil {
		return m.Inspection.Subject, m.Inspection.HasSubject
	}
	raw, ok := m.HeaderValue("Subject")
	if !ok {
		return "", false
	}
	return mime.DecodeHeader(raw), true
}

// attachmentName is how an attachment is named in log lines.
func attachmentName(a mime.Attachment) string {
	if a.Filename == "" {
		return fmt.Sprintf("unnamed attachment (part %s, %s)", a.Part, a.ContentType)
	}
	return fmt.Sprintf("attachment %q (part %s)", a.Filename, a.Part)
}
