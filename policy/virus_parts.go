package policy

import (
	"context"
	"crypto/sha256"
	"errors"
	"fmt"
	"hash"
	"io"
	"strings"
	"sync"

	"github.com/sekisho/sekisho/policy/clamd"
	"github.com/sekisho/sekisho/policy/mime"
)

// The parts mode of the virus rule: the inspection, which decodes the
// message anyway, hands each part to clamd decoded, all of one message in
// one clamd session (IDSESSION). clamd then neither undoes MIME and base64
// again nor scans what it is not asked to: images unless scan_images is
// on, the body text unless scan_text is; a message with nothing to send
// opens no session. Archives go to clamd whole: it opens them itself,
// except the entries of an encrypted one that a password opened, which go
// to it decrypted.

// partsScan is the scan of one message's parts. Part is called by the
// inspection, Abort by the milter's goroutine, verdict after the
// inspection ended.
type partsScan struct {
	r   *virus
	ctx context.Context

	mu       sync.Mutex
	session  *clamd.Session
	aborted  bool
	err      error
	scans    int         // scans sent in the session
	parts    []partEntry // the parts judged, in order
	oversize []string    // parts larger than max_scan_size, scanned in part
	version  string      // clamd's signature version, "" when the cache is not used
	asked    bool        // version was asked for this message
}

// partEntry is one part judged: sent to clamd as the scan-th of the
// session, or answered from the verdict cache.
type partEntry struct {
	name      string // for the log
	file      string // the file name, "" for a part without one
	scan      int    // index of its scan in the session; -1 when cached
	cached    clamd.Result
	sum       [sha256.Size]byte // of the bytes sent, when cacheable
	cacheable bool
}

var _ mime.PartSink = (*partsScan)(nil)

// Write takes the raw message, which parts mode does not use.
func (p *partsScan) Write(b []byte) (int, error) { return len(b), nil }

// used reports whether any part was handed over, or tried to be.
func (p *partsScan) used() bool {
	p.mu.Lock()
	defer p.mu.Unlock()
	return len(p.parts) > 0 || p.err != nil
}

// Abort ends the session without a verdict.
func (p *partsScan) Abort() {
	p.mu.Lock()
	defer p.mu.Unlock()
	p.aborted = true
	if p.session != nil {
		p.session.Abort()
	}
}

// Part opens the scan of one part, when it is one to scan.
func (p *partsScan) Part(info mime.PartInfo) io.WriteCloser {
	if !p.r.scans(info) {
		return nil
	}
	p.mu.Lock()
	defer p.mu.Unlock()
	if p.err != nil || p.aborted {
		return nil
	}
	name := "part " + info.Path
	if info.Filename != "" {
		name = fmt.Sprintf("%q (part %s)", info.Filename, info.Path)
	}
	e := partEntry{name: name, file: info.Filename, scan: -1}
	if p.r.cache != nil && !p.asked {
		p.asked = true
		p.version = p.r.cache.signatures(p.ctx, p.r.client)
	}
	w := &partWriter{p: p, left: p.r.max, entry: e}
	if p.version != "" {
		// Held and hashed until its end, then looked up; a part that
		// outgrows cache_part_size is streamed from there on.
		w.hash, w.hold = sha256.New(), true
		return w
	}
	if w.w = p.startScan(&w.entry); w.w == nil {
		return nil
	}
	return w
}

// startScan starts the next scan of the session, opening the session for
// the first; nil when clamd cannot be reached (p.err says why). Called
// with p.mu held.
func (p *partsScan) startScan(e *partEntry) io.WriteCloser {
	if p.session == nil {
		if p.session, p.err = p.r.client.NewSession(p.ctx); p.err != nil {
			return nil
		}
	}
	w, err := p.session.Scan()
	if err != nil {
		p.err = err
		return nil
	}
	e.scan = p.scans
	p.scans++
	return w
}

// scans reports whether a part is one the rule sends to clamd.
func (r *virus) scans(info mime.PartInfo) bool {
	switch {
	case strings.HasPrefix(info.ContentType, "image/"):
		return r.images
	case !info.Attachment:
		return r.text
	}
	return true
}

// partWriter is one part on its way to clamd, cut at max_scan_size. With
// the verdict cache on, the part is held and hashed while it is decoded,
// and sent only if no verdict on the same bytes is kept.
type partWriter struct {
	p     *partsScan
	w     io.WriteCloser // the scan, once started
	left  int64
	entry partEntry
	err   error

	hash hash.Hash // of what is sent, with the cache on
	hold bool      // held: not sent yet
	held []*heldChunk
	size int64 // bytes held
	cut  bool  // cut at max_scan_size: not cached
}

// heldChunk is a piece of a part held while it is hashed. A part is held
// in chunks taken from heldChunks and given back once it is sent or
// answered from the cache: grown as one slice afresh for every part, the
// buffers cost an eighth of the daemon's CPU under load (copied as they
// doubled, zeroed, their memory handed back to the system), and a pool of
// whole-part buffers would keep the largest part's size for every one.
// clamd's session copies what it is given.
type heldChunk struct {
	n int
	b [64 << 10]byte
}

var heldChunks = sync.Pool{New: func() any { return new(heldChunk) }}

// holdBytes appends b to what the part holds.
func (w *partWriter) holdBytes(b []byte) {
	w.size += int64(len(b))
	for len(b) > 0 {
		if len(w.held) == 0 || w.held[len(w.held)-1].n == len(w.held[len(w.held)-1].b) {
			c := heldChunks.Get().(*heldChunk)
			c.n = 0
			w.held = append(w.held, c)
		}
		c := w.held[len(w.held)-1]
		k := copy(c.b[c.n:], b)
		c.n += k
		b = b[k:]
	}
}

