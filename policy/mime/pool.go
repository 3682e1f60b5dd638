package mime

import (
	"bufio"
	"io"
	"sync"
)

// Read buffers are pooled: a message makes a few for each of its parts,
// and under load their allocation and zeroing, and the garbage collection
// after them, cost more than the parsing they serve.
var (
	smallReaders = sync.Pool{New: func() any { return bufio.NewReaderSize(nil, 4096) }}
	scanReaders  = sync.Pool{New: func() any { return bufio.NewReaderSize(nil, scanBufMin) }}
)

// newReader returns a pooled 4 KiB buffered reader over r; freeReader
// gives it back once nothing reads from it any more.
func newReader(r io.Reader) *bufio.Reader {
	br := smallReaders.Get().(*bufio.Reader)
	br.Reset(r)
	return br
}

func freeReader(br *bufio.Reader) {
	br.Reset(nil)
	smallReaders.Put(br)
}

// newScanReader returns a buffered reader of at least size bytes over r,
// pooled when size is the common scanBufMin.
func newScanReader(r io.Reader, size int) *bufio.Reader {
	if size > scanBufMin {
		return bufio.NewReaderSize(r, size)
	}
	br := scanReaders.Get().(*bufio.Reader)
	br.Reset(r)
	return br
}

func freeScanReader(br *bufio.Reader) {
	if br.Size() == scanBufMin {
		br.Reset(nil)
		scanReaders.Put(br)
	}
}
