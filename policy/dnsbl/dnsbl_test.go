package dnsbl

import (
	"context"
	"errors"
	"net/netip"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/miekg/dns"

	"github.com/sekisho/sekisho/policy/internal/testkit"
)

var (
	listedIP = netip.MustParseAddr("127.0.0.2")
	cleanIP  = netip.MustParseAddr("192.0.2.1")
)

// one returns the single zone result of res.
func one(t *testing.T, res Result) ZoneResult {
	t.Helper()
	if len(res.Zones) != 1 {
		t.Fatalf("got %d zone results, want 1", len(res.Zones))
	}
	return res.Zones[0]
}

func TestListedWithTXT(t *testing.T) {
	srv := testkit.StartDNS(t, testkit.ZoneReply(map[string]testkit.Record{
		"2.0.0.127.bl.test.": {A: []string{"127.0.0.2", "127.0.0.4"}, TTL: 600, TXT: []string{"listed: ", "see https://bl.test/"}},
	}, 3600, 60))
	r := NewResolver(CacheConfig{})
	opt := Options{Server: srv.Addr, Timeout: time.Second}
	zones := []Zone{{Name: "bl.test", Weight: 5}}

	zr := one(t, r.Check(context.Background(), listedIP, zones, opt))
	if zr.Err != nil || !zr.Listed || zr.Cached {
		t.Fatalf("got %+v, want listed, not cached, no error", zr)
	}
	if zr.Zone != "bl.test" || zr.Weight != 5 {
		t.Errorf("zone %q weight %d, want bl.test 5", zr.Zone, zr.Weight)
	}
	want := []netip.Addr{netip.MustParseAddr("127.0.0.2"), netip.MustParseAddr("127.0.0.4")}
	if len(zr.Codes) != 2 || zr.Codes[0] != want[0] || zr.Codes[1] != want[1] {
		t.Errorf("codes %v, want %v", zr.Codes, want)
	}
	if zr.TXT != "listed: see https://bl.test/" {
		t.Errorf("TXT %q", zr.TXT)
	}
	if udp, _ := srv.Queries(dns.TypeTXT, "2.0.0.127.bl.test."); udp != 1 {
		t.Errorf("%d TXT queries, want 1", udp)
	}

	res := r.Check(context.Background(), listedIP, zones, opt)
	zr = one(t, res)
	if !zr.Listed || !zr.Cached || zr.TXT != "listed: see https://bl.test/" {
		t.Errorf("second check %+v, want listed from cache with TXT", zr)
	}
	if res.Score != 5 {
		t.Errorf("score %d, want 5", res.Score)
	}
	if n := srv.Total(); n != 2 {
		t.Errorf("server saw %d queries, want 2 (A and TXT)", n)
	}
	if s := r.Stats(); s.Queries != 2 || s.CacheHits != 1 || s.Errors != 0 {
		t.Errorf("stats %+v", s)
	}
}

func TestTXTFailureKeepsVerdict(t *testing.T) {
	reply := testkit.ZoneReply(map[string]testkit.Record{"2.0.0.127.bl.test.": {A: []string{"127.0.0.2"}, TTL: 600}}, 3600, 60)
	srv := testkit.StartDNS(t, func(req *dns.Msg, tcp bool) *dns.Msg {
		if req.Question[0].Qtype == dns.TypeTXT {
			m := new(dns.Msg)
			m.SetRcode(req, dns.RcodeServerFailure)
			return m
		}
		return reply(req, tcp)
	})
	r := NewResolver(CacheConfig{})
	zr := one(t, r.Check(context.Background(), listedIP, []Zone{{Name: "bl.test", Weight: 1}}, Options{Server: srv.Addr}))
	if !zr.Listed || zr.Err != nil || zr.TXT != "" {
		t.Errorf("got %+v, want listed without TXT", zr)
	}
}

