package main

import (
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"io"
	"log/slog"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"testing"
	"time"
)

// spoolUID owns the test spools: not root, so that a file root made is a
// wrong owner.
const spoolUID = 65534

// needRoot fails a test that needs root to give files away, and skips it
// under -short (the fast loop runs without root).
func needRoot(t *testing.T) {
	t.Helper()
	if os.Geteuid() != 0 {
		if testing.Short() {
			t.Skip("needs root to make files of another user")
		}
		t.Fatal("needs root to make files of another user: run as root, or with -short")
	}
}

// testSpool makes a spool for spoolUID, as the package's postinst does:
// the spool root's, its directories spoolUID's.
func testSpool(t *testing.T) string {
	t.Helper()
	dir := filepath.Join(t.TempDir(), "held")
	if err := os.Mkdir(dir, 0o750); err != nil {
		t.Fatal(err)
	}
	for _, d := range heldSpoolDirs {
		p := filepath.Join(dir, d)
		if err := os.Mkdir(p, 0o750); err != nil {
			t.Fatal(err)
		}
		if err := os.Chown(p, spoolUID, spoolUID); err != nil {
			t.Fatal(err)
		}
	}
	return dir
}

// appliedBy is a heldApplier whose run records what it was asked.
func appliedBy(t *testing.T) (heldApplier, *[]heldRequest, *bytes.Buffer) {
	var done []heldRequest
	var mu sync.Mutex
	logs := &bytes.Buffer{}
	a := heldApplier{uid: spoolUID, log: slog.New(slog.NewTextHandler(logs, nil)), run: func(_ context.Context, r heldRequest) error {
		mu.Lock()
		defer mu.Unlock()
		done = append(done, r)
		return nil
	}}
	return a, &done, logs
}

// putRequest writes data as new/name, owned by uid.
func putRequest(t *testing.T, spool, name string, data []byte, uid int) {
	t.Helper()
	p := filepath.Join(spool, "new", name)
	if err := os.WriteFile(p, data, 0o640); err != nil {
		t.Fatal(err)
	}
	if err := os.Lchown(p, uid, uid); err != nil {
		t.Fatal(err)
	}
}

func requestJSON(id, action, queueID string) []byte {
	b, _ := json.Marshal(heldRequest{ID: id, Action: action, QueueID: queueID, User: "admin", Remote: "127.0.0.1:5555", Time: time.Now()})
	return append(b, '\n')
}

// readResult reads done/id.
func readResult(t *testing.T, spool, id string) heldResult {
	t.Helper()
	b, err := os.ReadFile(filepath.Join(spool, "done", id))
	if err != nil {
		t.Fatalf("no result for %s: %v", id, err)
	}
	var r heldResult
	if err := json.Unmarshal(b, &r); err != nil {
		t.Fatal(err)
	}
	return r
}

