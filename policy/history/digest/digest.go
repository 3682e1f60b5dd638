// Package digest composes the daily mail that tells each recipient what
// was held or refused for them: which decisions are listed, grouped by
// recipient, and the mail itself (RFC 5322, Japanese and English). It
// reads no store and sends nothing: `sekisho digest` does both.
//
// Everything a record holds that a sender wrote (subject, sender address,
// attachment names, and the reasons that quote them) is made safe before
// it is written: headers hold none of it, and the body holds no control
// character, no bidirectional override and no line of unbounded length.
package digest

import (
	"bytes"
	"encoding/base64"
	"fmt"
	"io"
	netmail "net/mail"
	"slices"
	"strings"
	"time"
	"unicode"
	"unicode/utf8"

	"github.com/emersion/go-message/mail"

	"github.com/sekisho/sekisho/policy/history"
)

// MaxItems is how many messages one digest lists, newest first; the
// others are counted ("and N more").
const MaxItems = 100

// Field lengths, in characters, past which a value is cut with "…".
const (
	maxSubject     = 200
	maxAddress     = 254 // RFC 5321 section 4.5.3.1.3's path, less its brackets
	maxAttachment  = 120
	maxAttachments = 10
	maxReason      = 300
)

// Header is the header field every digest carries, so that filters and
// the administrator can tell a digest from other mail.
const Header = "X-Sekisho-Digest"

// Filter says which decisions a digest lists.
type Filter struct {
	Since, Until time.Time // [Since, Until); zero: unbounded
	// Domains are the recipient domains that get a digest, in lower case;
	// empty: every recipient.
	Domains []string
	// SkipRules are rules whose refusals are not listed: those of
	// addresses that take no mail (send_only), or of refusals too many to
	// be worth a line each.
	SkipRules []string
}

// Digest is what one recipient is told about.
type Digest struct {
	Rcpt    string           // the address, in lower case
	Records []history.Record // newest first
}

// Listed reports whether a decision belongs in a digest: a message
// refused, discarded or held, not a dry run, not a digest itself. A
// tempfail is not listed: the sender retries it.
func Listed(r history.Record) bool {
	if r.DryRun || IsDigest(r.Subject) {
		return false
	}
	_, ok := outcomes[r.Action]
	return ok
}

// IsDigest reports whether a subject is a digest's, so that a digest
// refused or held is not reported in the next one.
func IsDigest(subject string) bool {
	return strings.HasPrefix(subject, subjectJa) ||
		strings.HasPrefix(subject, "[Sekisho] ") && strings.Contains(subject, subjectEn)
}

// Group returns the digests the records make under f, one per recipient
// with something to report, ordered by address. A record is listed for
// each of its recipients; records keep their order, which is the store's
// (newest first).
func Group(recs []history.Record, f Filter) []Digest {
	byRcpt := map[string]*Digest{}
	var order []string
	for _, r := range recs {
		if !Listed(r) || slices.Contains(f.SkipRules, r.Rule) ||
			!f.Since.IsZero() && r.Time.Before(f.Since) || !f.Until.IsZero() && !r.Time.Before(f.Until) {
			continue
		}
		var seen []string
		for _, rc := range r.Rcpts {
			rc = strings.ToLower(strings.TrimSpace(rc))
			if rc == "" || slices.Contains(seen, rc) || !inDomains(rc, f.Domains) {
				continue
			}
			seen = append(seen, rc)
			d := byRcpt[rc]
			if d == nil {
				d = &Digest{Rcpt: rc}
				byRcpt[rc] = d
				order = append(order, rc)
			}
			d.Records = append(d.Records, r)
		}
	}
	slices.Sort(order)
	out := make([]Digest, 0, len(order))
	for _, rc := range order {
		out = append(out, *byRcpt[rc])
	}
	return out
}

// inDomains reports whether addr's domain is one of domains (any, when
// there are none).
func inDomains(addr string, domains []string) bool {
	if len(domains) == 0 {
		return true
	}
	at := strings.LastIndexByte(addr, '@')
	return at >= 0 && slices.Contains(domains, addr[at+1:])
}

// Lang is the language of a digest.
type Lang string

// The languages: Both is Japanese first, then English.
const (
	Japanese Lang = "ja"
	English  Lang = "en"
	Both     Lang = "both"
)

// ParseLang returns the Lang named ja, en or both.
func ParseLang(s string) (Lang, error) {
	switch l := Lang(s); l {
	case Japanese, English, Both:
		return l, nil
	}
	return "", fmt.Errorf("%q: want ja, en or both", s)
}

// Mail is how digests are written.
type Mail struct {
	From       string         // the From address, e.g. postmaster@mx1.example.co.jp
	Lang       Lang           // "" is Both
	ConsoleURL string         // where the administrator releases held mail; "" to name none
	Since      time.Time      // the start of the period reported
	Now        time.Time      // the Date of the mail
	Location   *time.Location // of the times shown; nil is time.Local
}

