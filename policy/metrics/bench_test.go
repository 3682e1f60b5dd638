package metrics_test

import (
	"testing"
	"time"

	"github.com/prometheus/client_golang/prometheus"

	"github.com/sekisho/sekisho/policy/metrics"
)

// The calls made for every message: each must cost tens of nanoseconds and
// allocate nothing once its series exists.

func BenchmarkDecision(b *testing.B) {
	m := metrics.New("bench")
	b.ReportAllocs()
	b.RunParallel(func(pb *testing.PB) {
		for pb.Next() {
			m.Decision("send_only", "reject", "rcpt", false)
		}
	})
}

func BenchmarkMessage(b *testing.B) {
	m := metrics.New("bench")
	b.ReportAllocs()
	for b.Loop() {
		m.Message("quarantine")
	}
}

func BenchmarkStageSeconds(b *testing.B) {
	m := metrics.New("bench")
	b.ReportAllocs()
	for b.Loop() {
		m.StageSeconds("rcpt", 120*time.Microsecond)
	}
}

func BenchmarkDNSBL(b *testing.B) {
	m := metrics.New("bench")
	b.ReportAllocs()
	for b.Loop() {
		m.DNSBLLookup("zen.spamhaus.org", "clean")
		m.DNSBLCache("zen.spamhaus.org", true)
	}
}

func BenchmarkSession(b *testing.B) {
	m := metrics.New("bench")
	b.ReportAllocs()
	for b.Loop() {
		m.SessionStart()
		m.SessionEnd()
	}
}

// BenchmarkNil is what instrumented code pays with metrics off.
func BenchmarkNil(b *testing.B) {
	var m *metrics.Metrics
	b.ReportAllocs()
	for b.Loop() {
		m.Decision("send_only", "reject", "rcpt", false)
		m.StageSeconds("rcpt", time.Microsecond)
	}
}

func BenchmarkDecisionSerial(b *testing.B) {
	m := metrics.New("bench")
	b.ReportAllocs()
	for b.Loop() {
		m.Decision("send_only", "reject", "rcpt", false)
	}
}

// BenchmarkWithLabelValues is the vector's own lookup, which Decision
// avoids.
func BenchmarkWithLabelValues(b *testing.B) {
	v := prometheus.NewCounterVec(prometheus.CounterOpts{Name: "x_total", Help: "x"}, []string{"rule", "action", "stage"})
	b.ReportAllocs()
	for b.Loop() {
		v.WithLabelValues("send_only", "reject", "rcpt").Inc()
	}
}