// TestHeldApplyRefusesHostileRequests: each hostile request is taken out
// of new/, answered with why it was refused, and never applied; the valid
// one beside them is applied.
func TestHeldApplyRefusesHostileRequests(t *testing.T) {
	needRoot(t)
	spool := testSpool(t)
	id := func(c byte) string { return strings.Repeat(string(c), 32) }
	big := requestJSON(id('7'), "release", "3F1A2B40C5")
	big = append(big[:len(big)-2], []byte(`,"pad":"`+strings.Repeat("x", heldRequestMax)+`"}`+"\n")...)
	full := requestJSON(id('9'), "delete", "3F1A2B40C5")
	cases := []struct {
		id, why string
		put     func(name string)
	}{
		{id('1'), "symbolic link", func(name string) {
			target := filepath.Join(t.TempDir(), "target")
			os.WriteFile(target, requestJSON(name, "release", "3F1A2B40C5"), 0o644)
			os.Chown(target, spoolUID, spoolUID)
			if err := os.Symlink(target, filepath.Join(spool, "new", name)); err != nil {
				t.Fatal(err)
			}
			os.Lchown(filepath.Join(spool, "new", name), spoolUID, spoolUID)
		}},
		{id('2'), "owned by uid 0", func(name string) { putRequest(t, spool, name, requestJSON(name, "release", "3F1A2B40C5"), 0) }},
		{id('3'), "is not a Postfix queue id", func(name string) {
			putRequest(t, spool, name, requestJSON(name, "release", "../../etc/passwd"), spoolUID)
		}},
		{id('4'), "is not a Postfix queue id", func(name string) {
			putRequest(t, spool, name, requestJSON(name, "delete", "ALL"), spoolUID)
		}},
		{id('5'), `action "hold"`, func(name string) { putRequest(t, spool, name, requestJSON(name, "hold", "3F1A2B40C5"), spoolUID) }},
		{id('6'), "incomplete", func(name string) {
			putRequest(t, spool, name, full[:len(full)/2], spoolUID) // half written
		}},
		{id('7'), "more than 4096", func(name string) { putRequest(t, spool, name, big, spoolUID) }},
		{id('8'), "not the file's name", func(name string) {
			putRequest(t, spool, name, requestJSON(id('0'), "release", "3F1A2B40C5"), spoolUID)
		}},
		{id('a'), "not a regular file", func(name string) {
			if err := os.Mkdir(filepath.Join(spool, "new", name), 0o750); err != nil {
				t.Fatal(err)
			}
			os.Chown(filepath.Join(spool, "new", name), spoolUID, spoolUID)
		}},
		{id('b'), "unknown field", func(name string) {
			putRequest(t, spool, name, []byte(`{"id":"`+name+`","action":"release","queue_id":"3F1A2B40C5","argv":["-d","ALL"]}`+"\n"), spoolUID)
		}},
		{id('c'), "more than one JSON object", func(name string) {
			putRequest(t, spool, name, append(requestJSON(name, "release", "3F1A2B40C5"), requestJSON(name, "delete", "3F1A2B40C6")...), spoolUID)
		}},
		{id('d'), "links to it", func(name string) {
			putRequest(t, spool, name, requestJSON(name, "release", "3F1A2B40C5"), spoolUID)
			if err := os.Link(filepath.Join(spool, "new", name), filepath.Join(spool, "tmp", "other")); err != nil {
				t.Fatal(err)
			}
		}},
	}
	for _, c := range cases {
		c.put(c.id)
	}
	putRequest(t, spool, "not-an-id", requestJSON("not-an-id", "release", "3F1A2B40C5"), spoolUID)
	good := id('e')
	putRequest(t, spool, good, requestJSON(good, "release", "4RZx4v0XsqzBCD"), spoolUID)

	a, done, logs := appliedBy(t)
	if err := a.apply(spool); err != nil {
		t.Fatal(err)
	}
	if len(*done) != 1 || (*done)[0].ID != good || (*done)[0].QueueID != "4RZx4v0XsqzBCD" || (*done)[0].User != "admin" {
		t.Errorf("applied %+v, want only request %s", *done, good)
	}
	if r := readResult(t, spool, good); !r.OK {
		t.Errorf("result of the valid request: %+v", r)
	}
	for _, c := range cases {
		r := readResult(t, spool, c.id)
		if r.OK || !strings.Contains(r.Error, c.why) {
			t.Errorf("request %s: result %+v, want refused for %q", c.id, r, c.why)
		}
	}
	if left, _ := os.ReadDir(filepath.Join(spool, "new")); len(left) != 0 {
		t.Errorf("new/ still holds %v: the path unit would start the service again and again", left)
	}
	if _, err := os.Stat(filepath.Join(spool, "done", "not-an-id")); err == nil {
		t.Error("a result was written under a name that is no request id")
	}
	if !strings.Contains(logs.String(), "held-apply: request refused") {
		t.Errorf("refusals not logged:\n%s", logs)
	}
}

// TestHeldApplyRefusesSpool: a spool that its user owns (who could then
// rename its directories and put links in their place), one group or
// others may write to, a directory of it of another user or writable by
// others, one missing, or a link in the place of either is refused
// whole; nothing is applied.
func TestHeldApplyRefusesSpool(t *testing.T) {
	needRoot(t)
	for name, spoil := range map[string]func(spool string) string{
		"owner":     func(spool string) string { os.Chown(spool, spoolUID, spoolUID); return spool },
		"top mode":  func(spool string) string { os.Chmod(spool, 0o770); return spool },
		"new owner": func(spool string) string { os.Chown(filepath.Join(spool, "new"), 0, 0); return spool },
		"mode":      func(spool string) string { os.Chmod(filepath.Join(spool, "new"), 0o777); return spool },
		"no bad":    func(spool string) string { os.Remove(filepath.Join(spool, "bad")); return spool },
		"link": func(spool string) string {
			l := filepath.Join(filepath.Dir(spool), "link")
			os.Symlink(spool, l)
			return l
		},
		"done link": func(spool string) string {
			os.Rename(filepath.Join(spool, "done"), filepath.Join(spool, "elsewhere"))
			os.Symlink(filepath.Join(spool, "elsewhere"), filepath.Join(spool, "done"))
			return spool
		},
	} {
		t.Run(name, func(t *testing.T) {
			spool := testSpool(t)
			id := strings.Repeat("f", 32)
			putRequest(t, spool, id, requestJSON(id, "delete", "3F1A2B40C5"), spoolUID)
			a, done, _ := appliedBy(t)
			if err := a.apply(spoil(spool)); err == nil {
				t.Error("spool accepted")
			}
			if len(*done) != 0 {
				t.Errorf("applied %+v", *done)
			}
		})
	}
}

