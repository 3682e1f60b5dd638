package mime

import (
	"archive/zip"
	"bytes"
	"encoding/base64"
	"encoding/json"
	"errors"
	"flag"
	"fmt"
	"io"
	"mime/quotedprintable"
	"os"
	"path/filepath"
	"runtime"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	"golang.org/x/text/encoding/japanese"
)

var update = flag.Bool("update", false, "rewrite the golden files of testdata/mime")

const corpusDir = "../../testdata/mime"

func corpus(t testing.TB) []string {
	t.Helper()
	files, err := filepath.Glob(filepath.Join(corpusDir, "*.eml"))
	if err != nil || len(files) == 0 {
		t.Fatalf("no messages in %s (run go run ./testdata/mime/gen): %v", corpusDir, err)
	}
	return files
}

func TestInspectGolden(t *testing.T) {
	for _, file := range corpus(t) {
		name := strings.TrimSuffix(filepath.Base(file), ".eml")
		t.Run(name, func(t *testing.T) {
			data, err := os.ReadFile(file)
			if err != nil {
				t.Fatal(err)
			}
			res, err := Inspect(bytes.NewReader(data), DefaultLimits())
			if err != nil {
				t.Fatalf("Inspect: %v", err)
			}
			var buf bytes.Buffer
			enc := json.NewEncoder(&buf)
			enc.SetEscapeHTML(false)
			enc.SetIndent("", "  ")
			if err := enc.Encode(res); err != nil {
				t.Fatal(err)
			}
			got := buf.Bytes()
			golden := filepath.Join(corpusDir, name+".golden.json")
			if *update {
				if err := os.WriteFile(golden, got, 0o644); err != nil {
					t.Fatal(err)
				}
				return
			}
			want, err := os.ReadFile(golden)
			if err != nil {
				t.Fatalf("%v (run go test ./policy/mime -update)", err)
			}
			if !bytes.Equal(got, want) {
				t.Errorf("result differs from %s:\ngot:\n%s\nwant:\n%s", golden, got, want)
			}
		})
	}
}

// genReader yields a message with one base64 attachment of size decoded
// bytes, produced on the fly so that no buffer of that size exists.
type genReader struct {
	head, tail string
	left       int64 // base64 bytes still to produce
	state      int   // 0 head, 1 body, 2 tail, 3 done
	off        int
	line       []byte
}

func newGenReader(size int64, content string) *genReader {
	head := "Subject: big\r\nContent-Type: multipart/mixed; boundary=\"big\"\r\n\r\n--big\r\nContent-Type: text/plain\r\n\r\nbig one attached\r\n--big\r\n" +
		"Content-Type: application/octet-stream; name=\"big.bin\"\r\nContent-Transfer-Encoding: base64\r\n\r\n"
	// Each 76-character line of content decodes to 57 bytes.
	if len(content) != 76 {
		panic("content must be one 76-character base64 line")
	}
	return &genReader{head: head, tail: "\r\n--big--\r\n", left: size / 57 * 76, line: []byte(content + "\r\n")}
}

func (g *genReader) Read(p []byte) (int, error) {
	n := 0
	for n < len(p) {
		switch g.state {
		case 0:
			c := copy(p[n:], g.head[g.off:])
			n += c
			g.off += c
			if g.off == len(g.head) {
				g.state, g.off = 1, 0
			}
		case 1:
			if g.left <= 0 {
				g.state, g.off = 2, 0
				continue
			}
			c := copy(p[n:], g.line[g.off:])
			n += c
			g.off += c
			if g.off == len(g.line) {
				g.off = 0
				g.left -= 76
			}
		case 2:
			c := copy(p[n:], g.tail[g.off:])
			n += c
			g.off += c
			if g.off == len(g.tail) {
				g.state = 3
			}
		default:
			if n == 0 {
				return 0, io.EOF
			}
			return n, nil
		}
	}
	return n, nil
}

// aLine is 57 bytes of "AAAA…" content, base64 encoded.
var aLine = strings.Repeat("QUFB", 19)

