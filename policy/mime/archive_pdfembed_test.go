package mime

import (
	"bytes"
	"compress/zlib"
	"crypto/md5"
	"crypto/rc4"
	"encoding/ascii85"
	"encoding/hex"
	"encoding/json"
	"fmt"
	"io"
	"maps"
	"math/rand"
	"regexp"
	"slices"
	"strconv"
	"strings"
	"testing"
	"time"
)

// attachPDF attaches fs (name → content) to pdf with qpdf, each under its
// own name, with extra options of qpdf before the output.
func attachPDF(t testing.TB, pdf []byte, fs map[string][]byte, extra ...string) []byte {
	t.Helper()
	all := map[string][]byte{"in.pdf": pdf}
	args := []string{"in.pdf"}
	for _, n := range sortedNames(fs) {
		all[n] = fs[n]
		args = append(args, "--add-attachment", n, "--key="+n, "--")
	}
	dir := files(t, all)
	return run(t, dir, "out.pdf", tool(t, "qpdf"), append(append(args, extra...), "out.pdf")...)
}

// handPDF writes a PDF of objs, numbered from 1, with a trailer and no
// cross-reference table (readers rebuild it; Sekisho does not read it).
func handPDF(objs ...string) []byte {
	var b strings.Builder
	b.WriteString("%PDF-1.7\n")
	for i, o := range objs {
		fmt.Fprintf(&b, "%d 0 obj\n%s\nendobj\n", i+1, o)
	}
	fmt.Fprintf(&b, "trailer\n<< /Size %d /Root 1 0 R >>\n%%%%EOF\n", len(objs)+1)
	return []byte(b.String())
}

// attachment is a catalog naming file specification 3 0 R as name, an
// empty page tree, and the file specification with the keys spec.
func attachment(name, spec string) []string {
	return []string{
		"<< /Type /Catalog /Pages 2 0 R /Names << /EmbeddedFiles << /Names [(" + name + ") 3 0 R] >> >> >>",
		"<< /Type /Pages /Kids [] /Count 0 >>",
		"<< /Type /Filespec " + spec + " >>",
	}
}

// stream is a stream object with dict's entries and a right /Length.
func stream(dict string, data []byte) string {
	return fmt.Sprintf("<< %s /Length %d >>\nstream\n%s\nendstream", dict, len(data), data)
}

func zlibOf(b []byte) []byte {
	var out bytes.Buffer
	w, _ := zlib.NewWriterLevel(&out, zlib.BestCompression)
	w.Write(b)
	w.Close()
	return out.Bytes()
}

func TestPDFEmbeddedFiles(t *testing.T) {
	t.Parallel()
	plain := plainPDF()
	zip := zipOf(t, map[string][]byte{"d.exe": peBytes})
	for name, c := range map[string]struct {
		pdf           []byte
		listing, gaps string
	}{
		"exe":      {attachPDF(t, plain, map[string][]byte{"invoice.exe": peBytes}), "[pdf]\ninvoice.exe pe\n", ""},
		"text":     {attachPDF(t, plain, map[string][]byte{"note.txt": []byte("hello\n")}), "[pdf]\nnote.txt\n", ""},
		"objstm":   {attachPDF(t, plain, map[string][]byte{"invoice.exe": peBytes, "note.txt": []byte("hi")}, "--object-streams=generate"), "[pdf]\ninvoice.exe pe\nnote.txt\n", ""},
		"linear":   {attachPDF(t, plain, map[string][]byte{"invoice.exe": peBytes}, "--object-streams=generate", "--linearize"), "[pdf]\ninvoice.exe pe\n", ""},
		"japanese": {attachPDF(t, plain, map[string][]byte{"請求書.exe": peBytes}, "--object-streams=generate"), "[pdf]\n請求書.exe pe\n", ""},
		"zip":      {attachPDF(t, plain, map[string][]byte{"a.zip": zip}), "[pdf]\na.zip\n  [zip]\n  d.exe pe\n", ""},
	} {
		res := inspect(t, c.pdf, "a.pdf", DefaultLimits())
		if got := listing(res.Attachments[0].Archive); got != c.listing {
			t.Errorf("%s: listing:\n%s\nwant:\n%s", name, got, c.listing)
		}
		if got := gaps(res); got != c.gaps {
			t.Errorf("%s: gaps:\n%s\nwant:\n%s", name, got, c.gaps)
		}
	}
	// A PDF in a zip, holding an exe.
	inner := attachPDF(t, plain, map[string][]byte{"invoice.exe": peBytes}, "--object-streams=generate")
	res := inspect(t, zipOf(t, map[string][]byte{"a.pdf": inner}), "a.zip", DefaultLimits())
	check(t, res, "[zip]\na.pdf\n  [pdf]\n  invoice.exe pe\n", "")
}

