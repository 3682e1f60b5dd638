package mime

// TNEF (winmail.dat, application/ms-tnef): Outlook and Exchange wrap a
// message's attachments in it, and Outlook shows the files inside. The
// reader is written here from [MS-OXTNEF] rather than taken from the TNEF
// module the Go module proxy serves (github.com/teamwork/tnef, unchanged
// since 2020): that one takes the whole stream in memory and slices it by
// the lengths the stream gives, so that a length that lies panics it (its
// own tests say so), reads no attachment property (no long file name, no
// PidTagAttachDataBinary, no embedded message), decodes no code page, and
// panics on an attachment attribute before the first attAttachRendData.
// Bounding it would leave all but the attributes to write anyway. This
// reader seeks over the stream in its spool, reads attribute and property
// headers and names only, and leaves the contents where they are.

import (
	"bytes"
	"encoding/binary"
	"errors"
	"fmt"
	"io"
	"slices"
	"unicode/utf16"
)

// tnefSignature starts a TNEF stream, little-endian ([MS-OXTNEF] 2.1.3).
const tnefSignature = 0x223e9f78

// TNEF attribute IDs: the low 16 bits of an attribute's ID field; the high
// 16 bits are its type, which the reader does not trust ([MS-OXTNEF]
// 2.1.3.3).
const (
	attAttachData     = 0x800f // the attachment's content (PidTagAttachDataBinary)
	attAttachTitle    = 0x8010 // its file name in the code page of attOemCodepage (PidTagAttachFilename)
	attAttachRendData = 0x9002 // starts each attachment's attributes (2.1.3.3.15)
	attAttachment     = 0x9005 // the attachment's encapsulated properties (2.1.3.3.23)
	attOemCodepage    = 0x9007 // the code page of the stream's 8-bit strings
)

// Property tags ([MS-OXPROPS]) of the attachment properties the reader
// takes from attAttachment: type in the low 16 bits, ID in the high ones.
const (
	tagAttachLongFilename  = 0x3707001f // PidTagAttachLongFilename, what Outlook shows and saves
	tagAttachLongFilename8 = 0x3707001e
	tagAttachFilename      = 0x3704001f // PidTagAttachFilename, an 8.3 name
	tagAttachFilename8     = 0x3704001e
	tagDisplayName         = 0x3001001f // PidTagDisplayName, the name of an embedded message
	tagDisplayName8        = 0x3001001e
	tagAttachDataBinary    = 0x37010102 // PidTagAttachDataBinary
	tagAttachDataObject    = 0x3701000d // PidTagAttachDataObject: an interface identifier, then the object
	tagAttachMethod        = 0x37050003 // PidTagAttachMethod
)

// attachEmbeddedMessage is the PidTagAttachMethod of an attachment that is
// a message ([MS-OXCMSG] afEmbeddedMessage): its content is a TNEF stream
// of its own ([MS-OXTNEF] 2.1.3.4).
const attachEmbeddedMessage = 5

// iidIMessage is IID_IMessage, {00020307-0000-0000-C000-000000000046}, as
// stored before a PtypObject value that is an embedded message.
var iidIMessage = []byte{0x07, 0x03, 0x02, 0x00, 0x00, 0x00, 0x00, 0x00, 0xc0, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0x46}

// maxTNEFName bounds a file name read from a stream. Windows names are at
// most 32767 UTF-16 units; a longer one is not cut short (its extension
// would be lost) but taken as corruption.
const maxTNEFName = 64 << 10

// tnefWindow is how much of the stream tnefReader holds: the attributes and
// properties of a stream are many and small.
const tnefWindow = 4 << 10

// init registers TNEF as a container format.
func init() {
	registerContainer(&container{
		format: "tnef",
		// The signature is in archiveMagic; any .dat file is not claimed.
		types: []string{"application/ms-tnef", "application/vnd.ms-tnef"},
		open:  openTNEF,
	})
}

// openTNEF checks the signature of the TNEF stream in ra and returns a
// walker of its attachments.
func openTNEF(ra io.ReaderAt, size int64, _ string) (arcWalker, error) {
	// The signature, then a 16-bit key.
	w := &tnefWalker{r: tnefReader{ra: ra, size: size}, pos: 6}
	sig, err := w.r.bytes(0, 4)
	if errors.Is(err, errTNEFShort) || err == nil && binary.LittleEndian.Uint32(sig) != tnefSignature {
		return nil, errNotContainer
	}
	if err != nil {
		return nil, err
	}
	if size < 6 {
		return nil, errors.New("stream ends in its header")
	}
	return w, nil
}

