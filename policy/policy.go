// Package policy decides what happens to a mail: it holds the rules, the
// engine that runs them stage by stage, the verdicts they produce and the
// TOML configuration that turns them on.
//
// policy knows nothing about milter: the milter adapter and the tests drive
// the same Engine with a Message they fill in.
package policy

import (
	"fmt"
	"strconv"
	"strings"
	"unicode/utf8"
)

// Stage is a point of the SMTP dialogue at which a rule can decide.
type Stage int

// The SMTP stages, in the order a message passes them. The last two are
// named as the milter protocol names them: end of headers, and end of body,
// which is the end of the message, where content is judged.
const (
	StageConnect Stage = iota
	StageHelo
	StageMail
	StageRcpt
	StageEOH // end of headers
	StageEOB // end of body: the whole message has been passed on
)

var stageNames = [...]string{"connect", "helo", "mail", "rcpt", "eoh", "eob"}

func (s Stage) String() string {
	if s < 0 || int(s) >= len(stageNames) {
		return "stage(" + strconv.Itoa(int(s)) + ")"
	}
	return stageNames[s]
}

// Action is what a verdict does to the mail.
type Action int

// The actions. Continue means "no decision": the next rule is asked.
const (
	Continue   Action = iota
	Reject            // refuse with a 5xx reply
	Tempfail          // refuse with a 4xx reply
	Discard           // accept and drop silently
	Quarantine        // accept into the MTA's hold queue
	Tag               // accept and add a header
	Log               // accept, log only
)

var actionNames = [...]string{"continue", "reject", "tempfail", "discard", "quarantine", "tag", "log"}

func (a Action) String() string {
	if a < 0 || int(a) >= len(actionNames) {
		return "action(" + strconv.Itoa(int(a)) + ")"
	}
	return actionNames[a]
}

// ParseAction parses a configured action name.
func ParseAction(s string) (Action, error) {
	for i, n := range actionNames {
		if i > 0 && n == s {
			return Action(i), nil
		}
	}
	return Continue, fmt.Errorf("unknown action %q (want reject, tempfail, discard, quarantine, tag or log)", s)
}

// MarshalText implements encoding.TextMarshaler.
func (a Action) MarshalText() ([]byte, error) { return []byte(a.String()), nil }

// UnmarshalText implements encoding.TextUnmarshaler for the configuration.
func (a *Action) UnmarshalText(b []byte) error {
	v, err := ParseAction(string(b))
	if err != nil {
		return err
	}
	*a = v
	return nil
}

// Final reports whether the action ends the evaluation of a message: tag and
// log only annotate, so later rules still run after them.
func (a Action) Final() bool {
	switch a {
	case Reject, Tempfail, Discard, Quarantine:
		return true
	}
	return false
}

// fits checks that a configured reply suits the action: a reject needs a
// 5xx reply, a tempfail a 4xx one (the enhanced code's class was checked
// against the reply code when parsing).
func (a Action) fits(r Reply) error {
	switch {
	case a == Reject && r.Code/100 != 5:
		return fmt.Errorf("action reject needs a 5xx reply, not %q", r)
	case a == Tempfail && r.Code/100 != 4:
		return fmt.Errorf("action tempfail needs a 4xx reply, not %q", r)
	}
	return nil
}

// Reply is an SMTP reply: a code, an enhanced status code (RFC 3463) and text.
type Reply struct {
	Code     int    // 421..554
	Enhanced string // "5.1.1"; may be empty
	Text     string
}

