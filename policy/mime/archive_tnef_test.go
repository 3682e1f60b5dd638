package mime

import (
	"bytes"
	"encoding/base64"
	"encoding/binary"
	"encoding/json"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"runtime"
	"slices"
	"strings"
	"sync"
	"testing"
	"time"
	"unicode/utf16"

	"golang.org/x/text/encoding/japanese"
)

// TNEF attribute IDs with their types ([MS-OXTNEF] 2.1.3.3), as Outlook
// writes them.
const (
	tnefAttVersion      = 0x00089006
	tnefAttCodepage     = 0x00069007
	tnefAttMessageClass = 0x00078008
	tnefAttBody         = 0x0002800c
	tnefAttMsgProps     = 0x00069003
	tnefAttRendData     = 0x00069002
	tnefAttTitle        = 0x00018010
	tnefAttData         = 0x0006800f
	tnefAttAttachment   = 0x00069005
)

// tnefAttr appends one TNEF attribute: level, ID, length, data, and the
// checksum of the data (the sum of its bytes modulo 65536).
func tnefAttr(b []byte, level byte, id uint32, data []byte) []byte {
	b = append(b, level)
	b = binary.LittleEndian.AppendUint32(b, id)
	b = binary.LittleEndian.AppendUint32(b, uint32(len(data)))
	b = append(b, data...)
	var sum uint16
	for _, c := range data {
		sum += uint16(c)
	}
	return binary.LittleEndian.AppendUint16(b, sum)
}

// propFixed encodes a property of a fixed-size type: its tag, its value.
func propFixed(tag uint32, v []byte) []byte {
	return append(binary.LittleEndian.AppendUint32(nil, tag), v...)
}

// propCounted encodes a property of counted values ([MS-OXTNEF] 2.1.3.4):
// its tag, the number of values, each value's length, bytes and padding.
func propCounted(tag uint32, vals ...[]byte) []byte {
	b := binary.LittleEndian.AppendUint32(nil, tag)
	b = binary.LittleEndian.AppendUint32(b, uint32(len(vals)))
	for _, v := range vals {
		b = binary.LittleEndian.AppendUint32(b, uint32(len(v)))
		b = append(b, v...)
		b = append(b, make([]byte, (4-len(v)%4)%4)...)
	}
	return b
}

// propList encodes a property list: the count, then the properties.
func propList(props ...[]byte) []byte {
	b := binary.LittleEndian.AppendUint32(nil, uint32(len(props)))
	return append(b, bytes.Join(props, nil)...)
}

// tnefU32 encodes v as 4 bytes, little-endian.
func tnefU32(v uint32) []byte { return binary.LittleEndian.AppendUint32(nil, v) }

// utf16z encodes s as UTF-16LE with a terminating NUL (PtypString).
func utf16z(s string) []byte {
	var b []byte
	for _, u := range utf16.Encode([]rune(s + "\x00")) {
		b = binary.LittleEndian.AppendUint16(b, u)
	}
	return b
}

// tnefSJIS encodes s in Shift_JIS (CP932).
func tnefSJIS(s string) string {
	b, err := japanese.ShiftJIS.NewEncoder().String(s)
	if err != nil {
		panic(err)
	}
	return b
}

// tnefIIDStorage is IID_IStorage, before an OLE object's content.
var tnefIIDStorage = []byte{0x0b, 0, 0, 0, 0, 0, 0, 0, 0xc0, 0, 0, 0, 0, 0, 0, 0x46}

// tnefFile is one attachment of a TNEF stream built by tnefOf.
type tnefFile struct {
	title   string // attAttachTitle, bytes of the code page; "" for none
	long    string // PidTagAttachLongFilename (PtypString); "" for none
	short   string // PidTagAttachFilename (PtypString8, bytes of the code page); "" for none
	display string // PidTagDisplayName (PtypString); "" for none
	data    []byte // attAttachData; nil for none
	binary  []byte // PidTagAttachDataBinary; nil for none
	object  []byte // PidTagAttachDataObject, interface identifier included; nil for none
	method  uint32 // PidTagAttachMethod; 1, by value, when 0
}

