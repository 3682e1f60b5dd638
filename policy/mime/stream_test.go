package mime

import (
	"bytes"
	"encoding/json"
	"io"
	"os"
	"runtime"
	"strings"
	"testing"
	"time"
)

// TestStreamMatchesInspect writes every crafted message to a Stream in
// pieces and compares the result with Inspect's.
func TestStreamMatchesInspect(t *testing.T) {
	for _, file := range corpus(t) {
		data, err := os.ReadFile(file)
		if err != nil {
			t.Fatal(err)
		}
		want, err := Inspect(bytes.NewReader(data), DefaultLimits())
		if err != nil {
			t.Fatal(err)
		}
		for _, piece := range []int{1, 7, 4096, 65535} {
			s := NewStream(DefaultLimits(), nil)
			for rest := data; len(rest) > 0; {
				n := min(piece, len(rest))
				s.Write(rest[:n])
				rest = rest[n:]
			}
			got, err := s.Close()
			if err != nil {
				t.Fatal(err)
			}
			g, _ := json.Marshal(got)
			w, _ := json.Marshal(want)
			if !bytes.Equal(g, w) {
				t.Fatalf("%s in pieces of %d:\ngot  %s\nwant %s", file, piece, g, w)
			}
		}
	}
}

// TestStreamAbort: an aborted inspection ends its goroutine, and a message
// that stops the inspection early does not block its writer.
func TestStreamAbort(t *testing.T) {
	before := runtime.NumGoroutine()
	for range 50 {
		s := NewStream(DefaultLimits(), nil)
		s.Write([]byte("Subject: x\r\n\r\n"))
		s.Abort()
		s.Write([]byte("more"))
	}
	deep, err := os.ReadFile("../../testdata/mime/deep-nesting.eml")
	if err != nil {
		t.Fatal(err)
	}
	lim := DefaultLimits()
	lim.MaxDepth = 2
	s := NewStream(lim, nil)
	done := make(chan struct{})
	go func() {
		defer close(done)
		s.Write(deep)
		for range 1000 {
			s.Write(bytes.Repeat([]byte("x"), 65535))
		}
	}()
	select {
	case <-done:
	case <-time.After(10 * time.Second):
		t.Fatal("writes block after the inspection stopped")
	}
	if res, err := s.Close(); err != nil || !res.Has(GapLimit) {
		t.Errorf("result %+v, %v; want a limit gap", res, err)
	}
	for deadline := time.Now().Add(5 * time.Second); runtime.NumGoroutine() > before && time.Now().Before(deadline); {
		time.Sleep(10 * time.Millisecond)
	}
	if n := runtime.NumGoroutine(); n > before {
		t.Errorf("%d goroutines left, %d before", n, before)
	}
}

// panicScanner panics when it is handed a part.
type panicScanner struct{}

func (panicScanner) Part(PartInfo) io.WriteCloser { panic("scanner bug") }

// partLog records the parts a Stream hands over and whether each was
// closed.
type partLog struct {
	opened, closed int
	bytes          int
}

func (l *partLog) Part(PartInfo) io.WriteCloser { l.opened++; return (*partWriter)(l) }

type partWriter partLog

func (w *partWriter) Write(p []byte) (int, error) { w.bytes += len(p); return len(p), nil }
func (w *partWriter) Close() error                { w.closed++; return nil }

// TestStreamPanic: a panic in the inspection (here, in its scanner) is the
// message's error, in Write's caller's process as in any other.
func TestStreamPanic(t *testing.T) {
	s := NewStream(DefaultLimits(), panicScanner{})
	s.Write([]byte("Subject: x\r\nContent-Type: application/octet-stream; name=a.bin\r\n\r\n"))
	s.Write([]byte("data\r\n"))
	s.Write([]byte("more"))
	res, err := s.Close()
	if res != nil || err == nil || !strings.Contains(err.Error(), "inspection failed: scanner bug") {
		t.Fatalf("Close = %+v, %v; want the panic as an error", res, err)
	}
}

// TestStreamAbortInPart: a Stream aborted in the middle of an attachment
// closes the part it handed to its scanner before Abort returns, drops
// what is written after, and never has a result.
func TestStreamAbortInPart(t *testing.T) {
	before := runtime.NumGoroutine()
	l := &partLog{}
	s := NewStream(DefaultLimits(), l)
	s.Write([]byte("Subject: x\r\nMIME-Version: 1.0\r\nContent-Type: multipart/mixed; boundary=b\r\n\r\n--b\r\n" +
		"Content-Type: application/octet-stream; name=a.bin\r\nContent-Transfer-Encoding: base64\r\n\r\n"))
	s.Write(bytes.Repeat([]byte("QUJD"), 20000))
	if l.opened != 1 || l.closed != 0 || l.bytes == 0 {
		t.Fatalf("before Abort: %+v; want one part open and written to", *l)
	}
	s.Abort()
	if l.closed != 1 {
		t.Fatalf("after Abort: %+v; want the part closed", *l)
	}
	s.Write([]byte("QUJD\r\n--b--\r\n"))
	if res, err := s.Close(); res != nil || err == nil {
		t.Fatalf("Close after Abort = %+v, %v; want no result and an error", res, err)
	}
	if n := runtime.NumGoroutine(); n > before {
		t.Errorf("%d goroutines left, %d before", n, before)
	}
}
