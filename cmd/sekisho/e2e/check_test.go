package e2e_test

import (
	"context"
	"crypto/rand"
	"encoding/hex"
	"fmt"
	"os"
	"os/exec"
	"os/user"
	"path/filepath"
	"strconv"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"
)

// Programs that manage the accounts the tests run sekisho as.
const (
	useraddCmd = "/usr/sbin/useradd"
	userdelCmd = "/usr/sbin/userdel"
	usermodCmd = "/usr/sbin/usermod"
	setprivCmd = "/usr/bin/setpriv"
)

// accountsLockFile serializes, with accountsMu, the tests' changes to the
// user and group databases across test processes: useradd, usermod and
// dpkg's maintainer scripts each lock /etc/passwd and fail when another
// holds it.
const accountsLockFile = "/run/lock/sekisho-accounts-test.lock"

var accountsMu sync.Mutex

// lockAccounts takes the lock on the user and group databases and returns
// the function that releases it.
func lockAccounts(t testing.TB) func() {
	t.Helper()
	accountsMu.Lock()
	f, err := os.OpenFile(accountsLockFile, os.O_CREATE|os.O_RDWR, 0o600)
	if err == nil {
		err = syscall.Flock(int(f.Fd()), syscall.LOCK_EX)
	}
	if err != nil {
		accountsMu.Unlock()
		t.Fatalf("%s: %v", accountsLockFile, err)
	}
	return func() {
		f.Close()
		accountsMu.Unlock()
	}
}

// accounts runs a command that changes the user database.
func accounts(t testing.TB, args ...string) {
	t.Helper()
	requireProgram(t, args[0])
	defer lockAccounts(t)()
	if out, err := exec.Command(args[0], args[1:]...).CombinedOutput(); err != nil {
		t.Fatalf("%s: %v\n%s", strings.Join(args, " "), err, out)
	}
}

// throwawayUser makes a system user of the test's own, in no group but its
// own, removed at cleanup.
func throwawayUser(t testing.TB) *user.User {
	t.Helper()
	var b [4]byte
	rand.Read(b[:])
	name := "sekchk" + hex.EncodeToString(b[:])
	accounts(t, useraddCmd, "--system", "--user-group", "--no-create-home", "--home-dir", "/nonexistent", "--shell", "/usr/sbin/nologin", name)
	t.Cleanup(func() { accounts(t, userdelCmd, name) })
	u, err := user.Lookup(name)
	if err != nil {
		t.Fatal(err)
	}
	return u
}

// runAs runs a program as user u with u's groups as the user database has
// them now, and returns its exit code and combined output.
func runAs(t testing.TB, u *user.User, args ...string) (int, string) {
	t.Helper()
	requireProgram(t, setprivCmd)
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	cmd := exec.CommandContext(ctx, setprivCmd, append([]string{"--reuid=" + u.Uid, "--regid=" + u.Gid, "--init-groups", "--"}, args...)...)
	out, err := cmd.CombinedOutput()
	return exitCode(t, err), string(out)
}

// userBinary copies the test binary where any user can run it.
func userBinary(t testing.TB, dir string) string {
	t.Helper()
	if buildErr != nil {
		t.Fatal(buildErr)
	}
	bin := filepath.Join(dir, "sekisho")
	copyFile(t, sekishoBin, bin, 0o755)
	return bin
}

