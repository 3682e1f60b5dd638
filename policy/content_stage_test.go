package policy_test

import (
	"context"
	"encoding/base64"
	"strings"
	"testing"

	"github.com/sekisho/sekisho/policy"
)

// contentConfig enables every content rule with its defaults, in the
// order in which a file usually lists them: what an attachment is first,
// then the structure, then the text.
const contentConfig = `
[rules.attachment_extension]
[rules.attachment_no_extension]
[rules.attachment_size]
[rules.uninspectable]
[rules.blank]
[rules.ascii_only]
`

func TestContentRulesOnCraftedMessages(t *testing.T) {
	tests := []struct {
		file    string
		rule    string // at end of body; "" when the message passes every rule
		reason  string // part of the reason
		subject bool   // the subject is Japanese: ascii_only lets it pass at end of headers
	}{
		// An .exe named by an unquoted ISO-2022-JP encoded word is judged
		// by its decoded name.
		{"exe-unquoted-encoded-word.eml", "attachment_extension", `attachment "請求書.exe" (part 2) denied extension exe`, false},
		{"double-extension.eml", "attachment_extension", `attachment "invoice.pdf.exe" (part 2) denied extension exe`, false},
		{"trailing-dot.eml", "attachment_extension", `attachment "evil.exe. " (part 2) denied extension exe`, false},
		{"rlo-trick.eml", "attachment_extension", `attachment "invoice_\u202efdp.exe" (part 2) denied extension exe`, false},
		{"raw-sjis-filename.eml", "attachment_extension", `attachment "表計算ソフト.exe" (part 2) denied extension exe`, false},
		{"rfc2231-sjis-continuations.eml", "attachment_extension", `attachment "ソフトウェア表更新プログラム.exe" (part 2) denied extension exe`, false},
		{"pe-named-pdf.eml", "attachment_extension", `attachment "document.pdf" (part 2) is an executable (pe)`, false},
		{"elf-macho-class.eml", "attachment_extension", `attachment "tool" (part 2) is an executable (elf)`, false},
		{"zip-with-exe.eml", "attachment_extension", `"docs.zip" (part 2) > "bin/setup.exe" denied extension exe`, false},
		// Every archive level the limits allow is read.
		{"nested-zip.eml", "attachment_extension", `attachment "outer.dat" (part 2) > "inner.zip" > "deeper.zip" > "deepest.zip" > "payload.exe" denied extension exe`, false},
		// The names in an encrypted zip are readable, and one is an .exe.
		{"encrypted-zip.eml", "attachment_extension", `"secret.zip" (part 2) > "invoice.exe" denied extension exe`, false},
		{"rfc822-with-exe.eml", "attachment_extension", `attachment "payload.exe" (part 2.2) denied extension exe`, false},
		{"missing-closing-boundary.eml", "attachment_extension", `attachment "cut.exe" (part 2) denied extension exe`, false},
		{"no-extension.eml", "attachment_no_extension", `"README" (part 2) has no file extension`, false},
		{"deep-nesting.eml", "uninspectable", "not inspected completely: limit: part 1.1.1.1.1.1.1.1.1.1.1.1.1.1.1.1.1.1.1.1.1: nesting depth exceeds 20", false},
		{"attachment-only.eml", "blank", "blank body", false},
		{"blank-ideographic-space.eml", "blank", "blank body", false},
		{"plain-ascii.eml", "ascii_only", `body text has only ASCII characters: "Hello, The report is ready."`, false},
		{"name-only.eml", "ascii_only", `body text has only ASCII characters: "See attached."`, false},
		// A zip that cannot be read is not judged clean.
		{"corrupt-zip.eml", "uninspectable", `archive: part 2: attachment "broken.zip": corrupt`, false},
		// Shapes a strict parser stops at, read as mail clients show them.
		{"header-no-colon.eml", "attachment_extension", `attachment "setup.exe" (part 3) denied extension exe`, false},
		{"repeated-boundary.eml", "attachment_extension", `attachment "setup.exe" (part 2) denied extension exe`, false},
		{"rfc822-mbox-from.eml", "attachment_extension", `attachment "payload.exe" (part 2.2) denied extension exe`, false},
		{"digest-default-rfc822.eml", "attachment_extension", `attachment "payload.exe" (part 1.2) denied extension exe`, false},
		{"long-boundary.eml", "attachment_extension", `attachment "setup.exe" (part 2) denied extension exe`, false},
		{"boundary-prefix.eml", "attachment_extension", `attachment "setup.exe" (part 2) denied extension exe`, false},
		{"part-after-close.eml", "attachment_extension", `attachment "setup.exe" (part 2) denied extension exe`, false},
		{"uuencode-inline.eml", "attachment_extension", `attachment "setup.exe" (part 1) denied extension exe`, false},
		{"yenc-inline.eml", "attachment_extension", `attachment "setup.exe" (part 1) denied extension exe`, false},
		{"cte-uuencode.eml", "attachment_extension", `attachment "tool.bin" (part 2) is an executable (pe)`, false},
		// Japanese text in quoted-printable with raw ESC bytes is Japanese.
		{"qp-raw-esc.eml", "", "", false},
		// What cannot be read completely is refused as such.
		{"zip-too-deep.eml", "uninspectable", "too deep: archive nesting exceeds 10", false},
		{"zip-big-inner.eml", "uninspectable", `"outer.zip" > "big.zip": too big`, false},
		{"zip-corrupt-directory.eml", "uninspectable", `"broken.zip": corrupt`, false},
		{"exe-beside-zip-bomb.eml", "uninspectable", `"docs.zip" > "bomb.zip": too big`, false},
		{"rar-attachment.eml", "uninspectable", `"docs.rar": corrupt: rardecode: bad header crc`, false},
		{"zip-named-not-zip.eml", "uninspectable", `"docs.zip": named or typed as a zip archive`, false},
		{"tnef-winmail.eml", "uninspectable", `"winmail.dat": corrupt: attribute 0x0000 of level 0`, false},
		{"message-partial.eml", "uninspectable", "structure: part 1: message/partial fragment", false},
		{"multipart-no-delimiter.eml", "uninspectable", `structure: multipart/mixed without a single delimiter`, false},
		// Header values read as Thunderbird reads them, and every other
		// reading of ambiguous ones.
		{"cte-first-token.eml", "attachment_extension", `attachment "invoice.pdf" (part 2) is an executable (pe)`, false},
		{"cte-second-value.eml", "attachment_extension", `attachment "invoice.pdf" (part 2, reading transfer encoding "base64") is an executable (pe)`, false},
		{"base64-padding-inside.eml", "attachment_extension", `attachment "invoice.pdf" (part 2) is an executable (pe)`, false},
		{"boundary-two-readings.eml", "attachment_extension", `attachment "setup.exe" (part 1) denied extension exe`, false},
		{"boundary-rfc2231-and-plain.eml", "attachment_extension", `attachment "setup.exe" (part 1) denied extension exe`, false},
		{"message-news.eml", "attachment_extension", `attachment "payload.exe" (part 2.2) denied extension exe`, false},
		{"type-after-question-mark.eml", "attachment_extension", `attachment "payload.exe" (part 2.2) denied extension exe`, false},
		{"octet-stream-eml.eml", "attachment_extension", `attachment "payload.exe" (part 2.2) denied extension exe`, false},
		{"eml-in-zip.eml", "attachment_extension", `attachment "payload.exe" (part 2[fwd.eml].2) denied extension exe`, false},
		{"name-headers.eml", "attachment_extension", `attachment "setup.exe" (part 2) denied extension exe`, false},
		{"filename-readings.eml", "attachment_extension", `attachment "invoice.pdf" (part 2), also read as "setup.exe", denied extension exe`, false},
		// An inline image of multipart/related needs no name; an executable
		// there is still one.
		{"related-inline-image.eml", "attachment_extension", `unnamed attachment (part 3, application/octet-stream) is an executable (pe)`, false},
		{"ebcdic-label.eml", "ascii_only", `body text has only ASCII characters: "Please find the invoice attached."`, false},
		{"iso2022jp.eml", "", "", true},
		{"iso2022jp-split-word.eml", "", "", true},
		{"unlabelled-iso2022jp.eml", "", "", false},
		{"sjis-base64.eml", "", "", true},
		{"unlabelled-raw-sjis-subject.eml", "", "", true},
		{"cp932-label.eml", "", "", false},
		{"eucjp-qp.eml", "", "", true},
		{"html-utf8-entities.eml", "", "", true},
		{"lf-only-alternative.eml", "", "", false},
		{"unknown-charset.eml", "", "", true},
	}
	// The rules' default replies (in their test files); those ending in
	// ": " go on with the file's name (see TestReplyPlaceholders).
	replies := map[string]string{
		"attachment_extension":    extReply,
		"attachment_no_extension": noExtReply,
		"uninspectable":           uninspectableReply,
		"blank":                   blankBodyReply,
		"ascii_only":              asciiBodyReply,
	}
	e := newEngine(t, contentConfig, nil)
	for _, tt := range tests {
		t.Run(tt.file, func(t *testing.T) {
			// At end of headers only the subject is judged, before the
			// body is read.
			m := fileMessage(t, tt.file)
			raw := m.Raw
			m.Raw = nil
			v := e.Run(context.Background(), policy.StageEOH, m)
			if tt.subject {
				expectContinue(t, v)
			} else {
				expect(t, v, "ascii_only", policy.Reject, asciiSubjectReply, "has only ASCII characters")
			}
			if m.Inspection != nil {
				t.Error("the body was inspected at end of headers")
			}

			m = fileMessage(t, tt.file)
			m.Raw = raw
			v = e.Run(context.Background(), policy.StageEOB, m)
			if tt.rule == "" {
				expectContinue(t, v)
			} else {
				want := replies[tt.rule]
				if got := v.Reply.String(); strings.HasSuffix(want, ": ") && strings.HasPrefix(got, want) {
					want = got // and the file's name
				}
				expect(t, v, tt.rule, policy.Reject, want, tt.reason)
			}
			if v.Stage != policy.StageEOB {
				t.Errorf("verdict stage = %s, want eob", v.Stage)
			}
			if len(m.Annotations()) != 0 {
				t.Errorf("annotations = %v, want none", m.Annotations())
			}
		})
	}
}

