package e2e_test

// Scenarios: sekisho behind Postfix and Sendmail, driven by swaks, checked
// on what the SMTP client sees, what is delivered and what sekisho logs.
// Scenarios run through eachMTA are asserted alike on both MTAs; the rest
// run behind Postfix only.

import (
	"bytes"
	"fmt"
	"os"
	"path/filepath"
	"regexp"
	"strings"
	"testing"
)

// sekishoConfig is a configuration in mode ("enforce" or "dry-run") with
// the given rule tables; startSekisho adds the listen line. Clients in
// 10.9.9.0/24 and authenticated clients are exempt, and so is mail to
// postmaster and abuse.
func sekishoConfig(mode string, rules ...string) string {
	return fmt.Sprintf(`mode = %q
on_error = "tempfail"

[log]
format = "text"
level = "debug"

[exempt]
networks = ["10.9.9.0/24"]
authenticated = true
senders = []
recipients = ["postmaster@*", "abuse@*"]

`, mode) + strings.Join(rules, "\n")
}

const ruleSendOnly = `[rules.send_only]
addresses = ["noreply@example.co.jp", "no-reply@*", "*-noreply@*"]
action = "reject"
reply = "550 5.1.1 User unknown"
`

const ruleRecipientLimit = `[rules.recipient_limit]
max = 9
count_headers = true
action = "reject"
reply = "550 5.5.3 Too many recipients"
`

const rulesContent = `[rules.attachment_size]
max = "3MB"
reply = "552 5.3.4 Message size exceeds fixed maximum message size"

[rules.attachment_extension]
deny = ["exe", "scr"]
executables = true
archives = true

[rules.attachment_no_extension]

[rules.ascii_only]
subject = true
body = true

[rules.blank]
subject = true
body = true
`

func ruleDNSBL(resolver string) string {
	return fmt.Sprintf(`[rules.dnsbl]
zones = [ { zone = "bl.test", weight = 1 }, { zone = "refuse.test", weight = 1 } ]
threshold = 1
resolver = %q
timeout = "2s"
action = "reject"
reply = "554 5.7.1 Service unavailable; client [{client_ip}] blocked using {zones}"
`, resolver)
}

func ruleVirus(clamd string) string {
	return fmt.Sprintf(`[rules.virus]
address = %q
timeout = "10s"
on_error = "tempfail"
action = "reject"
reply = "554 5.7.1 Virus found: {virus}"
`, "inet:"+clamd)
}

func ruleRateLimit(store string) string {
	return fmt.Sprintf(`[rules.rate_limit]
key = "sender+recipient"
limit = 3
window = "10m"
store = %q
action = "tempfail"
reply = "450 4.7.1 Too many messages to <{rcpt}>, try again later"
`, store)
}

// refusedWith matches swaks's line for a refused command: "<** 550 ...".
func refusedWith(code string) *regexp.Regexp {
	return regexp.MustCompile(`(?m)^<\*\* ` + code)
}

// mustRefuse fails unless swaks's output has a refusal matching code
// (a regexp such as "5\d\d" or a literal reply).
func mustRefuse(t testing.TB, out, code string) {
	t.Helper()
	if !refusedWith(code).MatchString(out) {
		t.Fatalf("no refusal %q in swaks output:\n%s", code, out)
	}
}

// setup starts sekisho with config and a Postfix instance using it.
func setup(t *testing.T, config string) (*sekishoProc, *postfix) {
	t.Helper()
	s := startSekisho(t, config)
	return s, startPostfix(t, s.Milter, postfixOptions{})
}

