package policy_test

import (
	"context"
	"fmt"
	"regexp"
	"strings"
	"testing"
	"time"

	"github.com/sekisho/sekisho/policy"
	"github.com/sekisho/sekisho/policy/internal/testkit"
	"github.com/sekisho/sekisho/policy/metrics"
	"github.com/sekisho/sekisho/policy/ratelimit/redistest"
)

// TestVirusCache: in parts mode a part's verdict is kept by the SHA-256 of
// its bytes and clamd's signature version. The same attachment again
// costs no scan; new signatures, an error, a part too big to hold or cut
// at max_scan_size, and cache = "off" each mean a scan.
func TestVirusCache(t *testing.T) {
	clean := partsMail(t, "hello", "application/pdf", "%PDF-1.7 the same report")
	infected := partsMail(t, "hello", "application/octet-stream", eicar)
	scans := func(c *fakeClamd) int { _, n, _ := c.counts(); return n }

	t.Run("kept", func(t *testing.T) {
		clamd := startClamd(t, "")
		env, clock := clockEnv(time.Date(2026, 12, 7, 9, 0, 0, 0, time.UTC))
		e := newEngine(t, "[rules.virus]\naddress = \"inet:"+clamd.addr+"\"\n", env)
		for i := range 3 {
			v, _ := scanParts(e, clean)
			expectContinue(t, v)
			if n := scans(clamd); n != 1 {
				t.Fatalf("message %d: %d scans, want 1", i+1, n)
			}
		}
		for i := range 2 {
			v, _ := scanParts(e, infected)
			expect(t, v, "virus", policy.Reject, virusReply, "clamd found Eicar-Test-Signature in")
			if cached := strings.Contains(v.Reason, "kept from an earlier scan"); cached != (i == 1) {
				t.Errorf("message %d: reason %q", i+1, v.Reason)
			}
		}
		if n := scans(clamd); n != 2 {
			t.Errorf("%d scans, want 2", n)
		}
		// A reload keeps the verdicts: the cache is the process's.
		e = newEngine(t, "[rules.virus]\naddress = \"inet:"+clamd.addr+"\"\n", env)
		scanParts(e, clean)
		if n := scans(clamd); n != 2 {
			t.Errorf("after a reload: %d scans, want 2", n)
		}
		// New signatures: asked within a minute, and nothing kept
		// before counts.
		clamd.setVersion("ClamAV 1.4.6/27481/Mon Dec  7 10:00:00 2026")
		clock.Advance(2 * time.Minute)
		scanParts(e, clean)
		if n := scans(clamd); n != 3 {
			t.Errorf("after a signature update: %d scans, want 3", n)
		}
		scanParts(e, clean)
		if n := scans(clamd); n != 3 {
			t.Errorf("again after the update: %d scans, want 3", n)
		}
	})
	t.Run("held in several pieces", func(t *testing.T) {
		// A part of 200 KB is held in several chunks while it is hashed,
		// then sent whole: clamd gets every byte, EICAR at its end too.
		clamd := startClamd(t, "")
		content := strings.Repeat("%PDF-1.7 filler line\n", 200000/21) + eicar
		big := partsMail(t, "hello", "application/octet-stream", content)
		e := newEngine(t, "[rules.virus]\naddress = \"inet:"+clamd.addr+"\"\n", nil)
		for i := range 2 {
			v, _ := scanParts(e, big)
			expect(t, v, "virus", policy.Reject, virusReply, "clamd found Eicar-Test-Signature in")
			if _, n, data := clamd.counts(); n != 1 || data != len(content) {
				t.Errorf("message %d: clamd got %d scans, %d bytes; want 1 scan of %d bytes", i+1, n, data, len(content))
			}
		}
	})
	t.Run("errors are not kept", func(t *testing.T) {
		clamd := startClamd(t, "INSTREAM size limit exceeded. ERROR")
		e := newEngine(t, "[rules.virus]\naddress = \"inet:"+clamd.addr+"\"\n", nil)
		v, _ := scanParts(e, clean)
		expect(t, v, "virus", policy.Tempfail, servFailReply)
		clamd.setReply("")
		v, _ = scanParts(e, infected)
		expect(t, v, "virus", policy.Reject, virusReply)
		v, _ = scanParts(e, clean)
		expectContinue(t, v)
		if n := scans(clamd); n != 3 {
			t.Errorf("%d scans, want 3", n)
		}
	})
	for name, cfg := range map[string]string{
		"off":                  `cache = "off"`,
		"over cache_part_size": `cache_part_size = "16B"`,
		"cut at max_scan_size": `max_scan_size = "16B"`,
	} {
		t.Run(name, func(t *testing.T) {
			clamd := startClamd(t, "")
			e := newEngine(t, "[rules.virus]\naddress = \"inet:"+clamd.addr+"\"\n"+cfg+"\n", nil)
			scanParts(e, clean)
			scanParts(e, clean)
			if n := scans(clamd); n != 2 {
				t.Errorf("%d scans, want 2", n)
			}
		})
	}
	t.Run("no signature version", func(t *testing.T) {
		// A clamd that answers no database version: nothing is kept.
		clamd := startClamd(t, "")
		clamd.setVersion("ClamAV 1.4.6")
		e := newEngine(t, "[rules.virus]\naddress = \"inet:"+clamd.addr+"\"\n", nil)
		scanParts(e, clean)
		scanParts(e, clean)
		if n := scans(clamd); n != 2 {
			t.Errorf("%d scans, want 2", n)
		}
	})
}

