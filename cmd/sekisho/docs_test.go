package main

import (
	"bytes"
	"os"
	"path/filepath"
	"regexp"
	"strconv"
	"strings"
	"testing"
)

var tomlBlockRE = regexp.MustCompile("(?ms)^```toml\n(.*?)^```")

// TestDocumentedConfigsCheck: every TOML block of the README, and every
// TOML file of contrib/, passes `sekisho -check` as it is, so that what
// administrators copy works. (Every rule's README section and contrib
// line are checked by policy's TestEveryRuleIsDocumented.)
func TestDocumentedConfigsCheck(t *testing.T) {
	readme, err := os.ReadFile("../../README.md")
	if err != nil {
		t.Fatal(err)
	}
	blocks := map[string]string{}
	for _, m := range tomlBlockRE.FindAllSubmatchIndex(readme, -1) {
		line := bytes.Count(readme[:m[0]], []byte("\n")) + 1
		blocks["README.md:"+strconv.Itoa(line)] = string(readme[m[2]:m[3]])
	}
	if len(blocks) < 5 {
		t.Fatalf("only %d TOML blocks found in the README", len(blocks))
	}
	files, err := filepath.Glob("../../contrib/*.toml")
	if err != nil || len(files) == 0 {
		t.Fatalf("no contrib TOML files: %v", err)
	}
	for _, f := range files {
		b, err := os.ReadFile(f)
		if err != nil {
			t.Fatal(err)
		}
		blocks[strings.TrimPrefix(f, "../../")] = string(b)
	}
	dir := t.TempDir()
	// -check tries the socket's directory: the recommended one, which the
	// package makes, stands in a directory of the test's own.
	spool := filepath.Join(dir, "spool")
	if err := os.Mkdir(spool, 0o750); err != nil {
		t.Fatal(err)
	}
	// The web configuration the README names, with a user of its own.
	web := filepath.Join(dir, "web.yml")
	if err := os.WriteFile(web, []byte("basic_auth_users:\n  yamada: $2y$10$ZQtlNq6Y7D.3uPS8XXhuYOVvsblSqMbjmJm5Ge3N0YI4cqY5ZpuKi\n"), 0o644); err != nil {
		t.Fatal(err)
	}
	for name, text := range blocks {
		t.Run(name, func(t *testing.T) {
			if testing.Short() && strings.Contains(text, "socket_group") {
				t.Skip("needs root, to give the socket to its group: run without -short")
			}
			text = strings.ReplaceAll(text, "/var/spool/postfix/sekisho/", spool+"/")
			text = strings.ReplaceAll(text, "/etc/sekisho/web.yml", web)
			path := filepath.Join(dir, strings.NewReplacer("/", "_", ":", "_").Replace(name)+".toml")
			if err := os.WriteFile(path, []byte(text), 0o644); err != nil {
				t.Fatal(err)
			}
			var out, errb bytes.Buffer
			if code := run([]string{"-check", "-config", path}, &out, &errb); code != 0 {
				t.Errorf("%s does not pass -check:\n%s\n%s", name, errb.String(), text)
			}
		})
	}
}
