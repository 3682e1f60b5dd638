package clamd

import (
	"context"
	"encoding/binary"
	"errors"
	"fmt"
	"net"
	"sync"
	"sync/atomic"
	"time"
)

// replyGrace bounds the wait for clamd's reason after a write failed: a
// closing clamd has already sent it.
const replyGrace = time.Second

// Stream is one INSTREAM session. Writes are gathered into chunks of up to
// 64 KiB, each sent as a 4-byte big-endian length and the data; Close sends
// the zero-length chunk that ends the stream and reads the verdict. A Stream
// is used by one goroutine at a time, except that Abort may be called from
// any goroutine.
type Stream struct {
	c    *Client
	ctx  context.Context
	conn net.Conn
	stop func() bool // unregisters the context watcher
	buf  []byte      // 4 bytes reserved for the chunk length, then data
	err  error       // first failure; every later call returns it
	res  Result      // reply received with a failure, if any

	mu        sync.Mutex // guards cancelled and deadline changes
	cancelled bool
	closeOnce sync.Once
	closed    atomic.Bool
}

// NewStream dials clamd and sends zINSTREAM. The context bounds the whole
// session: once it is done, pending and later operations fail.
func (c *Client) NewStream(ctx context.Context) (*Stream, error) {
	conn, err := c.dial(ctx)
	if err != nil {
		return nil, err
	}
	s := &Stream{c: c, ctx: ctx, conn: conn, buf: make([]byte, 4, 4+chunkSize)}
	s.stop = context.AfterFunc(ctx, func() {
		s.mu.Lock()
		s.cancelled = true
		s.conn.SetDeadline(time.Unix(1, 0))
		s.mu.Unlock()
	})
	if err := s.send([]byte("zINSTREAM\x00")); err != nil {
		s.closeConn()
		return nil, fmt.Errorf("clamd: instream: %w", withCtx(ctx, err))
	}
	return s, nil
}

// Write queues p for clamd, sending every full chunk. When clamd closed the
// connection early, the error carries its reason: ErrSizeLimit when the
// stream exceeded clamd's StreamMaxLength.
func (s *Stream) Write(p []byte) (int, error) {
	if s.err != nil {
		return 0, s.err
	}
	if s.closed.Load() {
		return 0, fmt.Errorf("clamd: write: %w", net.ErrClosed)
	}
	n := 0
	for len(p) > 0 {
		k := copy(s.buf[len(s.buf):cap(s.buf)], p)
		s.buf = s.buf[:len(s.buf)+k]
		p = p[k:]
		n += k
		if len(s.buf) == cap(s.buf) {
			if err := s.flush(false); err != nil {
				return max(n-k, 0), err
			}
		}
	}
	return n, nil
}

// Close ends the stream and returns clamd's verdict. It always closes the
// connection. A reply of "... ERROR" is returned as an error (ErrSizeLimit
// for clamd's size limit) together with a Result holding the raw reply.
func (s *Stream) Close() (Result, error) {
	if s.closed.Load() {
		return s.res, fmt.Errorf("clamd: close: %w", net.ErrClosed)
	}
	defer s.closeConn()
	if s.err != nil {
		return s.res, s.err
	}
	start := time.Now()
	if err := s.flush(true); err != nil {
		return s.res, err
	}
	if err := s.setDeadline(); err != nil {
		return Result{}, fmt.Errorf("clamd: read reply: %w", err)
	}
	raw, err := readReply(s.conn)
	if err != nil {
		return Result{Raw: raw}, fmt.Errorf("clamd: read reply: %w", withCtx(s.ctx, err))
	}
	res, err := parseReply(raw)
	if err == nil {
		// clamd scans a stream once it has all of it: the wait for the
		// verdict is the scan.
		s.c.Metrics.ClamdScan(time.Since(start))
	}
	return res, err
}

// Abort closes the connection without waiting for a verdict, for a message
// the MTA aborted.
func (s *Stream) Abort() {
	s.closeConn()
}

func (s *Stream) closeConn() {
	s.closeOnce.Do(func() {
		s.closed.Store(true)
		s.stop()
		s.conn.Close()
	})
}

// flush sends the buffered data as one chunk, followed by the terminating
// zero-length chunk when last is set.
func (s *Stream) flush(last bool) error {
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

// failure turns a failed write into the error to report, reading clamd's
// reply when it may have sent one before closing the connection.
func (s *Stream) failure(werr error) error {
	werr = withCtx(s.ctx, werr)
	if isTimeout(werr) {
		return fmt.Errorf("clamd: write: %w", werr)
	}
	s.mu.Lock()
	if !s.cancelled {
		s.conn.SetReadDeadline(time.Now().Add(replyGrace))
	}
	s.mu.Unlock()
	raw, err := readReply(s.conn)
	if err != nil && raw == "" {
		return fmt.Errorf("clamd: write: %w", werr)
	}
	s.res = Result{Raw: raw}
	if _, perr := parseReply(raw); perr != nil {
		if errors.Is(perr, ErrSizeLimit) {
			return perr
		}
		return fmt.Errorf("clamd: write: %w (reply %q)", werr, raw)
	}
	return fmt.Errorf("clamd: write: %w (reply %q before the end of the stream)", werr, raw)
}

// send writes b under a fresh deadline.
func (s *Stream) send(b []byte) error {
	if err := s.setDeadline(); err != nil {
		return err
	}
	_, err := s.conn.Write(b)
	return err
}

// setDeadline arms the next operation's deadline unless the context is
// already done; the mutex keeps a cancellation from being overwritten.
func (s *Stream) setDeadline() error {
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.cancelled {
		return s.ctx.Err()
	}
	return s.conn.SetDeadline(s.c.deadline(s.ctx))
}