// tnefOf builds a TNEF stream as Outlook writes one: the message's
// attributes (version, code page cp when not 0, class, a body, and its
// properties with a compressed RTF body), then each file's attributes,
// its properties last, a named and multi-valued ones among them.
func tnefOf(cp uint32, files ...tnefFile) []byte {
	b := binary.LittleEndian.AppendUint32(nil, tnefSignature)
	b = binary.LittleEndian.AppendUint16(b, 0x1234)
	b = tnefAttr(b, 1, tnefAttVersion, tnefU32(0x00010000))
	if cp != 0 {
		b = tnefAttr(b, 1, tnefAttCodepage, append(tnefU32(cp), tnefU32(0)...))
	}
	b = tnefAttr(b, 1, tnefAttMessageClass, []byte("IPM.Microsoft Mail.Note\x00"))
	b = tnefAttr(b, 1, tnefAttBody, []byte("MZ is not an attachment\x00"))
	b = tnefAttr(b, 1, tnefAttMsgProps, propList(
		propCounted(0x10090102, append([]byte("MZ"), bytes.Repeat([]byte{1}, 30)...)), // PR_RTF_COMPRESSED
		propCounted(0x0037001f, utf16z("invoice")),                                    // PR_SUBJECT
	))
	for _, f := range files {
		b = tnefAttr(b, 2, tnefAttRendData, []byte{1, 0, 0xff, 0xff, 0xff, 0xff, 0x20, 0, 0x20, 0, 0, 0, 0, 0})
		if f.title != "" {
			b = tnefAttr(b, 2, tnefAttTitle, []byte(f.title+"\x00"))
		}
		if f.data != nil {
			b = tnefAttr(b, 2, tnefAttData, f.data)
		}
		method := f.method
		if method == 0 {
			method = 1
		}
		// A named property: the GUID of its name space, kind 1 (a
		// string), the name; then its value.
		named := append(binary.LittleEndian.AppendUint32(nil, 0x8005001f), bytes.Repeat([]byte{0x29}, 16)...)
		named = append(append(named, tnefU32(1)...), propCounted(0, utf16z("x-name"))[8:]...)
		props := [][]byte{
			propFixed(0x0e210003, tnefU32(7)),                             // PR_ATTACH_NUM
			propFixed(0x7ffe000b, tnefU32(1)),                             // a PtypBoolean, padded
			propFixed(0x0e200002, []byte{1, 0, 0, 0}),                     // a PtypInteger16, padded
			propFixed(0x30070040, make([]byte, 8)),                        // PR_CREATION_TIME
			propFixed(0x67f01003, append(tnefU32(2), make([]byte, 8)...)), // a multi-valued PtypInteger32
			propCounted(0x67f1101e, []byte("a\x00"), []byte("bcd\x00")),   // a multi-valued PtypString8
			append(named, propCounted(0, utf16z("value"))[4:]...),
			propFixed(tagAttachMethod, tnefU32(method)),
		}
		if f.long != "" {
			props = append(props, propCounted(tagAttachLongFilename, utf16z(f.long)))
		}
		if f.short != "" {
			props = append(props, propCounted(tagAttachFilename8, []byte(f.short+"\x00")))
		}
		if f.display != "" {
			props = append(props, propCounted(tagDisplayName, utf16z(f.display)))
		}
		if f.binary != nil {
			props = append(props, propCounted(tagAttachDataBinary, f.binary))
		}
		if f.object != nil {
			props = append(props, propCounted(tagAttachDataObject, f.object))
		}
		b = tnefAttr(b, 2, tnefAttAttachment, propList(props...))
	}
	return b
}

// embeddedMessage is the PidTagAttachDataObject of an embedded message
// whose content is the TNEF stream msg.
func embeddedMessage(msg []byte) []byte { return append(slices.Clone(iidIMessage), msg...) }