func TestInspectLargeAttachment(t *testing.T) {
	const size = 4 << 20
	res, err := Inspect(newGenReader(size, aLine), DefaultLimits())
	if err != nil {
		t.Fatal(err)
	}
	if len(res.Attachments) != 1 {
		t.Fatalf("attachments = %+v", res.Attachments)
	}
	if a := res.Attachments[0]; a.Size != size/57*57 || a.Filename != "big.bin" || a.Ext != "bin" {
		t.Errorf("attachment = %+v", a)
	}
	if res.Text.Sample != "big one attached" || len(res.Uninspected) != 0 || len(res.Problems) != 0 {
		t.Errorf("result = %+v", res)
	}
}

// TestInspectMemoryBounded streams a 50 MB base64 attachment through Inspect
// while a goroutine samples the heap; the peak must stay far below the size.
func TestInspectMemoryBounded(t *testing.T) {
	if testing.Short() {
		t.Skip("streams 50 MB")
	}
	const size = 50 << 20
	const budget = 16 << 20
	runtime.GC()
	var base runtime.MemStats
	runtime.ReadMemStats(&base)

	var peak atomic.Uint64
	done := make(chan struct{})
	sampled := make(chan struct{})
	go func() {
		defer close(sampled)
		var m runtime.MemStats
		for {
			runtime.ReadMemStats(&m)
			if m.HeapInuse > peak.Load() {
				peak.Store(m.HeapInuse)
			}
			select {
			case <-done:
				return
			case <-time.After(2 * time.Millisecond):
			}
		}
	}()
	res, err := Inspect(newGenReader(size, aLine), DefaultLimits())
	close(done)
	<-sampled
	if err != nil {
		t.Fatal(err)
	}
	if len(res.Attachments) != 1 || res.Attachments[0].Size != size/57*57 {
		t.Fatalf("attachments = %+v", res.Attachments)
	}
	grew := int64(peak.Load()) - int64(base.HeapInuse)
	t.Logf("heap in use: base %d KiB, peak %d KiB, growth %d KiB", base.HeapInuse>>10, peak.Load()>>10, grew>>10)
	if grew > budget {
		t.Errorf("heap grew by %d bytes while inspecting a %d byte attachment, budget %d", grew, size, budget)
	}
}

// TestInspectBigZipSpools checks that a zip bigger than the in-memory spool
// goes through a temporary file that is removed afterwards.
func TestInspectBigZipSpools(t *testing.T) {
	dir := t.TempDir()
	big := bytes.Repeat([]byte("incompressible? no, but stored "), (5<<20)/31)
	z := storeZip(t, "big.txt", big)
	msg := "Subject: z\r\nContent-Type: application/zip; name=\"big.zip\"\r\n\r\n" + string(z)
	lim := DefaultLimits()
	lim.TempDir = dir
	res, err := Inspect(strings.NewReader(msg), lim)
	if err != nil {
		t.Fatal(err)
	}
	a := res.Attachments[0]
	if a.Archive == nil || a.Archive.Skipped != "" || len(a.Archive.Entries) != 1 || a.Archive.Entries[0].Size != int64(len(big)) {
		t.Fatalf("archive = %+v", a.Archive)
	}
	left, _ := os.ReadDir(dir)
	if len(left) != 0 {
		t.Errorf("temporary files left: %v", left)
	}

	lim.MaxArchiveBytes = 1 << 20
	res, err = Inspect(strings.NewReader(msg), lim)
	if err != nil {
		t.Fatal(err)
	}
	if a := res.Attachments[0]; a.Archive == nil || !strings.HasPrefix(a.Archive.Skipped, "too big") {
		t.Fatalf("archive = %+v", a.Archive)
	}
}