// ParseReply parses "550 5.1.1 User unknown". The enhanced code is optional;
// when present its class must match the code's (RFC 3463 §2: a 4xx reply
// carries 4.x.x, a 5xx reply 5.x.x). The text may hold several lines,
// separated by "\n" (or CRLF), for a multi-line reply (RFC 5321 §4.2.1):
// each line is sent with the code and the enhanced code; white space around
// a line is dropped, and no line may be empty or longer than an SMTP reply
// line may be. A reply written in its SMTP form, each line with its code
// ("550-5.7.1 a\n550 5.7.1 b"), is read as the same reply.
func ParseReply(s string) (Reply, error) {
	s = strings.TrimSpace(s)
	if len(s) > 4 && s[3] == '-' && strings.Contains(s, "\n") {
		s = s[:3] + " " + s[4:] // the first line of the SMTP form
	}
	code, rest, _ := strings.Cut(s, " ")
	if len(code) != 3 || (code[0] != '4' && code[0] != '5') || code[1] < '0' || code[1] > '5' || code[2] < '0' || code[2] > '9' {
		return Reply{}, fmt.Errorf("reply %q: must start with a 4xx or 5xx code", s)
	}
	r := Reply{}
	r.Code, _ = strconv.Atoi(code)
	rest = strings.TrimSpace(rest)
	if first, text, _ := strings.Cut(rest, " "); isEnhanced(first) {
		if first[0] != code[0] {
			return Reply{}, fmt.Errorf("reply %q: enhanced code %s does not match reply code %s", s, first, code)
		}
		r.Enhanced, rest = first, strings.TrimSpace(text)
	}
	if rest == "" {
		return Reply{}, fmt.Errorf("reply %q: text is empty", s)
	}
	lines := strings.Split(strings.ReplaceAll(rest, "\r\n", "\n"), "\n")
	for i, l := range lines {
		l = strings.TrimSpace(l)
		if i > 0 {
			l = r.dropCodes(l)
		}
		switch {
		case l == "":
			return Reply{}, fmt.Errorf("reply %q: line %d of the text is empty", s, i+1)
		case strings.ContainsFunc(l, isControl):
			return Reply{}, fmt.Errorf("reply %q: the text holds a control character (a line ends with \\n)", s)
		case len(r.prefix())+len(l) > MaxReplyLine:
			return Reply{}, fmt.Errorf("reply %q: line %d is %d bytes with its codes, over the %d an SMTP reply line may have (RFC 5321 §4.5.3.1.5)",
				s, i+1, len(r.prefix())+len(l), MaxReplyLine)
		}
		lines[i] = l
	}
	r.Text = strings.Join(lines, "\n")
	return r, nil
}

// dropCodes returns a line of text without the codes that a line of the
// SMTP form of the reply starts with ("550-5.7.1 ", "550 5.7.1 ", "550 ").
func (r Reply) dropCodes(line string) string {
	code := strconv.Itoa(r.Code)
	for len(line) > 3 && strings.HasPrefix(line, code) && (line[3] == ' ' || line[3] == '-') {
		line = strings.TrimSpace(line[4:])
		if first, rest, _ := strings.Cut(line, " "); r.Enhanced != "" && first == r.Enhanced {
			line = strings.TrimSpace(rest)
		}
	}
	return line
}

// isControl reports a character that has no place in reply text; a tab
// has one (RFC 5321 §4.2: textstring).
func isControl(r rune) bool { return (r < 0x20 && r != '\t') || r == 0x7f }

// isEnhanced reports whether s looks like class.subject.detail (RFC 3463).
func isEnhanced(s string) bool {
	parts := strings.Split(s, ".")
	if len(parts) != 3 || len(parts[0]) != 1 || (parts[0] != "2" && parts[0] != "4" && parts[0] != "5") {
		return false
	}
	for _, p := range parts[1:] {
		if len(p) == 0 || len(p) > 3 || strings.Trim(p, "0123456789") != "" {
			return false
		}
	}
	return true
}

// UnmarshalText implements encoding.TextUnmarshaler for the configuration.
func (r *Reply) UnmarshalText(b []byte) error {
	v, err := ParseReply(string(b))
	if err != nil {
		return err
	}
	*r = v
	return nil
}

// MarshalText implements encoding.TextMarshaler.
func (r Reply) MarshalText() ([]byte, error) { return []byte(r.String()), nil }

// IsZero reports whether the reply is unset.
func (r Reply) IsZero() bool { return r.Code == 0 }

// String returns the reply in the form the configuration writes it:
// "550 5.1.1 User unknown", its lines separated by "\n" when it has
// several. Lines (or SMTP) give the form sent.
func (r Reply) String() string {
	if r.Code == 0 {
		return ""
	}
	return r.prefix() + r.Text
}

// prefix is what starts each line of the reply: "550 5.1.1 ".
func (r Reply) prefix() string {
	if r.Enhanced == "" {
		return strconv.Itoa(r.Code) + " "
	}
	return strconv.Itoa(r.Code) + " " + r.Enhanced + " "
}

// Lines returns the reply's lines as the SMTP client receives them, each
// with the code and enhanced code, the code followed by "-" on every line
// but the last (RFC 5321 §4.2.1): "550-5.7.1 first", "550 5.7.1 last".
func (r Reply) Lines() []string {
	if r.Code == 0 {
		return nil
	}
	text := strings.Split(r.Text, "\n")
	out := make([]string, len(text))
	for i, t := range text {
		p := r.prefix()
		if i < len(text)-1 {
			p = p[:3] + "-" + p[4:]
		}
		out[i] = p + t
	}
	return out
}

// SMTP returns the reply as sent: its Lines joined by CRLF, the form a
// milter's SMFIR_REPLYCODE carries for a multi-line reply.
func (r Reply) SMTP() string { return strings.Join(r.Lines(), "\r\n") }