// TestHeldApplyQuarantine: what held-apply cannot remove from new/ (a
// directory with entries) goes into bad/, so that new/ empties and the
// path unit does not start the service again and again; a request beside
// it is applied, and one under the name of a request id is answered.
func TestHeldApplyQuarantine(t *testing.T) {
	needRoot(t)
	spool := testSpool(t)
	dirID := strings.Repeat("a", 32)
	for _, n := range []string{dirID, "junk"} {
		d := filepath.Join(spool, "new", n, "sub")
		if err := os.MkdirAll(d, 0o750); err != nil {
			t.Fatal(err)
		}
		os.WriteFile(filepath.Join(d, "f"), []byte("x"), 0o640)
	}
	good := strings.Repeat("b", 32)
	putRequest(t, spool, good, requestJSON(good, "delete", "3F1A2B40C5"), spoolUID)
	a, done, logs := appliedBy(t)
	if err := a.apply(spool); err != nil {
		t.Fatal(err)
	}
	if len(*done) != 1 || (*done)[0].ID != good {
		t.Errorf("applied %+v, want only %s", *done, good)
	}
	if left, _ := os.ReadDir(filepath.Join(spool, "new")); len(left) != 0 {
		t.Errorf("new/ still holds %v: the path unit would start the service again and again", left)
	}
	bad, _ := os.ReadDir(filepath.Join(spool, "bad"))
	if len(bad) != 2 {
		t.Errorf("bad/ holds %v, want the two directories", bad)
	}
	for _, e := range bad {
		if _, err := os.Stat(filepath.Join(spool, "bad", e.Name(), "sub", "f")); err != nil {
			t.Errorf("bad/%s: %v", e.Name(), err)
		}
	}
	if r := readResult(t, spool, dirID); r.OK || !strings.Contains(r.Error, "not a regular file") {
		t.Errorf("result for the directory: %+v", r)
	}
	if !strings.Contains(logs.String(), "moved to bad/") {
		t.Errorf("the move is not logged:\n%s", logs)
	}
}

// TestHeldApplyBatch: one run reads a bounded number of entries of new/;
// the next run takes the rest.
func TestHeldApplyBatch(t *testing.T) {
	needRoot(t)
	spool := testSpool(t)
	for c := range 5 {
		id := strings.Repeat(string(rune('1'+c)), 32)
		putRequest(t, spool, id, requestJSON(id, "release", "3F1A2B40C5"), spoolUID)
	}
	a, done, _ := appliedBy(t)
	a.max = 3
	for run, want := range []int{3, 5, 5} {
		if err := a.apply(spool); err != nil {
			t.Fatal(err)
		}
		if len(*done) != want {
			t.Errorf("after run %d: %d applied, want %d", run+1, len(*done), want)
		}
	}
}

// TestHeldApplyResultNotThroughLink: a link the spool's user planted where
// held-apply writes a result does not make root write elsewhere.
func TestHeldApplyResultNotThroughLink(t *testing.T) {
	needRoot(t)
	spool := testSpool(t)
	victim := filepath.Join(t.TempDir(), "victim")
	os.WriteFile(victim, []byte("keep\n"), 0o600)
	id := strings.Repeat("c", 32)
	for _, n := range []string{id, "." + id + ".tmp"} {
		if err := os.Symlink(victim, filepath.Join(spool, "done", n)); err != nil {
			t.Fatal(err)
		}
	}
	putRequest(t, spool, id, requestJSON(id, "release", "3F1A2B40C5"), spoolUID)
	a, _, _ := appliedBy(t)
	if err := a.apply(spool); err != nil {
		t.Fatal(err)
	}
	if b, _ := os.ReadFile(victim); string(b) != "keep\n" {
		t.Errorf("the link's target was written: %q", b)
	}
	if r := readResult(t, spool, id); !r.OK {
		t.Errorf("result %+v", r)
	}
}

