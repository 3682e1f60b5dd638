// Package clamd is a small client for the ClamAV daemon (clamd).
//
// It speaks the z-prefixed, NUL-terminated commands zPING, zINSTREAM and
// zIDSESSION over a unix or TCP socket, and streams a message to clamd piece
// by piece as it arrives, so that a message never has to be held in memory
// to be scanned. Every network operation is bounded by the caller's context
// and by the client's Timeout.
//
// It does not decide what a detection means (reject, quarantine, ignore): it
// only reports clamd's verdict. It does not use file scanning by path (SCAN,
// CONTSCAN) or descriptor passing (FILDES), and it does not manage clamd's
// signature databases.
package clamd

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"io"
	"net"
	"os"
	"strings"
	"time"

	"github.com/sekisho/sekisho/policy/metrics"
)

// DefaultTimeout is the per-operation timeout Parse puts into a Client.
const DefaultTimeout = 30 * time.Second

// chunkSize is the largest INSTREAM chunk sent; small writes are gathered
// into chunks of this size so that clamd sees few, large chunks.
const chunkSize = 64 << 10

// maxReply bounds how much of a reply is read; clamd's replies are short.
const maxReply = 4096

// ErrSizeLimit reports that clamd refused the stream because it exceeded its
// StreamMaxLength setting.
var ErrSizeLimit = errors.New("INSTREAM size limit exceeded")

// ErrProtocol reports a reply clamd should never send: truncated, missing
// its NUL terminator, or not one of the documented forms.
var ErrProtocol = errors.New("clamd: protocol error")

// Client describes how to reach one clamd; its zero Timeout means that only
// the context bounds network operations.
type Client struct {
	Network string        // "unix" or "tcp"
	Address string        // socket path or host:port
	Timeout time.Duration // bound for each dial, write and read
	// Metrics records how long clamd takes to give each verdict; nil
	// records nothing.
	Metrics *metrics.Metrics
	// Health, when set, is told whether each connection could be made.
	Health *Health
}

// Result is clamd's verdict on one stream.
type Result struct {
	Infected bool   // clamd reported a detection
	Virus    string // signature name, e.g. "Eicar-Signature" or "Test.EICAR-HDB.UNOFFICIAL"
	Raw      string // the reply as received, without its NUL terminator
}

// Parse reads a clamd address in the form used by milter configurations:
// "unix:/run/clamav/clamd.ctl", "inet:127.0.0.1:3310" or "tcp:127.0.0.1:3310".
// The returned Client has DefaultTimeout.
func Parse(addr string) (*Client, error) {
	scheme, rest, ok := strings.Cut(addr, ":")
	if !ok || rest == "" {
		return nil, fmt.Errorf("clamd: address %q: want unix:PATH or inet:HOST:PORT", addr)
	}
	switch strings.ToLower(scheme) {
	case "unix", "local":
		return &Client{Network: "unix", Address: rest, Timeout: DefaultTimeout}, nil
	case "inet", "tcp":
		host, port, err := net.SplitHostPort(rest)
		if err != nil {
			return nil, fmt.Errorf("clamd: address %q: %w", addr, err)
		}
		if host == "" || port == "" {
			return nil, fmt.Errorf("clamd: address %q: host and port are required", addr)
		}
		return &Client{Network: "tcp", Address: rest, Timeout: DefaultTimeout}, nil
	default:
		return nil, fmt.Errorf("clamd: address %q: unknown scheme %q (want unix, inet or tcp)", addr, scheme)
	}
}

// String returns the address in the form Parse reads.
func (c *Client) String() string {
	if c.Network == "unix" {
		return "unix:" + c.Address
	}
	return "inet:" + c.Address
}

// deadline is the earlier of now+Timeout and the context's deadline; zero
// when neither applies.
func (c *Client) deadline(ctx context.Context) time.Time {
	var d time.Time
	if c.Timeout > 0 {
		d = time.Now().Add(c.Timeout)
	}
	if cd, ok := ctx.Deadline(); ok && (d.IsZero() || cd.Before(d)) {
		d = cd
	}
	return d
}

