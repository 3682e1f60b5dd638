package policy_test

import (
	"context"
	"strings"
	"testing"
	"unicode/utf8"

	"github.com/sekisho/sekisho/policy"
)

func TestParseReply(t *testing.T) {
	tests := []struct {
		in   string
		want policy.Reply
		err  string // part of the error; "" when the reply is valid
	}{
		{"550 5.1.1 User unknown", policy.Reply{Code: 550, Enhanced: "5.1.1", Text: "User unknown"}, ""},
		{"451 4.7.1 Try later", policy.Reply{Code: 451, Enhanced: "4.7.1", Text: "Try later"}, ""},
		{"554 Service unavailable", policy.Reply{Code: 554, Text: "Service unavailable"}, ""},
		{"452 4.5.3 Too many recipients", policy.Reply{Code: 452, Enhanced: "4.5.3", Text: "Too many recipients"}, ""},
		{"  550   5.7.1   Spaced out  ", policy.Reply{Code: 550, Enhanced: "5.7.1", Text: "Spaced out"}, ""},
		{"550 5.7.123 Three-digit detail", policy.Reply{Code: 550, Enhanced: "5.7.123", Text: "Three-digit detail"}, ""},
		{"550 5.7 Not an enhanced code", policy.Reply{Code: 550, Text: "5.7 Not an enhanced code"}, ""},
		{"550 5.1.1 100% sure", policy.Reply{Code: 550, Enhanced: "5.1.1", Text: "100% sure"}, ""},
		// RFC 3463 §2: subject and detail are 1*3digit; a sign makes no code.
		{"550 5.+1.1 Signed", policy.Reply{Code: 550, Text: "5.+1.1 Signed"}, ""},
		{"550 5.1.-1 Signed", policy.Reply{Code: 550, Text: "5.1.-1 Signed"}, ""},
		{"550 5.1234.1 Too long", policy.Reply{Code: 550, Text: "5.1234.1 Too long"}, ""},

		{"450 5.7.1 x", policy.Reply{}, "enhanced code 5.7.1 does not match reply code 450"},
		{"550 4.7.1 x", policy.Reply{}, "enhanced code 4.7.1 does not match reply code 550"},
		{"550 2.0.0 x", policy.Reply{}, "enhanced code 2.0.0 does not match reply code 550"},
		{"250 2.0.0 ok", policy.Reply{}, "must start with a 4xx or 5xx code"},
		{"354 go ahead", policy.Reply{}, "must start with a 4xx or 5xx code"},
		{"560 x", policy.Reply{}, "must start with a 4xx or 5xx code"},
		{"55 x", policy.Reply{}, "must start with a 4xx or 5xx code"},
		{"5500 x", policy.Reply{}, "must start with a 4xx or 5xx code"},
		{"5x0 x", policy.Reply{}, "must start with a 4xx or 5xx code"},
		{"", policy.Reply{}, "must start with a 4xx or 5xx code"},
		{"550-5.1.1 first line", policy.Reply{}, "must start with a 4xx or 5xx code"},
		// Several lines make a multi-line reply (RFC 5321 §4.2.1).
		{"550 5.1.1 line one\nline two", policy.Reply{Code: 550, Enhanced: "5.1.1", Text: "line one\nline two"}, ""},
		{"550 5.1.1 line one\r\n  line two  \n", policy.Reply{Code: 550, Enhanced: "5.1.1", Text: "line one\nline two"}, ""},
		{"550 line one\nline two", policy.Reply{Code: 550, Text: "line one\nline two"}, ""},
		{"550 5.1.1 tab\tin text", policy.Reply{Code: 550, Enhanced: "5.1.1", Text: "tab\tin text"}, ""},
		{"550 5.1.1 line one\n\nline three", policy.Reply{}, "line 2 of the text is empty"},
		// The SMTP form, each line with its codes, is the same reply.
		{"550-5.1.1 line one\r\n550-5.1.1 line two\r\n550 5.1.1 line three", policy.Reply{Code: 550, Enhanced: "5.1.1", Text: "line one\nline two\nline three"}, ""},
		{"550 line one\n550 line two", policy.Reply{Code: 550, Text: "line one\nline two"}, ""},
		{"550 5.1.1 line one\n550 5.1.1", policy.Reply{}, "line 2 of the text is empty"},
		{"550 5.1.1 nul\x00byte", policy.Reply{}, "the text holds a control character"},
		{"550 5.1.1 bare\rCR", policy.Reply{}, "the text holds a control character"},
		{"550 5.1.1 " + strings.Repeat("x", 501), policy.Reply{}, "line 1 is 511 bytes with its codes, over the 510 an SMTP reply line may have"},
		{"550", policy.Reply{}, "text is empty"},
		{"550 5.1.1", policy.Reply{}, "text is empty"},
	}
	for _, tt := range tests {
		got, err := policy.ParseReply(tt.in)
		switch {
		case tt.err == "" && err != nil:
			t.Errorf("ParseReply(%q): %v", tt.in, err)
		case tt.err != "" && err == nil:
			t.Errorf("ParseReply(%q) = %+v, want an error containing %q", tt.in, got, tt.err)
		case tt.err != "" && !strings.Contains(err.Error(), tt.err):
			t.Errorf("ParseReply(%q): %v, want an error containing %q", tt.in, err, tt.err)
		case got != tt.want:
			t.Errorf("ParseReply(%q) = {%d %q %q}, want {%d %q %q}", tt.in, got.Code, got.Enhanced, got.Text, tt.want.Code, tt.want.Enhanced, tt.want.Text)
		}
	}
}