// tnefSamples is the Go module whose test data holds winmail.dat files
// written by Outlook: the tnef program's test suite (GPL-2.0), as
// github.com/teamwork/tnef ships it. They are read from the module cache,
// where `go mod download` puts them, rather than kept here.
const tnefSamples = "github.com/teamwork/tnef@v0.0.0-20200108124832-7deabccfdb32"

var tnefSampleDir = sync.OnceValues(func() (string, error) {
	out, err := exec.Command("go", "mod", "download", "-json", tnefSamples).Output()
	if err != nil {
		return "", fmt.Errorf("go mod download %s: %w", tnefSamples, err)
	}
	var m struct{ Dir, Error string }
	if err := json.Unmarshal(out, &m); err != nil || m.Dir == "" {
		return "", fmt.Errorf("go mod download %s: %v %s", tnefSamples, err, m.Error)
	}
	return m.Dir, nil
})

// tnefSample reads a winmail.dat of the test data of tnefSamples.
func tnefSample(t testing.TB, name string) []byte {
	t.Helper()
	dir, err := tnefSampleDir()
	if err != nil {
		t.Fatal(err)
	}
	data, err := os.ReadFile(filepath.Join(dir, "testdata", name+".tnef"))
	if err != nil {
		t.Fatal(err)
	}
	return data
}

// TestTNEFSamples: winmail.dat files of the test data of TNEF tools (the
// tnef program's, as github.com/teamwork/tnef ships them) list the files
// those tools extract, with their sizes, and leave no gap.
func TestTNEFSamples(t *testing.T) {
	for _, c := range []struct {
		file, list string
		sizes      []int64
	}{
		{"two-files", "[tnef]\nAUTHORS\nREADME\n", []int64{244, 893}},
		// attAttachData before attAttachTitle, two empty files.
		{"data-before-name", "[tnef]\nAUTOEXEC.BAT\nCONFIG.SYS\nboot.ini\n", []int64{0, 0, 289}},
		// Names in PtypString properties.
		{"unicode-mapi-attr", "[tnef]\nexample.dat\n", []int64{1024}},
	} {
		t.Run(c.file, func(t *testing.T) {
			res := inspect(t, tnefSample(t, c.file), "winmail.dat", DefaultLimits())
			check(t, res, c.list, "")
			var sizes []int64
			for _, e := range res.Attachments[0].Archive.Entries {
				sizes = append(sizes, e.Size)
			}
			if !slices.Equal(sizes, c.sizes) {
				t.Errorf("sizes %v, want %v", sizes, c.sizes)
			}
		})
	}
}

// TestTNEFFiles: the files of a winmail.dat are listed by their names and
// looked into, the message body is not one of them, and the executable
// among them is told by its bytes.
func TestTNEFFiles(t *testing.T) {
	pdf := []byte("%PDF-1.4\n%\xe2\xe3\xcf\xd3\n1 0 obj\n")
	t.Run("exe", func(t *testing.T) {
		res := inspect(t, tnefOf(1252, tnefFile{title: "INVOICE.EXE", long: "invoice.exe", data: peBytes}), "winmail.dat", DefaultLimits())
		check(t, res, "[tnef]\ninvoice.exe pe\n", "")
		e := res.Attachments[0].Archive.Entries[0]
		if e.Ext != "exe" || e.Executable != ExecPE || e.Size != int64(len(peBytes)) || len(e.OtherNames) != 0 {
			t.Errorf("entry %+v", e)
		}
	})
	t.Run("pdf", func(t *testing.T) {
		res := inspect(t, tnefOf(1252, tnefFile{title: "REPORT~1.PDF", long: "report 2024.pdf", data: pdf}), "winmail.dat", DefaultLimits())
		check(t, res, "[tnef]\nreport 2024.pdf\n", "")
	})
	t.Run("several, nested zip", func(t *testing.T) {
		res := inspect(t, tnefOf(1252,
			tnefFile{title: "REPORT~1.PDF", long: "report.pdf", data: pdf},
			tnefFile{title: "DOCS.ZIP", data: storeZip(t, "docs/setup.exe", peBytes)},
			tnefFile{short: "NOTE.TXT", data: []byte("note")},
		), "winmail.dat", DefaultLimits())
		check(t, res, "[tnef]\nreport.pdf\nDOCS.ZIP\n  [zip]\n  docs/setup.exe pe\nNOTE.TXT\n", "")
	})
	t.Run("body only", func(t *testing.T) {
		res := inspect(t, tnefOf(1252), "winmail.dat", DefaultLimits())
		check(t, res, "[tnef]\n", "")
	})
	t.Run("no content", func(t *testing.T) {
		// By reference, say: listed by its name, nothing to read.
		res := inspect(t, tnefOf(1252, tnefFile{long: "setup.exe", method: 2}), "winmail.dat", DefaultLimits())
		check(t, res, "[tnef]\nsetup.exe\n", "")
	})
	t.Run("attributes before attAttachRendData", func(t *testing.T) {
		s := binary.LittleEndian.AppendUint32(nil, tnefSignature)
		s = append(s, 1, 0)
		s = tnefAttr(s, 2, tnefAttTitle, []byte("setup.exe\x00"))
		s = tnefAttr(s, 2, tnefAttData, peBytes)
		check(t, inspect(t, s, "winmail.dat", DefaultLimits()), "[tnef]\nsetup.exe pe\n", "")
	})
}

