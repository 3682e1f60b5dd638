package milter

import (
	"bufio"
	"encoding/binary"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"net"
	"os"
	"regexp"
	"sync"
	"sync/atomic"
	"time"
)

// readBuffer is the read buffer of a milter connection: go-milter reads
// each packet's 4-byte length and then its data straight from the
// connection, two system calls a packet; through the buffer, the small
// packets of a message (macros, envelope, header fields) come in one. It
// is small so that the bulk of a 64 KiB body packet is still read straight
// into go-milter's packet, not copied through the buffer.
const readBuffer = 4 << 10

// maxPacket is go-milter v0.5.0's largest packet; it refuses larger ones
// after reading their length.
const maxPacket = 1 << 20

// commands are the milter command codes go-milter v0.5.0 handles
// (SMFIC_*: abort, body, connect, macro, end of body, helo, quit-new-
// connection, header, mail, end of headers, option negotiation, quit, rcpt,
// data, unknown).
const commands = "ABCDEHKLMNOQRTU"

// The milter commands whose replies are left out when the MTA allows it,
// and the protocol flags (SMFIP_*) by which it does.
const (
	cmdOptNeg = 'O'     // SMFIC_OPTNEG
	cmdHeader = 'L'     // SMFIC_HEADER
	cmdBody   = 'B'     // SMFIC_BODY
	nrHeader  = 1 << 7  // SMFIP_NR_HDR: the milter does not reply to a header field
	nrBody    = 1 << 19 // SMFIP_NR_BODY: the milter does not reply to a body chunk
)

// continueReply is the reply go-milter gives to a header field and a body
// chunk (SMFIR_CONTINUE).
const continueReply = "\x00\x00\x00\x01c"

// connIDs numbers the connections, for the errors go-milter logs.
var connIDs atomic.Uint64

// trackedConn is a milter connection: buffered, with a deadline for each
// whole packet and for each write, checked for the packets go-milter
// cannot read, reporting its end. Its errors are logged here, with the MTA
// and the SMTP client, and name the connection so that go-milter's own
// line about them (see LibraryLog) is not logged twice.
type trackedConn struct {
	net.Conn
	id           uint64
	br           *bufio.Reader
	readTimeout  time.Duration // a packet, and the wait for it, must take no longer
	writeTimeout time.Duration
	left         int           // bytes of the current packet still to come
	cmd          byte          // the command of the packet being read, or last read
	offered      uint32        // the protocol flags the MTA offered (SMFIC_OPTNEG)
	answering    bool          // the answer to an SMFIC_OPTNEG is still to be written
	noReply      uint32        // nrHeader, nrBody: the replies the MTA was told not to expect
	client       func() string // the SMTP client's address, "" while unknown
	log          *slog.Logger
	once         sync.Once
	onClose      func()
	draining     func() bool // the server is shutting down: refuse new transactions
	refused      func()      // a transaction was refused for the shutdown

	// body reads a body chunk that needs no reply (see readBody); nil:
	// every chunk goes to go-milter. An error ends the connection.
	body func([]byte) error
}

func newTrackedConn(c net.Conn, readTimeout, writeTimeout time.Duration, log *slog.Logger) *trackedConn {
	return &trackedConn{Conn: c, id: connIDs.Add(1), br: bufio.NewReaderSize(c, readBuffer),
		readTimeout: readTimeout, writeTimeout: writeTimeout, client: func() string { return "" }, log: log}
}

