package digest

import (
	"bytes"
	"fmt"
	"io"
	"slices"
	"strings"
	"testing"
	"time"
	"unicode"

	"github.com/emersion/go-message/mail"

	"github.com/sekisho/sekisho/policy/history"
)

var (
	jst   = time.FixedZone("JST", 9*3600)
	day   = time.Date(2026, 12, 2, 9, 0, 0, 0, jst)
	since = day.Add(-24 * time.Hour)
)

// at is a time h hours before day.
func at(h float64) time.Time { return day.Add(-time.Duration(h * float64(time.Hour))) }

func TestGroup(t *testing.T) {
	recs := []history.Record{
		{ID: 9, Time: at(1), Sender: "a@example.org", Rcpts: []string{"Suzuki@Example.co.jp", "sato@example.co.jp", "suzuki@example.co.jp"}, Action: "quarantine", Subject: "held"},
		{ID: 8, Time: at(2), Sender: "b@example.org", Rcpts: []string{"suzuki@example.co.jp"}, Action: "reject", Subject: "refused"},
		{ID: 7, Time: at(3), Sender: "c@example.org", Rcpts: []string{"suzuki@example.co.jp"}, Action: "discard", Subject: "discarded"},
		{ID: 6, Time: at(4), Rcpts: []string{"suzuki@example.co.jp"}, Action: "tempfail", Subject: "tempfail: retried"},
		{ID: 5, Time: at(5), Rcpts: []string{"suzuki@example.co.jp"}, Action: "accept", Subject: "accepted"},
		{ID: 4, Time: at(6), Rcpts: []string{"suzuki@example.co.jp"}, Action: "tag", Subject: "tagged"},
		{ID: 3, Time: at(7), Rcpts: []string{"suzuki@example.co.jp"}, Action: "reject", DryRun: true, Subject: "dry run"},
		{ID: 2, Time: at(8), Rcpts: []string{"suzuki@example.co.jp"}, Action: "reject", Subject: "[関所] 保留・拒否されたメール 3 通 / 3 held or refused messages"},
		{ID: 1, Time: at(9), Rcpts: []string{"noreply@example.co.jp"}, Action: "reject", Rule: "send_only", Subject: "to a send-only address"},
		{ID: 0, Time: at(25), Rcpts: []string{"suzuki@example.co.jp"}, Action: "reject", Subject: "too old"},
		{ID: 10, Time: at(1), Rcpts: []string{"user@example.com", "sato@sub.example.co.jp"}, Action: "reject", Subject: "other domain"},
		{ID: 11, Time: at(-1), Rcpts: []string{"suzuki@example.co.jp"}, Action: "reject", Subject: "after until"},
	}
	subjects := func(ds []Digest) string {
		var b strings.Builder
		for _, d := range ds {
			fmt.Fprintf(&b, "%s:", d.Rcpt)
			for _, r := range d.Records {
				fmt.Fprintf(&b, " %s", r.Subject)
			}
			b.WriteString("\n")
		}
		return b.String()
	}
	for _, c := range []struct {
		name string
		f    Filter
		want string
	}{
		{"domains", Filter{Since: since, Until: day, Domains: []string{"example.co.jp"}, SkipRules: []string{"send_only"}},
			"sato@example.co.jp: held\nsuzuki@example.co.jp: held refused discarded\n"},
		{"all domains", Filter{Since: since, Until: day, SkipRules: []string{"send_only"}},
			"sato@example.co.jp: held\nsato@sub.example.co.jp: other domain\nsuzuki@example.co.jp: held refused discarded\nuser@example.com: other domain\n"},
		{"no rule skipped", Filter{Since: since, Until: day, Domains: []string{"example.co.jp"}},
			"noreply@example.co.jp: to a send-only address\nsato@example.co.jp: held\nsuzuki@example.co.jp: held refused discarded\n"},
		{"no time bounds", Filter{Domains: []string{"example.co.jp"}, SkipRules: []string{"send_only"}},
			"sato@example.co.jp: held\nsuzuki@example.co.jp: held refused discarded too old after until\n"},
	} {
		t.Run(c.name, func(t *testing.T) {
			if got := subjects(Group(recs, c.f)); got != c.want {
				t.Errorf("got\n%s\nwant\n%s", got, c.want)
			}
		})
	}
	if ds := Group(recs[3:8], Filter{}); len(ds) != 0 {
		t.Errorf("nothing to report makes digests: %s", subjects(ds))
	}
}

func TestIsDigest(t *testing.T) {
	for _, lang := range []Lang{Japanese, English, Both} {
		for _, n := range []int{1, 3} {
			if s := subject(lang, n); !IsDigest(s) {
				t.Errorf("%s: not a digest's subject", s)
			}
		}
	}
	for _, s := range []string{"", "held or refused messages", "[Sekisho] hello", "Re: 保留・拒否されたメール"} {
		if IsDigest(s) {
			t.Errorf("%q taken for a digest's subject", s)
		}
	}
}

