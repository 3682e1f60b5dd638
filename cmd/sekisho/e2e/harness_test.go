// Package e2e_test holds the end-to-end tests: the sekisho binary, built
// by TestMain from the command in the parent directory, run as its users
// run it, behind a real Postfix or Sendmail, with real clamd, rbldnsd,
// Redis and PostgreSQL on loopback and the console in headless Chromium;
// and the files of contrib/ read by the programs they are for. Every
// helper starts its own instance on free ports in its own directory, so
// tests run in parallel and beside other users of the machine; every
// process is stopped by its PID.
package e2e_test

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"net"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"strconv"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"
)

// sekishoBin is the binary built by TestMain; buildErr says why there is none.
var (
	sekishoBin string
	buildErr   error
)

func TestMain(m *testing.M) {
	os.Exit(runMain(m))
}

func runMain(m *testing.M) int {
	dir, err := os.MkdirTemp("", "sekisho-e2e-bin-")
	if err != nil {
		fmt.Fprintln(os.Stderr, err)
		return 1
	}
	defer os.RemoveAll(dir)
	sekishoBin = filepath.Join(dir, "sekisho")
	out, err := exec.Command("go", "build", "-o", sekishoBin, "..").CombinedOutput()
	if err != nil {
		buildErr = fmt.Errorf("go build: %w\n%s", err, out)
	}
	defer stopShared()
	return m.Run()
}

// installDeps is the script that installs every program the tests run.
const installDeps = "../../../testdata/install-deps.sh"

// installCommand is how a missing program is installed.
const installCommand = "bash testdata/install-deps.sh (as root, from the repository root)"

// neededRE matches one "FILE PACKAGE" entry of the script's needs table.
var neededRE = regexp.MustCompile(`(?m)^\t"(/\S+) (\S+)"$`)

// packagesOf reads the script's table of the files the tests need and the
// Debian package that ships each.
func packagesOf() (map[string]string, error) {
	b, err := os.ReadFile(installDeps)
	if err != nil {
		return nil, err
	}
	out := map[string]string{}
	for _, m := range neededRE.FindAllStringSubmatch(string(b), -1) {
		out[m[1]] = m[2]
	}
	if len(out) == 0 {
		return nil, fmt.Errorf("%s: no needs table found", installDeps)
	}
	return out, nil
}

// requireProgram fails the test, never skips it, when a program or file the
// harness runs is missing, naming the package that ships it and the
// command that installs it. A path the install script does not list fails
// too: the script must name everything a test needs. Under -short it skips
// the test instead, whether the program is there or not: the fast loop
// runs none of them (Postfix, clamd, Redis, PostgreSQL, supervisord...),
// and needs no root.
func requireProgram(t testing.TB, path string) {
	t.Helper()
	pkgs, err := packagesOf()
	if err != nil {
		t.Fatal(err)
	}
	pkg, listed := pkgs[path]
	switch {
	case strings.HasPrefix(path, sendmailRoot+"/"):
		pkg, listed = "sendmail-bin, sendmail-base and sendmail-cf (unpacked, not installed)", true
	case !listed:
		t.Fatalf("%s is used by a test but not listed in %s: add it with the package that ships it (dpkg -S %s)", path, installDeps, path)
	}
	if testing.Short() {
		t.Skipf("needs %s from Debian package %s, and root for most services: run without -short", path, pkg)
	}
	if _, err := os.Stat(path); err != nil {
		t.Fatalf("%s is missing: it comes with Debian package %s; install every test dependency with %s", path, pkg, installCommand)
	}
}

// freePort returns a TCP port on 127.0.0.1 that was free a moment ago.
func freePort(t testing.TB) int {
	t.Helper()
	port, err := freeTCP()
	if err != nil {
		t.Fatal(err)
	}
	return port
}

// worldDir makes a temporary directory that the unprivileged users of the
// daemons (postfix, nobody, clamav, rbldns) can traverse: t.TempDir's parent
// is mode 0700.
func worldDir(t testing.TB, prefix string) string {
	t.Helper()
	dir, err := os.MkdirTemp("", "sekisho-e2e-"+prefix+"-")
	if err != nil {
		t.Fatal(err)
	}
	if err := os.Chmod(dir, 0o755); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { os.RemoveAll(dir) })
	return dir
}

// waitTCP polls until addr accepts a connection, the process exits, or
// timeout passes.
func waitTCP(addr string, timeout time.Duration, exited <-chan struct{}) error {
	deadline := time.Now().Add(timeout)
	for {
		c, err := net.DialTimeout("tcp", addr, 200*time.Millisecond)
		if err == nil {
			c.Close()
			return nil
		}
		select {
		case <-exited:
			return fmt.Errorf("process exited before %s accepted connections", addr)
		default:
		}
		if time.Now().After(deadline) {
			return fmt.Errorf("%s not accepting connections after %v: %w", addr, timeout, err)
		}
		time.Sleep(20 * time.Millisecond)
	}
}

