package scan

import (
	"bytes"
	"context"
	"fmt"
	"io"
	"net/mail"
	"net/netip"
	"slices"
	"strings"
	"time"

	"github.com/sekisho/sekisho/policy"
	"github.com/sekisho/sekisho/policy/mime"
)

// Envelope is what the SMTP dialogue would have said about a message.
// Fields left empty are taken from the message's headers: the sender from
// Return-Path (else From), the recipients from Delivered-To (else To and
// Cc).
type Envelope struct {
	ClientIP netip.Addr // invalid: an unknown client, as on a local socket
	Helo     string
	Sender   string
	SenderOK bool // Sender is set, "" meaning the null sender
	Rcpts    []string
}

// Scanner runs messages through one engine.
type Scanner struct {
	Engine   *policy.Engine
	Envelope Envelope
	// NotRun are the rules left out because they need the network.
	NotRun []string
	// Count makes accepted messages count for the rules that count (rate
	// limits in memory); without it, nothing is counted.
	Count bool
	// Clock, when set, is moved to each message's Date before it is
	// judged, so that rate limits see a mailbox's own time.
	Clock *Clock
}

// Clock is a settable time source for policy.Env.Now.
type Clock struct{ t time.Time }

// Now returns the clock's time, the real time when unset.
func (c *Clock) Now() time.Time {
	if c.t.IsZero() {
		return time.Now()
	}
	return c.t
}

// Report is what scanning one message found.
type Report struct {
	Source     string       `json:"source"`
	Error      string       `json:"error,omitempty"` // the message could not be scanned
	Envelope   EnvelopeInfo `json:"envelope"`
	Policy     string       `json:"policy"`
	Exempt     string       `json:"exempt,omitempty"`
	Inspection *mime.Result `json:"inspection,omitempty"`
	Recipients []RcptResult `json:"recipients,omitempty"`
	Rules      []RuleResult `json:"rules"`
	Outcome    Outcome      `json:"outcome"`
	// With a second configuration (-compare): its outcome, and whether it
	// differs.
	Compare *Outcome `json:"compare,omitempty"`
	Differs bool     `json:"differs,omitempty"`
}

// EnvelopeInfo is the envelope a message was judged with.
type EnvelopeInfo struct {
	ClientIP string   `json:"client_ip,omitempty"`
	Helo     string   `json:"helo,omitempty"`
	Sender   string   `json:"sender"`
	Rcpts    []string `json:"rcpts"`
}

// RcptResult is the answer to one RCPT TO.
type RcptResult struct {
	Rcpt   string `json:"rcpt"`
	Action string `json:"action"` // continue when accepted
	Rule   string `json:"rule,omitempty"`
	Reply  string `json:"reply,omitempty"`
}

// RuleResult is what one rule found at one stage.
type RuleResult struct {
	Rule    string `json:"rule"`
	Stage   string `json:"stage,omitempty"`
	Rcpt    string `json:"rcpt,omitempty"`
	Found   bool   `json:"found"`
	Action  string `json:"action,omitempty"` // the verdict it gives, when found
	Reply   string `json:"reply,omitempty"`
	Reason  string `json:"reason,omitempty"`
	DryRun  bool   `json:"dry_run,omitempty"`
	Error   string `json:"error,omitempty"`
	Reached bool   `json:"reached"`           // the daemon runs it: no earlier verdict decided first
	Decided bool   `json:"decided,omitempty"` // its verdict decided the message
	NotRun  string `json:"not_run,omitempty"` // why it was not run at all
}

// Outcome is how the daemon would answer the message.
type Outcome struct {
	Action     string   `json:"action"` // accept, reject, tempfail, discard, quarantine
	Stage      string   `json:"stage"`
	Rule       string   `json:"rule,omitempty"`
	Reply      string   `json:"reply,omitempty"`
	Reason     string   `json:"reason,omitempty"`
	Headers    []string `json:"headers,omitempty"` // added to accepted mail
	Quarantine string   `json:"quarantine,omitempty"`
}

// Refused reports whether the message would not be delivered as it is:
// refused, dropped, or held.
func (o Outcome) Refused() bool { return o.Action != "accept" }

