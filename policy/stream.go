package policy

import (
	"context"

	"github.com/sekisho/sekisho/policy/mime"
)

// stream is the scan of one message by one rule that declares Stream.
type stream struct {
	sink StreamSink // nil when err is set
	err  error      // why the stream could not be opened or written
}

// OpenStreams starts the inspection of the message, when a rule judges it,
// and the scans of the rules that read the raw message, so that both go on
// while the MTA passes the rest of the message on. It is called once the
// header fields are in m.Headers, before the first raw byte is fed; it
// first chooses the policy by kind of mail, which the header tells. An
// exempt message or a message already decided opens none.
func (e *Engine) OpenStreams(ctx context.Context, m *Message) {
	if m.state.exempt != "" || m.state.sticky != nil || m.state.opened {
		return
	}
	m.state.opened = true
	e.choosePolicyByKind(ctx, m)
	set := e.setOf(m)
	m.state.streams = make([]*stream, set.streams)
	var scanners []mime.PartSink
	for _, r := range set.rules {
		s := r.streamer
		if s == nil {
			continue
		}
		sink, err := s.OpenStream(ctx, m)
		var sc mime.PartSink
		if err == nil {
			if sc, err = partsOf(r.needs, sink); err != nil {
				sink.Abort()
			}
		}
		st := &stream{sink: sink, err: err}
		if err != nil {
			st.sink = nil
		} else if sc != nil {
			scanners = append(scanners, sc)
		}
		m.state.streams[r.stream] = st
	}
	if set.inspects {
		// The inspection hands parts to one scanner: the first rule's
		// that takes them.
		var scan mime.PartSink
		if len(scanners) > 0 {
			scan = scanners[0]
		}
		lim, pws := e.limitsFor(ctx, set, m)
		m.state.inspection = mime.NewStreamWithPasswords(lim, scan, pws)
	}
}

// Feed passes raw message bytes to the inspection and the open streams,
// and counts them in m.Size. Nothing keeps p once Feed returns: the
// inspection has read it and the streams have copied it. A stream that
// fails keeps its error for its rule to report at end of body.
func (e *Engine) Feed(m *Message, p []byte) {
	m.Size += int64(len(p))
	if m.state.inspection != nil {
		m.state.inspection.Write(p)
	}
	for _, s := range m.state.streams {
		if s == nil || s.sink == nil {
			continue
		}
		if _, err := s.sink.Write(p); err != nil {
			s.sink.Abort()
			s.sink, s.err = nil, err
		}
	}
}

// limitsFor returns the inspection limits of m and the password candidates
// the rules of the policy have for it.
func (e *Engine) limitsFor(ctx context.Context, s *ruleSet, m *Message) (mime.Limits, [][]byte) {
	lim := e.limits
	var out [][]byte
	for _, r := range s.rules {
		if r.pairer != nil {
			pws, keep := r.pairer.pairState(ctx, m)
			out = append(out, pws...)
			lim.KeepText = max(lim.KeepText, keep)
		}
	}
	return lim, out
}

// takeStream hands the stream of rule index i over to its rule, nil when
// the message was not streamed.
func (m *Message) takeStream(i int) *stream {
	if i < 0 || i >= len(m.state.streams) {
		return nil
	}
	s := m.state.streams[i]
	m.state.streams[i] = nil
	return s
}

func (m *Message) closeStreams() {
	if m.state.inspection != nil {
		m.state.inspection.Abort()
		m.state.inspection = nil
	}
	for _, s := range m.state.streams {
		if s != nil && s.sink != nil {
			s.sink.Abort()
		}
	}
	m.state.streams = nil
	m.state.opened = false
}
