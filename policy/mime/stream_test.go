package mime

import (
	"bytes"
	"encoding/json"
	"os"
	"runtime"
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
