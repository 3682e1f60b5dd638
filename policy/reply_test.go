package policy_test

import (
	"context"
	"strings"
	"testing"

	"github.com/sekisho/sekisho/policy"
)

// TestReplyCheck pairs each reply text -check refuses with its exact
// error: every reply key is checked, for ASCII text and for the
// placeholders the rule (or key) provides.
func TestReplyCheck(t *testing.T) {
	tests := []struct {
		name, toml, err string
	}{
		{"non-ASCII reply",
			"[rules.attachment_extension]\nreply = \"550 5.7.1 添付ファイルは受け付けません\"\n",
			`t.toml:2:1: rules.attachment_extension.reply: non-ASCII text "添付ファイルは受け付けません": SMTP replies are ASCII (RFC 5321 §4.2); write the Japanese text on the policy page and link it with policy_url`},
		{"placeholder another rule provides",
			"[rules.blank]\nreply = \"550 5.6.0 Empty: {filename}\"\n",
			"t.toml:2:1: rules.blank.reply: unknown placeholder {filename}: blank provides {reason}, {where}, {client_ip}, {sender}, {rcpt}, {queue_id}, {policy_url}"},
		{"several unknown placeholders",
			"[rules.send_only]\naddresses = [\"noreply@*\"]\nreply = \"550 5.1.1 {user} at {domain} is send-only\"\n",
			"t.toml:3:1: rules.send_only.reply: unknown placeholders {user}, {domain}: send_only provides {reason}, {client_ip}, {sender}, {rcpt}, {queue_id}, {policy_url}"},
		{"rule's error_reply has no reason",
			"[rules.blank]\nerror_reply = \"451 4.7.1 Failed: {reason}\"\n",
			"t.toml:2:1: rules.blank.error_reply: unknown placeholder {reason}: error_reply provides {client_ip}, {sender}, {rcpt}, {queue_id}, {policy_url}"},
		{"rule's own reply key",
			"[rules.attachment_extension]\nencrypted = \"reject\"\nencrypted_reply = \"550 5.7.1 {virus} in {filename}\"\n",
			"t.toml:3:1: rules.attachment_extension.encrypted_reply: unknown placeholder {virus}: attachment_extension provides {reason}, {filename}, {client_ip}, {sender}, {rcpt}, {queue_id}, {policy_url}"},
		{"another rule file's reply key",
			"[rules.encrypted_archive]\nmode = \"pair\"\npair_reply = \"451 4.7.0 パスワードを別のメールで送ってください\"\n",
			`t.toml:3:1: rules.encrypted_archive.pair_reply: non-ASCII text "パスワードを別のメールで送ってください": SMTP replies are ASCII (RFC 5321 §4.2); write the Japanese text on the policy page and link it with policy_url`},
		{"top-level error_reply",
			"error_reply = \"451 4.7.1 {filename} not checked\"\n",
			"t.toml:1:1: error_reply: unknown placeholder {filename}: error_reply provides {client_ip}, {sender}, {rcpt}, {queue_id}, {policy_url}"},
		{"policy_reply",
			"policy_reply = \"452 4.5.3 別々に送ってください\"\n",
			`t.toml:1:1: policy_reply: non-ASCII text "別々に送ってください": SMTP replies are ASCII (RFC 5321 §4.2); write the Japanese text on the policy page and link it with policy_url`},
		{"a [[policy]] block's rule table",
			"[[policy]]\nrecipients = [\"*@design.example.co.jp\"]\n[policy.rules.attachment_size]\nreply = \"552 5.3.4 {filename} is {bytes}\"\n",
			"t.toml:4:1: policy[0].rules.attachment_size.reply: unknown placeholder {bytes}: attachment_size provides {reason}, {filename}, {size}, {limit}, {client_ip}, {sender}, {rcpt}, {queue_id}, {policy_url}"},
		{"policy_url placeholder without policy_url",
			"[rules.blank]\nreply = \"550 5.6.0 Empty; see {policy_url}\"\n",
			"t.toml:2:1: rules.blank.reply: uses {policy_url}, but policy_url is not set"},
		{"policy_url not http",
			"policy_url = \"ftp://www.example.co.jp/policy\"\n",
			`t.toml:1:1: policy_url: "ftp://www.example.co.jp/policy": want an http or https URL, such as "https://www.example.co.jp/mail-policy"`},
		{"policy_url without a host",
			"policy_url = \"https:/mail-policy\"\n",
			`t.toml:1:1: policy_url: "https:/mail-policy": want an http or https URL, such as "https://www.example.co.jp/mail-policy"`},
		{"policy_url not ASCII",
			"policy_url = \"https://www.example.co.jp/メール\"\n",
			`t.toml:1:1: policy_url: "https://www.example.co.jp/メール": want an ASCII http or https URL (%-escape other characters, as a browser does): SMTP replies are ASCII (RFC 5321 §4.2)`},
		{"policy_url too long",
			"policy_url = \"https://www.example.co.jp/" + strings.Repeat("p", 480) + "\"\n",
			"t.toml:1:1: policy_url: is 506 bytes: its reply line holds at most 492"},
		{"empty line in a multi-line reply",
			"[rules.blank]\nreply = \"\"\"550 5.6.0 Empty\n\nSee the policy\"\"\"\n",
			`t.toml:2:9: rules.blank.reply: reply "550 5.6.0 Empty\n\nSee the policy": line 2 of the text is empty`},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			_, err := policy.Parse("t.toml", []byte(tt.toml))
			if err == nil {
				t.Fatalf("Parse succeeded, want %s", tt.err)
			}
			if err.Error() != tt.err {
				t.Errorf("error\n%s\nwant\n%s", err, tt.err)
			}
		})
	}
}