func TestInspectLimits(t *testing.T) {
	var parts strings.Builder
	parts.WriteString("Subject: many\nContent-Type: multipart/mixed; boundary=b\n\n")
	for i := 0; i < 20; i++ {
		parts.WriteString("--b\nContent-Type: text/plain\n\nx\n")
	}
	parts.WriteString("--b--\n")
	lim := DefaultLimits()
	lim.MaxParts = 5
	res, err := Inspect(strings.NewReader(parts.String()), lim)
	if err != nil {
		t.Fatal(err)
	}
	if g := gaps(res); g != "limit: part 5: part count exceeds 5" || res.Text.Parts != 4 {
		t.Errorf("gaps = %q, text parts = %d", g, res.Text.Parts)
	}

	long := "Subject: x\nX-Long: " + strings.Repeat("a", 300<<10) + "\n\nbody\n"
	res, err = Inspect(strings.NewReader(long), DefaultLimits())
	if err != nil {
		t.Fatal(err)
	}
	if g := gaps(res); g != "limit: header exceeds 262144 bytes" {
		t.Errorf("gaps = %q", g)
	}

	longPart := "Subject: x\nContent-Type: multipart/mixed; boundary=b\n\n--b\nX-Long: " + strings.Repeat("a ", 200<<10) + "\n\nbody\n--b--\n"
	res, err = Inspect(strings.NewReader(longPart), DefaultLimits())
	if err != nil {
		t.Fatal(err)
	}
	if g := gaps(res); g != "limit: part 1: header exceeds 262144 bytes" {
		t.Errorf("gaps = %q", g)
	}
}

func TestInspectArchiveEntryLimit(t *testing.T) {
	var b bytes.Buffer
	w := zip.NewWriter(&b)
	for i := 0; i < 30; i++ {
		fw, _ := w.Create(fmt.Sprintf("f%02d.txt", i))
		fw.Write([]byte("x"))
	}
	w.Close()
	msg := "Content-Type: multipart/mixed; boundary=b\r\n\r\n--b\r\nContent-Type: application/zip; name=a.zip\r\nContent-Transfer-Encoding: base64\r\n\r\n" +
		base64.StdEncoding.EncodeToString(b.Bytes()) + "\r\n--b\r\nContent-Type: application/octet-stream; name=after.exe\r\n\r\nMZ\r\n--b--\r\n"
	lim := DefaultLimits()
	lim.MaxArchiveEntries = 10
	res, err := Inspect(strings.NewReader(msg), lim)
	if err != nil {
		t.Fatal(err)
	}
	if g := gaps(res); g != `limit: part 1: attachment "a.zip": too many entries: 30, 10 left of 10` || len(res.Attachments) != 2 || !strings.HasPrefix(res.Attachments[0].Archive.Skipped, "too many entries") {
		t.Fatalf("result = %+v", res)
	}
	if a := res.Attachments[1]; a.Ext != "exe" || a.Executable != "pe" {
		t.Errorf("attachment after the archive = %+v", a)
	}
}

func TestDecodeHeaderLinear(t *testing.T) {
	s := strings.Repeat("=?a?B?xx", 40000) + " " + strings.Repeat("=?", 40000)
	start := time.Now()
	DecodeHeader(s)
	if d := time.Since(start); d > time.Second {
		t.Errorf("DecodeHeader of %d bytes took %v", len(s), d)
	}
}

// gaps joins a result's gaps for comparison.
func gaps(res *Result) string {
	var s []string
	for _, g := range res.Uninspected {
		s = append(s, g.String())
	}
	return strings.Join(s, "; ")
}

type failingReader struct{ r io.Reader }

var errBroken = errors.New("connection reset")

func (f failingReader) Read(p []byte) (int, error) {
	n, err := f.r.Read(p)
	if err == io.EOF {
		return n, errBroken
	}
	return n, err
}

func TestInspectIOError(t *testing.T) {
	for _, file := range corpus(t) {
		data, _ := os.ReadFile(file)
		_, err := Inspect(failingReader{bytes.NewReader(data)}, DefaultLimits())
		if !errors.Is(err, errBroken) && !strings.Contains(filepath.Base(file), "deep") {
			t.Errorf("%s: err = %v, want %v", filepath.Base(file), err, errBroken)
		}
	}
}

