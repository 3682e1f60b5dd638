package e2e_test

import (
	"bytes"
	"encoding/json"
	"fmt"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"syscall"
	"testing"
	"time"
)

// TestE2EHistory: mail through a real Postfix is kept in the history, an
// SQLite file, with its decoded subject, queue id and outcome; the daemon
// writes what it holds when it stops, and `sekisho history` finds it by a
// word of the subject, an address, the rule or the outcome, and prints one
// decision in full.
func TestE2EHistory(t *testing.T) {
	db := filepath.Join(t.TempDir(), "history.db")
	s := startSekisho(t, fmt.Sprintf("[history]\nstore = %q\nhost = \"mx-test\"\n\n[rules.blank]\n", db))
	p := startPostfix(t, s.Milter, postfixOptions{})
	tok := token(t)
	// "御見積 TOKEN", encoded as a mail client would.
	subject := "=?UTF-8?B?5b6h6KaL56mN?= " + tok
	p.mustSwaks(t, 0, "--from", "tanaka@example.org", "--to", "suzuki@example.co.jp",
		"--header", "Subject: "+subject, "--body", "本文です")
	p.mustSwaks(t, 26, "--from", "spam@example.net", "--to", "sato@example.co.jp",
		"--header", "Subject: empty "+tok, "--body", " ")
	p.waitDelivered(t, tok, 1)
	s.Stop() // SIGTERM: what is queued is written before the daemon exits

	code, out := runSekisho(t, "history", "-config", s.Config, "-q", tok, "-since", "1h")
	if code != 0 {
		t.Fatalf("sekisho history: exit %d\n%s", code, out)
	}
	lines := strings.Split(strings.TrimSpace(out), "\n")
	if len(lines) != 2 {
		t.Fatalf("want two decisions, newest first:\n%s", out)
	}
	if !containsAll([]byte(lines[0]), "mx-test", "reject rule=blank", "from=<spam@example.net>", "to=<sato@example.co.jp>") ||
		!containsAll([]byte(lines[1]), "mx-test", " accept ", "from=<tanaka@example.org>", "to=<suzuki@example.co.jp>", `subject="御見積 `+tok+`"`) {
		t.Errorf("decisions:\n%s", out)
	}
	for q, want := range map[string]int{
		"御見積 " + tok:                  1,
		"suzuki@example.co.jp " + tok: 1,
		"blank " + tok:                1,
		"reject " + tok:               1,
		"tempfail " + tok:             0,
	} {
		_, out := runSekisho(t, "history", "-config", s.Config, "-q", q, "-json")
		n := 0
		for _, l := range strings.Split(strings.TrimSpace(out), "\n") {
			var rec struct {
				ID      int64  `json:"id"`
				QueueID string `json:"queue_id"`
				Action  string `json:"action"`
			}
			if l == "" {
				continue
			}
			if err := json.Unmarshal([]byte(l), &rec); err != nil {
				t.Fatalf("-json %q: %v\n%s", q, err, out)
			}
			if rec.QueueID == "" || rec.ID == 0 {
				t.Errorf("-q %q: record without queue id or id: %s", q, l)
			}
			n++
		}
		if n != want {
			t.Errorf("-q %q: %d decisions, want %d\n%s", q, n, want, out)
		}
	}
	// A decision in full, by the ID the list starts with.
	id := strings.Fields(lines[0])[0]
	code, out = runSekisho(t, "history", "-config", s.Config, id)
	if code != 0 || !containsAll([]byte(out), "outcome:     reject", "rule:        blank", "reply:       550 5.6.0", "client:      127.0.0.1", "stage:       eob") {
		t.Errorf("sekisho history %s: exit %d\n%s", id, code, out)
	}
	if code, out := runSekisho(t, "history", "-config", s.Config, "-since", "yesterday"); code != 2 {
		t.Errorf("bad -since: exit %d\n%s", code, out)
	}
}

// TestE2EHistoryStoreDown: a PostgreSQL history that does not answer
// delays no mail; the daemon says so once. A reload onto another store
// records there from then on.
func TestE2EHistoryStoreDown(t *testing.T) {
	down := fmt.Sprintf("postgres://sekisho@127.0.0.1:%d/sekisho?sslmode=disable", freePort(t))
	s := startSekisho(t, fmt.Sprintf("[history]\nstore = %q\n\n[rules.blank]\n", down))
	p := startPostfix(t, s.Milter, postfixOptions{})
	tok := token(t)
	for i := range 3 {
		start := time.Now()
		p.mustSwaks(t, 0, "--from", "tanaka@example.org", "--to", "suzuki@example.co.jp",
			"--header", fmt.Sprintf("Subject: %d %s", i, tok), "--body", "本文です")
		if d := time.Since(start); d > 5*time.Second {
			t.Errorf("message %d took %v with the history store down", i, d)
		}
	}
	p.waitDelivered(t, tok, 3)
	s.waitLog(t, "history store not answering")
	if n := len(s.logLines("history store not answering")); n != 1 {
		t.Errorf("%d WARN lines, want 1:\n%s", n, s.Logs())
	}

	db := filepath.Join(t.TempDir(), "history.db")
	cfg, err := os.ReadFile(s.Config)
	if err != nil {
		t.Fatal(err)
	}
	cfg = bytes.Replace(cfg, []byte(strconv.Quote(down)), []byte(strconv.Quote(db)), 1)
	if err := os.WriteFile(s.Config, cfg, 0o644); err != nil {
		t.Fatal(err)
	}
	s.Signal(t, syscall.SIGHUP)
	s.waitLog(t, "configuration reloaded")
	p.mustSwaks(t, 0, "--from", "tanaka@example.org", "--to", "suzuki@example.co.jp",
		"--header", "Subject: after reload "+tok, "--body", "本文です")
	p.waitDelivered(t, tok, 4)
	s.Stop()
	code, out := runSekisho(t, "history", "-config", s.Config, "-q", tok)
	if code != 0 || !strings.Contains(out, `subject="after reload `+tok+`"`) || strings.Count(out, "\n") != 1 {
		t.Errorf("after reload: exit %d\n%s", code, out)
	}
}
