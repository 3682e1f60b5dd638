package milter_test

import (
	"io"
	"runtime"
	"strings"
	"testing"
)

// base64Body streams a multipart message whose attachment is n bytes of
// base64 lines, without holding it in memory.
type base64Body struct {
	head, tail string
	lines      int
	buf        []byte
}

func newBase64Body(size int) *base64Body {
	line := strings.Repeat("QUJDREVGR0hJSktMTU5PUFFSU1RVVldY", 3)[:76] + "\r\n"
	return &base64Body{
		head: "--b\r\nContent-Type: text/plain; charset=utf-8\r\n\r\n本文です。\r\n--b\r\n" +
			"Content-Type: application/pdf; name=\"big.pdf\"\r\nContent-Disposition: attachment; filename=\"big.pdf\"\r\n" +
			"Content-Transfer-Encoding: base64\r\n\r\n",
		tail:  "--b--\r\n",
		lines: size / len(line),
		buf:   []byte(line),
	}
}

func (b *base64Body) Read(p []byte) (int, error) {
	switch {
	case b.head != "":
		n := copy(p, b.head)
		b.head = b.head[n:]
		return n, nil
	case b.lines > 0:
		n := 0
		for b.lines > 0 && len(p)-n >= len(b.buf) {
			n += copy(p[n:], b.buf)
			b.lines--
		}
		if n == 0 {
			n = copy(p, b.buf[:len(p)])
			b.lines--
		}
		return n, nil
	case b.tail != "":
		n := copy(p, b.tail)
		b.tail = b.tail[n:]
		return n, nil
	}
	return 0, io.EOF
}

// liveProbe reads r and, each time another step bytes have been read,
// collects garbage and records the live heap: the bytes before it have
// been through the milter by then (each body packet is answered before
// the next is sent), so a body kept in memory shows, and garbage not yet
// collected does not.
type liveProbe struct {
	r          io.Reader
	n, next    int64
	step       int64
	peak       uint64
	collection int
}

func (p *liveProbe) Read(b []byte) (int, error) {
	if p.n >= p.next {
		p.next += p.step
		runtime.GC()
		var ms runtime.MemStats
		runtime.ReadMemStats(&ms)
		p.peak = max(p.peak, ms.HeapAlloc)
		p.collection++
	}
	n, err := p.r.Read(b)
	p.n += int64(n)
	return n, err
}

// TestLargeMessageMemoryBounded sends a 50 MB message through the milter
// with every content rule on and checks that the live heap does not grow
// with it: the body is inspected as it arrives and not kept. The heap is
// measured after a collection at every 10 MB of the body, so that the
// result does not depend on when the collector runs under load.
func TestLargeMessageMemoryBounded(t *testing.T) {
	addr, _ := startServer(t, `
listen = "inet:127.0.0.1:0"
[rules.attachment_size]
max = "100MB"
[rules.attachment_extension]
[rules.attachment_no_extension]
[rules.ascii_only]
[rules.blank]
`)
	m := dial(t, addr, "192.0.2.1")
	m.mail("sender@example.com")
	m.rcpt("user@example.co.jp")
	runtime.GC()
	var base runtime.MemStats
	runtime.ReadMemStats(&base)
	h := [][2]string{{"From", "a@example.com"}, {"To", "user@example.co.jp"}, {"Subject", "大きな添付"},
		{"MIME-Version", "1.0"}, {"Content-Type", "multipart/mixed; boundary=b"}}
	const size = 50 << 20
	probe := &liveProbe{r: newBase64Body(size), step: 10 << 20, next: 10 << 20}
	r, _ := m.dataFrom(h, probe)
	if r != "" {
		t.Fatalf("a clean 50 MB message was refused: %q", r)
	}
	if probe.collection < 4 {
		t.Fatalf("live heap measured %d times, want 4 or more", probe.collection)
	}
	growth := int64(probe.peak) - int64(base.HeapAlloc)
	t.Logf("live heap grew by %d KiB at most for a %d MiB message", growth>>10, size>>20)
	if growth > 8<<20 {
		t.Fatalf("live heap grew by %d MiB for a %d MiB message: the body is held in memory", growth>>20, size>>20)
	}
}
