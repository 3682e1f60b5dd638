package policy_test

import (
	"bytes"
	"context"
	"slices"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/sekisho/sekisho/policy"
	"github.com/sekisho/sekisho/policy/history"
)

// recorder keeps what the engine records.
type recorder struct {
	mu   sync.Mutex
	recs []history.Record
}

func (r *recorder) Record(rec history.Record) {
	r.mu.Lock()
	defer r.mu.Unlock()
	r.recs = append(r.recs, rec)
}

func (r *recorder) all() []history.Record {
	r.mu.Lock()
	defer r.mu.Unlock()
	return slices.Clone(r.recs)
}

// TestHistoryRecordsOutcome: a message refused at end of body is one
// record, with its envelope, decoded subject, attachment names, rule,
// reason and reply.
func TestHistoryRecordsOutcome(t *testing.T) {
	rec := &recorder{}
	env := quietEnv()
	env.History = rec
	e := newEngine(t, "[rules.attachment_extension]\n", env)
	m := fileMessage(t, "zip-with-exe.eml")
	o := e.Finish(context.Background(), m)
	if o.Action != policy.Reject {
		t.Fatalf("outcome %+v", o.Verdict)
	}
	recs := rec.all()
	if len(recs) != 1 {
		t.Fatalf("records %+v, want one", recs)
	}
	r := recs[0]
	if r.Action != "reject" || r.Rule != "attachment_extension" || r.Stage != "eob" || r.Reply != o.Reply.String() ||
		r.Reason != o.Reason || r.Sender != m.Sender || !slices.Equal(r.Rcpts, m.Rcpts) || r.Client == "" {
		t.Errorf("record %+v, outcome %+v", r, o.Verdict)
	}
	if r.Subject == "" || len(r.Attachments) == 0 {
		t.Errorf("record without subject or attachments: %+v", r)
	}
}

// TestHistoryRecordsRecipientRefusal: a recipient refused at RCPT is a
// record of its own, naming that recipient; Preview (sekisho scan) records
// nothing.
func TestHistoryRecordsRecipientRefusal(t *testing.T) {
	rec := &recorder{}
	env := quietEnv()
	env.History = rec
	e := newEngine(t, "[rules.recipient_limit]\nmax = 1\n", env)
	m := envelope("a@example.co.jp")
	m.Rcpt = "b@example.co.jp"
	v := e.Run(context.Background(), policy.StageRcpt, m)
	if !v.Action.Final() {
		t.Fatalf("second recipient not refused: %+v", v)
	}
	recs := rec.all()
	if len(recs) != 1 || recs[0].Stage != "rcpt" || !slices.Equal(recs[0].Rcpts, []string{"b@example.co.jp"}) || recs[0].Rule != "recipient_limit" {
		t.Fatalf("records %+v", recs)
	}
	e.Preview(context.Background(), rawMessage(t, []byte("Subject: x\r\n\r\nhi\r\n")))
	if n := len(rec.all()); n != 1 {
		t.Errorf("Preview recorded: %d records", n)
	}
}

// TestHistoryRedacts: with pairing on, a password in the subject or in a
// reason is hidden in the record as in the log; a tagged message is
// recorded as tag, with the rule that tagged it.
func TestHistoryRedacts(t *testing.T) {
	rec := &recorder{}
	var log bytes.Buffer
	env := logEnv(&log)
	env.History = rec
	env.Now = func() time.Time { return time.Date(2026, 12, 1, 9, 0, 0, 0, time.UTC) }
	e := newEngine(t, "[rules.attachment_extension]\n\n[rules.encrypted_archive]\nmode = \"pair\"\npair_timeout = \"1h\"\n\n[rules.ascii_only]\naction = \"tag\"\n", env)
	mail := []byte("Subject: Password: Tr0ub4dor\r\nMIME-Version: 1.0\r\nContent-Type: text/plain\r\n\r\nPassword: Tr0ub4dor\r\n")
	m := envelope("b@example.co.jp")
	m.Sender = "a@example.org"
	m.Headers = headersOf(t, mail)
	feed(e, m, mail, len(mail))
	defer m.Close()
	e.Finish(context.Background(), m)
	recs := rec.all()
	if len(recs) != 1 {
		t.Fatalf("records %+v", recs)
	}
	r := recs[0]
	if r.Action != "tag" || r.Rule != "ascii_only" {
		t.Errorf("record %+v, want a tag by ascii_only", r)
	}
	for _, s := range []string{r.Subject, r.Reason} {
		if strings.Contains(s, "Tr0ub4dor") || !strings.Contains(s, "*****") {
			t.Errorf("not redacted: %q", s)
		}
	}
}

// TestHistoryRecordsExempt: an exempt message is recorded as exempt, with
// why; the client's address and HELO are in the record.
func TestHistoryRecordsExempt(t *testing.T) {
	rec := &recorder{}
	env := quietEnv()
	env.History = rec
	e := newEngine(t, "[exempt]\nnetworks = [\"203.0.113.0/24\"]\n\n[rules.blank]\n", env)
	m := rawMessage(t, []byte("Subject: \r\n\r\n\r\n"))
	if o := e.Finish(context.Background(), m); !o.Accepted() {
		t.Fatalf("exempt message refused: %+v", o.Verdict)
	}
	recs := rec.all()
	if len(recs) != 1 || recs[0].Action != "exempt" || !strings.Contains(recs[0].Reason, "203.0.113.0/24") ||
		recs[0].Client != "203.0.113.25" || recs[0].Helo != "mail.example.net" {
		t.Fatalf("records %+v", recs)
	}
}
