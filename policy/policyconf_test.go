package policy_test

import (
	"bytes"
	"context"
	"encoding/base64"
	"fmt"
	"strings"
	"testing"

	"github.com/sekisho/sekisho/policy"
)

const policyConfig = `
[exempt]
recipients = ["postmaster@*"]

[rules.send_only]
addresses = ["noreply@*"]

[rules.attachment_size]
max = "1KB"
action = "tag"

[rules.ascii_only]

[[policy]]
name = "design"
recipients = ["*@design.example.co.jp"]
[policy.rules.attachment_size]
max = "1MB"
[policy.rules.ascii_only]
enabled = false

[[policy]]
recipients = ["*@overseas.example.co.jp", "*@*.overseas.example.co.jp"]
[policy.rules.blank]
action = "tempfail"
[policy.rules.send_only]
addresses = ["info@*"]
`

// TestPolicyMerge: a [[policy]] block's tables are read over the top-level
// ones key by key; a rule the top level lacks starts from its defaults;
// the tables a block leaves alone are inherited as they are.
func TestPolicyMerge(t *testing.T) {
	c, err := policy.Parse("t.toml", []byte(policyConfig))
	if err != nil {
		t.Fatal(err)
	}
	if len(c.Policies) != 2 {
		t.Fatalf("%d policies", len(c.Policies))
	}
	design, overseas := &c.Policies[0], &c.Policies[1]
	if design.Name != "design" || overseas.Name != "policy2" {
		t.Errorf("names %q %q, want design policy2", design.Name, overseas.Name)
	}
	as := design.Rules.AttachmentSize
	if as.Max != 1000*1000 || as.Action != policy.Tag || as.Reply.Code != 552 || !as.Enabled {
		t.Errorf("design attachment_size: max %v action %v reply %v enabled %v; want 1MB, the top level's tag and reply", as.Max, as.Action, as.Reply, as.Enabled)
	}
	if c.Rules.AttachmentSize.Max != 1000 {
		t.Errorf("the top-level table changed: max %v", c.Rules.AttachmentSize.Max)
	}
	if design.Rules.AsciiOnly.Enabled {
		t.Error("ascii_only is on for design")
	}
	if design.Rules.SendOnly != c.Rules.SendOnly {
		t.Error("design does not inherit send_only as it is")
	}
	b := overseas.Rules.Blank
	if b == nil || !b.Enabled || b.Action != policy.Tempfail || b.Reply.String() != "450 4.6.0 The {where} has no text" || b.OnError != "tempfail" {
		t.Errorf("policy2 blank: %+v; want on, tempfail with the 4xx counterpart of its default reply", b)
	}
	if c.Rules.Blank != nil {
		t.Error("blank turned on at the top level")
	}
	if got := overseas.Rules.SendOnly.Addresses; len(got) != 1 || got[0] != "info@*" {
		t.Errorf("policy2 send_only addresses %q", got)
	}
	if got := fmt.Sprint(design.Own(), overseas.Own()); got != "[ascii_only attachment_size] [send_only blank]" {
		t.Errorf("own tables %s", got)
	}
	e := configEngine(t, c, nil)
	got := fmt.Sprint(e.PolicyRules())
	want := "map[default:[send_only uninspectable attachment_size ascii_only] design:[send_only uninspectable attachment_size] policy2:[send_only uninspectable attachment_size ascii_only blank]]"
	if got != want {
		t.Errorf("rules by policy:\n%s\nwant\n%s", got, want)
	}
}

// TestPolicyMarshal: -print-config shows each block with the tables it
// changes, and what it prints parses back to the same.
func TestPolicyMarshal(t *testing.T) {
	c, err := policy.Parse("t.toml", []byte(policyConfig))
	if err != nil {
		t.Fatal(err)
	}
	out, err := c.Marshal()
	if err != nil {
		t.Fatal(err)
	}
	again, err := policy.Parse("t.toml", out)
	if err != nil {
		t.Fatalf("%v\n%s", err, out)
	}
	out2, _ := again.Marshal()
	if !bytes.Equal(out, out2) {
		t.Errorf("printed twice, differs:\n%s\n---\n%s", out, out2)
	}
	for _, want := range []string{"[[policy]]\nname = 'design'\nrecipients = ['*@design.example.co.jp']\n[policy.rules.attachment_size]\n", "[policy.rules.ascii_only]\nenabled = false\n", "max = '1MB'", "name = 'policy2'"} {
		if !strings.Contains(string(out), want) {
			t.Errorf("printed configuration lacks %q:\n%s", want, out)
		}
	}
}

