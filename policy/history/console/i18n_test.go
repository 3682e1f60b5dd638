package console

import (
	"net/http"
	"strings"
	"testing"
)

func getLang(t *testing.T, url, acceptLanguage string) string {
	t.Helper()
	req, _ := http.NewRequest("GET", url, nil)
	if acceptLanguage != "" {
		req.Header.Set("Accept-Language", acceptLanguage)
	}
	_, body, _ := do(t, req)
	return body
}

// TestLanguages: a browser that prefers Japanese gets Japanese pages, any
// other English; ?lang= chooses either, and the links carry the choice.
func TestLanguages(t *testing.T) {
	srv := testServer(t)
	for _, c := range []struct{ url, accept, lang, want string }{
		{"/", "ja,en-US;q=0.9,en;q=0.8", "ja", "最新の判定 (新しい順)。"},
		{"/", "ja-JP", "ja", "関所 判定記録"},
		{"/", "en-US,en;q=0.9", "en", "Latest decisions, newest first."},
		{"/", "fr-FR, de;q=0.8", "en", "Sekisho decisions"},
		{"/", "", "en", "Sekisho decisions"},
		{"/?lang=en", "ja", "en", "Latest decisions"},
		{"/?lang=ja", "en", "ja", `href="/chart?lang=ja"`},
		{"/?q=XSS1", "ja", "ja", "1 件の判定 (新しい順)。"},
		{"/decision/2", "ja", "ja", "<dt>件名</dt>"},
		{"/chart", "ja", "ja", "ルール別の拒否 (1時間ごと、直近7日)"},
		{"/held", "ja", "ja", "保留メールの一覧は無効です"},
	} {
		body := getLang(t, srv.URL+c.url, c.accept)
		if !strings.Contains(body, `<html lang="`+c.lang+`">`) || !strings.Contains(body, c.want) {
			t.Errorf("GET %s with Accept-Language %q: want lang %s and %q:\n%s", c.url, c.accept, c.lang, c.want, body)
		}
	}
}

// TestCatalog: every text has both languages, the Japanese one with the
// same arguments as the English.
func TestCatalog(t *testing.T) {
	for key, m := range catalog {
		if m[0] == "" || m[1] == "" {
			t.Errorf("%s: a language is missing", key)
		}
		if en, ja := strings.Count(m[0], "%"), strings.Count(m[1], "%"); en != ja {
			t.Errorf("%s: %d arguments in English, %d in Japanese", key, en, ja)
		}
	}
	if got := tr("ja", "chart_total", 3, "2026-12-01 09:00:00"); got != "2026-12-01 09:00:00 以降、拒否・一時拒否・破棄・保留したメール 3 通。" {
		t.Errorf("chart_total in Japanese: %q", got)
	}
}