// TestReplyCheckAccepts: what the rules provide, multi-line text and
// policy_url pass.
func TestReplyCheckAccepts(t *testing.T) {
	for _, toml := range []string{
		"policy_url = \"https://www.example.co.jp/mail-policy?lang=ja#attachments\"\n",
		"policy_url = \"https://www.example.co.jp/mail-policy\"\n[rules.blank]\nreply = \"550 5.6.0 The {where} is empty ({reason}); see {policy_url}\"\n",
		"[rules.attachment_extension]\nreply = \"\"\"550 5.7.1 Attachment type not allowed: {filename}\n{reason}\n\"\"\"\nencrypted = \"tempfail\"\nencrypted_reply = \"450 4.7.1 {filename}: {reason}\"\n",
		"[rules.attachment_size]\nreply = \"552 5.3.4 {filename} is {size}, over {limit}\"\n",
		"[rules.virus]\naddress = \"inet:127.0.0.1:3310\"\nreply = \"554 5.7.1 {virus} in {filename}\"\n",
		"[rules.dnsbl]\nzones = [{ zone = \"bl.example\" }]\nreply = \"554 5.7.1 [{client_ip}] listed on {zones}: {txt} ({reason})\"\n",
		"[rules.rate_limit]\nlimit = 5\nreply = \"450 4.7.1 {count} messages to {rcpt} within {window}, limit {limit}\"\n",
		"[rules.recipient_limit]\nreply = \"550 5.5.3 {count} recipients, limit {limit}\"\n",
		"[rules.uninspectable]\nreply = \"554 5.6.0 Not checked: {reason}\"\n",
		"[rules.encrypted_archive]\nreply = \"550 5.7.1 {reason}\"\n",
		"[rules.ascii_only]\nreply = \"550 5.7.1 {where}: {reason}\"\n",
		"[rules.attachment_no_extension]\nreply = \"550 5.7.1 {filename}: {reason}\"\n",
		"[rules.send_only]\naddresses = [\"noreply@*\"]\nreply = \"550 5.1.1 <{rcpt}> {reason} (queue {queue_id}, from <{sender}>)\"\n",
		"[rules.blank]\nreply = \"550 5.6.0 Braces { alone } and {Not-a-placeholder} stay text\"\n",
	} {
		if _, err := policy.Parse("t.toml", []byte(toml)); err != nil {
			t.Errorf("%s: %v", toml, err)
		}
	}
}