// Scan judges one message.
func (s *Scanner) Scan(ctx context.Context, it Item) Report {
	r := Report{Source: it.Source, Policy: policy.DefaultPolicy, Rules: []RuleResult{}}
	if it.Err != nil {
		r.Error = it.Err.Error()
		return r
	}
	raw := crlf(it.Raw)
	headers, body := splitHeader(raw)
	env := s.envelope(headers)
	r.Envelope = EnvelopeInfo{Helo: env.Helo, Sender: env.Sender, Rcpts: env.Rcpts}
	if env.ClientIP.IsValid() {
		r.Envelope.ClientIP = env.ClientIP.String()
	}
	if len(env.Rcpts) == 0 {
		r.Error = "no recipient: the message has no Delivered-To, To or Cc; give -rcpt"
		return r
	}
	if s.Clock != nil {
		s.Clock.t = time.Time{}
		if d, ok := header(headers, "Date"); ok {
			if t, err := mail.ParseDate(d); err == nil {
				s.Clock.t = t
			}
		}
	}

	e := s.Engine
	tx := policy.NewTransaction(func() *policy.Engine { return e })
	defer tx.Close()
	v, decided := s.dialogue(ctx, tx, raw, env, headers, body, &r)
	m := tx.Message()
	if !decided {
		o := tx.End(ctx, s.Count)
		r.Outcome = outcomeOf(o.Verdict, policy.StageEOB)
		for _, h := range o.Headers {
			r.Outcome.Headers = append(r.Outcome.Headers, h.Name+": "+h.Value)
		}
		r.Outcome.Quarantine = o.Quarantine
	} else {
		// The daemon stops here; what the later rules would find is
		// still shown, read from the whole message.
		m.Close()
		r.Outcome = outcomeOf(v, v.Stage)
	}
	m.Size = int64(len(raw))
	e.Explain(ctx, m, env.Rcpts)
	if m.Inspection == nil {
		e.Inspect(ctx, m)
	}
	r.Inspection = m.Inspection
	if in := m.Inspection; in != nil {
		// Shown as the log would show it: no password in clear.
		shown := *in
		shown.Subject = e.Redact(m, in.Subject)
		shown.Text.Sample = e.Redact(m, in.Text.Sample)
		r.Inspection = &shown
	}
	r.Policy = m.Policy()
	r.Exempt = m.Exempt()
	for _, f := range m.Findings() {
		rr := RuleResult{Rule: f.Rule, Stage: f.Stage.String(), Rcpt: f.Rcpt, Found: f.Matched, Error: f.Error, Reached: f.Reached}
		if f.Matched || f.Error != "" {
			rr.Action, rr.Reason, rr.DryRun = f.Verdict.Action.String(), f.Verdict.Reason, f.Verdict.DryRun
			if f.Verdict.Action == policy.Reject || f.Verdict.Action == policy.Tempfail {
				rr.Reply = shownReply(f.Verdict.Reply)
			}
		}
		if f.Matched && f.Reached && !f.Verdict.DryRun {
			rr.Decided = r.Outcome.Rule == f.Rule && r.Outcome.Stage == rr.Stage && r.Outcome.Action == rr.Action
			for _, rc := range r.Recipients {
				// At RCPT, a rule decides the answer to one recipient.
				rr.Decided = rr.Decided || (rc.Rcpt == f.Rcpt && rc.Rule == f.Rule && f.Verdict.Action.Final())
			}
		}
		r.Rules = append(r.Rules, rr)
	}
	// In the order the daemon asks: stage by stage, then as the rules ran.
	slices.SortStableFunc(r.Rules, func(a, b RuleResult) int { return stageIndex(a.Stage) - stageIndex(b.Stage) })
	for _, name := range s.NotRun {
		r.Rules = append(r.Rules, RuleResult{Rule: name, NotRun: "needs the network (-network)"})
	}
	return r
}

// dialogue runs the stages before end of body as the MTA drives them, and
// reports the verdict that decided the message, if one did.
func (s *Scanner) dialogue(ctx context.Context, tx *policy.Transaction, raw []byte, env Envelope, headers []policy.Header, body []byte, r *Report) (policy.Verdict, bool) {
	// Every rule's findings are kept for the report, and the raw message
	// is at hand for what the daemon would not have read.
	trace := func(m *policy.Message) {
		m.Trace()
		m.Raw = rawOpener(raw)
	}
	if v := tx.Connect(ctx, policy.Client{Addr: env.ClientIP}, trace); v.Action.Final() {
		return v, true
	}
	if v := tx.Helo(ctx, env.Helo); v.Action.Final() {
		return v, true
	}
	if v := tx.Mail(ctx, env.Sender, trace); v.Action.Final() {
		return v, true
	}
	var last policy.Verdict
	for _, rc := range env.Rcpts {
		v := tx.Rcpt(ctx, rc)
		m := tx.Message()
		res := RcptResult{Rcpt: m.Rcpt, Action: v.Action.String(), Rule: v.Rule}
		if v.Action == policy.Reject || v.Action == policy.Tempfail {
			res.Reply = shownReply(v.Reply)
		}
		r.Recipients = append(r.Recipients, res)
		if v.Action.Final() {
			last = v
			if v.Action == policy.Discard {
				return v, true
			}
		}
	}
	if len(tx.Message().Rcpts) == 0 {
		return last, true
	}
	// The MTA passes the headers on, then the body, as the milter does.
	for _, h := range headers {
		tx.Header(h.Name, h.Value)
	}
	if v := tx.EndOfHeaders(ctx); v.Action.Final() {
		return v, true
	}
	for len(body) > 0 {
		n := min(len(body), 64<<10)
		tx.Body(bytes.Clone(body[:n]))
		body = body[n:]
	}
	return policy.Verdict{}, false
}

func outcomeOf(v policy.Verdict, stage policy.Stage) Outcome {
	o := Outcome{Action: v.Action.String(), Stage: stage.String(), Rule: v.Rule, Reason: v.Reason}
	switch v.Action {
	case policy.Continue, policy.Tag, policy.Log:
		o.Action = "accept"
	case policy.Reject, policy.Tempfail:
		o.Reply = shownReply(v.Reply)
	}
	if o.Action == "accept" {
		o.Rule, o.Reason = "", ""
	}
	return o
}