// TestPDFWithoutEmbeddedFiles: PDFs that embed nothing stay plain files,
// object streams or not, encrypted with an owner password only or not.
func TestPDFWithoutEmbeddedFiles(t *testing.T) {
	t.Parallel()
	plain := plainPDF()
	for name, pdf := range map[string][]byte{
		"plain":        plain,
		"objstm":       qpdf(t, plain, "--object-streams=generate"),
		"owner":        qpdf(t, plain, "--encrypt", "", "owner", "256", "--"),
		"owner objs":   qpdf(t, plain, "--object-streams=generate", "--encrypt", "", "owner", "256", "--"),
		"unreferenced": handPDF(append(attachment("a", "/F (a)")[:2], "null", stream("/Type /EmbeddedFile", peBytes))...),
	} {
		res := inspectDoc(t, "a.pdf", pdf)
		if res.Attachments[0].Archive != nil || len(res.Uninspected) != 0 {
			t.Errorf("%s: %s\n%s", name, listing(res.Attachments[0].Archive), gapsOf(res))
		}
	}
}

// TestPDFEncryptedEmbedded: the files a PDF embeds are read however qpdf
// encrypts it. One that opens without a password (an owner password only)
// is a plain container of them; one that asks for a password is an
// encrypted document whose files follow it, decrypted, once a candidate
// opens it, the user password or the owner password.
func TestPDFEncryptedEmbedded(t *testing.T) {
	t.Parallel()
	fs := map[string][]byte{"invoice.exe": peBytes, "note.txt": []byte("hello\n")}
	for way := range pdfEncryptions {
		t.Run(way, func(t *testing.T) {
			t.Parallel()
			plain := attachPDF(t, plainPDF(), fs)
			owner := encryptPDF(t, plain, way, "")
			check(t, inspect(t, owner, "a.pdf", DefaultLimits()), "[pdf]\ninvoice.exe pe\nnote.txt\n", "")
			user := encryptPDF(t, plain, way, "請求 pw")
			const locked = "[pdf-encrypted encrypted]\ndocument encrypted\n"
			for _, pws := range [][]string{nil, {"0wner", "請求"}} {
				res := inspect(t, user, "a.pdf", DefaultLimits(), pws...)
				if got := listing(res.Attachments[0].Archive); got != locked {
					t.Errorf("candidates %q: listing:\n%s\nwant:\n%s", pws, got, locked)
				}
			}
			for _, pw := range []string{"請求 pw", "owner"} {
				res := inspect(t, user, "a.pdf", DefaultLimits(), "0wner", pw)
				check(t, res, "[pdf-encrypted encrypted]\ndocument encrypted decrypted\ninvoice.exe pe encrypted decrypted\nnote.txt encrypted decrypted\n", "")
			}
			// What is decrypted is what qpdf decrypts, and what was
			// attached.
			clear := qpdf(t, user, "--warning-exit-0", "--password=請求 pw", "--decrypt")
			want := pdfFiles(t, clear, "")
			if len(want) != 2 || !bytes.Equal(want["invoice.exe"], peBytes) || !bytes.Equal(want["note.txt"], fs["note.txt"]) {
				t.Errorf("qpdf --decrypt: %q", want)
			}
			for pdf, pw := range map[*[]byte]string{&owner: "", &user: "請求 pw"} {
				if got := pdfFiles(t, *pdf, pw); !maps.EqualFunc(got, want, bytes.Equal) {
					t.Errorf("password %q: %q, want %q", pw, got, want)
				}
			}
		})
	}
}

// pdfFiles returns the files pdf embeds, by name, decrypted with pw.
func pdfFiles(t *testing.T, pdf []byte, pw string) map[string][]byte {
	t.Helper()
	w, err := openPDF(bytes.NewReader(pdf), int64(len(pdf)), "a.pdf")
	if err != nil {
		t.Fatal(err)
	}
	out := map[string][]byte{}
	for {
		e, err := w.next()
		if err == io.EOF {
			return out
		}
		if err != nil {
			t.Fatal(err)
		}
		var rc io.ReadCloser
		if e.encrypted {
			rc, err = e.decrypt([]byte(pw))
		} else {
			rc, err = e.open()
		}
		if err != nil {
			t.Fatalf("%s: %v", e.name, err)
		}
		b, err := io.ReadAll(rc)
		if err != nil {
			t.Fatalf("%s: %v", e.name, err)
		}
		if e.name != "document" {
			out[e.name] = b
		}
	}
}

