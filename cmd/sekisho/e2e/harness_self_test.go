package e2e_test

// Tests of the harness itself: each daemon it starts answers as the
// scenario tests expect, without sekisho.

import (
	"context"
	"fmt"
	"net"
	"os"
	"path/filepath"
	"runtime"
	"strconv"
	"strings"
	"testing"

	"github.com/miekg/dns"
)

func TestE2EHarnessPostfixDelivers(t *testing.T) {
	t.Parallel()
	pf := startPostfix(t, "", postfixOptions{})
	tok := token(t)
	pf.mustSwaks(t, 0, "--from", "sender@example.org",
		"--to", "user@example.co.jp,other@example.com", "--header", "X-E2E-Token: "+tok)
	msgs := pf.waitDelivered(t, tok, 2)
	if got := deliveredTo(msgs); strings.Join(got, " ") != "other@example.com user@example.co.jp" {
		t.Errorf("delivered to %v", got)
	}
	if !containsAll(msgs[0].Data, "Return-Path: <sender@example.org>", "X-E2E-Token: "+tok) {
		t.Errorf("delivered message:\n%s", msgs[0].Data)
	}
	pf.notDelivered(t, "no-such-token")
}

// TestE2EHarnessMilterDown: with no milter listening, each MTA refuses
// MAIL for now, in the form milterDown expects.
func TestE2EHarnessMilterDown(t *testing.T) {
	t.Parallel()
	for _, h := range mtaHarnesses {
		t.Run(h.name, func(t *testing.T) {
			t.Parallel()
			m := h.start(t, "inet:127.0.0.1:"+strconv.Itoa(freePort(t)))
			tok := token(t)
			out := m.mustSwaks(t, 23, "--from", "sender@example.org", "--to", "user@example.co.jp",
				"--header", "X-E2E-Token: "+tok)
			mustRefuse(t, out, m.milterDown())
			m.notDelivered(t, tok)
		})
	}
}

// With milter_default_action = accept, Postfix delivers while the milter is
// down.
func TestE2EHarnessPostfixMilterDownAccept(t *testing.T) {
	t.Parallel()
	pf := startPostfix(t, "inet:127.0.0.1:"+strconv.Itoa(freePort(t)), postfixOptions{DefaultAction: "accept"})
	tok := token(t)
	pf.mustSwaks(t, 0, "--from", "sender@example.org", "--to", "user@example.co.jp",
		"--header", "X-E2E-Token: "+tok)
	pf.waitDelivered(t, tok, 1)
}

func TestE2EHarnessPostfixData(t *testing.T) {
	t.Parallel()
	pf := startPostfix(t, "", postfixOptions{})
	tok := token(t)
	msg := japaneseMessage(tok, pdfAttachment("資料.pdf", 1000))
	pf.mustSwaks(t, 0, "--from", "sender@example.org", "--to", "user@example.co.jp",
		"--data", writeMessage(t, msg))
	got := pf.waitDelivered(t, tok, 1)[0].Data
	if !strings.Contains(string(got), "=?ISO-2022-JP?B?") {
		t.Errorf("delivered message:\n%s", got)
	}
}

func TestE2EHarnessRbldnsd(t *testing.T) {
	t.Parallel()
	s := sharedRbldnsd(t)
	c := new(dns.Client)
	query := func(name string, qtype uint16) *dns.Msg {
		t.Helper()
		m := new(dns.Msg)
		m.SetQuestion(name, qtype)
		r, _, err := c.Exchange(m, s.Addr)
		if err != nil {
			t.Fatalf("%s: %v", name, err)
		}
		return r
	}
	for name, want := range map[string]string{
		"2.0.0.127.bl.test.":     "127.0.0.2",
		"200.0.0.127.bl.test.":   "127.0.0.2",
		"9.0.0.127.refuse.test.": "127.255.255.254",
		"2.0.0.127.refuse.test.": "127.255.255.254",
	} {
		r := query(name, dns.TypeA)
		if r.Rcode != dns.RcodeSuccess || len(r.Answer) != 1 {
			t.Errorf("%s A: %v", name, r)
			continue
		}
		if a, ok := r.Answer[0].(*dns.A); !ok || a.A.String() != want {
			t.Errorf("%s A = %v, want %s", name, r.Answer[0], want)
		}
	}
	r := query("2.0.0.127.bl.test.", dns.TypeTXT)
	if len(r.Answer) != 1 || !strings.Contains(r.Answer[0].String(), "Listed in bl.test, see http://bl.test/lookup?127.0.0.2") {
		t.Errorf("TXT: %v", r)
	}
	if r := query("9.0.0.127.bl.test.", dns.TypeA); r.Rcode != dns.RcodeNameError {
		t.Errorf("unlisted: %v", r)
	}
}