// policyMessage is a Japanese message with a 10 kB attachment: over the
// top-level limit, under design's.
func policyMessage(t *testing.T) *policy.Message {
	raw := "From: a@example.net\r\nSubject: =?UTF-8?B?" + base64.StdEncoding.EncodeToString([]byte("見積書")) + "?=\r\nMIME-Version: 1.0\r\n" +
		"Content-Type: multipart/mixed; boundary=b\r\n\r\n--b\r\nContent-Type: text/plain; charset=UTF-8\r\nContent-Transfer-Encoding: base64\r\n\r\n" +
		base64.StdEncoding.EncodeToString([]byte("お世話になっております。")) + "\r\n--b\r\nContent-Type: application/pdf; name=a.pdf\r\n" +
		"Content-Disposition: attachment; filename=a.pdf\r\nContent-Transfer-Encoding: base64\r\n\r\n" +
		base64.StdEncoding.EncodeToString(bytes.Repeat([]byte("%PDF"), 2500)) + "\r\n--b--\r\n"
	m := rawMessage(t, []byte(raw))
	m.Rcpts = nil
	return m
}

// TestPolicySplit: a transaction is judged under the policy of its first
// accepted recipient; a recipient of another policy gets 452 4.5.3 and is
// sent again by the MTA, to be judged under its own.
func TestPolicySplit(t *testing.T) {
	var logs bytes.Buffer
	e := newEngine(t, policyConfig, logEnv(&logs))
	ctx := context.Background()

	m := policyMessage(t)
	vs := rcptTo(e, m, "tanaka@example.co.jp", "sato@design.example.co.jp", "suzuki@example.co.jp", "postmaster@design.example.co.jp")
	expectContinue(t, vs[0])
	expect(t, vs[1], "policy", policy.Tempfail, "452 4.5.3 Policy differs, send separately",
		"recipient sato@design.example.co.jp is under policy design, the transaction under default")
	expectContinue(t, vs[2])
	expectContinue(t, vs[3]) // an exempt recipient goes with any policy
	if m.Policy() != policy.DefaultPolicy {
		t.Errorf("policy %q", m.Policy())
	}
	o := e.Finish(ctx, m)
	if !o.Accepted() || len(o.Headers) != 1 || !strings.Contains(o.Headers[0].Value, "rule=attachment_size") {
		t.Errorf("default: %v %v, want tagged by attachment_size", o.Verdict, o.Headers)
	}

	// The MTA sends the deferred recipient again, alone: design's limit.
	m = policyMessage(t)
	vs = rcptTo(e, m, "sato@design.example.co.jp", "tanaka@example.co.jp")
	expectContinue(t, vs[0])
	expect(t, vs[1], "policy", policy.Tempfail, "452 4.5.3 Policy differs, send separately", "under policy default, the transaction under design")
	if m.Policy() != "design" {
		t.Errorf("policy %q", m.Policy())
	}
	o = e.Finish(ctx, m)
	if o.Action != policy.Continue || len(o.Headers) != 0 {
		t.Errorf("design: %v %v, want accepted untouched", o.Verdict, o.Headers)
	}
	if !strings.Contains(logs.String(), "policy=design") {
		t.Errorf("no policy=design in the log:\n%s", logs.String())
	}

	// A refused first recipient does not decide the policy.
	m = policyMessage(t)
	vs = rcptTo(e, m, "info@overseas.example.co.jp", "sato@design.example.co.jp", "noreply@design.example.co.jp", "tanaka@example.co.jp")
	expect(t, vs[0], "send_only", policy.Reject, "550 5.1.1 User unknown")
	expectContinue(t, vs[1])
	expect(t, vs[2], "send_only", policy.Reject, "550 5.1.1 User unknown")
	expect(t, vs[3], "policy", policy.Tempfail, "452 4.5.3 Policy differs, send separately")
	// Each policy's own RCPT rules: info@ is send-only only for policy2.
	m = policyMessage(t)
	expectContinue(t, rcptTo(e, m, "info@example.co.jp")[0])
}