// TestReplyRoundTrip: String gives back what ParseReply read, in canonical
// spacing.
func TestReplyRoundTrip(t *testing.T) {
	for _, s := range []string{"550 5.1.1 User unknown", "451 4.7.1 Try later", "554 Service unavailable"} {
		r, err := policy.ParseReply(s)
		if err != nil {
			t.Fatal(err)
		}
		if r.String() != s {
			t.Errorf("ParseReply(%q).String() = %q", s, r.String())
		}
		b, _ := r.MarshalText()
		var back policy.Reply
		if err := back.UnmarshalText(b); err != nil || back != r {
			t.Errorf("text round trip of %q: %+v, %v", s, back, err)
		}
	}
	if s := (policy.Reply{}).String(); s != "" {
		t.Errorf("zero Reply.String() = %q, want empty", s)
	}
	if !(policy.Reply{}).IsZero() {
		t.Error("zero Reply is not IsZero")
	}
}

// TestVerdictMapping table-tests what each action sends: reject a 5xx reply
// with a 5.x.x code, tempfail a 4xx reply with a 4.x.x code, the others no
// reply at all.
func TestVerdictMapping(t *testing.T) {
	r5 := policy.Reply{Code: 550, Enhanced: "5.1.1", Text: "User unknown"}
	r4 := policy.Reply{Code: 451, Enhanced: "4.7.1", Text: "Try later"}
	tests := []struct {
		action policy.Action
		reply  policy.Reply
		final  bool
		str    string
		header string
	}{
		{policy.Continue, policy.Reply{}, false, "continue", "continue rule=r"},
		{policy.Reject, r5, true, "550 5.1.1 User unknown", `reject rule=r reply="550 5.1.1 User unknown"`},
		{policy.Reject, policy.Reply{Code: 554, Text: "Service unavailable"}, true, "554 Service unavailable", `reject rule=r reply="554 Service unavailable"`},
		{policy.Tempfail, r4, true, "451 4.7.1 Try later", `tempfail rule=r reply="451 4.7.1 Try later"`},
		{policy.Reject, policy.Reply{}, true, "reject", "reject rule=r"},
		{policy.Discard, r5, true, "discard", "discard rule=r"},
		{policy.Quarantine, r5, true, "quarantine", "quarantine rule=r"},
		{policy.Tag, r5, false, "tag", "tag rule=r"},
		{policy.Log, r5, false, "log", "log rule=r"},
	}
	for _, tt := range tests {
		t.Run(tt.action.String(), func(t *testing.T) {
			v := policy.Verdict{Rule: "r", Action: tt.action, Reply: tt.reply}
			if got := tt.action.Final(); got != tt.final {
				t.Errorf("Final() = %v, want %v", got, tt.final)
			}
			if got := v.String(); got != tt.str {
				t.Errorf("String() = %q, want %q", got, tt.str)
			}
			if got := v.Header(); got != tt.header {
				t.Errorf("Header() = %q, want %q", got, tt.header)
			}
			v.DryRun = true
			if got := v.Header(); got != "would-"+tt.header {
				t.Errorf("dry-run Header() = %q, want %q", got, "would-"+tt.header)
			}
		})
	}
}