func TestSlowTXTKeepsVerdict(t *testing.T) {
	reply := testkit.ZoneReply(map[string]testkit.Record{"2.0.0.127.bl.test.": {A: []string{"127.0.0.2"}, TTL: 600}}, 3600, 60)
	srv := testkit.StartDNS(t, func(req *dns.Msg, tcp bool) *dns.Msg {
		if req.Question[0].Qtype == dns.TypeTXT {
			return nil
		}
		return reply(req, tcp)
	})
	r := NewResolver(CacheConfig{})
	const timeout = 400 * time.Millisecond
	start := time.Now()
	zr := one(t, r.Check(context.Background(), listedIP, []Zone{{Name: "bl.test", Weight: 1}}, Options{Server: srv.Addr, Timeout: timeout}))
	if d := time.Since(start); d >= timeout {
		t.Errorf("Check took %v, want the TXT query cut short before %v", d, timeout)
	}
	if !zr.Listed || zr.Err != nil || zr.TXT != "" {
		t.Errorf("got %+v, want listed without TXT", zr)
	}
}

func TestNXDOMAINNegativeTTL(t *testing.T) {
	// RFC 2308: the negative TTL is min(SOA TTL, SOA MINIMUM) = 120 s.
	srv := testkit.StartDNS(t, testkit.ZoneReply(nil, 3600, 120))
	clk := testkit.NewClock(time.Date(2025, 1, 1, 0, 0, 0, 0, time.UTC))
	r := NewResolver(CacheConfig{Now: clk.Now})
	opt := Options{Server: srv.Addr}
	zones := []Zone{{Name: "bl.test", Weight: 1}}
	qname := QueryName(cleanIP, "bl.test")

	zr := one(t, r.Check(context.Background(), cleanIP, zones, opt))
	if zr.Listed || zr.Err != nil || zr.Cached || len(zr.Codes) != 0 {
		t.Fatalf("got %+v, want not listed", zr)
	}
	if udp, _ := srv.Queries(dns.TypeTXT, qname); udp != 0 {
		t.Errorf("%d TXT queries for a name not listed", udp)
	}
	clk.Advance(119 * time.Second)
	if zr := one(t, r.Check(context.Background(), cleanIP, zones, opt)); !zr.Cached || zr.Listed {
		t.Errorf("at 119 s got %+v, want cached negative", zr)
	}
	clk.Advance(time.Second)
	if zr := one(t, r.Check(context.Background(), cleanIP, zones, opt)); zr.Cached || zr.Listed || zr.Err != nil {
		t.Errorf("at 120 s got %+v, want a fresh negative", zr)
	}
	if udp, _ := srv.Queries(dns.TypeA, qname); udp != 2 {
		t.Errorf("%d A queries, want 2", udp)
	}
}

func TestNoDataWithoutSOA(t *testing.T) {
	srv := testkit.StartDNS(t, func(req *dns.Msg, _ bool) *dns.Msg {
		m := new(dns.Msg)
		m.SetReply(req)
		return m
	})
	clk := testkit.NewClock(time.Date(2025, 1, 1, 0, 0, 0, 0, time.UTC))
	r := NewResolver(CacheConfig{Now: clk.Now, NegativeTTL: 90 * time.Second})
	opt := Options{Server: srv.Addr}
	zones := []Zone{{Name: "bl.test", Weight: 1}}
	if zr := one(t, r.Check(context.Background(), cleanIP, zones, opt)); zr.Listed || zr.Err != nil {
		t.Fatalf("got %+v, want not listed", zr)
	}
	clk.Advance(89 * time.Second)
	if zr := one(t, r.Check(context.Background(), cleanIP, zones, opt)); !zr.Cached {
		t.Errorf("at 89 s got %+v, want cached", zr)
	}
	clk.Advance(time.Second)
	if zr := one(t, r.Check(context.Background(), cleanIP, zones, opt)); zr.Cached {
		t.Errorf("at 90 s got %+v, want a new query", zr)
	}
}

