package e2e_test

import (
	"context"
	"fmt"
	"net/url"
	"os"
	"os/exec"
	"os/user"
	"path/filepath"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/sekisho/sekisho/policy/history"
)

// PostgreSQL 15 as Debian's postgresql-15 installs it.
const (
	pgInitdbCmd = "/usr/lib/postgresql/15/bin/initdb"
	pgCmd       = "/usr/lib/postgresql/15/bin/postgres"
)

// newPostgres starts a PostgreSQL server of the test's own on a free
// loopback port, in a temp dir, as user postgres when the test runs as
// root (PostgreSQL refuses root), and stops it at cleanup. Its URL is
// returned; user sekisho may do anything, without a password.
func newPostgres(t testing.TB) string {
	t.Helper()
	requireProgram(t, pgInitdbCmd)
	requireProgram(t, pgCmd)
	dir, err := newServiceDir("postgres")
	if err != nil {
		t.Fatal(err)
	}
	data := filepath.Join(dir, "data")
	if err := os.Mkdir(data, 0o700); err != nil {
		t.Fatal(err)
	}
	asPostgres := func(prog string, args ...string) []string { return append([]string{prog}, args...) }
	if os.Geteuid() == 0 {
		u, err := user.Lookup("postgres")
		if err != nil {
			t.Fatalf("user postgres (made by package postgresql-15): %v", err)
		}
		uid, _ := strconv.Atoi(u.Uid)
		gid, _ := strconv.Atoi(u.Gid)
		for _, d := range []string{dir, data} {
			if err := os.Chown(d, uid, gid); err != nil {
				t.Fatal(err)
			}
		}
		// setpriv executes the program itself: the PID is the server's.
		asPostgres = func(prog string, args ...string) []string {
			return append([]string{"setpriv", "--reuid=postgres", "--regid=postgres", "--init-groups", prog}, args...)
		}
	}
	initdb := asPostgres(pgInitdbCmd, "-D", data, "--auth=trust", "--username=sekisho", "--no-sync", "--encoding=UTF8", "--locale=C")
	if out, err := exec.Command(initdb[0], initdb[1:]...).CombinedOutput(); err != nil {
		t.Fatalf("initdb: %v\n%s", err, out)
	}
	port := freePort(t)
	p, err := startProc("postgres", filepath.Join(dir, "postgres.log"), asPostgres(pgCmd, "-D", data, "-p", strconv.Itoa(port), "-k", dir,
		"-c", "listen_addresses=127.0.0.1", "-c", "fsync=off")...)
	if err != nil {
		t.Fatal(err)
	}
	s := &service{p: p, dir: dir, Addr: fmt.Sprintf("127.0.0.1:%d", port)}
	t.Cleanup(s.stop)
	u := fmt.Sprintf("postgres://sekisho@%s/postgres?sslmode=disable", s.Addr)
	for deadline := time.Now().Add(30 * time.Second); ; time.Sleep(50 * time.Millisecond) {
		st, err := history.Open(u, true)
		if err == nil {
			_, err = st.Search(context.Background(), history.Query{Limit: 1})
			st.Close()
		}
		if err == nil {
			return u
		}
		select {
		case <-p.exited:
			t.Fatalf("postgres exited:\n%s", p.output())
		default:
		}
		if time.Now().After(deadline) {
			t.Fatalf("postgres not answering: %v\n%s", err, p.output())
		}
	}
}

// TestE2EHistoryPostgres: two MX hosts, each a Postfix with its own
// sekisho, keep their history in one real PostgreSQL; the console of one
// shows both hosts' decisions, in Chromium, and so does sekisho history.
func TestE2EHistoryPostgres(t *testing.T) {
	store := newPostgres(t)
	web := fmt.Sprintf("127.0.0.1:%d", freePort(t))
	mx1 := startSekisho(t, fmt.Sprintf("[history]\nstore = %q\nhost = \"mx1\"\n\n[console]\nlisten = %q\n\n[rules.blank]\n", store, web))
	mx2 := startSekisho(t, fmt.Sprintf("[history]\nstore = %q\nhost = \"mx2\"\n\n[rules.blank]\n", store))
	p1 := startPostfix(t, mx1.Milter, postfixOptions{})
	p2 := startPostfix(t, mx2.Milter, postfixOptions{})
	tok := token(t)
	p1.mustSwaks(t, 0, "--from", "tanaka@example.org", "--to", "suzuki@example.co.jp", "--header", "Subject: one "+tok, "--body", "本文")
	p2.mustSwaks(t, 26, "--from", "tanaka@example.org", "--to", "sato@example.co.jp", "--header", "Subject: two "+tok, "--body", " ")
	p1.waitDelivered(t, tok, 1)

	var out string
	for deadline := time.Now().Add(10 * time.Second); ; time.Sleep(100 * time.Millisecond) {
		var code int
		code, out = runSekisho(t, "history", "-config", mx1.Config, "-q", tok)
		if code == 0 && strings.Count(out, "\n") == 2 {
			break
		}
		if time.Now().After(deadline) {
			t.Fatalf("sekisho history does not find both hosts' decisions:\n%s\nmx1:\n%s\nmx2:\n%s", out, mx1.Logs(), mx2.Logs())
		}
	}
	if !strings.Contains(out, " mx1 ") || !strings.Contains(out, " mx2 ") {
		t.Errorf("hosts:\n%s", out)
	}
	dom := dumpDOM(t, "http://"+web+"/?q="+url.QueryEscape(tok))
	for _, want := range []string{"<td>mx1</td>", "<td>mx2</td>", "one " + tok, "two " + tok, `class="reject"`} {
		if !strings.Contains(dom, want) {
			t.Errorf("console lacks %q:\n%s", want, dom)
		}
	}
}
