package policy

import (
	"context"
	"io"
)

// Rule detects one kind of unwanted mail. A rule only detects: its
// configured action and reply turn a detection into a verdict.
type Rule interface {
	// Name is the rule's name in the configuration ("send_only").
	Name() string
	// Check looks at the message at one of the stages its table declares
	// (Needs.Stages), and only at those. An error means
	// "could not decide" and leads to the rule's on_error outcome.
	Check(ctx context.Context, stage Stage, m *Message) (Hit, error)
}

// Hit is what a rule found.
type Hit struct {
	Matched bool
	Reason  string            // for the log: `attachment "a.exe" (part 2) denied extension exe`
	Vars    map[string]string // placeholders for the reply text, e.g. {"virus": "Eicar"}
	// WholeMessage marks a recipient-stage hit that refuses the whole
	// message: every later recipient and the message itself get the same
	// verdict.
	WholeMessage bool
	// Action and Reply, when set, replace the rule's configured outcome for
	// this hit (an encrypted archive has an outcome of its own).
	Action Action
	Reply  Reply
	// ReplyAt, when after the stage the rule decided at, is when the
	// verdict is given: a DNSBL listing found at connect is answered at
	// each RCPT of the connection, where the sending MTA bounces with the
	// reply's text instead of retrying for days.
	ReplyAt Stage
}

// Streamer is a rule that reads the raw message as the MTA passes it on
// (headers, then body), such as a virus scanner: it serves Needs.Stream,
// which its table declares. The engine opens a stream per message before
// the first header, feeds it, and at end of body gives it back to the
// rule's CheckStream instead of calling Check; Check is left for a message
// that was not streamed (it reads Message.Raw). A rule that declares Parts
// returns a stream that is also a mime.PartSink.
type Streamer interface {
	Rule
	// OpenStream starts a scan of one message.
	OpenStream(ctx context.Context, m *Message) (StreamSink, error)
	// CheckStream judges the message from the stream OpenStream returned;
	// err, when not nil, says why the stream could not be opened or
	// written, and sink is then nil.
	CheckStream(ctx context.Context, m *Message, sink StreamSink, err error) (Hit, error)
}

// StreamSink receives the raw message of one Streamer.
type StreamSink interface {
	io.Writer
	// Abort ends the scan without a result.
	Abort()
}

// Committer is a rule that records mail once it is finally accepted, such
// as a rate limit that counts only delivered mail; Engine.Finish commits.
// It serves Needs.Commit, which its table declares.
type Committer interface {
	Rule
	Commit(ctx context.Context, m *Message) error
}