func TestClean(t *testing.T) {
	for _, c := range []struct{ in, want string }{
		{"請求書\r\nBcc: victim@example.com", "請求書 Bcc: victim@example.com"},
		{"a\x00b\x1b[31mc\x7f\td", "a b [31mc d"},
		{"evil\u202Egpj.exe", "evilgpj.exe"},
		{"line\u2028sep\u0085nel", "line sep nel"},
		{"御見積\u3000の件", "御見積\u3000の件"},
		{"bad \xff utf8", "bad \uFFFD utf8"},
		{"  spaced   out  ", "spaced out"},
	} {
		if got := Clean(c.in, 100); got != c.want {
			t.Errorf("Clean(%q) = %q, want %q", c.in, got, c.want)
		}
	}
	long := strings.Repeat("長", 500)
	if got := Clean(long, 200); len([]rune(got)) != 200 || !strings.HasSuffix(got, "…") {
		t.Errorf("Clean of 500 characters to 200: %d characters, %q", len([]rune(got)), got[len(got)-6:])
	}
}

func TestValidAddress(t *testing.T) {
	for addr, want := range map[string]bool{
		"suzuki@example.co.jp":                  true,
		"a.b+tag@example.co.jp":                 true,
		"":                                      false,
		"suzuki@example.co.jp\r\nBcc: x@y":      false,
		"suzuki@example.co.jp, x@example.com":   false,
		"Suzuki <suzuki@example.co.jp>":         false,
		`"a b"@example.co.jp`:                   false,
		"no-at-sign":                            false,
		strings.Repeat("a", 250) + "@e.example": false,
	} {
		if got := ValidAddress(addr); got != want {
			t.Errorf("ValidAddress(%q) = %v, want %v", addr, got, want)
		}
	}
}

// parse reads a composed mail back with go-message and returns its header
// and decoded body.
func parse(t *testing.T, msg []byte) (mail.Header, string) {
	t.Helper()
	r, err := mail.CreateReader(bytes.NewReader(msg))
	if err != nil {
		t.Fatalf("the digest does not parse: %v\n%s", err, msg)
	}
	p, err := r.NextPart()
	if err != nil {
		t.Fatal(err)
	}
	body, err := io.ReadAll(p.Body)
	if err != nil {
		t.Fatal(err)
	}
	if _, err := r.NextPart(); err != io.EOF {
		t.Errorf("more than one part: %v", err)
	}
	return r.Header, string(body)
}

// hostile is a record whose every field a sender wrote tries something.
var hostile = history.Record{
	ID: 1, Time: at(2), Sender: "evil@example.net\r\nBcc: victim@example.com",
	Rcpts:       []string{"suzuki@example.co.jp"},
	Subject:     "御見積\r\nX-Injected: yes\x1b[2J\u202E" + strings.Repeat("長", 400),
	Attachments: []string{"invoice\u202Efdp.exe", "a\nb.zip", strings.Repeat("x", 300) + ".pdf"},
	Action:      "reject", Rule: "attachment_extension",
	Reason: "attachment \"invoice\u202Efdp.exe\" is an executable",
}