// TestCheckSocketGroupNotPermitted: as a user outside group postfix,
// -check refuses socket_group = "postfix" with the very error the daemon
// exits with; once the user is in the group, both succeed.
func TestCheckSocketGroupNotPermitted(t *testing.T) {
	t.Parallel()
	u := throwawayUser(t)
	dir := worldDir(t, "check-group")
	bin := userBinary(t, dir)
	sockDir := filepath.Join(dir, "sock")
	if err := os.Mkdir(sockDir, 0o750); err != nil {
		t.Fatal(err)
	}
	uid, _ := strconv.Atoi(u.Uid)
	gid, _ := strconv.Atoi(u.Gid)
	if err := os.Chown(sockDir, uid, gid); err != nil {
		t.Fatal(err)
	}
	sock := filepath.Join(sockDir, "sekisho.sock")
	cfg := filepath.Join(dir, "sekisho.toml")
	if err := os.WriteFile(cfg, []byte(fmt.Sprintf("listen = %q\nsocket_mode = \"0660\"\nsocket_group = \"postfix\"\n", "unix:"+sock)), 0o644); err != nil {
		t.Fatal(err)
	}
	want := "socket_group postfix: chown " + sock + ": operation not permitted"

	code, out := runAs(t, u, bin, "-check", "-config", cfg)
	if code != 1 || !strings.Contains(out, cfg+": "+want) || strings.Contains(out, "OK") {
		t.Errorf("-check as %s outside group postfix: exit %d, want 1 and %q:\n%s", u.Username, code, want, out)
	}
	// The daemon, run the same way, stops on the same error.
	code, out = runAs(t, u, bin, "-config", cfg)
	if code != 1 || !strings.Contains(out, want) {
		t.Errorf("daemon as %s outside group postfix: exit %d, want 1 and %q:\n%s", u.Username, code, want, out)
	}
	if left, _ := os.ReadDir(sockDir); len(left) != 0 {
		t.Errorf("files left in the socket directory: %v", left)
	}

	accounts(t, usermodCmd, "--append", "--groups", "postfix", u.Username)
	code, out = runAs(t, u, bin, "-check", "-config", cfg)
	if code != 0 || out != cfg+": OK\n" {
		t.Errorf("-check as %s in group postfix: exit %d:\n%s", u.Username, code, out)
	}
	if left, _ := os.ReadDir(sockDir); len(left) != 0 {
		t.Errorf("-check left files in the socket directory: %v", left)
	}
}

// TestCheckLocal: -check fails, as the daemon would, on a socket directory
// that does not exist or that the user cannot write, on a file at the
// socket's path that is not a socket, and on a temp_dir that cannot be
// written; -listen is checked in place of listen.
func TestCheckLocal(t *testing.T) {
	t.Parallel()
	u := throwawayUser(t)
	dir := worldDir(t, "check-local")
	bin := userBinary(t, dir)
	notSocket := filepath.Join(dir, "plain")
	if err := os.WriteFile(notSocket, nil, 0o644); err != nil {
		t.Fatal(err)
	}
	cfg := func(name, text string) string {
		p := filepath.Join(dir, name+".toml")
		if err := os.WriteFile(p, []byte(text), 0o644); err != nil {
			t.Fatal(err)
		}
		return p
	}
	for _, tc := range []struct {
		name, config string
		args         []string
		want         string
		daemon       string // what the daemon stops on, when it is run too
	}{
		{"nodir", `listen = "unix:` + dir + `/missing/s.sock"`, nil,
			"listen unix " + dir + "/missing/s.sock: cannot create the socket in " + dir + "/missing: no such file or directory",
			"listen unix " + dir + "/missing/s.sock: bind: no such file or directory"},
		{"readonly", `listen = "unix:` + dir + `/s.sock"`, nil,
			"listen unix " + dir + "/s.sock: cannot create the socket in " + dir + ": permission denied",
			"listen unix " + dir + "/s.sock: bind: permission denied"},
		{"override", `listen = "inet:127.0.0.1:10030"`, []string{"-listen", "unix:" + dir + "/s.sock"},
			"listen unix " + dir + "/s.sock: cannot create the socket in " + dir + ": permission denied", ""},
		{"plainfile", `listen = "unix:` + notSocket + `"`, nil,
			notSocket + " exists and is not a socket (a regular file)",
			notSocket + " exists and is not a socket (a regular file)"},
		{"tempdir", "[inspect]\ntemp_dir = \"" + dir + "\"\n", nil,
			"inspect.temp_dir: open " + dir + "/.sekisho-check-", ""},
	} {
		path := cfg(tc.name, tc.config)
		code, out := runAs(t, u, append([]string{bin, "-check", "-config", path}, tc.args...)...)
		if code != 1 || !strings.Contains(out, path+": "+tc.want) {
			t.Errorf("%s: -check as %s: exit %d, want 1 and %q:\n%s", tc.name, u.Username, code, tc.want, out)
		}
		if tc.daemon != "" {
			// The daemon stops on the same path.
			code, daemon := runAs(t, u, append([]string{bin, "-config", path}, tc.args...)...)
			if code != 1 || !strings.Contains(daemon, tc.daemon) {
				t.Errorf("%s: daemon as %s: exit %d, want 1 and %q:\n%s", tc.name, u.Username, code, tc.daemon, daemon)
			}
		}
	}
}