func TestDecodeHeader(t *testing.T) {
	b64 := func(charset, s string) string { return "=?" + charset + "?B?" + b64enc([]byte(s)) + "?=" }
	tests := []struct {
		name, raw, want string
	}{
		{"ascii", "Hello world", "Hello world"},
		{"B utf-8", "=?UTF-8?B?44GT44KT44Gr44Gh44Gv?=", "こんにちは"},
		{"Q utf-8", "=?utf-8?Q?caf=C3=A9_au_lait?=", "café au lait"},
		{"space between words dropped", "=?UTF-8?Q?a?= \r\n =?UTF-8?Q?b?=", "ab"},
		{"text around words kept", "Re: =?UTF-8?Q?caf=C3=A9?= now", "Re: café now"},
		{"iso-2022-jp whole words", b64("ISO-2022-JP", "\x1b$B$3$s\x1b(B") + " " + b64("ISO-2022-JP", "\x1b$B$K$A$O\x1b(B"), "こんにちは"},
		{"iso-2022-jp split run", b64("ISO-2022-JP", "\x1b$B$3$s") + "\r\n " + b64("iso-2022-jp", "$K$A$O\x1b(B"), "こんにちは"},
		{"utf-8 split character", b64("UTF-8", "\xe3\x81") + " " + b64("UTF-8", "\x93"), "こ"},
		{"shift_jis word", b64("Shift_JIS", "\x82\xb1\x82\xf1"), "こん"},
		{"cp932 alias", b64("CP932", "\x87\x40"), "①"},
		{"iso-2022-jp-2 alias", b64("ISO-2022-JP-2", "\x1b$B$3\x1b(B"), "こ"},
		{"language suffix", "=?UTF-8*ja?Q?=E3=81=82?=", "あ"},
		{"raw shift_jis", "\x8c\x8f\x96\xbc", "件名"},
		{"raw euc-jp", "\xb7\xef\xcc\xbe\xa4\xc7\xa4\xb9", "件名です"},
		{"raw utf-8", "件名", "件名"},
		{"raw iso-2022-jp", "\x1b$B7oL>\x1b(B", "件名"},
		{"unknown charset kept raw", "=?x-foo?B?SGVsbG8=?= there", "=?x-foo?B?SGVsbG8=?= there"},
		{"malformed word kept", "=?UTF-8?X?abc?= =?broken", "=?UTF-8?X?abc?= =?broken"},
		{"unpadded base64", "=?UTF-8?B?44GC?=", "あ"},
		{"invalid utf-8 repaired", "=?UTF-8?Q?=FF?=", "\uFFFD"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			if got := DecodeHeader(tt.raw); got != tt.want {
				t.Errorf("DecodeHeader(%q) = %q, want %q", tt.raw, got, tt.want)
			}
		})
	}
}

func TestExt(t *testing.T) {
	tests := []struct{ name, want string }{
		{"report.pdf", "pdf"},
		{"REPORT.PDF", "pdf"},
		{"invoice.pdf.exe", "exe"},
		{"archive.tar.gz", "gz"},
		{"evil.exe.", "exe"},
		{"evil.exe . .", "exe"},
		{"evil.exe\u3000", "exe"},
		{"evil.exe\u3000.\u3000", "exe"},
		{"invoice_\u202Efdp.exe", "exe"},
		{"\u202Eexe.pdf", "pdf"},
		{"photo\u200b.ex\u200be", "exe"},
		{"a.e\x00xe", "exe"},
		{"\ufeffsetup.msi", "msi"},
		{"C:\\Users\\x\\evil.scr", "scr"},
		{"../../etc/evil.sh", "sh"},
		{"dir/", ""},
		{".bashrc", ""},
		{"..exe", "exe"},
		{"README", ""},
		{"", ""},
		{"請求書．ｅｘｅ", "exe"},
		{"請求書.exe", "exe"},
		{"file.", ""},
		{"...", ""},
	}
	for _, tt := range tests {
		if got := Ext(tt.name); got != tt.want {
			t.Errorf("Ext(%q) = %q, want %q", tt.name, got, tt.want)
		}
	}
}

