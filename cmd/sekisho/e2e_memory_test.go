package main_test

import (
	"bufio"
	"fmt"
	"os"
	"strconv"
	"strings"
	"testing"
)

// TestE2ELargeMessageRSS sends a 50 MB message through Postfix and checks
// the daemon's peak resident memory (VmHWM): the body is spooled to a temp
// file and inspected as a stream, so it must stay far below the message.
func TestE2ELargeMessageRSS(t *testing.T) {
	t.Parallel()
	s, pf := setup(t, sekishoConfig("enforce", strings.Replace(rulesContent, `max = "3MB"`, `max = "60MB"`, 1)))
	tok := token(t)
	msg := japaneseMessage(tok, pdfAttachment("図面.pdf", 37<<20))
	if len(msg) < 50<<20 {
		t.Fatalf("test message is only %d bytes", len(msg))
	}
	pf.mustSwaks(t, 0, "--from", "sender@example.org", "--to", "user@example.co.jp", "--data", writeMessage(t, msg))
	pf.waitDelivered(t, tok, 1)
	s.waitLog(t, "msg=accept")
	peak := vmHWM(t, s.p.cmd.Process.Pid)
	t.Logf("sekisho peak RSS %d MiB for a %d MiB message", peak>>20, len(msg)>>20)
	if peak > 40<<20 {
		t.Fatalf("sekisho peak RSS %d MiB for a %d MiB message: the message is held in memory", peak>>20, len(msg)>>20)
	}
}

// vmHWM reads a process's peak resident set size in bytes.
func vmHWM(t *testing.T, pid int) int64 {
	t.Helper()
	f, err := os.Open(fmt.Sprintf("/proc/%d/status", pid))
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	sc := bufio.NewScanner(f)
	for sc.Scan() {
		if v, ok := strings.CutPrefix(sc.Text(), "VmHWM:"); ok {
			kb, err := strconv.ParseInt(strings.TrimSpace(strings.TrimSuffix(strings.TrimSpace(v), "kB")), 10, 64)
			if err != nil {
				t.Fatal(err)
			}
			return kb << 10
		}
	}
	t.Fatal("no VmHWM in /proc status")
	return 0
}
