package policy_test

import (
	"context"
	"fmt"
	"strings"
	"testing"

	"github.com/sekisho/sekisho/policy"
)

const tooMany = "550 5.5.3 Too many recipients"

// limitConfig is the recipient_limit table of the default configuration
// alone, so that no other rule decides.
const limitConfig = "[rules.recipient_limit]\nmax = 9\ncount_headers = true\n"

func users(from, to int) []string {
	var out []string
	for i := from; i <= to; i++ {
		out = append(out, fmt.Sprintf("user%d@example.jp", i))
	}
	return out
}

// TestRecipientLimitEnvelope: with max = 9 (the default), the 10th
// recipient is refused, every later one too, and the message as a whole at
// end of headers, so that nobody receives it.
func TestRecipientLimitEnvelope(t *testing.T) {
	e := configEngine(t, policy.Default(), nil)
	m := &policy.Message{Client: outsider, Sender: "sender@example.net"}
	got := rcptTo(e, m, users(1, 9)...)
	for i, v := range got {
		if v.Action != policy.Continue {
			t.Fatalf("recipient %d: verdict %+v", i+1, v)
		}
	}
	// Nine recipients: the message passes the end of headers.
	nine := *m
	nine.Headers = []policy.Header{{Name: "Subject", Value: "=?UTF-8?B?5LyR6KiI?="}, {Name: "To", Value: "user1@example.jp"}}
	if v := e.Run(context.Background(), policy.StageEOH, &nine); v.Action != policy.Continue {
		t.Errorf("eoh with nine recipients: verdict %+v", v)
	}
	// The 10th, the 11th and an exempt recipient after them.
	got = rcptTo(e, m, "user10@example.jp", "user11@example.jp", "postmaster@example.jp")
	for i, v := range got {
		if v.Rule != "recipient_limit" || v.String() != tooMany || v.Stage != policy.StageRcpt {
			t.Errorf("RCPT %s: verdict %+v, want %q", []string{"10", "11", "postmaster"}[i], v, tooMany)
		}
	}
	if len(m.Rcpts) != 9 {
		t.Errorf("%d recipients accepted, want 9", len(m.Rcpts))
	}
	m.Headers = []policy.Header{{Name: "To", Value: "user1@example.jp"}}
	v := e.Run(context.Background(), policy.StageEOH, m)
	if v.Rule != "recipient_limit" || v.String() != tooMany || v.Stage != policy.StageEOH {
		t.Errorf("eoh: verdict %+v, want the message refused with %q", v, tooMany)
	}
	if v := e.Run(context.Background(), policy.StageEOB, m); v.String() != tooMany {
		t.Errorf("eob: verdict %+v, want %q", v, tooMany)
	}
	// The next message on the connection starts afresh.
	m.Reset()
	if got := rcptTo(e, m, "user1@example.jp"); got[0].Action != policy.Continue {
		t.Errorf("after Reset: verdict %+v", got[0])
	}
}

func TestRecipientLimitNineIsFine(t *testing.T) {
	e := newEngine(t, limitConfig, nil)
	m := &policy.Message{Client: outsider, Sender: "sender@example.net"}
	for i, v := range rcptTo(e, m, users(1, 9)...) {
		if v.Action != policy.Continue {
			t.Errorf("recipient %d: verdict %+v", i+1, v)
		}
	}
	m.Headers = []policy.Header{{Name: "To", Value: strings.Join(users(1, 9), ", ")}}
	if v := e.Run(context.Background(), policy.StageEOH, m); v.Action != policy.Continue {
		t.Errorf("eoh: verdict %+v", v)
	}
}

func TestHeaderRecipients(t *testing.T) {
	ten := strings.Join(users(1, 10), ", ")
	tests := []struct {
		name    string
		headers []policy.Header
		want    int
	}{
		{"none", nil, 0},
		{"To only", []policy.Header{{"To", "a@example.jp, b@example.jp"}}, 2},
		{"To and Cc", []policy.Header{{"To", strings.Join(users(1, 5), ", ")}, {"Cc", strings.Join(users(6, 10), ", ")}}, 10},
		{"To, Cc in any case", []policy.Header{{"to", "a@example.jp"}, {"CC", "b@example.jp"}}, 2},
		{"Bcc, From and Reply-To do not count", []policy.Header{{"From", "a@example.jp"}, {"Bcc", "b@example.jp"}, {"Reply-To", "c@example.jp"}}, 0},
		{"duplicates once", []policy.Header{{"To", "a@example.jp, a@example.jp"}, {"Cc", "a@example.jp"}}, 1},
		{"case differences once", []policy.Header{{"To", "Taro@Example.JP, taro@example.jp"}, {"Cc", "<TARO@example.jp>"}}, 1},
		{"display names", []policy.Header{{"To", `"Yamada, Taro" <taro@example.jp>, 花子 <hanako@example.jp>, =?UTF-8?B?5aSq6YOO?= <jiro@example.jp>`}}, 3},
		{"empty group", []policy.Header{{"To", "undisclosed-recipients:;"}}, 0},
		{"group with members", []policy.Header{{"To", "Team: a@example.jp, b@example.jp;, c@example.jp"}}, 3},
		{"unparsable counted by @", []policy.Header{{"To", "a@example.jp b@example.jp c@example.jp"}}, 3},
		{"unparsable beside parsable", []policy.Header{{"To", "a@example.jp"}, {"Cc", "<b@example.jp"}}, 2},
		{"ten distinct", []policy.Header{{"To", ten}}, 10},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			if got := policy.HeaderRecipients(&policy.Message{Headers: tt.headers}); got != tt.want {
				t.Errorf("HeaderRecipients = %d, want %d", got, tt.want)
			}
		})
	}
}

