package e2e_test

import (
	"bytes"
	"cmp"
	"context"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"sort"
	"strconv"
	"strings"
	"syscall"
	"testing"
	"time"
)

// Paths of the Debian packages the harness drives.
const (
	postfixCmd   = "/usr/sbin/postfix"
	postqueueCmd = "/usr/sbin/postqueue"
	swaksCmd     = "/usr/bin/swaks"
)

// postfixOptions changes an instance's main.cf.
type postfixOptions struct {
	// DefaultAction is milter_default_action; "tempfail" when empty.
	DefaultAction string
	// Main holds further main.cf settings, applied last.
	Main map[string]string
	// Master holds further master.cf lines.
	Master []string
	// Port is the first port smtpd is given; a free one when zero.
	Port int
}

// postfix is an isolated Postfix instance: its own configuration, queue and
// log under Dir, smtpd on Addr, and every message it delivers written by a
// pipe(8) transport to one file per recipient under Dir/out.
type postfix struct {
	Dir  string
	Addr string
	etc  string
	out  string
}

// testDomains are delivered locally by every instance.
var testDomains = []string{"example.co.jp", "example.com", "example.net", "example.org", "localhost"}

// startPostfix starts a Postfix instance with milter (empty: no milter) as
// its only smtpd_milters entry and stops it at cleanup. Postfix runs as
// root from a directory it is given with -c; alternate_config_directories
// is only needed for the set-gid programs run by other users.
func startPostfix(t testing.TB, milter string, opts postfixOptions) *postfix {
	t.Helper()
	requireProgram(t, postfixCmd)
	requireProgram(t, swaksCmd)
	dir := worldDir(t, "postfix")
	p := &postfix{
		Dir:  dir,
		Addr: fmt.Sprintf("127.0.0.1:%d", cmp.Or(opts.Port, freePort(t))),
		etc:  filepath.Join(dir, "etc"),
		out:  filepath.Join(dir, "out"),
	}
	for _, d := range []string{p.etc, filepath.Join(dir, "queue"), filepath.Join(dir, "data"), p.out} {
		if err := os.Mkdir(d, 0o755); err != nil {
			t.Fatal(err)
		}
	}
	// The pipe transport runs as nobody; data_directory belongs to postfix.
	if err := os.Chmod(p.out, 0o777); err != nil {
		t.Fatal(err)
	}
	chownPostfix(t, filepath.Join(dir, "data"))

	deliver := filepath.Join(dir, "deliver.sh")
	script := fmt.Sprintf(`#!/bin/sh
# Called by pipe(8) with the queue id: stores the message atomically.
umask 022
t=$(mktemp %[1]s/.tmp.XXXXXX) || exit 75
cat > "$t" || exit 75
mv "$t" "%[1]s/$1.$(date +%%s%%N).eml" || exit 75
`, p.out)
	if err := os.WriteFile(deliver, []byte(script), 0o755); err != nil {
		t.Fatal(err)
	}

	main := map[string]string{
		"compatibility_level":                 "3.6",
		"queue_directory":                     filepath.Join(dir, "queue"),
		"data_directory":                      filepath.Join(dir, "data"),
		"mail_owner":                          "postfix",
		"setgid_group":                        "postdrop",
		"syslog_name":                         filepath.Base(dir),
		"maillog_file":                        filepath.Join(dir, "maillog"),
		"maillog_file_prefixes":               dir,
		"myhostname":                          "mx.example.co.jp",
		"mydomain":                            "example.co.jp",
		"myorigin":                            "$myhostname",
		"inet_interfaces":                     "loopback-only",
		"inet_protocols":                      "ipv4",
		"mynetworks":                          "127.0.0.0/8",
		"mydestination":                       strings.Join(testDomains, ", "),
		"local_recipient_maps":                "",
		"alias_maps":                          "",
		"alias_database":                      "",
		"local_transport":                     "capture",
		"relay_transport":                     "capture",
		"default_transport":                   "capture",
		"capture_destination_recipient_limit": "1",
		"smtpd_relay_restrictions":            "permit_mynetworks, reject_unauth_destination",
		"smtpd_client_restrictions":           "",
		"smtpd_helo_restrictions":             "",
		"smtpd_sender_restrictions":           "",
		"smtpd_recipient_restrictions":        "",
		"smtpd_authorized_xclient_hosts":      "127.0.0.0/8",
		"smtp_dns_support_level":              "disabled",
		"smtp_host_lookup":                    "native",
		"message_size_limit":                  "62914560",
		"mailbox_size_limit":                  "0",
		"biff":                                "no",
		"milter_protocol":                     "6",
		"milter_default_action":               "tempfail",
		"milter_connect_macros":               "j {daemon_name} {daemon_addr} v {client_addr} {client_name} {client_port}",
		"milter_helo_macros":                  "{client_addr} {tls_version} {cipher}",
		"milter_mail_macros":                  "i {auth_type} {auth_authen} {auth_author} {client_addr} {mail_addr} {mail_host} {mail_mailer}",
		"milter_rcpt_macros":                  "i {client_addr} {rcpt_addr} {rcpt_host} {rcpt_mailer}",
		"milter_data_macros":                  "i {client_addr}",
		"milter_end_of_header_macros":         "i {client_addr}",
		"milter_end_of_data_macros":           "i {client_addr} {msg_id}",
	}
	if milter != "" {
		main["smtpd_milters"] = milter
	}
	if opts.DefaultAction != "" {
		main["milter_default_action"] = opts.DefaultAction
	}
	for k, v := range opts.Main {
		main[k] = v
	}
	keys := make([]string, 0, len(main))
	for k := range main {
		keys = append(keys, k)
	}
	sort.Strings(keys)
	var cf strings.Builder
	for _, k := range keys {
		fmt.Fprintf(&cf, "%s = %s\n", k, main[k])
	}
	if err := os.WriteFile(filepath.Join(p.etc, "main.cf"), []byte(cf.String()), 0o644); err != nil {
		t.Fatal(err)
	}
	start := time.Now()
	started := false
	for attempt := 1; ; attempt++ {
		master := fmt.Sprintf(`%s inet n - n - - smtpd
pickup    unix  n - n 60   1 pickup
cleanup   unix  n - n -    0 cleanup
qmgr      unix  n - n 300  1 qmgr
rewrite   unix  - - n -    - trivial-rewrite
bounce    unix  - - n -    0 bounce
defer     unix  - - n -    0 bounce
trace     unix  - - n -    0 bounce
verify    unix  - - n -    1 verify
flush     unix  n - n 1000 0 flush
proxymap  unix  - - n -    - proxymap
showq     unix  n - n -    - showq
error     unix  - - n -    - error
retry     unix  - - n -    - error
discard   unix  - - n -    - discard
anvil     unix  - - n -    1 anvil
scache    unix  - - n -    1 scache
postlog   unix-dgram n - n - 1 postlogd
capture   unix  - n n -    - pipe
  flags=DRq user=nobody argv=%s ${queue_id}
`, p.Addr, deliver)
		for _, l := range opts.Master {
			master += l + "\n"
		}
		if err := os.WriteFile(filepath.Join(p.etc, "master.cf"), []byte(master), 0o644); err != nil {
			t.Fatal(err)
		}
		out, err := p.postfix("start")
		if err != nil {
			err = fmt.Errorf("postfix start: %v\n%s", err, out)
		} else {
			if !started {
				started = true
				t.Cleanup(func() {
					if out, err := p.postfix("stop"); err != nil {
						t.Errorf("postfix stop: %v\n%s", err, out)
					}
					if t.Failed() {
						t.Logf("postfix maillog:\n%s", p.Maillog())
					}
				})
			}
			err = p.waitListening(10 * time.Second)
		}
		if err == nil {
			break
		}
		// Another process took the port between its choice and master's
		// bind (tests run in parallel): master exits; choose another.
		if attempt == 3 || !strings.Contains(p.Maillog(), "Address already in use") {
			t.Fatalf("postfix: %v\nmaillog:\n%s", err, p.Maillog())
		}
		t.Logf("postfix: port %s taken meanwhile; choosing another", p.Addr)
		p.Addr = fmt.Sprintf("127.0.0.1:%d", freePort(t))
	}
	t.Logf("postfix on %s ready in %v", p.Addr, time.Since(start).Round(time.Millisecond))
	return p
}