// mta is what a shared scenario needs of an MTA harness: sending, checking
// delivery, and the MTA's own form of the replies it relays.
type mta interface {
	swaks(t testing.TB, args ...string) (int, string)
	mustSwaks(t testing.TB, want int, args ...string) string
	waitDelivered(t testing.TB, tok string, n int) []delivered
	notDelivered(t testing.TB, tok string)
	// deliveredAs is the Rcpt of a message delivered to addr.
	deliveredAs(addr string) string
	// rcptRefusal matches, for mustRefuse, the refusal of rcpt with a
	// milter's reply code and text.
	rcptRefusal(code, rcpt, text string) string
	// milterDown matches, for mustRefuse, the reply to MAIL while the
	// milter cannot be reached.
	milterDown() string
}

// mtaHarnesses start each MTA with milter as its only milter.
var mtaHarnesses = []struct {
	name  string
	start func(t testing.TB, milter string) mta
}{
	{"postfix", func(t testing.TB, milter string) mta { return startPostfix(t, milter, postfixOptions{}) }},
	{"sendmail", func(t testing.TB, milter string) mta { return startSendmail(t, milter) }},
}

// eachMTA runs f as a parallel subtest per MTA, each with its own sekisho
// started with config: one scenario, asserted alike on every MTA.
func eachMTA(t *testing.T, config string, f func(t *testing.T, s *sekishoProc, m mta)) {
	t.Helper()
	for _, h := range mtaHarnesses {
		t.Run(h.name, func(t *testing.T) {
			t.Parallel()
			s := startSekisho(t, config)
			f(t, s, h.start(t, s.Milter))
		})
	}
}

func TestE2ESendOnly(t *testing.T) {
	t.Parallel()
	eachMTA(t, sekishoConfig("enforce", ruleSendOnly), func(t *testing.T, s *sekishoProc, m mta) {
		for _, rcpt := range []string{"noreply@example.co.jp", "no-reply@example.com", "shop-noreply@example.net"} {
			tok := token(t)
			out := m.mustSwaks(t, 24, "--from", "sender@example.org", "--to", rcpt, "--header", "X-E2E-Token: "+tok)
			mustRefuse(t, out, m.rcptRefusal("550 5.1.1", rcpt, "User unknown"))
			m.notDelivered(t, tok)
		}
		s.waitLog(t, "msg=decision", "rule=send_only", "action=reject")

		// One refused recipient does not cost the others the message.
		tok := token(t)
		out := m.mustSwaks(t, 0, "--from", "sender@example.org",
			"--to", "noreply@example.co.jp,user@example.co.jp", "--header", "X-E2E-Token: "+tok)
		mustRefuse(t, out, m.rcptRefusal("550 5.1.1", "noreply@example.co.jp", "User unknown"))
		if got, want := deliveredTo(m.waitDelivered(t, tok, 1)), m.deliveredAs("user@example.co.jp"); got[0] != want {
			t.Errorf("delivered to %v, want %s only", got, want)
		}

		// noreply as the sender is fine: send_only is about recipients.
		tok = token(t)
		m.mustSwaks(t, 0, "--from", "noreply@example.co.jp", "--to", "user@example.co.jp", "--header", "X-E2E-Token: "+tok)
		m.waitDelivered(t, tok, 1)
	})
}

func TestE2ERecipientLimit(t *testing.T) {
	t.Parallel()
	rcpts := func(n int) string {
		var r []string
		for i := 1; i <= n; i++ {
			r = append(r, fmt.Sprintf("a%d@example.co.jp", i))
		}
		return strings.Join(r, ",")
	}
	eachMTA(t, sekishoConfig("enforce", ruleRecipientLimit), func(t *testing.T, s *sekishoProc, m mta) {
		// The tenth recipient is refused, and the message for the nine
		// others at end of headers.
		tok := token(t)
		out := m.mustSwaks(t, 26, "--from", "sender@example.org", "--to", rcpts(10), "--header", "X-E2E-Token: "+tok)
		mustRefuse(t, out, m.rcptRefusal("550 5.5.3", "a10@example.co.jp", "Too many recipients"))
		mustRefuse(t, out, regexp.QuoteMeta("550 5.5.3 Too many recipients"))
		m.notDelivered(t, tok)

		tok = token(t)
		m.mustSwaks(t, 0, "--from", "sender@example.org", "--to", rcpts(9), "--header", "X-E2E-Token: "+tok)
		if got := m.waitDelivered(t, tok, 9); len(got) != 9 {
			t.Errorf("delivered to %v", deliveredTo(got))
		}
	})
}