func TestSubjectAtEndOfHeaders(t *testing.T) {
	ideographic := "=?UTF-8?B?" + base64.StdEncoding.EncodeToString([]byte("\u3000\u3000\u3000")) + "?="
	tests := []struct {
		name    string
		headers []policy.Header
		rule    string // "" when accepted
		reply   string
		reason  string
	}{
		{"ascii subject", []policy.Header{{Name: "Subject", Value: "Cheap watches, best prices"}},
			"ascii_only", asciiSubjectReply, `subject "Cheap watches, best prices" has only ASCII characters`},
		{"ascii encoded word", []policy.Header{{Name: "Subject", Value: "=?UTF-8?B?" + base64.StdEncoding.EncodeToString([]byte("Your invoice")) + "?="}},
			"ascii_only", asciiSubjectReply, `subject "Your invoice"`},
		{"japanese subject", []policy.Header{{Name: "Subject", Value: "" /* set below */}}, "", "", ""},
		{"no subject", nil, "blank", blankSubjectReply, "no Subject header"},
		{"empty subject", []policy.Header{{Name: "Subject", Value: ""}}, "blank", blankSubjectReply, "blank subject"},
		{"ideographic spaces", []policy.Header{{Name: "Subject", Value: ideographic}}, "blank", blankSubjectReply, "blank subject"},
		{"ideographic spaces in ISO-2022-JP", []policy.Header{{Name: "Subject", Value: "" /* set below */}}, "blank", blankSubjectReply, "blank subject"},
	}
	tests[2].headers[0].Value = jisWord(t, "見積書の送付について（ご確認）")
	tests[6].headers[0].Value = jisWord(t, "\u3000\u3000")
	e := newEngine(t, contentConfig, nil)
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			m := headerMessage(tt.headers...)
			v := e.Run(context.Background(), policy.StageEOH, m)
			if tt.rule == "" {
				expectContinue(t, v)
			} else {
				expect(t, v, tt.rule, policy.Reject, tt.reply, tt.reason)
			}
			if v.Stage != policy.StageEOH {
				t.Errorf("verdict stage = %s, want eoh", v.Stage)
			}
			if m.Inspection != nil {
				t.Error("the body was inspected at end of headers")
			}
		})
	}
}