// errTNEFShort: a structure of the stream runs past its end.
var errTNEFShort = errors.New("truncated")

// tnefReader reads the stream in ra (size bytes) through a window, so that
// its many small structures cost few reads of the spool.
type tnefReader struct {
	ra   io.ReaderAt
	size int64
	buf  [tnefWindow]byte
	win  []byte // the part of buf that holds the stream from off
	off  int64
}

// bytes returns the n bytes at off, errTNEFShort when the stream ends
// before them. Up to tnefWindow bytes come from the window and are valid
// until the next call; more are read into a slice of their own.
func (r *tnefReader) bytes(off, n int64) ([]byte, error) {
	if off < 0 || n < 0 || n > r.size-off {
		return nil, errTNEFShort
	}
	if off >= r.off && off+n <= r.off+int64(len(r.win)) {
		return r.win[off-r.off : off-r.off+n], nil
	}
	b := r.buf[:min(tnefWindow, r.size-off)]
	if n > tnefWindow {
		b = make([]byte, n)
	}
	if m, err := r.ra.ReadAt(b, off); m < len(b) {
		if err == nil || err == io.EOF {
			err = errTNEFShort
		}
		return nil, err
	}
	if n <= tnefWindow {
		r.win, r.off = b, off
	}
	return b[:n], nil
}

// tnefSpan is where a value lies in the stream.
type tnefSpan struct{ off, n int64 }

// tnefString is a string value as stored: UTF-16LE (PtypString) or in the
// code page of attOemCodepage (PtypString8, and the atpString attributes).
type tnefString struct {
	raw     []byte
	unicode bool
}

// tnefAttachment is what the attributes and properties of one attachment
// say.
type tnefAttachment struct {
	title                  *tnefString
	long, short, display   [2]*tnefString // by property: PtypString, then PtypString8
	data, binary, object   *tnefSpan      // attAttachData, PidTagAttachDataBinary, PidTagAttachDataObject
	objectIsMessage, props bool           // the object's identifier is IID_IMessage; attAttachment was read
	// embedded: a PidTagAttachMethod says afEmbeddedMessage.
	embedded bool
}

// tnefWalker gives the attachments of a TNEF stream as entries: those of
// each set of attachment attributes, which begins with attAttachRendData
// ([MS-OXTNEF] 2.1.3). The message's attributes, its body among them, are
// skipped. Attachment attributes before the first attAttachRendData form
// an attachment of their own, and attributes are told by their ID
// whatever level (message or attachment) they claim, so that no reader
// finds an attachment this one does not list. The attributes' checksums are not checked: a reader
// shows what an attribute holds whatever its checksum says.
type tnefWalker struct {
	r     tnefReader
	pos   int64       // the next attribute
	cp    uint32      // the code page of attOemCodepage, 0 until it is read
	queue []*arcEntry // entries of the attachment read last
	err   error       // what ends the walk once the queue is empty
}

// next returns the next entry (see arcWalker), reading the next
// attachment when the entries of the last one are given.
func (w *tnefWalker) next() (*arcEntry, error) {
	for len(w.queue) == 0 && w.err == nil {
		w.err = w.readAttachment()
	}
	if len(w.queue) == 0 {
		return nil, w.err
	}
	e := w.queue[0]
	w.queue = w.queue[1:]
	return e, nil
}