// ValidAddress reports whether addr can be written in a To or From field
// as it is: a plain addr-spec, with nothing a header could be split on.
func ValidAddress(addr string) bool {
	if addr == "" || len(addr) > maxAddress || !utf8.ValidString(addr) {
		return false
	}
	for _, c := range addr {
		if unicode.IsSpace(c) || unicode.IsControl(c) || c == '<' || c == '>' || c == ',' || c == '"' {
			return false
		}
	}
	a, err := netmail.ParseAddress(addr)
	return err == nil && a.Name == "" && a.Address == addr
}

// Compose writes d's mail: a single text/plain UTF-8 part, base64, with
// an RFC 2047 subject, Auto-Submitted: auto-generated (RFC 3834 section
// 5, so that vacation replies do not answer it) and Header. Lines end in
// LF, as sendmail(1) reads them.
func (m Mail) Compose(d Digest) ([]byte, error) {
	if !ValidAddress(m.From) {
		return nil, fmt.Errorf("from address %q is not a plain address", m.From)
	}
	if !ValidAddress(d.Rcpt) {
		return nil, fmt.Errorf("recipient address %q is not a plain address", d.Rcpt)
	}
	lang := m.Lang
	if lang == "" {
		lang = Both
	}
	// textproto writes the fields last added first.
	var h mail.Header
	h.Set(Header, "1")
	h.Set("Auto-Submitted", "auto-generated")
	h.Set("Content-Transfer-Encoding", "base64")
	h.SetContentType("text/plain", map[string]string{"charset": "UTF-8"})
	h.Set("MIME-Version", "1.0")
	host := m.From[strings.LastIndexByte(m.From, '@')+1:]
	if err := h.GenerateMessageIDWithHostname(host); err != nil {
		return nil, err
	}
	h.SetDate(m.Now)
	h.Set("Subject", encodeWords(subject(lang, len(d.Records))))
	h.SetAddressList("To", []*mail.Address{{Address: d.Rcpt}})
	h.SetAddressList("From", []*mail.Address{{Name: fromName(lang), Address: m.From}})

	var b bytes.Buffer
	w, err := mail.CreateSingleInlineWriter(&b, h)
	if err != nil {
		return nil, err
	}
	if _, err := io.WriteString(w, m.body(lang, d)); err != nil {
		return nil, err
	}
	if err := w.Close(); err != nil {
		return nil, err
	}
	return bytes.ReplaceAll(b.Bytes(), []byte("\r\n"), []byte("\n")), nil
}

// encodeWords encodes s, if it is not ASCII, as RFC 2047 B encoded-words
// of whole characters (section 5), each short enough that "Subject: " and
// the first of them, or the folding space and any other, fit in a line of
// 76; the space between them is not part of the text (section 6.2).
func encodeWords(s string) string {
	const chunk = 36 // bytes: a word of 10+48+2 characters
	if !slices.ContainsFunc([]rune(s), func(r rune) bool { return r > unicode.MaxASCII }) {
		return s
	}
	var words []string
	for s != "" {
		n := 0
		for _, r := range s {
			if n+utf8.RuneLen(r) > chunk {
				break
			}
			n += utf8.RuneLen(r)
		}
		words = append(words, "=?UTF-8?B?"+base64.StdEncoding.EncodeToString([]byte(s[:n]))+"?=")
		s = s[n:]
	}
	return strings.Join(words, " ")
}

// The subjects' fixed parts, which IsDigest looks for.
const (
	subjectJa = "[関所] 保留・拒否されたメール "
	subjectEn = "held or refused message"
)

// subject is the digest's subject for n messages.
func subject(lang Lang, n int) string {
	en := fmt.Sprintf("%d %s", n, subjectEn)
	if n != 1 {
		en += "s"
	}
	switch lang {
	case Japanese:
		return fmt.Sprintf("%s%d 通", subjectJa, n)
	case English:
		return "[Sekisho] " + en
	}
	return fmt.Sprintf("%s%d 通 / %s", subjectJa, n, en)
}

func fromName(lang Lang) string {
	if lang == English {
		return "Sekisho"
	}
	return "関所 (Sekisho)"
}

// texts are the words of a digest: English, then Japanese; lines break
// short of 80 columns, a Japanese character taking two.
var texts = map[string][2]string{
	"dear":      {"To %s,", "%s 様"},
	"intro":     {"Since %s, the mail gateway (Sekisho) held or refused\nthese messages sent to you (%d):", "%s 以降、あなた宛てのメールのうち %d 通を\nメールゲートウェイ (関所) が保留または拒否しました。"},
	"held":      {"Held messages wait on the gateway: if you need one, ask the mail\nadministrator, who can release it to you.", "「保留」のメールはゲートウェイで止めてあります。必要なメールが\nあれば、メール管理者に連絡してください。確認のうえ配送できます。"},
	"console":   {"(The administrator's console: %s)", "(管理者の画面: %s)"},
	"refused":   {"Refused messages were returned to their senders; discarded ones\nwere dropped without telling them.", "「拒否」のメールは送信者にエラーが返されています。\n「破棄」のメールは送信者に知らせずに削除されました。"},
	"time":      {"Time", "日時"},
	"sender":    {"From", "差出人"},
	"subject":   {"Subject", "件名"},
	"files":     {"Attached", "添付"},
	"reason":    {"Reason", "理由"},
	"more":      {"... and %d more, not listed.", "… ほか %d 通は省略しました。"},
	"footer":    {"This mail was sent automatically; do not reply to it.", "このメールは自動送信です。返信しないでください。"},
	"null":      {"(none: a delivery notification)", "(なし: 配送通知)"},
	"no_subj":   {"(no subject)", "(件名なし)"},
	"more_file": {"and %d more", "ほか %d 件"},
}

