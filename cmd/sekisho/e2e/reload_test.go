package e2e_test

import (
	"fmt"
	"os"
	"regexp"
	"strings"
	"syscall"
	"testing"
)

// TestE2EReload changes the configuration under a running daemon: SIGHUP
// swaps in a valid file, and a file with errors is refused while the
// configuration in force keeps serving.
func TestE2EReload(t *testing.T) {
	t.Parallel()
	s, pf := setup(t, sekishoConfig("enforce", ruleSendOnly))
	send := func(want int) string {
		t.Helper()
		tok := token(t)
		out := pf.mustSwaks(t, want, "--from", "sender@example.org", "--to", "noreply@example.co.jp", "--header", "X-E2E-Token: "+tok)
		if want == 0 {
			pf.waitDelivered(t, tok, 1)
		}
		return out
	}
	mustRefuse(t, send(24), regexp.QuoteMeta("550 5.1.1 User unknown"))

	write := func(text string) {
		t.Helper()
		old, err := os.ReadFile(s.Config)
		if err != nil {
			t.Fatal(err)
		}
		listen := strings.SplitN(string(old), "\n", 2)[0]
		if err := os.WriteFile(s.Config, []byte(listen+"\n"+text), 0o644); err != nil {
			t.Fatal(err)
		}
	}

	// A valid file without send_only: the noreply address receives mail.
	write(sekishoConfig("enforce", ruleRecipientLimit))
	s.Signal(t, syscall.SIGHUP)
	s.waitLog(t, "configuration reloaded", "reload_successful=true")
	send(0)

	// A file with an error: refused, and the configuration in force stays.
	write(sekishoConfig("enforce", ruleSendOnly) + "\ncolour = \"red\"\n")
	s.Signal(t, syscall.SIGHUP)
	s.waitLog(t, "configuration reload failed", "colour: unknown key", "reload_successful=false")
	send(0)

	// The [log] table follows a reload: at warn, an accepted message is
	// not logged; back at debug, it is, and in JSON when asked.
	quiet := strings.Replace(sekishoConfig("enforce", ruleRecipientLimit), `level = "debug"`, `level = "warn"`, 1)
	write(quiet)
	s.Signal(t, syscall.SIGHUP)
	s.waitLog(t, "log settings changed", "level=warn")
	before := len(s.logLines("msg=accept"))
	send(0)
	write(strings.Replace(quiet, `level = "warn"`, `level = "info"`, 1))
	s.Signal(t, syscall.SIGHUP)
	s.waitLog(t, "configuration reloaded", "reload_successful=true")
	if n := len(s.logLines("msg=accept")); n != before {
		t.Errorf("%d accept lines logged at level warn", n-before)
	}
	json := strings.Replace(strings.Replace(quiet, `level = "warn"`, `level = "info"`, 1), `format = "text"`, `format = "json"`, 1)
	write(json)
	s.Signal(t, syscall.SIGHUP)
	s.waitLog(t, `"msg":"configuration reloaded"`)
	send(0)
	s.waitLog(t, `"msg":"accept"`)

	// The socket stays as opened: a new listen address is reported as
	// needing a restart, and mail keeps arriving on the old one.
	if err := os.WriteFile(s.Config, []byte("listen = \"inet:127.0.0.1:1\"\n"+json), 0o644); err != nil {
		t.Fatal(err)
	}
	s.Signal(t, syscall.SIGHUP)
	s.waitLog(t, `"msg":"socket settings changed; they take effect only on restart"`, `"listen":"inet:127.0.0.1:1"`)
	send(0)
}

// TestE2ENoPasswordLogged runs the daemon on a Redis URL with a password,
// to a server that is down: the lines it logs (startup, every refused
// recipient, the Redis client's own) never show the password.
func TestE2ENoPasswordLogged(t *testing.T) {
	t.Parallel()
	dead := fmt.Sprintf("127.0.0.1:%d", freePort(t))
	s, pf := setup(t, sekishoConfig("enforce", ruleRateLimit("redis://:s3cret-pw@"+dead+"/0")))
	for range 3 {
		tok := token(t)
		pf.mustSwaks(t, 24, "--from", "sender@example.org", "--to", "user@example.co.jp", "--header", "X-E2E-Token: "+tok)
	}
	s.waitLog(t, "rule=rate_limit")
	s.Signal(t, syscall.SIGHUP)
	s.waitLog(t, "configuration reloaded")
	// A reload to a URL that does not parse is refused: the error names
	// the URL, without its password.
	old, err := os.ReadFile(s.Config)
	if err != nil {
		t.Fatal(err)
	}
	bad := strings.Replace(string(old), dead+"/0", "127.0.0.1:bad/0", 1)
	if err := os.WriteFile(s.Config, []byte(bad), 0o644); err != nil {
		t.Fatal(err)
	}
	s.Signal(t, syscall.SIGHUP)
	s.waitLog(t, "configuration reload failed", "redis://:xxxxx@127.0.0.1:bad/0")
	if strings.Contains(s.Logs(), "s3cret-pw") {
		t.Errorf("the password is logged:\n%s", s.Logs())
	}
}