// readAttachment reads attributes up to the end of the next attachment (the
// next attAttachRendData, or the end of the stream) and queues its entries;
// io.EOF at the end of the stream. An attribute of an unknown level, or
// whose length runs past the end, is corrupt; fewer bytes than an
// attribute header after the last attribute are left, as TNEF readers
// leave them.
func (w *tnefWalker) readAttachment() error {
	var a *tnefAttachment
	defer func() { w.queueEntries(a) }()
	for {
		// Level (1 byte), ID (4), length (4); the data, then a checksum (2).
		hdr, err := w.r.bytes(w.pos, 9)
		if errors.Is(err, errTNEFShort) {
			return io.EOF
		}
		if err != nil {
			return err
		}
		id, n := binary.LittleEndian.Uint32(hdr[1:])&0xffff, int64(binary.LittleEndian.Uint32(hdr[5:]))
		if lvl := hdr[0]; lvl != 1 && lvl != 2 {
			// LVL_MESSAGE or LVL_ATTACHMENT: anything else is no TNEF
			// encoder's, and no reader's to agree on.
			return fmt.Errorf("attribute 0x%04x of level %d", id, lvl)
		}
		start := w.pos + 9
		if left := w.r.size - start - 2; n > left {
			return fmt.Errorf("attribute 0x%04x of %d bytes, %d left in the stream", id, n, max(left, 0))
		}
		if id == attAttachRendData && a != nil {
			return nil // the next call starts at this attribute
		}
		w.pos = start + n + 2
		switch id {
		case attAttachRendData:
			a = &tnefAttachment{}
		case attOemCodepage:
			// A code page, then a sub code page (ignored).
			if n >= 4 && w.cp == 0 {
				if b, err := w.r.bytes(start, 4); err == nil {
					w.cp = binary.LittleEndian.Uint32(b)
				}
			}
		case attAttachTitle, attAttachData, attAttachment:
			if a == nil {
				a = &tnefAttachment{}
			}
			if err := w.attribute(a, id, tnefSpan{start, n}); err != nil {
				return err
			}
		}
	}
}

// attribute records an attachment attribute of a; one given twice is
// corrupt, as readers would take either.
func (w *tnefWalker) attribute(a *tnefAttachment, id uint32, s tnefSpan) error {
	twice := fmt.Errorf("attribute 0x%04x given twice for one attachment", id)
	switch id {
	case attAttachTitle:
		if a.title != nil {
			return twice
		}
		raw, err := w.name(s)
		if err != nil {
			return err
		}
		a.title = &tnefString{raw: raw}
	case attAttachData:
		if a.data != nil {
			return twice
		}
		a.data = &s
	case attAttachment:
		if a.props {
			return twice
		}
		a.props = true
		return w.properties(a, s)
	}
	return nil
}

// name reads a file name value.
func (w *tnefWalker) name(s tnefSpan) ([]byte, error) {
	if s.n > maxTNEFName {
		return nil, fmt.Errorf("file name of %d bytes", s.n)
	}
	b, err := w.r.bytes(s.off, s.n)
	return bytes.Clone(b), err
}

// tnefWidth is the size of a value of a fixed-size property type as TNEF
// stores it (16-bit values padded to 4 bytes), -1 for the types whose
// values are counted (PtypString8, PtypString, PtypObject, PtypBinary),
// -2 for a type it does not know.
func tnefWidth(typ uint32) int64 {
	switch typ {
	case 0x0001: // PtypNull
		return 0
	case 0x0002, 0x0003, 0x0004, 0x000a, 0x000b: // Integer16, Integer32, Floating32, ErrorCode, Boolean
		return 4
	case 0x0005, 0x0006, 0x0007, 0x0014, 0x0040: // Floating64, Currency, FloatingTime, Integer64, Time
		return 8
	case 0x0048: // PtypGuid
		return 16
	case 0x001e, 0x001f, 0x000d, 0x0102:
		return -1
	}
	return -2
}

// tnefCursor reads a property list, up to end.
type tnefCursor struct {
	r        *tnefReader
	pos, end int64
	err      error
}

// take returns the next n bytes (at most tnefWindow); nil once the list
// ends before them.
func (c *tnefCursor) take(n int64) []byte {
	if c.err != nil {
		return nil
	}
	if n > c.end-c.pos {
		c.err = errors.New("property list runs past its attribute")
		return nil
	}
	b, err := c.r.bytes(c.pos, n)
	if err != nil {
		c.err = err
		return nil
	}
	c.pos += n
	return b
}

// u32 reads a little-endian 32-bit value.
func (c *tnefCursor) u32() uint32 {
	if b := c.take(4); b != nil {
		return binary.LittleEndian.Uint32(b)
	}
	return 0
}

// skip passes n bytes.
func (c *tnefCursor) skip(n int64) {
	if c.err == nil && n > c.end-c.pos {
		c.err = errors.New("property list runs past its attribute")
	}
	c.pos += n
}

// tnefPad is n rounded up to a multiple of 4: counted values are padded so.
func tnefPad(n int64) int64 { return (n + 3) &^ 3 }

