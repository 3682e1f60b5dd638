package policy_test

import (
	"fmt"
	"strings"
	"testing"
	"time"

	"github.com/sekisho/sekisho/policy"
)

func TestHistoryConfig(t *testing.T) {
	c, err := policy.Parse("t.toml", []byte("[history]\nstore = \"/var/lib/sekisho/history.db\"\n"))
	if err != nil {
		t.Fatal(err)
	}
	if c.History.KeepFor() != 366*24*time.Hour {
		t.Errorf("default keep = %v", c.History.KeepFor())
	}
	for cfg, want := range map[string]string{
		"[history]\nkeep = \"0d\"\n":                                      "history.keep: invalid retention \"0d\"",
		"[history]\nkeep = \"a year\"\n":                                  "history.keep: invalid retention",
		"[history]\nstore = \"history.db\"\n":                             "history.store: \"history.db\": want an absolute path",
		"[history]\nstore = \"redis://127.0.0.1\"\n":                      "want the absolute path of an SQLite file or a postgres:// URL",
		"[console]\nlisten = \"127.0.0.1:10031\"\n":                       "console.listen: the console shows the history: set [history] store",
		"[history]\nstore = \"/h.db\"\n[console]\nlisten = \"10031\"\n":   "console.listen: \"10031\": want HOST:PORT",
		"[history]\nstore = \"/h.db\"\n[console]\nlisten = \"[::1]:0\"\n": "port must be 1..65535",
		"[history]\nstore = \"/h.db\"\nhosts = \"mx1\"\n":                 "history.hosts: unknown key",
	} {
		_, err := policy.Parse("t.toml", []byte(cfg))
		if err == nil || !strings.Contains(err.Error(), want) {
			t.Errorf("%s: error %v, want %q", cfg, err, want)
		}
	}
	for _, ok := range []string{
		"[history]\nstore = \"postgres://sekisho:pw@db.example.co.jp/sekisho\"\nkeep = \"720h\"\nhost = \"mx1\"\n",
		"[history]\nstore = \"/h.db\"\n[console]\nlisten = \"127.0.0.1:10031\"\n",
	} {
		if _, err := policy.Parse("t.toml", []byte(ok)); err != nil {
			t.Errorf("%s: %v", ok, err)
		}
	}
	// Beyond loopback the console needs a login: a web configuration.
	for addr, loopback := range map[string]bool{
		"127.0.0.1:10031": true, "[::1]:10031": true, "localhost:10031": true,
		"0.0.0.0:10031": false, "[::]:10031": false, "192.0.2.1:10031": false, "mx1.example.co.jp:10031": false,
	} {
		cfg := fmt.Sprintf("[history]\nstore = \"/h.db\"\n[console]\nlisten = %q\n", addr)
		_, err := policy.Parse("t.toml", []byte(cfg))
		if loopback != (err == nil) || (err != nil && !strings.Contains(err.Error(), "is not a loopback address") || err != nil && !strings.Contains(err.Error(), "set console.web_config")) {
			t.Errorf("console on %s: %v", addr, err)
		}
		if _, err := policy.Parse("t.toml", []byte(cfg+"web_config = \"/etc/sekisho/web.yml\"\n")); err != nil {
			t.Errorf("console on %s with a web_config: %v", addr, err)
		}
	}
}
