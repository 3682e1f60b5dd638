package e2e_test

import (
	"context"
	"fmt"
	"io"
	"net/http"
	"net/url"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"strings"
	"testing"
	"time"

	"golang.org/x/crypto/bcrypt"
)

const chromiumCmd = "/usr/bin/chromium"

// dumpDOM loads url in headless Chromium and returns the DOM once the
// page has loaded, after any script would have run.
func dumpDOM(t testing.TB, u string, extra ...string) string {
	t.Helper()
	requireProgram(t, chromiumCmd)
	ctx, cancel := context.WithTimeout(context.Background(), 60*time.Second)
	defer cancel()
	args := append([]string{"--headless", "--disable-gpu", "--no-first-run", "--user-data-dir=" + t.TempDir()}, extra...)
	args = append(args, "--dump-dom", u)
	if os.Geteuid() == 0 {
		args = append([]string{"--no-sandbox"}, args...) // Chromium's sandbox refuses root
	}
	cmd := exec.CommandContext(ctx, chromiumCmd, args...)
	var stderr strings.Builder
	cmd.Stderr = &stderr
	out, err := cmd.Output()
	if err != nil {
		t.Fatalf("chromium %s: %v\n%s", u, err, stderr.String())
	}
	return string(out)
}

// TestE2EConsole: mail through a real Postfix shows in the console as
// Chromium renders it; a search finds it, and the row opens the whole
// decision. A subject with markup is shown as text: no script runs.
func TestE2EConsole(t *testing.T) {
	db := filepath.Join(t.TempDir(), "history.db")
	web := fmt.Sprintf("127.0.0.1:%d", freePort(t))
	s := startSekisho(t, fmt.Sprintf("[history]\nstore = %q\n\n[console]\nlisten = %q\n\n[rules.blank]\n", db, web))
	p := startPostfix(t, s.Milter, postfixOptions{})
	tok := token(t)
	p.mustSwaks(t, 0, "--from", "tanaka@example.org", "--to", "suzuki@example.co.jp",
		"--header", "Subject: =?UTF-8?B?5b6h6KaL56mN?= "+tok, "--body", "本文です")
	p.mustSwaks(t, 26, "--from", "spam@example.net", "--to", "sato@example.co.jp",
		"--header", `Subject: <script>document.title="pwned"</script><img src=x onerror="document.title='pwned'"> `+tok, "--body", " ")
	p.waitDelivered(t, tok, 1)

	search := "http://" + web + "/?q=" + url.QueryEscape(tok)
	// Records are written a moment after the mail: wait for both.
	for deadline := time.Now().Add(10 * time.Second); ; time.Sleep(50 * time.Millisecond) {
		resp, err := http.Get(search)
		if err == nil {
			b, _ := io.ReadAll(resp.Body)
			resp.Body.Close()
			if strings.Count(string(b), `class="decision"`) == 2 {
				break
			}
		}
		if time.Now().After(deadline) {
			t.Fatalf("the console does not list both decisions: %v\n%s", err, s.Logs())
		}
	}

	dom := dumpDOM(t, search)
	if !strings.Contains(dom, "<title>Sekisho decisions</title>") || strings.Contains(dom, "pwned</title>") {
		t.Errorf("a script ran, or the page is not the console:\n%s", dom)
	}
	if strings.Contains(dom, "<script") || strings.Contains(dom, "<img") {
		t.Errorf("the subject became markup:\n%s", dom)
	}
	if !strings.Contains(dom, "&lt;script&gt;document.title=") || !strings.Contains(dom, "御見積 "+tok) {
		t.Errorf("subjects not shown as text:\n%s", dom)
	}
	if !strings.Contains(dom, "suzuki@example.co.jp") || !strings.Contains(dom, ">reject<") || !strings.Contains(dom, ">accept<") {
		t.Errorf("decisions not listed:\n%s", dom)
	}
	// The refused one's row opens its full record.
	row := regexp.MustCompile(`<tr class="decision"><td><a href="(/decision/\d+)[^"]*">[^<]*</a></td><td>[^<]*</td><td>[^<]*</td><td class="reject">`).FindStringSubmatch(dom)
	if row == nil {
		t.Fatalf("no row for the refused message:\n%s", dom)
	}
	dom = dumpDOM(t, "http://"+web+row[1])
	for _, want := range []string{"550 5.6.0", "blank", "spam@example.net", "sato@example.co.jp", "127.0.0.1", "&lt;script&gt;"} {
		if !strings.Contains(dom, want) {
			t.Errorf("decision page lacks %q:\n%s", want, dom)
		}
	}
	if strings.Contains(dom, "<script") || strings.Contains(dom, "pwned</title>") {
		t.Errorf("decision page runs the subject:\n%s", dom)
	}

	// A browser that prefers Japanese gets the pages in Japanese.
	dom = dumpDOM(t, "http://"+web+"/?q="+url.QueryEscape(tok), "--accept-lang=ja")
	if !strings.Contains(dom, `<html lang="ja">`) || !strings.Contains(dom, "2 件の判定 (新しい順)。") || !strings.Contains(dom, "<th>件名</th>") {
		t.Errorf("the Japanese page:\n%s", dom)
	}

	// The chart of refusals draws the refusal as Chromium renders it.
	dom = dumpDOM(t, "http://"+web+"/chart")
	if !strings.Contains(dom, `<svg id="chart"`) || strings.Count(dom, `class="bar"`) < 1 ||
		!regexp.MustCompile(`<tr class="rule"><td>.*?</td><td>blank</td><td>\d+</td></tr>`).MatchString(dom) {
		t.Errorf("the chart does not show the refusal by blank:\n%s", dom)
	}
}

