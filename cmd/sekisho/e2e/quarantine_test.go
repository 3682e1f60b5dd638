package e2e_test

import (
	"os/exec"
	"regexp"
	"strings"
	"testing"
	"time"
)

// Postfix's queue tools, for the quarantine runbook.
const (
	postsuperCmd = "/usr/sbin/postsuper"
	postcatCmd   = "/usr/sbin/postcat"
)

// ruleASCIIQuarantine holds mail whose subject is ASCII only (swaks's
// default subject is): decided at end of headers, when the queue id is
// known.
const ruleASCIIQuarantine = `[rules.ascii_only]
subject = true
body = false
action = "quarantine"
`

// queueTool runs one of Postfix's queue tools on the instance.
func (p *postfix) queueTool(t testing.TB, tool string, args ...string) string {
	t.Helper()
	requireProgram(t, tool)
	out, err := exec.Command(tool, append([]string{"-c", p.etc}, args...)...).CombinedOutput()
	if err != nil {
		t.Fatalf("%s %s: %v\n%s", tool, strings.Join(args, " "), err, out)
	}
	return string(out)
}

// held returns the queue ids in the hold queue.
func (p *postfix) held(t testing.TB) []string {
	t.Helper()
	var ids []string
	for _, e := range p.queueEntries(t) {
		if e.QueueName == "hold" {
			ids = append(ids, e.QueueID)
		}
	}
	return ids
}

// TestE2EQuarantineRunbook follows the README's quarantine runbook through
// a real Postfix: a quarantined message is in the hold queue (postqueue -p
// marks it, postcat -q shows it), Postfix logs the hold under its queue id
// and sekisho the rule and reason under the same id; postsuper -H releases
// it to delivery; postsuper -d deletes another.
func TestE2EQuarantineRunbook(t *testing.T) {
	t.Parallel()
	s, pf := setup(t, sekishoConfig("enforce", ruleASCIIQuarantine))

	tok := token(t)
	pf.mustSwaks(t, 0, "--from", "sender@example.org", "--to", "user@example.co.jp", "--header", "X-E2E-Token: "+tok)
	holds := waitHolds(t, pf, 1)
	id, line := holds[0][0], holds[0][1]
	// cleanup(8) logs the hold under the queue id, with sender and
	// recipients but not the milter's reason ("milter triggers HOLD
	// action"): the reason is in sekisho's log under the same id.
	if !strings.Contains(line, "from=<sender@example.org> to=<user@example.co.jp>") {
		t.Errorf("milter-hold line without the sender or the recipient: %q", line)
	}
	if held := pf.held(t); len(held) != 1 || held[0] != id {
		t.Fatalf("hold queue %v, want [%s]\n%s", held, id, pf.queue())
	}
	// postqueue -p marks a held message with "!" after its id.
	if q := pf.queueTool(t, postqueueCmd, "-p"); !strings.Contains(q, id+"!") {
		t.Errorf("postqueue -p does not mark %s as held:\n%s", id, q)
	}
	// The message itself, for review.
	if body := pf.queueTool(t, postcatCmd, "-q", id); !strings.Contains(body, "X-E2E-Token: "+tok) {
		t.Errorf("postcat -q %s does not show the message:\n%s", id, body)
	}
	// sekisho's decision line: the queue id, the rule and the reason.
	s.waitLog(t, "msg=decision", "queue_id="+id, "rule=ascii_only", "action=quarantine", "reason=")
	if got := pf.messages(t, tok); len(got) != 0 {
		t.Errorf("a held message was delivered")
	}

	// Release: to the deferred queue, then delivered at once.
	pf.queueTool(t, postsuperCmd, "-H", id)
	pf.queueTool(t, postqueueCmd, "-i", id)
	got := pf.waitDelivered(t, tok, 1)
	if got[0].Rcpt != "user@example.co.jp" {
		t.Errorf("released message delivered to %s", got[0].Rcpt)
	}

	// Delete: gone from the queue, never delivered.
	tok2 := token(t)
	pf.mustSwaks(t, 0, "--from", "sender@example.org", "--to", "user@example.co.jp", "--header", "X-E2E-Token: "+tok2)
	id2 := waitHolds(t, pf, 2)[1][0]
	pf.queueTool(t, postsuperCmd, "-d", id2)
	if held := pf.held(t); len(held) != 0 {
		t.Errorf("hold queue %v after postsuper -d %s", held, id2)
	}
	pf.waitQueueEmpty(t)
	if got := pf.messages(t, tok2); len(got) != 0 {
		t.Errorf("a deleted message was delivered")
	}
}

// TestE2EQuarantineAtRcpt: a quarantine decided at RCPT, before Postfix
// has named the message, is applied at end of message and logged there
// under the queue id of Postfix's milter-hold line, with the rule, the
// stage that decided it and the reason: the runbook's step 3 holds for it
// too.
func TestE2EQuarantineAtRcpt(t *testing.T) {
	t.Parallel()
	s, pf := setup(t, sekishoConfig("enforce", `[rules.send_only]
addresses = ["noreply@example.co.jp"]
action = "quarantine"
`))
	tok := token(t)
	pf.mustSwaks(t, 0, "--from", "sender@example.org", "--to", "noreply@example.co.jp", "--header", "X-E2E-Token: "+tok)
	id := waitHolds(t, pf, 1)[0][0]
	s.waitLog(t, "msg=decision", "stage=rcpt", "rule=send_only", "action=quarantine")
	s.waitLog(t, "msg=held", "stage=eob", "queue_id="+id, "rule=send_only", "action=quarantine", "decided_at=rcpt", "reason=")
	if held := pf.held(t); len(held) != 1 || held[0] != id {
		t.Fatalf("hold queue %v, want [%s]\n%s", held, id, pf.queue())
	}
	pf.queueTool(t, postsuperCmd, "-d", id)
}

// holdRE matches cleanup(8)'s line for a message a milter put on hold:
// "QUEUEID: milter-hold: END-OF-MESSAGE from HOST[ADDR]: REASON; from=<…> to=<…> …".
var holdRE = regexp.MustCompile(`: ([0-9A-Za-z]+): milter-hold: (.*)$`)

// waitHolds polls the maillog for up to 10 seconds until it has n
// milter-hold lines, and returns each queue id with its line.
func waitHolds(t testing.TB, pf *postfix, n int) [][2]string {
	t.Helper()
	deadline := time.Now().Add(10 * time.Second)
	for {
		var out [][2]string
		for _, line := range strings.Split(pf.Maillog(), "\n") {
			if m := holdRE.FindStringSubmatch(line); m != nil {
				out = append(out, [2]string{m[1], m[2]})
			}
		}
		if len(out) >= n {
			return out
		}
		if time.Now().After(deadline) {
			t.Fatalf("%d milter-hold lines, want %d:\n%s", len(out), n, pf.Maillog())
		}
		time.Sleep(50 * time.Millisecond)
	}
}
