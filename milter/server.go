// Package milter connects the policy engine to an MTA over the milter
// protocol (Postfix smtpd_milters, Sendmail INPUT_MAIL_FILTER), on top of
// github.com/emersion/go-milter.
//
// It keeps per-connection and per-message state, turns verdicts into milter
// responses and passes messages on to the engine as they arrive: nothing is
// spooled, the inspection and the scans run while the MTA sends the body.
// It makes no decisions itself: that
// is the policy package's job.
package milter

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"net"
	"sync"
	"sync/atomic"
	"time"

	gomilter "github.com/emersion/go-milter"

	"github.com/sekisho/sekisho/policy"
	"github.com/sekisho/sekisho/policy/metrics"
)

// Server serves milter connections with the current policy engine.
type Server struct {
	engine  atomic.Pointer[policy.Engine]
	log     *slog.Logger
	metrics *metrics.Metrics // nil when metrics are off

	mu     sync.Mutex
	lns    map[net.Listener]struct{}
	conns  map[*trackedConn]struct{}
	wg     sync.WaitGroup
	closed bool

	draining atomic.Bool // set by Shutdown: new transactions are refused
}

// NewServer returns a server that judges mail with e.
func NewServer(e *policy.Engine, log *slog.Logger) *Server {
	if log == nil {
		log = slog.Default()
	}
	s := &Server{log: log, lns: map[net.Listener]struct{}{}, conns: map[*trackedConn]struct{}{}}
	s.engine.Store(e)
	return s
}

// SetEngine swaps in a new engine (a reloaded configuration) and returns
// the old one. Messages already under way keep the engine they started
// with; new messages use e.
func (s *Server) SetEngine(e *policy.Engine) *policy.Engine {
	return s.engine.Swap(e)
}

// Engine returns the current engine.
func (s *Server) Engine() *policy.Engine { return s.engine.Load() }

// SetMetrics makes the server count its MTA connections, the outcome of
// each message and the time the policy takes at each stage. Call it
// before Serve.
func (s *Server) SetMetrics(m *metrics.Metrics) { s.metrics = m }

// ErrServerClosed is returned by Serve after Shutdown.
var ErrServerClosed = errors.New("milter: server closed")

// Serve accepts connections on ln until Shutdown. Each connection gets a
// go-milter server of its own, so that the protocol mask follows the
// configuration current when the MTA connected, and so that the state kept
// for the connection survives go-milter's backend resets.
func (s *Server) Serve(ln net.Listener) error {
	s.mu.Lock()
	if s.closed {
		s.mu.Unlock()
		return ErrServerClosed
	}
	s.lns[ln] = struct{}{}
	s.mu.Unlock()
	defer func() {
		s.mu.Lock()
		delete(s.lns, ln)
		s.mu.Unlock()
	}()
	var delay time.Duration
	for {
		c, err := ln.Accept()
		if err != nil {
			s.mu.Lock()
			closed := s.closed
			s.mu.Unlock()
			if closed {
				return ErrServerClosed
			}
			if errors.Is(err, net.ErrClosed) {
				return err
			}
			// Running out of file descriptors or an aborted handshake
			// passes: back off instead of taking the daemon down.
			delay = min(max(2*delay, 5*time.Millisecond), time.Second)
			s.log.Warn("accept failed; retrying", "error", err, "delay", delay.String())
			time.Sleep(delay)
			continue
		}
		delay = 0
		if !s.track(c) {
			c.Close()
			return ErrServerClosed
		}
	}
}

