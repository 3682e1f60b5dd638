package clamd_test

import (
	"bytes"
	"context"
	"log/slog"
	"net"
	"path/filepath"
	"strings"
	"testing"

	"github.com/sekisho/sekisho/policy/clamd"
)

// TestHealth: a clamd that stops answering is logged once at WARN, and
// once at INFO when it answers again; each change is reported.
func TestHealth(t *testing.T) {
	// A unix socket: the same address can be served again at once.
	addr := filepath.Join(t.TempDir(), "clamd.sock")
	ln, err := net.Listen("unix", addr)
	if err != nil {
		t.Fatal(err)
	}
	serve := func(ln net.Listener) {
		for {
			c, err := ln.Accept()
			if err != nil {
				return
			}
			buf := make([]byte, 64)
			c.Read(buf)
			c.Write([]byte("PONG\x00"))
			c.Close()
		}
	}
	go serve(ln)
	var logs bytes.Buffer
	var changes []bool
	h := &clamd.Health{Log: slog.New(slog.NewTextHandler(&logs, nil)), OnChange: func(up bool) { changes = append(changes, up) }}
	cl, err := clamd.Parse("unix:" + addr)
	if err != nil {
		t.Fatal(err)
	}
	cl.Health = h
	ctx := context.Background()
	if err := cl.Ping(ctx); err != nil {
		t.Fatal(err)
	}
	ln.Close()
	for range 3 {
		if err := cl.Ping(ctx); err == nil {
			t.Fatal("ping answered with clamd gone")
		}
	}
	ln, err = net.Listen("unix", addr)
	if err != nil {
		t.Fatal(err)
	}
	defer ln.Close()
	go serve(ln)
	for range 2 {
		if err := cl.Ping(ctx); err != nil {
			t.Fatal(err)
		}
	}
	out := logs.String()
	if strings.Count(out, "level=WARN") != 1 || strings.Count(out, "clamd not answering") != 1 ||
		strings.Count(out, "level=INFO") != 1 || strings.Count(out, "clamd answers again") != 1 {
		t.Errorf("log:\n%s", out)
	}
	if len(changes) != 2 || changes[0] || !changes[1] {
		t.Errorf("changes %v, want down then up", changes)
	}
}
