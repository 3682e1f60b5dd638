package e2e_test

import (
	"fmt"
	"io"
	"os"
	"os/exec"
	"os/user"
	"path/filepath"
	"regexp"
	"strconv"
	"strings"
	"syscall"
	"testing"
	"time"
)

// Paths of the supervisord programs.
const (
	supervisordCmd   = "/usr/bin/supervisord"
	supervisorctlCmd = "/usr/bin/supervisorctl"
)

// supervisor is a supervisord of the test's own, running sekisho from
// contrib/supervisord/sekisho.conf.
type supervisor struct {
	dir  string
	conf string
	p    *proc
	log  string // sekisho's log file
}

// startSupervised runs sekisho with config (the whole file) under a
// supervisord of its own, as the program block of contrib describes it
// (user sekisho), and stops both at cleanup.
func startSupervised(t testing.TB, config string) *supervisor {
	t.Helper()
	for _, p := range []string{supervisordCmd, supervisorctlCmd} {
		requireProgram(t, p)
	}
	if buildErr != nil {
		t.Fatal(buildErr)
	}
	dir := worldDir(t, "supervisor")
	// User sekisho must be able to run the binary and read its file.
	bin := filepath.Join(dir, "sekisho")
	copyFile(t, sekishoBin, bin, 0o755)
	cfg := filepath.Join(dir, "sekisho.toml")
	if err := os.WriteFile(cfg, []byte(config), 0o644); err != nil {
		t.Fatal(err)
	}
	block, err := os.ReadFile("../../../contrib/supervisord/sekisho.conf")
	if err != nil {
		t.Fatal(err)
	}
	s := &supervisor{dir: dir, conf: filepath.Join(dir, "supervisord.conf"), log: filepath.Join(dir, "sekisho.log")}
	program := regexp.MustCompile(`(?m)^command=.*$`).ReplaceAllString(string(block), "command="+bin+" -config "+cfg)
	program = regexp.MustCompile(`(?m)^stdout_logfile=.*$`).ReplaceAllString(program, "stdout_logfile="+s.log)
	conf := fmt.Sprintf(`[unix_http_server]
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

%[2]s`, dir, program)
	if err := os.WriteFile(s.conf, []byte(conf), 0o644); err != nil {
		t.Fatal(err)
	}
	s.p, err = startProc("supervisord", filepath.Join(dir, "supervisord.out"), supervisordCmd, "-n", "-c", s.conf)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() {
		s.ctl(t, "shutdown")
		s.p.stop()
		if t.Failed() {
			b, _ := os.ReadFile(s.log)
			t.Logf("sekisho log:\n%s", b)
		}
	})
	return s
}

// ctl runs supervisorctl against the instance.
func (s *supervisor) ctl(t testing.TB, args ...string) string {
	t.Helper()
	out, _ := exec.Command(supervisorctlCmd, append([]string{"-c", s.conf}, args...)...).CombinedOutput()
	return string(out)
}

// pid returns the PID of the supervised sekisho, waiting for it to run.
func (s *supervisor) pid(t testing.TB) int {
	t.Helper()
	deadline := time.Now().Add(15 * time.Second)
	for {
		out := strings.TrimSpace(s.ctl(t, "pid", "sekisho"))
		if n, err := strconv.Atoi(out); err == nil && n > 0 {
			return n
		}
		if time.Now().After(deadline) {
			b, _ := os.ReadFile(s.log)
			t.Fatalf("sekisho not running under supervisord: %q\n%s", out, b)
		}
		time.Sleep(100 * time.Millisecond)
	}
}

func copyFile(t testing.TB, from, to string, mode os.FileMode) {
	t.Helper()
	in, err := os.Open(from)
	if err != nil {
		t.Fatal(err)
	}
	defer in.Close()
	out, err := os.OpenFile(to, os.O_CREATE|os.O_WRONLY|os.O_TRUNC, mode)
	if err != nil {
		t.Fatal(err)
	}
	if _, err := io.Copy(out, in); err != nil {
		t.Fatal(err)
	}
	if err := out.Close(); err != nil {
		t.Fatal(err)
	}
}

// TestE2EUnixSocketDeployment is the recommended deployment: sekisho under
// supervisord as the unprivileged user sekisho, its unix socket inside
// Postfix's queue directory with group postfix, and Postfix connecting to
// unix:sekisho/sekisho.sock.
func TestE2EUnixSocketDeployment(t *testing.T) {
	t.Parallel()
	pf := startPostfix(t, "unix:sekisho/sekisho.sock", postfixOptions{})
	sekDir := filepath.Join(pf.Dir, "queue", "sekisho")
	if err := os.Mkdir(sekDir, 0o750); err != nil {
		t.Fatal(err)
	}
	u, err := user.Lookup("sekisho")
	if err != nil {
		t.Fatalf("user sekisho: %v (install it with %s)", err, installCommand)
	}
	g, err := user.LookupGroup("postfix")
	if err != nil {
		t.Fatal(err)
	}
	uid, _ := strconv.Atoi(u.Uid)
	gid, _ := strconv.Atoi(g.Gid)
	if err := os.Chown(sekDir, uid, gid); err != nil {
		t.Fatal(err)
	}
	sock := filepath.Join(sekDir, "sekisho.sock")
	sv := startSupervised(t, fmt.Sprintf("listen = %q\nsocket_mode = \"0660\"\nsocket_group = \"postfix\"\n", "unix:"+sock)+
		sekishoConfig("enforce", ruleSendOnly))
	pid := sv.pid(t)
	status, err := os.ReadFile(fmt.Sprintf("/proc/%d/status", pid))
	if err != nil {
		t.Fatal(err)
	}
	if !regexp.MustCompile(`(?m)^Uid:\s+` + u.Uid + `\s`).Match(status) {
		t.Errorf("sekisho does not run as user sekisho:\n%s", status)
	}
	deadline := time.Now().Add(10 * time.Second)
	var fi os.FileInfo
	for fi, err = os.Lstat(sock); err != nil && time.Now().Before(deadline); fi, err = os.Lstat(sock) {
		time.Sleep(50 * time.Millisecond)
	}
	if err != nil {
		t.Fatal(err)
	}
	st := fi.Sys().(*syscall.Stat_t)
	if fi.Mode().Type() != os.ModeSocket || fi.Mode().Perm() != 0o660 || int(st.Uid) != uid || int(st.Gid) != gid {
		t.Errorf("socket %v, owner %d:%d; want a socket 0660 sekisho:postfix", fi.Mode(), st.Uid, st.Gid)
	}

	tok := token(t)
	out := pf.mustSwaks(t, 24, "--from", "sender@example.org", "--to", "noreply@example.co.jp", "--header", "X-E2E-Token: "+tok)
	mustRefuse(t, out, regexp.QuoteMeta("550 5.1.1 User unknown"))
	tok = token(t)
	pf.mustSwaks(t, 0, "--from", "sender@example.org", "--to", "user@example.co.jp", "--header", "X-E2E-Token: "+tok)
	pf.waitDelivered(t, tok, 1)
}