func TestCompose(t *testing.T) {
	d := Digest{Rcpt: "suzuki@example.co.jp", Records: []history.Record{
		{ID: 2, Time: at(1), Sender: "tanaka@example.org", Rcpts: []string{"suzuki@example.co.jp"}, Subject: "御見積書の件",
			Attachments: []string{"mitsumori.zip"}, Action: "quarantine", Rule: "encrypted_archive",
			Reason: `attachment "mitsumori.zip" (part 2) is an encrypted archive`},
		hostile,
		{ID: 3, Time: at(3), Sender: "", Rcpts: []string{"suzuki@example.co.jp"}, Action: "discard", Reply: "550 5.7.1 Discarded"},
	}}
	m := Mail{From: "postmaster@mx1.example.co.jp", ConsoleURL: "https://mx1.example.co.jp:10031/held", Since: since, Now: day, Location: jst}
	msg, err := m.Compose(d)
	if err != nil {
		t.Fatal(err)
	}
	if bytes.Contains(msg, []byte("\r")) {
		t.Errorf("CR in a mail for sendmail(1)")
	}
	head, _, _ := bytes.Cut(msg, []byte("\n\n"))
	for _, line := range strings.Split(string(head), "\n") {
		if len(line) > 78 {
			t.Errorf("header line of %d octets: %q", len(line), line)
		}
		if strings.HasPrefix(line, "Bcc") || strings.HasPrefix(line, "X-Injected") {
			t.Errorf("injected header %q", line)
		}
		for _, c := range line {
			if c > unicode.MaxASCII {
				t.Errorf("8-bit header line %q", line)
				break
			}
		}
	}
	h, body := parse(t, msg)
	for k, want := range map[string]string{
		"MIME-Version":              "1.0",
		"Content-Transfer-Encoding": "base64",
		"Auto-Submitted":            "auto-generated",
		Header:                      "1",
	} {
		if got := h.Get(k); got != want {
			t.Errorf("%s: %q, want %q", k, got, want)
		}
	}
	if ct, params, err := h.ContentType(); err != nil || ct != "text/plain" || params["charset"] != "UTF-8" {
		t.Errorf("Content-Type: %s %v %v", ct, params, err)
	}
	if subj, err := h.Subject(); err != nil || subj != "[関所] 保留・拒否されたメール 3 通 / 3 held or refused messages" {
		t.Errorf("Subject: %q %v", subj, err)
	}
	if !strings.HasPrefix(h.Get("Subject"), "=?UTF-8?b?") && !strings.HasPrefix(h.Get("Subject"), "=?UTF-8?B?") {
		t.Errorf("Subject not a B encoded-word: %q", h.Get("Subject"))
	}
	if to, err := h.AddressList("To"); err != nil || len(to) != 1 || to[0].Address != "suzuki@example.co.jp" {
		t.Errorf("To: %v %v", to, err)
	}
	if from, err := h.AddressList("From"); err != nil || len(from) != 1 || from[0].Address != "postmaster@mx1.example.co.jp" || from[0].Name != "関所 (Sekisho)" {
		t.Errorf("From: %v %v", from, err)
	}
	if date, err := h.Date(); err != nil || !date.Equal(day) {
		t.Errorf("Date: %v %v", date, err)
	}
	if id, err := h.MessageID(); err != nil || !strings.HasSuffix(id, "@mx1.example.co.jp") {
		t.Errorf("Message-ID: %q %v", id, err)
	}

	ja, en, ok := strings.Cut(body, strings.Repeat("-", 60))
	if !ok || !strings.Contains(ja, "件名") || !strings.Contains(en, "Subject") {
		t.Fatalf("not Japanese, then English:\n%s", body)
	}
	for _, want := range []string{
		"suzuki@example.co.jp 様",
		"2026-12-01 09:00 JST 以降、あなた宛てのメールのうち 3 通を\r\nメールゲートウェイ (関所) が保留または拒否しました。",
		"あれば、メール管理者に連絡してください。確認のうえ配送できます。",
		"(管理者の画面: https://mx1.example.co.jp:10031/held)",
		"1. [保留] 2026-12-02 08:00",
		"   差出人：<tanaka@example.org>",
		"   件名：　御見積書の件",
		"   添付：　mitsumori.zip",
		`   理由：　attachment "mitsumori.zip" (part 2) is an encrypted archive`,
		"2. [拒否] 2026-12-02 07:00",
		"3. [破棄] 2026-12-02 06:00",
		"   差出人：(なし: 配送通知)",
		"   件名：　(件名なし)",
		"   理由：　550 5.7.1 Discarded",
		"このメールは自動送信です。返信しないでください。",
	} {
		if !strings.Contains(ja, want+"\r\n") {
			t.Errorf("Japanese part lacks line %q:\n%s", want, ja)
		}
	}
	for _, want := range []string{
		"To suzuki@example.co.jp,",
		"Since 2026-12-01 09:00 JST, the mail gateway (Sekisho) held or refused\r\nthese messages sent to you (3):",
		"(The administrator's console: https://mx1.example.co.jp:10031/held)",
		"1. [held] 2026-12-02 08:00",
		"   From:     <tanaka@example.org>",
		"   Subject:  御見積書の件",
		"   Attached: mitsumori.zip",
		"2. [refused] 2026-12-02 07:00",
		"3. [discarded] 2026-12-02 06:00",
		"This mail was sent automatically; do not reply to it.",
	} {
		if !strings.Contains(en, want+"\r\n") {
			t.Errorf("English part lacks line %q:\n%s", want, en)
		}
	}
	// The hostile record: on lines of its own, without control or bidi
	// characters, cut to length.
	for _, line := range strings.Split(strings.TrimSuffix(body, "\r\n"), "\r\n") {
		for _, c := range line {
			if unicode.IsControl(c) || unicode.Is(unicode.Bidi_Control, c) {
				t.Errorf("control character %U in line %q", c, line)
			}
		}
		if n := len([]rune(line)); n > maxReason+20 {
			t.Errorf("line of %d characters: %q", n, line)
		}
		if strings.HasPrefix(line, "X-Injected") || strings.HasPrefix(line, "Bcc") {
			t.Errorf("a sender's text starts a line: %q", line)
		}
	}
	for _, want := range []string{
		"   From:     <evil@example.net Bcc: victim@example.com>",
		"   Subject:  御見積 X-Injected: yes [2J" + strings.Repeat("長", maxSubject-len([]rune("御見積 X-Injected: yes [2J"))-1) + "…",
		"   Attached: invoicefdp.exe, a b.zip, " + strings.Repeat("x", maxAttachment-1) + "…",
		`   Reason:   attachment "invoicefdp.exe" is an executable`,
	} {
		if !strings.Contains(en, want+"\r\n") {
			t.Errorf("English part lacks line %q:\n%s", want, en)
		}
	}
}

