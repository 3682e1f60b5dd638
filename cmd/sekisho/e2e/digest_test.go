package e2e_test

import (
	"bytes"
	"encoding/json"
	"fmt"
	"io"
	"os"
	"os/exec"
	"path/filepath"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/emersion/go-message/mail"
)

// postfixSendmail is Postfix's sendmail(1), which the digest is piped to.
const postfixSendmail = "/usr/sbin/sendmail"

// TestE2EDigest: a message held and one refused through a real Postfix
// are in the history; `sekisho digest`, piping to that Postfix's
// sendmail, mails their recipient in the domain given (not the other
// one) a digest listing both, in Japanese and English; the digest itself
// goes through sekisho (non_smtpd_milters) and passes the policy that
// held and refused the others.
func TestE2EDigest(t *testing.T) {
	t.Parallel()
	db := filepath.Join(t.TempDir(), "history.db")
	s := startSekisho(t, sekishoConfig("enforce", fmt.Sprintf("[history]\nstore = %q\n", db), ruleASCIIQuarantine, "[rules.blank]\n"))
	pf := startPostfix(t, s.Milter, postfixOptions{Main: map[string]string{"non_smtpd_milters": s.Milter}})
	requireProgram(t, postfixCmd)
	requireProgram(t, postfixSendmail)

	tok := token(t)
	// Held: an ASCII subject, to a recipient of the domain and one of
	// another domain.
	pf.mustSwaks(t, 0, "--from", "tanaka@example.org", "--to", "suzuki@example.co.jp,user@example.com",
		"--header", "Subject: invoice "+tok)
	held := waitHolds(t, pf, 1)[0][0]
	// Refused: a Japanese subject, and no text.
	pf.mustSwaks(t, 26, "--from", "spam@example.net", "--to", "suzuki@example.co.jp",
		"--header", "Subject: =?UTF-8?B?5b6h6KaL56mN?= "+tok, "--body", " ")
	// Records are written a moment after the mail.
	for deadline := time.Now().Add(10 * time.Second); len(historyOf(t, s, tok)) < 2; time.Sleep(100 * time.Millisecond) {
		if time.Now().After(deadline) {
			t.Fatalf("the history lacks the two decisions: %v\n%s", historyOf(t, s, tok), s.Logs())
		}
	}

	code, out := runSekisho(t, "digest", "-config", s.Config, "-since", "1h", "-domains", "example.co.jp",
		"-sendmail", postfixSendmail+" -C "+pf.etc+" -t -i", "-from", "postmaster@example.co.jp",
		"-console-url", "https://mx.example.co.jp:10031/held")
	if code != 0 || out != "" {
		t.Fatalf("sekisho digest: exit %d\n%s", code, out)
	}
	got := pf.waitDelivered(t, "X-Sekisho-Digest: 1", 1)[0]
	if got.Rcpt != "suzuki@example.co.jp" {
		t.Errorf("digest delivered to %s", got.Rcpt)
	}
	r, err := mail.CreateReader(bytes.NewReader(got.Data))
	if err != nil {
		t.Fatalf("the digest does not parse: %v\n%s", err, got.Data)
	}
	if subj, _ := r.Header.Subject(); subj != "[関所] 保留・拒否されたメール 2 通 / 2 held or refused messages" {
		t.Errorf("Subject: %q", subj)
	}
	if v := r.Header.Get("Auto-Submitted"); v != "auto-generated" {
		t.Errorf("Auto-Submitted: %q", v)
	}
	p, err := r.NextPart()
	if err != nil {
		t.Fatal(err)
	}
	b, err := io.ReadAll(p.Body)
	if err != nil {
		t.Fatal(err)
	}
	body := string(b)
	for _, want := range []string{
		"suzuki@example.co.jp 様",
		"[保留]", "[拒否]", "[held]", "[refused]",
		"<tanaka@example.org>", "<spam@example.net>",
		"件名：　invoice " + tok, "件名：　御見積 " + tok,
		"Subject:  invoice " + tok, "Subject:  御見積 " + tok,
		"(管理者の画面: https://mx.example.co.jp:10031/held)",
	} {
		if !strings.Contains(body, want) {
			t.Errorf("digest lacks %q:\n%s", want, body)
		}
	}

	// The digest went through sekisho, which judged and accepted it.
	var accepted bool
	for deadline := time.Now().Add(10 * time.Second); !accepted; time.Sleep(100 * time.Millisecond) {
		for _, rec := range historyOf(t, s, `"held or refused messages"`) {
			// Postfix names a local submission's client 127.0.0.1, which
			// the default [exempt] networks hold (the test's do not).
			accepted = accepted || rec.Action == "accept" && slices.Equal(rec.Rcpts, []string{"suzuki@example.co.jp"}) && rec.Client == "127.0.0.1"
		}
		if !accepted && time.Now().After(deadline) {
			t.Fatalf("sekisho did not accept the digest:\n%s\nmaillog:\n%s", s.Logs(), pf.Maillog())
		}
	}
	// None to the recipient of the other domain.
	pf.queueTool(t, postsuperCmd, "-d", held)
	pf.waitQueueEmpty(t)
	if n := len(pf.messages(t, "X-Sekisho-Digest: 1")); n != 1 {
		t.Errorf("%d digests delivered, want 1", n)
	}
}