// Read reads the packets go-milter asks for. When a packet starts, its
// deadline is set: its 4-byte length and all its data, and the wait for it,
// must arrive within the read timeout, so that a client sending a byte now
// and then cannot keep the session. A length or a command go-milter cannot
// handle ends the connection. Once the server drains, a MAIL command is
// answered here (see refuseMail) and never reaches go-milter.
func (c *trackedConn) Read(p []byte) (int, error) {
	for c.left == 0 {
		if c.readTimeout > 0 {
			c.Conn.SetReadDeadline(time.Now().Add(c.readTimeout))
		}
		hdr, err := c.br.Peek(5)
		if len(hdr) < 5 {
			if err == io.EOF && len(hdr) == 0 {
				return 0, io.EOF
			}
			return 0, c.fail("reading a packet", err)
		}
		n := binary.BigEndian.Uint32(hdr)
		c.cmd = hdr[4]
		switch {
		case n == 0 || n > maxPacket:
			return 0, c.fail("reading a packet", fmt.Errorf("packet length %d outside 1..%d", n, maxPacket))
		case !containsByte(commands, hdr[4]):
			return 0, c.fail("reading a packet", fmt.Errorf("unknown command %q", hdr[4]))
		case hdr[4] == cmdMail && c.draining != nil && c.draining():
			if err := c.refuseMail(4 + int(n)); err != nil {
				return 0, err
			}
			continue
		case hdr[4] == cmdBody && c.noReply&nrBody != 0 && c.body != nil:
			if err := c.readBody(int(n)); err != nil {
				return 0, err
			}
			continue
		}
		if c.cmd == cmdOptNeg {
			// version, actions, then the protocol flags the MTA offers
			c.offered, c.answering = 0, true
			if n >= 13 { // else Peek would wait for the next packet
				if b, _ := c.br.Peek(17); len(b) == 17 {
					c.offered = binary.BigEndian.Uint32(b[13:])
				}
			}
		}
		c.left = 4 + int(n)
	}
	n, err := c.br.Read(p[:min(len(p), c.left)])
	c.left -= n
	if err != nil {
		return n, c.fail("reading a packet", err)
	}
	return n, nil
}

// chunks holds the buffers body chunks are read into (see readBody): the
// MTA sends at most 64 KiB at a time.
var chunks = sync.Pool{New: func() any { b := make([]byte, 64<<10); return &b }}

// readBody reads a body packet of size bytes that the MTA expects no reply
// to and hands its chunk to c.body, where go-milter v0.5.0 would allocate
// (and zero) a packet for each and call the backend the same way: the
// chunk is read into a buffer used again for the next (policy's
// Transaction.Body keeps nothing of it).
func (c *trackedConn) readBody(size int) error {
	c.left = 4 + size
	if _, err := c.br.Discard(5); err != nil {
		return c.fail("reading a packet", err)
	}
	var chunk []byte
	if size-1 <= 64<<10 {
		bp := chunks.Get().(*[]byte)
		defer chunks.Put(bp)
		chunk = (*bp)[: size-1 : size-1]
	} else {
		chunk = make([]byte, size-1) // an MTA that sends more at once
	}
	if _, err := io.ReadFull(c.br, chunk); err != nil {
		return c.fail("reading a packet", err)
	}
	c.left = 0
	if err := c.body(chunk); err != nil {
		return c.fail("reading a body chunk", err)
	}
	return nil
}

// cmdMail is the milter command that starts a transaction (SMFIC_MAIL).
const cmdMail = 'M'

// drainReply is the answer to MAIL while the server drains: 421 makes
// Postfix and Sendmail tell the SMTP client to come back later and end
// its session, which closes the milter connection.
const drainReply = "421 4.3.2 Service shutting down, try again later"

// refuseMail skips a MAIL packet of size bytes and answers it with
// drainReply itself (SMFIR_REPLYCODE), so that no new transaction starts
// on a draining server: the drain ends when the messages under way end.
// go-milter is between packets and writes nothing meanwhile.
func (c *trackedConn) refuseMail(size int) error {
	if _, err := c.br.Discard(size); err != nil {
		return c.fail("reading a packet", err)
	}
	pkt := make([]byte, 0, 5+len(drainReply)+1)
	pkt = binary.BigEndian.AppendUint32(pkt, uint32(1+len(drainReply)+1))
	pkt = append(pkt, 'y')
	pkt = append(pkt, drainReply...)
	pkt = append(pkt, 0)
	if _, err := c.write(pkt); err != nil {
		return err
	}
	c.log.Info("new transaction refused: shutting down", "mta", c.RemoteAddr().String(), "client_ip", c.client(), "reply", drainReply)
	if c.refused != nil {
		c.refused()
	}
	return nil
}

// Write writes go-milter's replies, leaving out those the MTA was told not
// to expect (see negotiate).
func (c *trackedConn) Write(p []byte) (int, error) {
	switch {
	case c.cmd == cmdOptNeg && c.answering:
		// The first write of the answer: go-milter's buffered writer
		// hands over at least its first 4 KiB at once.
		c.answering = false
		q := c.negotiate(p)
		c.log.Debug("milter options negotiated", "mta", c.RemoteAddr().String(), "connection", c.id,
			"mta_protocol", fmt.Sprintf("%#x", c.offered), "no_reply", noReplyNames(c.noReply))
		if q != nil {
			if _, err := c.write(q); err != nil {
				return 0, err
			}
			return len(p), nil
		}
	case c.cmd == cmdHeader && c.noReply&nrHeader != 0, c.cmd == cmdBody && c.noReply&nrBody != 0:
		if string(p) != continueReply {
			// The backend answers a failure here at the end of the
			// headers or of the message (see backend.hold): a reply the
			// MTA would not read would be taken for the next one's.
			return 0, c.fail("writing a reply", fmt.Errorf("reply %q to a packet %q the MTA expects no reply to", p, c.cmd))
		}
		return len(p), nil
	}
	return c.write(p)
}