// TestPDFEmbeddedHandMade: PDFs written by hand, as an attacker writes
// them: escaped names, filters, lying lengths, bombs, huge counts. Each
// ends at once, with its file found or a gap saying why not.
func TestPDFEmbeddedHandMade(t *testing.T) {
	t.Parallel()
	spec := func(name, ef string) []string {
		return attachment(name, "/F ("+name+") /UF ("+name+") /EF << /F 4 0 R >>"+ef)
	}
	withStream := func(dict string, data []byte) []byte {
		return handPDF(append(spec("a.exe", ""), stream(dict, data))...)
	}
	hexed := hex.EncodeToString(peBytes) + ">"
	a85 := make([]byte, ascii85.MaxEncodedLen(len(peBytes)))
	a85 = append(a85[:ascii85.Encode(a85, peBytes)], "~>"...)
	bomb := zlibOf(make([]byte, 40<<20))
	objStm := func(n int, header, body string) string {
		return stream(fmt.Sprintf("/Type /ObjStm /N %d /First %d /Filter /FlateDecode", n, len(header)), zlibOf([]byte(header+body)))
	}
	many := bytes.Repeat([]byte("1 0 obj null endobj\n"), 1_000_000)
	for name, c := range map[string]struct {
		pdf           []byte
		listing, gaps string
	}{
		"plain stream": {withStream("/Type /EmbeddedFile", peBytes), "[pdf]\na.exe pe\n", ""},
		"escaped names": {handPDF(append(attachment("a.exe", "/F (a.exe) /E#46 << /#46 4 0 R >>"), stream("/Type /Embedded#46ile", peBytes))...),
			"[pdf]\na.exe pe\n", ""},
		"flate":        {withStream("/Filter /FlateDecode", zlibOf(peBytes)), "[pdf]\na.exe pe\n", ""},
		"raw deflate":  {withStream("/Filter /FlateDecode", zlibOf(peBytes)[2:]), "[pdf]\na.exe pe\n", ""},
		"hex":          {withStream("/Filter /ASCIIHexDecode", []byte(hexed)), "[pdf]\na.exe pe\n", ""},
		"ascii85":      {withStream("/Filter [/A85]", a85), "[pdf]\na.exe pe\n", ""},
		"chain":        {withStream("/Filter [/AHx /Fl]", []byte(hex.EncodeToString(zlibOf(peBytes))+">")), "[pdf]\na.exe pe\n", ""},
		"run length":   {withStream("/Filter /RunLengthDecode", append(append([]byte{1}, peBytes[:2]...), 0x81, 0, 128)), "[pdf]\na.exe pe\n", ""},
		"lying length": {handPDF(append(spec("a.exe", ""), "<< /Length 3 >>\nstream\n"+string(peBytes)+"\nendstream")...), "[pdf]\na.exe pe\n", ""},
		"long length":  {handPDF(append(spec("a.exe", ""), "<< /Length 99999 >>\nstream\n"+string(peBytes)+"\nendstream")...), "[pdf]\na.exe pe\n", ""},
		"indirect length": {handPDF(append(spec("a.exe", ""), "<< /Length 5 0 R >>\nstream\n"+string(peBytes)+"endstream in data\nendstream", fmt.Sprint(len(peBytes)+len("endstream in data")))...),
			"[pdf]\na.exe pe\n", ""},
		"unknown filter": {withStream("/Filter /DCTDecode", peBytes), "[pdf]\na.exe\n",
			`archive: attachment "a.pdf" > "a.exe": cannot be read: filter /DCTDecode, which Sekisho does not decode`},
		"lzw": {withStream("/Filter /LZWDecode", peBytes), "[pdf]\na.exe\n",
			`archive: attachment "a.pdf" > "a.exe": cannot be read: /LZWDecode with early change (the default), which compress/lzw does not read`},
		"predictor": {withStream("/Filter /FlateDecode /DecodeParms << /Predictor 12 >>", zlibOf(peBytes)), "[pdf]\na.exe\n",
			`archive: attachment "a.pdf" > "a.exe": cannot be read: /FlateDecode with predictor 12, which Sekisho does not apply`},
		"missing stream": {handPDF(spec("a.exe", "")...), "[pdf skipped: PDF file specification \"a.exe\": its embedded file (/EF /F) is not a stream in the file]\n",
			`archive: attachment "a.pdf": PDF file specification "a.exe": its embedded file (/EF /F) is not a stream in the file`},
		"bomb entry": {withStream("/Filter /FlateDecode", bomb), "[pdf]\na.exe\n", ""},
		"bomb objstm": {handPDF("<< /Type /Catalog >>", stream("/Type /ObjStm /N 1 /First 4 /Filter /FlateDecode", bomb)),
			"[pdf skipped: PDF object streams decode to more than 33554432 bytes: not all were looked at for embedded files]\n",
			`limit: attachment "a.pdf": PDF object streams decode to more than 33554432 bytes: not all were looked at for embedded files`},
		"objstm filespec": {handPDF("<< /Type /Catalog >>", objStm(1, "3 0 ", "<< /EF << /F 4 0 R >> /UF (b.exe) >>"), "null", stream("", peBytes)),
			"[pdf]\nb.exe pe\n", ""},
		// A table of objects that says more than it holds, or offsets
		// that land in the middle of an object: what is found is judged,
		// and the rest, which a lenient reader might read as a file
		// specification, is a gap.
		"objstm huge N": {handPDF("<< /Type /Catalog >>", objStm(1_000_000_000, strings.Repeat("3 0 ", 100), "<< /EF << /F 4 0 R >> /UF (b.exe) >>"), "null", stream("", peBytes)),
			"[pdf skipped: PDF object stream 2 0 names embedded files, and its table of objects cannot be read]\nb.exe pe\n",
			`archive: attachment "a.pdf": PDF object stream 2 0 names embedded files, and its table of objects cannot be read`},
		"objstm bad offsets": {handPDF("<< /Type /Catalog >>", objStm(3, "3 999 5 0 6 1 ", "<< /EF << /F 4 0 R >> /UF (b.exe) >>"), "null", stream("", peBytes)),
			"[pdf skipped: PDF object 6 in object stream 2 0 cannot be read, and may be a file specification]\nb.exe pe\n",
			`archive: attachment "a.pdf": PDF object 6 in object stream 2 0 cannot be read, and may be a file specification`},
		"objstm unterminated": {handPDF("<< /Type /Catalog >>", objStm(1, "3 0 ", "<< /EF << /F 4 0 R >> /UF (b.exe)"), "null", stream("", peBytes)),
			"[pdf skipped: PDF object 3 in object stream 2 0 cannot be read, and may be a file specification]\n",
			`archive: attachment "a.pdf": PDF object 3 in object stream 2 0 cannot be read, and may be a file specification`},
		"objstm unknown filter": {handPDF("<< /Type /Catalog >>", stream("/Type /ObjStm /N 1 /First 4 /Filter /JBIG2Decode", []byte("x"))),
			"[pdf skipped: PDF object stream 2 0 cannot be read for embedded files: filter /JBIG2Decode, which Sekisho does not decode]\n",
			`archive: attachment "a.pdf": PDF object stream 2 0 cannot be read for embedded files: filter /JBIG2Decode, which Sekisho does not decode`},
		"many objects": {append(handPDF(spec("a.exe", "")...), many...),
			"[pdf skipped: PDF with more than 131072 objects: not all were looked at for embedded files]\n",
			`limit: attachment "a.pdf": PDF with more than 131072 objects: not all were looked at for embedded files`},
		"japanese names": {handPDF(append(attachment("x", "/F (\x90\xbf\x8b\x81.exe) /UF <FEFF8ACB6C4266F8002E006500780065> /EF << /F 4 0 R /UF 4 0 R >>"), stream("", peBytes))...),
			"[pdf]\n請求書.exe pe\n", ""},
		"other extension": {handPDF(append(attachment("x", "/F (a.pdf) /UF (a.exe) /EF << /F 4 0 R >>"), stream("", peBytes))...),
			"[pdf]\na.exe pe\n", `ambiguous: attachment "a.pdf": entry names "a.exe", "a.pdf": each is judged`},
		"annotation": {handPDF("<< /Type /Catalog /Pages 2 0 R >>", "<< /Type /Pages /Kids [3 0 R] /Count 1 >>",
			"<< /Type /Page /Parent 2 0 R /Annots [<< /Subtype /FileAttachment /FS << /F (c:\\\\tmp\\\\r.scr) /EF << /F 4 0 R >> >> >>] >>", stream("", peBytes)),
			"[pdf]\nr.scr pe\n", ""},
		"no name": {handPDF(append(attachment("x", "/EF << /F 4 0 R >>"), stream("", []byte("text")))...), "[pdf]\nembedded file 4\n", ""},
	} {
		start := time.Now()
		res := inspect(t, c.pdf, "a.pdf", DefaultLimits())
		if d := time.Since(start); d > 10*time.Second {
			t.Errorf("%s: took %v", name, d)
		}
		if got := listing(res.Attachments[0].Archive); got != c.listing {
			t.Errorf("%s: listing:\n%s\nwant:\n%s", name, got, c.listing)
		}
		// The attachment is part 1 of the message InspectFile makes.
		if got, want := gaps(res), strings.Replace(c.gaps, ": attachment", ": part 1: attachment", 1); got != want {
			t.Errorf("%s: gaps:\n%s\nwant:\n%s", name, got, want)
		}
	}
}

