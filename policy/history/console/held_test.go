package console

import (
	"encoding/json"
	"fmt"
	"net/http"
	"net/http/httptest"
	"net/url"
	"os"
	"path/filepath"
	"regexp"
	"strings"
	"testing"
	"time"

	"github.com/sekisho/sekisho/policy/history"
)

// fakeQueue is a hold queue kept in a file, read and changed by shell
// scripts that stand for postqueue and postsuper: the command lines they
// get are recorded.
type fakeQueue struct {
	dir, queue, calls string
	held              Held
}

func newFakeQueue(t *testing.T, entries ...string) *fakeQueue {
	t.Helper()
	dir := t.TempDir()
	q := &fakeQueue{dir: dir, queue: filepath.Join(dir, "queue"), calls: filepath.Join(dir, "calls")}
	if err := os.WriteFile(q.queue, []byte(strings.Join(entries, "\n")+"\n"), 0o644); err != nil {
		t.Fatal(err)
	}
	script := func(name, body string) string {
		p := filepath.Join(dir, name)
		if err := os.WriteFile(p, []byte("#!/bin/sh\necho \"$(basename $0) $*\" >> "+q.calls+"\n"+body+"\n"), 0o755); err != nil {
			t.Fatal(err)
		}
		return p
	}
	drop := `grep -v "\"queue_id\": *\"$2\"" ` + q.queue + ` > ` + q.queue + `.new; mv ` + q.queue + `.new ` + q.queue
	q.held = Held{
		Queue:    []string{script("postqueue-j", "cat "+q.queue), "-j"},
		Release:  []string{script("postsuper-H", drop), "-H"},
		Flush:    []string{script("postqueue-i", "true"), "-i"},
		Delete:   []string{script("postsuper-d", drop), "-d"},
		AuditLog: filepath.Join(dir, "audit.log"),
	}
	return q
}

func (q *fakeQueue) callLog(t *testing.T) string {
	b, _ := os.ReadFile(q.calls)
	return string(b)
}

func queueJSON(name, id, sender string, rcpts ...string) string {
	var rs []string
	for _, r := range rcpts {
		rs = append(rs, fmt.Sprintf(`{"address": %q}`, r))
	}
	return fmt.Sprintf(`{"queue_name": %q, "queue_id": %q, "arrival_time": %d, "message_size": 1234, "sender": %q, "recipients": [%s]}`,
		name, id, time.Now().Unix(), sender, strings.Join(rs, ", "))
}

func heldServer(t *testing.T, q *fakeQueue) *httptest.Server {
	t.Helper()
	now := time.Now()
	return serve(t, storeOf(t, []history.Record{
		{Time: now, Host: "mx1", QueueID: "5033898822E", Sender: "tanaka@example.org", Rcpts: []string{"suzuki@example.co.jp"},
			Subject: "<b>invoice</b>", Action: "quarantine", Rule: "ascii_only", Stage: "eob", Policy: "default", Reason: "subject is ASCII only"},
		{Time: now, Host: "mx1", QueueID: "6044909933F", Sender: "sato@example.org", Rcpts: []string{"ito@example.co.jp"},
			Action: "quarantine", Rule: "send_only", Stage: "eob", Policy: "default", Reason: "send-only address"},
		{Time: now, Host: "mx1", QueueID: "7055A1A044A", Sender: "x@example.org", Action: "accept", Stage: "eob", Policy: "default"},
		// A quarantine of long ago under a queue id Postfix gave again
		// to a message held by something else: not sekisho's.
		{Time: now.Add(-30 * 24 * time.Hour), Host: "mx1", QueueID: "7055A1A044A", Sender: "old@example.org", Action: "quarantine", Rule: "ascii_only", Stage: "eob", Policy: "default"},
	}...), q.held)
}

var tokenRE = regexp.MustCompile(`name="token" value="([0-9a-f.]+)"`)

func post(t *testing.T, u string, form url.Values, origin string) (int, string) {
	t.Helper()
	req, _ := http.NewRequest("POST", u, strings.NewReader(form.Encode()))
	req.Header.Set("Content-Type", "application/x-www-form-urlencoded")
	if origin != "" {
		req.Header.Set("Origin", origin)
	}
	code, body, _ := do(t, req)
	return code, body
}

// TestHeldList: the held list shows the messages of the hold queue that
// the history says sekisho held, with their rule and reason (escaped);
// others held, and messages of other queues, are only counted or left out.
func TestHeldList(t *testing.T) {
	q := newFakeQueue(t,
		queueJSON("hold", "5033898822E", "tanaka@example.org", "suzuki@example.co.jp"),
		queueJSON("hold", "7055A1A044A", "x@example.org", "y@example.co.jp"),
		queueJSON("deferred", "6044909933F", "sato@example.org", "ito@example.co.jp"),
		"not json",
	)
	srv := heldServer(t, q)
	code, body, _ := get(t, srv.URL+"/held")
	if code != 200 {
		t.Fatalf("GET /held: %d\n%s", code, body)
	}
	if n := strings.Count(body, `<tr class="held">`); n != 1 || !strings.Contains(body, "5033898822E") || strings.Contains(body, "6044909933F") {
		t.Errorf("want the one message sekisho held:\n%s", body)
	}
	for _, want := range []string{"1 messages held by sekisho; 1 other held messages are not shown", "ascii_only", "subject is ASCII only",
		"&lt;b&gt;invoice&lt;/b&gt;", `href="/held/5033898822E/release?lang=en"`, `href="/held/5033898822E/delete?lang=en"`} {
		if !strings.Contains(body, want) {
			t.Errorf("the list lacks %q:\n%s", want, body)
		}
	}
}

