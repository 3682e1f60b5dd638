package milter

import (
	"context"
	"fmt"
	"net"
	"net/netip"
	"net/textproto"
	"runtime/debug"
	"strings"
	"time"

	gomilter "github.com/emersion/go-milter"

	"github.com/sekisho/sekisho/policy"
)

// connState is what sekisho keeps for one MTA connection. go-milter makes a
// new backend after every accept, discard, reject or tempfail response; all
// of them share this state, so nothing is lost with the backend.
type connState struct {
	srv *Server
	tx  *policy.Transaction // the dialogue, as the engine judges it

	// For the count of messages by outcome (see note).
	counted bool          // the current message's outcome is counted
	refused policy.Action // the strongest refusal of a recipient so far: Continue, Reject or Tempfail

	// held is the answer to a failure at a header field or a body chunk,
	// given at the end of the headers or of the message (see hold).
	held gomilter.Response
}

func newConnState(s *Server) *connState {
	return &connState{srv: s, tx: policy.NewTransaction(s.engine.Load)}
}

// msg is the message under way.
func (st *connState) msg() *policy.Message { return st.tx.Message() }

// close releases what the current message holds: its inspection and scan
// streams.
func (st *connState) close() {
	st.tx.Close()
}

// endMessage ends the current message: the connection closes, or another
// begins. A message whose every recipient was refused is counted here.
func (st *connState) endMessage() {
	if !st.counted && st.refused != policy.Continue && len(st.msg().Rcpts) == 0 {
		st.count(st.refused.String())
	}
	st.counted, st.refused, st.held = false, policy.Continue, nil
	st.close()
}

// note records, for the count of messages by outcome, the answer given
// at a stage. A message is a mail transaction: it begins at MAIL, so a
// refusal at connect or HELO is not one (the decisions count those). It
// is counted once, when its outcome is final: at end of message, whatever
// the outcome (an accepted message is "quarantine" when held, "accept"
// otherwise); at MAIL or end of headers when refused or discarded there;
// at RCPT when discarded there (the whole message goes). A recipient
// refused at RCPT leaves the others the message: when no recipient was
// accepted, the message is counted when it ends (the client gives up,
// resets, or starts another), as "tempfail" if any recipient was refused
// for now, since the client tries that one again, and as "reject"
// otherwise. A message the MTA aborts, or whose recipients it refused
// itself, had no outcome here and is not counted.
func (st *connState) note(stage policy.Stage, a policy.Action) {
	if st.srv.metrics == nil || st.counted || stage < policy.StageMail {
		return
	}
	switch {
	case stage == policy.StageEOB:
		switch a {
		case policy.Reject, policy.Tempfail, policy.Discard, policy.Quarantine:
			st.count(a.String())
		default:
			st.count("accept")
		}
	case a == policy.Discard:
		st.count(a.String())
	case stage == policy.StageRcpt:
		if a == policy.Tempfail || (a == policy.Reject && st.refused == policy.Continue) {
			st.refused = a
		}
	case a == policy.Reject || a == policy.Tempfail:
		st.count(a.String())
	}
}

func (st *connState) count(outcome string) {
	st.counted = true
	st.srv.metrics.Message(outcome)
}

// clock starts timing the policy's work at a stage; with metrics off it
// reads no clock.
func (st *connState) clock() time.Time {
	if st.srv.metrics == nil {
		return time.Time{}
	}
	return time.Now()
}

// observe records the time since start for stage.
func (st *connState) observe(stage policy.Stage, start time.Time) {
	if st.srv.metrics != nil {
		st.srv.metrics.StageSeconds(stage.String(), time.Since(start))
	}
}

// resetMessage ends the current message and starts a new one with the
// engine current now. The client is kept.
func (st *connState) resetMessage() {
	st.endMessage()
	st.tx.Reset()
}

// clientIP returns the SMTP client's address for log lines, "" while
// unknown.
func (st *connState) clientIP() string {
	if a := st.msg().Client.Addr; a.IsValid() {
		return a.String()
	}
	return ""
}

// takeMacros copies what sekisho uses from a macro packet: each packet
// replaces the last, so nothing is read from them later.
func (st *connState) takeMacros(m map[string]string) { takeMacros(st.msg(), m) }

// takeMacros copies what sekisho uses from a macro packet into msg.
func takeMacros(msg *policy.Message, m map[string]string) {
	if v := m["{client_addr}"]; v != "" && !msg.Client.Addr.IsValid() {
		if a, err := parseClientAddr(v); err == nil {
			msg.Client.Addr = a
		}
	}
	if v := m["{client_name}"]; v != "" && msg.Client.Name == "" {
		msg.Client.Name = v
	}
	if v := m["{auth_authen}"]; v != "" {
		msg.Client.AuthUser = v
	}
	if v := m["i"]; v != "" {
		msg.QueueID = v
	}
}