// TestPDFNameHits: the pre-check sees every spelling of the names it
// looks for, and not others.
func TestPDFNameHits(t *testing.T) {
	for in, want := range map[string]int{
		"/EF":                  pdfHitFile,
		"<</E#46<<":            pdfHitFile,
		"/#45#46 ":             pdfHitFile,
		"/Embedded#46ile":      pdfHitFile,
		"/EmbeddedFiles":       pdfHitFile,
		"/Fir#73t 4":           pdfHitObjStm,
		"/#4FbjStm":            pdfHitObjStm,
		"/EFF /E /Filter /Obj": 0,
		"EF First ObjStm":      0,
	} {
		if got := pdfNameHits([]byte(in)); got != want {
			t.Errorf("%q: %d, want %d", in, got, want)
		}
	}
}

// benchPDF is an ordinary PDF of about 2 MB without embedded files: pages
// of text and an image of noise, each stream compressed.
func benchPDF() []byte {
	rng := rand.New(rand.NewSource(1))
	objs := []string{"<< /Type /Catalog /Pages 2 0 R >>", ""}
	var kids []string
	for p := 0; p < 200; p++ {
		var text strings.Builder
		for l := 0; l < 60; l++ {
			fmt.Fprintf(&text, "BT /F1 10 Tf 40 %d Td (Line %d of page %d: %x) Tj ET\n", 800-12*l, l, p, rng.Int63())
		}
		img := make([]byte, 8000)
		rng.Read(img)
		n := len(objs) + 1
		objs = append(objs,
			fmt.Sprintf("<< /Type /Page /Parent 2 0 R /MediaBox [0 0 595 842] /Contents %d 0 R /Resources << /XObject << /Im0 %d 0 R >> /Font << /F1 << /Type /Font /Subtype /Type1 /BaseFont /Helvetica >> >> >> >>", n+1, n+2),
			stream("/Filter /FlateDecode", zlibOf([]byte(text.String()))),
			stream("/Type /XObject /Subtype /Image /Width 100 /Height 80 /ColorSpace /DeviceGray /BitsPerComponent 8 /Filter /FlateDecode", zlibOf(img)))
		kids = append(kids, fmt.Sprintf("%d 0 R", n))
	}
	objs[1] = "<< /Type /Pages /Kids [" + strings.Join(kids, " ") + "] /Count 200 >>"
	return handPDF(objs...)
}

