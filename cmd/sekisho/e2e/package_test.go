package e2e_test

import (
	"context"
	"fmt"
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

// Programs the package test runs.
const (
	dpkgCmd          = "/usr/bin/dpkg"
	dpkgQueryCmd     = "/usr/bin/dpkg-query"
	gpasswdCmd       = "/usr/bin/gpasswd"
	runuserCmd       = "/sbin/runuser"
	systemdAnalyze   = "/usr/bin/systemd-analyze"
	packageLock      = "/run/lock/sekisho-package-test.lock"
	packagedSocket   = "/var/spool/postfix/sekisho/sekisho.sock"
	packagedSuperv   = "/usr/share/sekisho/supervisord/sekisho.conf"
	packagedConfig   = "/etc/sekisho/sekisho.toml"
	packagedUnit     = "/lib/systemd/system/sekisho.service"
	packagedWantedBy = "/etc/systemd/system/multi-user.target.wants/sekisho.service"
	packagedHeldPath = "/lib/systemd/system/sekisho-held.path"
	packagedHeldUnit = "/lib/systemd/system/sekisho-held.service"
	packagedHeldWant = "/etc/systemd/system/paths.target.wants/sekisho-held.path"
	packagedTimerOn  = "/etc/systemd/system/timers.target.wants/sekisho-digest.timer"
	packagedSpool    = "/var/lib/sekisho-held"
)

// packagedUnits are the systemd units the package installs.
var packagedUnits = []string{packagedUnit, "/lib/systemd/system/sekisho-digest.service", "/lib/systemd/system/sekisho-digest.timer", packagedHeldPath, packagedHeldUnit}

// mustRun runs a command and fails the test unless it succeeds.
func mustRun(t testing.TB, args ...string) string {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Minute)
	defer cancel()
	out, err := exec.CommandContext(ctx, args[0], args[1:]...).CombinedOutput()
	if err != nil {
		t.Fatalf("%s: %v\n%s", strings.Join(args, " "), err, out)
	}
	return string(out)
}

// packageInstalled reports whether dpkg knows package sekisho, installed
// or with its configuration files left.
func packageInstalled() bool {
	out, err := exec.Command(dpkgQueryCmd, "-W", "-f=${db:Status-Status}", "sekisho").Output()
	return err == nil && strings.TrimSpace(string(out)) != "not-installed" && len(out) > 0
}

// groupsOf returns the names of the groups of a user, as the user
// database has them now.
func groupsOf(t testing.TB, name string) []string {
	t.Helper()
	u, err := user.Lookup(name)
	if err != nil {
		t.Fatal(err)
	}
	ids, err := u.GroupIds()
	if err != nil {
		t.Fatal(err)
	}
	var names []string
	for _, id := range ids {
		if g, err := user.LookupGroupId(id); err == nil {
			names = append(names, g.Name)
		}
	}
	return names
}

