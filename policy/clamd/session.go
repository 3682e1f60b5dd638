package clamd

import (
	"bufio"
	"context"
	"encoding/binary"
	"fmt"
	"io"
	"net"
	"strconv"
	"strings"
	"sync"
	"time"
)

// Session runs several INSTREAM scans on one connection (zIDSESSION …
// zEND): the parts of one message, each scanned on its own, at the cost of
// one dial. clamd answers each request with its number ("2: stream: OK");
// End sends zEND and reads every answer. A Session is used by one
// goroutine, except that Abort may be called from any.
type Session struct {
	c     *Client
	ctx   context.Context
	conn  net.Conn
	stop  func() bool
	sent  int   // INSTREAM requests sent
	err   error // first failure; every later call returns it
	buf   []byte
	mu    sync.Mutex // guards ended and deadline changes
	ended bool
}

// NewSession dials clamd and starts a session. The context bounds it all.
func (c *Client) NewSession(ctx context.Context) (*Session, error) {
	conn, err := c.dial(ctx)
	if err != nil {
		return nil, err
	}
	s := &Session{c: c, ctx: ctx, conn: conn, buf: make([]byte, 4, 4+chunkSize)}
	s.stop = context.AfterFunc(ctx, func() { s.Abort() })
	if err := s.send([]byte("zIDSESSION\x00")); err != nil {
		s.Abort()
		return nil, fmt.Errorf("clamd: idsession: %w", withCtx(ctx, err))
	}
	return s, nil
}

// Scan starts the next INSTREAM scan of the session; write the content to
// the returned writer and close it. Only one scan is open at a time.
func (s *Session) Scan() (io.WriteCloser, error) {
	if s.err != nil {
		return nil, s.err
	}
	if err := s.send([]byte("zINSTREAM\x00")); err != nil {
		s.err = fmt.Errorf("clamd: instream: %w", withCtx(s.ctx, err))
		return nil, s.err
	}
	s.sent++
	return sessionScan{s}, nil
}

// sessionScan is the writer of one scan of a Session.
type sessionScan struct{ s *Session }

func (w sessionScan) Write(p []byte) (int, error) {
	s := w.s
	if s.err != nil {
		return 0, s.err
	}
	n := 0
	for len(p) > 0 {
		k := copy(s.buf[len(s.buf):cap(s.buf)], p)
		s.buf = s.buf[:len(s.buf)+k]
		p, n = p[k:], n+k
		if len(s.buf) == cap(s.buf) {
			if err := s.flush(false); err != nil {
				return n - k, err
			}
		}
	}
	return n, nil
}

// Close ends the scan: the zero-length chunk.
func (w sessionScan) Close() error {
	if w.s.err != nil {
		return w.s.err
	}
	return w.s.flush(true)
}

func (s *Session) flush(last bool) error {
	out := s.buf
	if n := len(out) - 4; n > 0 {
		binary.BigEndian.PutUint32(out[:4], uint32(n))
	} else {
		out = out[4:]
	}
	if last {
		out = append(out, 0, 0, 0, 0)
	}
	err := s.send(out)
	s.buf = s.buf[:4]
	if err != nil {
		s.err = s.failure(err)
	}
	return s.err
}

// failure turns a failed write into the error to report: clamd closes a
// session after an error such as its size limit, and its answer says why.
func (s *Session) failure(werr error) error {
	werr = withCtx(s.ctx, werr)
	if isTimeout(werr) {
		return fmt.Errorf("clamd: write: %w", werr)
	}
	s.mu.Lock()
	if !s.ended {
		s.conn.SetReadDeadline(time.Now().Add(replyGrace))
	}
	s.mu.Unlock()
	raw, err := readReply(s.conn)
	if err != nil && raw == "" {
		return fmt.Errorf("clamd: write: %w", werr)
	}
	if _, reply, ok := strings.Cut(raw, ": "); ok {
		if _, perr := parseReply(reply); perr != nil {
			return perr
		}
	}
	return fmt.Errorf("clamd: write: %w (reply %q)", werr, raw)
}

// End ends the session and returns the verdicts of its scans, in the order
// they were started. A scan clamd answered with an error (such as its size
// limit) makes End fail; so does a connection that closes before every
// scan is answered.
func (s *Session) End() ([]Result, error) {
	defer func() {
		s.stop()
		s.Abort()
	}()
	if s.err != nil {
		return nil, s.err
	}
	start := time.Now()
	// A session clamd ended early (its size limit) refuses zEND; what it
	// answered before says why.
	sendErr := s.send([]byte("zEND\x00"))
	if sendErr != nil {
		s.mu.Lock()
		s.conn.SetReadDeadline(time.Now().Add(replyGrace))
		s.mu.Unlock()
	}
	out := make([]Result, s.sent)
	got := make([]bool, s.sent)
	br := bufio.NewReader(s.conn)
	for n := 0; n < s.sent; n++ {
		raw, err := br.ReadString(0)
		if err != nil {
			if sendErr != nil {
				return nil, fmt.Errorf("clamd: end: %w", withCtx(s.ctx, sendErr))
			}
			return nil, fmt.Errorf("clamd: read reply %d of %d: %w", n+1, s.sent, withCtx(s.ctx, err))
		}
		id, reply, ok := strings.Cut(strings.TrimSuffix(raw, "\x00"), ": ")
		i, err := strconv.Atoi(id)
		if !ok || err != nil || i < 1 || i > s.sent || got[i-1] {
			return nil, fmt.Errorf("%w: session reply %q", ErrProtocol, raw)
		}
		got[i-1] = true
		if out[i-1], err = parseReply(reply); err != nil {
			return nil, err
		}
	}
	if sendErr != nil {
		return nil, fmt.Errorf("clamd: end: %w", withCtx(s.ctx, sendErr))
	}
	// clamd scans each part as it ends; what is left to wait for at the
	// end is the time the message's scan adds.
	s.c.Metrics.ClamdScan(time.Since(start))
	return out, nil
}

// Abort closes the connection; pending and later calls fail.
func (s *Session) Abort() {
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.ended {
		return
	}
	s.ended = true
	s.conn.Close()
}

// send writes b under a fresh deadline.
func (s *Session) send(b []byte) error {
	s.mu.Lock()
	if s.ended {
		s.mu.Unlock()
		return net.ErrClosed
	}
	err := s.conn.SetDeadline(s.c.deadline(s.ctx))
	s.mu.Unlock()
	if err != nil {
		return err
	}
	_, err = s.conn.Write(b)
	return err
}