// negotiate returns go-milter's answer p to the MTA's option negotiation
// with the flags SMFIP_NR_HDR and SMFIP_NR_BODY added, if the MTA offered
// them, or nil to leave it as it is. go-milter v0.5.0 (milter protocol 2)
// answers every header field and body chunk, so that the MTA waits for
// each: with the flags the MTA sends the headers and the body without
// waiting, a round trip saved per header field and per 64 KiB, and the
// continue replies are dropped here. Postfix (milter8.c) and Sendmail
// (milter.c) honour the flags whatever the protocol version the milter
// gives, when they offered them; rspamd asks for them too.
func (c *trackedConn) negotiate(p []byte) []byte {
	c.noReply = 0
	want := c.offered & (nrHeader | nrBody)
	if len(p) < 17 || p[4] != cmdOptNeg || want == 0 {
		return nil
	}
	q := append([]byte(nil), p...)
	binary.BigEndian.PutUint32(q[13:], binary.BigEndian.Uint32(q[13:])|want)
	c.noReply = want
	return q
}

// noReplyNames names the replies left out, for the log.
func noReplyNames(nr uint32) string {
	switch nr {
	case nrHeader | nrBody:
		return "header,body"
	case nrHeader:
		return "header"
	case nrBody:
		return "body"
	}
	return "none"
}

func (c *trackedConn) write(p []byte) (int, error) {
	if c.writeTimeout > 0 {
		c.Conn.SetWriteDeadline(time.Now().Add(c.writeTimeout))
	}
	n, err := c.Conn.Write(p)
	if err != nil {
		return n, c.fail("writing a reply", err)
	}
	return n, nil
}

// fail logs an error of the connection at warning level and returns it
// naming the connection.
func (c *trackedConn) fail(what string, err error) error {
	msg := "milter protocol error"
	switch {
	case errors.Is(err, os.ErrDeadlineExceeded) && what == "writing a reply":
		msg, err = "MTA reads no replies: connection closed", fmt.Errorf("no reply written within %v", c.writeTimeout)
	case errors.Is(err, os.ErrDeadlineExceeded) && c.left == 0:
		msg, err = "MTA idle: connection closed", fmt.Errorf("no packet within %v", c.readTimeout)
	case errors.Is(err, os.ErrDeadlineExceeded):
		msg, err = "MTA too slow: connection closed", fmt.Errorf("packet not complete within %v", c.readTimeout)
	case errors.Is(err, io.EOF) || errors.Is(err, io.ErrUnexpectedEOF):
		msg, err = "MTA closed the connection in the middle of a packet", io.ErrUnexpectedEOF
	case errors.Is(err, net.ErrClosed):
		return fmt.Errorf("milter connection #%d: %w", c.id, err)
	}
	c.log.Warn(msg, "mta", c.RemoteAddr().String(), "client_ip", c.client(), "while", what, "error", err.Error())
	return fmt.Errorf("milter connection #%d: %w", c.id, err)
}

func containsByte(s string, b byte) bool {
	for i := 0; i < len(s); i++ {
		if s[i] == b {
			return true
		}
	}
	return false
}

// loggedLine matches a go-milter log line about a connection error
// trackedConn has logged already.
var loggedLine = regexp.MustCompile(`milter connection #\d+: `)

// LibraryLog returns the writer for the standard logger, to which
// go-milter v0.5.0 writes its errors (a malformed command, a failed
// callback): they go to log at warning level. An error of a connection
// that trackedConn already logged, with the MTA and the client, is not
// logged again.
func LibraryLog(log *slog.Logger) io.Writer {
	return libraryLog{log}
}

type libraryLog struct{ log *slog.Logger }

func (l libraryLog) Write(p []byte) (int, error) {
	line := string(p)
	if !loggedLine.MatchString(line) {
		l.log.Warn("milter protocol error", "error", trimNewline(line))
	}
	return len(p), nil
}

func trimNewline(s string) string {
	for len(s) > 0 && (s[len(s)-1] == '\n' || s[len(s)-1] == '\r') {
		s = s[:len(s)-1]
	}
	return s
}