func TestVerdictHeader(t *testing.T) {
	v := policy.Verdict{
		Rule:   "send_only",
		Stage:  policy.StageRcpt,
		Action: policy.Reject,
		Reply:  policy.Reply{Code: 550, Enhanced: "5.1.1", Text: "User unknown"},
		Reason: "recipient noreply@example.co.jp is send-only (pattern noreply@*)",
		DryRun: true,
	}
	want := `would-reject rule=send_only reply="550 5.1.1 User unknown" reason="recipient noreply@example.co.jp is send-only (pattern noreply@*)"`
	if got := v.Header(); got != want {
		t.Errorf("Header() =\n%s\nwant\n%s", got, want)
	}
	// A header value is one line of ASCII whatever the reason holds.
	v.Reason = "宛先\r\nX-Injected: yes"
	h := v.Header()
	if strings.ContainsAny(h, "\r\n") {
		t.Errorf("Header() = %q spans lines", h)
	}
	for _, r := range h {
		if r > 0x7e {
			t.Errorf("Header() = %q is not ASCII", h)
			break
		}
	}
}

func TestReplyExpand(t *testing.T) {
	r := policy.Reply{Code: 550, Enhanced: "5.7.1", Text: "Mail from {client_ip} to {rcpt} refused: {virus} {unknown}"}
	tests := []struct {
		name string
		vars map[string]string
		want string
	}{
		{"no vars", nil, "Mail from {client_ip} to {rcpt} refused: {virus} {unknown}"},
		{"all known", map[string]string{"client_ip": "192.0.2.1", "rcpt": "a@example.jp", "virus": "Eicar"},
			"Mail from 192.0.2.1 to a@example.jp refused: Eicar {unknown}"},
		{"CR LF and NUL become spaces", map[string]string{"rcpt": "a@x\r\n250 2.0.0 ok", "virus": "E\x00\x7f"},
			"Mail from {client_ip} to a@x  250 2.0.0 ok refused: E   {unknown}"},
		{"values are not expanded again", map[string]string{"rcpt": "{virus}", "virus": "Eicar"},
			"Mail from {client_ip} to {virus} refused: Eicar {unknown}"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			got := r.Expand(tt.vars)
			if got.Text != tt.want {
				t.Errorf("Text = %q, want %q", got.Text, tt.want)
			}
			if got.Code != r.Code || got.Enhanced != r.Enhanced {
				t.Errorf("Expand changed the code: %+v", got)
			}
			if _, err := policy.ParseReply(got.String()); err != nil {
				t.Errorf("expanded reply does not parse: %v", err)
			}
		})
	}
	if r.Text != "Mail from {client_ip} to {rcpt} refused: {virus} {unknown}" {
		t.Error("Expand changed its receiver")
	}
	// The whole reply, as the client receives it, is cut at 510 bytes
	// (512 with CRLF), at a character boundary, whatever the values and
	// however many "%" the milter doubles later.
	for _, v := range []map[string]string{
		{"virus": strings.Repeat("v", 900)},
		{"rcpt": strings.Repeat("%", 300), "virus": strings.Repeat("%", 300)},
		{"rcpt": strings.Repeat("あ", 600), "virus": "x"},
	} {
		long := r.Expand(v)
		if n := len(long.String()); n > policy.MaxReplyLine || n < policy.MaxReplyLine-2 {
			t.Errorf("expanded reply of %d bytes, want at most %d (and nearly that)", n, policy.MaxReplyLine)
		}
		if !utf8.ValidString(long.String()) {
			t.Errorf("cut reply is not valid UTF-8: %q", long.String())
		}
	}
}

