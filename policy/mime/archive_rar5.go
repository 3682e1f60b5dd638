package mime

import (
	"bytes"
	"io"
)

// rar5Sig starts a RAR 5 archive.
var rar5Sig = []byte("Rar!\x1a\x07\x01\x00")

// rar5Checkable reads the plain headers of a RAR 5 archive and tells, for
// each file entry in order, whether a wrong password can be told from the
// right one: the entry has a CRC-32 of its content, or a password check
// value. An entry with neither decrypts to garbage under any password
// without an error, so no candidate can be said to fit. It returns nil
// when the headers cannot be read this way (not RAR 5, encrypted headers,
// damage): entries are then not taken as checkable.
func rar5Checkable(ra io.ReaderAt, size int64, maxEntries int) []bool {
	head := make([]byte, min(size, 1<<20))
	n, _ := ra.ReadAt(head, 0)
	start := bytes.Index(head[:n], rar5Sig)
	if start < 0 {
		return nil
	}
	pos := int64(start + len(rar5Sig))
	var out []bool
	buf := make([]byte, 0, 512)
	for len(out) <= maxEntries {
		// CRC32, header size (vint, at most 3 bytes for 2 MiB headers).
		var pre [7]byte
		m, _ := ra.ReadAt(pre[:], pos)
		p := &szParser{b: pre[4:m]}
		hsize := rarVint(p)
		if p.err != nil || hsize == 0 || hsize > 2<<20 {
			return nil
		}
		hstart := pos + 4 + int64(m-4-len(p.b))
		if hstart+int64(hsize) > size {
			return nil
		}
		buf = buf[:0]
		buf = append(buf, make([]byte, hsize)...)
		if _, err := ra.ReadAt(buf, hstart); err != nil {
			return nil
		}
		h := &szParser{b: buf}
		typ := rarVint(h)
		flags := rarVint(h)
		var extra, data uint64
		if flags&0x1 != 0 {
			extra = rarVint(h)
		}
		if flags&0x2 != 0 {
			data = rarVint(h)
		}
		if h.err != nil || extra > hsize {
			return nil
		}
		switch typ {
		case 2: // file
			out = append(out, rar5FileCheckable(h, buf[hsize-extra:]))
		case 4: // archive encryption: the headers are encrypted
			return nil
		case 5: // end of archive
			return out
		}
		pos = hstart + int64(hsize) + int64(data)
		if data > uint64(size) || pos > size {
			return nil
		}
	}
	return out
}

// rar5FileCheckable reads a file header's fields, then its extra area.
func rar5FileCheckable(h *szParser, extra []byte) bool {
	fileFlags := rarVint(h)
	rarVint(h) // unpacked size
	rarVint(h) // attributes
	if fileFlags&0x2 != 0 {
		h.bytes(4) // modification time
	}
	hasCRC := fileFlags&0x4 != 0
	if h.err != nil {
		return false
	}
	x := &szParser{b: extra}
	for len(x.b) > 0 && x.err == nil {
		rsize := rarVint(x)
		rec := &szParser{b: x.bytes(rsize)}
		if x.err != nil {
			return false
		}
		if rarVint(rec) != 1 { // not the encryption record
			continue
		}
		rarVint(rec) // version
		cflags := rarVint(rec)
		return rec.err == nil && (hasCRC || cflags&0x1 != 0)
	}
	return hasCRC
}