// proc is a foreground daemon started by the harness, its output in a file.
type proc struct {
	cmd    *exec.Cmd
	out    string
	exited chan struct{}
	once   sync.Once
}

// startProc runs a program in its own process group with stdout and stderr
// going to outFile.
func startProc(name, outFile string, args ...string) (*proc, error) {
	f, err := os.Create(outFile)
	if err != nil {
		return nil, err
	}
	defer f.Close()
	cmd := exec.Command(args[0], args[1:]...)
	cmd.Stdout = f
	cmd.Stderr = f
	cmd.SysProcAttr = &syscall.SysProcAttr{Setpgid: true}
	if err := cmd.Start(); err != nil {
		return nil, fmt.Errorf("start %s: %w", name, err)
	}
	p := &proc{cmd: cmd, out: outFile, exited: make(chan struct{})}
	go func() {
		cmd.Wait()
		close(p.exited)
	}()
	return p, nil
}

// output returns what the process wrote so far.
func (p *proc) output() string {
	b, _ := os.ReadFile(p.out)
	return string(b)
}

// stop sends SIGTERM to the process and SIGKILL if it is still there after
// five seconds.
func (p *proc) stop() {
	p.once.Do(func() {
		select {
		case <-p.exited:
			return
		default:
		}
		p.cmd.Process.Signal(syscall.SIGTERM)
		select {
		case <-p.exited:
		case <-time.After(5 * time.Second):
			p.cmd.Process.Kill()
			<-p.exited
		}
	})
}

// waitListening polls until the process holds a TCP socket listening on
// port (decimal), the process exits, or timeout passes.
func (p *proc) waitListening(port string, timeout time.Duration) error {
	deadline := time.Now().Add(timeout)
	for {
		if listening(p.cmd.Process.Pid, port) {
			return nil
		}
		select {
		case <-p.exited:
			return fmt.Errorf("process exited before listening on port %s", port)
		default:
		}
		if time.Now().After(deadline) {
			return fmt.Errorf("not listening on port %s after %v", port, timeout)
		}
		time.Sleep(20 * time.Millisecond)
	}
}

// listening reports whether process pid holds a TCP socket listening on
// port: /proc/net/tcp{,6} name the listening sockets by inode, and the
// process's descriptors name the sockets it holds.
func listening(pid int, port string) bool {
	n, err := strconv.Atoi(port)
	if err != nil {
		return false
	}
	want := fmt.Sprintf(":%04X", n)
	inodes := map[string]bool{}
	for _, table := range []string{"/proc/net/tcp", "/proc/net/tcp6"} {
		b, _ := os.ReadFile(table)
		for _, line := range strings.Split(string(b), "\n")[1:] {
			f := strings.Fields(line)
			if len(f) > 9 && strings.HasSuffix(f[1], want) && f[3] == "0A" { // TCP_LISTEN
				inodes["socket:["+f[9]+"]"] = true
			}
		}
	}
	if len(inodes) == 0 {
		return false
	}
	fds := fmt.Sprintf("/proc/%d/fd", pid)
	entries, _ := os.ReadDir(fds)
	for _, e := range entries {
		if l, err := os.Readlink(filepath.Join(fds, e.Name())); err == nil && inodes[l] {
			return true
		}
	}
	return false
}

// sekishoProc is a running sekisho daemon.
type sekishoProc struct {
	// Milter is the address for Postfix's smtpd_milters, "inet:127.0.0.1:PORT".
	Milter string
	// Config is the configuration file the daemon reads (and rereads on SIGHUP).
	Config string
	p      *proc
}

// startSekisho writes config to a file, prefixed with a listen line on a
// free port (config must not set listen), starts the daemon and waits until
// it listens. The daemon is stopped at cleanup. A port another process
// took between the choice and the daemon's bind (tests run in parallel)
// is chosen again.
func startSekisho(t testing.TB, config string) *sekishoProc {
	t.Helper()
	if buildErr != nil {
		t.Fatal(buildErr)
	}
	dir := t.TempDir()
	path := filepath.Join(dir, "sekisho.toml")
	for attempt := 1; ; attempt++ {
		addr := fmt.Sprintf("127.0.0.1:%d", freePort(t))
		text := fmt.Sprintf("listen = %q\n%s", "inet:"+addr, config)
		if err := os.WriteFile(path, []byte(text), 0o644); err != nil {
			t.Fatal(err)
		}
		s, err := tryLaunchSekisho(t, path, addr, sekishoBin, "-config", path)
		if err == nil {
			return s
		}
		if attempt == 3 || !strings.Contains(s.Logs(), "address already in use") {
			t.Fatalf("sekisho: %v\nconfig:\n%s\nlog:\n%s", err, text, s.Logs())
		}
		t.Logf("sekisho: port %s taken meanwhile; choosing another", addr)
	}
}

