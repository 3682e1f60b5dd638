package e2e_test

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"io/fs"
	"os"
	"os/exec"
	"os/user"
	"path/filepath"
	"regexp"
	"slices"
	"strconv"
	"strings"
	"syscall"
	"testing"
	"time"
)

// The README's by-hand set-up: the line that introduces its block, and the
// lines the test does not run as written, each matched exactly.
const (
	byHandIntro      = "**By hand** (another distribution, or a build of your own), as root:"
	byHandBuild      = "go build -o /usr/sbin/sekisho ./cmd/sekisho"
	byHandExisting   = "# an existing user: usermod --append --groups postfix sekisho"
	byHandSystemd    = "cp contrib/systemd/sekisho.service /etc/systemd/system/ && systemctl daemon-reload && systemctl enable --now sekisho"
	byHandSupervisor = "cp contrib/supervisord/sekisho.conf /etc/supervisor/conf.d/ && supervisorctl update"
)

// byHandPaths are what the by-hand set-up makes or overwrites, parents
// before what they hold.
var byHandPaths = []string{"/usr/sbin/sekisho", "/etc/sekisho", "/etc/sekisho/sekisho.toml", "/usr/share/man/man8/sekisho.8", "/var/lib/sekisho", "/var/log/sekisho", "/var/spool/postfix/sekisho"}

// byHandLine is one command of the README's block: its text as written,
// continuation lines included, and the README line it starts on.
type byHandLine struct {
	line int
	text string
}