// TestCheckConfigFilePermissions: a configuration file anyone but its
// owner can write, or that every user can read while it holds a Redis
// password, is a warning from -check (which still passes) and at start.
func TestCheckConfigFilePermissions(t *testing.T) {
	t.Parallel()
	dir := t.TempDir()
	redis := fmt.Sprintf("[rules.rate_limit]\nlimit = 3\nstore = \"redis://:s3cret@127.0.0.1:%d/0\"\non_error = \"accept\"\n", freePort(t))
	for _, tc := range []struct {
		name string
		mode os.FileMode
		text string
		want []string
	}{
		{"world-writable", 0o666, "", []string{"is writable by its group and every user (mode 0666)"}},
		{"group-writable", 0o664, "", []string{"is writable by its group (mode 0664)"}},
		{"owner-only", 0o600, redis, nil},
		{"group-readable-secret", 0o640, redis, nil},
		{"world-readable-secret", 0o644, redis, []string{"is readable by every user (mode 0644) and holds a password (rules.rate_limit.store)"}},
		{"world-readable", 0o644, "", nil},
		{"world-readable-key-secret", 0o644, "[rules.rate_limit]\nlimit = 3\nkey_secret = \"s3cret\"\n",
			[]string{"is readable by every user (mode 0644) and holds a password (rules.rate_limit.key_secret)"}},
		{"metrics-beyond-loopback", 0o600, fmt.Sprintf("[metrics]\nlisten = \"0.0.0.0:%d\"\n", freePort(t)), nil},
	} {
		path := filepath.Join(dir, tc.name+".toml")
		if err := os.WriteFile(path, []byte(tc.text), 0o600); err != nil {
			t.Fatal(err)
		}
		os.Chmod(path, tc.mode)
		code, out := runSekisho(t, "-check", "-config", path)
		if code != 0 || !strings.Contains(out, path+": OK") || strings.Contains(out, "s3cret") {
			t.Errorf("%s: -check exit %d:\n%s", tc.name, code, out)
		}
		for _, w := range tc.want {
			if !strings.Contains(out, path+": warning: "+path+" "+w) {
				t.Errorf("%s: -check: no warning %q:\n%s", tc.name, w, out)
			}
		}
		if tc.want == nil && strings.Contains(out, "warning: "+path) {
			t.Errorf("%s: -check warns about the file:\n%s", tc.name, out)
		}
		if exposed := strings.Contains(out, "metrics endpoint listens beyond loopback"); exposed != (tc.name == "metrics-beyond-loopback") {
			t.Errorf("%s: -check warning for the metrics address: %v:\n%s", tc.name, exposed, out)
		}
	}
	s := startSekisho(t, "")
	s.waitLog(t, "listening")
	if n := len(s.logLines("level=WARN", "unsafe configuration file")); n != 0 {
		t.Errorf("%d WARN lines for a 0644 file without secrets", n)
	}
	path := filepath.Join(dir, "start.toml")
	if err := os.WriteFile(path, []byte(fmt.Sprintf("listen = \"inet:127.0.0.1:%d\"\n", freePort(t))), 0o600); err != nil {
		t.Fatal(err)
	}
	os.Chmod(path, 0o666)
	p, err := startProc("sekisho", filepath.Join(dir, "start.log"), sekishoBin, "-config", path)
	if err != nil {
		t.Fatal(err)
	}
	defer p.stop()
	deadline := time.Now().Add(10 * time.Second)
	for !strings.Contains(p.output(), "unsafe configuration file") && time.Now().Before(deadline) {
		time.Sleep(50 * time.Millisecond)
	}
	if line := p.output(); !strings.Contains(line, "level=WARN msg=\"unsafe configuration file\"") || !strings.Contains(line, "mode 0666") {
		t.Errorf("no WARN at start for a 0666 configuration file:\n%s", line)
	}
}

