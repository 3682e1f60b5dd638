package e2e_test

// Mail that reaches sekisho through a relay: a second Postfix, without
// milter, takes the mail in and forwards it to the Postfix that has sekisho
// as its milter, retrying what is deferred as any sending MTA does. These
// tests check what a temporary refusal costs over time: the mail arrives
// later, once, and nothing is lost.

import (
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"net"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"slices"
	"sort"
	"strings"
	"sync"
	"testing"
	"time"
)

// relayWait bounds every wait for mail to go through the relay: retries
// come seconds apart, and the machine may be busy with other tests.
const relayWait = 3 * time.Minute

// startRelay starts a Postfix instance without milter that relays every
// message it accepts to the Postfix at to, and stops it at cleanup. Each
// map of more is applied over its main.cf settings.
func startRelay(t testing.TB, to *postfix, more ...map[string]string) *postfix {
	t.Helper()
	requireProgram(t, postqueueCmd)
	host, port, err := net.SplitHostPort(to.Addr)
	if err != nil {
		t.Fatal(err)
	}
	main := map[string]string{
		// A name of its own: Postfix's SMTP client refuses a server that
		// greets with the client's own name (mail loops back to myself).
		"myhostname":              "relay.example.org",
		"mydestination":           "",
		"relayhost":               "[" + host + "]:" + port,
		"default_transport":       "smtp",
		"relay_transport":         "smtp",
		"local_transport":         "smtp",
		"smtp_tls_security_level": "none",
		// Deferred mail is retried within seconds instead of minutes:
		// the queue is scanned every second and a message waits 2s
		// after its first failure, doubling up to 5s. Not 1s: a
		// message due again at once can be found while the delivery
		// agent still holds its queue file, and Postfix then puts it
		// off for a minute ("skipped, still being delivered").
		"queue_run_delay":      "1s",
		"minimal_backoff_time": "2s",
		"maximal_backoff_time": "5s",
	}
	for _, m := range more {
		for k, v := range m {
			main[k] = v
		}
	}
	return startPostfix(t, "", postfixOptions{
		Main:   main,
		Master: []string{"smtp      unix  - - n -    - smtp"},
	})
}

// withDomains is main.cf's mydestination for the harness's domains and
// more.
func withDomains(more ...string) string {
	return strings.Join(append(slices.Clone(testDomains), more...), ", ")
}

// flush asks the instance to try every deferred message now.
func (p *postfix) flush(t testing.TB) {
	t.Helper()
	if out, err := exec.Command(postqueueCmd, "-c", p.etc, "-f").CombinedOutput(); err != nil {
		t.Fatalf("postqueue -f: %v\n%s", err, out)
	}
}

// queueEntry is one message of postqueue -j.
type queueEntry struct {
	QueueName  string `json:"queue_name"`
	QueueID    string `json:"queue_id"`
	Recipients []struct {
		Address     string `json:"address"`
		DelayReason string `json:"delay_reason"`
	} `json:"recipients"`
}

// queueEntries lists the instance's queue, every queue (incoming, active,
// deferred, hold) included.
func (p *postfix) queueEntries(t testing.TB) []queueEntry {
	t.Helper()
	out, err := exec.Command(postqueueCmd, "-c", p.etc, "-j").Output()
	if err != nil {
		t.Fatalf("postqueue -j: %v\n%s", err, out)
	}
	var entries []queueEntry
	for _, line := range strings.Split(strings.TrimSpace(string(out)), "\n") {
		if line == "" {
			continue
		}
		var e queueEntry
		if err := json.Unmarshal([]byte(line), &e); err != nil {
			t.Fatalf("postqueue -j: %v: %s", err, line)
		}
		entries = append(entries, e)
	}
	return entries
}

// cleanupRE matches cleanup(8)'s line naming a queued message's Message-ID.
var cleanupRE = regexp.MustCompile(`\]: ([0-9A-Za-z]+): message-id=(<[^>]*>)`)

// loggedMessageIDs returns the Message-ID of every message the instance
// queued, by queue id, as cleanup(8) logged it.
func (p *postfix) loggedMessageIDs() map[string]string {
	ids := map[string]string{}
	for _, m := range cleanupRE.FindAllStringSubmatch(p.Maillog(), -1) {
		ids[m[1]] = m[2]
	}
	return ids
}

// queueIDOf returns the queue id under which the instance logged the
// message with Message-ID id, waiting for the line.
func (p *postfix) queueIDOf(t testing.TB, id string) string {
	t.Helper()
	line := p.waitMaillog(t, ": message-id="+id)
	return cleanupRE.FindStringSubmatch(line)[1]
}

