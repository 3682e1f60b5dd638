package policy_test

import (
	"bytes"
	"context"
	"strings"
	"testing"

	"github.com/sekisho/sekisho/policy"
)

// uninspectableReply is the rule's default reply.
const uninspectableReply = "554 5.6.0 Message content could not be checked"

func TestUninspectableClasses(t *testing.T) {
	const limitFile = "deep-nesting.eml"     // a limit exceeded
	const archiveFile = "rar-attachment.eml" // an archive not looked into
	const structFile = "message-partial.eml" // an ambiguous structure
	const cleanFile = "iso2022jp.eml"        // read completely
	const encrypted = "encrypted-zip.eml"    // judged by attachment_extension
	tests := []struct {
		name, cfg, file string
		action          policy.Action // Continue: accepted
		reply           string
	}{
		{"default refuses a limit", "", limitFile, policy.Reject, "554 5.6.0 Message content could not be checked"},
		{"default refuses an archive", "", archiveFile, policy.Reject, "554 5.6.0 Message content could not be checked"},
		{"default refuses a structure", "", structFile, policy.Reject, "554 5.6.0 Message content could not be checked"},
		{"clean", "", cleanFile, policy.Continue, ""},
		{"encrypted is not this rule's", "", encrypted, policy.Continue, ""},
		{"class to tempfail gets a 4xx reply", `archive = "tempfail"`, archiveFile, policy.Tempfail, "451 4.6.0 Message content could not be checked"},
		{"class accepted", `archive = "accept"`, archiveFile, policy.Continue, ""},
		{"other classes keep the rule's action", `archive = "accept"`, limitFile, policy.Reject, "554 5.6.0 Message content could not be checked"},
		{"class quarantined", `limit = "quarantine"`, limitFile, policy.Quarantine, ""},
		{"rule action tempfail", "action = \"tempfail\"\nreply = \"451 4.3.0 Try again\"", structFile, policy.Tempfail, "451 4.3.0 Try again"},
		{"reject class under a tempfail rule", "action = \"tempfail\"\nreply = \"451 4.3.0 Try again\"\nstructure = \"reject\"", structFile, policy.Reject, "554 5.6.0 Message content could not be checked"},
		{"own reply", `reply = "550 5.7.0 Cannot check this message"`, limitFile, policy.Reject, "550 5.7.0 Cannot check this message"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			e := newEngine(t, "[rules.attachment_extension]\nencrypted = \"accept\"\ndeny = [\"scr\"]\n\n[rules.uninspectable]\n"+tt.cfg+"\n", nil)
			v := e.Run(context.Background(), policy.StageEOB, fileMessage(t, tt.file))
			if tt.action == policy.Continue {
				expectContinue(t, v)
				return
			}
			if v.Rule != "uninspectable" || v.Action != tt.action {
				t.Fatalf("verdict = %s %s (%s), want uninspectable %s", v.Rule, v.Action, v.Reason, tt.action)
			}
			if tt.reply != "" && v.Reply.String() != tt.reply {
				t.Errorf("reply = %q, want %q", v.Reply, tt.reply)
			}
			if !strings.HasPrefix(v.Reason, "not inspected completely: ") {
				t.Errorf("reason = %q", v.Reason)
			}
		})
	}
}

func TestUninspectableSeverity(t *testing.T) {
	// A message with an archive gap (tagged) and a structure gap (refused):
	// the outcome that keeps the mail out wins, whatever the order.
	raw := []byte("Subject: two gaps\r\nContent-Type: multipart/mixed; boundary=b\r\n\r\n" +
		"--b\r\nContent-Type: application/x-rar; name=a.rar\r\n\r\nRar!\x1a\x07\x01\x00xxxx\r\n" +
		"--b\r\nContent-Type: message/partial; id=x; number=1; total=2\r\n\r\nSubject: x\r\n\r\ny\r\n--b--\r\n")
	for _, cfg := range []string{"archive = \"tag\"\nstructure = \"reject\"\n", "structure = \"reject\"\narchive = \"tag\"\n"} {
		e := newEngine(t, "[rules.uninspectable]\n"+cfg+"\n[rules.blank]\n", nil)
		v := e.Run(context.Background(), policy.StageEOB, rawMessage(t, raw))
		expect(t, v, "uninspectable", policy.Reject, "554 5.6.0 Message content could not be checked", "structure: part 2: message/partial")
		if strings.Contains(v.Reason, "archive:") {
			t.Errorf("reason %q names the gap whose outcome lost", v.Reason)
		}
	}
	e := newEngine(t, "[rules.uninspectable]\narchive = \"tag\"\nstructure = \"log\"\n", nil)
	m := rawMessage(t, raw)
	expectContinue(t, e.Run(context.Background(), policy.StageEOB, m))
	if a := m.Annotations(); len(a) != 1 || a[0].Rule != "uninspectable" || a[0].Action != policy.Tag || !strings.Contains(a[0].Reason, `"a.rar": corrupt`) {
		t.Errorf("annotations = %+v, want one tag by uninspectable", a)
	}
}

func TestUninspectableImplicit(t *testing.T) {
	for _, tt := range []struct {
		cfg  string
		want []string
	}{
		{"[rules.attachment_size]\n", []string{"uninspectable", "attachment_size"}},
		{"[rules.blank]\nbody = false\n", []string{"blank"}},
		{"[rules.send_only]\naddresses = [\"noreply@*\"]\n", []string{"send_only"}},
		{"[rules.attachment_size]\n\n[rules.uninspectable]\nenabled = false\n", []string{"attachment_size"}},
		{"[rules.ascii_only]\n\n[rules.mime_limits]\n", []string{"uninspectable", "ascii_only"}},
	} {
		e := newEngine(t, tt.cfg, nil)
		if got := e.Rules(); strings.Join(got, " ") != strings.Join(tt.want, " ") {
			t.Errorf("config\n%s: rules = %v, want %v", tt.cfg, got, tt.want)
		}
	}
	// Without a table of its own, a deeply nested message is still refused.
	v := newEngine(t, "[rules.attachment_extension]\n", nil).Run(context.Background(), policy.StageEOB, fileMessage(t, "deep-nesting.eml"))
	expect(t, v, "uninspectable", policy.Reject, "554 5.6.0 Message content could not be checked")
}

// TestAcceptNamesGaps proves that nothing is accepted silently: the accept
// line of a message with a gap names it.
func TestAcceptNamesGaps(t *testing.T) {
	var log bytes.Buffer
	e := newEngine(t, "[rules.attachment_extension]\ndeny = [\"scr\"]\n\n[rules.uninspectable]\narchive = \"accept\"\n", logEnv(&log))
	expectContinue(t, e.Run(context.Background(), policy.StageEOB, fileMessage(t, "rar-attachment.eml")))
	if !strings.Contains(log.String(), "msg=accept") || !strings.Contains(log.String(), `uninspected="archive: part 2: attachment \"docs.rar\": corrupt: rardecode: bad header crc"`) {
		t.Errorf("log:\n%s", log.String())
	}
	log.Reset()
	expectContinue(t, e.Run(context.Background(), policy.StageEOB, fileMessage(t, "iso2022jp.eml")))
	if strings.Contains(log.String(), "uninspected") {
		t.Errorf("log of a message read completely:\n%s", log.String())
	}
}
