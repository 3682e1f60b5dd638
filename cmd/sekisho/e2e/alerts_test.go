package e2e_test

import (
	"context"
	"os"
	"os/exec"
	"regexp"
	"strings"
	"testing"
	"time"
)

const promtoolCmd = "/usr/bin/promtool"

// TestAlertRules: contrib/prometheus/alerts.yml passes promtool's check,
// each alert fires on the series of alerts_test.yml that should raise it,
// and every metric it names is one the README's Metrics table lists.
func TestAlertRules(t *testing.T) {
	t.Parallel()
	requireProgram(t, promtoolCmd)
	ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
	defer cancel()
	check := exec.CommandContext(ctx, promtoolCmd, "check", "rules", "alerts.yml")
	check.Dir = "../../../contrib/prometheus"
	out, err := check.CombinedOutput()
	if err != nil || !strings.Contains(string(out), "SUCCESS: 9 rules found") {
		t.Errorf("promtool check rules alerts.yml: %v\n%s", err, out)
	}
	test := exec.CommandContext(ctx, promtoolCmd, "test", "rules", "alerts_test.yml")
	test.Dir = "../../../contrib/prometheus"
	if out, err := test.CombinedOutput(); err != nil {
		t.Errorf("promtool test rules alerts_test.yml: %v\n%s", err, out)
	}

	rules, err := os.ReadFile("../../../contrib/prometheus/alerts.yml")
	if err != nil {
		t.Fatal(err)
	}
	readme, err := os.ReadFile("../../../README.md")
	if err != nil {
		t.Fatal(err)
	}
	documented := map[string]bool{}
	for _, m := range regexp.MustCompile("(?m)^\\| `(sekisho_[a-z_]+)` \\|").FindAllStringSubmatch(string(readme), -1) {
		documented[m[1]] = true
	}
	suffix := regexp.MustCompile(`_(count|sum|bucket)$`)
	for _, name := range regexp.MustCompile(`\bsekisho_[a-z_]+\b`).FindAllString(string(rules), -1) {
		if !documented[name] && !documented[suffix.ReplaceAllString(name, "")] {
			t.Errorf("alerts.yml uses %s, which the README's Metrics table does not list", name)
		}
	}
}