// TestReplyPlaceholders: a refusal names the attachment and the reason as
// the rule found them, in ASCII, and policy_url follows as a line of its
// own.
func TestReplyPlaceholders(t *testing.T) {
	exe := []byte("MZ\x90\x00 stand-in program")
	tests := []struct {
		name  string
		cfg   string
		parts []attachment
		rule  string
		reply string
	}{
		{"filename and reason",
			"[rules.attachment_extension]\nreply = \"550 5.7.1 Not allowed: {filename} ({reason})\"\n",
			[]attachment{{"application/octet-stream", "invoice.pdf.exe", exe}},
			"attachment_extension", "550 5.7.1 Not allowed: invoice.pdf.exe (file type .exe not allowed)"},
		{"a Japanese name is made ASCII",
			"[rules.attachment_extension]\nreply = \"550 5.7.1 Not allowed: {filename}\"\n",
			[]attachment{{"application/octet-stream", "請求書.exe", exe}},
			"attachment_extension", "550 5.7.1 Not allowed: ???.exe"},
		{"a direction override shows",
			"[rules.attachment_extension]\nreply = \"550 5.7.1 Not allowed: {filename}\"\n",
			[]attachment{{"application/octet-stream", "invoice_\u202efdp.exe", exe}},
			"attachment_extension", "550 5.7.1 Not allowed: invoice_?fdp.exe"},
		{"executable content",
			"[rules.attachment_extension]\nreply = \"550 5.7.1 {filename}: {reason}\"\n",
			[]attachment{{"application/pdf", "document.pdf", exe}},
			"attachment_extension", "550 5.7.1 document.pdf: executable program (pe)"},
		{"no extension",
			"[rules.attachment_no_extension]\nreply = \"550 5.7.1 {filename}: {reason}\"\n",
			[]attachment{{"application/octet-stream", "README", []byte("text")}},
			"attachment_no_extension", "550 5.7.1 README: no file extension"},
		{"size",
			"[rules.attachment_size]\nmax = \"1KiB\"\nreply = \"552 5.3.4 {filename} is {size}, over {limit}: {reason}\"\n",
			[]attachment{{"application/pdf", "見積書.pdf", []byte(strings.Repeat("x", 1500))}},
			"attachment_size", "552 5.3.4 ???.pdf is 1.5KiB, over 1KiB: ???.pdf is 1.5KiB, over the limit of 1KiB"},
		{"size of all attachments",
			"[rules.attachment_size]\nmax_total = \"2KB\"\nreply = \"552 5.3.4 {filename} ({size}, limit {limit})\"\n",
			[]attachment{{"application/pdf", "a.pdf", []byte(strings.Repeat("x", 1500))}, {"application/pdf", "b.pdf", []byte(strings.Repeat("x", 1500))}},
			"attachment_size", "552 5.3.4 all attachments together (3KB, limit 2KB)"},
		{"policy_url is a line of its own",
			"policy_url = \"https://www.example.co.jp/mail-policy\"\n[rules.attachment_extension]\nreply = \"550 5.7.1 Not allowed: {filename}\"\n",
			[]attachment{{"application/octet-stream", "a.exe", exe}},
			"attachment_extension", "550 5.7.1 Not allowed: a.exe\nSee https://www.example.co.jp/mail-policy"},
		{"policy_url placed in the text is not added again",
			"policy_url = \"https://www.example.co.jp/mail-policy\"\n[rules.attachment_extension]\nreply = \"550 5.7.1 Not allowed: {filename}, see {policy_url}\"\n",
			[]attachment{{"application/octet-stream", "a.exe", exe}},
			"attachment_extension", "550 5.7.1 Not allowed: a.exe, see https://www.example.co.jp/mail-policy"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			e := newEngine(t, tt.cfg, nil)
			raw := multipartMail(jisWord(t, "資料送付"), japaneseText, tt.parts...)
			expect(t, e.Run(context.Background(), policy.StageEOB, rawMessage(t, raw)), tt.rule, policy.Reject, tt.reply)
		})
	}
}

