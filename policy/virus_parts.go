package policy

import (
	"context"
	"errors"
	"fmt"
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

// scansParts marks the virus rule in parts mode: the engine inspects
// every message so that the parts reach it.
func (r *virus) scansParts() bool { return r.parts }

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
	names    []string // what each scan of the session was, for the log
	files    []string // the file name of each, "" for a part without one
	oversize []string // parts larger than max_scan_size, scanned in part
}

var _ mime.Scanner = (*partsScan)(nil)

// Write takes the raw message, which parts mode does not use.
func (p *partsScan) Write(b []byte) (int, error) { return len(b), nil }

func (p *partsScan) needsParts() bool { return true }

// used reports whether any part was handed over, or tried to be.
func (p *partsScan) used() bool {
	p.mu.Lock()
	defer p.mu.Unlock()
	return p.session != nil || p.err != nil
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
	name := "part " + info.Path
	if info.Filename != "" {
		name = fmt.Sprintf("%q (part %s)", info.Filename, info.Path)
	}
	p.names = append(p.names, name)
	p.files = append(p.files, info.Filename)
	return &partWriter{p: p, w: w, left: p.r.max, name: name}
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

// partWriter is one part on its way to clamd, cut at max_scan_size.
type partWriter struct {
	p    *partsScan
	w    io.WriteCloser
	left int64
	name string
	err  error
}

func (w *partWriter) Write(b []byte) (int, error) {
	n := len(b)
	if w.err != nil || w.left <= 0 {
		return n, nil
	}
	if int64(len(b)) > w.left {
		b = b[:w.left]
		w.p.mu.Lock()
		w.p.oversize = append(w.p.oversize, w.name)
		w.p.mu.Unlock()
	}
	w.left -= int64(len(b))
	if _, err := w.w.Write(b); err != nil {
		w.fail(err)
	}
	return n, nil
}

func (w *partWriter) Close() error {
	if w.err == nil {
		if err := w.w.Close(); err != nil {
			w.fail(err)
		}
	}
	return nil
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
	if p.session != nil {
		res, err := p.session.End()
		if err != nil {
			p.r.metrics.ClamdError(clamd.Kind(err))
			return Hit{}, err
		}
		for i, rs := range res {
			if rs.Infected {
				h := p.r.result(rs)
				h.Reason = fmt.Sprintf("clamd found %s in %s", rs.Virus, p.names[i])
				if p.files[i] != "" {
					h.Vars["filename"] = replyName(p.files[i])
				}
				return h, nil
			}
		}
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