// attempt is one delivery attempt of one recipient, as the delivery agent
// logged it.
type attempt struct {
	QueueID, Rcpt, Status, Detail string
}

var attemptRE = regexp.MustCompile(`(?m)\]: ([0-9A-Za-z]+): to=<([^>]*)>,.* status=(\w+) (.*)$`)

// attempts returns the delivery attempts the instance logged, in order.
func (p *postfix) attempts() []attempt {
	var out []attempt
	for _, m := range attemptRE.FindAllStringSubmatch(p.Maillog(), -1) {
		out = append(out, attempt{QueueID: m[1], Rcpt: m[2], Status: m[3], Detail: m[4]})
	}
	return out
}

// queuedAsRE matches the receiving Postfix's queue id in a relay's
// "status=sent (250 2.0.0 Ok: queued as ID)".
var queuedAsRE = regexp.MustCompile(`queued as (\w+)`)

var messageIDRE = regexp.MustCompile(`(?mi)^Message-Id:[ \t]*(<[^>]*>)`)

// messageID returns the Message-ID of a delivered message, "" if it has
// none.
func messageID(data []byte) string {
	head, _, _ := bytes.Cut(bytes.ReplaceAll(data, []byte("\r\n"), []byte("\n")), []byte("\n\n"))
	if m := messageIDRE.FindSubmatch(head); m != nil {
		return string(m[1])
	}
	return ""
}

// waitRelayed polls until cond holds, for up to relayWait, flushing the
// relay's queue every 30 seconds in case a retry is far off; it fails
// naming what it waited for, with both instances' queues and the relay's
// log.
func waitRelayed(t testing.TB, relay, mx *postfix, what string, cond func() bool) {
	t.Helper()
	start := time.Now()
	deadline := start.Add(relayWait)
	lastFlush := start
	for !cond() {
		if time.Now().After(deadline) {
			t.Fatalf("%s: not after %v\nrelay queue:\n%s\nreceiving queue:\n%s\nrelay maillog:\n%s",
				what, relayWait, relay.queue(), mx.queue(), relay.Maillog())
		}
		if time.Since(lastFlush) > 30*time.Second {
			relay.flush(t)
			lastFlush = time.Now()
		}
		time.Sleep(100 * time.Millisecond)
	}
}

// queueEmpty reports whether the instance's queue holds nothing.
func (p *postfix) queueEmpty() bool {
	return strings.Contains(p.queue(), "Mail queue is empty")
}

// TestE2ERelayDelivers checks the relay harness itself: a message for two
// recipients goes through the relay to the receiving Postfix in one
// transaction (one queue id there), and each recipient receives it once.
func TestE2ERelayDelivers(t *testing.T) {
	t.Parallel()
	s := startSekisho(t, sekishoConfig("enforce", ruleSendOnly))
	mx := startPostfix(t, s.Milter, postfixOptions{Main: map[string]string{"mydestination": withDomains("design.example.co.jp")}})
	relay := startRelay(t, mx)
	tok := token(t)
	relay.mustSwaks(t, 0, "--from", "sender@example.org", "--to", "user@example.co.jp,user@design.example.co.jp",
		"--data", writeMessage(t, japaneseMessage(tok, pdfAttachment("資料.pdf", 1000))))
	waitRelayed(t, relay, mx, "message relayed", func() bool {
		return len(mx.messages(t, tok)) >= 2 && relay.queueEmpty() && mx.queueEmpty()
	})
	msgs := mx.messages(t, tok)
	if got := strings.Join(deliveredTo(msgs), " "); got != "user@design.example.co.jp user@example.co.jp" {
		t.Fatalf("delivered to %s, want each recipient once", got)
	}
	qid := relay.queueIDOf(t, "<"+tok+"@client.example.org>")
	var queuedAs []string
	for _, a := range relay.attempts() {
		if a.QueueID != qid {
			continue
		}
		if a.Status != "sent" {
			t.Errorf("relay: %s %s %s", a.Rcpt, a.Status, a.Detail)
		}
		if m := queuedAsRE.FindStringSubmatch(a.Detail); m != nil {
			queuedAs = append(queuedAs, m[1])
		}
	}
	if len(queuedAs) != 2 || queuedAs[0] != queuedAs[1] {
		t.Errorf("relay handed the recipients over as %v, want both in one transaction", queuedAs)
	}
	if n := len(s.logLines("msg=accept")); n != 1 {
		t.Errorf("sekisho accepted %d messages, want 1", n)
	}
}