func TestUnexpectedCode(t *testing.T) {
	srv := testkit.StartDNS(t, testkit.ZoneReply(map[string]testkit.Record{
		"2.0.0.127.bl.test.": {A: []string{"127.255.255.254"}, TTL: 60, TXT: []string{"public resolver"}},
	}, 3600, 60))
	r := NewResolver(CacheConfig{})
	zr := one(t, r.Check(context.Background(), listedIP, []Zone{{Name: "bl.test", Weight: 5}}, Options{Server: srv.Addr}))
	if zr.Listed || !errors.Is(zr.Err, ErrUnexpectedCode) {
		t.Fatalf("got %+v, want not listed with ErrUnexpectedCode", zr)
	}
	if !strings.Contains(zr.Err.Error(), "127.255.255.254") {
		t.Errorf("error %q does not name the code", zr.Err)
	}
	if zr.TXT != "" {
		t.Errorf("TXT %q for a name not listed", zr.TXT)
	}
	if udp, _ := srv.Queries(dns.TypeTXT, "2.0.0.127.bl.test."); udp != 0 {
		t.Errorf("%d TXT queries, want 0", udp)
	}
	zr = one(t, r.Check(context.Background(), listedIP, []Zone{{Name: "bl.test", Weight: 5}}, Options{Server: srv.Addr}))
	if !zr.Cached || zr.Listed || !errors.Is(zr.Err, ErrUnexpectedCode) {
		t.Errorf("second check %+v, want the same verdict from cache", zr)
	}
}

func TestErrorRcodesNotCached(t *testing.T) {
	for _, rcode := range []int{dns.RcodeServerFailure, dns.RcodeRefused, dns.RcodeFormatError} {
		t.Run(dns.RcodeToString[rcode], func(t *testing.T) {
			srv := testkit.StartDNS(t, testkit.ZoneReply(map[string]testkit.Record{"2.0.0.127.bl.test.": {Rcode: rcode}}, 3600, 60))
			r := NewResolver(CacheConfig{})
			zones := []Zone{{Name: "bl.test", Weight: 5}}
			for i := range 2 {
				res := r.Check(context.Background(), listedIP, zones, Options{Server: srv.Addr})
				zr := one(t, res)
				if zr.Listed || zr.Cached || !errors.Is(zr.Err, ErrRcode) || res.Score != 0 {
					t.Fatalf("check %d: got %+v score %d, want an rcode error", i, zr, res.Score)
				}
				if !strings.Contains(zr.Err.Error(), dns.RcodeToString[rcode]) {
					t.Errorf("error %q does not name the rcode", zr.Err)
				}
				if len(res.Errors()) != 1 || len(res.Listed()) != 0 {
					t.Errorf("Errors() %d, Listed() %d", len(res.Errors()), len(res.Listed()))
				}
			}
			if udp, _ := srv.Queries(dns.TypeA, "2.0.0.127.bl.test."); udp != 2 {
				t.Errorf("%d queries, want 2: an error must not be cached", udp)
			}
			if s := r.Stats(); s.Errors != 2 {
				t.Errorf("stats %+v, want 2 errors", s)
			}
		})
	}
}

func TestTimeout(t *testing.T) {
	srv := testkit.StartDNS(t, func(*dns.Msg, bool) *dns.Msg { return nil })
	r := NewResolver(CacheConfig{})
	zones := []Zone{{Name: "a.test", Weight: 1}, {Name: "b.test", Weight: 1}}
	const timeout = 300 * time.Millisecond
	start := time.Now()
	res := r.Check(context.Background(), listedIP, zones, Options{Server: srv.Addr, Timeout: timeout})
	if d := time.Since(start); d < timeout || d > timeout+100*time.Millisecond {
		t.Errorf("Check took %v, want about %v", d, timeout)
	}
	for _, zr := range res.Zones {
		if zr.Listed || !errors.Is(zr.Err, ErrTimeout) {
			t.Errorf("got %+v, want ErrTimeout", zr)
		}
	}
	if n := srv.Total(); n != 2 {
		t.Errorf("%d queries, want 2", n)
	}
}

