package e2e_test

import (
	"bytes"
	"encoding/json"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"
)

// heldUnit is the root service that applies the console's requests.
const heldUnit = "../../../contrib/systemd/sekisho-held.service"

// unitCaps turns the CapabilityBoundingSet of a unit file into setpriv's
// --bounding-set argument: what the service may do, the test runs it with.
func unitCaps(t testing.TB, unit string) string {
	t.Helper()
	b, err := os.ReadFile(unit)
	if err != nil {
		t.Fatal(err)
	}
	m := regexp.MustCompile(`(?m)^CapabilityBoundingSet=(.+)$`).FindSubmatch(b)
	if m == nil {
		t.Fatalf("%s sets no CapabilityBoundingSet", unit)
	}
	arg := "-all"
	for _, c := range strings.Fields(string(m[1])) {
		arg += ",+" + strings.ToLower(strings.TrimPrefix(c, "CAP_"))
	}
	return arg
}

// TestE2EConsoleHeldSpool: the packaged deployment's way to release and
// delete held mail. The daemon runs as a user of its own (in groups
// postfix and postdrop, as the package makes user sekisho) under
// setpriv --no-new-privs, as the packaged unit's NoNewPrivileges=yes runs
// it: its console lists the hold queue with postqueue -j, and its
// release_command and delete_command are sekisho held-request. The test
// plays sekisho-held.path: whenever the spool's new/ is not empty it runs
// sekisho held-apply as root, with no new privileges and only the
// capabilities the unit's CapabilityBoundingSet leaves. The released
// message is delivered by a real Postfix; the deleted one never is; the
// audit log has each attempt and outcome, and held-apply's log who asked.
func TestE2EConsoleHeldSpool(t *testing.T) {
	t.Parallel()
	for _, p := range []string{postsuperCmd, postqueueCmd, setprivCmd, usermodCmd} {
		requireProgram(t, p)
	}
	u := throwawayUser(t)
	accounts(t, usermodCmd, "--append", "--groups", "postfix,postdrop", u.Username)
	uid, _ := strconv.Atoi(u.Uid)
	gid, _ := strconv.Atoi(u.Gid)
	dir := worldDir(t, "held-spool")
	bin := userBinary(t, dir)
	// The daemon's state directory and the spool, as postinst makes
	// /var/lib/sekisho and /var/lib/sekisho-held: the spool root's, in
	// the user's group, its directories the user's.
	state := filepath.Join(dir, "state")
	spool := filepath.Join(dir, "held")
	for _, d := range []string{state, spool, filepath.Join(spool, "tmp"), filepath.Join(spool, "new"), filepath.Join(spool, "done"), filepath.Join(spool, "bad")} {
		if err := os.Mkdir(d, 0o750); err != nil {
			t.Fatal(err)
		}
		owner := uid
		if d == spool {
			owner = 0
		}
		if err := os.Chown(d, owner, gid); err != nil {
			t.Fatal(err)
		}
	}
	etcFile := filepath.Join(dir, "postfix-etc")
	queue := filepath.Join(dir, "queue")
	script := fmt.Sprintf("#!/bin/sh\nexec %s -c \"$(cat %s)\" -j\n", postqueueCmd, etcFile)
	if err := os.WriteFile(queue, []byte(script), 0o755); err != nil {
		t.Fatal(err)
	}
	audit := filepath.Join(state, "audit.log")
	web := fmt.Sprintf("127.0.0.1:%d", freePort(t))
	milter := fmt.Sprintf("127.0.0.1:%d", freePort(t))
	config := fmt.Sprintf(`listen = %q
%s
[history]
store = %q

[console]
listen = %q
queue_command = [%q]
release_command = [%q, "held-request", "-spool", %q, "release"]
flush_command = []
delete_command = [%q, "held-request", "-spool", %q, "delete"]
audit_log = %q
`, "inet:"+milter, sekishoConfig("enforce", ruleASCIIQuarantine), filepath.Join(state, "history.db"), web, queue, bin, spool, bin, spool, audit)
	cfgPath := filepath.Join(dir, "sekisho.toml")
	if err := os.WriteFile(cfgPath, []byte(config), 0o644); err != nil {
		t.Fatal(err)
	}
	if code, out := runAs(t, u, bin, "-check", "-config", cfgPath); code != 0 {
		t.Fatalf("-check as the daemon's user: %d\n%s", code, out)
	}
	s := launchSekisho(t, cfgPath, milter, setprivCmd, "--reuid="+u.Uid, "--regid="+u.Gid, "--init-groups", "--no-new-privs", "--", bin, "-config", cfgPath)
	status, err := os.ReadFile(fmt.Sprintf("/proc/%d/status", s.p.cmd.Process.Pid))
	if err != nil {
		t.Fatal(err)
	}
	if !regexp.MustCompile(`(?m)^Uid:\s+`+u.Uid+`\s`).Match(status) || !regexp.MustCompile(`(?m)^NoNewPrivs:\s+1$`).Match(status) {
		t.Fatalf("sekisho does not run as %s with no new privileges:\n%s", u.Username, status)
	}
	pf := startPostfix(t, s.Milter, postfixOptions{})
	if err := os.WriteFile(etcFile, []byte(pf.etc), 0o644); err != nil {
		t.Fatal(err)
	}

	// sekisho-held.path: held-apply as root, whenever new/ is not empty,
	// bounded as the unit bounds it.
	caps := unitCaps(t, heldUnit)
	var applyLog bytes.Buffer
	var applyMu sync.Mutex
	stop, stopped := make(chan struct{}), make(chan struct{})
	go func() {
		defer close(stopped)
		for {
			select {
			case <-stop:
				return
			case <-time.After(50 * time.Millisecond):
			}
			if names, _ := os.ReadDir(filepath.Join(spool, "new")); len(names) == 0 {
				continue
			}
			out, err := exec.Command(setprivCmd, "--no-new-privs", "--bounding-set="+caps, "--",
				bin, "held-apply", "-spool", spool, "-user", u.Username, "-postfix-config", pf.etc).CombinedOutput()
			applyMu.Lock()
			applyLog.Write(out)
			if err != nil {
				fmt.Fprintf(&applyLog, "held-apply: %v\n", err)
			}
			applyMu.Unlock()
		}
	}()
	t.Cleanup(func() { close(stop); <-stopped })
	applied := func() string {
		applyMu.Lock()
		defer applyMu.Unlock()
		return applyLog.String()
	}

	// The list, read by the unprivileged daemon with postqueue -j.
	base := "http://" + web
	tok1, tok2, ids := holdTwo(t, s, pf, base)

	if page := consoleHeldDo(t, base, "release", ids[tok1]); !strings.Contains(page, "message "+ids[tok1]+" released") {
		t.Errorf("release page:\n%s\nheld-apply:\n%s", page, applied())
	}
	if got := pf.waitDelivered(t, tok1, 1); got[0].Rcpt != "suzuki@example.co.jp" {
		t.Errorf("released message delivered to %s", got[0].Rcpt)
	}
	if page := consoleHeldDo(t, base, "delete", ids[tok2]); !strings.Contains(page, "message "+ids[tok2]+" deleted") {
		t.Errorf("delete page:\n%s\nheld-apply:\n%s", page, applied())
	}
	if held := pf.held(t); len(held) != 0 {
		t.Errorf("hold queue %v after release and delete", held)
	}
	pf.waitQueueEmpty(t)
	if got := pf.messages(t, tok2); len(got) != 0 {
		t.Errorf("a deleted message was delivered")
	}

	// The audit log: each action's attempt, then its outcome.
	b, err := os.ReadFile(audit)
	if err != nil {
		t.Fatal(err)
	}
	lines := strings.Split(strings.TrimSpace(string(b)), "\n")
	if len(lines) != 4 {
		t.Fatalf("audit log:\n%s", b)
	}
	for i, want := range []struct {
		action, id string
		attempt    bool
	}{{"release", ids[tok1], true}, {"release", ids[tok1], false}, {"delete", ids[tok2], true}, {"delete", ids[tok2], false}} {
		var e struct {
			Action  string `json:"action"`
			QueueID string `json:"queue_id"`
			Attempt bool   `json:"attempt"`
			OK      bool   `json:"ok"`
		}
		json.Unmarshal([]byte(lines[i]), &e)
		if e.Action != want.action || e.QueueID != want.id || e.Attempt != want.attempt || !want.attempt && !e.OK {
			t.Errorf("audit line %d: %s, want %s %s (attempt %v)", i, lines[i], want.action, want.id, want.attempt)
		}
	}
	// Root's side says what it did, and for whom.
	for _, want := range []struct{ msg, id string }{{`msg="held-apply: held message released"`, ids[tok1]}, {`msg="held-apply: held message deleted"`, ids[tok2]}} {
		if !regexp.MustCompile(regexp.QuoteMeta(want.msg) + `.* queue_id=` + want.id + ` .*remote=127\.0\.0\.1:`).MatchString(applied()) {
			t.Errorf("held-apply's log lacks %s for %s:\n%s", want.msg, want.id, applied())
		}
	}
	if left, _ := os.ReadDir(filepath.Join(spool, "new")); len(left) != 0 {
		t.Errorf("requests left in the spool: %v", left)
	}
	if left, _ := os.ReadDir(filepath.Join(spool, "done")); len(left) != 0 {
		t.Errorf("results left in the spool: %v", left)
	}

	// A message that is not held any more: the root side says so.
	code, out := runAs(t, u, bin, "held-request", "-spool", spool, "-wait", "10s", "delete", ids[tok1])
	if code != 1 || !strings.Contains(out, "not in the hold queue") {
		t.Errorf("held-request for a message no longer held: %d\n%s", code, out)
	}
}

