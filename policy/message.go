package policy

import (
	"io"
	"net/netip"
	"strings"

	"github.com/sekisho/sekisho/policy/mime"
)

// Client is the SMTP client of a connection.
type Client struct {
	Addr     netip.Addr // invalid for local (unix socket) clients
	Name     string     // reverse DNS name as the MTA saw it
	Helo     string
	AuthUser string // SASL login, "" when the client did not authenticate

	later *Verdict // decided at connect, given at a later stage (Hit.ReplyAt)
}

// Header is one message header field as the MTA passed it on.
type Header struct {
	Name  string
	Value string
}

// Message is what the engine knows of a mail at the current stage. The
// caller fills it in as the SMTP dialogue goes on; rules only read it.
type Message struct {
	Client  Client
	QueueID string
	Sender  string   // envelope sender, "" for the null sender
	Rcpts   []string // recipients accepted so far
	Rcpt    string   // the recipient being decided at StageRcpt
	Headers []Header // in order, at StageEOH and later

	// Inspection is the parsed body, made at StageEOB before the first rule
	// that needs it.
	Inspection *mime.Result
	// Raw opens the whole raw message (headers and body) at StageEOB, for
	// a message that was not passed on through Engine.Feed.
	Raw func() (io.ReadCloser, error)
	// Size is the raw message size in bytes, known at StageEOB; Feed
	// counts it.
	Size int64

	state messageState
}

// messageState is what the engine itself keeps per message.
type messageState struct {
	exempt      string   // why the message is exempt, "" if not
	sticky      *Verdict // a verdict that holds for every later stage
	quarantine  *Verdict // a quarantine decided before end of message
	annotations []Verdict
	streams     []*stream    // by boundRule.stream; nil until opened
	inspection  *mime.Stream // the inspection under way while the message is passed on
	opened      bool         // OpenStreams ran for this message
	set         *ruleSet     // the policy of the first accepted recipient
	judging     *ruleSet     // the policy of the recipient being decided at RCPT
	tracing     bool         // record what each rule finds (Trace)
	explaining  bool         // Explain is running rules the daemon would not
	findings    []Finding
	subject     decodedSubject // see subject
}

// HeaderValue returns the raw value of the first header called name
// (case-insensitive) and whether it was present.
func (m *Message) HeaderValue(name string) (string, bool) {
	for _, h := range m.Headers {
		if strings.EqualFold(h.Name, name) {
			return h.Value, true
		}
	}
	return "", false
}

// Annotations returns the verdicts that did not stop the mail but must be
// recorded in an X-Sekisho header: tags and dry runs.
func (m *Message) Annotations() []Verdict { return m.state.annotations }

// Reset forgets everything about the current message but the client: it is
// called at MAIL FROM.
func (m *Message) Reset() {
	m.closeStreams()
	*m = Message{Client: m.Client}
}

// Close releases what the message holds (open scan streams) when it is
// aborted or the connection ends.
func (m *Message) Close() { m.closeStreams() }
