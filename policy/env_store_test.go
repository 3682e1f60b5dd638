package policy

import (
	"bytes"
	"context"
	"fmt"
	"log/slog"
	"strings"
	"testing"
	"time"

	"github.com/sekisho/sekisho/policy/metrics"
	"github.com/sekisho/sekisho/policy/ratelimit/redistest"
)

// TestEnvStoreState: a Redis store that stops answering is logged once at
// WARN, however many calls fail, with its URL but not its password, and
// shows as down in sekisho_ratelimit_store_up until it is pruned.
func TestEnvStoreState(t *testing.T) {
	srv := redistest.StartServer(t, "s3cret")
	var logs bytes.Buffer
	env := &Env{Logger: slog.New(slog.NewTextHandler(&logs, nil)), Metrics: metrics.New("test")}
	defer env.Close()
	store, err := env.rateStore(srv.URL("s3cret"), 300*time.Millisecond)
	if err != nil {
		t.Fatal(err)
	}
	name := "redis://:xxxxx@" + srv.Addr + "/0"
	up := func() string {
		mfs, err := env.Metrics.Registry().Gather()
		if err != nil {
			t.Fatal(err)
		}
		for _, mf := range mfs {
			if mf.GetName() != "sekisho_ratelimit_store_up" {
				continue
			}
			var out []string
			for _, m := range mf.GetMetric() {
				out = append(out, fmt.Sprintf("%s=%g", m.GetLabel()[0].GetValue(), m.GetGauge().GetValue()))
			}
			return strings.Join(out, ",")
		}
		return ""
	}
	ctx := context.Background()
	if _, err := store.Count(ctx, "k", time.Minute); err != nil {
		t.Fatal(err)
	}
	if got := up(); got != name+"=1" {
		t.Errorf("store_up %q while up", got)
	}
	srv.Kill()
	for range 5 {
		if _, err := store.Count(ctx, "k", time.Minute); err == nil {
			t.Fatal("Count succeeded with the server gone")
		}
	}
	if got := up(); got != name+"=0" {
		t.Errorf("store_up %q while down", got)
	}
	out := logs.String()
	if n := strings.Count(out, "rate-limit store not answering"); n != 1 || !strings.Contains(out, "level=WARN") || !strings.Contains(out, "store="+name) {
		t.Errorf("want one WARN line naming %s, got:\n%s", name, out)
	}
	if strings.Contains(out, "s3cret") {
		t.Errorf("the log shows the password:\n%s", out)
	}
	if err := env.Prune(); err != nil {
		t.Fatal(err)
	}
	if got := up(); got != "" {
		t.Errorf("store_up %q after the store is pruned", got)
	}
}