func TestE2EExempt(t *testing.T) {
	t.Parallel()
	_, pf := setup(t, sekishoConfig("enforce", ruleSendOnly))

	// XCLIENT (Postfix's smtpd_authorized_xclient_hosts) sets the client
	// address and {auth_authen} that sekisho sees.
	for _, xclient := range []string{"ADDR=10.9.9.5", "LOGIN=user", "ADDR=192.0.2.1 LOGIN=user"} {
		tok := token(t)
		pf.mustSwaks(t, 0, "--xclient", xclient, "--from", "sender@example.org",
			"--to", "noreply@example.co.jp", "--header", "X-E2E-Token: "+tok)
		pf.waitDelivered(t, tok, 1)
	}

	tok := token(t)
	out := pf.mustSwaks(t, 24, "--xclient", "ADDR=10.9.10.5", "--from", "sender@example.org",
		"--to", "noreply@example.co.jp", "--header", "X-E2E-Token: "+tok)
	mustRefuse(t, out, regexp.QuoteMeta("550 5.1.1 User unknown"))
	pf.notDelivered(t, tok)
}

func TestE2EDryRun(t *testing.T) {
	t.Parallel()
	for name, config := range map[string]string{
		"mode": sekishoConfig("dry-run", ruleSendOnly),
		"rule": sekishoConfig("enforce", strings.Replace(ruleSendOnly, "action =", "dry_run = true\naction =", 1)),
	} {
		t.Run(name, func(t *testing.T) {
			t.Parallel()
			s, pf := setup(t, config)
			tok := token(t)
			pf.mustSwaks(t, 0, "--from", "sender@example.org", "--to", "noreply@example.co.jp",
				"--header", "X-E2E-Token: "+tok)
			msg := pf.waitDelivered(t, tok, 1)[0].Data
			if !containsAll(msg, "X-Sekisho: would-reject rule=send_only") {
				t.Errorf("no X-Sekisho header in delivered message:\n%s", msg)
			}
			s.waitLog(t, "msg=decision", "rule=send_only")
		})
	}
}

func TestE2ESekishoStopped(t *testing.T) {
	t.Parallel()
	eachMTA(t, sekishoConfig("enforce", ruleSendOnly), func(t *testing.T, s *sekishoProc, m mta) {
		tok := token(t)
		m.mustSwaks(t, 0, "--from", "sender@example.org", "--to", "user@example.co.jp", "--header", "X-E2E-Token: "+tok)
		m.waitDelivered(t, tok, 1)

		s.Stop()
		tok = token(t)
		out := m.mustSwaks(t, 23, "--from", "sender@example.org", "--to", "user@example.co.jp", "--header", "X-E2E-Token: "+tok)
		mustRefuse(t, out, m.milterDown())
		m.notDelivered(t, tok)
	})
}