func TestContextBoundsCheck(t *testing.T) {
	srv := testkit.StartDNS(t, func(*dns.Msg, bool) *dns.Msg { return nil })
	r := NewResolver(CacheConfig{})
	zones := []Zone{{Name: "a.test", Weight: 1}}

	ctx, cancel := context.WithTimeout(context.Background(), 100*time.Millisecond)
	defer cancel()
	start := time.Now()
	zr := one(t, r.Check(ctx, listedIP, zones, Options{Server: srv.Addr, Timeout: 5 * time.Second}))
	if d := time.Since(start); d > 300*time.Millisecond {
		t.Errorf("Check took %v past a 100 ms context", d)
	}
	if !errors.Is(zr.Err, ErrTimeout) {
		t.Errorf("got %v, want ErrTimeout", zr.Err)
	}

	ctx, cancel = context.WithCancel(context.Background())
	cancel()
	zr = one(t, r.Check(ctx, cleanIP, zones, Options{Server: srv.Addr, Timeout: 5 * time.Second}))
	if !errors.Is(zr.Err, context.Canceled) {
		t.Errorf("got %v, want context.Canceled", zr.Err)
	}
}

func TestQueryName(t *testing.T) {
	v6 := "1.0.0.0.0.0.0.0.0.0.0.0.0.0.0.0.0.0.0.0.0.0.0.0.8.b.d.0.1.0.0.2"
	tests := []struct {
		ip, zone, want string
	}{
		{"127.0.0.2", "zen.spamhaus.org", "2.0.0.127.zen.spamhaus.org."},
		{"192.0.2.99", "bl.test.", "99.2.0.192.bl.test."},
		{"255.255.0.10", "bl.test", "10.0.255.255.bl.test."},
		{"::ffff:192.0.2.1", "bl.test", "1.2.0.192.bl.test."},
		{"::1", "bl.test", "1.0.0.0.0.0.0.0.0.0.0.0.0.0.0.0.0.0.0.0.0.0.0.0.0.0.0.0.0.0.0.0.bl.test."},
		{"2001:db8::1", "bl.test", v6 + ".bl.test."},
		{"2001:DB8::1", "bl.test", v6 + ".bl.test."},
		{"fe80::1%eth0", "bl.test", "1.0.0.0.0.0.0.0.0.0.0.0.0.0.0.0.0.0.0.0.0.0.0.0.0.0.0.0.0.8.e.f.bl.test."},
	}
	for _, tt := range tests {
		if got := QueryName(netip.MustParseAddr(tt.ip), tt.zone); got != tt.want {
			t.Errorf("QueryName(%s, %s) = %q, want %q", tt.ip, tt.zone, got, tt.want)
		}
	}
	if got := QueryName(netip.Addr{}, "bl.test"); got != "" {
		t.Errorf("QueryName of an invalid address = %q, want empty", got)
	}
}

func TestIPv6Lookup(t *testing.T) {
	ip := netip.MustParseAddr("2001:db8::1")
	srv := testkit.StartDNS(t, testkit.ZoneReply(map[string]testkit.Record{
		QueryName(ip, "bl6.test"): {A: []string{"127.0.0.2"}, TTL: 60, TXT: []string{"v6"}},
	}, 3600, 60))
	r := NewResolver(CacheConfig{})
	zr := one(t, r.Check(context.Background(), ip, []Zone{{Name: "bl6.test", Weight: 1}}, Options{Server: srv.Addr}))
	if !zr.Listed || zr.TXT != "v6" {
		t.Errorf("got %+v, want listed", zr)
	}
}

