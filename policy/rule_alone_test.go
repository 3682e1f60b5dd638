package policy_test

import (
	"bytes"
	"context"
	"fmt"
	"log/slog"
	"maps"
	"net"
	"net/netip"
	"slices"
	"strings"
	"testing"

	"github.com/sekisho/sekisho/policy"
	"github.com/sekisho/sekisho/policy/internal/testkit"
	"github.com/sekisho/sekisho/policy/ratelimit/redistest"
)

// aloneMail is one message of a connection, as the MTA passes it on.
type aloneMail struct {
	client netip.Addr // the client; outsider's when not valid
	sender string
	rcpts  []string
	raw    []byte
}

// aloneRule is a rule's table, with settings that change what it
// declares, and the mail that it alone refuses.
type aloneRule struct {
	rule  string
	table string    // the keys of [rules.NAME]
	bad   aloneMail // none (nil raw) for a rule run with its defaults only
	times int       // the bad mail is sent this many times: the last is refused
}

// aloneListed is the client the DNS list of the test lists.
var aloneListed = netip.MustParseAddr("192.0.2.99")

// aloneRules are every rule of the registry, each with the settings that
// change its declared needs. addr gives the address of a service: "clamd",
// "dns", and the URL of "redis".
func aloneRules(t *testing.T, addr func(string) string) []aloneRule {
	ascii := []byte("Subject: Invoice payment\r\nMIME-Version: 1.0\r\nContent-Type: text/plain; charset=us-ascii\r\n\r\nPlease pay the invoice today.\r\n")
	blank := []byte("Subject: \r\nMIME-Version: 1.0\r\nContent-Type: text/plain; charset=utf-8\r\n\r\n\u3000\r\n")
	named := func(name string) []byte {
		return []byte("Subject: " + jisWord(t, "資料") + "\r\nMIME-Version: 1.0\r\nContent-Type: multipart/mixed; boundary=b\r\n\r\n" +
			"--b\r\nContent-Type: text/plain; charset=utf-8\r\n\r\nお世話になっております。\r\n" +
			"--b\r\nContent-Type: application/octet-stream\r\nContent-Disposition: attachment; filename=" + name + "\r\n" +
			"Content-Transfer-Encoding: 7bit\r\n\r\n" + eicar + "\r\n--b--\r\n")
	}
	one := []string{"tanaka@example.co.jp"}
	mail := func(raw []byte) aloneMail { return aloneMail{sender: "bad@example.net", rcpts: one, raw: raw} }
	clamd := fmt.Sprintf("address = \"inet:%s\"\ntimeout = \"5s\"", addr("clamd"))
	dnsbl := fmt.Sprintf("resolver = %q\ntimeout = \"2s\"\nzones = [{ zone = \"bl.example\" }]", addr("dns"))
	listed := aloneMail{client: aloneListed, sender: "bad@example.net", rcpts: one, raw: mimeFile(t, "iso2022jp.eml")}
	redis := fmt.Sprintf("store = %q", addr("redis"))
	rules := []aloneRule{
		{rule: "dnsbl", table: dnsbl, bad: listed},
		{rule: "dnsbl", table: dnsbl + "\nrefuse_at = \"connect\"", bad: listed},
		{rule: "send_only", table: `addresses = ["noreply@example.co.jp"]`,
			bad: aloneMail{sender: "bad@example.net", rcpts: []string{"noreply@example.co.jp"}, raw: mimeFile(t, "iso2022jp.eml")}},
		{rule: "recipient_limit", table: "max = 2",
			bad: aloneMail{sender: "bad@example.net", rcpts: []string{"a@example.co.jp", "b@example.co.jp", "c@example.co.jp"}, raw: mimeFile(t, "iso2022jp.eml")}},
		{rule: "recipient_limit", table: "max = 2\ncount_headers = true",
			bad: mail([]byte("To: a@example.co.jp, b@example.co.jp, c@example.co.jp\r\n" + string(mimeFile(t, "iso2022jp.eml"))))},
		{rule: "rate_limit", table: "limit = 2", bad: mail(mimeFile(t, "iso2022jp.eml")), times: 3},
		{rule: "rate_limit", table: "limit = 2\n" + redis, bad: mail(mimeFile(t, "iso2022jp.eml")), times: 3},
		{rule: "ascii_only", bad: mail(ascii)},
		{rule: "ascii_only", table: "subject = false", bad: mail(ascii)},
		{rule: "ascii_only", table: "body = false", bad: mail(ascii)},
		{rule: "blank", bad: mail(blank)},
		{rule: "blank", table: "subject = false", bad: mail(blank)},
		{rule: "blank", table: "body = false", bad: mail(blank)},
		{rule: "attachment_size", table: `max = "40B"`, bad: mail(named("report.pdf"))},
		{rule: "attachment_extension", bad: mail(named("invoice.scr"))},
		{rule: "attachment_no_extension", bad: mail(named("README"))},
		{rule: "encrypted_archive", bad: mail(mimeFile(t, "encrypted-zip.eml"))},
		{rule: "encrypted_archive", table: `mode = "pair"`, bad: mail(mimeFile(t, "encrypted-zip.eml"))},
		{rule: "encrypted_archive", table: "mode = \"pair\"\n" + redis, bad: mail(mimeFile(t, "encrypted-zip.eml"))},
		{rule: "uninspectable", bad: mail(mimeFile(t, "deep-nesting.eml"))},
		{rule: "virus", table: clamd, bad: mail(named("report.pdf"))},
		{rule: "virus", table: clamd + "\nscan = \"message\"", bad: mail(named("report.pdf"))},
	}
	// A rule not listed yet runs with its defaults over the ordinary mail.
	for _, name := range policy.RuleNames {
		if !slices.ContainsFunc(rules, func(r aloneRule) bool { return r.rule == name }) {
			rules = append(rules, aloneRule{rule: name})
		}
	}
	return rules
}

