package scan_test

import (
	"net"
	"os"
	"path/filepath"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/sekisho/sekisho/policy/scan"
)

// walkItems walks paths and returns its items; a walk that takes longer
// than a minute has hung on something it should not read.
func walkItems(t *testing.T, paths ...string) []scan.Item {
	t.Helper()
	done := make(chan []scan.Item, 1)
	go func() {
		var items []scan.Item
		if err := scan.Walk(paths, func(it scan.Item) error {
			items = append(items, it)
			return nil
		}); err != nil {
			t.Error(err)
		}
		done <- items
	}()
	select {
	case items := <-done:
		return items
	case <-time.After(time.Minute):
		t.Fatalf("scan.Walk(%q) hangs", paths)
		return nil
	}
}

func write(t *testing.T, path, content string) {
	t.Helper()
	if err := os.MkdirAll(filepath.Dir(path), 0o755); err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(path, []byte(content), 0o644); err != nil {
		t.Fatal(err)
	}
}

const secret = "Subject: root only\r\n\r\nSECRET\r\n"

// TestWalkSkipsSpecialFiles: in a directory, a named pipe, a socket and a
// symbolic link (here to a file outside the tree) are reported as items
// with an error, never read: the walk neither hangs on the pipe nor
// prints the file the link points at. The mail beside them is read.
func TestWalkSkipsSpecialFiles(t *testing.T) {
	outside := t.TempDir()
	write(t, filepath.Join(outside, "secret.eml"), secret)
	dir := t.TempDir()
	write(t, filepath.Join(dir, "a.eml"), "Subject: a\r\n\r\nhello\r\n")
	if err := syscall.Mkfifo(filepath.Join(dir, "b.fifo"), 0o644); err != nil {
		t.Fatal(err)
	}
	ln, err := net.Listen("unix", filepath.Join(dir, "c.sock"))
	if err != nil {
		t.Fatal(err)
	}
	defer ln.Close()
	if err := os.Symlink(filepath.Join(outside, "secret.eml"), filepath.Join(dir, "d.eml")); err != nil {
		t.Fatal(err)
	}
	if err := os.Symlink(outside, filepath.Join(dir, "e")); err != nil { // a directory
		t.Fatal(err)
	}
	// A Maildir whose cur/ is a link out of the tree.
	write(t, filepath.Join(dir, "f", "new", "1.mx"), "Subject: f\r\n\r\nnew\r\n")
	if err := os.Symlink(outside, filepath.Join(dir, "f", "cur")); err != nil {
		t.Fatal(err)
	}

	want := map[string]string{
		"a.eml":      "",
		"b.fifo":     "named pipe",
		"c.sock":     "socket",
		"d.eml":      "symbolic link",
		"e":          "symbolic link",
		"f/cur":      "symbolic link",
		"f/new/1.mx": "",
	}
	items := walkItems(t, dir)
	got := map[string]bool{}
	for _, it := range items {
		rel, _ := filepath.Rel(dir, it.Source)
		got[rel] = true
		if strings.Contains(string(it.Raw), "SECRET") {
			t.Errorf("%s: a file outside the tree was read through a link", rel)
		}
		w, ok := want[rel]
		switch {
		case !ok:
			t.Errorf("unexpected item %s (error %v)", rel, it.Err)
		case w == "" && it.Err != nil:
			t.Errorf("%s: %v", rel, it.Err)
		case w != "" && (it.Err == nil || !strings.Contains(it.Err.Error(), w)):
			t.Errorf("%s: error %v, want one saying %q", rel, it.Err, w)
		}
	}
	for rel := range want {
		if !got[rel] {
			t.Errorf("no item for %s", rel)
		}
	}
}

// TestWalkNamedPaths: a named pipe given by name is reported, not waited
// on; a symbolic link given by name is followed (the admin named it).
func TestWalkNamedPaths(t *testing.T) {
	dir := t.TempDir()
	fifo := filepath.Join(dir, "p")
	if err := syscall.Mkfifo(fifo, 0o644); err != nil {
		t.Fatal(err)
	}
	items := walkItems(t, fifo)
	if len(items) != 1 || items[0].Err == nil || !strings.Contains(items[0].Err.Error(), "named pipe") {
		t.Errorf("a named pipe given: %+v", items)
	}
	write(t, filepath.Join(dir, "m.eml"), "Subject: m\r\n\r\nhello\r\n")
	link := filepath.Join(dir, "link.eml")
	if err := os.Symlink(filepath.Join(dir, "m.eml"), link); err != nil {
		t.Fatal(err)
	}
	items = walkItems(t, link)
	if len(items) != 1 || items[0].Err != nil || !strings.Contains(string(items[0].Raw), "hello") {
		t.Errorf("a link given by name: %+v", items)
	}
}