// TestTNEFNames: a file is named as Outlook names it (the long file name,
// else the 8.3 one, else attAttachTitle), 8-bit names are decoded in the
// stream's code page (CP932 from Japanese Outlook) or guessed without one,
// and another name with another extension is judged too.
func TestTNEFNames(t *testing.T) {
	for _, c := range []struct {
		name string
		cp   uint32
		f    tnefFile
		list string
		gaps string
	}{
		{"cp932 title", 932, tnefFile{title: tnefSJIS("請求書①.exe"), data: peBytes}, "[tnef]\n請求書①.exe pe\n", ""},
		{"cp932 8.3 name", 932, tnefFile{short: tnefSJIS("見積書.pdf"), title: tnefSJIS("見積書.pdf"), data: []byte("%PDF")}, "[tnef]\n見積書.pdf\n", ""},
		{"cp932 guessed", 0, tnefFile{title: tnefSJIS("請求書.exe"), data: peBytes}, "[tnef]\n請求書.exe pe\n", ""},
		{"long name over cp932", 932, tnefFile{long: "請求書.docx", short: tnefSJIS("請求書~1.DOC"), title: tnefSJIS("請求書~1.DOC"), data: []byte("PK")}, "[tnef]\n請求書.docx\n", ""},
		{"cp1252", 1252, tnefFile{title: "r\xe9sum\xe9.pdf", data: []byte("%PDF")}, "[tnef]\nrésumé.pdf\n", ""},
		{"utf-8 code page", 65001, tnefFile{title: "résumé.pdf", data: []byte("%PDF")}, "[tnef]\nrésumé.pdf\n", ""},
		{"display name last", 1252, tnefFile{display: "Quarterly figures", data: []byte("x")}, "[tnef]\nQuarterly figures\n", ""},
		// An escape sequence of ISO-2022-JP makes the rest of the name
		// two-byte characters: readers that ignore the code page see .exe.
		{"extension in another reading", 50220, tnefFile{title: "a\x1b$B.exe", data: peBytes}, "[tnef]\na\ufffd\ufffd pe\n",
			"ambiguous: part 1: attachment \"winmail.dat\": entry names \"a\ufffd\ufffd\", \"a\\x1b$B.exe\": each is judged"},
		{"other extension", 1252, tnefFile{long: "invoice.pdf", title: "INVOIC~1.EXE", data: peBytes}, "[tnef]\ninvoice.pdf pe\n",
			`ambiguous: part 1: attachment "winmail.dat": entry names "invoice.pdf", "INVOIC~1.EXE": each is judged`},
	} {
		t.Run(c.name, func(t *testing.T) {
			res := inspect(t, tnefOf(c.cp, c.f), "winmail.dat", DefaultLimits())
			check(t, res, c.list, c.gaps)
		})
	}
	res := inspect(t, tnefOf(1252, tnefFile{long: "invoice.pdf", title: "INVOIC~1.EXE", data: peBytes}), "winmail.dat", DefaultLimits())
	if e := res.Attachments[0].Archive.Entries[0]; !slices.Equal(e.OtherNames, []string{"INVOIC~1.EXE"}) {
		t.Errorf("other names %q", e.OtherNames)
	}
}

