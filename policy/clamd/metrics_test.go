package clamd

import (
	"context"
	"io"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/prometheus/client_golang/prometheus/testutil"

	"github.com/sekisho/sekisho/policy/metrics"
)

// TestKind classifies each way a scan can fail as the metrics count it.
func TestKind(t *testing.T) {
	scan := func(c *Client) error {
		_, err := c.Scan(context.Background(), strings.NewReader("message"))
		return err
	}
	slow := startFake(t, "tcp", silent)
	slow.Timeout = 100 * time.Millisecond
	for _, tt := range []struct {
		name string
		err  error
		want string
	}{
		{"no socket", scan(&Client{Network: "unix", Address: filepath.Join(t.TempDir(), "missing.sock"), Timeout: time.Second}), "connect"},
		{"silent", scan(slow), "timeout"},
		{"size limit", scan(startFake(t, "tcp", sizeLimited(3))), "size_limit"},
		{"garbage reply", scan(startFake(t, "tcp", scanner("hello\x00", nil, nil))), "protocol"},
		{"clamd error", scan(startFake(t, "tcp", scanner("stream: Can't allocate memory ERROR\x00", nil, nil))), "other"},
		{"closed without a reply", scan(startFake(t, "tcp", scanner("", nil, nil))), "other"},
	} {
		if tt.err == nil {
			t.Errorf("%s: no error", tt.name)
			continue
		}
		if got := Kind(tt.err); got != tt.want {
			t.Errorf("%s: Kind(%v) = %s, want %s", tt.name, tt.err, got, tt.want)
		}
	}
}

// TestScanDuration: each verdict, by stream or by session, is timed once;
// a scan that ends in an error is not.
func TestScanDuration(t *testing.T) {
	m := metrics.New("test")
	c := startFake(t, "tcp", scanner("stream: OK\x00", nil, nil))
	c.Metrics = m
	for range 2 {
		if _, err := c.Scan(context.Background(), strings.NewReader("message")); err != nil {
			t.Fatal(err)
		}
	}
	sc := startFake(t, "tcp", sessionServer(func([]byte) string { return "stream: OK" }, 0))
	sc.Metrics = m
	s, err := sc.NewSession(context.Background())
	if err != nil {
		t.Fatal(err)
	}
	for range 3 {
		w, _ := s.Scan()
		io.WriteString(w, "part")
		w.Close()
	}
	if _, err := s.End(); err != nil {
		t.Fatal(err)
	}
	bad := startFake(t, "tcp", sizeLimited(3))
	bad.Metrics = m
	if _, err := bad.Scan(context.Background(), strings.NewReader("message")); err == nil {
		t.Fatal("no error over the size limit")
	}
	if n := testutil.CollectAndCount(m.Registry(), "sekisho_clamd_scan_duration_seconds"); n != 1 {
		t.Fatalf("%d series, want 1", n)
	}
	mfs, err := m.Registry().Gather()
	if err != nil {
		t.Fatal(err)
	}
	for _, mf := range mfs {
		if mf.GetName() == "sekisho_clamd_scan_duration_seconds" {
			if got := mf.GetMetric()[0].GetHistogram().GetSampleCount(); got != 3 {
				t.Errorf("%d scans timed, want 3 (two streams, one session)", got)
			}
		}
	}
}
