package e2e_test

import (
	"context"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"strings"
	"testing"
	"time"
)

// TestVersion: -version prints the version set at build time, the VCS
// revision and time the toolchain recorded, and the Go version, and exits 0
// without reading a configuration.
func TestVersion(t *testing.T) {
	if testing.Short() {
		t.Skip("builds the binary again with a version and its git revision, which takes seconds: run without -short")
	}
	t.Parallel()
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Minute)
	defer cancel()
	head, err := exec.CommandContext(ctx, "git", "rev-parse", "HEAD").Output()
	if err != nil {
		t.Fatalf("git rev-parse HEAD: %v", err)
	}
	bin := filepath.Join(t.TempDir(), "sekisho")
	// -buildvcs=true whatever GOFLAGS says: the revision is what is tested.
	build := exec.CommandContext(ctx, "go", "build", "-buildvcs=true", "-ldflags", "-X main.version=v1.2.3-test", "-o", bin, "..")
	if out, err := build.CombinedOutput(); err != nil {
		t.Fatalf("go build: %v\n%s", err, out)
	}
	info, err := exec.CommandContext(ctx, "go", "version", "-m", bin).Output()
	if err != nil {
		t.Fatalf("go version -m: %v", err)
	}
	out, err := exec.CommandContext(ctx, bin, "-version", "-config", "/nonexistent.toml").CombinedOutput()
	if err != nil {
		t.Fatalf("-version: %v\n%s", err, out)
	}
	want := regexp.MustCompile(`^sekisho v1\.2\.3-test revision ` + strings.TrimSpace(string(head)) +
		`( \(modified\))? time \d{4}-\d\d-\d\dT\d\d:\d\d:\d\dZ go1\.\d+\S*\n$`)
	if !strings.Contains(string(info), "vcs.revision=") {
		// The toolchain stamps a clone, not a linked worktree (.git is a
		// file there): only the version can be asserted then.
		if fi, err := os.Stat("../../../.git"); err == nil && fi.IsDir() {
			t.Fatalf("go build -buildvcs=true recorded no revision in a git clone:\n%s", info)
		}
		want = regexp.MustCompile(`^sekisho v1\.2\.3-test go1\.\d+\S*\n$`)
	}
	if !want.Match(out) {
		t.Errorf("-version printed %q; want %s", out, want)
	}

	// The binary TestMain builds is of the tree as it is: no version set,
	// and a revision only when the toolchain stamped one.
	code, text := runSekisho(t, "-version")
	if code != 0 || !regexp.MustCompile(`^sekisho \(devel\)( revision [0-9a-f]{40}( \(modified\))? time \S+)? go1\.\S+\n$`).MatchString(text) {
		t.Errorf("-version of a development build: exit %d, %q", code, text)
	}
}

// TestUsage: a word the daemon does not take is a usage error (exit 2)
// that names it, never a daemon started as if it were not there; -h and
// "help" print the usage and exit 0.
func TestUsage(t *testing.T) {
	t.Parallel()
	for _, tc := range []struct {
		args []string
		code int
		want string
	}{
		{[]string{"version"}, 2, `sekisho: unknown command "version"`},
		{[]string{"foo"}, 2, `sekisho: unknown command "foo"`},
		{[]string{"start", "-config", "x.toml"}, 2, `sekisho: unknown command "start"`},
		{[]string{"-check", "extra"}, 2, `sekisho: unexpected argument "extra"`},
		{[]string{"-listen", "inet:127.0.0.1:1", "now"}, 2, `sekisho: unexpected argument "now"`},
		{[]string{"-nosuchflag"}, 2, "flag provided but not defined: -nosuchflag"},
		{[]string{"-h"}, 0, "  -version\n"},
		{[]string{"help"}, 0, "usage: sekisho [-config FILE]"},
	} {
		// A daemon started by mistake would still be running at the
		// deadline: runSekisho's context fails the test then.
		code, out := runSekisho(t, tc.args...)
		if code != tc.code || !strings.Contains(out, tc.want) {
			t.Errorf("sekisho %s: exit %d, output:\n%s\nwant exit %d and %q", strings.Join(tc.args, " "), code, out, tc.code, tc.want)
		}
		if tc.code == 2 && !strings.Contains(out, "usage: sekisho") {
			t.Errorf("sekisho %s: no usage in:\n%s", strings.Join(tc.args, " "), out)
		}
	}
}