// historyRec is what the digest test reads of `sekisho history -json`.
type historyRec struct {
	Action string   `json:"action"`
	Rcpts  []string `json:"rcpts"`
	Reason string   `json:"reason"`
	Client string   `json:"client"`
}

// historyOf returns the decisions `sekisho history -q q` finds.
func historyOf(t testing.TB, s *sekishoProc, q string) []historyRec {
	t.Helper()
	code, out := runSekisho(t, "history", "-config", s.Config, "-q", q, "-json")
	if code != 0 {
		t.Fatalf("sekisho history: exit %d\n%s", code, out)
	}
	var recs []historyRec
	for _, l := range strings.Split(strings.TrimSpace(out), "\n") {
		if l == "" {
			continue
		}
		var r historyRec
		if err := json.Unmarshal([]byte(l), &r); err != nil {
			t.Fatalf("%v: %s", err, l)
		}
		recs = append(recs, r)
	}
	return recs
}

// TestDigestUnits: contrib's digest service and timer pass
// systemd-analyze verify, the service running the binary the tests built
// in place of /usr/sbin/sekisho (which verify wants to exist), and the
// service's command line is one `sekisho digest` takes.
func TestDigestUnits(t *testing.T) {
	requireProgram(t, systemdAnalyze)
	if buildErr != nil {
		t.Fatal(buildErr)
	}
	dir := t.TempDir()
	var args []string
	for _, name := range []string{"sekisho-digest.service", "sekisho-digest.timer"} {
		b, err := os.ReadFile(filepath.Join("../../../contrib/systemd", name))
		if err != nil {
			t.Fatal(err)
		}
		for _, line := range strings.Split(string(b), "\n") {
			if cmd, ok := strings.CutPrefix(line, "ExecStart=/usr/sbin/sekisho "); ok {
				args = strings.Fields(cmd)
			}
		}
		b = bytes.ReplaceAll(b, []byte("/usr/sbin/sekisho "), []byte(sekishoBin+" "))
		if err := os.WriteFile(filepath.Join(dir, name), b, 0o644); err != nil {
			t.Fatal(err)
		}
	}
	if out, err := exec.Command(systemdAnalyze, "verify", "--man=no", filepath.Join(dir, "sekisho-digest.service"), filepath.Join(dir, "sekisho-digest.timer")).CombinedOutput(); err != nil || len(out) != 0 {
		t.Errorf("systemd-analyze verify: %v\n%s", err, out)
	}
	if len(args) < 2 || args[0] != "digest" {
		t.Fatalf("the service does not run sekisho digest: %q", args)
	}
	// Its flags parse: with a configuration of its own and -dry-run, the
	// run gets as far as reading the (empty) history.
	cfg := filepath.Join(dir, "sekisho.toml")
	if err := os.WriteFile(cfg, fmt.Appendf(nil, "[history]\nstore = %q\n", filepath.Join(dir, "history.db")), 0o644); err != nil {
		t.Fatal(err)
	}
	if i := slices.Index(args, "-config"); i >= 0 && i+1 < len(args) {
		args[i+1] = cfg
	}
	if code, out := runSekisho(t, append(args, "-dry-run")...); code != 1 || !strings.Contains(out, "history.db") {
		t.Errorf("sekisho %s -dry-run: exit %d, want 1 for the missing history file\n%s", strings.Join(args, " "), code, out)
	}
}
