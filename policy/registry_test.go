package policy_test

import (
	"os"
	"regexp"
	"strings"
	"testing"

	"github.com/sekisho/sekisho/policy"
)

// TestEveryRuleIsDocumented fails when a rule of the registry lacks its
// section in README.md, its table in contrib/sekisho.toml or its table in
// the end-to-end tests' full configuration, which -check validates.
func TestEveryRuleIsDocumented(t *testing.T) {
	read := func(path string) string {
		b, err := os.ReadFile(path)
		if err != nil {
			t.Fatal(err)
		}
		return string(b)
	}
	readme := read("../README.md")
	contrib := read("../contrib/sekisho.toml")
	full := read("../cmd/sekisho/e2e/testdata/full.toml")
	if len(policy.RuleNames) < 11 {
		t.Fatalf("RuleNames = %q", policy.RuleNames)
	}
	for _, name := range policy.RuleNames {
		section := regexp.MustCompile("(?m)^### .*`" + regexp.QuoteMeta(name) + "`")
		if !section.MatchString(readme) {
			t.Errorf("README.md has no ### section naming `%s`", name)
		}
		if !strings.Contains(readme, "| `"+name+"` |") {
			t.Errorf("README.md's table of rules has no row for `%s`", name)
		}
		table := regexp.MustCompile(`(?m)^\[rules\.` + regexp.QuoteMeta(name) + `\]`)
		if !table.MatchString(contrib) {
			t.Errorf("contrib/sekisho.toml has no [rules.%s] table", name)
		}
		if !table.MatchString(full) {
			t.Errorf("cmd/sekisho/e2e/testdata/full.toml has no [rules.%s] table", name)
		}
	}
}