func TestIsBlankIsASCII(t *testing.T) {
	blank := []string{"", " ", "\t\r\n", "\u3000\u3000", "\u00a0", "\u200b\ufeff", "\u3164", " \u2028 "}
	for _, s := range blank {
		if !IsBlank(s) {
			t.Errorf("IsBlank(%q) = false", s)
		}
	}
	for _, s := range []string{"a", "\u3000あ", ".", "\uFFFD"} {
		if IsBlank(s) {
			t.Errorf("IsBlank(%q) = true", s)
		}
	}
	for _, s := range []string{"", "abc", "\x00\x7f", "Hello\u200b", "\ufe0fOK", "\u3000"} {
		if !IsASCII(s) {
			t.Errorf("IsASCII(%q) = false", s)
		}
	}
	for _, s := range []string{"é", "\u3000あ", "\x80"} {
		if IsASCII(s) {
			t.Errorf("IsASCII(%q) = true", s)
		}
	}
}

func TestSniffExec(t *testing.T) {
	tests := []struct {
		b    string
		want string
	}{
		{"MZ", "pe"},
		{"MZ\x90\x00", "pe"},
		{"\x7fELF\x02", "elf"},
		{"\xfe\xed\xfa\xce", "macho"},
		{"\xcf\xfa\xed\xfe", "macho"},
		{"\xca\xfe\xba\xbe\x00\x00\x00\x02", "macho-fat"},
		{"\xca\xfe\xba\xbe\x00\x00\x00\x34", ""},
		{"\xca\xfe\xba\xbe", ""},
		{"%PDF", ""},
		{"M", ""},
	}
	for _, tt := range tests {
		if got := sniffExec([]byte(tt.b)); got != tt.want {
			t.Errorf("sniffExec(%q) = %q, want %q", tt.b, got, tt.want)
		}
	}
}

func TestHTMLText(t *testing.T) {
	tests := []struct{ in, want string }{
		{"<p>a &amp; b</p>", "\na & b\n"},
		{"<script>x<y</script>z", "z"},
		{"<STYLE>p{}</Style >z", "z"},
		{"a<!-- <p>x</p> -->b", "ab"},
		{"1 < 2 &unknown; &#65", "1 < 2 &unknown; A"},
		{"<a title='>'>t</a>", "t"},
		{"tail <", "tail <"},
	}
	for _, tt := range tests {
		var b strings.Builder
		h := &htmlText{emit: func(r rune) { b.WriteRune(r) }}
		for _, r := range tt.in {
			h.feed(r)
		}
		h.flush()
		if b.String() != tt.want {
			t.Errorf("html text of %q = %q, want %q", tt.in, b.String(), tt.want)
		}
	}
}

func FuzzInspect(f *testing.F) {
	for _, file := range corpus(f) {
		data, err := os.ReadFile(file)
		if err != nil {
			f.Fatal(err)
		}
		f.Add(data)
	}
	f.Fuzz(func(t *testing.T, data []byte) {
		lim := DefaultLimits()
		lim.TempDir = t.TempDir()
		res, err := Inspect(bytes.NewReader(data), lim)
		if err != nil {
			t.Fatalf("Inspect returned %v on an in-memory reader", err)
		}
		if _, err := json.Marshal(res); err != nil {
			t.Fatal(err)
		}
	})
}

func FuzzDecodeHeader(f *testing.F) {
	for _, s := range []string{
		"=?ISO-2022-JP?B?GyRCJEgkRiRiGyhC?=", "=?UTF-8?Q?a_b?= =?UTF-8?Q?c?=", "\x8c\x8f\x96\xbc",
		"\x1b$B7oL>\x1b(B", "=?x?B?=?= =?", "=?utf-8?b?\xff?=",
	} {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, s string) {
		out := DecodeHeader(s)
		if !strings.Contains(s, "=?") && !needsGuess(s) && out != Unfold(s) {
			t.Errorf("plain header changed: %q -> %q", s, out)
		}
		if !isValidUTF8(out) {
			t.Errorf("DecodeHeader(%q) = %q, not valid UTF-8", s, out)
		}
		Ext(out)
	})
}

