package policy

import (
	"context"
	"fmt"
	"iter"

	"github.com/sekisho/sekisho/policy/mime"
)

// limits returns the inspection limits of the [inspect] table.
func (c InspectConfig) limits() mime.Limits {
	return mime.Limits{
		MaxDepth:          c.MaxDepth,
		MaxParts:          c.MaxParts,
		MaxHeaderBytes:    int(c.MaxHeaderSize),
		MaxArchiveDepth:   c.MaxArchiveDepth,
		MaxArchiveEntries: c.MaxArchiveEntries,
		MaxArchiveBytes:   int64(c.MaxArchiveSize),
		TempDir:           c.TempDir,
	}
}

// inspect gives the message its inspection once, before the first rule
// that needs it: the result of the inspection that ran while the message
// was passed on, or else a parse of the raw message.
func (e *Engine) inspect(ctx context.Context, m *Message) error {
	if m.Inspection != nil {
		return nil
	}
	if s := m.state.inspection; s != nil {
		m.state.inspection = nil
		res, err := s.Close()
		if err != nil {
			return fmt.Errorf("inspect: %w", err)
		}
		m.Inspection = res
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
	lim, pws := e.limitsFor(ctx, e.setOf(m), m)
	res, err := mime.InspectWithPasswords(r, lim, pws)
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
	// Two rules read it at end of headers: it is decoded once.
	if c := &m.state.subject; !c.ok || c.raw != raw {
		*c = decodedSubject{raw: raw, text: mime.DecodeHeader(raw), ok: true}
	}
	return m.state.subject.text, true
}

// decodedSubject is the raw Subject value last decoded for a message and
// its text.
type decodedSubject struct {
	raw, text string
	ok        bool
}

// attachmentName is how an attachment is named in log lines.
func attachmentName(a mime.Attachment) string {
	where := "part " + a.Part
	if a.Reading != "" {
		where += ", " + a.Reading
	}
	if a.Filename == "" {
		return fmt.Sprintf("unnamed attachment (%s, %s)", where, a.ContentType)
	}
	return fmt.Sprintf("attachment %q (%s)", a.Filename, where)
}

// otherNames returns the other names a mail client could show for a,
// each with its extension (see mime.Attachment.OtherNames).
func otherNames(a mime.Attachment) iter.Seq2[string, string] {
	return func(yield func(string, string) bool) {
		for _, n := range a.OtherNames {
			if !yield(n, mime.Ext(n)) {
				return
			}
		}
	}
}