// TestE2EConsoleLogin: with a web configuration of users, the console and
// the metrics endpoint answer 401 without credentials or with a wrong
// password, and 200 with them; -check refuses a web configuration it
// cannot read, as the daemon would, naming the key and the file.
func TestE2EConsoleLogin(t *testing.T) {
	t.Parallel()
	dir := worldDir(t, "weblogin")
	hash, err := bcrypt.GenerateFromPassword([]byte("関所-2026"), bcrypt.MinCost)
	if err != nil {
		t.Fatal(err)
	}
	webCfg := filepath.Join(dir, "web.yml")
	if err := os.WriteFile(webCfg, []byte("basic_auth_users:\n  yamada: "+string(hash)+"\n"), 0o644); err != nil {
		t.Fatal(err)
	}
	db := filepath.Join(dir, "history.db")
	web := fmt.Sprintf("127.0.0.1:%d", freePort(t))
	mtr := fmt.Sprintf("127.0.0.1:%d", freePort(t))
	cfg := fmt.Sprintf("[history]\nstore = %q\n\n[console]\nlisten = %q\nweb_config = %q\n\n[metrics]\nlisten = %q\nweb_config = %q\n\n[rules.blank]\n",
		db, web, webCfg, mtr, webCfg)
	startSekisho(t, cfg)
	for _, u := range []string{"http://" + web + "/", "http://" + mtr + "/metrics"} {
		for _, c := range []struct {
			user, pw string
			code     int
		}{{"", "", 401}, {"yamada", "wrong", 401}, {"yamada", "関所-2026", 200}} {
			req, _ := http.NewRequest("GET", u, nil)
			if c.user != "" {
				req.SetBasicAuth(c.user, c.pw)
			}
			var resp *http.Response
			for deadline := time.Now().Add(10 * time.Second); ; time.Sleep(50 * time.Millisecond) {
				if resp, err = http.DefaultClient.Do(req); err == nil || time.Now().After(deadline) {
					break
				}
			}
			if err != nil {
				t.Fatal(err)
			}
			resp.Body.Close()
			if resp.StatusCode != c.code {
				t.Errorf("GET %s as %q/%q: %d, want %d", u, c.user, c.pw, resp.StatusCode, c.code)
			}
		}
	}

	bad := filepath.Join(dir, "bad.toml")
	if err := os.WriteFile(bad, []byte(fmt.Sprintf("[history]\nstore = %q\n\n[console]\nlisten = %q\nweb_config = %q\n", db, web, filepath.Join(dir, "none.yml"))), 0o644); err != nil {
		t.Fatal(err)
	}
	code, out := runSekisho(t, "-check", "-config", bad)
	if code != 1 || !strings.Contains(out, "console.web_config: web_config "+filepath.Join(dir, "none.yml")) {
		t.Errorf("-check with a missing web_config: exit %d\n%s", code, out)
	}
}