// track starts serving one connection.
func (s *Server) track(c net.Conn) bool {
	e := s.engine.Load()
	cfg := e.Config()
	tc := newTrackedConn(c, cfg.ReadTimeout.D(), cfg.WriteTimeout.D(), s.log)
	s.mu.Lock()
	if s.closed {
		s.mu.Unlock()
		return false
	}
	s.conns[tc] = struct{}{}
	s.wg.Add(1)
	s.mu.Unlock()
	s.metrics.SessionStart()

	st := newConnState(s)
	tc.client = st.clientIP
	tc.draining = s.draining.Load
	tc.refused = func() { s.metrics.Message("tempfail") }
	bodyChunk := &backend{st: st}
	tc.body = func(p []byte) error {
		// As go-milter would: an error ends the connection, and so does
		// a reply, which the MTA does not read here (see Write).
		resp, err := bodyChunk.BodyChunk(p, nil)
		if err == nil && resp != gomilter.RespContinue {
			err = fmt.Errorf("reply %q to a body chunk the MTA expects no reply to", resp.Response().Code)
		}
		return err
	}
	tc.onClose = func() {
		st.endMessage()
		s.metrics.SessionEnd()
		s.mu.Lock()
		delete(s.conns, tc)
		s.mu.Unlock()
		s.wg.Done()
	}
	ms := &gomilter.Server{
		NewMilter: func() gomilter.Milter { return &backend{st: st} },
		Actions:   gomilter.OptAddHeader | gomilter.OptChangeHeader | gomilter.OptQuarantine | gomilter.OptSetSymList,
		Protocol:  protocolMask(e),
		SymList:   symList,
	}
	go ms.Serve(&oneConnListener{c: tc})
	return true
}

// symList asks for the macros sekisho uses at every stage: once a symbol
// list is sent, Postfix sends no macros at a stage it does not name, and
// each macro packet replaces the previous one, so {client_addr} and i are
// asked for everywhere.
var symList = map[gomilter.Stage][]string{
	gomilter.StageConnect:  {"{client_addr}", "{client_name}", "j", "{daemon_name}"},
	gomilter.StageHelo:     {"{client_addr}"},
	gomilter.StageMailFrom: {"i", "{client_addr}", "{client_name}", "{auth_authen}", "{mail_addr}"},
	gomilter.StageRcptTo:   {"i", "{client_addr}", "{auth_authen}", "{rcpt_addr}"},
	gomilter.StageEOH:      {"i", "{client_addr}"},
	gomilter.StageEOM:      {"i", "{client_addr}"},
}

// protocolMask asks the MTA only for the events the engine's rules use.
// The envelope (MAIL, RCPT) is always asked for: exemptions, logs and the
// recipient-stage rules need it.
func protocolMask(e *policy.Engine) gomilter.OptProtocol {
	var p gomilter.OptProtocol
	if !e.Needs(policy.StageConnect) {
		p |= gomilter.OptNoConnect
	}
	if !e.Needs(policy.StageHelo) {
		p |= gomilter.OptNoHelo
	}
	// The header fields are always asked for: those named like sekisho's
	// own header are removed from every message (see removeForged).
	if !e.Needs(policy.StageEOH) && !e.Needs(policy.StageEOB) {
		p |= gomilter.OptNoEOH
	}
	if !e.Needs(policy.StageEOB) {
		p |= gomilter.OptNoBody
	}
	return p
}

// Shutdown stops accepting connections and waits for the open ones to end
// until ctx is done; then it closes them. Meanwhile a new transaction on
// an open connection is refused at MAIL with a 421 (see refuseMail), so
// that under steady traffic the wait ends as soon as the messages under
// way end: an MTA's connection can carry transactions for ever.
func (s *Server) Shutdown(ctx context.Context) error {
	s.draining.Store(true)
	s.mu.Lock()
	s.closed = true
	for ln := range s.lns {
		ln.Close()
	}
	s.mu.Unlock()
	done := make(chan struct{})
	go func() {
		s.wg.Wait()
		close(done)
	}()
	select {
	case <-done:
		return nil
	case <-ctx.Done():
		s.mu.Lock()
		for c := range s.conns {
			c.Conn.Close()
		}
		s.mu.Unlock()
		<-done
		return ctx.Err()
	}
}

func (c *trackedConn) Close() error {
	err := c.Conn.Close()
	c.once.Do(c.onClose)
	return err
}

// oneConnListener hands one connection to a go-milter server, then reports
// itself closed so that the server's accept loop ends.
type oneConnListener struct {
	mu sync.Mutex
	c  net.Conn
}

func (l *oneConnListener) Accept() (net.Conn, error) {
	l.mu.Lock()
	defer l.mu.Unlock()
	if l.c == nil {
		return nil, net.ErrClosed
	}
	c := l.c
	l.c = nil
	return c, nil
}

func (l *oneConnListener) Close() error   { return nil }
func (l *oneConnListener) Addr() net.Addr { return dummyAddr{} }

type dummyAddr struct{}

func (dummyAddr) Network() string { return "milter" }
func (dummyAddr) String() string  { return "milter" }
