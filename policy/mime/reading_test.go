package mime

import (
	"archive/zip"
	"bytes"
	"encoding/binary"
	"hash/crc32"
	"runtime"
	"slices"
	"strings"
	"testing"
	"time"
)

// exePart is a part header block (without the blank line) and, after it,
// the base64 of a PE.
func exePart(header string) string {
	return header + "\r\n\r\n" + b64enc(peBytes) + "\r\n"
}

// mixed is a multipart/mixed message of a Japanese text part and the
// given parts, under boundary "b".
func mixed(ct string, parts ...string) string {
	var b strings.Builder
	b.WriteString("Subject: =?UTF-8?B?5LqG6Kej?=\r\nMIME-Version: 1.0\r\nContent-Type: " + ct + "\r\n\r\n")
	b.WriteString("--b\r\nContent-Type: text/plain; charset=UTF-8\r\n\r\n了解\r\n")
	for _, p := range parts {
		b.WriteString("--b\r\n" + p)
	}
	b.WriteString("--b--\r\n")
	return b.String()
}

// findsPE reports whether an attachment (or archive entry) of res is a PE
// or has the name name.
func finds(res *Result, name string) bool {
	var in func(es []Entry) bool
	in = func(es []Entry) bool {
		for _, e := range es {
			if e.Executable == "pe" || e.Name == name || slices.Contains(e.OtherNames, name) || e.Archive != nil && in(e.Archive.Entries) {
				return true
			}
		}
		return false
	}
	for _, a := range res.Attachments {
		if a.Executable == "pe" || a.Filename == name || slices.Contains(a.OtherNames, name) || a.Archive != nil && in(a.Archive.Entries) {
			return true
		}
	}
	return false
}

