package mime

import (
	"errors"
	"fmt"
	"io"
	"sync"
)

// Stream inspects a message as it is written, piece by piece, the way the
// MTA passes it on, in a goroutine of its own: the inspection is done when
// the last piece is in, and nothing of the message is kept but what
// Inspect keeps (archives). Writes block while the inspection is behind by
// more than a few pieces.
type Stream struct {
	ch    chan []byte
	stop  chan struct{}
	done  chan struct{}
	once  sync.Once
	ended bool // Close or Abort ran
	res   *Result
	err   error
}

// streamQueue is how many written pieces may wait for the inspection.
const streamQueue = 4

// errAborted ends the inspection of an aborted Stream.
var errAborted = errors.New("inspection aborted")

// NewStream starts the inspection of one message with the given limits;
// scan, when not nil, is handed its parts (see InspectScanning).
func NewStream(lim Limits, scan Scanner) *Stream {
	return NewStreamWithPasswords(lim, scan, nil)
}

// NewStreamWithPasswords is NewStream that tries password candidates on
// encrypted archive entries, as InspectWithPasswords does; decrypted
// entries are handed to scan too (PartInfo.Decrypted).
func NewStreamWithPasswords(lim Limits, scan Scanner, passwords [][]byte) *Stream {
	s := &Stream{ch: make(chan []byte, streamQueue), stop: make(chan struct{}), done: make(chan struct{})}
	go s.run(lim, scan, passwords)
	return s
}

func (s *Stream) run(lim Limits, scan Scanner, passwords [][]byte) {
	defer close(s.done)
	defer func() {
		// A bug in the inspection must not take the process down: it is
		// an error of this message, which its rules report.
		if p := recover(); p != nil {
			s.res, s.err = nil, fmt.Errorf("inspection failed: %v", p)
		}
	}()
	s.res, s.err = inspectMessage(&streamReader{s: s}, lim, scan, passwords, s.stop)
}

// Write hands p to the inspection. The Stream keeps p: the caller must not
// change it afterwards. Write never fails; once the inspection has stopped
// (a limit was reached), what follows is dropped.
func (s *Stream) Write(p []byte) (int, error) {
	if s.ended || len(p) == 0 {
		return len(p), nil
	}
	select {
	case s.ch <- p:
	case <-s.done:
	}
	return len(p), nil
}

// Close ends the message and returns the inspection's result.
func (s *Stream) Close() (*Result, error) {
	if !s.ended {
		s.ended = true
		close(s.ch)
	}
	<-s.done
	return s.res, s.err
}

// Abort stops the inspection without a result; it does not wait for the
// goroutine, which ends at once.
func (s *Stream) Abort() {
	s.ended = true
	s.once.Do(func() { close(s.stop) })
}

// streamReader reads the pieces written to a Stream.
type streamReader struct {
	s   *Stream
	cur []byte
}

func (r *streamReader) Read(p []byte) (int, error) {
	for len(r.cur) == 0 {
		select {
		case b, ok := <-r.s.ch:
			if !ok {
				return 0, io.EOF
			}
			r.cur = b
		case <-r.s.stop:
			return 0, errAborted
		}
	}
	n := copy(p, r.cur)
	r.cur = r.cur[n:]
	return n, nil
}