func TestE2EContent(t *testing.T) {
	t.Parallel()
	eachMTA(t, sekishoConfig("enforce", rulesContent), func(t *testing.T, s *sekishoProc, m mta) {
		send := func(t *testing.T, msg []byte, want int) string {
			t.Helper()
			return m.mustSwaks(t, want, "--from", "sender@example.org", "--to", "user@example.co.jp",
				"--data", writeMessage(t, msg))
		}

		t.Run("japanese with pdf", func(t *testing.T) {
			tok := token(t)
			send(t, japaneseMessage(tok, pdfAttachment("見積書.pdf", 20000)), 0)
			msg := m.waitDelivered(t, tok, 1)[0].Data
			if !containsAll(msg, encodedWord(japaneseSubject), "application/pdf") {
				t.Errorf("delivered message:\n%s", msg)
			}
		})
		t.Run("exe with unquoted encoded-word name", func(t *testing.T) {
			tok := token(t)
			out := send(t, japaneseMessage(tok, unquotedExeAttachment("請求書.exe")), 26)
			mustRefuse(t, out, `5\d\d `)
			m.notDelivered(t, tok)
			line := s.waitLog(t, "msg=decision", "rule=attachment_extension")
			if !strings.Contains(line, "stage=eob") {
				t.Errorf("attachment_extension decided before end of body: %s", line)
			}
		})
		t.Run("4MB attachment", func(t *testing.T) {
			tok := token(t)
			out := send(t, japaneseMessage(tok, pdfAttachment("図面.pdf", 4<<20)), 26)
			mustRefuse(t, out, regexp.QuoteMeta("552 5.3.4 Message size exceeds fixed maximum message size"))
			m.notDelivered(t, tok)
			s.waitLog(t, "msg=decision", "rule=attachment_size")
		})
		t.Run("ascii subject", func(t *testing.T) {
			// The subject alone decides, at end of headers: the body is
			// Japanese.
			tok := token(t)
			out := send(t, buildMessage(tok, "Invoice "+tok, japaneseBody), 26)
			mustRefuse(t, out, `5\d\d `)
			m.notDelivered(t, tok)
			line := s.waitLog(t, "msg=decision", "rule=ascii_only")
			if !strings.Contains(line, "stage=eoh") {
				t.Errorf("ascii_only decided after end of headers: %s", line)
			}
		})
		t.Run("blank subject", func(t *testing.T) {
			tok := token(t)
			out := send(t, buildMessage(tok, "", japaneseBody), 26)
			mustRefuse(t, out, `5\d\d `)
			m.notDelivered(t, tok)
			s.waitLog(t, "msg=decision", "rule=blank")
		})
	})
}

// mimeCase is a crafted message of testdata/mime in CRLF lines, with a
// token header and a Japanese subject so that only its content decides.
func mimeCase(t testing.TB, name, tok string) []byte {
	t.Helper()
	b, err := os.ReadFile(filepath.Join("..", "..", "..", "testdata", "mime", name+".eml"))
	if err != nil {
		t.Fatal(err)
	}
	msg := strings.ReplaceAll(string(b), "\r\n", "\n")
	msg = regexp.MustCompile(`(?m)^Subject: .*$`).ReplaceAllString(msg, "Subject: "+encodedWord("添付ファイル"))
	msg = strings.ReplaceAll("X-E2E-Token: "+tok+"\n"+msg, "\n", "\r\n")
	return []byte(msg)
}

// TestE2EHiddenParts sends, through Postfix, messages whose executable a
// strict MIME parser never sees, and messages that cannot be read
// completely: each is refused, with the reply of the rule that found it.
func TestE2EHiddenParts(t *testing.T) {
	t.Parallel()
	s, pf := setup(t, sekishoConfig("enforce", rulesContent))
	for _, c := range []struct {
		file, rule, reply string
	}{
		{"header-no-colon", "attachment_extension", "550 5.7.1 Attachment type not allowed"},
		{"boundary-prefix", "attachment_extension", "550 5.7.1 Attachment type not allowed"},
		{"zip-too-deep", "uninspectable", "554 5.6.0 Message content could not be checked"},
		{"zip-big-inner", "uninspectable", "554 5.6.0 Message content could not be checked"},
		{"zip-corrupt-directory", "uninspectable", "554 5.6.0 Message content could not be checked"},
	} {
		t.Run(c.file, func(t *testing.T) {
			tok := token(t)
			out := pf.mustSwaks(t, 26, "--from", "sender@example.org", "--to", "user@example.co.jp",
				"--data", writeMessage(t, mimeCase(t, c.file, tok)))
			mustRefuse(t, out, regexp.QuoteMeta(c.reply))
			pf.notDelivered(t, tok)
			s.waitLog(t, "msg=decision", "rule="+c.rule)
		})
	}
	// The same damaged structure around a harmless attachment is read and
	// delivered.
	t.Run("header-no-colon with a pdf", func(t *testing.T) {
		tok := token(t)
		msg := bytes.Replace(mimeCase(t, "header-no-colon", tok), []byte(`filename="setup.exe"`), []byte(`filename="setup.pdf"`), 1)
		msg = bytes.Replace(msg, []byte("TVo"), []byte("JVB"), 1) // "MZ" becomes "%PD"
		pf.mustSwaks(t, 0, "--from", "sender@example.org", "--to", "user@example.co.jp", "--data", writeMessage(t, msg))
		pf.waitDelivered(t, tok, 1)
	})
}