func BenchmarkInspectLargeBase64(b *testing.B) {
	const size = 20 << 20
	var msg bytes.Buffer
	io.Copy(&msg, newGenReader(size, aLine))
	data := msg.Bytes()
	b.SetBytes(int64(len(data)))
	b.ReportAllocs()
	for b.Loop() {
		if _, err := Inspect(bytes.NewReader(data), DefaultLimits()); err != nil {
			b.Fatal(err)
		}
	}
}

func BenchmarkInspectJapaneseCorpus(b *testing.B) {
	var msgs [][]byte
	var total int64
	for _, name := range []string{"iso2022jp", "iso2022jp-split-word", "sjis-base64", "eucjp-qp", "html-utf8-entities",
		"unlabelled-iso2022jp", "exe-unquoted-encoded-word", "rfc2231-sjis-continuations", "raw-sjis-filename", "zip-with-exe"} {
		data, err := os.ReadFile(filepath.Join(corpusDir, name+".eml"))
		if err != nil {
			b.Fatal(err)
		}
		msgs = append(msgs, data)
		total += int64(len(data))
	}
	b.SetBytes(total)
	b.ReportAllocs()
	for b.Loop() {
		for _, m := range msgs {
			if _, err := Inspect(bytes.NewReader(m), DefaultLimits()); err != nil {
				b.Fatal(err)
			}
		}
	}
}

// BenchmarkInspectEncoding inspects a message of about 100 KB in each
// transfer encoding and shape the inspection decodes; the throughput is
// of the message's bytes.
func BenchmarkInspectEncoding(b *testing.B) {
	jis, _ := japanese.ISO2022JP.NewEncoder().String(strings.Repeat("いつもお世話になっております。資料をお送りします。\n", 2000))
	sjis, _ := japanese.ShiftJIS.NewEncoder().String(strings.Repeat("いつもお世話になっております。資料をお送りします。\n", 2000))
	utf := strings.Repeat("いつもお世話になっております。資料をお送りします。\n", 1500)
	var qp bytes.Buffer
	w := quotedprintable.NewWriter(&qp)
	w.Write([]byte(utf))
	w.Close()
	lines := func(s string) string {
		var out strings.Builder
		for len(s) > 76 {
			out.WriteString(s[:76] + "\r\n")
			s = s[76:]
		}
		return out.String() + s + "\r\n"
	}
	single := func(ctype, cte, body string) []byte {
		return []byte("Subject: =?UTF-8?B?6LOH5paZ?=\r\nMIME-Version: 1.0\r\nContent-Type: " + ctype + "\r\nContent-Transfer-Encoding: " + cte + "\r\n\r\n" + body)
	}
	msg, _ := base64Attachment(75000)
	zip := storeZip(b, "data.bin", bytes.Repeat([]byte("0123456789abcdef"), 5000))
	cases := []struct {
		name string
		msg  []byte
	}{
		{"base64-attachment", msg},
		{"base64-zip", []byte("Subject: z\r\nContent-Type: application/zip; name=a.zip\r\nContent-Transfer-Encoding: base64\r\n\r\n" + lines(base64.StdEncoding.EncodeToString(zip)))},
		{"7bit-iso2022jp", single("text/plain; charset=ISO-2022-JP", "7bit", jis)},
		{"base64-shift_jis", single("text/plain; charset=Shift_JIS", "base64", lines(base64.StdEncoding.EncodeToString([]byte(sjis))))},
		{"qp-utf8", single("text/plain; charset=UTF-8", "quoted-printable", qp.String())},
		{"html-utf8", single("text/html; charset=UTF-8", "8bit", "<html><body><p>"+strings.ReplaceAll(utf, "\n", "</p><p>")+"</p></body></html>")},
	}
	for _, c := range cases {
		b.Run(c.name, func(b *testing.B) {
			b.SetBytes(int64(len(c.msg)))
			b.ReportAllocs()
			for b.Loop() {
				if _, err := Inspect(bytes.NewReader(c.msg), DefaultLimits()); err != nil {
					b.Fatal(err)
				}
			}
		})
	}
}