// TestHeldRelease: a release is confirmed on a page of the console's own,
// whose token the POST must carry; then the release and flush commands
// run with the queue id, the audit log gets one line with the user and
// the outcome, and the message is gone from the list. A cross-site POST,
// one without the token, or one for a message sekisho did not hold does
// nothing.
func TestHeldRelease(t *testing.T) {
	q := newFakeQueue(t,
		queueJSON("hold", "5033898822E", "tanaka@example.org", "suzuki@example.co.jp"),
		queueJSON("hold", "6044909933F", "sato@example.org", "ito@example.co.jp"),
		queueJSON("hold", "7055A1A044A", "x@example.org", "y@example.co.jp"),
	)
	srv := heldServer(t, q)
	code, body, _ := get(t, srv.URL+"/held/5033898822E/release")
	m := tokenRE.FindStringSubmatch(body)
	if code != 200 || m == nil || !strings.Contains(body, "Release message 5033898822E?") {
		t.Fatalf("confirmation page: %d\n%s", code, body)
	}
	u := srv.URL + "/held/5033898822E/release"
	if code, _ := post(t, u, url.Values{"token": {m[1]}}, "https://evil.example"); code != 403 {
		t.Errorf("cross-site POST: %d, want 403", code)
	}
	if code, _ := post(t, u, url.Values{"token": {"00"}}, ""); code != 403 {
		t.Errorf("POST without the token: %d, want 403", code)
	}
	if code, _ := post(t, srv.URL+"/held/7055A1A044A/release", url.Values{"token": {heldToken("release", "7055A1A044A", "", time.Now().Add(time.Minute))}}, ""); code != 404 {
		t.Errorf("releasing a message sekisho did not hold: %d, want 404", code)
	}
	if calls := q.callLog(t); strings.Contains(calls, "postsuper") {
		t.Fatalf("a refused request ran a command:\n%s", calls)
	}
	code, body = post(t, u, url.Values{"token": {m[1]}}, srv.URL)
	if code != 200 || !strings.Contains(body, "message 5033898822E released") {
		t.Fatalf("release: %d\n%s", code, body)
	}
	if calls := q.callLog(t); !strings.Contains(calls, "postsuper-H -H 5033898822E\npostqueue-i -i 5033898822E\n") {
		t.Errorf("commands run:\n%s", calls)
	}
	b, err := os.ReadFile(q.held.AuditLog)
	if err != nil {
		t.Fatal(err)
	}
	// The attempt, written before the command ran, then its outcome.
	var attempt, e auditEntry
	if lines := strings.Split(strings.TrimSpace(string(b)), "\n"); len(lines) != 2 ||
		json.Unmarshal([]byte(lines[0]), &attempt) != nil || json.Unmarshal([]byte(lines[1]), &e) != nil ||
		!attempt.Attempt || attempt.OK || attempt.QueueID != "5033898822E" ||
		e.Attempt || e.Action != "release" || e.QueueID != "5033898822E" || !e.OK || e.Rule != "ascii_only" || e.Remote == "" || e.Sender != "tanaka@example.org" {
		t.Errorf("audit log:\n%s", b)
	}
	if _, body, _ := get(t, srv.URL+"/held"); strings.Contains(body, "5033898822E") {
		t.Errorf("released message still listed:\n%s", body)
	}
	// Again: it is not held any more.
	if code, _ := post(t, u, url.Values{"token": {m[1]}}, ""); code != 404 {
		t.Errorf("second release: %d, want 404", code)
	}
}