func TestE2EDNSBL(t *testing.T) {
	t.Parallel()
	dnsbl := sharedRbldnsd(t)
	const reply = "554 5.7.1 Service unavailable; client [127.0.0.2] blocked using bl.test"

	// By default the listing found at connect is answered at RCPT, with
	// the milter's text, which a sending MTA puts in its bounce.
	// Postfix 3.7 replays the milter connect event with the XCLIENT
	// address.
	t.Run("rcpt", func(t *testing.T) {
		t.Parallel()
		s, pf := setup(t, sekishoConfig("enforce", ruleDNSBL(dnsbl.Addr)))
		for name, args := range map[string][]string{
			"xclient":    {"--xclient", "ADDR=127.0.0.2"},
			"connection": {"--local-interface", "127.0.0.2"},
		} {
			tok := token(t)
			code, out := pf.swaks(t, append(args, "--from", "sender@example.org", "--to", "user@example.co.jp",
				"--header", "X-E2E-Token: "+tok)...)
			if code != 24 {
				t.Fatalf("%s: swaks exit %d, want 24 (no recipient accepted):\n%s", name, code, out)
			}
			mustRefuse(t, out, regexp.QuoteMeta(reply))
			pf.notDelivered(t, tok)
		}
		// postmaster is exempt: a listed sender can still reach it.
		tok := token(t)
		pf.mustSwaks(t, 0, "--xclient", "ADDR=127.0.0.2", "--from", "sender@example.org", "--to", "postmaster@example.co.jp",
			"--header", "X-E2E-Token: "+tok)
		pf.waitDelivered(t, tok, 1)
		s.waitLog(t, "msg=decision", "rule=dnsbl", "stage=rcpt")

		// 127.0.0.9 is not in bl.test; refuse.test's 127.255.255.254 answer
		// for it is an error, not a listing.
		tok = token(t)
		pf.mustSwaks(t, 0, "--xclient", "ADDR=127.0.0.9", "--from", "sender@example.org", "--to", "user@example.co.jp",
			"--header", "X-E2E-Token: "+tok)
		pf.waitDelivered(t, tok, 1)
	})

	// refuse_at = "connect": a milter reject at connect reaches the client
	// as "554 <myhostname> ESMTP not accepting connections" (the milter's
	// text only goes to the maillog).
	t.Run("connect", func(t *testing.T) {
		t.Parallel()
		s, pf := setup(t, sekishoConfig("enforce", ruleDNSBL(dnsbl.Addr)+"refuse_at = \"connect\"\n"))
		tok := token(t)
		code, out := pf.swaks(t, "--xclient", "ADDR=127.0.0.2", "--from", "sender@example.org", "--to", "user@example.co.jp",
			"--header", "X-E2E-Token: "+tok)
		if code == 0 || strings.Contains(out, reply) {
			t.Fatalf("listed client: swaks exit %d, want refused without the milter's text:\n%s", code, out)
		}
		mustRefuse(t, out, "554 ")
		pf.notDelivered(t, tok)
		pf.waitMaillog(t, "milter-reject", reply)
		s.waitLog(t, "msg=decision", "rule=dnsbl", "stage=connect")
	})
}

