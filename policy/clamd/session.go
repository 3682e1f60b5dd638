package clamd

import (
	"bufio"
	"context"
	"encoding/binary"
	"errors"
	"fmt"
	"io"
	"net"
	"strconv"
	"strings"
	"sync"
	"time"
)

// Session runs several INSTREAM scans on one connection (zIDSESSION): the
// parts of one message, each scanned on its own. clamd answers each
// request with its number ("2: stream: OK"); End reads every answer of
// the message and keeps the connection for the next one (see pool), whose
// requests clamd numbers on. A Session is used by one goroutine, except
// that Abort may be called from any.
type Session struct {
	c    *Client
	ctx  context.Context
	conn net.Conn
	stop func() bool
	base int    // requests sent on the connection for earlier messages
	sent int    // INSTREAM requests sent for this one
	cmds []byte // commands not sent yet: they go with the next chunk
	err  error  // first failure; every later call returns it
	// buf is room for the commands, the chunk's length, then its data.
	buf   []byte
	mu    sync.Mutex // guards ended and deadline changes
	ended bool
}

// cmdRoom is the room before a chunk for the commands sent with it.
const cmdRoom = len("zIDSESSION\x00zINSTREAM\x00")

// NewSession starts a session on a connection kept from an earlier
// message, or dials clamd for one. The context bounds it all.
func (c *Client) NewSession(ctx context.Context) (*Session, error) {
	if err := ctx.Err(); err != nil {
		return nil, &dialError{addr: c.String(), err: err}
	}
	s := &Session{c: c, ctx: ctx, buf: make([]byte, cmdRoom+4, cmdRoom+4+chunkSize+4)}
	if ic, ok := c.pool().get(); ok {
		s.conn, s.base = ic.conn, ic.sent
	} else {
		conn, err := c.dial(ctx)
		if err != nil {
			return nil, err
		}
		s.conn = conn
		s.cmds = append(s.cmds, "zIDSESSION\x00"...)
	}
	c.Metrics.ClamdSession(s.base > 0)
	s.stop = context.AfterFunc(ctx, func() { s.Abort() })
	return s, nil
}

// Scan starts the next INSTREAM scan of the session; write the content to
// the returned writer and close it. Only one scan is open at a time.
func (s *Session) Scan() (io.WriteCloser, error) {
	if s.err != nil {
		return nil, s.err
	}
	s.mu.Lock()
	ended := s.ended
	s.mu.Unlock()
	if ended {
		s.err = fmt.Errorf("clamd: instream: %w", withCtx(s.ctx, net.ErrClosed))
		return nil, s.err
	}
	s.cmds = append(s.cmds, "zINSTREAM\x00"...)
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
	full := cmdRoom + 4 + chunkSize
	n := 0
	for len(p) > 0 {
		k := copy(s.buf[len(s.buf):full], p)
		s.buf = s.buf[:len(s.buf)+k]
		p, n = p[k:], n+k
		if len(s.buf) == full {
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

// flush sends the commands waiting, the chunk gathered, and with last the
// zero-length chunk that ends the stream, in one write.
func (s *Session) flush(last bool) error {
	start := cmdRoom
	if n := len(s.buf) - cmdRoom - 4; n > 0 {
		binary.BigEndian.PutUint32(s.buf[cmdRoom:], uint32(n))
	} else {
		start += 4
	}
	start -= len(s.cmds)
	copy(s.buf[start:], s.cmds)
	out := s.buf[start:]
	if last {
		out = append(out, 0, 0, 0, 0)
	}
	err := s.send(out)
	s.cmds = s.cmds[:0]
	s.buf = s.buf[:cmdRoom+4]
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

// End reads the verdicts of the session's scans and returns them in the
// order the scans were started; the connection is then kept for the next
// message. A scan clamd answered with an error (such as its size limit)
// makes End fail; so does a connection that closes before every scan is
// answered. Either way, and on every other failure, the connection is
// closed.
func (s *Session) End() ([]Result, error) {
	keep := false
	defer func() {
		if !keep {
			s.stop()
			s.Abort()
		}
	}()
	if s.err != nil {
		return nil, s.err
	}
	if s.sent == 0 {
		return nil, nil
	}
	if len(s.cmds) > 0 {
		return nil, errors.New("clamd: a scan of the session was not ended")
	}
	start := time.Now()
	s.mu.Lock()
	if !s.ended {
		s.conn.SetReadDeadline(s.c.deadline(s.ctx))
	}
	s.mu.Unlock()
	out := make([]Result, s.sent)
	got := make([]bool, s.sent)
	br := bufio.NewReaderSize(quickReader{s.conn}, 512)
	for n := 0; n < s.sent; n++ {
		raw, err := br.ReadString(0)
		if err != nil {
			return nil, fmt.Errorf("clamd: read reply %d of %d: %w", n+1, s.sent, withCtx(s.ctx, err))
		}
		id, reply, ok := strings.Cut(strings.TrimSuffix(raw, "\x00"), ": ")
		i, err := strconv.Atoi(id)
		i -= s.base
		if !ok || err != nil || i < 1 || i > s.sent || got[i-1] {
			return nil, fmt.Errorf("%w: session reply %q", ErrProtocol, raw)
		}
		got[i-1] = true
		if out[i-1], err = parseReply(reply); err != nil {
			return nil, err
		}
	}
	// clamd scans each part as it ends; what is left to wait for at the
	// end is the time the message's scan adds.
	s.c.Metrics.ClamdScan(time.Since(start))
	// Kept only when clamd said nothing more and the context has not
	// already closed it.
	if br.Buffered() == 0 && s.stop() {
		s.mu.Lock()
		keep = !s.ended
		s.ended = true
		s.mu.Unlock()
		if keep {
			s.c.pool().put(s.conn, s.base+s.sent)
		}
	}
	return out, nil
}

// quickReader reads a session's verdicts, each acknowledged at once (see
// quickAck).
type quickReader struct{ conn net.Conn }

func (r quickReader) Read(p []byte) (int, error) {
	quickAck(r.conn)
	return r.conn.Read(p)
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
