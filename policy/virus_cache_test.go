package policy_test

import (
	"strings"
	"testing"
	"time"

	"github.com/sekisho/sekisho/policy"
)

// TestVirusCache: in parts mode a part's verdict is kept by the SHA-256 of
// its bytes and clamd's signature version. The same attachment again
// costs no scan; new signatures, an error, a part too big to hold or cut
// at max_scan_size, and cache = "off" each mean a scan.
func TestVirusCache(t *testing.T) {
	clean := rtPartsMail(t, "hello", "application/pdf", "%PDF-1.7 the same report")
	infected := rtPartsMail(t, "hello", "application/octet-stream", rtEICAR)
	scans := func(c *rtClamd) int { _, n, _ := c.counts(); return n }

	t.Run("kept", func(t *testing.T) {
		clamd := rtStartClamd(t, "")
		env := rtEnv()
		now := time.Date(2026, 12, 7, 9, 0, 0, 0, time.UTC)
		env.Now = func() time.Time { return now }
		e := rtEngine(t, "[rules.virus]\naddress = \"inet:"+clamd.addr+"\"\n", env)
		for i := range 3 {
			v, _ := rtScanParts(e, clean)
			rtExpectContinue(t, v)
			if n := scans(clamd); n != 1 {
				t.Fatalf("message %d: %d scans, want 1", i+1, n)
			}
		}
		for i := range 2 {
			v, _ := rtScanParts(e, infected)
			rtExpect(t, v, "virus", policy.Reject, rtVirusReply, "clamd found Eicar-Test-Signature in")
			if cached := strings.Contains(v.Reason, "kept from an earlier scan"); cached != (i == 1) {
				t.Errorf("message %d: reason %q", i+1, v.Reason)
			}
		}
		if n := scans(clamd); n != 2 {
			t.Errorf("%d scans, want 2", n)
		}
		// A reload keeps the verdicts: the cache is the process's.
		e = rtEngine(t, "[rules.virus]\naddress = \"inet:"+clamd.addr+"\"\n", env)
		rtScanParts(e, clean)
		if n := scans(clamd); n != 2 {
			t.Errorf("after a reload: %d scans, want 2", n)
		}
		// New signatures: asked within a minute, and nothing kept
		// before counts.
		clamd.setVersion("ClamAV 1.4.6/27481/Mon Dec  7 10:00:00 2026")
		now = now.Add(2 * time.Minute)
		rtScanParts(e, clean)
		if n := scans(clamd); n != 3 {
			t.Errorf("after a signature update: %d scans, want 3", n)
		}
		rtScanParts(e, clean)
		if n := scans(clamd); n != 3 {
			t.Errorf("again after the update: %d scans, want 3", n)
		}
	})
	t.Run("errors are not kept", func(t *testing.T) {
		clamd := rtStartClamd(t, "INSTREAM size limit exceeded. ERROR")
		e := rtEngine(t, "[rules.virus]\naddress = \"inet:"+clamd.addr+"\"\n", nil)
		v, _ := rtScanParts(e, clean)
		rtExpect(t, v, "virus", policy.Tempfail, rtServFail)
		clamd.setReply("")
		v, _ = rtScanParts(e, infected)
		rtExpect(t, v, "virus", policy.Reject, rtVirusReply)
		v, _ = rtScanParts(e, clean)
		rtExpectContinue(t, v)
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
			clamd := rtStartClamd(t, "")
			e := rtEngine(t, "[rules.virus]\naddress = \"inet:"+clamd.addr+"\"\n"+cfg+"\n", nil)
			rtScanParts(e, clean)
			rtScanParts(e, clean)
			if n := scans(clamd); n != 2 {
				t.Errorf("%d scans, want 2", n)
			}
		})
	}
	t.Run("no signature version", func(t *testing.T) {
		// A clamd that answers no database version: nothing is kept.
		clamd := rtStartClamd(t, "")
		clamd.setVersion("ClamAV 1.4.6")
		e := rtEngine(t, "[rules.virus]\naddress = \"inet:"+clamd.addr+"\"\n", nil)
		rtScanParts(e, clean)
		rtScanParts(e, clean)
		if n := scans(clamd); n != 2 {
			t.Errorf("%d scans, want 2", n)
		}
	})
}