func TestStageAndActionNames(t *testing.T) {
	stages := map[policy.Stage]string{
		policy.StageConnect: "connect", policy.StageHelo: "helo", policy.StageMail: "mail",
		policy.StageRcpt: "rcpt", policy.StageEOH: "eoh", policy.StageEOB: "eob",
		policy.Stage(-1): "stage(-1)", policy.Stage(6): "stage(6)",
	}
	for s, want := range stages {
		if s.String() != want {
			t.Errorf("Stage(%d).String() = %q, want %q", int(s), s.String(), want)
		}
	}
	if got := policy.Action(7).String(); got != "action(7)" {
		t.Errorf("Action(7).String() = %q", got)
	}
	for _, a := range []policy.Action{policy.Reject, policy.Tempfail, policy.Discard, policy.Quarantine, policy.Tag, policy.Log} {
		got, err := policy.ParseAction(a.String())
		if err != nil || got != a {
			t.Errorf("ParseAction(%q) = %v, %v", a.String(), got, err)
		}
	}
	for _, s := range []string{"continue", "Reject", "", "bounce"} {
		if _, err := policy.ParseAction(s); err == nil {
			t.Errorf("ParseAction(%q) succeeded", s)
		}
	}
}

// TestTempfailDefaultReply: action = "tempfail" without a reply turns the
// rule's 5xx default reply into its 4xx counterpart.
func TestTempfailDefaultReply(t *testing.T) {
	tests := []struct {
		name string
		toml string
		rcpt string
		want string
	}{
		{"send_only default reply", "[rules.send_only]\naddresses = [\"noreply@*\"]\naction = \"tempfail\"\n",
			"noreply@example.jp", "450 4.1.1 User unknown"},
		{"own reply is kept", "[rules.send_only]\naddresses = [\"noreply@*\"]\naction = \"tempfail\"\nreply = \"421 4.7.0 Later\"\n",
			"noreply@example.jp", "421 4.7.0 Later"},
		{"reject keeps the 5xx default", "[rules.send_only]\naddresses = [\"noreply@*\"]\naction = \"reject\"\n",
			"noreply@example.jp", "550 5.1.1 User unknown"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			e := newEngine(t, tt.toml, nil)
			m := &policy.Message{Client: outsider, Sender: "a@example.net", Rcpt: tt.rcpt}
			v := e.Run(context.Background(), policy.StageRcpt, m)
			if v.String() != tt.want {
				t.Errorf("verdict %q, want %q", v, tt.want)
			}
		})
	}
}

func FuzzParseReply(f *testing.F) {
	for _, s := range []string{
		"550 5.1.1 User unknown", "451 4.7.1 Try later", "554 Service unavailable",
		"450 5.7.1 x", "250 2.0.0 ok", "55 x", "", "550 5.1.1 a\r\n550 b", "550 5.+1.1 x", "550 5..1 x",
	} {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, s string) {
		r, err := policy.ParseReply(s)
		if err != nil {
			return
		}
		if r.Code < 400 || r.Code > 559 {
			t.Fatalf("ParseReply(%q): code %d", s, r.Code)
		}
		if r.Enhanced != "" && r.Enhanced[0] != r.String()[0] {
			t.Fatalf("ParseReply(%q): enhanced %s with code %d", s, r.Enhanced, r.Code)
		}
		if strings.ContainsAny(r.Text, "\r\x00") || r.Text == "" || strings.Contains(r.Text, "\n\n") {
			t.Fatalf("ParseReply(%q): text %q", s, r.Text)
		}
		for _, l := range r.Lines() {
			if len(l) > policy.MaxReplyLine {
				t.Fatalf("ParseReply(%q): line of %d bytes", s, len(l))
			}
		}
		again, err := policy.ParseReply(r.String())
		if err != nil || again != r {
			t.Fatalf("ParseReply(%q).String() = %q parses as %+v, %v", s, r.String(), again, err)
		}
		_ = r.Expand(map[string]string{"x": s}).String()
	})
}