func TestE2EHarnessClamd(t *testing.T) {
	t.Parallel()
	s := sharedClamd(t)
	zip, err := os.ReadFile(filepath.Join(clamTestDir, "clam.zip"))
	if err != nil {
		t.Fatal(err)
	}
	for _, c := range []struct {
		name string
		data []byte
		want string
	}{
		{"eicar", []byte(eicar), "stream: " + eicarSig + ".UNOFFICIAL FOUND"},
		{"clam.zip", zip, "stream: " + clamExeSig + ".UNOFFICIAL FOUND"},
		{"eicar mail", eicarMessage(token(t)), "stream: " + eicarSig + ".UNOFFICIAL FOUND"},
		{"clean", []byte("hello"), "stream: OK"},
	} {
		got, err := clamdCommand(s.Addr, "zINSTREAM\x00", c.data)
		if err != nil || got != c.want {
			t.Errorf("%s: %q, %v; want %q", c.name, got, err, c.want)
		}
	}
}

func TestE2EHarnessRedis(t *testing.T) {
	t.Parallel()
	c := sharedRedis(t).Client("")
	defer c.Close()
	if r, err := c.Ping(context.Background()).Result(); err != nil || r != "PONG" {
		t.Fatalf("PING: %q, %v", r, err)
	}
}

// fatalRecorder is a testing.TB whose Fatalf records the message and ends
// the goroutine, as the real one does.
type fatalRecorder struct {
	testing.TB
	msg string
}

func (f *fatalRecorder) Helper() {}

func (f *fatalRecorder) Fatalf(format string, args ...any) {
	f.msg = fmt.Sprintf(format, args...)
	runtime.Goexit()
}

func (f *fatalRecorder) Fatal(args ...any) {
	f.msg = fmt.Sprint(args...)
	runtime.Goexit()
}

// recordFatal runs requireProgram(path) on its own goroutine and returns
// the failure message, "" if it passed.
func recordFatal(t *testing.T, path string) string {
	r := &fatalRecorder{TB: t}
	done := make(chan struct{})
	go func() {
		defer close(done)
		requireProgram(r, path)
	}()
	<-done
	return r.msg
}

// TestE2EHarnessRequireProgram proves the guard: a missing program fails
// with its name, its package and the install command, and a program the
// install script does not list fails as well.
func TestE2EHarnessRequireProgram(t *testing.T) {
	if testing.Short() {
		t.Skip("proves the failures of requireProgram, which skips under -short: run without -short")
	}
	pkgs, err := packagesOf()
	if err != nil {
		t.Fatal(err)
	}
	for _, p := range []string{postfixCmd, postqueueCmd, swaksCmd, clamdCmd, sigtoolCmd, clamTestExe, rbldnsdCmd, redisCmd, m4Cmd, unshareCmd} {
		if pkgs[p] == "" {
			t.Errorf("%s is not in the needs table of %s", p, installDeps)
		}
	}
	if pkgs[sigtoolCmd] != "clamav" {
		t.Errorf("sigtool's package = %q, want clamav (clamav-daemon only recommends it)", pkgs[sigtoolCmd])
	}

	// A path the script does not list, then a listed one that is absent.
	const absent = "/usr/bin/sekisho-no-such-program"
	msg := recordFatal(t, absent)
	if !strings.Contains(msg, absent) || !strings.Contains(msg, "not listed in") {
		t.Errorf("unlisted program: %q", msg)
	}
	if msg := recordFatal(t, sendmailRoot+"/no/such/file"); !strings.Contains(msg, "is missing") ||
		!strings.Contains(msg, "sendmail-bin") || !strings.Contains(msg, installCommand) {
		t.Errorf("missing Sendmail file: %q", msg)
	}
	if msg := recordFatal(t, swaksCmd); msg != "" {
		t.Errorf("installed program: %q", msg)
	}
}

// TestE2EHarnessPortTaken: a daemon whose port another process took
// between the harness's choice and its bind is not taken for ready (a
// connection to the port would reach the other process), and startSekisho
// and startPostfix choose another port.
func TestE2EHarnessPortTaken(t *testing.T) {
	t.Parallel()
	if buildErr != nil {
		t.Fatal(buildErr)
	}
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer ln.Close()
	go func() {
		for {
			c, err := ln.Accept()
			if err != nil {
				return
			}
			c.Close()
		}
	}()
	addr := ln.Addr().String()
	path := filepath.Join(t.TempDir(), "sekisho.toml")
	if err := os.WriteFile(path, []byte(fmt.Sprintf("listen = %q\n", "inet:"+addr)), 0o644); err != nil {
		t.Fatal(err)
	}
	s, err := tryLaunchSekisho(t, path, addr, sekishoBin, "-config", path)
	if err == nil {
		t.Fatalf("a daemon that could not bind %s was taken for ready:\n%s", addr, s.Logs())
	}
	if !strings.Contains(s.Logs(), "address already in use") {
		t.Errorf("failed otherwise: %v\n%s", err, s.Logs())
	}
	s = startSekisho(t, "")
	if s.Milter == "inet:"+addr {
		t.Error("started on the taken port")
	}

	// Postfix given the taken port starts on another, and delivers.
	_, port, _ := net.SplitHostPort(addr)
	n, _ := strconv.Atoi(port)
	pf := startPostfix(t, "", postfixOptions{Port: n})
	if pf.Addr == addr {
		t.Fatal("postfix taken for ready on the port another process holds")
	}
	tok := token(t)
	pf.mustSwaks(t, 0, "--from", "sender@example.org", "--to", "user@example.co.jp", "--header", "X-E2E-Token: "+tok)
	pf.waitDelivered(t, tok, 1)
}
