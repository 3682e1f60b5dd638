package pairing

import (
	"slices"
	"testing"
)

// TestCandidates: the ways Japanese and English business mail gives a
// password, and what is not one.
func TestCandidates(t *testing.T) {
	x, err := NewExtractor(DefaultPatterns)
	if err != nil {
		t.Fatal(err)
	}
	for text, want := range map[string][]string{
		"先ほどお送りしたファイルのパスワードをお知らせします。\nパスワード：Xk3#pq9z\nよろしくお願いいたします。": {"Xk3#pq9z"},
		"パスワード: abc123":                 {"abc123"},
		"解凍パスワードは「Tokyo2026!」です。":       {"Tokyo2026!", "Tokyo2026"},
		"パスワードは『a1b2c3』となります":           {"a1b2c3"},
		"Password: hunter2\r\n":         {"hunter2"},
		"PW：s3cr3t":                     {"s3cr3t"},
		"pass = zzz999.":                {"zzz999.", "zzz999"},
		"暗証番号：１２３４５６":                   {"１２３４５６", "123456"},
		"パスワード：ｐａｓｓ１２３、ご確認ください":         {"ｐａｓｓ１２３", "pass123"},
		"パスワード：aaa\nPW: bbb\nパスワード：aaa": {"aaa", "bbb"},
		"本日の会議は15時からです。":                nil,
		"パスワードは別途お送りします。":               {"別途お送りします"},
	} {
		got := x.Candidates(text)
		if !slices.Equal(got, want) {
			t.Errorf("%q: %q, want %q", text, got, want)
		}
	}
}

func TestCandidatesBounded(t *testing.T) {
	x, _ := NewExtractor(DefaultPatterns)
	text := ""
	for i := range 20 {
		text += "PW: p" + string(rune('a'+i)) + "\n"
	}
	if n := len(x.Candidates(text)); n != MaxCandidates {
		t.Errorf("%d candidates, want at most %d", n, MaxCandidates)
	}
	long := "PW: " + string(make([]byte, 0))
	for range 100 {
		long += "x"
	}
	if c := x.Candidates(long); len(c) != 0 {
		t.Errorf("a 100-character candidate kept: %q", c)
	}
}

func TestExtractorErrors(t *testing.T) {
	if _, err := NewExtractor([]string{`PW: \S+`}); err == nil {
		t.Error("a pattern without a group accepted")
	}
	if _, err := NewExtractor([]string{`(`}); err == nil {
		t.Error("a bad pattern accepted")
	}
}

func TestRedact(t *testing.T) {
	x, err := NewExtractor(DefaultPatterns)
	if err != nil {
		t.Fatal(err)
	}
	for in, want := range map[string]string{
		`subject "Password: Abc123" has only ASCII characters`: `subject "Password: *****" has only ASCII characters`,
		"パスワード：ｐａｓｓ１２３ です":                                     "パスワード：***** です",
		"PW: x1 and pw=y2":    "PW: ***** and pw=*****",
		"nothing secret here": "nothing secret here",
	} {
		if got := x.Redact(in); got != want {
			t.Errorf("Redact(%q) = %q, want %q", in, got, want)
		}
	}
}