// TestTNEFCodePages: every code page label resolves to a charset.
func TestTNEFCodePages(t *testing.T) {
	cps := []uint32{1250, 1258, 28591, 28599}
	for cp := range tnefCodePages {
		cps = append(cps, cp)
	}
	for _, cp := range cps {
		if _, err := clientCharset(tnefCharset(cp)); err != nil {
			t.Errorf("code page %d: %v", cp, err)
		}
	}
}

// TestTNEFData: the content of an attachment is attAttachData, else
// PidTagAttachDataBinary, else PidTagAttachDataObject after its interface
// identifier; where attAttachData and a property both hold one (Outlook
// takes the property), both are looked into.
func TestTNEFData(t *testing.T) {
	for _, c := range []struct {
		name string
		f    tnefFile
		list string
	}{
		{"binary property", tnefFile{long: "setup.exe", binary: peBytes}, "[tnef]\nsetup.exe pe\n"},
		{"attribute and property", tnefFile{long: "report.pdf", data: []byte("%PDF"), binary: peBytes}, "[tnef]\nreport.pdf\nreport.pdf pe\n"},
		{"OLE object", tnefFile{display: "Package", object: append(slices.Clone(tnefIIDStorage), peBytes...), method: 6}, "[tnef]\nPackage pe\n"},
	} {
		t.Run(c.name, func(t *testing.T) {
			check(t, inspect(t, tnefOf(1252, c.f), "winmail.dat", DefaultLimits()), c.list, "")
		})
	}
}

// TestTNEFEmbeddedMessage: an attached message is a TNEF stream of its
// own, whose attachments are listed under it; one that is not a TNEF
// stream is a gap.
func TestTNEFEmbeddedMessage(t *testing.T) {
	inner := tnefOf(932, tnefFile{title: tnefSJIS("請求書.exe"), data: peBytes})
	outer := tnefOf(1252,
		tnefFile{display: "Fwd: invoice", object: embeddedMessage(inner), method: attachEmbeddedMessage},
		tnefFile{long: "note.txt", data: []byte("see the forwarded mail")},
	)
	res := inspect(t, outer, "winmail.dat", DefaultLimits())
	check(t, res, "[tnef]\nFwd: invoice\n  [tnef]\n  請求書.exe pe\nnote.txt\n", "")

	for _, c := range []struct {
		name string
		f    tnefFile
	}{
		{"method 5, not TNEF", tnefFile{display: "Fwd: invoice", data: peBytes, method: attachEmbeddedMessage}},
		{"IID_IMessage, not TNEF", tnefFile{display: "Fwd: invoice", object: embeddedMessage(peBytes)}},
		{"method 5, too short", tnefFile{display: "Fwd: invoice", binary: []byte{0x78}, method: attachEmbeddedMessage}},
	} {
		t.Run(c.name, func(t *testing.T) {
			res := inspect(t, tnefOf(1252, c.f), "winmail.dat", DefaultLimits())
			if g := gaps(res); !strings.HasPrefix(g, `archive: part 1: attachment "winmail.dat" > "Fwd: invoice": cannot be read: embedded message`) {
				t.Errorf("gaps = %s", g)
			}
		})
	}
}