// TestCheckServices: a clamd, a Redis store and a DNSBL resolver that do
// not answer are warnings from -check, which passes, and one WARN line
// each at start; services that answer give none.
func TestCheckServices(t *testing.T) {
	t.Parallel()
	dir := t.TempDir()
	deadClamd := filepath.Join(dir, "clamd.ctl")
	deadRedis := fmt.Sprintf("127.0.0.1:%d", freePort(t))
	deadDNS := fmt.Sprintf("127.0.0.1:%d", freePort(t))
	down := fmt.Sprintf(`[rules.virus]
address = "unix:%s"
on_error = "tempfail"

[rules.rate_limit]
limit = 3
store = "redis://%s/0"
on_error = "accept"

[rules.dnsbl]
zones = [ { zone = "bl.test" } ]
resolver = %q
timeout = "1s"
`, deadClamd, deadRedis, deadDNS)
	path := filepath.Join(dir, "down.toml")
	if err := os.WriteFile(path, []byte(down), 0o644); err != nil {
		t.Fatal(err)
	}
	wants := []string{
		"warning: clamd unix:" + deadClamd + " (rules.virus.address) does not answer: ",
		"warning: redis redis://" + deadRedis + "/0 (rules.rate_limit.store) does not answer: ",
		"warning: dns bl.test via " + deadDNS + " (rules.dnsbl.zones[0]) does not answer: ",
	}
	code, out := runSekisho(t, "-check", "-config", path)
	if code != 0 || !strings.Contains(out, path+": OK") {
		t.Errorf("-check with services down: exit %d, want 0:\n%s", code, out)
	}
	for _, w := range wants {
		if !strings.Contains(out, path+": "+w) {
			t.Errorf("-check: no %q in:\n%s", w, out)
		}
	}

	s := startSekisho(t, down)
	for _, kind := range []string{"clamd", "redis", "dns"} {
		line := s.waitLog(t, "level=WARN", `msg="service not answering"`, "service="+kind)
		if n := len(s.logLines(`msg="service not answering"`, "service="+kind)); n != 1 {
			t.Errorf("%d WARN lines for %s at start, want 1: %s", n, kind, line)
		}
	}

	clamd := sharedClamd(t)
	redis := sharedRedis(t)
	rbl := sharedRbldnsd(t)
	up := fmt.Sprintf("[rules.virus]\naddress = \"inet:%s\"\n\n[rules.rate_limit]\nlimit = 3\nstore = \"redis://%s/0\"\n\n[rules.dnsbl]\nzones = [ { zone = \"bl.test\" } ]\nresolver = %q\n", clamd.Addr, redis.Addr, rbl.Addr)
	path = filepath.Join(dir, "up.toml")
	if err := os.WriteFile(path, []byte(up), 0o644); err != nil {
		t.Fatal(err)
	}
	if code, out := runSekisho(t, "-check", "-config", path); code != 0 || out != path+": OK\n" {
		t.Errorf("-check with every service up: exit %d:\n%s", code, out)
	}
}