// TestE2ESupervisorRestartLosesNothing restarts sekisho under supervisord
// twice while a stream of mail goes through the relay to the Postfix that
// has sekisho as milter, with milter_default_action = tempfail. What
// Postfix cannot check while sekisho is away it refuses for now; the relay
// retries it. Every message must arrive exactly once, counted by
// Message-ID, and until the relay's queue is flushed every message must be
// somewhere: delivered, or queued at the relay or at the receiving Postfix.
func TestE2ESupervisorRestartLosesNothing(t *testing.T) {
	t.Parallel()
	requireProgram(t, smtpSourceCmd)
	addr := fmt.Sprintf("127.0.0.1:%d", freePort(t))
	// A short shutdown_timeout: a restart waits for the milter connections
	// of open SMTP sessions only that long, then closes them, in the middle
	// of a message as well.
	sv := startSupervised(t, fmt.Sprintf("listen = %q\nshutdown_timeout = \"3s\"\n", "inet:"+addr)+
		sekishoConfig("enforce", ruleSendOnly))
	pids := []int{sv.pid(t)}
	if err := waitTCP(addr, 15*time.Second, nil); err != nil {
		t.Fatal(err)
	}
	mx := startPostfix(t, "inet:"+addr, postfixOptions{DefaultAction: "tempfail"})
	relay := startRelay(t, mx)

	// Each message has a Message-ID of its own to be counted by: the ones
	// smtp-source makes up repeat across its sessions, so each message is
	// a file sent by an smtp-source run of its own. Five senders pausing
	// 200ms after each message make the stream last about 15 seconds: the
	// restarts fall within it.
	const n = 300
	subject := token(t)
	dir := t.TempDir()
	files := make(chan string, n)
	sent := map[string]bool{}
	for i := range n {
		id := fmt.Sprintf("<%s.%03d@client.example.org>", subject, i)
		sent[id] = true
		msg := fmt.Sprintf("From: <sender@example.org>\nTo: <user@example.co.jp>\nSubject: %s\nDate: %s\nMessage-ID: %s\n\nMessage %d of %d.\n",
			subject, time.Now().Format(time.RFC1123Z), id, i+1, n)
		name := filepath.Join(dir, fmt.Sprintf("%03d.eml", i))
		if err := os.WriteFile(name, []byte(msg), 0o644); err != nil {
			t.Fatal(err)
		}
		files <- name
	}
	close(files)
	ctx, cancel := context.WithTimeout(context.Background(), relayWait)
	defer cancel()
	srcErrs := make(chan error, n)
	var wg sync.WaitGroup
	for range 5 {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for f := range files {
				out, err := exec.CommandContext(ctx, smtpSourceCmd, "-F", f,
					"-f", "sender@example.org", "-t", "user@example.co.jp", relay.Addr).CombinedOutput()
				if err != nil {
					srcErrs <- fmt.Errorf("smtp-source -F %s: %v\n%s", f, err, out)
				}
				select {
				case <-ctx.Done():
					return
				case <-time.After(200 * time.Millisecond):
				}
			}
		}()
	}
	srcDone := make(chan struct{})
	go func() {
		wg.Wait()
		close(srcDone)
	}()
	defer func() { cancel(); <-srcDone }()

	submitted := func() int { return len(relay.loggedMessageIDs()) }
	delivered := func() int { return len(mx.messages(t, "Subject: "+subject)) }
	for i, at := range []int{n / 4, n / 2} {
		waitRelayed(t, relay, mx, fmt.Sprintf("%d messages submitted", at), func() bool { return submitted() >= at })
		streaming := true
		select {
		case <-srcDone:
			streaming = false
		default:
		}
		sub, del := submitted(), delivered()
		out := sv.ctl(t, "restart", "sekisho")
		pid := sv.pid(t)
		if slices.Contains(pids, pid) {
			t.Fatalf("restart %d: sekisho still runs as pid %d (pids so far %v):\n%s", i+1, pid, pids, out)
		}
		pids = append(pids, pid)
		t.Logf("restart %d (pid %d -> %d) at %d messages submitted, %d delivered, stream running: %v",
			i+1, pids[i], pid, sub, del, streaming)
	}
	<-srcDone
	close(srcErrs)
	for err := range srcErrs {
		t.Fatal(err)
	}

	// Where each message is, read in the order mail moves (relay queue,
	// receiving queue, delivered files, then the logs that name them): a
	// message that moves on meanwhile is seen where it was or where it
	// went, never nowhere.
	relayQueue, mxQueue := relay.queueEntries(t), mx.queueEntries(t)
	early := map[string]int{}
	for _, m := range mx.messages(t, "Subject: "+subject) {
		early[messageID(m.Data)]++
	}
	relayIDs, mxIDs := relay.loggedMessageIDs(), mx.loggedMessageIDs()
	queued := map[string]int{}
	for _, id := range relayIDs {
		queued[id]++
	}
	for id := range sent {
		if queued[id] != 1 {
			t.Fatalf("relay queued %s %d times, want once", id, queued[id])
		}
	}
	if len(relayIDs) != n {
		t.Fatalf("relay queued %d messages, want %d", len(relayIDs), n)
	}
	where := map[string]bool{}
	deferred := 0
	for _, e := range relayQueue {
		where[relayIDs[e.QueueID]] = true
		if e.QueueName == "deferred" {
			deferred++
		}
	}
	for _, e := range mxQueue {
		where[mxIDs[e.QueueID]] = true
	}
	var missing []string
	for id := range sent {
		if early[id] > 1 {
			t.Errorf("%s delivered %d times before the flush", id, early[id])
		}
		if early[id] == 0 && !where[id] {
			missing = append(missing, id)
		}
	}
	if len(missing) > 0 {
		sort.Strings(missing)
		t.Fatalf("%d messages neither delivered nor queued: %v", len(missing), missing)
	}
	t.Logf("after the stream: %d delivered, %d queued at the relay (%d deferred), %d queued at the receiving Postfix",
		len(early), len(relayQueue), deferred, len(mxQueue))

	relay.flush(t)
	waitRelayed(t, relay, mx, fmt.Sprintf("%d messages delivered", n), func() bool {
		return delivered() >= n && relay.queueEmpty() && mx.queueEmpty()
	})

	all := mx.messages(t)
	if len(all) != n {
		t.Errorf("%d messages delivered, want %d", len(all), n)
	}
	got := map[string]int{}
	for _, m := range all {
		id := messageID(m.Data)
		got[id]++
		if !sent[id] {
			t.Errorf("delivered a message that was not sent: %q to %s\n%s", id, m.Rcpt, m.Data)
		}
		if m.Rcpt != "user@example.co.jp" {
			t.Errorf("%s delivered to %s", id, m.Rcpt)
		}
	}
	for id := range sent {
		if got[id] != 1 {
			t.Errorf("%s delivered %d times, want once", id, got[id])
		}
	}
	// The relay's own account: each message handed over once, none
	// returned to the sender.
	sentBy := map[string]int{}
	tempfailed := map[string]bool{}
	deferrals := map[string]int{} // by reason
	for _, a := range relay.attempts() {
		switch a.Status {
		case "sent":
			sentBy[a.QueueID]++
		case "deferred":
			deferrals[a.Detail]++
			tempfailed[a.QueueID] = true
		default:
			t.Errorf("relay: %s to %s: %s %s", a.QueueID, a.Rcpt, a.Status, a.Detail)
		}
	}
	for qid := range relayIDs {
		if sentBy[qid] != 1 {
			t.Errorf("relay handed %s (%s) over %d times, want once", qid, relayIDs[qid], sentBy[qid])
		}
	}
	// How many messages met sekisho away depends on how the restarts fell
	// among the messages: logged, not asserted.
	var reasons []string
	for r, k := range deferrals {
		reasons = append(reasons, fmt.Sprintf("%d× %s", k, r))
	}
	sort.Strings(reasons)
	t.Logf("pids %v; %d messages deferred at the relay:\n%s", pids, len(tempfailed), strings.Join(reasons, "\n"))
}