func TestE2EVirus(t *testing.T) {
	t.Parallel()
	clamd := sharedClamd(t)
	s, pf := setup(t, sekishoConfig("enforce", ruleVirus(clamd.Addr)))
	send := func(t *testing.T, msg []byte, want int) string {
		t.Helper()
		return pf.mustSwaks(t, want, "--from", "sender@example.org", "--to", "user@example.co.jp",
			"--data", writeMessage(t, msg))
	}
	zip, err := os.ReadFile(filepath.Join(clamTestDir, "clam.zip"))
	if err != nil {
		t.Fatal(err)
	}

	tok := token(t)
	out := send(t, eicarMessage(tok), 26)
	mustRefuse(t, out, regexp.QuoteMeta("554 5.7.1 Virus found: "+eicarSig))
	pf.notDelivered(t, tok)
	s.waitLog(t, "msg=decision", "rule=virus")

	tok = token(t)
	out = send(t, japaneseMessage(tok, fileAttachment("clam.zip", "application/zip", zip)), 26)
	mustRefuse(t, out, regexp.QuoteMeta("554 5.7.1 Virus found: "+clamExeSig))
	pf.notDelivered(t, tok)

	tok = token(t)
	send(t, japaneseMessage(tok, pdfAttachment("資料.pdf", 5000)), 0)
	pf.waitDelivered(t, tok, 1)
}

// TestE2EVirusDetection sends the test viruses through Postfix to the
// virus rule in each scan mode, against real clamd: as base64 attachments
// (EICAR, clam.exe, clam.zip) and EICAR in the text part. Parts mode
// sees the text part only with scan_text on.
func TestE2EVirusDetection(t *testing.T) {
	t.Parallel()
	clamd := sharedClamd(t)
	exe, err := os.ReadFile(clamTestExe)
	if err != nil {
		t.Fatal(err)
	}
	zip, err := os.ReadFile(filepath.Join(clamTestDir, "clam.zip"))
	if err != nil {
		t.Fatal(err)
	}
	msgs := []struct {
		name string
		msg  func(tok string) []byte
		sig  string
		text bool // the virus is in the text part
	}{
		{"eicar attachment", func(tok string) []byte {
			return japaneseMessage(tok, fileAttachment("data.bin", "application/octet-stream", []byte(eicar)))
		}, eicarSig, false},
		{"clam.exe attachment", func(tok string) []byte {
			return japaneseMessage(tok, fileAttachment("tool.dat", "application/octet-stream", exe))
		}, clamExeSig, false},
		{"clam.zip attachment", func(tok string) []byte {
			return japaneseMessage(tok, fileAttachment("clam.zip", "application/zip", zip))
		}, clamExeSig, false},
		{"eicar in the text", func(tok string) []byte {
			return buildMessage(tok, encodedWord(japaneseSubject), japaneseBody+"\n"+eicar+"\n")
		}, eicarSig, true},
	}
	for _, mode := range []string{`scan = "parts"`, `scan = "message"`, "scan = \"parts\"\nscan_text = true"} {
		t.Run(mode, func(t *testing.T) {
			t.Parallel()
			s, pf := setup(t, sekishoConfig("enforce", ruleVirus(clamd.Addr)+mode+"\n"))
			for _, m := range msgs {
				tok := token(t)
				missed := m.text && mode == `scan = "parts"`
				want := 26
				if missed {
					want = 0
				}
				out := pf.mustSwaks(t, want, "--from", "sender@example.org", "--to", "user@example.co.jp",
					"--data", writeMessage(t, m.msg(tok)))
				if missed {
					pf.waitDelivered(t, tok, 1)
					continue
				}
				mustRefuse(t, out, regexp.QuoteMeta("554 5.7.1 Virus found: "+m.sig))
				pf.notDelivered(t, tok)
			}
			s.waitLog(t, "msg=decision", "rule=virus")
		})
	}
}