func TestJapaneseMailWithPDFPasses(t *testing.T) {
	raw := multipartMail(jisWord(t, "見積書の送付について"), japaneseText,
		attachment{"application/pdf", "見積書.pdf", pdfHead})
	e := newEngine(t, contentConfig, nil)
	m := rawMessage(t, raw)
	for _, stage := range []policy.Stage{policy.StageEOH, policy.StageEOB} {
		expectContinue(t, e.Run(context.Background(), stage, m))
	}
	if len(m.Annotations()) != 0 {
		t.Errorf("annotations = %v, want none", m.Annotations())
	}
	if m.Inspection == nil || len(m.Inspection.Attachments) != 1 || m.Inspection.Attachments[0].Filename != "見積書.pdf" {
		t.Errorf("inspection = %+v, want one attachment 見積書.pdf", m.Inspection)
	}
}

func TestSubjectPartOff(t *testing.T) {
	e := newEngine(t, "[rules.ascii_only]\nsubject = false\n\n[rules.blank]\nsubject = false\n", nil)
	if e.Needs(policy.StageEOH) {
		t.Error("Needs(eoh) with both subject checks off")
	}
	for _, h := range [][]policy.Header{
		{{Name: "Subject", Value: "Cheap watches, best prices"}},
		nil,
		{{Name: "Subject", Value: "   "}},
	} {
		expectContinue(t, e.Run(context.Background(), policy.StageEOH, headerMessage(h...)))
	}
	// The body parts are still on.
	expect(t, e.Run(context.Background(), policy.StageEOB, fileMessage(t, "plain-ascii.eml")),
		"ascii_only", policy.Reject, asciiBodyReply)
	expect(t, e.Run(context.Background(), policy.StageEOB, fileMessage(t, "attachment-only.eml")),
		"blank", policy.Reject, blankBodyReply)
}

