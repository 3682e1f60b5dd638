package policy_test

import (
	"context"
	"testing"

	"github.com/sekisho/sekisho/policy"
)

// TestSendOnly runs the send_only rule of the default configuration at RCPT.
func TestSendOnly(t *testing.T) {
	e := configEngine(t, policy.Default(), nil)
	tests := []struct {
		rcpt   string
		reject bool
	}{
		{"noreply@example.co.jp", true},
		{"NoReply@Example.CO.JP", true},
		{"<no-reply@shop.example.jp>", true},
		{"shop-noreply@x.jp", true},
		{"donotreply@example.jp", true},
		{"do-not-reply@example.jp", true},
		{"taro@example.co.jp", false},
		{"noreply-team@example.jp", false},
		{"reply@example.jp", false},
		{"postmaster@example.jp", false},
	}
	for _, tt := range tests {
		m := &policy.Message{Client: outsider, Sender: "sender@example.net", Rcpt: tt.rcpt}
		v := e.Run(context.Background(), policy.StageRcpt, m)
		if tt.reject {
			if v.Rule != "send_only" || v.String() != "550 5.1.1 User unknown" || v.Stage != policy.StageRcpt {
				t.Errorf("%s: verdict %+v, want send_only's 550 5.1.1 User unknown", tt.rcpt, v)
			}
		} else if v.Action != policy.Continue {
			t.Errorf("%s: verdict %+v, want continue", tt.rcpt, v)
		}
	}
}

// TestSendOnlyOnlyAtRcpt: the envelope sender and the headers are not the
// rule's business.
func TestSendOnlyOnlyAtRcpt(t *testing.T) {
	e := newEngine(t, "[rules.send_only]\naddresses = [\"noreply@*\"]\n", nil)
	m := &policy.Message{
		Client:  outsider,
		Sender:  "noreply@example.jp",
		Rcpt:    "noreply@example.jp",
		Headers: []policy.Header{{Name: "To", Value: "noreply@example.jp"}},
	}
	for _, s := range []policy.Stage{policy.StageConnect, policy.StageHelo, policy.StageMail, policy.StageEOH, policy.StageEOB} {
		if v := e.Run(context.Background(), s, m); v.Action != policy.Continue {
			t.Errorf("at %s: verdict %+v", s, v)
		}
	}
	if !e.Needs(policy.StageRcpt) || e.Needs(policy.StageEOH) || e.Needs(policy.StageMail) {
		t.Error("send_only alone needs only the RCPT stage")
	}
}

func TestSendOnlyReply(t *testing.T) {
	e := newEngine(t, `
[rules.send_only]
addresses = ["noreply@*"]
reply = "550 5.7.1 {rcpt} does not receive mail"
`, nil)
	m := &policy.Message{Client: outsider, Rcpt: "NoReply@example.jp"}
	v := e.Run(context.Background(), policy.StageRcpt, m)
	if want := "550 5.7.1 NoReply@example.jp does not receive mail"; v.String() != want {
		t.Errorf("verdict %q, want %q", v, want)
	}
}
