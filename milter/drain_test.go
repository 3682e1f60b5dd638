package milter_test

import (
	"context"
	"log/slog"
	"net"
	"strings"
	"testing"
	"time"

	"github.com/sekisho/sekisho/milter"
	"github.com/sekisho/sekisho/policy"
)

// TestShutdownRefusesNewTransactions: after Shutdown begins, a message
// under way still finishes, a new MAIL on an open connection is answered
// 421, and Shutdown returns as soon as the connections end, not at its
// deadline: an MTA that keeps starting transactions does not hold the
// drain.
func TestShutdownRefusesNewTransactions(t *testing.T) {
	cfg, err := policy.Parse("test.toml", []byte(baseConfig))
	if err != nil {
		t.Fatal(err)
	}
	log := slog.New(slog.DiscardHandler)
	e, err := policy.NewEngine(cfg, &policy.Env{Logger: log})
	if err != nil {
		t.Fatal(err)
	}
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	addr := ln.Addr().String()
	srv := milter.NewServer(e, log)
	go srv.Serve(ln)

	busy := dial(t, addr, "192.0.2.1") // a message under way
	busy.mail("a@example.com")
	if r := busy.rcpt("user@example.co.jp"); r != "" {
		t.Fatalf("rcpt: %s", r)
	}
	idle := dial(t, addr, "192.0.2.2") // between two messages
	idle.mail("b@example.com")
	idle.rcpt("user@example.co.jp")
	if r, _ := idle.data(plain, "first\r\n"); r != "" {
		t.Fatalf("first message: %s", r)
	}

	ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
	defer cancel()
	shut := make(chan error, 1)
	go func() { shut <- srv.Shutdown(ctx) }()
	for { // Shutdown has begun once the listener is closed.
		c, err := net.Dial("tcp", addr)
		if err != nil {
			break
		}
		c.Close()
		time.Sleep(time.Millisecond)
	}

	if r := idle.reply(idle.s.Mail("<b@example.com>", "")); !strings.HasPrefix(r, "421 4.3.2 ") {
		t.Errorf("MAIL after shutdown began: %q, want a 421 4.3.2 reply", r)
	}
	if r, _ := busy.data(plain, "under way\r\n"); r != "" {
		t.Errorf("the message under way was refused: %s", r)
	}
	idle.s.Close()
	busy.s.Close()
	if err := <-shut; err != nil {
		t.Errorf("Shutdown: %v (connections were cut at the deadline)", err)
	}
}