// TestVirusCacheRedis: with cache = a Redis URL the verdicts are shared by
// every daemon on that Redis, under hashed keys that expire after
// cache_ttl: the second daemon's first scan of a part the first one
// scanned is a hit, infected verdicts included. New signatures miss; a
// Redis that does not answer sends every part to clamd, and mail flows.
func TestVirusCacheRedis(t *testing.T) {
	srv := redistest.StartServer(t, "")
	clamd := startClamd(t, "")
	clean := partsMail(t, "hello", "application/pdf", "%PDF-1.7 the same report")
	infected := partsMail(t, "hello", "application/octet-stream", eicar)
	scans := func() int { _, n, _ := clamd.counts(); return n }
	expectScans := func(step string, want int) {
		t.Helper()
		if n := scans(); n != want {
			t.Fatalf("%s: clamd scanned %d parts, want %d", step, n, want)
		}
	}
	clock := testkit.NewClock(time.Date(2026, 12, 7, 9, 0, 0, 0, time.UTC))
	daemon := func() (*policy.Engine, *metrics.Metrics) {
		env, m := metricsEnv()
		env.Now = clock.Now
		cfg := fmt.Sprintf("[rules.virus]\naddress = \"inet:%s\"\ncache = %q\ncache_ttl = \"30m\"\n", clamd.addr, srv.URL(""))
		return newEngine(t, cfg, env), m
	}
	first, firstMetrics := daemon()
	second, _ := daemon()

	v, _ := scanParts(first, clean)
	expectContinue(t, v)
	expectScans("first daemon, clean part", 1)
	v, _ = scanParts(second, clean)
	expectContinue(t, v)
	expectScans("second daemon, the same part", 1)
	v, _ = scanParts(first, infected)
	expect(t, v, "virus", policy.Reject, virusReply, "clamd found Eicar-Test-Signature in")
	expectScans("first daemon, infected part", 2)
	v, _ = scanParts(second, infected)
	expect(t, v, "virus", policy.Reject, virusReply, "kept from an earlier scan of the same bytes, signatures 1.4.6/27480")
	expectScans("second daemon, the same infected part", 2)

	// The keys are digests: neither content nor names show, and they
	// expire after cache_ttl.
	ctx := context.Background()
	cl := srv.Client("")
	defer cl.Close()
	keys, err := cl.Keys(ctx, "*").Result()
	if err != nil {
		t.Fatal(err)
	}
	values := map[string]bool{}
	digest := regexp.MustCompile(`^sekisho:av:[0-9a-f]{64}$`)
	for _, k := range keys {
		if !digest.MatchString(k) {
			t.Errorf("key %q is not sekisho:av: and a SHA-256", k)
		}
		if ttl := cl.TTL(ctx, k).Val(); ttl <= 29*time.Minute || ttl > 30*time.Minute {
			t.Errorf("key %q expires in %v, want 30m", k, ttl)
		}
		values[cl.Get(ctx, k).Val()] = true
	}
	if len(keys) != 2 || !values["OK"] || !values["Eicar-Test-Signature"] {
		t.Errorf("keys %q with values %v, want two: OK and Eicar-Test-Signature", keys, values)
	}

	// New signatures, asked within a minute: what was kept before misses,
	// and what one daemon scans then the other finds.
	clamd.setVersion("ClamAV 1.4.6/27481/Mon Dec  7 10:00:00 2026")
	clock.Advance(2 * time.Minute)
	scanParts(second, clean)
	expectScans("after a signature update", 3)
	scanParts(first, clean)
	expectScans("the other daemon after the update", 3)

	// Redis down: every part goes to clamd, verdicts and all.
	srv.Stop()
	v, _ = scanParts(first, clean)
	expectContinue(t, v)
	expectScans("Redis down, clean part", 4)
	v, _ = scanParts(first, infected)
	expect(t, v, "virus", policy.Reject, virusReply, "clamd found Eicar-Test-Signature in")
	if strings.Contains(v.Reason, "kept from") {
		t.Errorf("Redis down: reason %q says the verdict was kept", v.Reason)
	}
	expectScans("Redis down, infected part", 5)
	for _, op := range []string{"get", "set"} {
		if n := cacheErrors(t, firstMetrics, op); n < 2 {
			t.Errorf("sekisho_clamd_cache_errors_total{op=%q} = %v, want 2 or more", op, n)
		}
	}
}

