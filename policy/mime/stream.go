package mime

import (
	"errors"
	"fmt"
	"io"
	"iter"
)

// Stream inspects a message as it is written, piece by piece, the way the
// MTA passes it on: each Write runs the inspection over the piece, in a
// coroutine of its own (iter.Pull), until it has read all of it and asks
// for more, so that the inspection is done when the last piece is in, and
// nothing of the message is kept but what Inspect keeps (archives). The
// inspection and its writer take turns on one thread: handing a piece over
// costs a coroutine switch, not the scheduler's wake-ups of a goroutine
// fed through a channel, and under load the other connections keep the
// processors busy anyway. A Stream is used by one goroutine at a time.
type Stream struct {
	next    func() (struct{}, bool)
	stop    func()
	yield   func(struct{}) bool
	cur     []byte        // the piece being read
	eof     bool          // Close ran: no piece follows cur
	done    bool          // the inspection returned
	ended   bool          // Close or Abort ran
	aborted chan struct{} // closed by Abort
	res     *Result
	err     error
}

// errAborted ends the inspection of an aborted Stream.
var errAborted = errors.New("inspection aborted")

// NewStream starts the inspection of one message with the given limits;
// parts, when not nil, is handed its parts (see InspectWithParts).
func NewStream(lim Limits, parts PartSink) *Stream {
	return NewStreamWithPasswords(lim, parts, nil)
}

// NewStreamWithPasswords is NewStream that tries password candidates on
// encrypted archive entries, as InspectWithPasswords does; decrypted
// entries are handed to parts too (PartInfo.Decrypted).
func NewStreamWithPasswords(lim Limits, parts PartSink, passwords [][]byte) *Stream {
	return startStream(func(r io.Reader, abort <-chan struct{}) (*Result, error) {
		return inspectMessage(r, lim, parts, passwords, abort)
	})
}

// startStream runs inspect as the coroutine of a Stream: it reads what is
// written to the Stream, and its result is the Stream's.
func startStream(inspect func(r io.Reader, abort <-chan struct{}) (*Result, error)) *Stream {
	s := &Stream{aborted: make(chan struct{})}
	s.next, s.stop = iter.Pull(func(yield func(struct{}) bool) {
		s.yield = yield
		s.run(inspect)
	})
	return s
}

func (s *Stream) run(inspect func(r io.Reader, abort <-chan struct{}) (*Result, error)) {
	defer func() {
		// A bug in the inspection must not take the process down: it is
		// an error of this message, which its rules report.
		if p := recover(); p != nil {
			s.res, s.err = nil, fmt.Errorf("inspection failed: %v", p)
		}
	}()
	s.res, s.err = inspect(&streamReader{s: s}, s.aborted)
}

// Write hands p to the inspection and returns once the inspection has read
// all of it (or stopped: a limit was reached, after which what follows is
// dropped). The Stream does not keep p. Write never fails.
func (s *Stream) Write(p []byte) (int, error) {
	if s.ended || s.done || len(p) == 0 {
		return len(p), nil
	}
	s.cur = p
	if _, more := s.next(); !more {
		s.done = true
	}
	s.cur = nil
	return len(p), nil
}

// Close ends the message and returns the inspection's result.
func (s *Stream) Close() (*Result, error) {
	if !s.ended {
		s.ended, s.eof = true, true
		if !s.done {
			s.next() // the reader returns io.EOF: the inspection returns
			s.done = true
		}
	}
	return s.res, s.err
}

// Abort stops the inspection without a result: its reader fails, and the
// inspection returns before Abort does.
func (s *Stream) Abort() {
	if s.ended {
		return
	}
	s.ended = true
	close(s.aborted)
	s.stop()
	s.done = true
}

// streamReader reads the pieces written to a Stream: when one is read, it
// hands control back to the writer until the next.
type streamReader struct {
	s       *Stream
	stopped bool // yield returned false: Abort ran
}

func (r *streamReader) Read(p []byte) (int, error) {
	s := r.s
	for len(s.cur) == 0 {
		switch {
		case s.eof:
			return 0, io.EOF
		case r.stopped:
			return 0, errAborted
		case !s.yield(struct{}{}):
			r.stopped = true
			return 0, errAborted
		}
	}
	n := copy(p, s.cur)
	s.cur = s.cur[n:]
	return n, nil
}
