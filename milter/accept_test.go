package milter_test

import (
	"context"
	"errors"
	"net"
	"sync"
	"syscall"
	"testing"
	"time"

	"github.com/sekisho/sekisho/milter"
	"github.com/sekisho/sekisho/policy"
)

// flakyListener fails its first accepts as a process out of file
// descriptors does, then waits until closed.
type flakyListener struct {
	mu     sync.Mutex
	fails  int
	calls  int
	closed chan struct{}
	once   sync.Once
}

func (l *flakyListener) Accept() (net.Conn, error) {
	l.mu.Lock()
	l.calls++
	fail := l.calls <= l.fails
	l.mu.Unlock()
	if fail {
		return nil, &net.OpError{Op: "accept", Net: "tcp", Err: syscall.EMFILE}
	}
	<-l.closed
	return nil, net.ErrClosed
}

func (l *flakyListener) Close() error   { l.once.Do(func() { close(l.closed) }); return nil }
func (l *flakyListener) Addr() net.Addr { return &net.TCPAddr{} }

func TestServeSurvivesAcceptErrors(t *testing.T) {
	e, err := policy.NewEngine(policy.Default(), nil)
	if err != nil {
		t.Fatal(err)
	}
	srv := milter.NewServer(e, nil)
	ln := &flakyListener{fails: 3, closed: make(chan struct{})}
	served := make(chan error, 1)
	go func() { served <- srv.Serve(ln) }()
	deadline := time.Now().Add(5 * time.Second)
	for {
		ln.mu.Lock()
		calls := ln.calls
		ln.mu.Unlock()
		if calls > ln.fails {
			break
		}
		select {
		case err := <-served:
			t.Fatalf("Serve gave up after an accept error: %v", err)
		default:
		}
		if time.Now().After(deadline) {
			t.Fatal("Serve stopped accepting after accept errors")
		}
		time.Sleep(5 * time.Millisecond)
	}
	ctx, cancel := context.WithTimeout(context.Background(), time.Second)
	defer cancel()
	if err := srv.Shutdown(ctx); err != nil {
		t.Fatal(err)
	}
	if err := <-served; !errors.Is(err, milter.ErrServerClosed) {
		t.Fatalf("Serve returned %v, want ErrServerClosed", err)
	}
}