func TestContentRuleOrderIsTableOrder(t *testing.T) {
	// double-extension.eml has an ASCII body and an .exe: both rules match.
	// deep-nesting.eml is blank and beyond a limit: uninspectable comes
	// before the rules that judge the inspection, whatever the order, and
	// under its former name too.
	tests := []struct {
		cfg, file, rule string
	}{
		{"[rules.ascii_only]\n[rules.attachment_extension]\n", "double-extension.eml", "ascii_only"},
		{"[rules.attachment_extension]\n[rules.ascii_only]\n", "double-extension.eml", "attachment_extension"},
		{"[rules.blank]\n[rules.uninspectable]\n", "deep-nesting.eml", "uninspectable"},
		{"[rules.uninspectable]\n[rules.blank]\n", "deep-nesting.eml", "uninspectable"},
		{"[rules.blank]\n[rules.mime_limits]\n", "deep-nesting.eml", "uninspectable"},
		{"[rules.blank]\n", "deep-nesting.eml", "uninspectable"},
		{"[rules.blank]\n[rules.uninspectable]\nenabled = false\n", "deep-nesting.eml", "blank"},
	}
	for _, tt := range tests {
		e := newEngine(t, tt.cfg, nil)
		v := e.Run(context.Background(), policy.StageEOB, fileMessage(t, tt.file))
		if v.Rule != tt.rule {
			t.Errorf("config\n%s: rule %q decided, want %q", tt.cfg, v.Rule, tt.rule)
		}
	}
}

func TestContentRuleDryRun(t *testing.T) {
	e := newEngine(t, "[rules.attachment_extension]\ndry_run = true\n\n[rules.attachment_size]\n", nil)
	m := fileMessage(t, "double-extension.eml")
	expectContinue(t, e.Run(context.Background(), policy.StageEOB, m))
	a := m.Annotations()
	if len(a) != 1 {
		t.Fatalf("annotations = %v, want one", a)
	}
	if !a[0].DryRun || a[0].Action != policy.Reject || a[0].Rule != "attachment_extension" {
		t.Errorf("annotation = %+v, want a dry-run reject by attachment_extension", a[0])
	}
	want := `would-reject rule=attachment_extension reply="550 5.7.1 Attachment type not allowed: invoice.pdf.exe" reason=`
	if h := a[0].Header(); !strings.HasPrefix(h, want) || !strings.Contains(h, "invoice.pdf.exe") {
		t.Errorf("header = %q, want it to start with %q and name the file", h, want)
	}
}

func TestContentRulesNeedTheBody(t *testing.T) {
	e := newEngine(t, "[rules.attachment_extension]\n", nil)
	m := envelope()
	v := e.Run(context.Background(), policy.StageEOB, m)
	expect(t, v, "uninspectable", policy.Tempfail, "451 4.7.1 Temporary policy failure, try again later",
		"the message body is not available")
}