// TestHeldDeleteFailures: a command that fails is reported with its own
// words and audited as failed; an audit log that cannot be written stops
// the action before any command runs; an action turned off is not served.
func TestHeldDeleteFailures(t *testing.T) {
	q := newFakeQueue(t, queueJSON("hold", "6044909933F", "sato@example.org", "ito@example.co.jp"))
	q.held.Delete = []string{"sh", "-c", `echo "postsuper: fatal: queue file $0 is busy" >&2; exit 1`}
	srv := heldServer(t, q)
	tok := heldToken("delete", "6044909933F", "", time.Now().Add(time.Minute))
	code, body := post(t, srv.URL+"/held/6044909933F/delete", url.Values{"token": {tok}}, "")
	if code != 502 || !strings.Contains(body, "not deleted") || !strings.Contains(body, "queue file 6044909933F is busy") {
		t.Errorf("failed delete: %d\n%s", code, body)
	}
	if b, _ := os.ReadFile(q.held.AuditLog); !strings.Contains(string(b), `"ok":false`) || !strings.Contains(string(b), "is busy") {
		t.Errorf("audit of the failure:\n%s", b)
	}

	q2 := newFakeQueue(t, queueJSON("hold", "6044909933F", "sato@example.org", "ito@example.co.jp"))
	q2.held.AuditLog = filepath.Join(q2.dir, "no such dir", "audit.log")
	q2.held.Release = nil
	srv = heldServer(t, q2)
	code, body = post(t, srv.URL+"/held/6044909933F/delete", url.Values{"token": {tok}}, "")
	if code != 500 || !strings.Contains(body, "nothing was done") || strings.Contains(q2.callLog(t), "postsuper") {
		t.Errorf("unwritable audit log: %d\n%s\n%s", code, body, q2.callLog(t))
	}
	if code, _, _ := get(t, srv.URL+"/held/6044909933F/release"); code != 404 {
		t.Errorf("release turned off: %d, want 404", code)
	}
	if _, body, _ := get(t, srv.URL+"/held"); strings.Contains(body, "/release") {
		t.Errorf("release link shown while off:\n%s", body)
	}
}

// TestHeldCommandsKnowWho: the release and delete commands are told who
// asked (sekisho held-request hands it to the root side); the command
// that lists the queue is not. A user name the client sends to a console
// that asks for no login is not passed on: nothing verified it.
func TestHeldCommandsKnowWho(t *testing.T) {
	q := newFakeQueue(t, queueJSON("hold", "5033898822E", "tanaka@example.org", "suzuki@example.co.jp"))
	who := filepath.Join(q.dir, "who")
	q.held.Release = []string{"sh", "-c", `echo "$0 user=$SEKISHO_CONSOLE_USER remote=$SEKISHO_CONSOLE_REMOTE" >> ` + who}
	q.held.Flush = nil
	q.held.Queue = []string{"sh", "-c", `echo "queue remote=$SEKISHO_CONSOLE_REMOTE" >> ` + who + `; cat ` + q.queue}
	srv := heldServer(t, q)
	_, body, _ := get(t, srv.URL+"/held/5033898822E/release")
	m := tokenRE.FindStringSubmatch(body)
	if m == nil {
		t.Fatalf("confirmation page:\n%s", body)
	}
	req, _ := http.NewRequest("POST", srv.URL+"/held/5033898822E/release", strings.NewReader(url.Values{"token": {m[1]}}.Encode()))
	req.Header.Set("Content-Type", "application/x-www-form-urlencoded")
	req.SetBasicAuth("root", "anything")
	if code, body, _ := do(t, req); code != 200 {
		t.Fatalf("release: %d\n%s", code, body)
	}
	b, _ := os.ReadFile(who)
	if !regexp.MustCompile(`(?m)^5033898822E user= remote=127\.0\.0\.1:\d+$`).Match(b) || strings.Contains(string(b), "queue remote=1") {
		t.Errorf("what the commands were told:\n%s", b)
	}
}

// TestHeldTokenLife: a confirmation's token serves its action, message and
// user, for heldTokenLife; not after, not for another user, action or
// message, and not with a life longer than a page gives.
func TestHeldTokenLife(t *testing.T) {
	now := time.Now()
	tok := heldToken("release", "7055A1A044A", "sato", now.Add(heldTokenLife))
	for _, tt := range []struct {
		name, tok, action, id, user string
		at                          time.Time
		ok                          bool
	}{
		{"as issued", tok, "release", "7055A1A044A", "sato", now, true},
		{"a minute before it expires", tok, "release", "7055A1A044A", "sato", now.Add(heldTokenLife - time.Minute), true},
		{"expired", tok, "release", "7055A1A044A", "sato", now.Add(heldTokenLife + time.Second), false},
		{"another user", tok, "release", "7055A1A044A", "ito", now, false},
		{"no login", tok, "release", "7055A1A044A", "", now, false},
		{"another action", tok, "delete", "7055A1A044A", "sato", now, false},
		{"another message", tok, "release", "7055A1A044B", "sato", now, false},
		{"a longer life", heldToken("release", "7055A1A044A", "sato", now.Add(24*time.Hour)), "release", "7055A1A044A", "sato", now, false},
		{"expiry changed", "9999999999" + tok[strings.Index(tok, "."):], "release", "7055A1A044A", "sato", now, false},
		{"no expiry", tok[strings.Index(tok, ".")+1:], "release", "7055A1A044A", "sato", now, false},
		{"empty", "", "release", "7055A1A044A", "sato", now, false},
	} {
		if got := heldTokenOK(tt.tok, tt.action, tt.id, tt.user, tt.at); got != tt.ok {
			t.Errorf("%s: %v, want %v", tt.name, got, tt.ok)
		}
	}
}