func TestMappedAddressSharesCache(t *testing.T) {
	srv := testkit.StartDNS(t, testkit.ZoneReply(map[string]testkit.Record{"2.0.0.127.bl.test.": {A: []string{"127.0.0.2"}, TTL: 60}}, 3600, 60))
	r := NewResolver(CacheConfig{})
	zones := []Zone{{Name: "bl.test", Weight: 1}}
	opt := Options{Server: srv.Addr}
	r.Check(context.Background(), listedIP, zones, opt)
	zr := one(t, r.Check(context.Background(), netip.MustParseAddr("::ffff:127.0.0.2"), []Zone{{Name: "BL.test.", Weight: 1}}, opt))
	if !zr.Listed || !zr.Cached {
		t.Errorf("got %+v, want listed from cache", zr)
	}
}

func TestScoreAndWeights(t *testing.T) {
	srv := testkit.StartDNS(t, testkit.ZoneReply(map[string]testkit.Record{
		"2.0.0.127.block1.test.": {A: []string{"127.0.0.2"}, TTL: 60},
		"2.0.0.127.block2.test.": {A: []string{"127.0.0.3"}, TTL: 60},
		"2.0.0.127.allow.test.":  {A: []string{"127.0.0.2"}, TTL: 60},
		"2.0.0.127.broken.test.": {Rcode: dns.RcodeServerFailure},
	}, 3600, 60))
	r := NewResolver(CacheConfig{})
	zones := []Zone{
		{Name: "block1.test", Weight: 3},
		{Name: "block2.test", Weight: 2},
		{Name: "clean.test", Weight: 7},
		{Name: "allow.test", Weight: -10},
		{Name: "broken.test", Weight: 4},
	}
	res := r.Check(context.Background(), listedIP, zones, Options{Server: srv.Addr})
	if res.Score != -5 {
		t.Errorf("score %d, want -5", res.Score)
	}
	for i, z := range zones {
		if res.Zones[i].Zone != z.Name || res.Zones[i].Weight != z.Weight {
			t.Errorf("result %d is %s/%d, want %s/%d", i, res.Zones[i].Zone, res.Zones[i].Weight, z.Name, z.Weight)
		}
	}
	var listed []string
	for _, zr := range res.Listed() {
		listed = append(listed, zr.Zone)
	}
	if got := strings.Join(listed, ","); got != "block1.test,block2.test,allow.test" {
		t.Errorf("Listed() = %s", got)
	}
	if errs := res.Errors(); len(errs) != 1 || errs[0].Zone != "broken.test" {
		t.Errorf("Errors() = %+v", errs)
	}
}

func TestListedRanges(t *testing.T) {
	ranges := []Range{mustRange(t, "127.0.0.2-127.0.0.11")}
	tests := []struct {
		codes    []string
		listed   bool
		unexpect bool
	}{
		{[]string{"127.0.0.2"}, true, false},
		{[]string{"127.0.0.11"}, true, false},
		{[]string{"127.0.0.20"}, false, true},
		{[]string{"127.0.0.20", "127.0.0.3"}, true, false},
		{[]string{"127.0.0.1"}, false, true},
	}
	for _, tt := range tests {
		t.Run(strings.Join(tt.codes, ","), func(t *testing.T) {
			srv := testkit.StartDNS(t, testkit.ZoneReply(map[string]testkit.Record{"2.0.0.127.bl.test.": {A: tt.codes, TTL: 60}}, 3600, 60))
			r := NewResolver(CacheConfig{})
			res := r.Check(context.Background(), listedIP, []Zone{{Name: "bl.test", Weight: 2, Listed: ranges}}, Options{Server: srv.Addr})
			zr := one(t, res)
			if zr.Listed != tt.listed || errors.Is(zr.Err, ErrUnexpectedCode) != tt.unexpect {
				t.Errorf("got listed %v err %v, want listed %v unexpected %v", zr.Listed, zr.Err, tt.listed, tt.unexpect)
			}
			if len(zr.Codes) != len(tt.codes) {
				t.Errorf("codes %v, want all of %v", zr.Codes, tt.codes)
			}
		})
	}
}