func (c *Client) dial(ctx context.Context) (net.Conn, error) {
	if err := ctx.Err(); err != nil {
		return nil, &dialError{addr: c.String(), err: err}
	}
	d := net.Dialer{Deadline: c.deadline(ctx)}
	conn, err := d.DialContext(ctx, c.Network, c.Address)
	if err != nil {
		err := &dialError{addr: c.String(), err: err}
		if ctx.Err() == nil {
			// A message given up by its MTA says nothing of clamd.
			c.Health.observe(c.String(), err)
		}
		return nil, err
	}
	c.Health.observe(c.String(), nil)
	return conn, nil
}

// dialError is a failure to reach clamd, told apart from the failures of
// a connection that was made (see Kind).
type dialError struct {
	addr string
	err  error
}

func (e *dialError) Error() string { return "clamd: dial " + e.addr + ": " + e.err.Error() }
func (e *dialError) Unwrap() error { return e.err }

// Kind classifies an error of this package for metrics and alerts:
// "connect" (clamd could not be reached, a dial that timed out included:
// what to fix is the same), "timeout" (no answer in time),
// "size_limit" (over clamd's StreamMaxLength), "protocol" (a reply clamd
// should never send), or "other" (clamd's own errors, a connection reset).
func Kind(err error) string {
	var de *dialError
	switch {
	case errors.As(err, &de):
		return "connect"
	case errors.Is(err, ErrSizeLimit):
		return "size_limit"
	case errors.Is(err, ErrProtocol):
		return "protocol"
	case isTimeout(err):
		return "timeout"
	}
	return "other"
}

// Ping sends zPING and expects PONG.
func (c *Client) Ping(ctx context.Context) error {
	conn, err := c.dial(ctx)
	if err != nil {
		return err
	}
	defer conn.Close()
	stop := context.AfterFunc(ctx, func() { conn.SetDeadline(time.Unix(1, 0)) })
	defer stop()
	if err := conn.SetDeadline(c.deadline(ctx)); err != nil {
		return fmt.Errorf("clamd: ping: %w", err)
	}
	if _, err := conn.Write([]byte("zPING\x00")); err != nil {
		return fmt.Errorf("clamd: ping: %w", withCtx(ctx, err))
	}
	raw, err := readReply(conn)
	if err != nil {
		return fmt.Errorf("clamd: ping: %w", withCtx(ctx, err))
	}
	if raw != "PONG" {
		return fmt.Errorf("%w: ping reply %q", ErrProtocol, raw)
	}
	return nil
}

// Version asks clamd for its version (zVERSION): "ClamAV 1.4.6/27480/Mon
// Dec  7 08:23:47 2026", the engine, the signature database's version and
// its date. The database version changes with every signature update.
func (c *Client) Version(ctx context.Context) (string, error) {
	conn, err := c.dial(ctx)
	if err != nil {
		return "", err
	}
	defer conn.Close()
	stop := context.AfterFunc(ctx, func() { conn.SetDeadline(time.Unix(1, 0)) })
	defer stop()
	if err := conn.SetDeadline(c.deadline(ctx)); err != nil {
		return "", fmt.Errorf("clamd: version: %w", err)
	}
	if _, err := conn.Write([]byte("zVERSION\x00")); err != nil {
		return "", fmt.Errorf("clamd: version: %w", withCtx(ctx, err))
	}
	raw, err := readReply(conn)
	if err != nil {
		return "", fmt.Errorf("clamd: version: %w", withCtx(ctx, err))
	}
	if _, ok := SignatureVersion(raw); !ok {
		return "", fmt.Errorf("%w: version reply %q", ErrProtocol, raw)
	}
	return raw, nil
}