// MaxReplyLine is the longest reply line an SMTP client may be sent,
// without its CRLF: RFC 5321 section 4.5.3.1.5 allows 512 octets with it.
const MaxReplyLine = 510

// maxReplyName and maxReplyReason bound a file name and a reason in a
// reply, so that the text around them still fits the line.
const (
	maxReplyName   = 80
	maxReplyReason = 160
)

// Expand returns a copy of the reply with {name} placeholders in its text
// replaced from vars. Unknown placeholders are left as they are (-check
// refuses them). Values are made one line of ASCII (see sanitize); the
// "policy_url" value, when not empty and not placed in the text with
// {policy_url}, is added as a line of its own: "See URL". Each line is cut
// to MaxReplyLine bytes as the SMTP client receives it, code included:
// the doubling of "%" for Postfix comes after, and Postfix undoes it.
func (r Reply) Expand(vars map[string]string) Reply {
	if r.IsZero() {
		return r
	}
	if u := vars["policy_url"]; u != "" && !strings.Contains(r.Text, "{policy_url}") {
		r.Text += "\nSee {policy_url}"
	}
	if len(vars) > 0 && strings.Contains(r.Text, "{") {
		pairs := make([]string, 0, 2*len(vars))
		for k, v := range vars {
			pairs = append(pairs, "{"+k+"}", sanitize(v))
		}
		r.Text = strings.NewReplacer(pairs...).Replace(r.Text)
	}
	room := MaxReplyLine - len(r.prefix())
	if len(r.Text) <= room {
		return r
	}
	lines := strings.Split(r.Text, "\n")
	for i, l := range lines {
		if len(l) > room {
			cut := room
			for cut > 0 && !utf8.RuneStart(l[cut]) {
				cut--
			}
			lines[i] = l[:cut]
		}
	}
	r.Text = strings.Join(lines, "\n")
	return r
}

// sanitize makes a value fit for one line of SMTP reply text, which is
// ASCII (RFC 5321 §4.2; Postfix sends other bytes as spaces): control
// characters become spaces, every other character outside printable ASCII
// (and each invalid byte) a "?".
func sanitize(s string) string {
	return strings.Map(func(r rune) rune {
		switch {
		case r < 0x20 || r == 0x7f:
			return ' '
		case r > 0x7e:
			return '?'
		}
		return r
	}, s)
}

// replyName is a file name as a reply may name it: made ASCII by
// sanitize (請求書.exe is "???.exe": the extension, which is what a
// refusal is about, stays readable), and a long one shortened in its
// middle, its extension kept.
func replyName(name string) string {
	name = sanitize(name)
	if len(name) <= maxReplyName {
		return name
	}
	ext := ""
	if i := strings.LastIndexByte(name, '.'); i >= 0 && len(name)-i <= 16 {
		ext = name[i:]
	}
	return name[:maxReplyName-3-len(ext)] + "..." + ext
}

// replyReason is a reason as a reply may give it: one line of ASCII,
// shortened to maxReplyReason bytes.
func replyReason(reason string) string {
	reason = strings.TrimSpace(sanitize(reason))
	if len(reason) > maxReplyReason {
		reason = reason[:maxReplyReason-3] + "..."
	}
	return reason
}

// Verdict is a decision about a mail: an action and, for reject and tempfail,
// the SMTP reply.
type Verdict struct {
	Rule   string // the rule that decided; "" for Continue
	Stage  Stage
	Action Action
	Reply  Reply
	Reason string // detail for the log, never sent to the client
	DryRun bool   // computed and logged, but the mail is accepted

	later Stage // the stage it is given at, when after Stage (Hit.ReplyAt)
}

// String returns the reply for reject and tempfail ("550 5.1.1 User unknown"),
// the action name otherwise.
func (v Verdict) String() string {
	if (v.Action == Reject || v.Action == Tempfail) && !v.Reply.IsZero() {
		return v.Reply.String()
	}
	return v.Action.String()
}

// Header returns the value of the X-Sekisho header that records this verdict,
// e.g. `would-reject rule=send_only reply="550 5.1.1 User unknown"`.
func (v Verdict) Header() string {
	var b strings.Builder
	if v.DryRun {
		b.WriteString("would-")
	}
	b.WriteString(v.Action.String())
	b.WriteString(" rule=")
	b.WriteString(v.Rule)
	if (v.Action == Reject || v.Action == Tempfail) && !v.Reply.IsZero() {
		b.WriteString(" reply=")
		b.WriteString(strconv.Quote(v.Reply.String()))
	}
	if v.Reason != "" {
		b.WriteString(" reason=")
		b.WriteString(strconv.QuoteToASCII(v.Reason))
	}
	return b.String()
}
