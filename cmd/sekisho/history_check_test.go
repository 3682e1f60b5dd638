package main

import (
	"bytes"
	"fmt"
	"net"
	"os"
	"path/filepath"
	"strings"
	"testing"
)

// TestCheckHistory: -check warns, and still exits 0, when the history
// could not be written: no directory for the SQLite file, or a
// PostgreSQL that does not answer.
func TestCheckHistory(t *testing.T) {
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	closed := l.Addr().String()
	l.Close()
	dir := t.TempDir()
	for store, want := range map[string]string{
		filepath.Join(dir, "history.db"):                     "",
		filepath.Join(dir, "nodir", "history.db"):            "warning: history.store: no directory",
		fmt.Sprintf("postgres://sekisho@%s/sekisho", closed): "warning: history.store: history store postgres://sekisho@" + closed,
	} {
		path := filepath.Join(dir, "c.toml")
		if err := os.WriteFile(path, []byte(fmt.Sprintf("[history]\nstore = %q\n", store)), 0o644); err != nil {
			t.Fatal(err)
		}
		var out, errb bytes.Buffer
		code := run([]string{"-check", "-config", path}, &out, &errb)
		if code != 0 || want == "" && errb.Len() > 0 || !strings.Contains(errb.String(), want) {
			t.Errorf("store %s: exit %d, stderr:\n%s\nwant %q", store, code, errb.String(), want)
		}
	}
	if _, err := os.Stat(filepath.Join(dir, "history.db")); err == nil {
		t.Error("-check created the history file")
	}
}

// TestCheckConsoleCommands: -check warns, and still exits 0, when a
// held-mail command of the console names a program that is not there; a
// command turned off ([]) is not looked for.
func TestCheckConsoleCommands(t *testing.T) {
	dir := t.TempDir()
	path := filepath.Join(dir, "c.toml")
	cfg := fmt.Sprintf("[history]\nstore = %q\n[console]\nlisten = \"127.0.0.1:10031\"\nqueue_command = [\"/bin/echo\"]\nrelease_command = [\"/nonexistent/postsuper\", \"-H\"]\ndelete_command = []\nflush_command = [\"true\"]\n",
		filepath.Join(dir, "h.db"))
	if err := os.WriteFile(path, []byte(cfg), 0o644); err != nil {
		t.Fatal(err)
	}
	var out, errb bytes.Buffer
	code := run([]string{"-check", "-config", path}, &out, &errb)
	if code != 0 || strings.Count(errb.String(), "warning: console.") != 1 ||
		!strings.Contains(errb.String(), "warning: console.release_command: /nonexistent/postsuper is not found: held mail cannot be released") {
		t.Errorf("exit %d, stderr:\n%s", code, errb.String())
	}
}