// SignatureVersion returns the engine and database versions of a VERSION
// reply ("1.4.6/27480"); ok is false for a reply without a database
// version (clamd answers "ClamAV 1.4.6" alone while it has none loaded).
func SignatureVersion(reply string) (string, bool) {
	rest, ok := strings.CutPrefix(reply, "ClamAV ")
	if !ok {
		return "", false
	}
	parts := strings.SplitN(rest, "/", 3)
	if len(parts) < 3 || parts[0] == "" || parts[1] == "" || strings.Trim(parts[1], "0123456789") != "" {
		return "", false
	}
	return parts[0] + "/" + parts[1], true
}

// Scan streams r to clamd and returns its verdict.
func (c *Client) Scan(ctx context.Context, r io.Reader) (Result, error) {
	s, err := c.NewStream(ctx)
	if err != nil {
		return Result{}, err
	}
	if _, err := io.Copy(s, r); err != nil {
		if s.err != nil {
			return s.Close()
		}
		s.Abort()
		return Result{}, fmt.Errorf("clamd: scan: %w", err)
	}
	return s.Close()
}

// readReply reads one NUL-terminated reply. A connection closed before the
// NUL yields ErrProtocol when part of a reply arrived, io.ErrUnexpectedEOF
// when nothing did.
func readReply(conn net.Conn) (string, error) {
	buf := make([]byte, 0, 128)
	tmp := make([]byte, 512)
	for {
		n, err := conn.Read(tmp)
		buf = append(buf, tmp[:n]...)
		if i := bytes.IndexByte(buf, 0); i >= 0 {
			return string(buf[:i]), nil
		}
		if len(buf) > maxReply {
			return "", fmt.Errorf("%w: reply longer than %d bytes", ErrProtocol, maxReply)
		}
		if err == io.EOF {
			if len(buf) == 0 {
				return "", fmt.Errorf("connection closed without a reply: %w", io.ErrUnexpectedEOF)
			}
			return string(buf), fmt.Errorf("%w: reply %q closed before its NUL terminator", ErrProtocol, buf)
		}
		if err != nil {
			return string(buf), err
		}
	}
}

// parseReply reads an INSTREAM reply: "stream: OK", "stream: NAME FOUND",
// "INSTREAM size limit exceeded. ERROR" or "... ERROR".
func parseReply(raw string) (Result, error) {
	res := Result{Raw: raw}
	text := strings.TrimRight(raw, " \r\n\x00")
	if msg, ok := strings.CutSuffix(text, " ERROR"); ok {
		if strings.Contains(msg, "size limit exceeded") {
			return res, fmt.Errorf("clamd: %w", ErrSizeLimit)
		}
		return res, fmt.Errorf("clamd: %s", strings.TrimPrefix(msg, "stream: "))
	}
	body, ok := strings.CutPrefix(text, "stream: ")
	if !ok {
		return res, fmt.Errorf("%w: reply %q", ErrProtocol, raw)
	}
	if body == "OK" {
		return res, nil
	}
	if name, ok := strings.CutSuffix(body, " FOUND"); ok && strings.TrimSpace(name) != "" {
		res.Infected = true
		res.Virus = name
		return res, nil
	}
	return res, fmt.Errorf("%w: reply %q", ErrProtocol, raw)
}

// withCtx adds the context's error to a network error caused by the
// context's cancellation or deadline, so that errors.Is finds both.
func withCtx(ctx context.Context, err error) error {
	cerr := ctx.Err()
	if d, ok := ctx.Deadline(); ok && cerr == nil && errors.Is(err, os.ErrDeadlineExceeded) && !time.Now().Before(d) {
		cerr = context.DeadlineExceeded
	}
	if cerr != nil && !errors.Is(err, cerr) {
		return fmt.Errorf("%w (%w)", err, cerr)
	}
	return err
}

// isTimeout reports a deadline or cancellation, after which waiting for a
// reply is pointless.
func isTimeout(err error) bool {
	return errors.Is(err, os.ErrDeadlineExceeded) || errors.Is(err, context.Canceled) ||
		errors.Is(err, context.DeadlineExceeded)
}