// rulesPerRecipient tags an attachment over 3 MB for everyone but the
// design department, whose own policy allows 20 MB.
const rulesPerRecipient = `[rules.attachment_size]
max = "3MB"
action = "tag"

[[policy]]
name = "design"
recipients = ["*@design.example.co.jp"]
[policy.rules.attachment_size]
max = "20MB"
`

// TestE2EPolicyPerRecipient sends one message with a 5 MB attachment to a
// recipient of the default policy and one of the design policy, in one
// transaction through the relay. sekisho judges a transaction under one
// policy: it accepts the first recipient and answers the other 452 4.5.3,
// and the relay sends that one again alone. Each recipient receives the
// message once, judged by its own policy: tagged under the default one,
// untouched under design's.
func TestE2EPolicyPerRecipient(t *testing.T) {
	t.Parallel()
	s := startSekisho(t, sekishoConfig("enforce", rulesPerRecipient))
	mx := startPostfix(t, s.Milter, postfixOptions{
		Main: map[string]string{"mydestination": withDomains("design.example.co.jp", "corp.example.co.jp")},
	})
	relay := startRelay(t, mx)

	const design = "user@design.example.co.jp"
	// Postfix's queue manager sorts a message's recipients by domain before
	// it delivers them, whatever order they were submitted in: design
	// (@design) goes before example.co.jp (@example), and corp.example.co.jp
	// (@corp) before design. The third message makes the default policy's
	// recipient the first one sekisho sees.
	cases := []struct {
		rcpts    []string
		deferred string // the recipient sekisho answers 452
	}{
		{[]string{"user@example.co.jp", design}, "user@example.co.jp"},
		{[]string{design, "user@example.co.jp"}, "user@example.co.jp"},
		{[]string{design, "user@corp.example.co.jp"}, design},
	}
	for i, c := range cases {
		start := time.Now()
		tok := token(t)
		relay.mustSwaks(t, 0, "--from", "sender@example.org", "--to", strings.Join(c.rcpts, ","),
			"--data", writeMessage(t, japaneseMessage(tok, pdfAttachment("図面.pdf", 5<<20))))
		waitRelayed(t, relay, mx, fmt.Sprintf("message %d for %v", i+1, c.rcpts), func() bool {
			return len(mx.messages(t, tok)) >= 2 && relay.queueEmpty() && mx.queueEmpty()
		})
		t.Logf("message %d for %v delivered in %v", i+1, c.rcpts, time.Since(start).Round(time.Millisecond))
		msgs := mx.messages(t, tok)
		want := slices.Sorted(slices.Values(c.rcpts))
		if got := deliveredTo(msgs); !slices.Equal(got, want) {
			t.Fatalf("message %d delivered to %v, want %v once each", i+1, got, want)
		}
		for _, m := range msgs {
			tagged := bytes.Contains(m.Data, []byte("X-Sekisho: tag rule=attachment_size"))
			if m.Rcpt == design && bytes.Contains(m.Data, []byte("rule=attachment_size")) {
				t.Errorf("message %d: the copy for %s is marked, want it untouched (20MB allowed):\n%s",
					i+1, m.Rcpt, m.Data[:min(len(m.Data), 2000)])
			}
			if m.Rcpt != design && !tagged {
				t.Errorf("message %d: the copy for %s has no attachment_size tag:\n%s",
					i+1, m.Rcpt, m.Data[:min(len(m.Data), 2000)])
			}
		}

		// The relay's account: the deferred recipient was refused once with
		// 452 4.5.3 and sent later; the other was sent at the first try.
		qid := relay.queueIDOf(t, "<"+tok+"@client.example.org>")
		log := map[string][]string{}
		for _, a := range relay.attempts() {
			if a.QueueID == qid {
				log[a.Rcpt] = append(log[a.Rcpt], a.Status)
				if a.Status == "deferred" && !strings.Contains(a.Detail, "452 4.5.3 Policy differs, send separately") {
					t.Errorf("message %d: relay deferred %s with %s", i+1, a.Rcpt, a.Detail)
				}
			}
		}
		for _, r := range c.rcpts {
			want := []string{"sent"}
			if r == c.deferred {
				want = []string{"deferred", "sent"}
			}
			if !slices.Equal(log[r], want) {
				t.Errorf("message %d: relay logged %v for %s, want %v", i+1, log[r], r, want)
			}
		}

		if lines := s.logLines("msg=decision", "rule=policy", "action=tempfail"); len(lines) != i+1 {
			t.Errorf("message %d: %d rule=policy tempfail decisions logged, want %d:\n%s",
				i+1, len(lines), i+1, strings.Join(lines, "\n"))
		} else if !strings.Contains(lines[i], "rcpt="+c.deferred) {
			t.Errorf("message %d: policy decision not for %s: %s", i+1, c.deferred, lines[i])
		}
		if n := len(s.logLines("msg=accept", "policy=design")); n != i+1 {
			t.Errorf("message %d: %d accept lines with policy=design, want %d", i+1, n, i+1)
		}
		if n := len(s.logLines("msg=accept")); n != 2*(i+1) {
			t.Errorf("message %d: %d accept lines, want %d", i+1, n, 2*(i+1))
		}
	}
}
