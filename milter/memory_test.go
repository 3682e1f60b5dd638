package milter_test

import (
	"io"
	"runtime"
	"strings"
	"sync/atomic"
	"testing"
	"time"
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

// TestLargeMessageMemoryBounded sends a 50 MB message through the milter
// with every content rule on and checks that the heap does not grow with
// it: the body is inspected as it arrives and not kept.
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
	runtime.GC()
	var base runtime.MemStats
	runtime.ReadMemStats(&base)
	var peak atomic.Uint64
	stop := make(chan struct{})
	done := make(chan struct{})
	go func() {
		defer close(done)
		var ms runtime.MemStats
		for {
			select {
			case <-stop:
				return
			case <-time.After(20 * time.Millisecond):
			}
			runtime.ReadMemStats(&ms)
			if ms.HeapInuse > peak.Load() {
				peak.Store(ms.HeapInuse)
			}
		}
	}()
	m := dial(t, addr, "192.0.2.1")
	m.mail("sender@example.com")
	m.rcpt("user@example.co.jp")
	h := [][2]string{{"From", "a@example.com"}, {"To", "user@example.co.jp"}, {"Subject", "大きな添付"},
		{"MIME-Version", "1.0"}, {"Content-Type", "multipart/mixed; boundary=b"}}
	const size = 50 << 20
	r, _ := m.dataFrom(h, newBase64Body(size))
	close(stop)
	<-done
	if r != "" {
		t.Fatalf("a clean 50 MB message was refused: %q", r)
	}
	growth := int64(peak.Load()) - int64(base.HeapInuse)
	t.Logf("heap in use grew by %d KiB at peak for a %d MiB message", growth>>10, size>>20)
	if growth > 16<<20 {
		t.Fatalf("heap grew by %d MiB for a %d MiB message: the body is held in memory", growth>>20, size>>20)
	}
}