// properties reads the encapsulated properties of attAttachment in s
// ([MS-OXTNEF] 2.1.3.4): a count, then each property's tag, the name of a
// named one, and its values. Every property is stepped over, so that the
// ones the reader takes are found wherever they are.
func (w *tnefWalker) properties(a *tnefAttachment, s tnefSpan) error {
	c := &tnefCursor{r: &w.r, pos: s.off, end: s.off + s.n}
	count := c.u32()
	for i := uint32(0); i < count && c.err == nil; i++ {
		tag := c.u32()
		if c.err != nil {
			break
		}
		if tag>>16 >= 0x8000 {
			// A named property: the GUID of its name space, then a number
			// (kind 0) or a counted, padded UTF-16 name (kind 1).
			c.skip(16)
			switch kind := c.u32(); {
			case c.err != nil:
			case kind == 0:
				c.skip(4)
			case kind == 1:
				c.skip(tnefPad(int64(c.u32())))
			default:
				return fmt.Errorf("property 0x%08x: name of kind %d", tag, kind)
			}
		}
		typ, multi := tag&0xffff&^0x1000, tag&0x1000 != 0
		width := tnefWidth(typ)
		if c.err == nil && width == -2 {
			return fmt.Errorf("property 0x%08x: type 0x%04x is not known", tag, typ)
		}
		values := int64(1)
		if multi || width < 0 {
			values = int64(c.u32())
		}
		if width >= 0 {
			if tag == tagAttachMethod {
				a.embedded = c.u32() == attachEmbeddedMessage || a.embedded
				continue
			}
			c.skip(values * width)
			continue
		}
		for v := int64(0); v < values && c.err == nil; v++ {
			n := int64(c.u32())
			at := c.pos
			c.skip(tnefPad(n))
			if c.err == nil && !multi {
				if err := w.property(a, tag, values, tnefSpan{at, n}); err != nil {
					return err
				}
			}
		}
	}
	return c.err
}

// property records a counted value of a property the reader takes. Such a
// property has one value; one with more, or given twice, is corrupt.
func (w *tnefWalker) property(a *tnefAttachment, tag uint32, values int64, s tnefSpan) error {
	unicode := tag&0xffff == 0x001f
	i := 0 // PtypString first, then PtypString8
	if !unicode {
		i = 1
	}
	var str **tnefString
	switch tag {
	case tagAttachLongFilename, tagAttachLongFilename8:
		str = &a.long[i]
	case tagAttachFilename, tagAttachFilename8:
		str = &a.short[i]
	case tagDisplayName, tagDisplayName8:
		str = &a.display[i]
	case tagAttachDataBinary:
		if a.binary != nil || values != 1 {
			return fmt.Errorf("property 0x%08x: more than one value", tag)
		}
		a.binary = &s
		return nil
	case tagAttachDataObject:
		if a.object != nil || values != 1 {
			return fmt.Errorf("property 0x%08x: more than one value", tag)
		}
		if s.n < 16 {
			return fmt.Errorf("property 0x%08x: object of %d bytes, without its interface identifier", tag, s.n)
		}
		iid, err := w.r.bytes(s.off, 16)
		if err != nil {
			return err
		}
		a.objectIsMessage = bytes.Equal(iid, iidIMessage)
		a.object = &tnefSpan{s.off + 16, s.n - 16}
		return nil
	default:
		return nil
	}
	if *str != nil || values != 1 {
		return fmt.Errorf("property 0x%08x: more than one value", tag)
	}
	raw, err := w.name(s)
	if err != nil {
		return err
	}
	*str = &tnefString{raw: raw, unicode: unicode}
	return nil
}

// queueEntries queues the entries of attachment a (none for nil): one for
// each content it has (attAttachData, and PidTagAttachDataBinary or
// PidTagAttachDataObject, which Outlook prefers where both are given:
// [MS-OXTNEF] 2.1.3 has an encapsulated property win over the attribute),
// or one without content.
func (w *tnefWalker) queueEntries(a *tnefAttachment) {
	if a == nil {
		return
	}
	name, other := a.names(w.cp)
	var contents []*tnefSpan
	for _, s := range []*tnefSpan{a.data, a.binary, a.object} {
		if s != nil {
			contents = append(contents, s)
		}
	}
	if len(contents) == 0 {
		w.queue = append(w.queue, &arcEntry{name: name, other: other})
		return
	}
	for _, s := range contents {
		w.queue = append(w.queue, &arcEntry{name: name, other: other, size: s.n, open: w.opener(*s, a.embedded || (s == a.object && a.objectIsMessage))})
	}
}