// byHandBlock reads the README's by-hand shell block into its commands and
// reports whether the existing-user comment is there.
func byHandBlock(t testing.TB) ([]byHandLine, bool) {
	t.Helper()
	readme, err := os.ReadFile("../../../README.md")
	if err != nil {
		t.Fatal(err)
	}
	lines := strings.Split(string(readme), "\n")
	start := slices.Index(lines, byHandIntro)
	if start < 0 || start+2 >= len(lines) || lines[start+1] != "" || lines[start+2] != "```sh" {
		t.Fatalf("README.md: no ```sh block right after %q", byHandIntro)
	}
	var cmds []byHandLine
	existing := false
	for i := start + 3; ; i++ {
		if i == len(lines) {
			t.Fatalf("README.md:%d: the by-hand block is not closed", start+3)
		}
		l := lines[i]
		switch {
		case l == "```":
			return cmds, existing
		case l == byHandExisting:
			existing = true
		case strings.TrimSpace(l) == "" || strings.HasPrefix(l, "#"):
		default:
			c := byHandLine{line: i + 1, text: l}
			for strings.HasSuffix(lines[i], `\`) && i+1 < len(lines) {
				i++
				c.text += "\n" + lines[i]
			}
			cmds = append(cmds, c)
		}
	}
}

// isUseradd reports whether c makes the user, which an existing user
// replaces with usermod.
func isUseradd(c byHandLine) bool { return strings.HasPrefix(c.text, "useradd ") }

// fileState is a path as it was before the test: absent (info nil), or a
// file with its content, or a directory.
type fileState struct {
	path string
	info fs.FileInfo
	data []byte
}

// saveState records what each path is now.
func saveState(t testing.TB, paths []string) []fileState {
	t.Helper()
	var states []fileState
	for _, p := range paths {
		s := fileState{path: p}
		fi, err := os.Lstat(p)
		switch {
		case errors.Is(err, fs.ErrNotExist):
		case err != nil:
			t.Fatal(err)
		default:
			s.info = fi
			if fi.Mode().IsRegular() {
				if s.data, err = os.ReadFile(p); err != nil {
					t.Fatal(err)
				}
			}
		}
		states = append(states, s)
	}
	return states
}

// restoreState removes what was absent and puts back the content, mode and
// owner of what was there, the contents of a directory before it.
func restoreState(t testing.TB, states []fileState) {
	t.Helper()
	for _, s := range slices.Backward(states) {
		if s.info == nil {
			if err := os.RemoveAll(s.path); err != nil {
				t.Errorf("cleanup: %v", err)
			}
			continue
		}
		t.Logf("%s was there before the test: put back as it was", s.path)
		if s.info.Mode().IsRegular() {
			if err := os.WriteFile(s.path, s.data, s.info.Mode().Perm()); err != nil {
				t.Errorf("cleanup: %v", err)
			}
		}
		st := s.info.Sys().(*syscall.Stat_t)
		if err := os.Chmod(s.path, s.info.Mode().Perm()); err != nil {
			t.Errorf("cleanup: %v", err)
		}
		if err := os.Lchown(s.path, int(st.Uid), int(st.Gid)); err != nil {
			t.Errorf("cleanup: %v", err)
		}
	}
}

// killSekisho kills the process pid if it still runs /usr/sbin/sekisho,
// and waits until it is gone (a zombie has no exe).
func killSekisho(pid int) {
	exe := fmt.Sprintf("/proc/%d/exe", pid)
	for deadline := time.Now().Add(5 * time.Second); time.Now().Before(deadline); time.Sleep(50 * time.Millisecond) {
		if target, err := os.Readlink(exe); err != nil || !strings.HasPrefix(target, "/usr/sbin/sekisho") {
			return
		}
		syscall.Kill(pid, syscall.SIGKILL)
	}
}

// TestByHandSetUp runs the README's by-hand set-up, read from README.md,
// line by line as written on this machine (as root, from the repository
// root), and then sends mail through a Postfix to the daemon it started:
// the README cannot tell administrators a list that does not work. Only
// these lines are not run as written:
//
//   - go build: the binary the tests built is copied to /usr/sbin/sekisho;
//   - useradd, when user sekisho exists: the usermod the README gives for
//     an existing user, which the test makes needed by first taking the
//     user out of group postfix (put back at cleanup);
//   - the systemd line: no systemd runs here (a container), so the unit is
//     checked with systemd-analyze verify, which works without one, and
//     /etc/systemd/system is checked to be there for the cp;
//   - the supervisord line: the program block goes unchanged into the
//     include directory of a supervisord of the test's own, and its
//     supervisorctl runs update; the machine's supervisord is not touched.
//
// It changes the real system in the paths the Debian package installs, so
// it holds TestPackage's lock against it, in this process and in others
// (neither runs in parallel, so no mutex is needed besides), and fails when
// the package is installed. Cleanup stops what it started and removes
// what the block made, or puts back what was there before. User sekisho
// stays, even when the block made it: other tests run sekisho as that user.
func TestByHandSetUp(t *testing.T) {
	for _, p := range []string{useraddCmd, usermodCmd, gpasswdCmd, runuserCmd, systemdAnalyze, supervisordCmd, supervisorctlCmd, postfixCmd, dpkgQueryCmd} {
		requireProgram(t, p)
	}
	if buildErr != nil {
		t.Fatal(buildErr)
	}
	root, err := filepath.Abs("../../..")
	if err != nil {
		t.Fatal(err)
	}
	cmds, existing := byHandBlock(t)
	if !existing {
		t.Fatalf("README.md: the by-hand block has no line %q", byHandExisting)
	}
	for _, want := range []string{byHandBuild, byHandSystemd, byHandSupervisor} {
		if !slices.ContainsFunc(cmds, func(c byHandLine) bool { return c.text == want }) {
			t.Fatalf("README.md: the by-hand block has no line %q: the test must learn what replaces it", want)
		}
	}
	if !slices.ContainsFunc(cmds, isUseradd) {
		t.Fatalf("README.md: the by-hand block makes no user with useradd, which %q replaces for an existing user", byHandExisting)
	}

	lock, err := os.OpenFile(packageLock, os.O_CREATE|os.O_RDWR, 0o600)
	if err != nil {
		t.Fatal(err)
	}
	if err := syscall.Flock(int(lock.Fd()), syscall.LOCK_EX); err != nil {
		lock.Close()
		t.Fatal(err)
	}
	// Registered first, so released last: after the machine is restored.
	t.Cleanup(func() { lock.Close() })
	if packageInstalled() {
		t.Fatalf("package sekisho is installed (dpkg-query -W sekisho): the by-hand set-up would overwrite its files; purge it first (dpkg --purge sekisho)")
	}

	_, err = user.Lookup("sekisho")
	userExisted := err == nil
	inPostfix := userExisted && slices.Contains(groupsOf(t, "sekisho"), "postfix")
	if inPostfix {
		accounts(t, gpasswdCmd, "--delete", "sekisho", "postfix")
	}
	t.Cleanup(func() {
		if inPostfix && !slices.Contains(groupsOf(t, "sekisho"), "postfix") {
			accounts(t, usermodCmd, "--append", "--groups", "postfix", "sekisho")
		}
	})
	states := saveState(t, byHandPaths)
	t.Cleanup(func() { restoreState(t, states) })

	// A supervisord of the test's own, including its conf.d as Debian's
	// /etc/supervisor/supervisord.conf includes /etc/supervisor/conf.d.
	dir := worldDir(t, "byhand-supervisor")
	include := filepath.Join(dir, "conf.d")
	if err := os.Mkdir(include, 0o755); err != nil {
		t.Fatal(err)
	}
	sv := &supervisor{dir: dir, conf: filepath.Join(dir, "supervisord.conf"), log: "/var/log/sekisho/sekisho.log"}
	text := fmt.Sprintf(`[unix_http_server]
file=%[1]s/supervisor.sock

[supervisord]
logfile=%[1]s/supervisord.log
pidfile=%[1]s/supervisord.pid
childlogdir=%[1]s
nodaemon=true

[rpcinterface:supervisor]
supervisor.rpcinterface_factory = supervisor.rpcinterface:make_main_rpcinterface

[supervisorctl]
serverurl=unix://%[1]s/supervisor.sock

[include]
files = %[2]s/*.conf
`, dir, include)
	if err := os.WriteFile(sv.conf, []byte(text), 0o644); err != nil {
		t.Fatal(err)
	}
	sv.p, err = startProc("supervisord", filepath.Join(dir, "supervisord.out"), supervisordCmd, "-n", "-c", sv.conf)
	if err != nil {
		t.Fatal(err)
	}
	pid := 0
	t.Cleanup(func() {
		if t.Failed() {
			b, _ := os.ReadFile(sv.log)
			t.Logf("supervisord:\n%s\nsekisho's log:\n%s", sv.p.output(), b)
		}
		sv.ctl(t, "shutdown")
		sv.p.stop()
		if pid > 0 {
			killSekisho(pid)
		}
	})
	for deadline := time.Now().Add(10 * time.Second); ; time.Sleep(50 * time.Millisecond) {
		if _, err := strconv.Atoi(strings.TrimSpace(sv.ctl(t, "pid"))); err == nil {
			break
		}
		if time.Now().After(deadline) {
			t.Fatalf("the test's supervisord does not answer:\n%s", sv.p.output())
		}
	}

	run := func(c byHandLine, script string) {
		t.Helper()
		ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
		defer cancel()
		cmd := exec.CommandContext(ctx, "bash", "-e", "-c", script)
		cmd.Dir = root
		out, err := cmd.CombinedOutput()
		if err != nil {
			t.Fatalf("README.md:%d: %s: %v\n%s", c.line, script, err, out)
		}
		t.Logf("README.md:%d: %s\n%s", c.line, script, out)
	}
	for _, c := range cmds {
		switch {
		case c.text == byHandBuild:
			copyFile(t, sekishoBin, "/usr/sbin/sekisho", 0o755)
			if err := os.Chmod("/usr/sbin/sekisho", 0o755); err != nil {
				t.Fatal(err)
			}
			t.Logf("README.md:%d: %s: copied the tests' build", c.line, c.text)
		case isUseradd(c):
			script := c.text
			if _, err := user.Lookup("sekisho"); err == nil {
				script = strings.TrimPrefix(byHandExisting, "# an existing user: ")
			}
			func() {
				defer lockAccounts(t)()
				run(c, script)
			}()
		case c.text == byHandSystemd:
			// No systemd runs here; systemd-analyze verify works without
			// it. Its check of Documentation=man:sekisho(8) runs man,
			// which a fresh machine may lack (--man=no): the page the
			// list installed is looked for instead.
			unit := filepath.Join(root, "contrib/systemd/sekisho.service")
			if fi, err := os.Stat("/etc/systemd/system"); err != nil || !fi.IsDir() {
				t.Fatalf("README.md:%d: cp to /etc/systemd/system/: %v", c.line, err)
			}
			if _, err := os.Stat("/usr/share/man/man8/sekisho.8"); err != nil {
				t.Fatalf("README.md:%d: the unit names man:sekisho(8), which the list did not install: %v", c.line, err)
			}
			if out, err := exec.Command(systemdAnalyze, "verify", "--man=no", unit).CombinedOutput(); err != nil || len(out) != 0 {
				t.Fatalf("README.md:%d: systemd-analyze verify %s: %v\n%s", c.line, unit, err, out)
			}
			t.Logf("README.md:%d: %s: the unit passes systemd-analyze verify", c.line, c.text)
		case c.text == byHandSupervisor:
			run(c, strings.NewReplacer(
				"/etc/supervisor/conf.d/", include+"/",
				"supervisorctl update", "supervisorctl -c "+sv.conf+" update",
			).Replace(c.text))
		default:
			run(c, c.text)
		}
	}

	// The daemon, as the block started it.
	uid, gid := lookupIDs(t, "sekisho", "postfix")
	pid = sv.pid(t)
	status, err := os.ReadFile(fmt.Sprintf("/proc/%d/status", pid))
	if err != nil {
		t.Fatal(err)
	}
	if !regexp.MustCompile(`(?m)^Uid:\s+` + strconv.Itoa(uid) + `\s`).Match(status) {
		t.Errorf("the supervised sekisho does not run as user sekisho:\n%s", status)
	}
	deadline := time.Now().Add(10 * time.Second)
	var fi os.FileInfo
	for fi, err = os.Lstat(packagedSocket); err != nil && time.Now().Before(deadline); fi, err = os.Lstat(packagedSocket) {
		time.Sleep(50 * time.Millisecond)
	}
	if err != nil {
		t.Fatalf("no socket from the supervised sekisho: %v", err)
	}
	if st := fi.Sys().(*syscall.Stat_t); fi.Mode().Type() != os.ModeSocket || fi.Mode().Perm() != 0o660 || int(st.Uid) != uid || int(st.Gid) != gid {
		t.Errorf("socket %v, owner %d:%d; want a socket 0660 sekisho:postfix", fi.Mode(), st.Uid, st.Gid)
	}

	// Mail through a Postfix to it: the built-in policy refuses mail to a
	// send-only address from a client not exempted, and lets the loopback
	// client's mail through. The test's Postfix has its own queue
	// directory, and its smtpd is not chrooted: it takes the absolute path.
	pf := startPostfix(t, "unix:"+packagedSocket, postfixOptions{})
	refused := pf.mustSwaks(t, 24, "--xclient", "ADDR=192.0.2.25", "--from", "sender@example.org", "--to", "noreply@example.co.jp")
	mustRefuse(t, refused, `550 5\.`)
	tok := token(t)
	pf.mustSwaks(t, 0, "--from", "sender@example.org", "--to", "user@example.co.jp", "--header", "X-E2E-Token: "+tok)
	pf.waitDelivered(t, tok, 1)
	if logs, _ := os.ReadFile(sv.log); !bytes.Contains(logs, []byte("noreply@example.co.jp")) || !bytes.Contains(logs, []byte("msg=listening")) {
		t.Errorf("the supervised sekisho's log at %s does not show the refusal:\n%s", sv.log, logs)
	}
}