func TestE2EVirusClamdDown(t *testing.T) {
	t.Parallel()
	clamd := startClamd(t)
	s, pf := setup(t, sekishoConfig("enforce", ruleVirus(clamd.Addr)))
	send := func(want int, msg []byte) string {
		t.Helper()
		return pf.mustSwaks(t, want, "--from", "sender@example.org", "--to", "user@example.co.jp",
			"--data", writeMessage(t, msg))
	}
	tok := token(t)
	send(0, japaneseMessage(tok, pdfAttachment("資料.pdf", 5000)))
	pf.waitDelivered(t, tok, 1)

	clamd.stop()
	// virus.on_error = tempfail: a message with an attachment to scan is
	// refused for now.
	tok = token(t)
	out := send(26, japaneseMessage(tok, pdfAttachment("資料.pdf", 6000)))
	mustRefuse(t, out, `4\d\d `)
	pf.notDelivered(t, tok)
	// Said once, at WARN.
	s.waitLog(t, "level=WARN", "clamd not answering", "address=inet:"+clamd.Addr)
	// The attachment clamd already judged clean under the signatures in
	// force needs no scan: its verdict is kept.
	tok = token(t)
	send(0, japaneseMessage(tok, pdfAttachment("資料.pdf", 5000)))
	pf.waitDelivered(t, tok, 1)
	// A message of body text alone gives parts mode nothing to send, so
	// it does not need clamd.
	tok = token(t)
	send(0, buildMessage(tok, encodedWord(japaneseSubject), japaneseBody+"\n"))
	pf.waitDelivered(t, tok, 1)
}

// sendUntilLimited sends three messages from sender to rcpt through the
// given instances in turn, then expects the fourth (through last) refused
// and a message to another recipient accepted.
func sendUntilLimited(t *testing.T, sender string, via []*postfix, last *postfix) {
	t.Helper()
	const rcpt = "bob@example.co.jp"
	for _, pf := range via {
		tok := token(t)
		pf.mustSwaks(t, 0, "--from", sender, "--to", rcpt, "--header", "X-E2E-Token: "+tok)
		pf.waitDelivered(t, tok, 1)
	}
	tok := token(t)
	out := last.mustSwaks(t, 24, "--from", sender, "--to", rcpt, "--header", "X-E2E-Token: "+tok)
	mustRefuse(t, out, regexp.QuoteMeta("450 4.7.1 Too many messages to <"+rcpt+">, try again later"))
	last.notDelivered(t, tok)

	tok = token(t)
	last.mustSwaks(t, 0, "--from", sender, "--to", "carol@example.co.jp", "--header", "X-E2E-Token: "+tok)
	last.waitDelivered(t, tok, 1)
}

func TestE2ERateLimit(t *testing.T) {
	t.Parallel()
	t.Run("memory", func(t *testing.T) {
		t.Parallel()
		_, pf := setup(t, sekishoConfig("enforce", ruleRateLimit("memory")))
		sendUntilLimited(t, "rl-"+token(t)+"@example.org", []*postfix{pf, pf, pf}, pf)
	})
	t.Run("redis", func(t *testing.T) {
		t.Parallel()
		redis := sharedRedis(t)
		_, pf := setup(t, sekishoConfig("enforce", ruleRateLimit("redis://"+redis.Addr+"/0")))
		sendUntilLimited(t, "rl-"+token(t)+"@example.org", []*postfix{pf, pf, pf}, pf)
	})
	t.Run("redis shared by two daemons", func(t *testing.T) {
		t.Parallel()
		redis := sharedRedis(t)
		config := sekishoConfig("enforce", ruleRateLimit("redis://"+redis.Addr+"/0"))
		_, a := setup(t, config)
		_, b := setup(t, config)
		sender := "rl-" + token(t) + "@example.org"
		sendUntilLimited(t, sender, []*postfix{a, a, b}, b)
		tok := token(t)
		out := a.mustSwaks(t, 24, "--from", sender, "--to", "bob@example.co.jp", "--header", "X-E2E-Token: "+tok)
		mustRefuse(t, out, regexp.QuoteMeta("450 4.7.1"))
		a.notDelivered(t, tok)
	})
}