// parseClientAddr parses {client_addr}: Postfix writes "IPv6:::1" at
// connect, HELO and MAIL but "::1" at end of message.
func parseClientAddr(s string) (netip.Addr, error) {
	s = strings.TrimPrefix(s, "IPv6:")
	s = strings.Trim(s, "[]")
	a, err := netip.ParseAddr(s)
	if err != nil {
		return netip.Addr{}, err
	}
	return a.Unmap(), nil
}

// backend is the go-milter callback handler; every backend of a connection
// works on the same connState.
type backend struct {
	st *connState
}

var _ gomilter.Milter = (*backend)(nil)

// guard turns a panic or an internal error in a callback into the
// configured on_error response, so that the daemon never goes down.
func (b *backend) guard(stage policy.Stage, f func() (gomilter.Response, error)) (resp gomilter.Response, err error) {
	defer func() {
		if p := recover(); p != nil {
			b.st.srv.log.Error("panic in milter callback", "stage", stage.String(), "panic", fmt.Sprint(p), "stack", string(debug.Stack()))
			resp, err = b.internalError(stage, fmt.Errorf("panic: %v", p)), nil
		}
	}()
	resp, err = f()
	if err != nil {
		b.st.srv.log.Error("milter callback failed", "stage", stage.String(), "queue_id", b.st.msg().QueueID, "error", err)
		return b.internalError(stage, err), nil
	}
	return resp, nil
}

// internalError answers a callback that failed with the engine's on_error
// outcome.
func (b *backend) internalError(stage policy.Stage, err error) gomilter.Response {
	v := b.st.tx.Engine().Failure(stage, b.st.msg(), err)
	b.st.note(stage, v.Action)
	switch {
	case v.Action == policy.Tempfail:
		return replyResponse(v.Reply)
	case stage == policy.StageEOB:
		return gomilter.RespAccept
	}
	return gomilter.RespContinue
}

func (b *backend) Connect(host, family string, port uint16, addr net.IP, m *gomilter.Modifier) (gomilter.Response, error) {
	return b.guard(policy.StageConnect, func() (gomilter.Response, error) {
		st := b.st
		st.endMessage()
		var c policy.Message
		c.Client.Name = host
		if a, ok := netip.AddrFromSlice(addr); ok && family != "unix" {
			c.Client.Addr = a.Unmap()
		}
		takeMacros(&c, m.Macros)
		start := st.clock()
		v := st.tx.Connect(context.Background(), c.Client)
		return b.answer(policy.StageConnect, start, v), nil
	})
}

func (b *backend) Helo(name string, m *gomilter.Modifier) (gomilter.Response, error) {
	return b.guard(policy.StageHelo, func() (gomilter.Response, error) {
		st := b.st
		st.takeMacros(m.Macros)
		start := st.clock()
		v := st.tx.Helo(context.Background(), name)
		return b.answer(policy.StageHelo, start, v), nil
	})
}

func (b *backend) MailFrom(from string, m *gomilter.Modifier) (gomilter.Response, error) {
	return b.guard(policy.StageMail, func() (gomilter.Response, error) {
		st := b.st
		st.endMessage()
		start := st.clock()
		v := st.tx.Mail(context.Background(), from, func(msg *policy.Message) { takeMacros(msg, m.Macros) })
		return b.answer(policy.StageMail, start, v), nil
	})
}

func (b *backend) RcptTo(rcpt string, m *gomilter.Modifier) (gomilter.Response, error) {
	return b.guard(policy.StageRcpt, func() (gomilter.Response, error) {
		st := b.st
		st.takeMacros(m.Macros)
		start := st.clock()
		v := st.tx.Rcpt(context.Background(), rcpt)
		return b.answer(policy.StageRcpt, start, v), nil
	})
}

// feedHeader and feedBody hand a header field and a body chunk to the
// transaction; tests replace them to make those fail.
var (
	feedHeader = (*policy.Transaction).Header
	feedBody   = (*policy.Transaction).Body
)

func (b *backend) Header(name, value string, m *gomilter.Modifier) (gomilter.Response, error) {
	return b.hold(policy.StageEOH, func() { feedHeader(b.st.tx, name, value) })
}

// hold runs f, the reading of a header field or a body chunk at stage, and
// continues: the MTA may have been told to expect no reply to those (see
// trackedConn.negotiate). The answer to a failure is kept for the end of
// the headers or of the message, and the rest of the message is not read.
func (b *backend) hold(stage policy.Stage, f func()) (gomilter.Response, error) {
	if b.st.held != nil {
		return gomilter.RespContinue, nil
	}
	resp, err := b.guard(stage, func() (gomilter.Response, error) {
		f()
		return gomilter.RespContinue, nil
	})
	if resp != gomilter.RespContinue {
		b.st.held = resp
	}
	return gomilter.RespContinue, err
}

