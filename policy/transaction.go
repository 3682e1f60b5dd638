package policy

import (
	"context"
	"strings"
)

// Transaction is the SMTP dialogue of one connection as the engine judges
// it: the MTA's events in, in the order it sends them, and the verdicts
// out. The milter session and `sekisho scan` both drive one, so that the
// stage sequence, and what an MTA passes on at each stage, are written
// once; the milter keeps only the protocol.
//
// A Transaction is used by one goroutine. Its Message may be read and its
// fields the MTA reports (macros: queue id, authenticated user) set
// between calls.
type Transaction struct {
	engine  func() *Engine // the engine in force, pinned at each MAIL
	e       *Engine
	m       Message
	head    []byte // header lines not yet passed on: the block goes whole at its end
	content bool   // the streams are open and content has been passed on
}

// NewTransaction starts the dialogue of a connection; engine returns the
// engine in force (it changes on reload), which each message keeps from
// its MAIL on.
func NewTransaction(engine func() *Engine) *Transaction {
	return &Transaction{engine: engine, e: engine()}
}

// Engine returns the engine the current message is judged by.
func (t *Transaction) Engine() *Engine { return t.e }

// Message returns the message under way.
func (t *Transaction) Message() *Message { return &t.m }

// Connect begins the connection of client; the stage is run only when a
// rule decides there. Each of set is applied to the message first.
func (t *Transaction) Connect(ctx context.Context, client Client, set ...func(*Message)) Verdict {
	t.Close()
	t.m = Message{Client: client}
	t.content, t.head = false, nil
	t.e = t.engine()
	for _, f := range set {
		f(&t.m)
	}
	return t.run(ctx, StageConnect)
}

// Helo records the client's HELO name; the stage is run only when a rule
// decides there.
func (t *Transaction) Helo(ctx context.Context, name string) Verdict {
	t.m.Client.Helo = name
	return t.run(ctx, StageHelo)
}

func (t *Transaction) run(ctx context.Context, stage Stage) Verdict {
	if !t.e.Needs(stage) {
		return Verdict{Stage: stage}
	}
	return t.e.Run(ctx, stage, &t.m)
}

// Mail begins a message from sender: what the last one held is let go,
// and the message is judged by the engine in force now. Each of set is
// applied to the new message before its stage runs (what the MTA reports
// with MAIL: queue id, authenticated user).
func (t *Transaction) Mail(ctx context.Context, sender string, set ...func(*Message)) Verdict {
	t.Reset()
	t.m.Sender = NormalizeAddress(sender)
	for _, f := range set {
		f(&t.m)
	}
	return t.e.Run(ctx, StageMail, &t.m)
}

// Reset forgets the message under way, keeping the client, and pins the
// engine in force for the next one (MAIL, RSET, an aborted message).
func (t *Transaction) Reset() {
	t.m.Reset()
	t.content, t.head = false, nil
	t.e = t.engine()
}

// Rcpt decides one recipient; one that is not refused joins the message.
func (t *Transaction) Rcpt(ctx context.Context, rcpt string) Verdict {
	t.m.Rcpt = NormalizeAddress(rcpt)
	v := t.e.Run(ctx, StageRcpt, &t.m)
	if !v.Action.Final() {
		t.m.Rcpts = append(t.m.Rcpts, t.m.Rcpt)
	}
	return v
}

// Header takes one header field as the MTA passes it on. The fields are
// held until the end of the header: the kind of mail, which chooses the
// policy, and the streams are known only then, and the inspection takes
// the block in one piece.
func (t *Transaction) Header(name, value string) {
	t.m.Headers = append(t.m.Headers, Header{Name: name, Value: value})
	if t.head == nil {
		t.head = make([]byte, 0, 4096)
	}
	t.head = appendHeaderLine(t.head, name, value)
}

// appendHeaderLine appends a header field as the message has it, each line
// ending in CRLF (an MTA may hand over folded values with LF or CRLF).
func appendHeaderLine(b []byte, name, value string) []byte {
	b = append(b, name...)
	b = append(b, ": "...)
	if strings.IndexByte(value, '\n') < 0 {
		b = append(b, value...)
	} else {
		for i := 0; i < len(value); i++ {
			if value[i] == '\n' && (i == 0 || value[i-1] != '\r') {
				b = append(b, '\r')
			}
			b = append(b, value[i])
		}
	}
	return append(b, "\r\n"...)
}

// EndOfHeaders opens the streams, passes the header block on and runs the
// end-of-headers stage.
func (t *Transaction) EndOfHeaders(ctx context.Context) Verdict {
	t.start()
	t.head = append(t.head, "\r\n"...)
	t.flush()
	return t.e.Run(ctx, StageEOH, &t.m)
}

// start opens the streams once, before the first raw byte is passed on.
func (t *Transaction) start() {
	if !t.content {
		t.content = true
		t.e.OpenStreams(context.Background(), &t.m)
	}
}

// flush passes on the header lines held back.
func (t *Transaction) flush() {
	if len(t.head) > 0 {
		t.e.Feed(&t.m, t.head)
		t.head = nil
	}
}

// Body passes a piece of the body on to the inspection and the streams,
// which go on while the MTA sends the rest. It keeps nothing of p once it
// returns: the caller may read the next piece into the same buffer.
func (t *Transaction) Body(p []byte) {
	t.start()
	t.flush()
	t.e.Feed(&t.m, p)
}

// End judges the message once the MTA has passed it all on; count says
// whether the rules that count accepted mail count it (the daemon), or not
// (a tool that only shows the verdict).
func (t *Transaction) End(ctx context.Context, count bool) Outcome {
	t.start()
	t.flush()
	if count {
		return t.e.Finish(ctx, &t.m)
	}
	return t.e.Preview(ctx, &t.m)
}

// Close lets go of what the message under way holds (its inspection and
// streams), when it is aborted or the connection ends.
func (t *Transaction) Close() { t.m.Close() }