func TestDefaultListedRange(t *testing.T) {
	for code, listed := range map[string]bool{
		"127.0.0.2": true, "127.1.2.3": true, "127.255.254.255": true,
		"127.255.255.252": false, "127.255.255.255": false, "10.0.0.1": false,
	} {
		if got := anyIn([]netip.Addr{netip.MustParseAddr(code)}, defaultListed); got != listed {
			t.Errorf("%s listed %v, want %v", code, got, listed)
		}
	}
}

func TestTTLExpiryAndClamping(t *testing.T) {
	tests := []struct {
		name string
		ttl  uint32
		keep time.Duration
	}{
		{"record TTL", 300, 300 * time.Second},
		{"below MinTTL", 5, 30 * time.Second},
		{"above MaxTTL", 86400, time.Hour},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			srv := testkit.StartDNS(t, testkit.ZoneReply(map[string]testkit.Record{"2.0.0.127.bl.test.": {A: []string{"127.0.0.2"}, TTL: tt.ttl}}, 3600, 60))
			clk := testkit.NewClock(time.Date(2025, 1, 1, 0, 0, 0, 0, time.UTC))
			r := NewResolver(CacheConfig{Now: clk.Now, MinTTL: 30 * time.Second, MaxTTL: time.Hour})
			zones := []Zone{{Name: "bl.test", Weight: 1}}
			opt := Options{Server: srv.Addr}
			r.Check(context.Background(), listedIP, zones, opt)
			clk.Advance(tt.keep - time.Second)
			if zr := one(t, r.Check(context.Background(), listedIP, zones, opt)); !zr.Cached || !zr.Listed {
				t.Errorf("1 s before expiry got %+v, want cached", zr)
			}
			clk.Advance(time.Second)
			if zr := one(t, r.Check(context.Background(), listedIP, zones, opt)); zr.Cached || !zr.Listed {
				t.Errorf("at expiry got %+v, want a new query", zr)
			}
			if udp, _ := srv.Queries(dns.TypeA, "2.0.0.127.bl.test."); udp != 2 {
				t.Errorf("%d A queries, want 2", udp)
			}
		})
	}
}

func TestNegativeTTLClamped(t *testing.T) {
	srv := testkit.StartDNS(t, testkit.ZoneReply(nil, 0, 0))
	clk := testkit.NewClock(time.Date(2025, 1, 1, 0, 0, 0, 0, time.UTC))
	r := NewResolver(CacheConfig{Now: clk.Now, MinTTL: 45 * time.Second})
	zones := []Zone{{Name: "bl.test", Weight: 1}}
	opt := Options{Server: srv.Addr}
	r.Check(context.Background(), cleanIP, zones, opt)
	clk.Advance(44 * time.Second)
	if zr := one(t, r.Check(context.Background(), cleanIP, zones, opt)); !zr.Cached {
		t.Errorf("an SOA MINIMUM of 0 must still be kept MinTTL: %+v", zr)
	}
}

func TestTruncatedRetriesOverTCP(t *testing.T) {
	full := testkit.ZoneReply(map[string]testkit.Record{"2.0.0.127.bl.test.": {A: []string{"127.0.0.2"}, TTL: 60, TXT: []string{"over tcp"}}}, 3600, 60)
	srv := testkit.StartDNS(t, func(req *dns.Msg, tcp bool) *dns.Msg {
		if tcp {
			return full(req, tcp)
		}
		m := new(dns.Msg)
		m.SetReply(req)
		m.Truncated = true
		return m
	})
	r := NewResolver(CacheConfig{})
	zr := one(t, r.Check(context.Background(), listedIP, []Zone{{Name: "bl.test", Weight: 1}}, Options{Server: srv.Addr}))
	if !zr.Listed || zr.TXT != "over tcp" || zr.Err != nil {
		t.Fatalf("got %+v, want listed over TCP", zr)
	}
	if udp, tcp := srv.Queries(dns.TypeA, "2.0.0.127.bl.test."); udp != 1 || tcp != 1 {
		t.Errorf("A queries: %d UDP, %d TCP, want 1 and 1", udp, tcp)
	}
	if s := r.Stats(); s.Queries != 4 {
		t.Errorf("stats %+v, want 4 queries", s)
	}
}