func TestE2ECheckConfig(t *testing.T) {
	t.Parallel()
	if code, out := runSekisho(t, "-check", "-config", "testdata/full.toml"); code != 0 {
		t.Errorf("-check full.toml: exit %d\n%s", code, out)
	}
	code, out := runSekisho(t, "-check", "-config", "testdata/invalid-unknown-key.toml")
	if code == 0 || !strings.Contains(out, "colour") {
		t.Errorf("-check invalid-unknown-key.toml: exit %d, want an error naming the key\n%s", code, out)
	}
	if code, out := runSekisho(t, "-print-config"); code != 0 || !strings.Contains(out, "listen") {
		t.Errorf("-print-config: exit %d\n%s", code, out)
	}
	// Every error of a file at once, each with its line; a Redis URL that
	// would keep the daemon from starting, without its password.
	dir := t.TempDir()
	three := filepath.Join(dir, "three.toml")
	os.WriteFile(three, []byte("read_timout = \"5m\"\nshutdown_timeout = \"soon\"\n[rules.send_only]\naddresses = [\"noreply@*\"]\nreply = \"250 ok\"\n"), 0o644)
	code, out = runSekisho(t, "-check", "-config", three)
	for _, want := range []string{three + ":1:1: read_timout: unknown key", three + ":2:20: shutdown_timeout: invalid duration", three + ":5:9: rules.send_only.reply"} {
		if code == 0 || !strings.Contains(out, want) {
			t.Errorf("-check three.toml: exit %d, want %q in\n%s", code, want, out)
		}
	}
	redis := filepath.Join(dir, "redis.toml")
	os.WriteFile(redis, []byte("[rules.rate_limit]\nlimit = 3\nstore = \"redis://:s3cret@127.0.0.1:bad/0\"\n"), 0o644)
	code, out = runSekisho(t, "-check", "-config", redis)
	if code == 0 || !strings.Contains(out, redis+":3:1: rules.rate_limit.store") || strings.Contains(out, "s3cret") {
		t.Errorf("-check redis.toml: exit %d\n%s", code, out)
	}
}

// TestE2ELongReply: a reply built from the longest sender and recipient
// Postfix accepts reaches the SMTP client in one line of at most 512
// bytes with its CRLF (RFC 5321 section 4.5.3.1.5), "%" included.
func TestE2ELongReply(t *testing.T) {
	t.Parallel()
	rule := "[rules.send_only]\naddresses = [\"*@example.co.jp\"]\nreply = \"550 5.1.1 100% sure: <{rcpt}> does not take mail from <{sender}>\"\n"
	_, pf := setup(t, sekishoConfig("enforce", rule))
	// Postfix reads SMTP command lines of up to line_length_limit (2048)
	// bytes; an address, with "MAIL FROM:<>", fills one.
	sender := strings.Repeat("s%", 1000)[:2000-len("@example.org")] + "@example.org"
	rcpt := strings.Repeat("r", 2000-len("@example.co.jp")) + "@example.co.jp"
	out := pf.mustSwaks(t, 24, "--from", sender, "--to", rcpt, "--header", "X-E2E-Token: "+token(t))
	m := regexp.MustCompile(`(?m)^<\*\* (550 .*)$`).FindStringSubmatch(out)
	if m == nil {
		t.Fatalf("no refusal in:\n%s", out)
	}
	line := strings.TrimRight(m[1], "\r")
	if n := len(line) + 2; n > 512 || n < 500 {
		t.Errorf("reply line of %d bytes with CRLF, want 500..512: %q", n, line)
	}
	if !strings.HasPrefix(line, "550 5.1.1 100% sure: <rrrr") {
		t.Errorf("reply %q", line[:min(len(line), 60)])
	}
}