// TestReadingAsThunderbird: each message hides a PE (or a name) from a
// reading other than Thunderbird's; the inspection finds it, and says
// ambiguous where clients could read the bytes otherwise.
func TestReadingAsThunderbird(t *testing.T) {
	inner := "Subject: fwd\r\nContent-Type: multipart/mixed; boundary=i\r\n\r\n--i\r\nContent-Type: text/plain\r\n\r\nx\r\n--i\r\n" +
		exePart("Content-Type: application/pdf; name=\"a.pdf\"\r\nContent-Transfer-Encoding: base64") + "--i--\r\n"
	zipped := func(name string, data []byte, extra []byte) string {
		var b bytes.Buffer
		w := zip.NewWriter(&b)
		fw, _ := w.CreateHeader(&zip.FileHeader{Name: name, Method: zip.Store, Extra: extra})
		fw.Write(data)
		w.Close()
		return b64enc(b.Bytes())
	}
	upath := func(header, name string) []byte {
		x := binary.LittleEndian.AppendUint16(nil, 0x7075)
		x = binary.LittleEndian.AppendUint16(x, uint16(5+len(name)))
		x = append(x, 1)
		x = binary.LittleEndian.AppendUint32(x, crc32.ChecksumIEEE([]byte(header)))
		return append(x, name...)
	}
	for _, c := range []struct {
		name      string
		msg       string
		find      string // a name to find, else a PE
		ambiguous bool
	}{
		{name: "cte semicolon", msg: mixed("multipart/mixed; boundary=b", exePart("Content-Type: application/pdf; name=a.pdf\r\nContent-Transfer-Encoding: base64;"))},
		{name: "cte comment", msg: mixed("multipart/mixed; boundary=b", exePart("Content-Type: application/pdf; name=a.pdf\r\nContent-Transfer-Encoding: base64 (binary)"))},
		{name: "cte upper case", msg: mixed("multipart/mixed; boundary=b", exePart("Content-Type: application/pdf; name=a.pdf\r\nContent-Transfer-Encoding: BASE64"))},
		{name: "cte two values", msg: mixed("multipart/mixed; boundary=b", exePart("Content-Type: application/pdf; name=a.pdf\r\nContent-Transfer-Encoding: 7bit,base64")), ambiguous: true},
		{name: "boundary after comma", msg: strings.Replace(mixed("multipart/mixed, boundary=\"b\"; boundary=\"c\"",
			exePart("Content-Type: application/pdf; name=a.pdf\r\nContent-Transfer-Encoding: base64")), "--b--", "--c\r\n\r\nx\r\n--c--\r\n--b--", 1), ambiguous: true},
		{name: "boundary comma reading hides", msg: "Subject: x\r\nContent-Type: multipart/mixed; boundary=\"c\", boundary=\"b\"\r\n\r\n" +
			"--c\r\nContent-Type: text/plain\r\n\r\n--b\r\n" + exePart("Content-Type: application/pdf; name=a.pdf\r\nContent-Transfer-Encoding: base64") + "--b--\r\n--c--\r\n", ambiguous: true},
		{name: "boundary 2231", msg: "Subject: x\r\nContent-Type: multipart/mixed; boundary=\"c\"; boundary*=us-ascii''b\r\n\r\n" +
			"--c\r\nContent-Type: text/plain\r\n\r\n--b\r\n" + exePart("Content-Type: application/pdf; name=a.pdf\r\nContent-Transfer-Encoding: base64") + "--b--\r\n--c--\r\n", ambiguous: true},
		{name: "boundary unquoted with space", msg: "Subject: x\r\nContent-Type: multipart/mixed; boundary=b x\r\n\r\n" +
			"--b x\r\nContent-Type: text/plain\r\n\r\n--b\r\n" + exePart("Content-Type: application/pdf; name=a.pdf\r\nContent-Transfer-Encoding: base64") + "--b--\r\n--b x--\r\n", ambiguous: true},
		{name: "message/news", msg: mixed("multipart/mixed; boundary=b", "Content-Type: message/news\r\n\r\n"+inner)},
		{name: "message/rfc822 comma", msg: mixed("multipart/mixed; boundary=b", "Content-Type: message/rfc822,\r\n\r\n"+inner)},
		{name: "type after question mark", msg: mixed("multipart/mixed; boundary=b", "Content-Type: application/pdf?message/rfc822\r\n\r\n"+inner)},
		{name: "octet-stream eml", msg: mixed("multipart/mixed; boundary=b", "Content-Type: application/octet-stream; name=\"fwd.eml\"\r\nContent-Transfer-Encoding: 7bit\r\n\r\n"+inner)},
		{name: "octet-stream eml base64", msg: mixed("multipart/mixed; boundary=b", "Content-Type: application/octet-stream; name=\"fwd.eml\"\r\nContent-Transfer-Encoding: base64\r\n\r\n"+b64enc([]byte(inner))+"\r\n")},
		{name: "eml in zip", msg: mixed("multipart/mixed; boundary=b", "Content-Type: application/zip; name=\"m.zip\"\r\nContent-Transfer-Encoding: base64\r\n\r\n"+zipped("fwd.eml", []byte(inner), nil)+"\r\n")},
		{name: "Content-Name", msg: mixed("multipart/mixed; boundary=b", "Content-Type: text/plain\r\nContent-Name: setup.exe\r\n\r\nhello\r\n"), find: "setup.exe"},
		{name: "X-Sun-Data-Name", msg: mixed("multipart/mixed; boundary=b", "Content-Type: text/plain\r\nX-Sun-Data-Name: setup.exe\r\n\r\nhello\r\n"), find: "setup.exe"},
		{name: "two filenames", msg: mixed("multipart/mixed; boundary=b", "Content-Type: application/pdf\r\nContent-Disposition: attachment; filename=\"a.pdf\"; filename=\"setup.exe\"\r\n\r\nx\r\n"), find: "setup.exe", ambiguous: true},
		{name: "name and filename", msg: mixed("multipart/mixed; boundary=b", "Content-Type: application/pdf; name=\"setup.exe\"\r\nContent-Disposition: attachment; filename=\"a.pdf\"\r\n\r\nx\r\n"), find: "setup.exe", ambiguous: true},
		{name: "unquoted filename with space", msg: mixed("multipart/mixed; boundary=b", "Content-Type: application/pdf\r\nContent-Disposition: attachment; filename=setup.exe x\r\n\r\nx\r\n"), find: "setup.exe", ambiguous: true},
		{name: "name after comma", msg: mixed("multipart/mixed; boundary=b", "Content-Type: application/pdf, name=setup.exe\r\n\r\nx\r\n"), find: "setup.exe"},
		{name: "NUL in 2231 name", msg: mixed("multipart/mixed; boundary=b", "Content-Type: application/pdf\r\nContent-Disposition: attachment; filename*=UTF-8''setup.exe%00.pdf\r\n\r\nx\r\n"), find: "setup.exe", ambiguous: true},
		{name: "zip unicode path", msg: mixed("multipart/mixed; boundary=b", "Content-Type: application/zip; name=\"m.zip\"\r\nContent-Transfer-Encoding: base64\r\n\r\n"+zipped("setup.pdf", []byte("%PDF-1.4"), upath("setup.pdf", "setup.exe"))+"\r\n"), find: "setup.exe", ambiguous: true},
		{name: "two content types", msg: mixed("multipart/mixed; boundary=b", exePart("Content-Type: text/plain\r\nContent-Type: application/pdf; name=a.pdf\r\nContent-Transfer-Encoding: base64")), ambiguous: true},
	} {
		t.Run(c.name, func(t *testing.T) {
			res := inspectString(t, c.msg)
			if !finds(res, c.find) {
				t.Errorf("not found: %q (PE when empty); result %+v", c.find, res)
			}
			if got := res.Has(GapAmbiguous); got != c.ambiguous {
				t.Errorf("ambiguous = %v, want %v; gaps %v", got, c.ambiguous, res.Uninspected)
			}
			for _, g := range res.Uninspected {
				if g.Class != GapAmbiguous {
					t.Errorf("gap %v", g)
				}
			}
			// Read in pieces as the milter hands them over: the same.
			s := NewStream(Limits{}, nil)
			for m := []byte(c.msg); len(m) > 0; m = m[min(len(m), 7):] {
				s.Write(m[:min(len(m), 7)])
			}
			got, err := s.Close()
			if err != nil || !sameResult(got, res) {
				t.Errorf("streamed: %+v, %v; whole: %+v", got, err, res)
			}
		})
	}
}

