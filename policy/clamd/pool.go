package clamd

import (
	"net"
	"sync"
	"time"
)

// Sessions outlive their message: at its end, once every answer is read, a
// session's connection is kept for the next message to the same clamd,
// which saves a dial and clamd's accept per message. clamd closes a
// session idle for IdleTimeout (30 s by default); a kept connection is
// closed after sessionIdle, well before, and one that clamd closed anyway
// (a restart) is found closed when it is taken and not used.
var sessionIdle = 5 * time.Second // a variable for the tests

const maxIdle = 16 // kept connections per clamd

// idleConn is a session connection between messages.
type idleConn struct {
	conn  net.Conn
	sent  int // requests sent on it so far: clamd numbers them on
	since time.Time
}

// pool keeps the idle session connections to one clamd, the most recent
// last.
type pool struct {
	keep  time.Duration // sessionIdle when the pool was made
	mu    sync.Mutex
	idle  []idleConn
	timer *time.Timer
}

// pools holds a pool per clamd address for the whole process, so that
// connections are kept across reloads and across the rules that scan.
var pools sync.Map // Client.String() → *pool

func (c *Client) pool() *pool {
	key := c.String()
	if p, ok := pools.Load(key); ok {
		return p.(*pool)
	}
	p, _ := pools.LoadOrStore(key, &pool{keep: sessionIdle})
	return p.(*pool)
}

// get takes the most recently kept connection that is still open.
func (p *pool) get() (idleConn, bool) {
	p.mu.Lock()
	defer p.mu.Unlock()
	for len(p.idle) > 0 {
		ic := p.idle[len(p.idle)-1]
		p.idle[len(p.idle)-1] = idleConn{}
		p.idle = p.idle[:len(p.idle)-1]
		if time.Since(ic.since) < p.keep && open(ic.conn) {
			return ic, true
		}
		ic.conn.Close()
	}
	return idleConn{}, false
}

// put keeps a session connection whose every answer has been read.
func (p *pool) put(conn net.Conn, sent int) {
	p.mu.Lock()
	defer p.mu.Unlock()
	if len(p.idle) >= maxIdle {
		conn.Close()
		return
	}
	// The next message sets its own deadlines; one left from this message
	// would only fail the check that the connection is still open.
	conn.SetDeadline(time.Time{})
	p.idle = append(p.idle, idleConn{conn: conn, sent: sent, since: time.Now()})
	if p.timer == nil {
		p.timer = time.AfterFunc(p.keep, p.sweep)
	}
}

// sweep closes the connections kept for p.keep or longer.
func (p *pool) sweep() {
	p.mu.Lock()
	defer p.mu.Unlock()
	n := 0
	for n < len(p.idle) && time.Since(p.idle[n].since) >= p.keep {
		p.idle[n].conn.Close()
		n++
	}
	rest := copy(p.idle, p.idle[n:])
	clear(p.idle[rest:])
	p.idle = p.idle[:rest]
	p.timer = nil
	if len(p.idle) > 0 {
		p.timer = time.AfterFunc(p.keep-time.Since(p.idle[0].since), p.sweep)
	}
}