// TestHeldAskWaits: held-request writes its request whole into new/ and
// returns the result held-apply writes, the failure as well as success.
func TestHeldAskWaits(t *testing.T) {
	needRoot(t)
	spool := testSpool(t)
	// The test runs the request as root: the spool's user is root here.
	for _, d := range append([]string{""}, heldSpoolDirs...) {
		os.Chown(filepath.Join(spool, d), 0, 0)
	}
	for _, fail := range []bool{false, true} {
		a, done, _ := appliedBy(t)
		a.uid = 0
		if fail {
			a.run = func(context.Context, heldRequest) error { return io.ErrUnexpectedEOF }
		}
		stop := make(chan struct{})
		var wg sync.WaitGroup
		wg.Add(1)
		go func() { // the path unit's service, run whenever new/ is not empty
			defer wg.Done()
			for {
				select {
				case <-stop:
					return
				case <-time.After(20 * time.Millisecond):
				}
				if names, _ := os.ReadDir(filepath.Join(spool, "new")); len(names) > 0 {
					if err := a.apply(spool); err != nil {
						t.Error(err)
					}
				}
			}
		}()
		res, err := heldAsk(spool, heldRequest{Action: "delete", QueueID: "3F1A2B40C5", User: "admin"}, 5*time.Second, 10*time.Millisecond)
		close(stop)
		wg.Wait()
		if err != nil {
			t.Fatal(err)
		}
		if res.OK == fail || fail && !strings.Contains(res.Error, "unexpected EOF") {
			t.Errorf("fail=%v: result %+v", fail, res)
		}
		if !fail && (len(*done) != 1 || (*done)[0].QueueID != "3F1A2B40C5" || (*done)[0].User != "admin" || (*done)[0].ID != res.ID) {
			t.Errorf("applied %+v", *done)
		}
		for _, d := range heldSpoolDirs {
			if left, _ := os.ReadDir(filepath.Join(spool, d)); len(left) != 0 {
				t.Errorf("%s/ holds %v after the answer was read", d, left)
			}
		}
	}
}

// TestHeldAskTimeout: with nothing to answer, held-request gives up after
// its wait, takes its request back (so that nothing is done later) and
// says where to look; a request taken but not answered is told apart.
func TestHeldAskTimeout(t *testing.T) {
	spool := t.TempDir()
	for _, d := range heldSpoolDirs {
		os.Mkdir(filepath.Join(spool, d), 0o700)
	}
	start := time.Now()
	_, err := heldAsk(spool, heldRequest{Action: "release", QueueID: "3F1A2B40C5"}, 300*time.Millisecond, 10*time.Millisecond)
	if err == nil || !strings.Contains(err.Error(), "taken back and nothing was done") || !strings.Contains(err.Error(), "sekisho-held.path") {
		t.Errorf("error %v", err)
	}
	if d := time.Since(start); d < 300*time.Millisecond || d > 3*time.Second {
		t.Errorf("gave up after %v, want 300ms", d)
	}
	if left, _ := os.ReadDir(filepath.Join(spool, "new")); len(left) != 0 {
		t.Errorf("new/ holds %v after the timeout", left)
	}

	// Taken (new/ emptied) but never answered.
	stop := make(chan struct{})
	go func() {
		for {
			select {
			case <-stop:
				return
			case <-time.After(5 * time.Millisecond):
			}
			names, _ := os.ReadDir(filepath.Join(spool, "new"))
			for _, n := range names {
				os.Remove(filepath.Join(spool, "new", n.Name()))
			}
		}
	}()
	_, err = heldAsk(spool, heldRequest{Action: "delete", QueueID: "3F1A2B40C5"}, 300*time.Millisecond, 10*time.Millisecond)
	close(stop)
	if err == nil || !strings.Contains(err.Error(), "not answered") || !strings.Contains(err.Error(), "journalctl -u sekisho-held.service") {
		t.Errorf("error %v", err)
	}
}

// TestHeldAskRefusesBadRequests: held-request itself refuses what
// held-apply would, before writing anything.
func TestHeldAskRefusesBadRequests(t *testing.T) {
	spool := t.TempDir()
	for _, d := range heldSpoolDirs {
		os.Mkdir(filepath.Join(spool, d), 0o700)
	}
	for _, r := range []heldRequest{
		{Action: "requeue", QueueID: "3F1A2B40C5"},
		{Action: "delete", QueueID: "ALL"},
		{Action: "delete", QueueID: "-d"},
		{Action: "release", QueueID: "3f1a2b40c5"},
		{Action: "release", QueueID: "3F1A2B40C5", User: "a\nb"},
	} {
		if _, err := heldAsk(spool, r, time.Second, 10*time.Millisecond); err == nil {
			t.Errorf("%+v accepted", r)
		}
	}
	if left, _ := os.ReadDir(filepath.Join(spool, "new")); len(left) != 0 {
		t.Errorf("new/ holds %v", left)
	}
}

