package ratelimit

import (
	"bytes"
	"context"
	"log/slog"
	"strings"
	"testing"
)

// TestRedisLoggerLevels: a failed dial, which repeats with every message
// while a server is down, is logged at debug level only; a new master
// named by Sentinel at info level.
func TestRedisLoggerLevels(t *testing.T) {
	var buf bytes.Buffer
	l := redisLogger{slog.New(slog.NewTextHandler(&buf, &slog.HandlerOptions{Level: slog.LevelInfo}))}
	ctx := context.Background()
	l.Printf(ctx, "redis: connection pool: failed to dial after %d attempts: %v", 1, "refused")
	if buf.Len() != 0 {
		t.Errorf("a failed dial logged at info level: %s", buf.String())
	}
	l.Printf(ctx, "sentinel: new master=%q addr=%q", "mymaster", "127.0.0.1:6380")
	if out := buf.String(); !strings.Contains(out, "level=INFO") || !strings.Contains(out, `new master=\"mymaster\"`) {
		t.Errorf("new master logged as %q", out)
	}
}