// TestPolicySplitDryRun: in dry-run mode the split is only logged and
// recorded; the recipient is judged under the transaction's policy.
func TestPolicySplitDryRun(t *testing.T) {
	e := newEngine(t, "mode = \"dry-run\"\n"+policyConfig, nil)
	m := policyMessage(t)
	vs := rcptTo(e, m, "tanaka@example.co.jp", "sato@design.example.co.jp")
	expectContinue(t, vs[1])
	if len(m.Rcpts) != 2 {
		t.Fatalf("recipients %q", m.Rcpts)
	}
	o := e.Finish(context.Background(), m)
	var hs []string
	for _, h := range o.Headers {
		hs = append(hs, h.Value)
	}
	got := strings.Join(hs, "\n")
	if !strings.Contains(got, `would-tempfail rule=policy reply="452 4.5.3 Policy differs, send separately"`) || !strings.Contains(got, "would-tag rule=attachment_size") {
		t.Errorf("headers:\n%s", got)
	}
}

// TestPolicyErrors: what a [[policy]] block cannot hold is an error with
// its place.
func TestPolicyErrors(t *testing.T) {
	for name, tc := range map[string]struct{ cfg, want string }{
		"dnsbl": {"[[policy]]\nrecipients = [\"*@a.example\"]\n[policy.rules.dnsbl]\nzones = [{ zone = \"bl.example\" }]\n",
			"t.toml:3:2: policy[0].rules.dnsbl: dnsbl decides when the client connects, before any recipient is known: it cannot differ by policy"},
		"nothing to match": {"[[policy]]\nname = \"x\"\n", `t.toml:1:3: policy[0].recipients: a policy needs recipients, senders or kinds to match, such as recipients = ["*@design.example.co.jp"], senders = ["<>"] or kinds = ["bounce"]`},
		"unknown kind":     {"[[policy]]\nkinds = [\"bounces\"]\n", `t.toml:2:1: policy[0].kinds: unknown kind of mail "bounces" (want bounce, receipt, auto-reply, list)`},
		"bad sender":       {"[[policy]]\nsenders = [\"<MAILER-DAEMON>\"]\n", `t.toml:2:1: policy[0].senders: address pattern "<MAILER-DAEMON>": no spaces or angle brackets ("<>" alone is the null sender)`},
		"rcpt rule by kind": {"[[policy]]\nkinds = [\"list\"]\n[policy.rules.rate_limit]\nenabled = false\n",
			"t.toml:3:2: policy[0].rules.rate_limit: rate_limit decides at RCPT, before the headers show the kind of mail: it cannot differ by kind; choose such mail by senders in a block of its own"},
		"default": {"[[policy]]\nname = \"default\"\nrecipients = [\"*@a.example\"]\n", "t.toml:2:1: policy[0].name: \"default\" names the top-level rules"},
		"twice": {"[[policy]]\nname = \"a\"\nrecipients = [\"*@a.example\"]\n[[policy]]\nname = \"a\"\nrecipients = [\"*@b.example\"]\n",
			"t.toml:5:1: policy[1].name: \"a\" is also the name of policy block 1"},
		"bad value": {"[[policy]]\nrecipients = [\"*@a.example\"]\n[policy.rules.attachment_size]\nmax = \"0B\"\n[[policy]]\nrecipients = [\"*@b.example\"]\n[policy.rules.blank]\naction = \"reject\"\nreply = \"450 4.6.0 x\"\n",
			"t.toml:4:1: policy[0].rules.attachment_size.max: must be above zero\nt.toml:9:1: policy[1].rules.blank.reply"},
		"unknown key":  {"[[policy]]\nrecipients = [\"*@a.example\"]\n[policy.rules.blank]\ncolour = 1\n", "t.toml:4:1: policy.rules.blank.colour: unknown key"},
		"policy reply": {"policy_reply = \"550 5.5.3 no\"\n", "t.toml:1:1: policy_reply: must be a 4xx reply"},
	} {
		t.Run(name, func(t *testing.T) {
			_, err := policy.Parse("t.toml", []byte(tc.cfg))
			if err == nil || !strings.HasPrefix(err.Error(), tc.want) {
				t.Errorf("error:\n%v\nwant it to start with\n%s", err, tc.want)
			}
		})
	}
}
