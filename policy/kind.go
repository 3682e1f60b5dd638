package policy

import (
	"slices"
	"strings"

	"github.com/sekisho/sekisho/policy/mime"
)

// The kinds of mail a [[policy]] block can be chosen by. They are read
// from the envelope and the message's top-level header, which the sender
// writes: a block by kind is for mail that is legitimate in a shape the
// usual rules refuse (an English bounce under ascii_only), not for
// trusting anyone. Attachments, executables and viruses are judged as
// always unless the block says otherwise.
const (
	// KindBounce: a delivery status notification (RFC 3464: a
	// multipart/report of report-type delivery-status), or any other mail
	// from the null sender that is not a receipt or an auto-reply: the
	// older bounce formats (qmail, Exim's and Exchange's text bounces)
	// come from <> too (RFC 5321 section 4.5.5).
	KindBounce = "bounce"
	// KindReceipt: a message disposition notification, a read receipt
	// (RFC 8098: a multipart/report of report-type
	// disposition-notification).
	KindReceipt = "receipt"
	// KindAutoReply: an automatic answer, such as an out-of-office reply:
	// an Auto-Submitted field other than "no" (RFC 3834), or the older
	// X-Autoreply, X-Autorespond or "Precedence: auto_reply".
	KindAutoReply = "auto-reply"
	// KindList: mail from a mailing list, with a List-Id field (RFC 2919).
	KindList = "list"
)

// MailKinds lists the kinds of mail, as [[policy]] kinds names them.
var MailKinds = []string{KindBounce, KindReceipt, KindAutoReply, KindList}

// Kinds returns the kinds of a message whose header is known (at end of
// headers or later), in the order of MailKinds.
func (m *Message) Kinds() []string {
	var kinds []string
	report := false
	if ct, ok := m.HeaderValue("Content-Type"); ok {
		if mt, types := mime.ContentType(ct, "report-type"); mt == "multipart/report" {
			for _, t := range types {
				switch strings.ToLower(strings.TrimSpace(t)) {
				case "delivery-status":
					kinds, report = appendKind(kinds, KindBounce), true
				case "disposition-notification":
					kinds, report = appendKind(kinds, KindReceipt), true
				}
			}
		}
	}
	auto := m.autoSubmitted()
	if auto {
		kinds = appendKind(kinds, KindAutoReply)
	}
	if m.Sender == "" && !report && !auto {
		kinds = appendKind(kinds, KindBounce)
	}
	if v, ok := m.HeaderValue("List-Id"); ok && strings.TrimSpace(v) != "" {
		kinds = appendKind(kinds, KindList)
	}
	slices.SortFunc(kinds, func(a, b string) int {
		return slices.Index(MailKinds, a) - slices.Index(MailKinds, b)
	})
	return kinds
}

// autoSubmitted reports whether the header marks the message as sent by
// a machine in answer to another (RFC 3834 section 5, and the fields
// older responders write).
func (m *Message) autoSubmitted() bool {
	if v, ok := m.HeaderValue("Auto-Submitted"); ok {
		// "auto-replied; owner-email=…": the keyword before any parameter.
		tok, _, _ := strings.Cut(strings.TrimSpace(v), ";")
		if tok = strings.ToLower(strings.TrimSpace(tok)); tok != "" && tok != "no" {
			return true
		}
	}
	for _, name := range []string{"X-Autoreply", "X-Autorespond"} {
		if v, ok := m.HeaderValue(name); ok && !strings.EqualFold(strings.TrimSpace(v), "no") {
			return true
		}
	}
	v, _ := m.HeaderValue("Precedence")
	return strings.EqualFold(strings.TrimSpace(v), "auto_reply")
}

func appendKind(kinds []string, k string) []string {
	if slices.Contains(kinds, k) {
		return kinds
	}
	return append(kinds, k)
}