// sameResult compares two results by their attachments and gaps.
func sameResult(a, b *Result) bool {
	return slices.EqualFunc(a.Attachments, b.Attachments, func(x, y Attachment) bool { return sameAttachment(x, y) && x.Reading == y.Reading }) &&
		slices.Equal(a.Uninspected, b.Uninspected)
}

// TestReadingControls: the same shapes around harmless files find no
// executable, and shapes clients agree on are not ambiguous.
func TestReadingControls(t *testing.T) {
	pdf := b64enc([]byte("%PDF-1.4\n%\xe2\xe3\n1 0 obj\n"))
	for _, c := range []struct {
		name, msg string
		ambiguous bool
	}{
		{"cte semicolon", mixed("multipart/mixed; boundary=b", "Content-Type: application/pdf; name=a.pdf\r\nContent-Transfer-Encoding: base64;\r\n\r\n"+pdf+"\r\n"), false},
		{"padding inside", mixed("multipart/mixed; boundary=b", "Content-Type: application/pdf; name=a.pdf\r\nContent-Transfer-Encoding: base64\r\n\r\nJQ==\r\n"+b64enc([]byte("PDF-1.4\n"))+"\r\n"), false},
		{"two boundaries", "Subject: x\r\nContent-Type: multipart/mixed; boundary=\"c\"; boundary*=us-ascii''b\r\n\r\n--c\r\nContent-Type: text/plain\r\n\r\n--b\r\nContent-Type: application/pdf; name=a.pdf\r\nContent-Transfer-Encoding: base64\r\n\r\n" + pdf + "\r\n--b--\r\n--c--\r\n", true},
		{"plain", mixed("multipart/mixed; boundary=\"b\"", "Content-Type: application/pdf; name=\"a.pdf\"\r\nContent-Disposition: attachment; filename=\"a.pdf\"\r\nContent-Transfer-Encoding: base64\r\n\r\n"+pdf+"\r\n"), false},
	} {
		t.Run(c.name, func(t *testing.T) {
			res := inspectString(t, c.msg)
			for _, a := range res.Attachments {
				if a.Executable != "" || a.Ext != "pdf" {
					t.Errorf("attachment %+v", a)
				}
			}
			if len(res.Attachments) == 0 {
				t.Error("no attachment found")
			}
			if got := res.Has(GapAmbiguous); got != c.ambiguous {
				t.Errorf("ambiguous = %v, want %v; gaps %v", got, c.ambiguous, res.Uninspected)
			}
		})
	}
}