// waitListening polls until Postfix's master process holds a socket
// listening on p.Addr's port (a connection to the port could reach another
// process that took it), master exits, or timeout passes.
func (p *postfix) waitListening(timeout time.Duration) error {
	_, port, _ := strings.Cut(p.Addr, ":")
	pidFile := filepath.Join(p.Dir, "queue", "pid", "master.pid")
	deadline := time.Now().Add(timeout)
	for {
		if b, err := os.ReadFile(pidFile); err == nil {
			if pid, err := strconv.Atoi(strings.TrimSpace(string(b))); err == nil {
				if listening(pid, port) {
					return nil
				}
				if syscall.Kill(pid, 0) != nil {
					return fmt.Errorf("master (pid %d) exited before listening on %s", pid, p.Addr)
				}
			}
		}
		if time.Now().After(deadline) {
			return fmt.Errorf("not listening on %s after %v", p.Addr, timeout)
		}
		time.Sleep(20 * time.Millisecond)
	}
}

// chownPostfix gives path to user postfix.
func chownPostfix(t testing.TB, path string) {
	t.Helper()
	out, err := exec.Command("chown", "postfix:", path).CombinedOutput()
	if err != nil {
		t.Fatalf("chown postfix %s: %v\n%s", path, err, out)
	}
}

