// Package scan runs saved messages through the policy engine, stage by
// stage as the daemon does, and reports what each rule finds: the engine
// of `sekisho scan`.
package scan

import (
	"bufio"
	"bytes"
	"errors"
	"fmt"
	"io"
	"io/fs"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"syscall"
)

// Item is one message read from a path: an .eml file, a message of an
// mbox file or of a Maildir.
type Item struct {
	Source string // the file, with ":N" for the Nth message (from 1) of an mbox
	Raw    []byte
	Err    error // the message could not be read
}

// MaxMessage is the largest message read; a larger one is reported as an
// error rather than held in memory.
const MaxMessage = 256 << 20

// Walk calls fn for each message under paths, in order: a file is an mbox
// when it starts with a "From " line and one message otherwise; a
// directory with cur/ or new/ is a Maildir (both read, tmp/ left alone);
// any other directory is walked in name order, its hidden entries left
// out. A path that cannot be read is passed to fn as an Item with Err.
// Walk stops at the first error fn returns.
//
// Only regular files are read: a named pipe, a socket or a device is
// reported as an Item with Err (reading a pipe would wait for a writer for
// ever; opening a device can act on it). A path given is followed if it
// is a symbolic link, but a link met inside a directory is not (as grep -r
// does): it is reported as an Item with Err, so that a link planted in a
// mail tree cannot make a scan run as root print a file from elsewhere.
func Walk(paths []string, fn func(Item) error) error {
	for _, p := range paths {
		if err := walk(p, fn); err != nil {
			return err
		}
	}
	return nil
}

// walk reads path, a path given (followed if a link) or a subdirectory
// met in a walk (never a link: readDir checks).
func walk(path string, fn func(Item) error) error {
	fi, err := os.Stat(path)
	if err != nil {
		return fn(Item{Source: path, Err: err})
	}
	if why := notRegular(fi.Mode()); why != "" {
		return fn(Item{Source: path, Err: errors.New(why)})
	}
	if !fi.IsDir() {
		return readFile(path, true, fn)
	}
	if isMaildir(path) {
		for _, sub := range []string{"cur", "new"} {
			if err := readDir(filepath.Join(path, sub), false, fn); err != nil {
				return err
			}
		}
		return nil
	}
	return readDir(path, true, fn)
}

// isMaildir reports a directory with a cur/ or new/ subdirectory (not a
// link to one).
func isMaildir(dir string) bool {
	for _, sub := range []string{"cur", "new"} {
		if fi, err := os.Lstat(filepath.Join(dir, sub)); err == nil && fi.IsDir() {
			return true
		}
	}
	return false
}

// notRegular says why an entry of the given type is not read, "" for a
// regular file or a directory.
func notRegular(m fs.FileMode) string {
	switch {
	case m&fs.ModeSymlink != 0:
		return "symbolic link inside a directory: not followed"
	case m&fs.ModeNamedPipe != 0:
		return "named pipe: not read"
	case m&fs.ModeSocket != 0:
		return "socket: not read"
	case m&fs.ModeDevice != 0:
		return "device: not read"
	case m&fs.ModeIrregular != 0:
		return "not a regular file: not read"
	}
	return ""
}

// readDir reads the entries of dir in name order; recurse walks its
// subdirectories too. Entries that are neither regular files nor
// directories, links included, are reported, not read.
func readDir(dir string, recurse bool, fn func(Item) error) error {
	if !recurse { // a Maildir's cur/ or new/
		fi, err := os.Lstat(dir)
		if errors.Is(err, fs.ErrNotExist) {
			return nil // a Maildir without new/ or cur/
		}
		if err == nil && !fi.IsDir() {
			if why := notRegular(fi.Mode()); why != "" {
				return fn(Item{Source: dir, Err: errors.New(why)})
			}
			return nil
		}
	}
	entries, err := os.ReadDir(dir)
	if err != nil {
		return fn(Item{Source: dir, Err: err})
	}
	slices.SortFunc(entries, func(a, b fs.DirEntry) int { return strings.Compare(a.Name(), b.Name()) })
	for _, e := range entries {
		if strings.HasPrefix(e.Name(), ".") {
			continue
		}
		p := filepath.Join(dir, e.Name())
		var err error
		switch why := notRegular(e.Type()); {
		case why != "":
			err = fn(Item{Source: p, Err: errors.New(why)})
		case e.IsDir() && recurse:
			err = walk(p, fn)
		case e.IsDir():
		default:
			err = readFile(p, false, fn)
		}
		if err != nil {
			return err
		}
	}
	return nil
}