// TestHeldIDs: Postfix's short and long queue ids, and nothing else.
func TestHeldIDs(t *testing.T) {
	for id, want := range map[string]bool{
		"3F1A2B40C5": true, "B2C0D1": true, "4RZx4v0XsqzBCD": true, "4Rb9Lq1Kf7z1w9": true,
		"": false, "ALL": false, "3f1a2b40c5": false, "3F1A2": false, "4RZx4v0Xsq": false,
		"4RZx4v0XsqzBCDa": false, "../x": false, "3F1A2B40C5 ": false, "-d": false, "hold": false,
	} {
		if got := heldIDRE.MatchString(id); got != want {
			t.Errorf("%q: %v, want %v", id, got, want)
		}
	}
}

// TestCheckHeldRequest: -check says what a held-request command lacks: a
// spool this user can write to, its flags and action; and nothing once
// it has them.
func TestCheckHeldRequest(t *testing.T) {
	dir := t.TempDir()
	spool := filepath.Join(dir, "held")
	write := func(release, del string) string {
		path := filepath.Join(dir, "c.toml")
		cfg := fmt.Sprintf("[history]\nstore = %q\n[console]\nlisten = \"127.0.0.1:10031\"\nqueue_command = [\"/bin/echo\"]\nflush_command = []\nrelease_command = %s\ndelete_command = %s\n",
			filepath.Join(dir, "h.db"), release, del)
		if err := os.WriteFile(path, []byte(cfg), 0o644); err != nil {
			t.Fatal(err)
		}
		return path
	}
	cmd := func(action string) string {
		return fmt.Sprintf(`["/bin/true", "held-request", "-spool", %q, %q]`, spool, action)
	}
	// The spool made by this user is root's only when the test runs as
	// root; otherwise held-apply would refuse it, and -check says so.
	var ready []string
	if os.Geteuid() != 0 {
		ready = []string{"warning: console.release_command: the spool " + spool + " is not a directory of root's"}
	}
	for _, c := range []struct {
		release, del string
		mkdir        bool
		want         []string
	}{
		{cmd("release"), cmd("delete"), false, []string{"warning: console.release_command: the spool's " + spool + "/tmp", "warning: console.delete_command: the spool's", "have sekisho-held.path run `sekisho held-apply -spool " + spool + "` as root"}},
		{cmd("release"), cmd("release"), true, []string{`warning: console.delete_command: want ["/usr/sbin/sekisho", "held-request", "-spool", "DIR", "delete"]`}},
		{`["/bin/true", "held-request", "release"]`, "[]", true, []string{"warning: console.release_command: want"}},
		{cmd("release"), cmd("delete"), true, ready},
	} {
		if c.mkdir {
			for _, d := range heldSpoolDirs {
				os.MkdirAll(filepath.Join(spool, d), 0o750)
			}
		}
		var out, errb bytes.Buffer
		code := run([]string{"-check", "-config", write(c.release, c.del)}, &out, &errb)
		if code != 0 || len(c.want) == 0 && errb.Len() > 0 {
			t.Errorf("%s %s: exit %d:\n%s", c.release, c.del, code, errb.String())
		}
		for _, w := range c.want {
			if !strings.Contains(errb.String(), w) {
				t.Errorf("%s %s: no warning %q:\n%s", c.release, c.del, w, errb.String())
			}
		}
	}
	// A spool its user owns could have its directories replaced by
	// links: held-apply refuses it, and -check says so.
	if os.Geteuid() == 0 {
		if err := os.Chown(spool, spoolUID, spoolUID); err != nil {
			t.Fatal(err)
		}
		var out, errb bytes.Buffer
		run([]string{"-check", "-config", write(cmd("release"), cmd("delete"))}, &out, &errb)
		if want := "the spool " + spool + " is not a directory of root's that group and others cannot write (uid 65534"; !strings.Contains(errb.String(), want) {
			t.Errorf("spool of its user: no warning %q:\n%s", want, errb.String())
		}
	}
}