// TestReadingsBounded: a message with a thousand boundaries of a thousand
// parts makes at most maxReadings other readings, and says so.
func TestReadingsBounded(t *testing.T) {
	var ct strings.Builder
	ct.WriteString("multipart/mixed")
	for i := range 12 {
		ct.WriteString("; boundary=b" + strings.Repeat("x", i))
	}
	nest := "x\r\n"
	for range 6 {
		nest = "Content-Type: " + ct.String() + "\r\n\r\n--b\r\n" + nest + "--b--\r\n"
	}
	res := inspectString(t, "Subject: x\r\n"+nest)
	if !res.Has(GapStructure) || !res.Has(GapAmbiguous) {
		t.Fatalf("gaps %v", res.Uninspected)
	}
}

// TestEBCDICLabelNotDecoded: English text labelled with an EBCDIC code
// page is read as the ASCII a client shows.
func TestEBCDICLabelNotDecoded(t *testing.T) {
	res := inspectString(t, "Subject: x\r\nContent-Type: text/plain; charset=IBM037\r\n\r\nPlease find the invoice attached.\r\n")
	if res.Text.NonASCII || !strings.Contains(res.Text.Sample, "invoice") {
		t.Fatalf("text %+v", res.Text)
	}
}

// TestReadingAbort: a Stream aborted while another reading runs returns,
// and so does that reading.
func TestReadingAbort(t *testing.T) {
	msg := "Subject: x\r\nContent-Type: multipart/mixed; boundary=\"c\"; boundary*=us-ascii''b\r\n\r\n--c\r\nContent-Type: application/pdf; name=a.pdf\r\nContent-Transfer-Encoding: base64\r\n\r\n" +
		strings.Repeat(b64enc(bytes.Repeat([]byte("%PDF"), 300))+"\r\n", 50)
	// Tests running in parallel start and end goroutines too: the counts
	// are waited for, not taken once.
	settle := func(ok func(n int) bool) int {
		n := runtime.NumGoroutine()
		for deadline := time.Now().Add(5 * time.Second); !ok(n) && time.Now().Before(deadline); n = runtime.NumGoroutine() {
			time.Sleep(10 * time.Millisecond)
		}
		return n
	}
	before := settle(func(int) bool { return true })
	s := NewStream(Limits{}, nil)
	s.Write([]byte(msg))
	if n := settle(func(n int) bool { return n >= before+2 }); n < before+2 {
		t.Fatalf("%d goroutines while two readings run, %d before", n, before)
	}
	s.Abort()
	if n := settle(func(n int) bool { return n <= before }); n > before {
		t.Fatalf("%d goroutines after Abort, %d before", n, before)
	}
	if res, _ := s.Close(); res != nil {
		t.Fatalf("aborted stream: %v", res)
	}
	s = NewStream(Limits{}, nil)
	s.Write([]byte(msg + "\r\n--c--\r\n"))
	res, err := s.Close()
	if err != nil || !res.Has(GapAmbiguous) {
		t.Fatalf("%+v, %v", res, err)
	}
}

// TestEmptyMultipart: an empty multipart/alternative hides nothing; one
// whose text has no delimiter may hide a part.
func TestEmptyMultipart(t *testing.T) {
	res := inspectString(t, mixed("multipart/mixed; boundary=b", "Content-Type: multipart/alternative; boundary=alt\r\n\r\n\r\n"))
	if len(res.Uninspected) != 0 || !res.Text.NonASCII {
		t.Fatalf("empty alternative: %+v", res)
	}
	res = inspectString(t, mixed("multipart/mixed; boundary=b", "Content-Type: multipart/alternative; boundary=alt\r\n\r\n--other\r\nContent-Type: text/plain\r\n\r\nx\r\n"))
	if !res.Has(GapStructure) {
		t.Fatalf("alternative without delimiter: %+v", res)
	}
}