// TestPackage builds the Debian package with contrib/debian/build.sh,
// installs it with dpkg on this machine, checks what it installed and the
// user sekisho, runs -check of the installed configuration as that user,
// starts the daemon from the packaged supervisord program block under a
// supervisord of the test's own, sends mail through a Postfix to the
// installed socket, and purges the package, checking what is gone. The
// machine is restored even when the test fails: the package purged, the
// user as it was.
//
// It changes the real system (/usr/sbin, /etc/sekisho, the user sekisho),
// so it does not run in parallel with the package's other tests (which use
// the user sekisho), and holds a file lock against another run of itself
// until its cleanup has restored the machine.
func TestPackage(t *testing.T) {
	for _, p := range []string{dpkgCmd, dpkgQueryCmd, gpasswdCmd, usermodCmd, userdelCmd, runuserCmd, systemdAnalyze, supervisordCmd, supervisorctlCmd, postfixCmd} {
		requireProgram(t, p)
	}
	lock, err := os.OpenFile(packageLock, os.O_CREATE|os.O_RDWR, 0o600)
	if err != nil {
		t.Fatal(err)
	}
	if err := syscall.Flock(int(lock.Fd()), syscall.LOCK_EX); err != nil {
		lock.Close()
		t.Fatal(err)
	}
	// Registered first, so released last: after the cleanups below have
	// purged the package and put the user back.
	t.Cleanup(func() { lock.Close() })
	purge := func() ([]byte, error) {
		defer lockAccounts(t)()
		return exec.Command(dpkgCmd, "--purge", "sekisho").CombinedOutput()
	}
	if packageInstalled() {
		// Left by a run that was killed before its cleanup.
		t.Logf("package sekisho found installed; purging it first")
		if out, err := purge(); err != nil {
			t.Fatalf("dpkg --purge sekisho: %v\n%s", err, out)
		}
	}

	// The user as it was: the package must keep an existing user and add
	// it to groups postfix and postdrop, or make it. An existing one is
	// taken out of those groups first, so that the install has to put it
	// back.
	_, err = user.Lookup("sekisho")
	userExisted := err == nil
	var groupsBefore []string
	if userExisted {
		groupsBefore = groupsOf(t, "sekisho")
		for _, g := range []string{"postfix", "postdrop"} {
			if slices.Contains(groupsBefore, g) {
				accounts(t, gpasswdCmd, "--delete", "sekisho", g)
			}
		}
	}
	t.Cleanup(func() {
		if packageInstalled() {
			if out, err := purge(); err != nil {
				t.Errorf("dpkg --purge sekisho at cleanup: %v\n%s", err, out)
			}
		}
		_, err := user.Lookup("sekisho")
		switch {
		case !userExisted && err == nil:
			accounts(t, userdelCmd, "sekisho")
		case userExisted:
			for _, g := range []string{"postfix", "postdrop"} {
				before, now := slices.Contains(groupsBefore, g), slices.Contains(groupsOf(t, "sekisho"), g)
				if before && !now {
					accounts(t, usermodCmd, "--append", "--groups", g, "sekisho")
				} else if !before && now {
					accounts(t, gpasswdCmd, "--delete", "sekisho", g)
				}
			}
		}
	})

	out := t.TempDir()
	built := mustRun(t, "bash", "../../../contrib/debian/build.sh", out)
	debs, _ := filepath.Glob(filepath.Join(out, "sekisho_*_*.deb"))
	if len(debs) != 1 || !regexp.MustCompile(`/sekisho_[0-9][^_/]*_[a-z0-9]+\.deb$`).MatchString(debs[0]) {
		t.Fatalf("build.sh wrote %v, want one sekisho_VERSION_ARCH.deb:\n%s", debs, built)
	}
	unlock := lockAccounts(t)
	installed, err := exec.Command(dpkgCmd, "-i", debs[0]).CombinedOutput()
	unlock()
	if err != nil {
		t.Fatalf("dpkg -i: %v\n%s", err, installed)
	}

	// What it installed.
	uid, gid := lookupIDs(t, "sekisho", "postfix")
	for _, f := range []struct {
		path     string
		mode     os.FileMode
		uid, gid int
	}{
		{"/usr/sbin/sekisho", 0o755, 0, 0},
		{packagedConfig, 0o644, 0, 0},
		{packagedUnit, 0o644, 0, 0},
		{packagedHeldPath, 0o644, 0, 0},
		{packagedHeldUnit, 0o644, 0, 0},
		{packagedSuperv, 0o644, 0, 0},
		{"/usr/share/sekisho/prometheus/alerts.yml", 0o644, 0, 0},
		{"/usr/share/man/man8/sekisho.8.gz", 0o644, 0, 0},
		{"/usr/share/doc/sekisho/README.md", 0o644, 0, 0},
		{"/var/lib/sekisho", os.ModeDir | 0o750, uid, -1},
		{packagedSpool, os.ModeDir | 0o750, 0, uidGid(t, "sekisho")},
		{packagedSpool + "/tmp", os.ModeDir | 0o750, uid, -1},
		{packagedSpool + "/new", os.ModeDir | 0o750, uid, -1},
		{packagedSpool + "/done", os.ModeDir | 0o750, uid, -1},
		{packagedSpool + "/bad", os.ModeDir | 0o750, uid, -1},
		{"/var/spool/postfix/sekisho", os.ModeDir | 0o750, uid, gid},
		{"/var/log/sekisho", os.ModeDir | 0o750, 0, -1},
	} {
		fi, err := os.Stat(f.path)
		if err != nil {
			t.Errorf("after dpkg -i: %v", err)
			continue
		}
		st := fi.Sys().(*syscall.Stat_t)
		if fi.Mode() != f.mode || int(st.Uid) != f.uid || (f.gid >= 0 && int(st.Gid) != f.gid) {
			t.Errorf("%s: %v %d:%d, want %v %d:%d", f.path, fi.Mode(), st.Uid, st.Gid, f.mode, f.uid, f.gid)
		}
	}
	if conffiles := mustRun(t, dpkgQueryCmd, "-W", "-f=${Conffiles}", "sekisho"); !strings.Contains(conffiles, packagedConfig+" ") {
		t.Errorf("%s is not a conffile: %q", packagedConfig, conffiles)
	}
	if groups := groupsOf(t, "sekisho"); !slices.Contains(groups, "postfix") || !slices.Contains(groups, "postdrop") {
		t.Errorf("user sekisho in groups %v after install, want postfix and postdrop among them", groups)
	}
	// Enabled as designed: the daemon and sekisho-held.path on, the
	// digest's timer off until an administrator turns it on.
	for _, want := range []string{packagedWantedBy, packagedHeldWant} {
		if target, err := os.Readlink(want); err != nil || !strings.HasSuffix(target, filepath.Base(want)) {
			t.Errorf("%s: %q, %v: want the unit enabled", want, target, err)
		}
	}
	if _, err := os.Lstat(packagedTimerOn); err == nil {
		t.Errorf("%s: the digest's timer is enabled by the install", packagedTimerOn)
	}
	if userExisted {
		u, _ := user.Lookup("sekisho")
		if strconv.Itoa(uid) != u.Uid {
			t.Errorf("the existing user sekisho was replaced")
		}
		for _, g := range groupsBefore {
			if !slices.Contains(groupsOf(t, "sekisho"), g) {
				t.Errorf("the existing user sekisho lost group %s", g)
			}
		}
	}
	if text := mustRun(t, "/usr/sbin/sekisho", "-version"); !strings.HasPrefix(text, "sekisho 0.0~git") && !regexp.MustCompile(`^sekisho \d`).MatchString(text) {
		t.Errorf("installed sekisho -version: %q, want the package's version", text)
	}
	for _, unit := range packagedUnits {
		if verify, err := exec.Command(systemdAnalyze, "verify", unit).CombinedOutput(); err != nil || len(verify) != 0 {
			t.Errorf("systemd-analyze verify %s: %v\n%s", unit, err, verify)
		}
	}

	// -check of the installed configuration, as the daemon's user, the
	// README's way.
	if check, err := exec.Command(runuserCmd, "-u", "sekisho", "--", "/usr/sbin/sekisho", "-check", "-config", packagedConfig).CombinedOutput(); err != nil || string(check) != packagedConfig+": OK\n" {
		t.Errorf("runuser -u sekisho -- sekisho -check: %v\n%s", err, check)
	}
	// The packaged configuration with the console turned on: its
	// held-mail commands need nothing more, even with no new privileges
	// (as the packaged unit runs the daemon).
	consoleCfg := filepath.Join(worldDir(t, "package-console"), "sekisho.toml")
	b, err := os.ReadFile(packagedConfig)
	if err != nil {
		t.Fatal(err)
	}
	text := strings.Replace(string(b), "[console]\nlisten          = \"\"", fmt.Sprintf("[history]\nstore = \"/var/lib/sekisho/history.db\"\n\n[console]\nlisten = \"127.0.0.1:%d\"", freePort(t)), 1)
	if text == string(b) {
		t.Fatalf("%s has no [console] listen line to turn on:\n%s", packagedConfig, b)
	}
	if err := os.WriteFile(consoleCfg, []byte(text), 0o644); err != nil {
		t.Fatal(err)
	}
	if check, err := exec.Command(setprivCmd, "--reuid=sekisho", "--regid="+strconv.Itoa(uidGid(t, "sekisho")), "--init-groups", "--no-new-privs", "--",
		"/usr/sbin/sekisho", "-check", "-config", consoleCfg).CombinedOutput(); err != nil || string(check) != consoleCfg+": OK\n" {
		t.Errorf("sekisho -check of the packaged configuration with the console on, as sekisho with no new privileges: %v\n%s", err, check)
	}

	packageReinstall(t, debs[0], uid)

	// The packaged supervisord program block as it is, included by a
	// supervisord of the test's own.
	dir := worldDir(t, "package-supervisor")
	conf := filepath.Join(dir, "supervisord.conf")
	text = fmt.Sprintf(`[unix_http_server]
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
files = %[2]s
`, dir, packagedSuperv)
	if err := os.WriteFile(conf, []byte(text), 0o644); err != nil {
		t.Fatal(err)
	}
	sv := &supervisor{dir: dir, conf: conf, log: "/var/log/sekisho/sekisho.log"}
	sv.p, err = startProc("supervisord", filepath.Join(dir, "supervisord.out"), supervisordCmd, "-n", "-c", conf)
	if err != nil {
		t.Fatal(err)
	}
	stopSupervisor := func() {
		sv.ctl(t, "shutdown")
		sv.p.stop()
	}
	defer stopSupervisor()
	pid := sv.pid(t)
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
		b, _ := os.ReadFile(sv.log)
		t.Fatalf("no socket from the supervised sekisho: %v\nsupervisord: %s\nlog:\n%s", err, sv.p.output(), b)
	}
	if st := fi.Sys().(*syscall.Stat_t); fi.Mode().Type() != os.ModeSocket || fi.Mode().Perm() != 0o660 || int(st.Uid) != uid || int(st.Gid) != gid {
		t.Errorf("socket %v, owner %d:%d; want a socket 0660 sekisho:postfix", fi.Mode(), st.Uid, st.Gid)
	}

	// Mail through a Postfix to the installed daemon: its built-in policy
	// refuses mail to a send-only address from a client not exempted, and
	// lets the loopback client's mail through.
	pf := startPostfix(t, "unix:"+packagedSocket, postfixOptions{})
	refused := pf.mustSwaks(t, 24, "--xclient", "ADDR=192.0.2.25", "--from", "sender@example.org", "--to", "noreply@example.co.jp")
	mustRefuse(t, refused, `550 5\.`)
	tok := token(t)
	pf.mustSwaks(t, 0, "--from", "sender@example.org", "--to", "user@example.co.jp", "--header", "X-E2E-Token: "+tok)
	pf.waitDelivered(t, tok, 1)
	logs, _ := os.ReadFile(sv.log)
	if !strings.Contains(string(logs), "noreply@example.co.jp") || !strings.Contains(string(logs), `msg=listening`) {
		t.Errorf("the supervised sekisho's log at %s does not show the refusal:\n%s", sv.log, logs)
	}
	stopSupervisor()
	packagedHeld(t, pf)

	// Purge: what the package made is gone; the user stays.
	purged, err := purge()
	if err != nil {
		t.Fatalf("dpkg --purge: %v\n%s", err, purged)
	}
	for _, p := range append([]string{"/usr/sbin/sekisho", "/etc/sekisho", packagedWantedBy, packagedHeldWant, "/usr/share/sekisho", "/var/lib/sekisho", packagedSpool, "/var/log/sekisho", "/var/spool/postfix/sekisho"}, packagedUnits...) {
		if _, err := os.Lstat(p); err == nil {
			t.Errorf("%s is still there after dpkg --purge", p)
		}
	}
	if _, err := user.Lookup("sekisho"); err != nil {
		t.Errorf("user sekisho removed by purge: %v (system users are kept)", err)
	}
}

