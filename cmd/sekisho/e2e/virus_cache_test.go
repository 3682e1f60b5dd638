package e2e_test

import (
	"fmt"
	"regexp"
	"testing"
)

// TestE2EVirusCache: through Postfix with the real clamd, the same
// attachment sent again is answered from the verdict cache — clean or
// infected — keyed by clamd's real signature version, and the metrics
// count the hits and misses.
func TestE2EVirusCache(t *testing.T) {
	t.Parallel()
	clamd := sharedClamd(t)
	port := freePort(t)
	url := fmt.Sprintf("http://127.0.0.1:%d/metrics", port)
	s, pf := setup(t, sekishoConfig("enforce", ruleVirus(clamd.Addr), metricsTable(port)))

	report := pdfAttachment("見積書.pdf", 200<<10)
	for i := range 2 {
		tok := token(t)
		pf.mustSwaks(t, 0, "--from", "sender@example.org", "--to", "user@example.co.jp",
			"--data", writeMessage(t, japaneseMessage(tok, report)))
		pf.waitDelivered(t, tok, 1)
		tok = token(t)
		out := pf.mustSwaks(t, 26, "--from", "sender@example.org", "--to", "user@example.co.jp",
			"--data", writeMessage(t, eicarMessage(tok)))
		mustRefuse(t, out, regexp.QuoteMeta("554 5.7.1 Virus found: "+eicarSig))
		pf.notDelivered(t, tok)
		if i == 1 {
			s.waitLog(t, "msg=decision", "rule=virus", "kept from an earlier scan of the same bytes, signatures 1.")
		}
	}
	got := scrape(t, url)
	expectSeries(t, "verdict cache", nil, got, map[string]float64{
		`sekisho_clamd_cache_total{result="hit"}`:  2,
		`sekisho_clamd_cache_total{result="miss"}`: 2,
	})
}