// opener returns the open function of content s. An embedded message must
// be a TNEF stream, looked into as one; content that is not cannot be read.
func (w *tnefWalker) opener(s tnefSpan, message bool) func() (io.ReadCloser, error) {
	ra := w.r.ra
	return func() (io.ReadCloser, error) {
		if message {
			var sig [4]byte
			if s.n < 6 {
				return nil, errors.New("embedded message too short for a TNEF stream")
			}
			if m, err := ra.ReadAt(sig[:], s.off); m < len(sig) {
				return nil, err
			}
			if binary.LittleEndian.Uint32(sig[:]) != tnefSignature {
				return nil, errors.New("embedded message not encoded as a TNEF stream")
			}
		}
		return io.NopCloser(io.NewSectionReader(ra, s.off, s.n)), nil
	}
}

// names returns the name of attachment a as Outlook shows it (its long
// file name, else its file name, else attAttachTitle, else its display
// name, which is all an embedded message or an OLE object may have) and
// the other names a reader could show where their extensions differ: the
// other file names, and the readings of 8-bit names that ignore the code
// page. An 8.3 name's extension cut to three characters (REPORT~1.DOC for
// report.docx) does not differ.
func (a *tnefAttachment) names(cp uint32) (string, []string) {
	var names []string
	for _, s := range []*tnefString{a.long[0], a.long[1], a.short[0], a.short[1], a.title} {
		names = append(names, s.readings(cp)...)
	}
	if len(names) == 0 {
		names = append(a.display[0].readings(cp), a.display[1].readings(cp)...)
	}
	if len(names) == 0 {
		return "", nil
	}
	name, ext := names[0], Ext(names[0])
	var other []string
	for _, n := range names[1:] {
		o := Ext(n)
		if o != ext && !(len(o) == 3 && len(ext) > 3 && ext[:3] == o) && !slices.Contains(other, n) {
			other = append(other, n)
		}
	}
	return name, other
}

// readings returns the string as readers decode it, without its
// terminating NULs, empty readings left out (none for nil): UTF-16LE; or
// 8-bit text in code page cp, as Outlook reads it, and as the readers
// that ignore the code page read it (guessed as entry names are).
func (s *tnefString) readings(cp uint32) []string {
	var r []string
	add := func(n string) {
		if n != "" && !slices.Contains(r, n) {
			r = append(r, n)
		}
	}
	switch {
	case s == nil:
	case s.unicode:
		u := make([]uint16, len(s.raw)/2)
		for i := range u {
			u[i] = binary.LittleEndian.Uint16(s.raw[2*i:])
		}
		for len(u) > 0 && u[len(u)-1] == 0 {
			u = u[:len(u)-1]
		}
		add(string(utf16.Decode(u)))
	default:
		raw := bytes.TrimRight(s.raw, "\x00")
		if label := tnefCharset(cp); label != "" {
			str, _ := decodeLabelled(label, raw)
			add(str)
		}
		add(entryName(string(raw), false))
	}
	return r
}

// tnefCharset is the charset label of Windows code page cp, "" for one
// not known here.
func tnefCharset(cp uint32) string {
	switch {
	case cp >= 1250 && cp <= 1258:
		return fmt.Sprintf("windows-%d", cp)
	case cp >= 28591 && cp <= 28599:
		return fmt.Sprintf("iso-8859-%d", cp-28590)
	}
	return tnefCodePages[cp]
}

// tnefCodePages are the other Windows code pages, by number, and their
// charset labels.
var tnefCodePages = map[uint32]string{
	437: "ibm437", 850: "ibm850", 852: "ibm852", 855: "ibm855", 858: "ibm00858", 860: "ibm860",
	862: "ibm862", 863: "ibm863", 865: "ibm865", 866: "ibm866", 874: "windows-874",
	932: "shift_jis", 936: "gbk", 949: "euc-kr", 950: "big5", 10000: "macintosh",
	20866: "koi8-r", 20932: "euc-jp", 21866: "koi8-u", 28603: "iso-8859-13", 28605: "iso-8859-15",
	50220: "iso-2022-jp", 50221: "iso-2022-jp", 50222: "iso-2022-jp", 51932: "euc-jp",
	54936: "gb18030", 65001: "utf-8",
}