// outcomes names each listed action.
var outcomes = map[string][2]string{
	"quarantine": {"held", "保留"},
	"reject":     {"refused", "拒否"},
	"discard":    {"discarded", "破棄"},
}

// body is the text of d's mail, each line ending in CRLF (text/plain in
// canonical form, RFC 2046 section 4.1.1).
func (m Mail) body(lang Lang, d Digest) string {
	var b strings.Builder
	switch lang {
	case Japanese:
		m.section(&b, 1, d)
	case English:
		m.section(&b, 0, d)
	default:
		m.section(&b, 1, d)
		b.WriteString("\r\n" + strings.Repeat("-", 60) + "\r\n\r\n")
		m.section(&b, 0, d)
	}
	return b.String()
}

// section writes the digest in one language: 0 English, 1 Japanese.
func (m Mail) section(b *strings.Builder, l int, d Digest) {
	loc := m.Location
	if loc == nil {
		loc = time.Local
	}
	tr := func(key string, args ...any) string { return fmt.Sprintf(texts[key][l], args...) }
	line := func(s string) { b.WriteString(strings.ReplaceAll(s, "\n", "\r\n") + "\r\n") }
	line(tr("dear", Clean(d.Rcpt, maxAddress)))
	line("")
	line(tr("intro", m.Since.In(loc).Format("2006-01-02 15:04 MST"), len(d.Records)))
	line("")
	held := slices.ContainsFunc(d.Records, func(r history.Record) bool { return r.Action == "quarantine" })
	if held {
		line(tr("held"))
		if m.ConsoleURL != "" {
			line(tr("console", Clean(m.ConsoleURL, maxReason)))
		}
	}
	if !held || slices.ContainsFunc(d.Records, func(r history.Record) bool { return r.Action != "quarantine" }) {
		if held {
			line("")
		}
		line(tr("refused"))
	}
	// Labels padded to one width: Japanese ones are two columns a character.
	label := func(key string) string {
		s := texts[key][l]
		if l == 1 {
			return s + "：" + strings.Repeat("　", 3-utf8.RuneCountInString(s))
		}
		return fmt.Sprintf("%-10s", s+":")
	}
	for i, r := range d.Records {
		if i == MaxItems {
			line("")
			line(tr("more", len(d.Records)-MaxItems))
			break
		}
		line("")
		line(fmt.Sprintf("%d. [%s] %s", i+1, outcomes[r.Action][l], r.Time.In(loc).Format("2006-01-02 15:04")))
		sender := "<" + Clean(r.Sender, maxAddress) + ">"
		if r.Sender == "" {
			sender = tr("null")
		}
		line("   " + label("sender") + sender)
		subj := Clean(r.Subject, maxSubject)
		if subj == "" {
			subj = tr("no_subj")
		}
		line("   " + label("subject") + subj)
		if len(r.Attachments) > 0 {
			var names []string
			for j, a := range r.Attachments {
				if j == maxAttachments {
					names = append(names, tr("more_file", len(r.Attachments)-maxAttachments))
					break
				}
				names = append(names, Clean(a, maxAttachment))
			}
			line("   " + label("files") + strings.Join(names, ", "))
		}
		reason := r.Reason
		if reason == "" {
			reason = r.Reply
		}
		if reason = Clean(reason, maxReason); reason != "" {
			line("   " + label("reason") + reason)
		}
	}
	line("")
	line(tr("footer"))
}

// Clean returns s fit for one line of a digest: invalid UTF-8 replaced,
// control characters and line or paragraph separators made spaces (and
// runs of ASCII spaces one; an ideographic space stays), bidirectional controls dropped (they would reorder
// what the reader sees), at most max characters, the last of them "…"
// when it was cut.
func Clean(s string, max int) string {
	s = strings.ToValidUTF8(s, "\uFFFD")
	s = strings.Map(func(r rune) rune {
		switch {
		case unicode.IsControl(r) || r == '\u2028' || r == '\u2029' || r == '\u0085':
			return ' '
		case unicode.Is(unicode.Bidi_Control, r) || r == '\uFEFF':
			return -1
		}
		return r
	}, s)
	s = strings.Join(strings.FieldsFunc(s, func(r rune) bool { return r == ' ' }), " ")
	if utf8.RuneCountInString(s) > max {
		r := []rune(s)
		s = string(r[:max-1]) + "…"
	}
	return s
}