// readFile reads one message, or each message of an mbox. A file found in
// a directory (not named) is left out unless it looks like mail: an mbox,
// or a file whose first line is a header field.
//
// The file is opened without waiting (O_NONBLOCK) and, when found in a
// directory, without following a link (O_NOFOLLOW), and read only if it
// is then a regular file: an entry replaced by a pipe or a link after the
// directory was listed is reported, not waited on or followed.
func readFile(path string, named bool, fn func(Item) error) error {
	flags := os.O_RDONLY | syscall.O_NONBLOCK
	if !named {
		flags |= syscall.O_NOFOLLOW
	}
	f, err := os.OpenFile(path, flags, 0)
	if errors.Is(err, syscall.ELOOP) && !named {
		return fn(Item{Source: path, Err: errors.New(notRegular(fs.ModeSymlink))})
	}
	if err != nil {
		return fn(Item{Source: path, Err: err})
	}
	defer f.Close()
	fi, err := f.Stat()
	if err != nil {
		return fn(Item{Source: path, Err: err})
	}
	if why := notRegular(fi.Mode()); why != "" || !fi.Mode().IsRegular() {
		if why == "" {
			why = "not a regular file: not read"
		}
		return fn(Item{Source: path, Err: errors.New(why)})
	}
	br := bufio.NewReaderSize(f, 64<<10)
	head, _ := br.Peek(5)
	if string(head) == "From " {
		return readMbox(path, br, fn)
	}
	if !named {
		if head, _ := br.Peek(1000); !startsWithField(head) {
			return nil
		}
	}
	raw, err := io.ReadAll(io.LimitReader(br, MaxMessage+1))
	switch {
	case err != nil:
		return fn(Item{Source: path, Err: err})
	case len(raw) > MaxMessage:
		return fn(Item{Source: path, Err: fmt.Errorf("larger than %d MiB", MaxMessage>>20)})
	}
	return fn(Item{Source: path, Raw: raw})
}

// readMbox splits an mbox at its "From " lines: at the start and after an
// empty line, so that an unescaped "From " inside a paragraph (mboxo)
// does not cut a message. Lines escaped as ">From " (mboxrd) lose one ">".
func readMbox(path string, br *bufio.Reader, fn func(Item) error) error {
	var msg bytes.Buffer
	n := 0
	tooBig := false
	flush := func() error {
		if n == 0 {
			return nil
		}
		src := fmt.Sprintf("%s:%d", path, n)
		if tooBig {
			return fn(Item{Source: src, Err: fmt.Errorf("larger than %d MiB", MaxMessage>>20)})
		}
		raw := bytes.Clone(msg.Bytes())
		// The empty line before the next "From " belongs to the mbox.
		if bytes.HasSuffix(raw, []byte("\r\n\r\n")) {
			raw = raw[:len(raw)-2]
		} else if bytes.HasSuffix(raw, []byte("\n\n")) {
			raw = raw[:len(raw)-1]
		}
		return fn(Item{Source: src, Raw: raw})
	}
	prevEmpty := true
	for {
		line, err := br.ReadSlice('\n')
		if len(line) > 0 || err == nil {
			if errors.Is(err, bufio.ErrBufferFull) {
				// A very long line: keep it whole.
				rest, err2 := br.ReadBytes('\n')
				line = append(bytes.Clone(line), rest...)
				err = err2
			}
			switch {
			case prevEmpty && bytes.HasPrefix(line, []byte("From ")):
				if err := flush(); err != nil {
					return err
				}
				n++
				msg.Reset()
				tooBig = false
			case tooBig:
			default:
				if isEscapedFrom(line) {
					line = line[1:]
				}
				msg.Write(line)
				if msg.Len() > MaxMessage {
					tooBig = true
					msg.Reset()
				}
			}
			prevEmpty = len(bytes.TrimRight(line, "\r\n")) == 0
		}
		if err == io.EOF {
			return flush()
		}
		if err != nil {
			return fn(Item{Source: fmt.Sprintf("%s:%d", path, n+1), Err: err})
		}
	}
}

// isEscapedFrom reports a ">From ", ">>From " … line.
func isEscapedFrom(line []byte) bool {
	i := 0
	for i < len(line) && line[i] == '>' {
		i++
	}
	return i > 0 && bytes.HasPrefix(line[i:], []byte("From "))
}

// startsWithField reports whether b starts with a header field name and
// its colon.
func startsWithField(b []byte) bool {
	for i, c := range b {
		switch {
		case c == ':':
			return i > 0
		case c <= ' ' || c > '~':
			return false
		}
	}
	return false
}