func TestComposeOneLanguage(t *testing.T) {
	d := Digest{Rcpt: "suzuki@example.co.jp", Records: []history.Record{{Time: at(1), Sender: "a@example.org", Subject: "s", Action: "reject", Reason: "r"}}}
	for _, c := range []struct {
		lang          Lang
		subject, from string
		has, hasNot   string
	}{
		{Japanese, "[関所] 保留・拒否されたメール 1 通", "関所 (Sekisho)", "1. [拒否]", "[refused]"},
		{English, "[Sekisho] 1 held or refused message", "Sekisho", "1. [refused]", "[拒否]"},
	} {
		m := Mail{From: "postmaster@example.co.jp", Lang: c.lang, Since: since, Now: day}
		msg, err := m.Compose(d)
		if err != nil {
			t.Fatal(err)
		}
		h, body := parse(t, msg)
		if s, _ := h.Subject(); s != c.subject {
			t.Errorf("%s: Subject %q, want %q", c.lang, s, c.subject)
		}
		if from, _ := h.AddressList("From"); len(from) != 1 || from[0].Name != c.from {
			t.Errorf("%s: From %v", c.lang, from)
		}
		if !strings.Contains(body, c.has) || strings.Contains(body, c.hasNot) || strings.Contains(body, strings.Repeat("-", 60)) {
			t.Errorf("%s: body:\n%s", c.lang, body)
		}
		// Only held mail is said to be releasable.
		if strings.Contains(body, "release") || strings.Contains(body, "連絡してください") {
			t.Errorf("%s: release offered for refused mail:\n%s", c.lang, body)
		}
	}
}

func TestComposeCap(t *testing.T) {
	d := Digest{Rcpt: "suzuki@example.co.jp"}
	for i := range MaxItems + 42 {
		d.Records = append(d.Records, history.Record{Time: at(float64(i) / 10), Sender: "spam@example.net", Subject: fmt.Sprint("spam ", i), Action: "reject"})
	}
	msg, err := Mail{From: "postmaster@example.co.jp", Since: since, Now: day}.Compose(d)
	if err != nil {
		t.Fatal(err)
	}
	_, body := parse(t, msg)
	if n := strings.Count(body, "spam "); n != 2*MaxItems {
		t.Errorf("%d messages listed in both languages, want %d", n, 2*MaxItems)
	}
	if !strings.Contains(body, fmt.Sprintf("%d. [refused]", MaxItems)) || strings.Contains(body, fmt.Sprintf("%d. [refused]", MaxItems+1)) {
		t.Errorf("not cut after %d", MaxItems)
	}
	if !strings.Contains(body, "… ほか 42 通は省略しました。\r\n") || !strings.Contains(body, "... and 42 more, not listed.\r\n") {
		t.Errorf("no count of the others")
	}
	if !strings.Contains(body, fmt.Sprintf("these messages sent to you (%d):", MaxItems+42)) {
		t.Errorf("the introduction does not count them all")
	}
	if n := strings.Count(body, "\r\n"); n > 2*(MaxItems*6+20) {
		t.Errorf("%d lines", n)
	}
}

func TestComposeRefusesBadAddresses(t *testing.T) {
	d := Digest{Rcpt: "suzuki@example.co.jp\r\nBcc: victim@example.com", Records: []history.Record{{Action: "reject"}}}
	if _, err := (Mail{From: "postmaster@example.co.jp"}).Compose(d); err == nil {
		t.Errorf("composed a mail to %q", d.Rcpt)
	}
	d.Rcpt = "suzuki@example.co.jp"
	if _, err := (Mail{From: "postmaster"}).Compose(d); err == nil {
		t.Errorf("composed a mail from %q", "postmaster")
	}
}

func TestParseLang(t *testing.T) {
	var got []Lang
	for _, s := range []string{"ja", "en", "both"} {
		l, err := ParseLang(s)
		if err != nil {
			t.Fatal(err)
		}
		got = append(got, l)
	}
	if !slices.Equal(got, []Lang{Japanese, English, Both}) {
		t.Errorf("%v", got)
	}
	if _, err := ParseLang("fr"); err == nil {
		t.Errorf("fr accepted")
	}
}