func benchmarkOpenPDF(b *testing.B, pdf []byte) {
	b.SetBytes(int64(len(pdf)))
	b.ReportAllocs()
	for b.Loop() {
		if _, err := openPDF(bytes.NewReader(pdf), int64(len(pdf)), "a.pdf"); err != errNotContainer {
			b.Fatal(err)
		}
	}
}

// BenchmarkPDFPlain: an ordinary PDF without object streams.
func BenchmarkPDFPlain(b *testing.B) { benchmarkOpenPDF(b, benchPDF()) }

// BenchmarkPDFObjectStreams: the same PDF with its dictionaries in object
// streams, which are decoded and scanned.
func BenchmarkPDFObjectStreams(b *testing.B) {
	benchmarkOpenPDF(b, qpdf(b, benchPDF(), "--warning-exit-0", "--object-streams=generate"))
}

func FuzzPDFEmbed(f *testing.F) {
	plain := plainPDF()
	f.Add(attachPDF(f, plain, map[string][]byte{"invoice.exe": peBytes, "a.zip": zipOf(f, map[string][]byte{"d.exe": peBytes})}))
	f.Add(attachPDF(f, plain, map[string][]byte{"請求書.exe": peBytes}, "--object-streams=generate"))
	f.Add(attachPDF(f, plain, map[string][]byte{"invoice.exe": peBytes}, "--encrypt", "", "owner", "128", "--use-aes=y", "--"))
	// Encrypted: the fuzz target's candidate "pw" opens those that ask
	// for a password.
	withFiles := attachPDF(f, plain, map[string][]byte{"invoice.exe": peBytes, "note.txt": []byte("hello\n")})
	for _, way := range []string{"RC4-40", "RC4-128 object streams", "AES-128", "AES-256 object streams", "AES-256 R5"} {
		f.Add(encryptPDF(f, withFiles, way, ""))
		f.Add(encryptPDF(f, withFiles, way, "pw"))
	}
	f.Add(handPDF(append(attachment("a.exe", "/F (a.exe) /E#46 << /#46 4 0 R >>"), stream("/Filter [/AHx /Fl]", []byte(hex.EncodeToString(zlibOf(peBytes))+">")))...))
	f.Add(handPDF("<< /Type /Catalog >>", stream("/Type /ObjStm /N 2 /First 8 /Filter /FlateDecode", zlibOf([]byte("3 0 4 20 << /EF << /F 5 0 R >> >> (x)"))), "null", "null", stream("/Filter /RunLengthDecode", []byte{1, 'M', 'Z', 128})))
	f.Fuzz(func(t *testing.T, data []byte) {
		lim := DefaultLimits()
		lim.MaxArchiveBytes = 4 << 20
		lim.MaxArchiveEntries = 200
		lim.TempDir = t.TempDir()
		in := newInspector(bytes.NewReader(nil), lim, nil, [][]byte{[]byte("pw")})
		a := in.inspectArchive("pdf", bytes.NewReader(data), int64(len(data)), 1, "f.pdf", "attachment", "1", false)
		if a != nil && a.Format != "pdf" && a.Format != FormatPDFEncrypt {
			t.Fatalf("archive = %+v", a)
		}
		if _, err := json.Marshal(in.res); err != nil {
			t.Fatal(err)
		}
	})
}