// takeHeld returns the answer kept by hold, if any, and forgets it.
func (st *connState) takeHeld() gomilter.Response {
	r := st.held
	st.held = nil
	return r
}

func (b *backend) Headers(_ textproto.MIMEHeader, m *gomilter.Modifier) (gomilter.Response, error) {
	if r := b.st.takeHeld(); r != nil {
		return r, nil
	}
	return b.guard(policy.StageEOH, func() (gomilter.Response, error) {
		st := b.st
		st.takeMacros(m.Macros)
		start := st.clock()
		v := st.tx.EndOfHeaders(context.Background())
		return b.answer(policy.StageEOH, start, v), nil
	})
}

func (b *backend) BodyChunk(chunk []byte, _ *gomilter.Modifier) (gomilter.Response, error) {
	return b.hold(policy.StageEOB, func() { feedBody(b.st.tx, chunk) })
}

func (b *backend) Body(m *gomilter.Modifier) (gomilter.Response, error) {
	if r := b.st.takeHeld(); r != nil {
		return r, nil
	}
	return b.guard(policy.StageEOB, func() (gomilter.Response, error) {
		st := b.st
		st.takeMacros(m.Macros)
		start := st.clock()
		o := st.tx.End(context.Background(), true)
		st.observe(policy.StageEOB, start)
		return b.outcomeResponse(o, m)
	})
}

func (b *backend) Abort(_ *gomilter.Modifier) error {
	b.st.resetMessage()
	return nil
}

// answer times the policy's work at a stage the engine ran (connect and
// HELO are not run without a rule there) and answers the MTA.
func (b *backend) answer(stage policy.Stage, start time.Time, v policy.Verdict) gomilter.Response {
	if stage > policy.StageHelo || b.st.tx.Engine().Needs(stage) {
		b.st.observe(stage, start)
	}
	return b.verdictResponse(stage, v)
}

// verdictResponse turns the verdict given at stage (final, or Continue)
// into a milter response. Refusals are sent as 'y' replies with their own
// text.
func (b *backend) verdictResponse(stage policy.Stage, v policy.Verdict) gomilter.Response {
	b.st.note(stage, v.Action)
	switch v.Action {
	case policy.Reject, policy.Tempfail:
		return replyResponse(v.Reply)
	case policy.Discard:
		return gomilter.RespDiscard
	}
	return gomilter.RespContinue
}

// outcomeResponse carries out the engine's end-of-message outcome: a
// refusal, a discard, or acceptance with its headers and quarantine.
func (b *backend) outcomeResponse(o policy.Outcome, m *gomilter.Modifier) (gomilter.Response, error) {
	if !o.Accepted() {
		return b.verdictResponse(policy.StageEOB, o.Verdict), nil
	}
	if err := b.removeForged(m); err != nil {
		return nil, err
	}
	for _, h := range o.Headers {
		if err := m.AddHeader(h.Name, h.Value); err != nil {
			return nil, fmt.Errorf("add header: %w", err)
		}
	}
	outcome := policy.Continue
	if o.Quarantine != "" {
		if err := m.Quarantine(o.Quarantine); err != nil {
			return nil, fmt.Errorf("quarantine: %w", err)
		}
		outcome = policy.Quarantine
	}
	// Counted once the MTA has been told all: a failure above is the
	// on_error outcome instead.
	b.st.note(policy.StageEOB, outcome)
	return gomilter.RespAccept, nil
}

// removeForged deletes the fields of the message named like sekisho's own
// header (X-Sekisho): a sender could otherwise pass off its own verdict
// next to sekisho's. The MTA counts the fields of one name from 1; they
// are deleted last first (SMFIR_CHGHEADER with an empty value).
func (b *backend) removeForged(m *gomilter.Modifier) error {
	name := b.st.tx.Engine().Config().Header
	n := 0
	for _, h := range b.st.msg().Headers {
		if strings.EqualFold(h.Name, name) {
			n++
		}
	}
	for i := n; i >= 1; i-- {
		if err := m.ChangeHeader(i, name, ""); err != nil {
			return fmt.Errorf("remove header %s: %w", name, err)
		}
	}
	return nil
}

// replyResponse is a custom SMTP reply ('y'), its lines joined by CRLF
// for a multi-line reply, as Postfix and Sendmail read one. Postfix turns
// "%%" into "%" and drops a lone "%", so percent signs are doubled.
func replyResponse(r policy.Reply) gomilter.Response {
	text := strings.ReplaceAll(r.SMTP(), "%", "%%")
	return gomilter.NewResponseStr(byte(gomilter.ActReplyCode), text)
}
