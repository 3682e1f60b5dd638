package milter

import (
	"bytes"
	"fmt"
	"io"
	"os"
)

// spool holds one raw message: in memory up to a threshold, then in a
// temporary file, so that a 50 MB message does not cost 50 MB of memory.
type spool struct {
	dir   string
	limit int64
	buf   bytes.Buffer
	f     *os.File
	n     int64
	err   error
}

func newSpool(dir string, limit int64) *spool {
	return &spool{dir: dir, limit: limit}
}

// Write appends to the spool. After a failure every later write fails too.
func (s *spool) Write(p []byte) (int, error) {
	if s.err != nil {
		return 0, s.err
	}
	if s.f == nil && int64(s.buf.Len()+len(p)) > s.limit {
		f, err := os.CreateTemp(s.dir, "sekisho-*.eml")
		if err != nil {
			s.err = fmt.Errorf("spool: %w", err)
			return 0, s.err
		}
		// The file is unlinked at once: it goes away with the process, whatever happens.
		os.Remove(f.Name())
		s.f = f
		if _, err := f.Write(s.buf.Bytes()); err != nil {
			s.err = fmt.Errorf("spool: %w", err)
			return 0, s.err
		}
		s.buf = bytes.Buffer{}
	}
	var err error
	if s.f != nil {
		_, err = s.f.Write(p)
	} else {
		s.buf.Write(p)
	}
	if err != nil {
		s.err = fmt.Errorf("spool: %w", err)
		return 0, s.err
	}
	s.n += int64(len(p))
	return len(p), nil
}

// Size returns the bytes written so far.
func (s *spool) Size() int64 { return s.n }

// Open returns a reader over everything written so far.
func (s *spool) Open() (io.ReadCloser, error) {
	if s.err != nil {
		return nil, s.err
	}
	if s.f == nil {
		return io.NopCloser(bytes.NewReader(s.buf.Bytes())), nil
	}
	return io.NopCloser(io.NewSectionReader(s.f, 0, s.n)), nil
}

// Close releases the memory and the temporary file.
func (s *spool) Close() {
	if s.f != nil {
		s.f.Close()
		s.f = nil
	}
	s.buf = bytes.Buffer{}
	s.n = 0
	s.err = nil
}