// TestPDFEmbeddedBounds: many file specifications naming streams without
// "endstream", and an object defined again and again, cost little.
func TestPDFEmbeddedBounds(t *testing.T) {
	t.Parallel()
	var b strings.Builder
	b.WriteString("%PDF-1.7\n1 0 obj << /Type /Catalog >> endobj\n")
	const n = 4000
	for i := range n {
		fmt.Fprintf(&b, "%d 0 obj << /EF << /F %d 0 R >> /UF (f%d.txt) >> endobj\n", 10+i, 10+2*n-i, i)
	}
	for i := range n {
		fmt.Fprintf(&b, "%d 0 obj << /Length 1 0 R >> stream\nMZ%s\n", 10+n+i, strings.Repeat("x", 1000))
	}
	start := time.Now()
	res := inspect(t, []byte(b.String()), "a.pdf", DefaultLimits())
	if d := time.Since(start); d > 5*time.Second {
		t.Errorf("took %v", d)
	}
	if a := res.Attachments[0].Archive; a == nil || len(a.Entries) == 0 {
		t.Errorf("archive %+v\n%s", a, gaps(res))
	}
	again := handPDF(append(attachment("a.exe", "/UF (a.exe) /EF << /F 4 0 R >>"), stream("", peBytes))...)
	again = append(again, strings.Repeat("4 0 obj\n"+stream("", peBytes)+"\nendobj\n", 40)...)
	res = inspect(t, again, "a.pdf", DefaultLimits())
	if g := gaps(res); !strings.Contains(g, "PDF object 4 is defined more than 16 times: only the last ones were looked at for embedded files") {
		t.Errorf("gaps %q", g)
	}
}

// pdfStandardDict is an encryption dictionary of the standard security
// handler, version v and revision r (3 or 4), with the user password
// user, the owner password "owner", a key of n bytes, and extra entries;
// id is the first element of the file identifier.
func pdfStandardDict(t *testing.T, user string, v, r, n int, id []byte, extra string) string {
	t.Helper()
	pad := func(pw string) []byte { return append([]byte(pw), pdfPadding...)[:32] }
	rc := func(k, b []byte) []byte {
		c, _ := rc4.NewCipher(k)
		out := make([]byte, len(b))
		c.XORKeyStream(out, b)
		return out
	}
	rounds := func(key, b []byte) []byte {
		k := make([]byte, len(key))
		for i := range 20 {
			for j := range k {
				k[j] = key[j] ^ byte(i)
			}
			b = rc(k, b)
		}
		return b
	}
	// Algorithm 3: /O, the padded user password encrypted with a key
	// from the owner password.
	h := md5.Sum(pad("owner"))
	for range 50 {
		h = md5.Sum(h[:])
	}
	o := rounds(h[:n], pad(user))
	// Algorithm 2: the file key; Algorithm 5: /U.
	const p = -4
	key := md5.Sum(slices.Concat(pad(user), o, []byte{0xfc, 0xff, 0xff, 0xff}, id))
	for range 50 {
		key = md5.Sum(key[:n])
	}
	sum := md5.Sum(slices.Concat(pdfPadding, id))
	u := append(rounds(key[:n], sum[:]), make([]byte, 16)...)
	s := &pdfStandard{v: v, r: r, keyLen: n, o: o, u: u, p: p & 0xffffffff, id: id, encryptMetadata: true}
	if k, fits := s.unlock([]byte(user)); !fits || !bytes.Equal(k, key[:n]) {
		t.Fatalf("the dictionary's key is not the user password's")
	}
	return fmt.Sprintf("<< /Filter /Standard /V %d /R %d /Length %d /O <%X> /U <%X> /P %d %s >>", v, r, 8*n, o, u, p, extra)
}