// packageReinstall installs the package deb again over itself, as an
// upgrade does, after user sekisho has tried to turn the postinst's work
// on the held-mail spool onto a directory of root's, and the
// administrator has disabled sekisho-held.path:
//   - user sekisho can neither rename, remove nor replace the spool's
//     directories (the spool is root's), and a link it puts where the
//     former layout had the spool (/var/lib/sekisho/held, in its own
//     directory) is not followed;
//   - a link in the place of one of them (which only root could put
//     there) stops the postinst, and nothing is done to its target;
//   - once it is gone, the postinst makes the directory again, and the
//     disabled path unit stays disabled while the daemon stays enabled.
func packageReinstall(t *testing.T, deb string, uid int) {
	t.Helper()
	scratch := filepath.Join(t.TempDir(), "scratch")
	if err := os.Mkdir(scratch, 0o711); err != nil {
		t.Fatal(err)
	}
	os.Chmod(scratch, 0o711)
	unchanged := func(when string) {
		t.Helper()
		fi, err := os.Lstat(scratch)
		if err != nil {
			t.Fatalf("%s: %v", when, err)
		}
		if st := fi.Sys().(*syscall.Stat_t); fi.Mode() != os.ModeDir|0o711 || st.Uid != 0 || st.Gid != 0 {
			t.Errorf("%s: the link's target %s is now %v %d:%d, want %v 0:0", when, scratch, fi.Mode(), st.Uid, st.Gid, os.ModeDir|0o711)
		}
	}
	for _, attack := range [][]string{
		{"mv", "-T", packagedSpool + "/new", packagedSpool + "/new.old"},
		{"rmdir", packagedSpool + "/bad"},
		{"ln", "-s", scratch, packagedSpool + "/new.link"},
	} {
		out, err := exec.Command(runuserCmd, append([]string{"-u", "sekisho", "--"}, attack...)...).CombinedOutput()
		if err == nil || !strings.Contains(string(out), "Permission denied") {
			t.Errorf("as sekisho, %s: %v %s, want permission denied", strings.Join(attack, " "), err, out)
		}
	}
	if out, err := exec.Command(runuserCmd, "-u", "sekisho", "--", "ln", "-s", scratch, "/var/lib/sekisho/held").CombinedOutput(); err != nil {
		t.Fatalf("as sekisho, a link in its own directory: %v %s", err, out)
	}
	// What systemctl disable sekisho-held.path does.
	if err := os.Remove(packagedHeldWant); err != nil {
		t.Fatal(err)
	}

	// A link in the place of bad/: the postinst refuses it.
	if err := os.Remove(packagedSpool + "/bad"); err != nil {
		t.Fatal(err)
	}
	if err := os.Symlink(scratch, packagedSpool+"/bad"); err != nil {
		t.Fatal(err)
	}
	unlock := lockAccounts(t)
	out, err := exec.Command(dpkgCmd, "-i", deb).CombinedOutput()
	unlock()
	if err == nil || !strings.Contains(string(out), packagedSpool+"/bad is not a directory") {
		t.Errorf("dpkg -i over a spool with a link for bad/: %v, want the postinst to refuse it\n%s", err, out)
	}
	unchanged("after the postinst refused the link")
	if err := os.Remove(packagedSpool + "/bad"); err != nil {
		t.Fatal(err)
	}
	unlock = lockAccounts(t)
	out, err = exec.Command(dpkgCmd, "-i", deb).CombinedOutput()
	unlock()
	if err != nil {
		t.Fatalf("dpkg -i again: %v\n%s", err, out)
	}
	unchanged("after the reinstall")
	for _, d := range []string{"tmp", "new", "done", "bad"} {
		fi, err := os.Lstat(packagedSpool + "/" + d)
		if err != nil {
			t.Errorf("after the reinstall: %v", err)
			continue
		}
		if st := fi.Sys().(*syscall.Stat_t); fi.Mode() != os.ModeDir|0o750 || int(st.Uid) != uid {
			t.Errorf("%s/%s after the reinstall: %v uid %d", packagedSpool, d, fi.Mode(), st.Uid)
		}
	}
	if _, err := os.Lstat(packagedHeldWant); err == nil {
		t.Errorf("sekisho-held.path, disabled, was enabled again by the reinstall")
	}
	if _, err := os.Readlink(packagedWantedBy); err != nil {
		t.Errorf("sekisho.service not enabled after the reinstall: %v", err)
	}
}