func TestConcurrentMissesShareOneQuery(t *testing.T) {
	srv := testkit.StartDNS(t, testkit.ZoneReply(map[string]testkit.Record{
		"2.0.0.127.a.test.": {A: []string{"127.0.0.2"}, TTL: 60, TXT: []string{"a"}},
	}, 3600, 60))
	srv.SetDelay(100 * time.Millisecond)
	r := NewResolver(CacheConfig{})
	zones := []Zone{{Name: "a.test", Weight: 1}, {Name: "b.test", Weight: 1}}
	opt := Options{Server: srv.Addr}

	var wg sync.WaitGroup
	results := make([]Result, 100)
	for i := range results {
		wg.Go(func() { results[i] = r.Check(context.Background(), listedIP, zones, opt) })
	}
	wg.Wait()
	for i, res := range results {
		if !res.Zones[0].Listed || res.Zones[0].TXT != "a" || res.Zones[1].Listed || res.Zones[1].Err != nil {
			t.Fatalf("check %d: %+v", i, res.Zones)
		}
	}
	for _, name := range []string{"2.0.0.127.a.test.", "2.0.0.127.b.test."} {
		if udp, _ := srv.Queries(dns.TypeA, name); udp != 1 {
			t.Errorf("%s: %d A queries, want 1", name, udp)
		}
	}
	if n := srv.Total(); n != 3 {
		t.Errorf("server saw %d queries, want 3", n)
	}
}

func TestZonesQueriedInParallel(t *testing.T) {
	srv := testkit.StartDNS(t, testkit.ZoneReply(nil, 3600, 60))
	srv.SetDelay(200 * time.Millisecond)
	r := NewResolver(CacheConfig{})
	zones := []Zone{{Name: "a.test", Weight: 1}, {Name: "b.test", Weight: 1}, {Name: "c.test", Weight: 1}}
	start := time.Now()
	res := r.Check(context.Background(), cleanIP, zones, Options{Server: srv.Addr})
	d := time.Since(start)
	if len(res.Errors()) != 0 {
		t.Fatalf("errors: %+v", res.Errors())
	}
	if d > 400*time.Millisecond {
		t.Errorf("3 zones of 200 ms took %v: not parallel", d)
	}
}

func TestCacheKeyIncludesServer(t *testing.T) {
	listing := testkit.StartDNS(t, testkit.ZoneReply(map[string]testkit.Record{"2.0.0.127.bl.test.": {A: []string{"127.0.0.2"}, TTL: 600}}, 3600, 60))
	clean := testkit.StartDNS(t, testkit.ZoneReply(nil, 3600, 600))
	r := NewResolver(CacheConfig{})
	zones := []Zone{{Name: "bl.test", Weight: 1}}
	if zr := one(t, r.Check(context.Background(), listedIP, zones, Options{Server: listing.Addr})); !zr.Listed {
		t.Fatalf("got %+v, want listed", zr)
	}
	if zr := one(t, r.Check(context.Background(), listedIP, zones, Options{Server: clean.Addr})); zr.Listed || zr.Cached {
		t.Errorf("another server got %+v, want its own answer", zr)
	}
}

