package policy

import "context"

// stream is the scan of one message by one Streamer rule.
type stream struct {
	sink StreamSink // nil when err is set
	err  error      // why the stream could not be opened or written
}

// OpenStreams starts the scans of the rules that read the raw message. It
// is called before the first header is passed on; an exempt message or a
// message already decided opens none.
func (e *Engine) OpenStreams(ctx context.Context, m *Message) {
	if m.state.exempt != "" || m.state.sticky != nil || m.state.opened {
		return
	}
	m.state.opened = true
	m.state.streams = make([]*stream, e.streams)
	for _, r := range e.rules {
		s, ok := r.Rule.(Streamer)
		if !ok {
			continue
		}
		sink, err := s.OpenStream(ctx, m)
		st := &stream{sink: sink, err: err}
		if err != nil {
			st.sink = nil
		}
		m.state.streams[r.stream] = st
	}
}

// Feed passes raw message bytes to the open streams. A stream that fails
// keeps its error for its rule to report at end of body.
func (e *Engine) Feed(m *Message, p []byte) {
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
	for _, s := range m.state.streams {
		if s != nil && s.sink != nil {
			s.sink.Abort()
		}
	}
	m.state.streams = nil
	m.state.opened = false
}