// lookupIDs returns the ids of a user and a group.
func lookupIDs(t testing.TB, userName, group string) (int, int) {
	t.Helper()
	u, err := user.Lookup(userName)
	if err != nil {
		t.Fatal(err)
	}
	g, err := user.LookupGroup(group)
	if err != nil {
		t.Fatal(err)
	}
	uid, _ := strconv.Atoi(u.Uid)
	gid, _ := strconv.Atoi(g.Gid)
	return uid, gid
}

// uidGid returns the id of a user's primary group.
func uidGid(t testing.TB, name string) int {
	t.Helper()
	u, err := user.Lookup(name)
	if err != nil {
		t.Fatal(err)
	}
	gid, _ := strconv.Atoi(u.Gid)
	return gid
}

// packagedHeld asks, as the packaged daemon would (user sekisho, no new
// privileges, the packaged configuration's release_command), for a held
// message to be released, and answers as sekisho-held.path would: the
// installed unit's ExecStart, as root with its capability bounding set,
// on the test's Postfix instance. The message is not held, and the answer
// says so: the request went through the installed spool and the root
// side ran postsuper.
func packagedHeld(t *testing.T, pf *postfix) {
	t.Helper()
	unit, err := os.ReadFile(packagedHeldUnit)
	if err != nil {
		t.Fatal(err)
	}
	m := regexp.MustCompile(`(?m)^ExecStart=(.+)$`).FindSubmatch(unit)
	if m == nil {
		t.Fatalf("%s has no ExecStart:\n%s", packagedHeldUnit, unit)
	}
	type answer struct {
		out string
		err error
	}
	done := make(chan answer, 1)
	go func() {
		out, err := exec.Command(setprivCmd, "--reuid=sekisho", "--regid="+strconv.Itoa(uidGid(t, "sekisho")), "--init-groups", "--no-new-privs", "--",
			"/usr/sbin/sekisho", "held-request", "-spool", packagedSpool, "-wait", "20s", "release", "3F1A2B40C5").CombinedOutput()
		done <- answer{string(out), err}
	}()
	for deadline := time.Now().Add(10 * time.Second); ; time.Sleep(50 * time.Millisecond) {
		if names, _ := os.ReadDir(packagedSpool + "/new"); len(names) > 0 {
			break
		}
		if time.Now().After(deadline) {
			t.Fatalf("no request in %s/new", packagedSpool)
		}
	}
	args := append([]string{"--no-new-privs", "--bounding-set=" + unitCaps(t, packagedHeldUnit), "--"}, strings.Fields(string(m[1]))...)
	applied, err := exec.Command(setprivCmd, append(args, "-postfix-config", pf.etc)...).CombinedOutput()
	if err != nil {
		t.Errorf("%s: %v\n%s", m[1], err, applied)
	}
	a := <-done
	if a.err == nil || !strings.Contains(a.out, "message 3F1A2B40C5 is not in the hold queue") {
		t.Errorf("held-request: %v\n%s\nheld-apply:\n%s", a.err, a.out, applied)
	}
	if !strings.Contains(string(applied), `msg="held-apply: held message not released"`) {
		t.Errorf("held-apply's log:\n%s", applied)
	}
}
