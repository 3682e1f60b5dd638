package e2e_test

import (
	"fmt"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"testing"
	"time"
)

// Paths of the Postfix load tools.
const (
	smtpSourceCmd = "/usr/sbin/smtp-source"
	smtpSinkCmd   = "/usr/sbin/smtp-sink"
)

// BenchmarkE2EPostfix is the end-to-end cost of sekisho in the mail path:
// smtp-source sends the mixed corpus (testdata/corpus/gen) to a Postfix
// that relays every message to smtp-sink, once with no milter and once
// with sekisho, every rule on (clamd, rbldnsd and the rest), alternating
// rounds. b.N messages are sent in all; the result is each instance's
// throughput and their ratio:
//
//	go test -run '^$' -bench E2EPostfix -benchtime 4000x ./cmd/sekisho/e2e
func BenchmarkE2EPostfix(b *testing.B) {
	for _, p := range []string{smtpSourceCmd, smtpSinkCmd} {
		requireProgram(b, p)
	}
	corpus := b.TempDir()
	if out, err := exec.Command("go", "run", "../../../testdata/corpus/gen", "-dir", corpus, "-n", "20").CombinedOutput(); err != nil {
		b.Fatalf("corpus: %v\n%s", err, out)
	}
	files, _ := filepath.Glob(filepath.Join(corpus, "*.eml"))

	sinkAddr := fmt.Sprintf("127.0.0.1:%d", freePort(b))
	sink, err := startProc("smtp-sink", filepath.Join(b.TempDir(), "sink.log"), smtpSinkCmd, "-u", "postfix", sinkAddr, "256")
	if err != nil {
		b.Fatal(err)
	}
	b.Cleanup(sink.stop)
	if err := waitTCP(sinkAddr, 5*time.Second, sink.exited); err != nil {
		b.Fatal(err)
	}
	relay := postfixOptions{
		Main: map[string]string{
			"mydestination":           "",
			"relayhost":               "[" + strings.Replace(sinkAddr, ":", "]:", 1),
			"default_transport":       "smtp",
			"relay_transport":         "smtp",
			"local_transport":         "smtp",
			"smtp_tls_security_level": "none",
		},
		Master: []string{"smtp      unix  - - n -    - smtp"},
	}
	dnsbl, clamd := sharedRbldnsd(b), sharedClamd(b)
	rules := rulesContent + "\n[rules.uninspectable]\n\n" + ruleSendOnly + "\n" + ruleRecipientLimit + "\n" +
		ruleDNSBL(dnsbl.Addr) + "\n" + ruleVirus(clamd.Addr) + "\n" +
		strings.Replace(ruleRateLimit("memory"), "limit = 3", "limit = 1000000000", 1)
	// Loopback is the only client here: nothing is exempt.
	cfg := strings.Replace(sekishoConfig("enforce", rules), `networks = ["10.9.9.0/24"]`, "networks = []", 1)
	cfg = strings.Replace(cfg, `level = "debug"`, `level = "warn"`, 1)
	s := startSekisho(b, cfg)
	plain := startPostfix(b, "", relay)
	milt := startPostfix(b, s.Milter, relay)

	const rounds = 4
	per := max(b.N/(2*rounds), len(files))
	elapsed := map[*postfix]time.Duration{}
	b.ResetTimer()
	for range rounds {
		for _, pf := range []*postfix{plain, milt} {
			start := time.Now()
			pf.source(b, files, per)
			pf.waitDrained(b)
			elapsed[pf] += time.Since(start)
		}
	}
	b.StopTimer()
	n := float64(rounds * per)
	rate := func(pf *postfix) float64 { return n / elapsed[pf].Seconds() }
	b.ReportMetric(rate(plain), "msg/s-no-milter")
	b.ReportMetric(rate(milt), "msg/s-sekisho")
	b.ReportMetric(rate(milt)/rate(plain), "ratio")
	if lines := s.logLines("msg=decision"); len(lines) > 0 {
		b.Fatalf("sekisho refused corpus mail:\n%s", strings.Join(lines[:min(len(lines), 5)], "\n"))
	}
}

// source sends n messages with smtp-source, the files in turn, over 8
// sessions.
func (p *postfix) source(b *testing.B, files []string, n int) {
	b.Helper()
	each := max(n/len(files), 1)
	for i := 0; i < n; i += each {
		f := files[(i/each)%len(files)]
		cmd := exec.Command(smtpSourceCmd, "-s", "8", "-m", strconv.Itoa(min(each, n-i)), "-F", f,
			"-f", "sender@example.org", "-t", "user@example.co.jp", p.Addr)
		if out, err := cmd.CombinedOutput(); err != nil {
			b.Fatalf("smtp-source: %v\n%s", err, out)
		}
	}
}

// waitDrained waits until every message has left the queue for the sink.
func (p *postfix) waitDrained(b *testing.B) {
	b.Helper()
	deadline := time.Now().Add(5 * time.Minute)
	for !strings.Contains(p.queue(), "Mail queue is empty") {
		if time.Now().After(deadline) {
			b.Fatalf("queue not drained:\n%s", p.queue())
		}
		time.Sleep(20 * time.Millisecond)
	}
}