// TestHeaderRecipientsFolded: a long To or Cc field is folded by the
// sender (RFC 5322 §2.2.3) and reaches the milter with its line breaks.
// Its addresses count as in the unfolded field: once each.
func TestHeaderRecipientsFolded(t *testing.T) {
	tests := []struct {
		name    string
		headers []policy.Header
		want    int
	}{
		{"CRLF folding", []policy.Header{{"To", "a@example.jp,\r\n\tb@example.jp"}}, 2},
		{"LF folding", []policy.Header{{"To", "a@example.jp,\n b@example.jp"}}, 2},
		{"folded duplicate of Cc", []policy.Header{{"To", "a@example.jp,\r\n b@example.jp"}, {"Cc", "a@example.jp"}}, 2},
		{"folded, names repeating the address", []policy.Header{{"To", `"a@example.jp" <a@example.jp>,` + "\r\n " + `"b@example.jp" <b@example.jp>`}}, 2},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			if got := policy.HeaderRecipients(&policy.Message{Headers: tt.headers}); got != tt.want {
				t.Errorf("HeaderRecipients = %d, want %d", got, tt.want)
			}
		})
	}
}

// TestRecipientLimitHeaders: with count_headers, To and Cc naming more than
// max distinct addresses refuse the message at end of headers, whatever the
// envelope holds.
func TestRecipientLimitHeaders(t *testing.T) {
	tests := []struct {
		name    string
		headers []policy.Header
		refused bool
	}{
		{"nine", []policy.Header{{"To", strings.Join(users(1, 9), ", ")}}, false},
		{"ten over To and Cc", []policy.Header{{"To", strings.Join(users(1, 6), ", ")}, {"Cc", strings.Join(users(7, 10), ", ")}}, true},
		{"ten with duplicates and case", []policy.Header{
			{"To", strings.Join(users(1, 6), ", ") + ", USER1@EXAMPLE.JP"},
			{"Cc", "user2@example.jp, " + strings.Join(users(7, 10), ", ")},
		}, true},
		{"nine with duplicates and case", []policy.Header{
			{"To", strings.Join(users(1, 6), ", ") + ", USER1@EXAMPLE.JP"},
			{"Cc", "user2@example.jp, " + strings.Join(users(7, 9), ", ")},
		}, false},
		{"ten with a group and an unparsable field", []policy.Header{
			{"To", "undisclosed-recipients:;"},
			{"Cc", strings.Join(users(1, 8), ", ")},
			{"Cc", "user9@example.jp user10@example.jp"},
		}, true},
		{"a group alone", []policy.Header{{"To", "undisclosed-recipients:;"}}, false},
		{"five, folded, names repeating the address", []policy.Header{{"To", folded(users(1, 5))}}, false},
	}
	e := newEngine(t, limitConfig, nil)
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			m := &policy.Message{Client: outsider, Sender: "sender@example.net"}
			rcptTo(e, m, "user1@example.jp")
			m.Headers = tt.headers
			v := e.Run(context.Background(), policy.StageEOH, m)
			if tt.refused {
				if v.Rule != "recipient_limit" || v.String() != tooMany || v.Stage != policy.StageEOH {
					t.Errorf("verdict %+v, want %q at eoh", v, tooMany)
				}
			} else if v.Action != policy.Continue {
				t.Errorf("verdict %+v, want continue", v)
			}
		})
	}
}

func TestRecipientLimitWithoutHeaders(t *testing.T) {
	e := newEngine(t, "[rules.recipient_limit]\nmax = 9\n", nil)
	m := &policy.Message{Client: outsider, Headers: []policy.Header{{"To", strings.Join(users(1, 20), ", ")}}}
	if v := e.Run(context.Background(), policy.StageEOH, m); v.Action != policy.Continue {
		t.Errorf("count_headers off: verdict %+v", v)
	}
}

// folded writes addresses as a mail client does for a long To field: each
// with its address as display name, one per folded line.
func folded(addrs []string) string {
	var b strings.Builder
	for i, a := range addrs {
		if i > 0 {
			b.WriteString(",\r\n ")
		}
		fmt.Fprintf(&b, "%q <%s>", a, a)
	}
	return b.String()
}