// TestCheckHeldNoNewPrivs: -check run with no new privileges, as the
// packaged unit runs the daemon, says that sudo cannot work there and
// that postqueue needs group postdrop; without no_new_privs, or once the
// user is in group postdrop, it does not.
func TestCheckHeldNoNewPrivs(t *testing.T) {
	t.Parallel()
	for _, p := range []string{setprivCmd, usermodCmd} {
		requireProgram(t, p)
	}
	u := throwawayUser(t)
	dir := worldDir(t, "check-nnp")
	bin := userBinary(t, dir)
	state := filepath.Join(dir, "state")
	if err := os.Mkdir(state, 0o750); err != nil {
		t.Fatal(err)
	}
	uid, _ := strconv.Atoi(u.Uid)
	if err := os.Chown(state, uid, -1); err != nil {
		t.Fatal(err)
	}
	cfg := filepath.Join(dir, "c.toml")
	text := fmt.Sprintf(`[history]
store = %q
[console]
listen = "127.0.0.1:10031"
queue_command = [%q, "-j"]
release_command = ["sudo", "-n", "/usr/sbin/postsuper", "-H"]
flush_command = []
delete_command = []
`, filepath.Join(state, "h.db"), postqueueCmd)
	if err := os.WriteFile(cfg, []byte(text), 0o644); err != nil {
		t.Fatal(err)
	}
	check := func(nnp bool) string {
		t.Helper()
		args := []string{"--reuid=" + u.Uid, "--regid=" + u.Gid, "--init-groups"}
		if nnp {
			args = append(args, "--no-new-privs")
		}
		out, _ := exec.Command(setprivCmd, append(args, "--", bin, "-check", "-config", cfg)...).CombinedOutput()
		return string(out)
	}
	sudo := "warning: console.release_command runs sudo, which cannot gain privileges in a process with no_new_privs"
	postdrop := "warning: console.queue_command runs postqueue, whose set-group-id postdrop does not work under no_new_privs"
	if out := check(true); !strings.Contains(out, sudo) || !strings.Contains(out, postdrop) {
		t.Errorf("-check with no_new_privs:\n%s", out)
	}
	if out := check(false); strings.Contains(out, "no_new_privs") {
		t.Errorf("-check without no_new_privs:\n%s", out)
	}
	accounts(t, usermodCmd, "--append", "--groups", "postdrop", u.Username)
	if out := check(true); !strings.Contains(out, sudo) || strings.Contains(out, postdrop) {
		t.Errorf("-check with no_new_privs, in group postdrop:\n%s", out)
	}
}
