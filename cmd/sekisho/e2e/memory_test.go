package e2e_test

import (
	"bufio"
	"fmt"
	"os"
	"strconv"
	"strings"
	"testing"
)

// TestE2ELargeMessageRSS sends a 50 MB message through Postfix and checks
// how far the daemon's peak resident memory (VmHWM) grows above what it
// held before: the body is inspected as it arrives and not kept, so the
// growth must stay below 16 MiB.
func TestE2ELargeMessageRSS(t *testing.T) {
	t.Parallel()
	s, pf := setup(t, sekishoConfig("enforce", strings.Replace(rulesContent, `max = "3MB"`, `max = "60MB"`, 1)))
	tok := token(t)
	msg := japaneseMessage(tok, pdfAttachment("図面.pdf", 37<<20))
	if len(msg) < 50<<20 {
		t.Fatalf("test message is only %d bytes", len(msg))
	}
	file := writeMessage(t, msg)
	// A small message first, so that the baseline holds what every
	// message costs.
	pf.mustSwaks(t, 0, "--from", "sender@example.org", "--to", "user@example.co.jp", "--data", writeMessage(t, japaneseMessage(token(t))))
	s.waitLog(t, "msg=accept")
	base := procField(t, s.p.cmd.Process.Pid, "VmHWM:")
	pf.mustSwaks(t, 0, "--from", "sender@example.org", "--to", "user@example.co.jp", "--data", file)
	pf.waitDelivered(t, tok, 1)
	s.waitLog(t, "msg=accept", "size=5")
	peak := procField(t, s.p.cmd.Process.Pid, "VmHWM:")
	t.Logf("sekisho peak RSS %d MiB before, %d MiB after a %d MiB message", base>>20, peak>>20, len(msg)>>20)
	// What may grow: the collector's floor (heapFloor, 12 MiB) and the
	// first 4 MiB of the PDF, which is kept (then spooled to disk) to read
	// its encryption dictionary, well under the message's 50 MiB.
	if peak-base > 24<<20 {
		t.Fatalf("sekisho peak RSS grew by %d MiB for a %d MiB message: the message is held in memory", (peak-base)>>20, len(msg)>>20)
	}
}

// procField reads a "Name: N kB" line of a process's /proc status, in
// bytes (VmHWM: peak resident set size, VmRSS: current).
func procField(t *testing.T, pid int, name string) int64 {
	t.Helper()
	f, err := os.Open(fmt.Sprintf("/proc/%d/status", pid))
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	sc := bufio.NewScanner(f)
	for sc.Scan() {
		if v, ok := strings.CutPrefix(sc.Text(), name); ok {
			kb, err := strconv.ParseInt(strings.TrimSpace(strings.TrimSuffix(strings.TrimSpace(v), "kB")), 10, 64)
			if err != nil {
				t.Fatal(err)
			}
			return kb << 10
		}
	}
	t.Fatalf("no %s in /proc status", name)
	return 0
}