// TestPDFEncryptedUndecryptable: an encrypted PDF whose objects cannot be
// decrypted here is a gap that says why when it may embed files, and a
// plain PDF otherwise; crypt filters that are the identity leave objects
// in clear.
func TestPDFEncryptedUndecryptable(t *testing.T) {
	t.Parallel()
	id := []byte("0123456789abcdef")
	ids := fmt.Sprintf("[<%X> <%X>]", id, id)
	files := func(streamDict string) []string {
		return []string{"3 0 obj << /Type /Filespec /F (a.exe) /EF << /F 4 0 R >> >> endobj\n", "4 0 obj " + stream(streamDict, peBytes) + " endobj\n"}
	}
	aes := "/CF << /StdCF << /CFM /AESV2 >> >> /StmF /StdCF /StrF /StdCF"
	const gap = `archive: part 1: attachment "a.pdf": encrypted PDF: embedded files not decrypted: `
	for name, c := range map[string]struct {
		pdf           []byte
		listing, gaps string
	}{
		"AES-128 with a 64-bit key": {pdfWithEncrypt(pdfStandardDict(t, "", 4, 4, 8, id, aes), ids, files("")...), "",
			gap + `its crypt filter /StdCF is AES-128 with a key of 64 bits`},
		"unknown method": {pdfWithEncrypt(pdfStandardDict(t, "", 4, 4, 16, id, "/CF << /StdCF << /CFM /AESV9 >> >> /StmF /StdCF"), ids, files("")...), "",
			gap + `its crypt filter /StdCF: method /AESV9 in version 4, which Sekisho does not decrypt`},
		"undefined filter": {pdfWithEncrypt(pdfStandardDict(t, "", 4, 4, 16, id, aes+" /EFF /Other"), ids, files("")...), "",
			gap + `the crypt filter /Other, which its /CF does not define`},
		"version 3": {pdfWithEncrypt(pdfStandardDict(t, "", 3, 3, 16, id, ""), ids, files("")...), "",
			gap + `encryption version 3, which Sekisho does not decrypt`},
		"user password, unknown method": {pdfWithEncrypt(pdfStandardDict(t, "pw", 4, 4, 16, id, "/CF << /StdCF << /CFM /AESV9 >> >> /StmF /StdCF"), ids, files("")...),
			"[pdf-encrypted encrypted skipped: encrypted PDF: embedded files not decrypted: its crypt filter /StdCF: method /AESV9 in version 4, which Sekisho does not decrypt]\ndocument encrypted decrypted\n",
			`encrypted: part 1: attachment "a.pdf": encrypted PDF: embedded files not decrypted: its crypt filter /StdCF: method /AESV9 in version 4, which Sekisho does not decrypt`},
		"nothing embedded":    {pdfWithEncrypt(pdfStandardDict(t, "", 4, 4, 16, id, "/CF << /StdCF << /CFM /AESV9 >> >> /StmF /StdCF"), ids), "", ""},
		"identity":            {pdfWithEncrypt(pdfStandardDict(t, "", 4, 4, 16, id, "/StmF /Identity"), ids, files("")...), "[pdf]\na.exe pe\n", ""},
		"identity crypt":      {pdfWithEncrypt(pdfStandardDict(t, "", 4, 4, 16, id, "/CF << /StdCF << /CFM /AESV2 >> >> /StmF /StdCF /StrF /Identity"), ids, files("/Filter /Crypt /DecodeParms << /Name /Identity >>")...), "[pdf]\na.exe pe\n", ""},
		"identity embedded":   {pdfWithEncrypt(pdfStandardDict(t, "", 4, 4, 16, id, "/CF << /StdCF << /CFM /AESV2 >> >> /StmF /StdCF /EFF /Identity"), ids, files("")...), "[pdf]\na.exe pe\n", ""},
		"crypt filter of /CF": {pdfWithEncrypt(pdfStandardDict(t, "", 4, 4, 16, id, "/CF << /StdCF << /CFM /AESV2 >> /Clear << /CFM /None >> >> /StmF /StdCF"), ids, files("/Filter [/Crypt] /DecodeParms [<< /Name /Clear >>]")...), "[pdf]\na.exe pe\n", ""},
	} {
		res := inspect(t, c.pdf, "a.pdf", DefaultLimits(), "pw")
		want := c.listing
		if want == "" && c.gaps != "" && !strings.HasPrefix(c.gaps, "encrypted") {
			want = "[pdf skipped: " + c.gaps[strings.Index(c.gaps, `"a.pdf": `)+len(`"a.pdf": `):] + "]\n"
		}
		if got := listing(res.Attachments[0].Archive); got != want {
			t.Errorf("%s: listing:\n%s\nwant:\n%s", name, got, want)
		}
		if got := gaps(res); got != c.gaps {
			t.Errorf("%s: gaps:\n%s\nwant:\n%s", name, got, c.gaps)
		}
	}
}