// envelope fills in from the headers what the flags leave out.
func (s *Scanner) envelope(headers []policy.Header) Envelope {
	env := s.Envelope
	if !env.SenderOK {
		if rp, ok := header(headers, "Return-Path"); ok {
			env.Sender = policy.NormalizeAddress(rp)
		} else if from, ok := header(headers, "From"); ok {
			env.Sender = firstAddress(from)
		}
	}
	if len(env.Rcpts) == 0 {
		for _, h := range headers {
			if strings.EqualFold(h.Name, "Delivered-To") {
				env.Rcpts = append(env.Rcpts, policy.NormalizeAddress(h.Value))
			}
		}
	}
	if len(env.Rcpts) == 0 {
		for _, h := range headers {
			if strings.EqualFold(h.Name, "To") || strings.EqualFold(h.Name, "Cc") {
				env.Rcpts = append(env.Rcpts, addresses(h.Value)...)
			}
		}
	}
	env.Rcpts = slices.Compact(env.Rcpts)
	return env
}

// addresses returns the addresses of an address-list header value; a
// value that does not parse gives what looks like addresses in it.
func addresses(v string) []string {
	var out []string
	if list, err := mail.ParseAddressList(mime.Unfold(v)); err == nil {
		for _, a := range list {
			out = append(out, strings.ToLower(a.Address))
		}
		return out
	}
	for _, f := range strings.FieldsFunc(mime.Unfold(v), func(r rune) bool { return r == ',' || r == ' ' || r == '<' || r == '>' || r == ';' }) {
		if strings.Contains(f, "@") && !strings.ContainsAny(f, "\"()") {
			out = append(out, strings.ToLower(f))
		}
	}
	return out
}

func firstAddress(v string) string {
	if a := addresses(v); len(a) > 0 {
		return a[0]
	}
	return ""
}

func header(headers []policy.Header, name string) (string, bool) {
	for _, h := range headers {
		if strings.EqualFold(h.Name, name) {
			return mime.Unfold(h.Value), true
		}
	}
	return "", false
}

// shownReply is a reply as the SMTP client receives it, its lines joined
// by " / " so that a report line stays one line: "550-5.7.1 Attachment
// type not allowed: a.exe / 550 5.7.1 See https://…".
func shownReply(r policy.Reply) string { return strings.Join(r.Lines(), " / ") }

// crlf gives every line a CRLF ending, as the MTA passes a message on.
func crlf(raw []byte) []byte {
	if !bytes.Contains(raw, []byte("\n")) || bytes.Count(raw, []byte("\r\n")) == bytes.Count(raw, []byte("\n")) {
		return raw
	}
	var b bytes.Buffer
	b.Grow(len(raw) + len(raw)/40)
	for len(raw) > 0 {
		i := bytes.IndexByte(raw, '\n')
		if i < 0 {
			b.Write(raw)
			break
		}
		line := bytes.TrimSuffix(raw[:i], []byte("\r"))
		b.Write(line)
		b.WriteString("\r\n")
		raw = raw[i+1:]
	}
	return b.Bytes()
}

// splitHeader returns the header fields of a CRLF message, as the MTA
// passes them to a milter (name, and value after the colon and its
// spaces, folding kept), and the body.
func splitHeader(raw []byte) ([]policy.Header, []byte) {
	var out []policy.Header
	for at := 0; at < len(raw); {
		end, next := len(raw), len(raw)
		if i := bytes.Index(raw[at:], []byte("\r\n")); i >= 0 {
			end, next = at+i, at+i+2
		}
		line := raw[at:end]
		switch {
		case len(line) == 0:
			return out, raw[next:]
		case (line[0] == ' ' || line[0] == '\t') && len(out) > 0:
			out[len(out)-1].Value += "\r\n" + string(line)
		default:
			name, value, ok := bytes.Cut(line, []byte(":"))
			if !ok {
				// Not a field: the MTA would have ended the header here.
				return out, raw[at:]
			}
			out = append(out, policy.Header{Name: string(bytes.TrimRight(name, " \t")), Value: strings.TrimLeft(string(value), " \t")})
		}
		at = next
	}
	return out, nil
}

func rawOpener(raw []byte) func() (io.ReadCloser, error) {
	return func() (io.ReadCloser, error) { return io.NopCloser(bytes.NewReader(raw)), nil }
}

// String describes an outcome on one line.
func (o Outcome) String() string {
	s := o.Action
	if o.Reply != "" {
		s += " " + o.Reply
	}
	if o.Rule != "" {
		s += fmt.Sprintf(" (%s at %s", o.Rule, o.Stage)
		if o.Reason != "" {
			s += ": " + o.Reason
		}
		s += ")"
	}
	return s
}

func stageIndex(name string) int {
	for st := policy.StageConnect; st <= policy.StageEOB; st++ {
		if st.String() == name {
			return int(st)
		}
	}
	return int(policy.StageEOB) + 1
}