// postfix runs postfix(1) on this instance. Its output goes through a file:
// master(8) keeps inherited descriptors open, so a pipe would never close.
func (p *postfix) postfix(args ...string) (string, error) {
	f, err := os.CreateTemp(p.Dir, "postfix-cmd-")
	if err != nil {
		return "", err
	}
	defer os.Remove(f.Name())
	defer f.Close()
	ctx, cancel := context.WithTimeout(context.Background(), 60*time.Second)
	defer cancel()
	cmd := exec.CommandContext(ctx, postfixCmd, append([]string{"-c", p.etc}, args...)...)
	cmd.Stdout = f
	cmd.Stderr = f
	err = cmd.Run()
	out, _ := os.ReadFile(f.Name())
	return string(out), err
}

// Maillog returns the instance's log so far.
func (p *postfix) Maillog() string {
	b, _ := os.ReadFile(filepath.Join(p.Dir, "maillog"))
	return string(b)
}

// swaks sends mail through this Postfix with swaks and returns its exit
// code and output.
func (p *postfix) swaks(t testing.TB, args ...string) (int, string) {
	t.Helper()
	return swaksAt(t, p.Addr, args...)
}

// mustSwaks runs swaks and fails the test unless it exits with want.
func (p *postfix) mustSwaks(t testing.TB, want int, args ...string) string {
	t.Helper()
	return mustSwaksAt(t, p.Addr, want, args...)
}

// deliveredAs: pipe(8)'s Delivered-To holds the whole address.
func (p *postfix) deliveredAs(addr string) string { return addr }

// rcptRefusal: Postfix relays the milter's reply as it is.
func (p *postfix) rcptRefusal(code, rcpt, text string) string {
	return regexp.QuoteMeta(code + " " + text)
}

// milterDown: with milter_default_action = tempfail (the harness's
// default), Postfix answers 451 at MAIL.
func (p *postfix) milterDown() string {
	return regexp.QuoteMeta("451 4.7.1 Service unavailable - try again later")
}

// swaksAt runs swaks against the SMTP server at addr, bounded in time, and
// returns its exit code (0 ok, 21 greeting refused, 23 MAIL refused, 24 no
// recipient accepted, 26 refused after DATA, 33 XCLIENT refused) and its
// transcript.
func swaksAt(t testing.TB, addr string, args ...string) (int, string) {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 90*time.Second)
	defer cancel()
	all := append([]string{"--server", addr, "--timeout", "60", "--helo", "client.example.org"}, args...)
	cmd := exec.CommandContext(ctx, swaksCmd, all...)
	var out bytes.Buffer
	cmd.Stdout = &out
	cmd.Stderr = &out
	err := cmd.Run()
	if ctx.Err() != nil {
		t.Fatalf("swaks %q: %v\n%s", args, ctx.Err(), out.String())
	}
	return exitCode(t, err), out.String()
}

