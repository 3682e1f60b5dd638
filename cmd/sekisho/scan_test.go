package main

import (
	"bufio"
	"bytes"
	"encoding/json"
	"os"
	"path/filepath"
	"strings"
	"testing"
)

// runScanArgs runs `sekisho scan` in the process.
func runScanArgs(t *testing.T, args ...string) (int, string, string) {
	t.Helper()
	var out, errb bytes.Buffer
	code := run(append([]string{"scan"}, args...), &out, &errb)
	return code, out.String(), errb.String()
}

// TestScanExitStatus: 0 when every message would be delivered, 1 when one
// would be refused, 2 for an error.
func TestScanExitStatus(t *testing.T) {
	dir := t.TempDir()
	ok := "../../testdata/scan/Maildir/cur/1700000001.M1P1.mx:2,S"
	exe := "../../testdata/scan/exe-to-design.eml"
	cfg := "../../testdata/scan/policy.toml"
	for _, tc := range []struct {
		args []string
		code int
		out  string
	}{
		{[]string{"-config", cfg, "-rcpt", "tanaka@example.co.jp", ok}, 0, "verdict     accept"},
		{[]string{"-config", cfg, "-rcpt", "tanaka@example.co.jp", ok, exe}, 1, "reject 550 5.7.1 Attachment type not allowed: setup.exe (attachment_extension at eob"},
		{[]string{"-config", cfg, "-rcpt", "tanaka@example.co.jp", ok, filepath.Join(dir, "missing.eml")}, 2, "no such file"},
		{[]string{"-config", "../../testdata/config/invalid-three-kinds.toml", ok}, 2, ""},
		{[]string{ok, "-client-ip", "bad"}, 2, ""}, // flags after PATH are paths
		{[]string{}, 2, ""},
	} {
		code, out, errs := runScanArgs(t, tc.args...)
		if code != tc.code || !strings.Contains(out+errs, tc.out) {
			t.Errorf("scan %q: exit %d, want %d with %q:\n%s%s", tc.args, code, tc.code, tc.out, out, errs)
		}
	}
	if code, _, errs := runScanArgs(t, "-client-ip", "300.1.1.1", ok); code != 2 || !strings.Contains(errs, "-client-ip") {
		t.Errorf("bad -client-ip: exit %d, %s", code, errs)
	}
}

// TestScanJSON: -json prints one object per message, with the envelope,
// the policy, the inspection, each rule's finding and the outcome.
func TestScanJSON(t *testing.T) {
	code, out, errs := runScanArgs(t, "-json", "-config", "../../testdata/scan/policy.toml", "../../testdata/scan/sample.mbox")
	if code != 0 {
		t.Fatalf("exit %d: %s", code, errs)
	}
	var got []map[string]any
	sc := bufio.NewScanner(strings.NewReader(out))
	sc.Buffer(nil, 1<<20)
	for sc.Scan() {
		var m map[string]any
		if err := json.Unmarshal(sc.Bytes(), &m); err != nil {
			t.Fatalf("line %q: %v", sc.Text(), err)
		}
		got = append(got, m)
	}
	if len(got) != 3 {
		t.Fatalf("%d objects:\n%s", len(got), out)
	}
	second := got[1]
	if second["policy"] != "design" || second["outcome"].(map[string]any)["action"] != "accept" ||
		second["inspection"].(map[string]any)["subject"] != "Big sale" || second["envelope"].(map[string]any)["sender"] != "promo@example.com" {
		t.Errorf("second message: %v", second)
	}
	rules := second["rules"].([]any)
	var notRun, tagged bool
	for _, r := range rules {
		r := r.(map[string]any)
		notRun = notRun || (r["rule"] == "virus" && r["not_run"] != nil)
		tagged = tagged || (r["rule"] == "ascii_only" && r["found"] == true && r["action"] == "tag")
	}
	if !notRun || !tagged {
		t.Errorf("rules: %v", rules)
	}
}

// TestScanCompare: -compare shows the messages whose verdict differs under
// a second configuration, and both summaries.
func TestScanCompare(t *testing.T) {
	dir := t.TempDir()
	strict := filepath.Join(dir, "strict.toml")
	base, err := os.ReadFile("../../testdata/scan/policy.toml")
	if err != nil {
		t.Fatal(err)
	}
	// Without the design policy, design's ASCII-only mail is refused.
	os.WriteFile(strict, []byte(strings.Split(string(base), "[[policy]]")[0]), 0o644)
	code, out, errs := runScanArgs(t, "-config", "../../testdata/scan/policy.toml", "-compare", strict, "../../testdata/scan/sample.mbox")
	if code != 0 {
		t.Fatalf("exit %d: %s\n%s", code, errs, out)
	}
	for _, want := range []string{
		"== 1 of 3 messages differ",
		"sample.mbox:2\n    accept\n    reject 550 5.7.1 The subject has no Japanese (non-ASCII) text (ascii_only at eoh",
		"under " + strict + ":\n== summary: 3 messages, 2 accept, 1 reject",
	} {
		if !strings.Contains(out, want) {
			t.Errorf("output lacks %q:\n%s", want, out)
		}
	}
}
