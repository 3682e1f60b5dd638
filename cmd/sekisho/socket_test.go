package main

import (
	"net"
	"os"
	"path/filepath"
	"strings"
	"syscall"
	"testing"

	"github.com/sekisho/sekisho/policy"
)

func unixConfig(t *testing.T, path string) *policy.Config {
	t.Helper()
	c, err := policy.Parse("t.toml", []byte("listen = \"unix:"+path+"\"\nsocket_mode = \"0600\"\n"))
	if err != nil {
		t.Fatal(err)
	}
	return c
}

// TestListenKeepsOtherFiles: a file at the socket path that is not a
// socket is never removed, and the error names it; a stale socket is.
func TestListenKeepsOtherFiles(t *testing.T) {
	dir := t.TempDir()
	path := filepath.Join(dir, "sekisho.sock")
	if err := os.WriteFile(path, []byte("precious"), 0o644); err != nil {
		t.Fatal(err)
	}
	_, _, err := listenOn(unixConfig(t, path))
	if err == nil || !strings.Contains(err.Error(), path) || !strings.Contains(err.Error(), "not a socket") {
		t.Errorf("listen over a regular file: %v", err)
	}
	if b, err := os.ReadFile(path); err != nil || string(b) != "precious" {
		t.Errorf("the file was touched: %q, %v", b, err)
	}
	os.Mkdir(filepath.Join(dir, "d.sock"), 0o755)
	if _, _, err := listenOn(unixConfig(t, filepath.Join(dir, "d.sock"))); err == nil || !strings.Contains(err.Error(), "a directory") {
		t.Errorf("listen over a directory: %v", err)
	}

	// A stale socket (nothing listens) is replaced; one in use is not.
	stale := filepath.Join(dir, "stale.sock")
	l, err := net.Listen("unix", stale)
	if err != nil {
		t.Fatal(err)
	}
	l.(*net.UnixListener).SetUnlinkOnClose(false)
	l.Close()
	ln, remove, err := listenOn(unixConfig(t, stale))
	if err != nil {
		t.Fatalf("listen over a stale socket: %v", err)
	}
	if fi, err := os.Stat(stale); err != nil || fi.Mode().Perm() != 0o600 {
		t.Errorf("socket mode %v, %v", fi.Mode(), err)
	}
	if _, _, err := listenOn(unixConfig(t, stale)); err == nil || !strings.Contains(err.Error(), "in use") {
		t.Errorf("listen over a socket in use: %v", err)
	}
	ln.Close()
	remove()
	if _, err := os.Lstat(stale); !os.IsNotExist(err) {
		t.Errorf("socket left at exit: %v", err)
	}

	// At exit, a file that replaced our socket stays.
	_, remove, err = listenOn(unixConfig(t, stale))
	if err != nil {
		t.Fatal(err)
	}
	os.Remove(stale)
	os.WriteFile(stale, []byte("new"), 0o644)
	remove()
	if b, _ := os.ReadFile(stale); string(b) != "new" {
		t.Error("the file that replaced the socket was removed at exit")
	}
}

func TestSocketGroup(t *testing.T) {
	if testing.Short() {
		t.Skip("needs root, to give the socket to group postfix: run without -short")
	}
	path := filepath.Join(t.TempDir(), "g.sock")
	c, err := policy.Parse("t.toml", []byte("listen = \"unix:"+path+"\"\nsocket_group = \"postfix\"\n"))
	if err != nil {
		t.Fatal(err)
	}
	_, remove, err := listenOn(c)
	if err != nil {
		t.Fatal(err)
	}
	defer remove()
	gid, _ := lookupGroup("postfix")
	if fi, err := os.Stat(path); err != nil || int(fi.Sys().(*syscall.Stat_t).Gid) != gid {
		t.Errorf("socket group: %v", err)
	}
	if _, err := policy.Parse("t.toml", []byte("socket_group = \"no-such-group-x\"\n")); err == nil || !strings.Contains(err.Error(), "socket_group") {
		t.Errorf("unknown group: %v", err)
	}
}