// sendHeld sends what the part holds, and gives its chunks back.
func (w *partWriter) sendHeld() {
	for _, c := range w.held {
		w.send(c.b[:c.n])
	}
	w.release()
}

// release gives the part's chunks back.
func (w *partWriter) release() {
	for i, c := range w.held {
		heldChunks.Put(c)
		w.held[i] = nil
	}
	w.held, w.size = w.held[:0], 0
}

func (w *partWriter) Write(b []byte) (int, error) {
	n := len(b)
	if w.err != nil || w.left <= 0 {
		return n, nil
	}
	if int64(len(b)) > w.left {
		b = b[:w.left]
		w.cut = true
		w.p.mu.Lock()
		w.p.oversize = append(w.p.oversize, w.entry.name)
		w.p.mu.Unlock()
	}
	w.left -= int64(len(b))
	if w.hold {
		w.hash.Write(b)
		if w.size+int64(len(b)) <= w.p.r.cachePart {
			w.holdBytes(b)
			return n, nil
		}
		// Too big to hold: streamed, and not cached.
		w.hold, w.hash = false, nil
		if !w.start() {
			w.release()
			return n, nil
		}
		w.sendHeld()
	}
	w.send(b)
	return n, nil
}

// start starts the part's scan; false when it cannot be.
func (w *partWriter) start() bool {
	w.p.mu.Lock()
	defer w.p.mu.Unlock()
	if w.p.err != nil || w.p.aborted {
		w.err = errors.New("clamd: no session")
		return false
	}
	if w.w = w.p.startScan(&w.entry); w.w == nil {
		w.err = w.p.err
		return false
	}
	return true
}

func (w *partWriter) send(b []byte) {
	if w.err != nil || len(b) == 0 {
		return
	}
	if _, err := w.w.Write(b); err != nil {
		w.fail(err)
	}
}

func (w *partWriter) Close() error {
	if w.hold {
		w.hold = false
		var sum [sha256.Size]byte
		w.hash.Sum(sum[:0])
		if res, ok := w.p.r.cached(w.p.ctx, w.p.version, sum); ok && !w.cut {
			w.release()
			w.p.r.metrics.ClamdCache(true)
			w.entry.cached = res
			w.record()
			return nil
		}
		w.p.r.metrics.ClamdCache(false)
		w.entry.sum, w.entry.cacheable = sum, !w.cut
		if !w.start() {
			w.release()
			return nil
		}
		w.sendHeld()
	}
	if w.err == nil && w.w != nil {
		if err := w.w.Close(); err != nil {
			w.fail(err)
		}
	}
	if w.err == nil {
		w.record()
	}
	return nil
}

// record adds the part to the message's parts judged.
func (w *partWriter) record() {
	w.p.mu.Lock()
	w.p.parts = append(w.p.parts, w.entry)
	w.p.mu.Unlock()
}

func (w *partWriter) fail(err error) {
	w.err = err
	w.p.mu.Lock()
	if w.p.err == nil {
		w.p.err = err
	}
	w.p.mu.Unlock()
}

// verdict reads clamd's answers once the inspection has handed over every
// part. A message the inspection could not read to the end was not
// scanned to the end either: that is an error, never a clean verdict.
func (p *partsScan) verdict(m *Message) (Hit, error) {
	p.mu.Lock()
	defer p.mu.Unlock()
	if p.session != nil {
		// End reads the answers; on every other way out, the session goes.
		defer p.session.Abort()
	}
	if m.Inspection == nil {
		return Hit{}, errors.New("clamd: the message was not inspected, so its parts were not scanned")
	}
	if m.Inspection.Has(mime.GapLimit) {
		return Hit{}, errors.New("clamd: the inspection stopped at a limit, the rest was not scanned")
	}
	if p.err != nil {
		return Hit{}, p.r.clamdError(p.err)
	}
	var res []clamd.Result
	if p.session != nil {
		var err error
		if res, err = p.session.End(); err != nil {
			p.r.metrics.ClamdError(clamd.Kind(err))
			return Hit{}, err
		}
		if len(res) != p.scans {
			return Hit{}, p.r.clamdError(fmt.Errorf("%w: %d answers to %d scans", clamd.ErrProtocol, len(res), p.scans))
		}
	}
	var hit *Hit
	for _, e := range p.parts {
		rs, cached := e.cached, e.scan < 0
		if !cached {
			rs = res[e.scan]
			if e.cacheable {
				p.r.keep(p.ctx, p.version, e.sum, rs)
			}
		}
		if rs.Infected && hit == nil {
			h := p.r.result(rs)
			h.Reason = fmt.Sprintf("clamd found %s in %s", rs.Virus, e.name)
			if cached {
				h.Reason += fmt.Sprintf(" (verdict kept from an earlier scan of the same bytes, signatures %s)", p.version)
			}
			if e.file != "" {
				h.Vars["filename"] = replyName(e.file)
			}
			hit = &h
		}
	}
	if hit != nil {
		return *hit, nil
	}
	if len(p.oversize) > 0 {
		return p.r.oversizeParts(p.oversize)
	}
	return Hit{}, nil
}

// oversizeParts follows the oversize policy for parts cut at max_scan_size.
func (r *virus) oversizeParts(names []string) (Hit, error) {
	reason := fmt.Sprintf("not scanned in full: %s over max_scan_size %s", strings.Join(names, ", "), Size(r.max))
	if r.tempfailOversize {
		return Hit{Matched: true, Reason: reason, Action: Tempfail, Reply: Reply{Code: 452, Enhanced: "4.3.4", Text: "Message too large to scan, try again later"}}, nil
	}
	return Hit{Matched: true, Reason: reason, Action: Tag}, nil
}