// aloneClean is ordinary mail that no rule refuses: Japanese text, with
// and without an attachment, from senders of their own.
func aloneClean(t *testing.T) []aloneMail {
	var out []aloneMail
	for i, raw := range [][]byte{
		partsMail(t, "お世話になっております。", "application/pdf", "%PDF-1.7 見積書"),
		mimeFile(t, "iso2022jp.eml"),
		mimeFile(t, "html-utf8-entities.eml"),
	} {
		out = append(out, aloneMail{sender: fmt.Sprintf("sender%d@example.net", i), rcpts: []string{"tanaka@example.co.jp"}, raw: raw})
	}
	return out
}

// aloneSend passes one mail through the stages the MTA drives and returns
// the verdict that refused it, or the end of body's.
func aloneSend(t *testing.T, e *policy.Engine, mail aloneMail) policy.Verdict {
	t.Helper()
	ctx := context.Background()
	client := outsider
	if mail.client.IsValid() {
		client.Addr = mail.client
	}
	m := &policy.Message{Client: client}
	defer m.Close()
	// A hit that is not final (a tag, a log line) at any stage is kept:
	// ordinary mail must get none, at any stage.
	var hit policy.Verdict
	final := func(v policy.Verdict) bool {
		if !v.Action.Final() && hit.Rule == "" && (v.Action != policy.Continue || v.Rule != "") {
			hit = v
		}
		return v.Action.Final()
	}
	for _, st := range []policy.Stage{policy.StageConnect, policy.StageHelo} {
		if v := e.Run(ctx, st, m); final(v) {
			return v
		}
	}
	m.Reset()
	m.Sender = mail.sender
	if v := e.Run(ctx, policy.StageMail, m); final(v) {
		return v
	}
	var refused policy.Verdict
	for _, r := range mail.rcpts {
		m.Rcpt = r
		if v := e.Run(ctx, policy.StageRcpt, m); final(v) {
			refused = v
			continue
		}
		m.Rcpts = append(m.Rcpts, r)
	}
	if len(m.Rcpts) == 0 {
		return refused
	}
	m.Headers = headersOf(t, mail.raw)
	feed(e, m, mail.raw, 4096)
	if v := e.Run(ctx, policy.StageEOH, m); final(v) {
		return v
	}
	if v := e.Finish(ctx, m).Verdict; final(v) || hit.Rule == "" {
		return v
	}
	return hit
}

// aloneEngine builds the engine of a configuration whose one rule is r,
// logging to logs; offline turns off the rules that need the network, as
// `sekisho scan` does, and returns their names.
func aloneEngine(t *testing.T, r aloneRule, mode string, offline bool, logs *bytes.Buffer) (*policy.Engine, []string) {
	t.Helper()
	cfg, err := policy.Parse("alone.toml", fmt.Appendf(nil, "[rules.%s]\n%s\n%s\n", r.rule, r.table, mode))
	if err != nil {
		t.Fatalf("%v\n(a rule whose table needs keys gets them in aloneRules)", err)
	}
	var off []string
	if offline {
		off = cfg.Offline()
	}
	env := quietEnv()
	env.Logger = slog.New(slog.NewTextHandler(logs, nil))
	e, err := policy.NewEngine(cfg, env)
	if err != nil {
		t.Fatal(err)
	}
	return e, off
}

// aloneFailed reports a rule error or panic in the logs.
func aloneFailed(t *testing.T, what string, logs *bytes.Buffer) {
	t.Helper()
	if s := logs.String(); strings.Contains(s, "panicked") || strings.Contains(s, "rule error") || strings.Contains(s, "error=") {
		t.Errorf("%s:\n%s", what, s)
	}
}

