package console

import (
	"context"
	"io"
	"log/slog"
	"net/http"
	"net/http/httptest"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/sekisho/sekisho/policy/history"
)

// testServer serves the console, without held-mail commands, on a store
// of two records, one of them full of markup.
func testServer(t *testing.T) *httptest.Server {
	t.Helper()
	now := time.Now()
	return serve(t, storeOf(t,
		history.Record{Time: now.Add(-48 * time.Hour), Host: "mx1", QueueID: "OLD1", Sender: "old@example.org", Rcpts: []string{"a@example.co.jp"}, Action: "accept", Stage: "eob", Policy: "default"},
		history.Record{Time: now, Host: "mx1", QueueID: "XSS1", Sender: `"><img src=x>@example.org`, Rcpts: []string{"a@example.co.jp"},
			Subject: `<script>document.title="pwned"</script>御見積`, Action: "reject", Rule: "blank", Stage: "eob", Policy: "default",
			Reason: `subject "<b>x</b>"`, Reply: "550 5.6.0 The body has no text"},
	), Held{})
}

// storeOf opens a history store of the test's own holding recs.
func storeOf(t *testing.T, recs ...history.Record) history.Store {
	t.Helper()
	s, err := history.Open(filepath.Join(t.TempDir(), "h.db"), false)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { s.Close() })
	if err := s.Add(context.Background(), recs); err != nil {
		t.Fatal(err)
	}
	return s
}

// serve serves the console on store s with the held-mail commands of held.
func serve(t *testing.T, s history.Store, held Held) *httptest.Server {
	t.Helper()
	srv := httptest.NewServer(Handler(func() history.Store { return s }, slog.New(slog.DiscardHandler), held))
	t.Cleanup(srv.Close)
	return srv
}

// do sends req and returns the answer's status, body and header.
func do(t *testing.T, req *http.Request) (int, string, http.Header) {
	t.Helper()
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	b, _ := io.ReadAll(resp.Body)
	return resp.StatusCode, string(b), resp.Header
}

func get(t *testing.T, url string) (int, string, http.Header) {
	t.Helper()
	req, err := http.NewRequest("GET", url, nil)
	if err != nil {
		t.Fatal(err)
	}
	return do(t, req)
}

// TestConsoleEscapes: what senders control (subject, address, reason)
// comes out as text, never as markup, and the page forbids scripts.
func TestConsoleEscapes(t *testing.T) {
	srv := testServer(t)
	code, body, hd := get(t, srv.URL+"/")
	if code != 200 {
		t.Fatalf("GET /: %d\n%s", code, body)
	}
	for _, bad := range []string{"<script>document", "<img src=x>", "<b>x</b>"} {
		if strings.Contains(body, bad) {
			t.Errorf("unescaped %q in:\n%s", bad, body)
		}
	}
	if !strings.Contains(body, "&lt;script&gt;document.title=&#34;pwned&#34;&lt;/script&gt;御見積") {
		t.Errorf("subject not shown escaped:\n%s", body)
	}
	if csp := hd.Get("Content-Security-Policy"); !strings.Contains(csp, "default-src 'none'") {
		t.Errorf("CSP %q", csp)
	}
}

// TestConsoleSearch: / lists the latest, ?q= and ?since= narrow it, and a
// row's link opens the decision in full.
func TestConsoleSearch(t *testing.T) {
	srv := testServer(t)
	_, body, _ := get(t, srv.URL+"/")
	if !strings.Contains(body, "XSS1") || !strings.Contains(body, "OLD1") {
		t.Errorf("latest:\n%s", body)
	}
	_, body, _ = get(t, srv.URL+"/?q=old%40example.org")
	if !strings.Contains(body, "OLD1") || strings.Contains(body, "XSS1") || !strings.Contains(body, "1 decisions found") {
		t.Errorf("search by sender:\n%s", body)
	}
	_, body, _ = get(t, srv.URL+"/?since=24h")
	if strings.Contains(body, "OLD1") || !strings.Contains(body, "XSS1") {
		t.Errorf("since 24h:\n%s", body)
	}
	if code, _, _ := get(t, srv.URL+"/?since=yesterday"); code != http.StatusBadRequest {
		t.Errorf("bad since: %d", code)
	}
	i := strings.Index(body, `href="/decision/`)
	if i < 0 {
		t.Fatalf("no link:\n%s", body)
	}
	link := body[i+len(`href="`):]
	link = link[:strings.IndexByte(link, '"')]
	code, body, _ := get(t, srv.URL+link)
	if code != 200 || !strings.Contains(body, "550 5.6.0 The body has no text") || !strings.Contains(body, "XSS1") || strings.Contains(body, "<b>x</b>") {
		t.Errorf("GET %s: %d\n%s", link, code, body)
	}
	for _, p := range []string{"/decision/999", "/decision/x", "/nothing"} {
		if code, _, _ := get(t, srv.URL+p); code != http.StatusNotFound {
			t.Errorf("GET %s: %d, want 404", p, code)
		}
	}
}
