package dnsbl

import (
	"context"
	"net/netip"
	"strings"
	"testing"
	"time"

	"github.com/miekg/dns"
	"github.com/prometheus/client_golang/prometheus/testutil"

	"github.com/sekisho/sekisho/policy/internal/testkit"
	"github.com/sekisho/sekisho/policy/metrics"
)

// TestMetrics: each zone of each Check is counted once by result (listed,
// clean, error) and once as a cache hit or miss.
func TestMetrics(t *testing.T) {
	srv := testkit.StartDNS(t, func(req *dns.Msg, tcp bool) *dns.Msg {
		if strings.HasSuffix(req.Question[0].Name, "fail.test.") {
			m := new(dns.Msg)
			m.SetReply(req)
			m.Rcode = dns.RcodeServerFailure
			return m
		}
		return testkit.ZoneReply(map[string]testkit.Record{
			"2.0.0.127.bl.test.": {A: []string{"127.0.0.2"}, TTL: 600},
		}, 3600, 60)(req, tcp)
	})
	m := metrics.New("test")
	r := NewResolver(CacheConfig{Metrics: m})
	zones := []Zone{{Name: "bl.test", Weight: 1}, {Name: "fail.test", Weight: 1}}
	opt := Options{Server: srv.Addr, Timeout: time.Second}
	r.Check(context.Background(), listedIP, zones, opt)                         // bl.test: listed, miss
	r.Check(context.Background(), listedIP, zones, opt)                         // bl.test: listed, hit
	r.Check(context.Background(), cleanIP, zones, opt)                          // bl.test: clean, miss
	r.Check(context.Background(), netip.Addr{}, []Zone{{Name: "bl.test"}}, opt) // bl.test: error, no cache

	want := `
# HELP sekisho_dnsbl_lookups_total DNSBL lookups by zone and result: listed, clean, or error (no answer, an error rcode, or an answer outside the zone's codes).
# TYPE sekisho_dnsbl_lookups_total counter
sekisho_dnsbl_lookups_total{result="clean",zone="bl.test"} 1
sekisho_dnsbl_lookups_total{result="error",zone="bl.test"} 1
sekisho_dnsbl_lookups_total{result="error",zone="fail.test"} 3
sekisho_dnsbl_lookups_total{result="listed",zone="bl.test"} 2
`
	if err := testutil.GatherAndCompare(m.Registry(), strings.NewReader(want), "sekisho_dnsbl_lookups_total"); err != nil {
		t.Error(err)
	}
	// Errors are never cached: fail.test misses every time. The lookup of
	// an invalid address used no cache and is not counted there.
	wantCache := `
# HELP sekisho_dnsbl_cache_total DNSBL lookups answered from the cache (hit), or by a query of their own or one already under way (miss), by zone.
# TYPE sekisho_dnsbl_cache_total counter
sekisho_dnsbl_cache_total{result="hit",zone="bl.test"} 1
sekisho_dnsbl_cache_total{result="miss",zone="bl.test"} 2
sekisho_dnsbl_cache_total{result="miss",zone="fail.test"} 3
`
	if err := testutil.GatherAndCompare(m.Registry(), strings.NewReader(wantCache), "sekisho_dnsbl_cache_total"); err != nil {
		t.Error(err)
	}
}