// TestTNEFInMessage: a winmail.dat attached as application/ms-tnef in
// base64, as Exchange sends it, is looked into; content typed so that is
// no TNEF stream is a gap.
func TestTNEFInMessage(t *testing.T) {
	msg := func(body []byte) string {
		enc := base64.StdEncoding.EncodeToString(body)
		var b strings.Builder
		for len(enc) > 76 {
			b.WriteString(enc[:76] + "\r\n")
			enc = enc[76:]
		}
		b.WriteString(enc + "\r\n")
		return "Subject: invoice\r\nMIME-Version: 1.0\r\nContent-Type: multipart/mixed; boundary=\"b\"\r\n\r\n" +
			"--b\r\nContent-Type: text/plain; charset=us-ascii\r\n\r\nSee the attachment.\r\n" +
			"--b\r\nContent-Type: application/ms-tnef; name=\"winmail.dat\"\r\nContent-Transfer-Encoding: base64\r\n" +
			"Content-Disposition: attachment; filename=\"winmail.dat\"\r\n\r\n" + b.String() + "--b--\r\n"
	}
	inspectMsg := func(t *testing.T, m string) *Result {
		t.Helper()
		lim := DefaultLimits()
		lim.TempDir = t.TempDir()
		res, err := Inspect(strings.NewReader(m), lim)
		if err != nil {
			t.Fatal(err)
		}
		if len(res.Attachments) != 1 || res.Attachments[0].Filename != "winmail.dat" || res.Attachments[0].ContentType != "application/ms-tnef" {
			t.Fatalf("attachments %+v", res.Attachments)
		}
		return res
	}
	res := inspectMsg(t, msg(tnefOf(932, tnefFile{title: tnefSJIS("請求書.exe"), data: peBytes}, tnefFile{long: "report.pdf", data: []byte("%PDF")})))
	check(t, res, "[tnef]\n請求書.exe pe\nreport.pdf\n", "")
	res = inspectMsg(t, msg(tnefSample(t, "two-files")))
	check(t, res, "[tnef]\nAUTHORS\nREADME\n", "")
	res = inspectMsg(t, msg([]byte("not a TNEF stream at all")))
	check(t, res, "[tnef skipped: named or typed as a tnef archive, but its content is no archive format known]\n",
		`archive: part 2: attachment "winmail.dat": named or typed as a tnef archive, but its content is no archive format known`)
}