// cacheErrors is the count of failed Redis verdict-cache calls of op.
func cacheErrors(t *testing.T, m *metrics.Metrics, op string) float64 {
	t.Helper()
	mfs, err := m.Registry().Gather()
	if err != nil {
		t.Fatal(err)
	}
	for _, mf := range mfs {
		if mf.GetName() != "sekisho_clamd_cache_errors_total" {
			continue
		}
		for _, mt := range mf.GetMetric() {
			for _, l := range mt.GetLabel() {
				if l.GetName() == "op" && l.GetValue() == op {
					return mt.GetCounter().GetValue()
				}
			}
		}
	}
	t.Fatalf("no sekisho_clamd_cache_errors_total{op=%q}", op)
	return 0
}

// TestVirusCacheConfig: cache takes "memory", "off", and rate_limit's
// store forms; errors name the cache key.
func TestVirusCacheConfig(t *testing.T) {
	for _, tc := range []struct{ cache, err string }{
		{`"memory"`, ""},
		{`"off"`, ""},
		{`"redis://127.0.0.1:6379/0"`, ""},
		{`{ sentinels = ["127.0.0.1:26379"], master_name = "mymaster" }`, ""},
		{`{ nodes = ["127.0.0.1:7000", "127.0.0.1:7001"] }`, ""},
		{`"disk"`, `rules.virus.cache: want "memory", "off", a Redis URL`},
		{`{ sentinels = ["127.0.0.1:26379"] }`, `rules.virus.cache.master_name`},
	} {
		cfg := "[rules.virus]\naddress = \"inet:127.0.0.1:3310\"\ncache = " + tc.cache + "\n"
		c, err := policy.Parse("t.toml", []byte(cfg))
		switch {
		case tc.err == "" && err != nil:
			t.Errorf("cache = %s: %v", tc.cache, err)
		case tc.err != "" && (err == nil || !strings.Contains(err.Error(), tc.err)):
			t.Errorf("cache = %s: error %v, want one with %q", tc.cache, err, tc.err)
		case err == nil:
			if _, err := policy.NewEngine(c, quietEnv()); err != nil {
				t.Errorf("cache = %s: %v", tc.cache, err)
			}
		}
	}
}
