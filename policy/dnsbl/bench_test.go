package dnsbl

import (
	"context"
	"net/netip"
	"testing"

	"github.com/miekg/dns"

	"github.com/sekisho/sekisho/policy/internal/testkit"
)

var benchZones = []Zone{
	{Name: "block1.test", Weight: 3},
	{Name: "block2.test", Weight: 2},
	{Name: "allow.test", Weight: -10},
}

func BenchmarkCheckCached(b *testing.B) {
	srv := testkit.StartDNS(b, testkit.ZoneReply(map[string]testkit.Record{
		"2.0.0.127.block1.test.": {A: []string{"127.0.0.2"}, TTL: 3600, TXT: []string{"listed"}},
	}, 3600, 3600))
	r := NewResolver(CacheConfig{})
	opt := Options{Server: srv.Addr}
	ctx := context.Background()
	if res := r.Check(ctx, listedIP, benchZones, opt); res.Score != 3 || len(res.Errors()) != 0 {
		b.Fatalf("warm-up: %+v", res)
	}
	b.ReportAllocs()
	for b.Loop() {
		r.Check(ctx, listedIP, benchZones, opt)
	}
	if n := srv.Total(); n != 4 {
		b.Fatalf("server saw %d queries, want only the warm-up's 4", n)
	}
}

func BenchmarkCheckCold(b *testing.B) {
	srv := testkit.StartDNS(b, func(req *dns.Msg, _ bool) *dns.Msg {
		m := new(dns.Msg)
		m.SetRcode(req, dns.RcodeNameError)
		return m
	})
	r := NewResolver(CacheConfig{Size: -1})
	opt := Options{Server: srv.Addr}
	ctx := context.Background()
	ip := netip.MustParseAddr("10.0.0.0")
	b.ReportAllocs()
	for b.Loop() {
		ip = ip.Next()
		if res := r.Check(ctx, ip, benchZones, opt); len(res.Errors()) != 0 {
			b.Fatalf("%+v", res.Errors())
		}
	}
}