// TestReplyTextRules: the text rules say where the problem is.
func TestReplyTextRules(t *testing.T) {
	e := newEngine(t, "[rules.blank]\nreply = \"550 5.6.0 {where}: {reason}\"\n[rules.ascii_only]\nreply = \"550 5.7.1 {where}: {reason}\"\n", nil)
	tests := []struct {
		stage   policy.Stage
		subject string // "-" for none
		text    string
		reply   string
	}{
		{policy.StageEOH, "-", japaneseText, "550 5.6.0 subject: the subject is missing"},
		{policy.StageEOH, "  ", japaneseText, "550 5.6.0 subject: the subject is blank"},
		{policy.StageEOH, "Hello", japaneseText, "550 5.7.1 subject: the subject has only ASCII characters"},
		{policy.StageEOB, "", "", "550 5.6.0 body: the body has no text"},
		{policy.StageEOB, "", "Hello, world\r\n", "550 5.7.1 body: the body text has only ASCII characters"},
	}
	for _, tt := range tests {
		subject := tt.subject
		if subject == "" {
			subject = jisWord(t, "資料送付")
		}
		raw := []byte(strings.Replace(string(multipartMail(subject, tt.text)), "Subject: -\r\n", "", 1))
		if got := e.Run(context.Background(), tt.stage, rawMessage(t, raw)).Reply.String(); got != tt.reply {
			t.Errorf("subject %q, text %q: reply %q, want %q", tt.subject, tt.text, got, tt.reply)
		}
	}
}

// TestReplyExpandLines: values are made ASCII, and a multi-line reply is
// sent with the code on every line, "-" after it but on the last, each
// line cut to fit.
func TestReplyExpandLines(t *testing.T) {
	r, err := policy.ParseReply("550 5.7.1 Not allowed: {filename}\nAsk {rcpt}")
	if err != nil {
		t.Fatal(err)
	}
	got := r.Expand(map[string]string{"filename": "請求書.exe\r\n550 ok", "rcpt": "a@example.jp", "policy_url": "https://example.jp/p"})
	if want := "Not allowed: ???.exe  550 ok\nAsk a@example.jp\nSee https://example.jp/p"; got.Text != want {
		t.Errorf("Text = %q, want %q", got.Text, want)
	}
	if want := "550-5.7.1 Not allowed: ???.exe  550 ok\r\n550-5.7.1 Ask a@example.jp\r\n550 5.7.1 See https://example.jp/p"; got.SMTP() != want {
		t.Errorf("SMTP() = %q, want %q", got.SMTP(), want)
	}
	if s := (policy.Reply{Code: 451, Text: "Later"}).SMTP(); s != "451 Later" {
		t.Errorf("one-line SMTP() = %q", s)
	}
	long := r.Expand(map[string]string{"filename": strings.Repeat("x", 600), "rcpt": strings.Repeat("y", 600)})
	for i, l := range long.Lines() {
		if len(l) != policy.MaxReplyLine {
			t.Errorf("line %d of %d bytes, want it cut to %d", i+1, len(l), policy.MaxReplyLine)
		}
	}
	// The verdict's header stays one line.
	v := policy.Verdict{Rule: "r", Action: policy.Reject, Reply: got}
	if h := v.Header(); strings.ContainsAny(h, "\r\n") || !strings.Contains(h, `\nSee https://example.jp/p`) {
		t.Errorf("Header() = %q", h)
	}
}
