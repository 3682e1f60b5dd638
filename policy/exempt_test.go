package policy

import (
	"bytes"
	"context"
	"fmt"
	"net/netip"
	"strings"
	"testing"
)

const exemptConfig = `
[exempt]
networks      = ["10.1.2.0/24", "2001:db8:1::/48", "192.0.2.25"]
authenticated = %v
senders       = ["*@partner.example.jp"]
recipients    = ["postmaster@*", "abuse@*"]

[rules.send_only]
addresses = ["noreply@*", "post*@*"]

[rules.recipient_limit]
max = 2
count_headers = true
`

func TestExemptions(t *testing.T) {
	tests := []struct {
		name          string
		authenticated bool
		addr          string
		authUser      string
		sender        string
		stage         Stage // the stage at which the message becomes exempt
		why           string
	}{
		{"v4 network", false, "10.1.2.3", "", "", StageConnect, "network 10.1.2.0/24"},
		{"IPv4-mapped v6 client", false, "::ffff:10.1.2.3", "", "", StageConnect, "network 10.1.2.0/24"},
		{"v6 network", false, "2001:db8:1:ff::25", "", "", StageConnect, "network 2001:db8:1::/48"},
		{"single address", false, "192.0.2.25", "", "", StageConnect, "network 192.0.2.25/32"},
		{"v4 outside", false, "10.1.3.1", "", "", 0, ""},
		{"v6 outside", false, "2001:db8:2::25", "", "", 0, ""},
		{"authenticated, exempt", true, "203.0.113.7", "taro", "", StageMail, "authenticated as taro"},
		{"authenticated, not exempt", false, "203.0.113.7", "taro", "", 0, ""},
		{"not authenticated", true, "203.0.113.7", "", "", 0, ""},
		{"sender", false, "203.0.113.7", "", "news@partner.example.jp", StageMail, "sender matches *@partner.example.jp"},
		{"sender, case and brackets", false, "203.0.113.7", "", "<News@Partner.Example.JP>", StageMail, "sender matches *@partner.example.jp"},
		{"other sender", false, "203.0.113.7", "", "news@example.jp", 0, ""},
		{"null sender", false, "203.0.113.7", "", "", 0, ""},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			var logs bytes.Buffer
			e := configEngine(t, fmt.Sprintf(exemptConfig, tt.authenticated), logTo(&logs))
			m := &Message{Client: Client{Addr: netip.MustParseAddr(tt.addr)}, QueueID: "4QxYz1AbcD"}
			ctx := context.Background()
			e.Run(ctx, StageConnect, m)
			e.Run(ctx, StageHelo, m)
			if tt.why != "" && tt.stage == StageConnect && m.state.exempt != tt.why {
				t.Errorf("after connect: Exempt() = %q, want %q", m.state.exempt, tt.why)
			}
			// SASL and the sender are known from MAIL FROM on.
			m.Client.AuthUser, m.Sender = tt.authUser, tt.sender
			e.Run(ctx, StageMail, m)
			if m.state.exempt != tt.why {
				t.Fatalf("Exempt() = %q, want %q", m.state.exempt, tt.why)
			}
			// Recipients that send_only and recipient_limit would refuse.
			var got []Verdict
			for _, rcpt := range []string{"a@example.jp", "b@example.jp", "noreply@example.jp"} {
				m.Rcpt = rcpt
				if v := e.Run(ctx, StageRcpt, m); v.Action != Continue {
					got = append(got, v)
				}
				m.Rcpts = append(m.Rcpts, rcpt)
			}
			if tt.why != "" {
				if len(got) > 0 {
					t.Errorf("exempt message got verdicts %+v", got)
				}
				if v := e.Run(ctx, StageEOH, m); v.Action != Continue {
					t.Errorf("exempt message got verdict %+v at eoh", v)
				}
				line := `level=INFO msg=exempt stage=` + tt.stage.String() + ` queue_id=4QxYz1AbcD client_ip=` + netip.MustParseAddr(tt.addr).Unmap().String()
				if !strings.Contains(logs.String(), line) || !strings.Contains(logs.String(), fmt.Sprintf("reason=%q", tt.why)) {
					t.Errorf("no exempt line %q with reason %q in\n%s", line, tt.why, logs.String())
				}
				if n := strings.Count(logs.String(), "msg=exempt"); n != 1 {
					t.Errorf("exempt logged %d times, want once", n)
				}
				if strings.Contains(logs.String(), "msg=decision") {
					t.Errorf("exempt message logged a decision:\n%s", logs.String())
				}
			} else if len(got) != 1 || got[0].Rule != "send_only" {
				t.Errorf("verdicts %+v, want send_only to refuse noreply@example.jp", got)
			}
		})
	}
}

// TestExemptRecipient: an exempt recipient is not judged at RCPT (postmaster
// would match send_only's post*@*), but the message is not exempt.
func TestExemptRecipient(t *testing.T) {
	var logs bytes.Buffer
	e := configEngine(t, fmt.Sprintf(exemptConfig, false), logTo(&logs))
	ctx := context.Background()
	m := newMessage()
	for _, rcpt := range []string{"postmaster@example.jp", "Postmaster@Example.JP", "<abuse@example.jp>"} {
		m.Rcpt = rcpt
		if v := e.Run(ctx, StageRcpt, m); v.Action != Continue {
			t.Errorf("%s: verdict %+v, want continue", rcpt, v)
		}
	}
	if m.state.exempt != "" {
		t.Errorf("Exempt() = %q after exempt recipients", m.state.exempt)
	}
	if !strings.Contains(logs.String(), `msg="exempt recipient" stage=rcpt`) || !strings.Contains(logs.String(), `reason="recipient matches postmaster@*"`) {
		t.Errorf("exempt recipient not logged:\n%s", logs.String())
	}
	m.Rcpt = "postbox@example.jp"
	if v := e.Run(ctx, StageRcpt, m); v.Rule != "send_only" || v.Action != Reject {
		t.Errorf("postbox@example.jp: verdict %+v, want send_only to reject", v)
	}
}

// TestEveryRecipientExempt: a message whose recipients are all exempt is
// exempt from end of headers on, so that no header rule refuses it.
func TestEveryRecipientExempt(t *testing.T) {
	e := configEngine(t, fmt.Sprintf(exemptConfig, false), nil)
	ctx := context.Background()
	many := Header{Name: "To", Value: "a@example.jp, b@example.jp, c@example.jp, d@example.jp"}

	m := newMessage()
	m.Rcpts = []string{"postmaster@example.jp", "abuse@example.net"}
	m.Headers = []Header{many}
	if v := e.Run(ctx, StageEOH, m); v.Action != Continue {
		t.Errorf("verdict %+v, want continue", v)
	}
	if m.state.exempt != "every recipient is exempt" {
		t.Errorf("Exempt() = %q", m.state.exempt)
	}

	m = newMessage()
	m.Rcpts = []string{"postmaster@example.jp", "user@example.jp"}
	m.Headers = []Header{many}
	if v := e.Run(ctx, StageEOH, m); v.Rule != "recipient_limit" {
		t.Errorf("one recipient not exempt: verdict %+v, want recipient_limit", v)
	}
	if m.state.exempt != "" {
		t.Errorf("Exempt() = %q", m.state.exempt)
	}
}