// TestTNEFHostile: lengths and counts that lie, truncation, and streams
// built to cost: each is bounded, a gap or a limit, and never a panic.
func TestTNEFHostile(t *testing.T) {
	exe := tnefOf(1252, tnefFile{long: "report.pdf", data: []byte("%PDF")}, tnefFile{long: "invoice.exe", data: peBytes})
	t.Run("truncated", func(t *testing.T) {
		last := bytes.LastIndex(exe, peBytes) // the data of the exe's attAttachData
		for n := 6; n < len(exe); n++ {
			res := inspect(t, exe[:n], "winmail.dat", DefaultLimits())
			if n >= last && n < last+len(peBytes)+2 && !res.Has(GapArchive) {
				t.Fatalf("cut at %d: no gap: %s", n, listing(res.Attachments[0].Archive))
			}
		}
		res := inspect(t, exe[:last+10], "winmail.dat", DefaultLimits())
		// The second attachment's name is in its properties, after its
		// data: it is listed without a name.
		check(t, res, "[tnef skipped: corrupt: attribute 0x800f of 64 bytes, 8 left in the stream]\nreport.pdf\n\n",
			`archive: part 1: attachment "winmail.dat": corrupt: attribute 0x800f of 64 bytes, 8 left in the stream`)
		check(t, inspect(t, exe[:5], "winmail.dat", DefaultLimits()), "[tnef skipped: corrupt: stream ends in its header]\n",
			`archive: part 1: attachment "winmail.dat": corrupt: stream ends in its header`)
	})
	// attr returns the stream of one attachment made of the given
	// attributes.
	attr := func(attrs ...[]byte) []byte {
		s := binary.LittleEndian.AppendUint32(nil, tnefSignature)
		s = append(s, 1, 0)
		s = tnefAttr(s, 2, tnefAttRendData, make([]byte, 14))
		for _, a := range attrs {
			s = append(s, a...)
		}
		return s
	}
	props := func(p []byte) []byte { return tnefAttr(nil, 2, tnefAttAttachment, p) }
	for _, c := range []struct {
		name string
		data []byte
		list string
		gaps string
	}{
		{"attribute length 0xFFFFFFFF", attr(tnefAttr(nil, 2, tnefAttTitle, []byte("a.exe\x00")), []byte{2, 0x0f, 0x80, 6, 0, 0xff, 0xff, 0xff, 0xff, 'M', 'Z'}),
			"[tnef skipped: corrupt: attribute 0x800f of 4294967295 bytes, 0 left in the stream]\na.exe\n",
			`archive: part 1: attachment "winmail.dat": corrupt: attribute 0x800f of 4294967295 bytes, 0 left in the stream`},
		{"property count 0xFFFFFFFF", attr(props(append(tnefU32(0xffffffff), propCounted(tagAttachLongFilename, utf16z("a.exe"))...))),
			"[tnef skipped: corrupt: property list runs past its attribute]\na.exe\n",
			`archive: part 1: attachment "winmail.dat": corrupt: property list runs past its attribute`},
		{"value length 0xFFFFFFFF", attr(props(append(append(tnefU32(1), tnefU32(tagAttachDataBinary)...), append(tnefU32(1), tnefU32(0xffffffff)...)...))),
			"[tnef skipped: corrupt: property list runs past its attribute]\n\n",
			`archive: part 1: attachment "winmail.dat": corrupt: property list runs past its attribute`},
		{"value count 0xFFFFFFFF", attr(props(append(tnefU32(1), propCounted(0x0037001e, []byte("x"))[:4]...)), nil),
			"[tnef skipped: corrupt: property list runs past its attribute]\n\n",
			`archive: part 1: attachment "winmail.dat": corrupt: property list runs past its attribute`},
		{"null values 0xFFFFFFFF", attr(props(propList(propFixed(0x67f21001, tnefU32(0xffffffff)), propCounted(tagAttachLongFilename, utf16z("a.exe"))))),
			"[tnef]\na.exe\n", ""},
		{"name longer than allowed", attr(tnefAttr(nil, 2, tnefAttTitle, bytes.Repeat([]byte("a"), maxTNEFName+1))),
			"[tnef skipped: corrupt: file name of 65537 bytes]\n\n", `archive: part 1: attachment "winmail.dat": corrupt: file name of 65537 bytes`},
		{"unknown property type", attr(props(propList(propFixed(0x12340033, tnefU32(0)), propCounted(tagAttachLongFilename, utf16z("a.exe"))))),
			"[tnef skipped: corrupt: property 0x12340033: type 0x0033 is not known]\n\n",
			`archive: part 1: attachment "winmail.dat": corrupt: property 0x12340033: type 0x0033 is not known`},
		{"name given twice", attr(props(propList(propCounted(tagAttachLongFilename, utf16z("a.pdf")), propCounted(tagAttachLongFilename, utf16z("a.exe"))))),
			"[tnef skipped: corrupt: property 0x3707001f: more than one value]\na.pdf\n",
			`archive: part 1: attachment "winmail.dat": corrupt: property 0x3707001f: more than one value`},
		{"name of two values", attr(props(propList(propCounted(tagAttachLongFilename, utf16z("a.pdf"), utf16z("a.exe"))))),
			"[tnef skipped: corrupt: property 0x3707001f: more than one value]\n\n",
			`archive: part 1: attachment "winmail.dat": corrupt: property 0x3707001f: more than one value`},
		{"attAttachData twice", attr(tnefAttr(nil, 2, tnefAttTitle, []byte("a.pdf\x00")), tnefAttr(nil, 2, tnefAttData, []byte("%PDF")), tnefAttr(nil, 2, tnefAttData, peBytes)),
			"[tnef skipped: corrupt: attribute 0x800f given twice for one attachment]\na.pdf\n",
			`archive: part 1: attachment "winmail.dat": corrupt: attribute 0x800f given twice for one attachment`},
		{"level 0", append(binary.LittleEndian.AppendUint32(nil, tnefSignature), make([]byte, 40)...),
			"[tnef skipped: corrupt: attribute 0x0000 of level 0]\n", `archive: part 1: attachment "winmail.dat": corrupt: attribute 0x0000 of level 0`},
		{"object without its identifier", attr(props(propList(propCounted(tagAttachDataObject, []byte("MZ"))))),
			"[tnef skipped: corrupt: property 0x3701000d: object of 2 bytes, without its interface identifier]\n\n",
			`archive: part 1: attachment "winmail.dat": corrupt: property 0x3701000d: object of 2 bytes, without its interface identifier`},
	} {
		t.Run(c.name, func(t *testing.T) {
			var before, after runtime.MemStats
			runtime.ReadMemStats(&before)
			res := inspect(t, c.data, "winmail.dat", DefaultLimits())
			runtime.ReadMemStats(&after)
			check(t, res, c.list, c.gaps)
			if n := after.TotalAlloc - before.TotalAlloc; n > 16<<20 {
				t.Errorf("allocated %d bytes", n)
			}
		})
	}
	t.Run("thousands of attachments", func(t *testing.T) {
		files := make([]tnefFile, 20000)
		for i := range files {
			files[i] = tnefFile{title: fmt.Sprintf("f%d.exe", i), data: peBytes}
		}
		start := time.Now()
		res := inspect(t, tnefOf(1252, files...), "winmail.dat", DefaultLimits())
		if n := len(res.Attachments[0].Archive.Entries); n != 10000 || gaps(res) != `limit: part 1: attachment "winmail.dat": too many entries: limit 10000 reached` {
			t.Errorf("%d entries, gaps %s", n, gaps(res))
		}
		if d := time.Since(start); d > 20*time.Second {
			t.Errorf("took %v", d)
		}
	})
	t.Run("embedded 100 deep", func(t *testing.T) {
		msg := tnefOf(1252, tnefFile{long: "invoice.exe", data: peBytes})
		for i := 0; i < 100; i++ {
			msg = tnefOf(1252, tnefFile{display: fmt.Sprintf("Fwd %d", i), object: embeddedMessage(msg), method: attachEmbeddedMessage})
		}
		start := time.Now()
		res := inspect(t, msg, "winmail.dat", DefaultLimits())
		if g := gaps(res); !strings.HasPrefix(g, "archive: part 1: ") || !strings.HasSuffix(g, ": too deep: archive nesting exceeds 10") || strings.Count(g, ";") != 0 {
			t.Errorf("gaps %s", g)
		}
		if d := time.Since(start); d > 20*time.Second {
			t.Errorf("took %v", d)
		}
	})
}

