package mime

import (
	"bytes"
	"io/fs"
	"os"
	"path/filepath"
	"strings"
	"testing"
)

// damages are header lines other software writes and a strict parser
// stops at: a line without a colon, a name with a space, a continuation
// line with nothing to continue.
var damages = []string{
	"This line is not a header field",
	"Bad Name: value",
	"  continuation of nothing",
}

// headerStarts returns the offsets where a header block starts in msg: the
// message start and the line after every line that starts with "--" and is
// followed by a line that looks like a header field.
func headerStarts(msg []byte) []int {
	starts := []int{0}
	lines := bytes.SplitAfter(msg, []byte("\n"))
	off := 0
	for i, l := range lines {
		off += len(l)
		if bytes.HasPrefix(l, []byte("--")) && i+1 < len(lines) && bytes.Contains(lines[i+1], []byte(":")) {
			starts = append(starts, off)
		}
	}
	return starts
}

// TestDamagedHeaderLines runs every .eml under testdata twice, as is and
// with one damaged line inserted into one header block (each block in turn,
// each kind of damage): the damaged copy never lists fewer attachments,
// unless it is marked uninspectable.
func TestDamagedHeaderLines(t *testing.T) {
	var files []string
	filepath.WalkDir("../../testdata", func(path string, d fs.DirEntry, err error) error {
		if err == nil && !d.IsDir() && strings.HasSuffix(path, ".eml") {
			files = append(files, path)
		}
		return nil
	})
	if len(files) < 40 {
		t.Fatalf("only %d .eml files found under testdata", len(files))
	}
	copies := 0
	for _, file := range files {
		msg, err := os.ReadFile(file)
		if err != nil {
			t.Fatal(err)
		}
		intact, err := Inspect(bytes.NewReader(msg), DefaultLimits())
		if err != nil {
			t.Fatal(err)
		}
		nl := "\n"
		if bytes.Contains(msg, []byte("\r\n")) {
			nl = "\r\n"
		}
		for _, at := range headerStarts(msg) {
			for _, d := range damages {
				damaged := append(append(append([]byte(nil), msg[:at]...), d+nl...), msg[at:]...)
				res, err := Inspect(bytes.NewReader(damaged), DefaultLimits())
				if err != nil {
					t.Fatal(err)
				}
				copies++
				if len(res.Attachments) < len(intact.Attachments) && len(res.Uninspected) == 0 {
					t.Errorf("%s with %q at offset %d: %d attachments, %d intact, nothing marked uninspectable",
						filepath.Base(file), d, at, len(res.Attachments), len(intact.Attachments))
				}
			}
		}
	}
	t.Logf("%d files, %d damaged copies", len(files), copies)
}
