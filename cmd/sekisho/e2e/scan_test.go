package e2e_test

import (
	"os"
	"path/filepath"
	"regexp"
	"strings"
	"testing"
)

// TestE2EScanNetwork: `sekisho scan` leaves the rules that need a server
// out unless given -network; with it, they ask the real servers: clamd
// finds EICAR, rbldnsd lists the client given with -client-ip.
func TestE2EScanNetwork(t *testing.T) {
	t.Parallel()
	clamd, rbl := sharedClamd(t), sharedRbldnsd(t)
	dir := t.TempDir()
	cfg := filepath.Join(dir, "scan.toml")
	if err := os.WriteFile(cfg, []byte(ruleVirus(clamd.Addr)+ruleDNSBL(rbl.Addr)), 0o644); err != nil {
		t.Fatal(err)
	}
	msg := writeMessage(t, japaneseMessage(token(t), fileAttachment("data.bin", "application/octet-stream", []byte(eicar))))

	code, out := runSekisho(t, "scan", "-config", cfg, "-rcpt", "user@example.co.jp", "-client-ip", "127.0.0.2", msg)
	if code != 0 || !regexp.MustCompile(`virus\s+not run: needs the network \(-network\)`).MatchString(out) ||
		!regexp.MustCompile(`dnsbl\s+not run`).MatchString(out) || !strings.Contains(out, "verdict     accept") {
		t.Errorf("offline: exit %d:\n%s", code, out)
	}

	code, out = runSekisho(t, "scan", "-network", "-config", cfg, "-rcpt", "user@example.co.jp", msg)
	if code != 1 || !strings.Contains(out, "verdict     reject 554 5.7.1 Virus found: "+eicarSig) || strings.Contains(out, "not run") {
		t.Errorf("-network: exit %d, want 1 and the virus found:\n%s", code, out)
	}

	code, out = runSekisho(t, "scan", "-network", "-config", cfg, "-rcpt", "user@example.co.jp", "-client-ip", "127.0.0.2", msg)
	if code != 1 || !strings.Contains(out, "verdict     reject 554 5.7.1 Service unavailable; client [127.0.0.2] blocked using bl.test (dnsbl at rcpt") ||
		!regexp.MustCompile(`eob\s+virus\s+gives reject 554 5.7.1 Virus found: .*\(not reached: decided earlier\)`).MatchString(out) {
		t.Errorf("-network, listed client: exit %d:\n%s", code, out)
	}
}