// mustSwaksAt runs swaks against addr and fails the test unless it exits
// with want.
func mustSwaksAt(t testing.TB, addr string, want int, args ...string) string {
	t.Helper()
	code, out := swaksAt(t, addr, args...)
	if code != want {
		t.Fatalf("swaks %q: exit %d, want %d\n%s", args, code, want, out)
	}
	return out
}

// delivered is one message written by the capture transport.
type delivered struct {
	// Rcpt is the Delivered-To header Postfix's pipe(8) adds.
	Rcpt string
	Data []byte
}

// messages returns the delivered messages holding every one of subs.
func (p *postfix) messages(t testing.TB, subs ...string) []delivered {
	t.Helper()
	names, err := filepath.Glob(filepath.Join(p.out, "*.eml"))
	if err != nil {
		t.Fatal(err)
	}
	sort.Strings(names)
	var msgs []delivered
	for _, n := range names {
		b, err := os.ReadFile(n)
		if err != nil {
			t.Fatal(err)
		}
		if !containsAll(b, subs...) {
			continue
		}
		m := delivered{Data: b}
		for _, line := range strings.Split(string(b), "\n") {
			if v, ok := strings.CutPrefix(line, "Delivered-To: "); ok {
				m.Rcpt = strings.TrimSpace(v)
				break
			}
		}
		msgs = append(msgs, m)
	}
	return msgs
}

// waitDelivered polls for up to 15 seconds until n messages holding tok
// were delivered, and returns them.
func (p *postfix) waitDelivered(t testing.TB, tok string, n int) []delivered {
	t.Helper()
	deadline := time.Now().Add(15 * time.Second)
	for {
		msgs := p.messages(t, tok)
		if len(msgs) >= n {
			if len(msgs) > n {
				t.Fatalf("%d messages with %s delivered, want %d", len(msgs), tok, n)
			}
			return msgs
		}
		if time.Now().After(deadline) {
			t.Fatalf("%d messages with %s delivered after 15s, want %d\nqueue:\n%s\nmaillog:\n%s",
				len(msgs), tok, n, p.queue(), p.Maillog())
		}
		time.Sleep(50 * time.Millisecond)
	}
}

// deliveredTo returns the recipient addresses of the delivered messages.
func deliveredTo(msgs []delivered) []string {
	var rcpts []string
	for _, m := range msgs {
		rcpts = append(rcpts, m.Rcpt)
	}
	sort.Strings(rcpts)
	return rcpts
}

// notDelivered waits until the queue is empty (whatever Postfix accepted
// has been delivered) and fails if a message holding tok was delivered.
func (p *postfix) notDelivered(t testing.TB, tok string) {
	t.Helper()
	p.waitQueueEmpty(t)
	if msgs := p.messages(t, tok); len(msgs) > 0 {
		t.Fatalf("message with %s delivered to %v, want none\n%s", tok, deliveredTo(msgs), msgs[0].Data)
	}
}

// waitQueueEmpty polls postqueue -p for up to 15 seconds.
func (p *postfix) waitQueueEmpty(t testing.TB) {
	t.Helper()
	deadline := time.Now().Add(15 * time.Second)
	for {
		q := p.queue()
		if strings.Contains(q, "Mail queue is empty") {
			return
		}
		if time.Now().After(deadline) {
			t.Fatalf("queue not empty after 15s:\n%s\nmaillog:\n%s", q, p.Maillog())
		}
		time.Sleep(100 * time.Millisecond)
	}
}

// queue returns the output of postqueue -p for the instance.
func (p *postfix) queue() string {
	out, err := exec.Command(postqueueCmd, "-c", p.etc, "-p").CombinedOutput()
	if err != nil {
		return fmt.Sprintf("postqueue: %v\n%s", err, out)
	}
	return string(out)
}

// waitMaillog polls the maillog for up to 10 seconds for a line holding
// every one of subs, and returns it.
func (p *postfix) waitMaillog(t testing.TB, subs ...string) string {
	t.Helper()
	deadline := time.Now().Add(10 * time.Second)
	for {
		for _, line := range strings.Split(p.Maillog(), "\n") {
			if containsAll([]byte(line), subs...) {
				return line
			}
		}
		if time.Now().After(deadline) {
			t.Fatalf("no maillog line with %q:\n%s", subs, p.Maillog())
		}
		time.Sleep(50 * time.Millisecond)
	}
}