// TestEachRuleAlone runs every rule as the only one of its configuration,
// with each setting that changes what it declares, through the stages the
// MTA drives: ordinary mail passes without an error, and the mail that
// the rule is for is refused by it. A rule missing from aloneRules runs
// with its defaults over the ordinary mail. A rule that reads what the engine
// makes only when asked (the inspection, its stream, the parts, the count
// of accepted mail) and does not declare it fails here, where a
// configuration of several rules would hide it behind another that asked;
// a declaration its methods do not serve stops NewEngine.
func TestEachRuleAlone(t *testing.T) {
	clamd := startClamd(t, "")
	dns := startDNS(t, map[string]testkit.Record{
		"99.2.0.192.bl.example.": {A: []string{"127.0.0.2"}},
	})
	redis := redistest.StartServer(t, "")
	addrs := map[string]string{"clamd": clamd.addr, "dns": dns.Addr, "redis": redis.URL("")}
	for _, r := range aloneRules(t, func(s string) string { return addrs[s] }) {
		for _, mode := range []string{"", "dry_run = true"} {
			t.Run(strings.TrimSpace(r.rule+" "+strings.ReplaceAll(r.table, "\n", " ")+" "+mode), func(t *testing.T) {
				var logs bytes.Buffer
				e, _ := aloneEngine(t, r, mode, false, &logs)
				// With the rule that judges what could not be read, which a
				// rule that reads the inspection brings along.
				if got := e.Rules(); !slices.Contains(got, r.rule) || len(got) > 2 || len(got) == 2 && !slices.Contains(got, "uninspectable") {
					t.Fatalf("rules %q", got)
				}
				for _, mail := range aloneClean(t) {
					if v := aloneSend(t, e, mail); v.Action != policy.Continue || v.Rule != "" {
						t.Errorf("ordinary mail from %s: %s %s %q", mail.sender, v.Rule, v.Action, v.Reason)
					}
				}
				if r.bad.raw == nil {
					aloneFailed(t, r.rule+" alone", &logs)
					t.Logf("%s refuses no mail here: give it a table and the mail it is for in aloneRules", r.rule)
					return
				}
				var v policy.Verdict
				for range max(r.times, 1) {
					v = aloneSend(t, e, r.bad)
				}
				switch {
				case mode != "":
					if v.Action.Final() {
						t.Errorf("dry run: %s %s %q", v.Rule, v.Action, v.Reason)
					}
					if !strings.Contains(logs.String(), "rule="+r.rule) {
						t.Errorf("dry run: no decision of %s logged:\n%s", r.rule, logs.String())
					}
				case v.Rule != r.rule || !v.Action.Final() && v.Action != policy.Quarantine:
					t.Errorf("its mail: %s %s %q, want refused by %s", v.Rule, v.Action, v.Reason, r.rule)
				}
				aloneFailed(t, r.rule+" alone", &logs)
			})
		}
	}
}

// TestEachRuleAloneOffline runs every rule alone as `sekisho scan` runs
// without the network, with every server it could ask gone: a rule that
// asks a server and does not declare Network fails, where the offline
// run would have left it out.
func TestEachRuleAloneOffline(t *testing.T) {
	gone := map[string]string{}
	for _, s := range []string{"clamd", "dns", "redis"} {
		ln, err := net.Listen("tcp", "127.0.0.1:0")
		if err != nil {
			t.Fatal(err)
		}
		gone[s] = ln.Addr().String()
		if s == "redis" {
			gone[s] = "redis://" + gone[s]
		}
		ln.Close()
	}
	for _, r := range aloneRules(t, func(s string) string { return gone[s] }) {
		t.Run(strings.TrimSpace(r.rule+" "+strings.ReplaceAll(r.table, "\n", " ")), func(t *testing.T) {
			var logs bytes.Buffer
			e, off := aloneEngine(t, r, "", true, &logs)
			if slices.Contains(off, r.rule) {
				if slices.Contains(e.Rules(), r.rule) {
					t.Errorf("%s is left out and still runs", r.rule)
				}
				// Only a rule whose table names a server is left out:
				// one that declares Network without asking any would
				// be skipped by sekisho scan for nothing.
				if !slices.ContainsFunc(slices.Collect(maps.Values(gone)), func(a string) bool { return strings.Contains(r.table, a) }) {
					t.Errorf("%s is left out offline, but its table names no server:\n%s", r.rule, r.table)
				}
				return
			}
			for _, mail := range aloneClean(t) {
				if v := aloneSend(t, e, mail); v.Action != policy.Continue {
					t.Errorf("offline, mail from %s: %s %s %q", mail.sender, v.Rule, v.Action, v.Reason)
				}
			}
			if r.bad.raw != nil {
				aloneSend(t, e, r.bad)
			}
			aloneFailed(t, r.rule+" offline", &logs)
		})
	}
}
