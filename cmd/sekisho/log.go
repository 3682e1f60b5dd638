package main

import (
	"context"
	"io"
	"log/slog"
	"sync/atomic"

	"github.com/sekisho/sekisho/policy"
)

// logHandler is the daemon's log handler: the format and level of the
// [log] table in force. A reload swaps them; loggers made before keep
// following it.
type logHandler struct {
	cur  *atomic.Pointer[slog.Handler]
	with []func(slog.Handler) slog.Handler // WithAttrs and WithGroup of derived loggers
}

// newLogHandler writes to w as cfg says.
func newLogHandler(w io.Writer, cfg policy.LogConfig) *logHandler {
	h := &logHandler{cur: &atomic.Pointer[slog.Handler]{}}
	h.set(w, cfg)
	return h
}

// set puts cfg's format and level in force.
func (h *logHandler) set(w io.Writer, cfg policy.LogConfig) {
	var level slog.Level
	level.UnmarshalText([]byte(cfg.Level))
	opts := &slog.HandlerOptions{Level: level}
	var inner slog.Handler = slog.NewTextHandler(w, opts)
	if cfg.Format == "json" {
		inner = slog.NewJSONHandler(w, opts)
	}
	h.cur.Store(&inner)
}

func (h *logHandler) inner() slog.Handler {
	in := *h.cur.Load()
	for _, f := range h.with {
		in = f(in)
	}
	return in
}

func (h *logHandler) Enabled(ctx context.Context, l slog.Level) bool {
	return (*h.cur.Load()).Enabled(ctx, l)
}

func (h *logHandler) Handle(ctx context.Context, r slog.Record) error {
	return h.inner().Handle(ctx, r)
}

func (h *logHandler) WithAttrs(as []slog.Attr) slog.Handler {
	return h.derive(func(in slog.Handler) slog.Handler { return in.WithAttrs(as) })
}

func (h *logHandler) WithGroup(name string) slog.Handler {
	return h.derive(func(in slog.Handler) slog.Handler { return in.WithGroup(name) })
}

func (h *logHandler) derive(f func(slog.Handler) slog.Handler) *logHandler {
	return &logHandler{cur: h.cur, with: append(append([]func(slog.Handler) slog.Handler{}, h.with...), f)}
}