func TestCacheDisabled(t *testing.T) {
	srv := testkit.StartDNS(t, testkit.ZoneReply(nil, 3600, 600))
	r := NewResolver(CacheConfig{Size: -1})
	zones := []Zone{{Name: "bl.test", Weight: 1}}
	for range 3 {
		if zr := one(t, r.Check(context.Background(), cleanIP, zones, Options{Server: srv.Addr})); zr.Cached {
			t.Errorf("cached %+v with the cache disabled", zr)
		}
	}
	if n := srv.Total(); n != 3 {
		t.Errorf("%d queries, want 3", n)
	}
}

func TestCacheSizeBounded(t *testing.T) {
	srv := testkit.StartDNS(t, testkit.ZoneReply(nil, 3600, 600))
	r := NewResolver(CacheConfig{Size: 2})
	zones := []Zone{{Name: "bl.test", Weight: 1}}
	opt := Options{Server: srv.Addr}
	for _, ip := range []string{"192.0.2.1", "192.0.2.2", "192.0.2.3", "192.0.2.1"} {
		r.Check(context.Background(), netip.MustParseAddr(ip), zones, opt)
	}
	if n := r.cache.Len(); n != 2 {
		t.Errorf("cache holds %d entries, want 2", n)
	}
	if n := srv.Total(); n != 4 {
		t.Errorf("%d queries, want 4: the oldest entry must have been evicted", n)
	}
}

func TestInvalidAddress(t *testing.T) {
	r := NewResolver(CacheConfig{})
	res := r.Check(context.Background(), netip.Addr{}, []Zone{{Name: "bl.test", Weight: 1}}, Options{Server: "127.0.0.1:1"})
	if zr := one(t, res); !errors.Is(zr.Err, errInvalidAddr) || zr.Listed {
		t.Errorf("got %+v, want an invalid address error", zr)
	}
	if res := r.Check(context.Background(), listedIP, nil, Options{}); len(res.Zones) != 0 || res.Score != 0 {
		t.Errorf("no zones gave %+v", res)
	}
}

func TestServerAddress(t *testing.T) {
	dir := t.TempDir()
	conf := filepath.Join(dir, "resolv.conf")
	if err := os.WriteFile(conf, []byte("search example.test\nnameserver 192.0.2.53\nnameserver 192.0.2.54\n"), 0o644); err != nil {
		t.Fatal(err)
	}
	r := NewResolver(CacheConfig{})
	r.resolvConf = conf
	tests := map[string]string{
		"":               "192.0.2.53:53",
		"127.0.0.1:5353": "127.0.0.1:5353",
		"127.0.0.1":      "127.0.0.1:53",
		"::1":            "[::1]:53",
		"[::1]":          "[::1]:53",
		"[::1]:5353":     "[::1]:5353",
	}
	for in, want := range tests {
		if got, err := r.server(in); err != nil || got != want {
			t.Errorf("server(%q) = %q, %v; want %q", in, got, err, want)
		}
	}

	r = NewResolver(CacheConfig{})
	r.resolvConf = filepath.Join(dir, "missing")
	res := r.Check(context.Background(), listedIP, []Zone{{Name: "bl.test", Weight: 1}}, Options{})
	if zr := one(t, res); zr.Err == nil || !errors.Is(zr.Err, os.ErrNotExist) {
		t.Errorf("got %+v, want the resolv.conf error", zr)
	}
}

func TestNetworkError(t *testing.T) {
	r := NewResolver(CacheConfig{})
	// Port 99999 cannot be dialled.
	zr := one(t, r.Check(context.Background(), listedIP, []Zone{{Name: "bl.test", Weight: 1}}, Options{Server: "127.0.0.1:99999", Timeout: time.Second}))
	if zr.Err == nil || zr.Listed {
		t.Errorf("got %+v, want a network error", zr)
	}
}

func mustRange(t *testing.T, s string) Range {
	t.Helper()
	r, err := ParseRange(s)
	if err != nil {
		t.Fatal(err)
	}
	return r
}