// embeddedData returns pdf, written by qpdf, with the data of each of its
// embedded file streams changed by f, and their /Length with it.
func embeddedData(t *testing.T, pdf []byte, f func([]byte) []byte) []byte {
	t.Helper()
	re := regexp.MustCompile(`/Type /EmbeddedFile /Length (\d+) >>\r?\nstream\r?\n`)
	var out []byte
	n := 0
	for {
		m := re.FindSubmatchIndex(pdf)
		if m == nil {
			break
		}
		l, _ := strconv.Atoi(string(pdf[m[2]:m[3]]))
		data := f(slices.Clone(pdf[m[1] : m[1]+l]))
		out = append(out, pdf[:m[2]]...)
		out = append(out, strconv.Itoa(len(data))...)
		out = append(out, pdf[m[3]:m[1]]...)
		out = append(out, data...)
		pdf = pdf[m[1]+l:]
		n++
	}
	if n == 0 {
		t.Fatal("no embedded file stream")
	}
	return append(out, pdf...)
}

// TestPDFEncryptedCorrupt: AES data cut short or badly padded makes the
// embedded file a gap, whether the PDF asks for a password or not.
func TestPDFEncryptedCorrupt(t *testing.T) {
	t.Parallel()
	fs := map[string][]byte{"invoice.exe": peBytes, "note.txt": []byte("hello\n")}
	plain := attachPDF(t, plainPDF(), fs)
	cut := func(b []byte) []byte { return b[:len(b)-3] }
	// The last byte of the block before the last flips the padding's.
	pad := func(b []byte) []byte { b[len(b)-17] ^= 0x80; return b }
	for name, c := range map[string]struct {
		way, user string
		f         func([]byte) []byte
		listing   string
		why       string
	}{
		"AES-128 cut":           {"AES-128", "", cut, "[pdf]\ninvoice.exe\nnote.txt\n", `archive: part 1: attachment "a.pdf" > "invoice.exe": cannot be read: AES data of `},
		"AES-256 bad padding":   {"AES-256", "", pad, "[pdf]\ninvoice.exe\nnote.txt\n", `archive: part 1: attachment "a.pdf" > "invoice.exe": cannot be read: AES data with bad padding`},
		"user, AES-256 padding": {"AES-256", "pw", pad, "[pdf-encrypted encrypted]\ndocument encrypted decrypted\ninvoice.exe encrypted\nnote.txt encrypted\n", `encrypted: part 1: attachment "a.pdf" > "invoice.exe": encrypted: not decrypted: the password fits, and the content cannot be read: AES data with bad padding`},
		"user, AES-128 cut":     {"AES-128", "pw", cut, "[pdf-encrypted encrypted]\ndocument encrypted decrypted\ninvoice.exe encrypted\nnote.txt encrypted\n", `encrypted: part 1: attachment "a.pdf" > "invoice.exe": encrypted: not decrypted: the password fits, and the content cannot be read: AES data of `},
	} {
		pdf := embeddedData(t, encryptPDF(t, plain, c.way, c.user), c.f)
		res := inspect(t, pdf, "a.pdf", DefaultLimits(), "pw")
		if got := listing(res.Attachments[0].Archive); got != c.listing {
			t.Errorf("%s: listing:\n%s\nwant:\n%s", name, got, c.listing)
		}
		if got := gaps(res); !strings.HasPrefix(got, c.why) || strings.Count(got, "; ") != 1 {
			t.Errorf("%s: gaps:\n%s\nwant two, the first:\n%s", name, got, c.why)
		}
	}
}

// TestPDFEmbeddedRedefinedName: an incremental update redefines the
// object that holds a file's name; readers show the last definition, which
// is the entry's name, and the first is judged too.
func TestPDFEmbeddedRedefinedName(t *testing.T) {
	objs := append(attachment("report", "/F 5 0 R /EF << /F 4 0 R >>"), stream("/Type /EmbeddedFile", peBytes), "(report.txt)")
	pdf := handPDF(objs...)
	pdf = append(pdf, "5 0 obj\n(report.exe)\nendobj\ntrailer\n<< /Size 6 /Root 1 0 R >>\n%%EOF\n"...)
	res := inspect(t, pdf, "a.pdf", DefaultLimits())
	a := res.Attachments[0].Archive
	if a == nil || len(a.Entries) != 1 || a.Entries[0].Name != "report.exe" || !slices.Contains(a.Entries[0].OtherNames, "report.txt") {
		t.Fatalf("entries %+v, gaps %s", a, gaps(res))
	}
}
