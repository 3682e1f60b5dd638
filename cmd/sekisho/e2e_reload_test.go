package main_test

import (
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
}