// FuzzTNEF looks into TNEF streams, seeded with the streams of the tests
// and the samples: whatever they hold, the inspection ends with a result
// that can be reported.
func FuzzTNEF(f *testing.F) {
	f.Add(tnefOf(1252, tnefFile{title: "INVOICE.EXE", long: "invoice.exe", data: peBytes}, tnefFile{long: "a.zip", binary: storeZip(f, "b.exe", peBytes)}))
	f.Add(tnefOf(932, tnefFile{title: tnefSJIS("請求書.exe"), short: tnefSJIS("請求書.exe"), data: peBytes}))
	f.Add(tnefOf(0, tnefFile{display: "Fwd", object: embeddedMessage(tnefOf(1252, tnefFile{long: "c.exe", data: peBytes})), method: attachEmbeddedMessage}))
	f.Add(tnefOf(1252, tnefFile{display: "Package", object: append(slices.Clone(tnefIIDStorage), peBytes...), method: 6}))
	for _, s := range []string{"two-files", "data-before-name", "unicode-mapi-attr"} {
		f.Add(tnefSample(f, s))
	}
	sig := binary.LittleEndian.AppendUint32(nil, tnefSignature)
	f.Fuzz(func(t *testing.T, data []byte) {
		if !bytes.HasPrefix(data, sig) {
			// No TNEF stream: read as a plain file.
			if _, err := openTNEF(bytes.NewReader(data), int64(len(data)), ""); err != errNotContainer {
				t.Fatalf("open: %v", err)
			}
			return
		}
		fuzzArchive(t, "tnef", data)
	})
}
