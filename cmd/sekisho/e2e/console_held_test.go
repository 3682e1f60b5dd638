package e2e_test

import (
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"net/url"
	"os"
	"path/filepath"
	"regexp"
	"strings"
	"testing"
	"time"
)

// TestE2EConsoleHeld: mail held by sekisho in a real Postfix's hold queue
// is listed by the console with its rule and reason, as Chromium renders
// it; released from the console (confirmation page, then its form), it
// is delivered; deleted, it is gone and never delivered; each action is a
// line of the audit log. The console runs Postfix's own postqueue and
// postsuper on the test's instance.
func TestE2EConsoleHeld(t *testing.T) {
	t.Parallel()
	requireProgram(t, postsuperCmd)
	requireProgram(t, postqueueCmd)
	dir := worldDir(t, "held")
	// The commands name the Postfix instance, known once it runs.
	etcFile := filepath.Join(dir, "postfix-etc")
	wrap := func(name, tool string, args ...string) string {
		p := filepath.Join(dir, name)
		script := fmt.Sprintf("#!/bin/sh\nexec %s -c \"$(cat %s)\" %s \"$@\"\n", tool, etcFile, strings.Join(args, " "))
		if err := os.WriteFile(p, []byte(script), 0o755); err != nil {
			t.Fatal(err)
		}
		return p
	}
	audit := filepath.Join(dir, "audit.log")
	web := fmt.Sprintf("127.0.0.1:%d", freePort(t))
	cfg := fmt.Sprintf(`[history]
store = %q

[console]
listen = %q
queue_command = [%q]
release_command = [%q]
flush_command = [%q]
delete_command = [%q]
audit_log = %q

`, filepath.Join(dir, "history.db"), web, wrap("queue", postqueueCmd, "-j"), wrap("release", postsuperCmd, "-H"),
		wrap("flush", postqueueCmd, "-i"), wrap("delete", postsuperCmd, "-d"), audit)
	s, pf := setup(t, sekishoConfig("enforce", ruleASCIIQuarantine)+cfg)
	if err := os.WriteFile(etcFile, []byte(pf.etc), 0o644); err != nil {
		t.Fatal(err)
	}
	base := "http://" + web
	tok1, tok2, ids := holdTwo(t, s, pf, base)
	dom := dumpDOM(t, base+"/held")
	for _, want := range []string{ids[tok1], ids[tok2], "ascii_only", "2 messages held by sekisho", "/held/" + ids[tok1] + "/release"} {
		if !strings.Contains(dom, want) {
			t.Errorf("Chromium's page of held mail lacks %q:\n%s", want, dom)
		}
	}

	do := func(action, id string) string { return consoleHeldDo(t, base, action, id) }
	if page := do("release", ids[tok1]); !strings.Contains(page, "message "+ids[tok1]+" released") {
		t.Errorf("release page:\n%s", page)
	}
	got := pf.waitDelivered(t, tok1, 1)
	if got[0].Rcpt != "suzuki@example.co.jp" {
		t.Errorf("released message delivered to %s", got[0].Rcpt)
	}
	if page := do("delete", ids[tok2]); !strings.Contains(page, "message "+ids[tok2]+" deleted") {
		t.Errorf("delete page:\n%s", page)
	}
	if held := pf.held(t); len(held) != 0 {
		t.Errorf("hold queue %v after release and delete", held)
	}
	pf.waitQueueEmpty(t)
	if got := pf.messages(t, tok2); len(got) != 0 {
		t.Errorf("a deleted message was delivered")
	}

	b, err := os.ReadFile(audit)
	if err != nil {
		t.Fatal(err)
	}
	// Each action: its attempt, then its outcome.
	var lines []string
	for _, l := range strings.Split(strings.TrimSpace(string(b)), "\n") {
		if !strings.Contains(l, `"attempt":true`) {
			lines = append(lines, l)
		}
	}
	if len(lines) != 2 || strings.Count(string(b), `"attempt":true`) != 2 {
		t.Fatalf("audit log:\n%s", b)
	}
	for i, want := range [][2]string{{"release", ids[tok1]}, {"delete", ids[tok2]}} {
		var e struct {
			Action  string `json:"action"`
			QueueID string `json:"queue_id"`
			Remote  string `json:"remote"`
			OK      bool   `json:"ok"`
		}
		json.Unmarshal([]byte(lines[i]), &e)
		if e.Action != want[0] || e.QueueID != want[1] || !e.OK || !strings.HasPrefix(e.Remote, "127.0.0.1:") {
			t.Errorf("audit line %d: %s, want %s %s", i, lines[i], want[0], want[1])
		}
	}
	s.waitLog(t, `msg="console: held message released"`, "queue_id="+ids[tok1])
}

// consoleHeldDo releases or deletes a held message on the console at base
// as an administrator does: its confirmation page, then that page's form.
// It returns the page that answers.
func consoleHeldDo(t *testing.T, base, action, id string) string {
	t.Helper()
	code, page := httpGet(t, base+"/held/"+id+"/"+action)
	m := regexp.MustCompile(`name="token" value="([0-9a-f.]+)"`).FindStringSubmatch(page)
	if code != 200 || m == nil {
		t.Fatalf("confirmation of %s %s: %d\n%s", action, id, code, page)
	}
	resp, err := http.PostForm(base+"/held/"+id+"/"+action, url.Values{"token": {m[1]}})
	if err != nil {
		t.Fatal(err)
	}
	b, _ := io.ReadAll(resp.Body)
	resp.Body.Close()
	if resp.StatusCode != 200 {
		t.Fatalf("%s %s: %d\n%s", action, id, resp.StatusCode, b)
	}
	return string(b)
}

// httpGet fetches u and returns the status and body.
func httpGet(t *testing.T, u string) (int, string) {
	t.Helper()
	resp, err := http.Get(u)
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	b, _ := io.ReadAll(resp.Body)
	return resp.StatusCode, string(b)
}

// holdTwo sends two messages that the configuration holds (tanaka@ to
// suzuki@, then sato@ to ito@), and waits for both in Postfix's hold
// queue and on the console's held page at base (records are written a
// moment after the mail). It returns their tokens and the queue id of
// each token.
func holdTwo(t *testing.T, s *sekishoProc, pf *postfix, base string) (tok1, tok2 string, ids map[string]string) {
	t.Helper()
	tok1, tok2 = token(t), token(t)
	pf.mustSwaks(t, 0, "--from", "tanaka@example.org", "--to", "suzuki@example.co.jp", "--header", "X-E2E-Token: "+tok1)
	pf.mustSwaks(t, 0, "--from", "sato@example.org", "--to", "ito@example.co.jp", "--header", "X-E2E-Token: "+tok2)
	ids = map[string]string{}
	for _, h := range waitHolds(t, pf, 2) {
		if strings.Contains(h[1], "from=<tanaka@example.org>") {
			ids[tok1] = h[0]
		} else {
			ids[tok2] = h[0]
		}
	}
	for deadline := time.Now().Add(10 * time.Second); ; time.Sleep(100 * time.Millisecond) {
		_, body := httpGet(t, base+"/held")
		if strings.Count(body, `<tr class="held">`) == 2 {
			return tok1, tok2, ids
		}
		if time.Now().After(deadline) {
			t.Fatalf("the console does not list both held messages:\n%s\n%s", body, s.Logs())
		}
	}
}