// launchSekisho runs argv, a sekisho (or a command that execs one) on the
// configuration at path, whose milter listens on addr; it waits until
// the daemon listens there, and stops it at cleanup. Its log is beside the
// configuration.
func launchSekisho(t testing.TB, path, addr string, argv ...string) *sekishoProc {
	t.Helper()
	s, err := tryLaunchSekisho(t, path, addr, argv...)
	if err != nil {
		config, _ := os.ReadFile(path)
		t.Fatalf("sekisho: %v\nconfig:\n%s\nlog:\n%s", err, config, s.Logs())
	}
	return s
}

// tryLaunchSekisho is launchSekisho returning its failure, the daemon
// stopped. The wait is for the daemon's own listening socket, not for a
// connection to addr, which another process holding the port would
// accept.
func tryLaunchSekisho(t testing.TB, path, addr string, argv ...string) (*sekishoProc, error) {
	t.Helper()
	p, err := startProc("sekisho", filepath.Join(filepath.Dir(path), "sekisho.log"), argv...)
	if err != nil {
		t.Fatal(err)
	}
	s := &sekishoProc{Milter: "inet:" + addr, Config: path, p: p}
	t.Cleanup(func() {
		s.Stop()
		if t.Failed() {
			t.Logf("sekisho log:\n%s", s.Logs())
		}
	})
	_, port, err := net.SplitHostPort(addr)
	if err != nil {
		t.Fatal(err)
	}
	if err := p.waitListening(port, 10*time.Second); err != nil {
		s.Stop()
		return s, err
	}
	return s, nil
}

// Signal sends sig to the daemon.
func (s *sekishoProc) Signal(t testing.TB, sig os.Signal) {
	t.Helper()
	if err := s.p.cmd.Process.Signal(sig); err != nil {
		t.Fatal(err)
	}
}

// Logs returns everything the daemon logged so far.
func (s *sekishoProc) Logs() string { return s.p.output() }

// Stop stops the daemon; later calls do nothing.
func (s *sekishoProc) Stop() { s.p.stop() }

// logLines returns the lines of the daemon's log that contain every one of
// the given substrings.
func (s *sekishoProc) logLines(subs ...string) []string {
	var lines []string
next:
	for _, line := range strings.Split(s.Logs(), "\n") {
		for _, sub := range subs {
			if !strings.Contains(line, sub) {
				continue next
			}
		}
		lines = append(lines, line)
	}
	return lines
}

// waitLog polls the daemon's log for up to five seconds for a line holding
// every one of subs, and returns it.
func (s *sekishoProc) waitLog(t testing.TB, subs ...string) string {
	t.Helper()
	deadline := time.Now().Add(5 * time.Second)
	for {
		if lines := s.logLines(subs...); len(lines) > 0 {
			return lines[0]
		}
		if time.Now().After(deadline) {
			t.Fatalf("no sekisho log line with %q; log:\n%s", subs, s.Logs())
		}
		time.Sleep(50 * time.Millisecond)
	}
}

// runSekisho runs the binary to completion (for -check, -print-config) and
// returns its exit code and combined output.
func runSekisho(t testing.TB, args ...string) (int, string) {
	t.Helper()
	if buildErr != nil {
		t.Fatal(buildErr)
	}
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	out, err := exec.CommandContext(ctx, sekishoBin, args...).CombinedOutput()
	return exitCode(t, err), string(out)
}

// exitCode turns the error of a finished command into its exit status.
func exitCode(t testing.TB, err error) int {
	t.Helper()
	if err == nil {
		return 0
	}
	var ee *exec.ExitError
	if errors.As(err, &ee) && ee.Exited() {
		return ee.ExitCode()
	}
	t.Fatalf("command did not exit normally: %v", err)
	return -1
}

// token returns a string unique to this test run, to find a message again.
func token(t testing.TB) string {
	t.Helper()
	tokenMu.Lock()
	defer tokenMu.Unlock()
	tokenN++
	return "tok" + strconv.FormatInt(time.Now().UnixNano(), 36) + strconv.Itoa(tokenN)
}

var (
	tokenMu sync.Mutex
	tokenN  int
)

// containsAll reports whether b holds every one of subs.
func containsAll(b []byte, subs ...string) bool {
	for _, s := range subs {
		if !bytes.Contains(b, []byte(s)) {
			return false
		}
	}
	return true
}
