package mime

import (
	"bytes"
	"encoding/base64"
	"io"
	"math/rand/v2"
	"strings"
	"testing"
)

// referenceBase64 is Thunderbird's decoding spelled out (mimeenc.cpp):
// keep the alphabet and '=', read four at a time, '=' is zero bits and a
// group with one '=' yields two bytes, with more one byte; a final group
// of two or three characters yields one or two bytes.
func referenceBase64(in []byte) []byte {
	const alphabet = "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/"
	var out, tok []byte
	eq := 0
	decode := func(k int) {
		num := 0
		for i := range 4 {
			v := 0
			if i < len(tok) && tok[i] != '=' {
				v = strings.IndexByte(alphabet, tok[i])
			}
			num = num<<6 | v
		}
		out = append(out, []byte{byte(num >> 16), byte(num >> 8), byte(num)}[:k]...)
		tok, eq = tok[:0], 0
	}
	for _, c := range in {
		if c != '=' && strings.IndexByte(alphabet, c) < 0 {
			continue
		}
		if tok = append(tok, c); c == '=' {
			eq++
		}
		if len(tok) == 4 {
			decode([]int{3, 2, 1, 1, 1}[eq])
		}
	}
	if a := len(tok) - eq; a >= 2 {
		decode(a - 1)
	}
	return out
}

// checkBase64 decodes in with both decoders under every chunking and
// compares them with the reference: base64Reader yields all of it, and
// decodeBase64 gives the size and, to a sink that keeps everything, the
// bytes.
func checkBase64(t *testing.T, in []byte) {
	t.Helper()
	want := referenceBase64(in)
	for name, wrap := range readers {
		got, err := io.ReadAll(&base64Reader{r: wrap(bytes.NewReader(in))})
		if err != nil || !bytes.Equal(got, want) {
			t.Fatalf("%s: base64Reader = %d bytes, %v; want %d bytes", name, len(got), err, len(want))
		}
		sp := &spool{max: 1 << 30}
		k := &sink{claims: FormatZip, newSpool: func() *spool { return sp }}
		size, err := decodeBase64(wrap(bytes.NewReader(in)), k, nil)
		if err != nil || size != int64(len(want)) {
			t.Fatalf("%s: decodeBase64 size %d, %v; want %d", name, size, err, len(want))
		}
		got = make([]byte, sp.size())
		if _, err := sp.readerAt().ReadAt(got, 0); err != nil && err != io.EOF {
			t.Fatal(err)
		}
		if len(want) >= 4 && !bytes.Equal(got, want) {
			t.Fatalf("%s: decodeBase64 wrote %d bytes that differ from the %d wanted", name, len(got), len(want))
		}
		sp.release()
		var scanned bytes.Buffer
		sc := &sink{newSpool: func() *spool { return nil }}
		if size, err := decodeBase64(wrap(bytes.NewReader(in)), sc, &scanned); err != nil || size != int64(len(want)) || !bytes.Equal(scanned.Bytes(), want) {
			t.Fatalf("%s: decodeBase64 to a scanner: size %d, %v, %d bytes scanned, want %d", name, size, err, scanned.Len(), len(want))
		}
		head := &sink{newSpool: func() *spool { return nil }}
		if size, _ := decodeBase64(wrap(bytes.NewReader(in)), head, nil); size != int64(len(want)) ||
			!bytes.Equal(head.head, want[:min(len(want), headSize)]) {
			t.Fatalf("%s: counting decodeBase64: size %d, head of %d bytes", name, size, len(head.head))
		}
	}
}

func TestBase64Lenient(t *testing.T) {
	r := rand.New(rand.NewPCG(3, 4))
	data := make([]byte, 100000)
	for i := range data {
		data[i] = byte(r.Uint32())
	}
	enc := base64.StdEncoding.EncodeToString(data)
	var lines strings.Builder
	for s := enc; len(s) > 0; {
		n := min(76, len(s))
		lines.WriteString(s[:n] + "\r\n")
		s = s[n:]
	}
	for _, in := range []string{
		"", "QQ", "QUE", "QUFB", "QUFBQQ==", "Q", "QUFBQ", "QU\r\nFB\r\n", " Q U F B ", "QU!F*B", "QUFB====QUFB",
		// Padding inside the text ends only its own group.
		"QQ==QkM=", "TQ==" + enc, "QUE=\r\n" + lines.String(), "Q=Q=QUFB", "=QUFB", "QU=", "T=Q", strings.Repeat("QQ==", 3000),
		"QUFB" + strings.Repeat("x", 70000) + "QQ==" + enc,
		enc, lines.String(), strings.ReplaceAll(lines.String(), "\r\n", "\n"), lines.String()[:len(lines.String())-5],
	} {
		checkBase64(t, []byte(in))
	}
}

// TestBase64PaddingInside decodes a PE whose first group is padded, as
// Thunderbird shows it: the exact PE.
func TestBase64PaddingInside(t *testing.T) {
	pe := append([]byte("MZ"), evilPE[2:]...)
	text := "TQ==" + b64enc(pe[1:])
	got, err := io.ReadAll(&base64Reader{r: strings.NewReader(text)})
	if err != nil || !bytes.Equal(got, pe) {
		t.Fatalf("base64Reader = % x…, %v; want the PE", got[:min(8, len(got))], err)
	}
	k := &sink{newSpool: func() *spool { return nil }}
	if _, err := decodeBase64(strings.NewReader(text), k, nil); err != nil || sniffExec(k.head) != "pe" {
		t.Fatalf("decodeBase64 head % x…, %v: not a PE", k.head[:min(8, len(k.head))], err)
	}
}

// FuzzBase64 checks both decoders against referenceBase64.
func FuzzBase64(f *testing.F) {
	f.Add([]byte("QUFB\r\nQUFBQQ==\r\n"))
	f.Add([]byte("Q*U=F B\n-"))
	f.Add([]byte("TQ==TVqQAAMAAAAEAAAA"))
	f.Fuzz(func(t *testing.T, in []byte) { checkBase64(t, in) })
}

// base64Attachment is a message with one base64 attachment of size
// decoded bytes, and those bytes encoded alone.
func base64Attachment(size int) (msg, encoded []byte) {
	r := rand.New(rand.NewPCG(5, 6))
	data := make([]byte, size)
	for i := range data {
		data[i] = byte(r.Uint32())
	}
	copy(data, "%PDF-1.7\n")
	enc := base64.StdEncoding.EncodeToString(data)
	var b bytes.Buffer
	b.WriteString("Subject: x\r\nContent-Type: multipart/mixed; boundary=b\r\n\r\n--b\r\nContent-Type: text/plain; charset=ISO-2022-JP\r\n\r\n\x1b$B$3$s\x1b(B\r\n--b\r\n")
	b.WriteString("Content-Type: application/pdf; name=a.pdf\r\nContent-Transfer-Encoding: base64\r\n\r\n")
	start := b.Len()
	for s := enc; len(s) > 0; {
		n := min(76, len(s))
		b.WriteString(s[:n] + "\r\n")
		s = s[n:]
	}
	encoded = bytes.Clone(b.Bytes()[start:])
	b.WriteString("--b--\r\n")
	return b.Bytes(), encoded
}

// BenchmarkBase64Attachment compares inspecting a message with a 1 MiB
// base64 attachment ("inspect") with decoding the attachment's base64 text
// alone with one base64.StdEncoding.Decode call ("decode"): the
// inspection's cost over the bare decoding is the ratio of the two.
func BenchmarkBase64Attachment(b *testing.B) {
	msg, enc := base64Attachment(1 << 20)
	b.Run("inspect", func(b *testing.B) {
		b.SetBytes(int64(len(enc)))
		b.ReportAllocs()
		for b.Loop() {
			res, err := Inspect(bytes.NewReader(msg), DefaultLimits())
			if err != nil || len(res.Attachments) != 1 || res.Attachments[0].Size != 1<<20 {
				b.Fatalf("%v %+v", err, res)
			}
		}
	})
	// Decoded whole for a scanner, as the virus rule's parts mode wants it.
	b.Run("inspect-scanned", func(b *testing.B) {
		b.SetBytes(int64(len(enc)))
		b.ReportAllocs()
		var sc countingScanner
		for b.Loop() {
			sc.n = 0
			res, err := InspectWithParts(bytes.NewReader(msg), DefaultLimits(), &sc)
			if err != nil || len(res.Attachments) != 1 || sc.n != 1<<20 {
				b.Fatalf("%v %+v, %d bytes scanned", err, res, sc.n)
			}
		}
	})
	b.Run("decode", func(b *testing.B) {
		b.SetBytes(int64(len(enc)))
		dst := make([]byte, base64.StdEncoding.DecodedLen(len(enc)))
		for b.Loop() {
			if _, err := base64.StdEncoding.Decode(dst, enc); err != nil {
				b.Fatal(err)
			}
		}
	})
}

// TestSpoolBlocks writes in uneven pieces across block boundaries, in
// memory and then past memSpool in a file, and reads back at every kind of
// offset.
func TestSpoolBlocks(t *testing.T) {
	r := rand.New(rand.NewPCG(7, 8))
	for _, size := range []int{1, spoolBlock - 1, spoolBlock, 3*spoolBlock + 17, memSpool + 5000} {
		data := make([]byte, size)
		for i := range data {
			data[i] = byte(r.Uint32())
		}
		sp := &spool{dir: t.TempDir(), max: 1 << 30}
		for rest := data; len(rest) > 0; {
			n := min(len(rest), 1+r.IntN(3*spoolBlock))
			sp.Write(rest[:n])
			rest = rest[n:]
		}
		if sp.err != nil || (sp.file != nil) != (size > memSpool) {
			t.Fatalf("size %d: err %v, in a file: %v", size, sp.err, sp.file != nil)
		}
		ra := sp.readerAt()
		for range 200 {
			off := r.IntN(size)
			n := r.IntN(2 * spoolBlock)
			got := make([]byte, n)
			m, err := ra.ReadAt(got, int64(off))
			want := data[off:min(size, off+n)]
			if m != len(want) || !bytes.Equal(got[:m], want) || (m < n) != (err == io.EOF) {
				t.Fatalf("size %d: ReadAt(%d, %d) = %d, %v", size, n, off, m, err)
			}
		}
		sp.release()
	}
}

// TestEncodedSpool reads an encoded spool, in memory and in a file, at
// random offsets: what comes back is the decoded data.
func TestEncodedSpool(t *testing.T) {
	r := rand.New(rand.NewPCG(9, 10))
	for _, size := range []int{1, 2, 3, 4, 100, 3*spoolBlock + 1, memSpool} {
		data := make([]byte, size)
		for i := range data {
			data[i] = byte(r.Uint32())
		}
		chars := []byte(base64.RawStdEncoding.EncodeToString(data))
		sp := &spool{dir: t.TempDir(), max: 1 << 30, encoded: true}
		for rest := chars; len(rest) > 0; {
			n := min(len(rest), 1+r.IntN(2*spoolBlock))
			sp.Write(rest[:n])
			rest = rest[n:]
		}
		if sp.size() != int64(size) {
			t.Fatalf("size %d: spool says %d", size, sp.size())
		}
		ra := sp.readerAt()
		for range 300 {
			off := r.IntN(size)
			n := r.IntN(9000)
			got := make([]byte, n)
			m, err := ra.ReadAt(got, int64(off))
			want := data[off:min(size, off+n)]
			if m != len(want) || !bytes.Equal(got[:m], want) || (m < n) != (err == io.EOF) {
				t.Fatalf("size %d: ReadAt(%d bytes, %d) = %d, %v", size, n, off, m, err)
			}
		}
		sp.release()
	}
}

// TestB64Count checks the count of alphabet characters, and the
// compaction, against the byte table: every byte value in every position of
// a 32-byte block and of the tail after it, and random text with the line
// breaks, padding and garbage mail carries. Where the processor counts 32
// bytes at a time, the table alone is checked as well.
func TestB64Count(t *testing.T) {
	want := func(b []byte) []byte {
		var out []byte
		for _, c := range b {
			if b64alpha[c] == 1 {
				out = append(out, c)
			}
		}
		return out
	}
	check := func(in []byte) {
		t.Helper()
		w := want(in)
		if n := b64count(in); n != len(w) {
			t.Fatalf("b64count(%q) = %d, want %d", in, n, len(w))
		}
		c := make([]byte, len(in))
		if n := b64compact(c, in); n != len(w) || !bytes.Equal(c[:n], w) {
			t.Fatalf("b64compact(%q) = %q, want %q", in, c[:n], w)
		}
	}
	run := func(t *testing.T) {
		for v := 0; v < 256; v++ {
			for pos := 0; pos < 41; pos++ {
				in := []byte("QUFBQUFBQUFBQUFBQUFBQUFBQUFBQUFBQUFBQUFBQ")
				in[pos] = byte(v)
				check(in)
			}
		}
		r := rand.New(rand.NewPCG(11, 12))
		const noise = "\r\n= \t!-.,:@[`{~\x00\x7f\x80\xff"
		for k := range 3000 {
			in := make([]byte, r.IntN(600))
			odds := []int{8, 2, 1}[k%3] // one in odds bytes is not a character, or half, or most
			for i := range in {
				switch r.IntN(odds + 1) {
				case 0:
					in[i] = noise[r.IntN(len(noise))]
				case 1:
					in[i] = byte(r.Uint32())
				default:
					in[i] = "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/"[r.IntN(64)]
				}
			}
			check(in)
		}
	}
	t.Logf("32 bytes at a time: %v", b64fast)
	run(t)
	if b64fast {
		b64fast = false
		defer func() { b64fast = true }()
		t.Run("table", run)
	}
}

// BenchmarkB64Count reports the counting of base64 lines, the work done on
// what no rule decodes.
func BenchmarkB64Count(b *testing.B) {
	_, enc := base64Attachment(1 << 20)
	b.SetBytes(int64(len(enc)))
	for b.Loop() {
		if b64count(enc) == 0 {
			b.Fatal("no characters")
		}
	}
}

// BenchmarkB64Compact reports the compaction of base64 lines ahead of
// decoding them.
func BenchmarkB64Compact(b *testing.B) {
	_, enc := base64Attachment(1 << 20)
	buf := make([]byte, len(enc))
	b.SetBytes(int64(len(enc)))
	for b.Loop() {
		b64compact(buf, enc)
	}
}

// countingScanner counts the bytes of the attachments handed to it.
type countingScanner struct{ n int64 }

func (c *countingScanner) Part(p PartInfo) io.WriteCloser {
	if !p.Attachment {
		return nil
	}
	return c
}
func (c *countingScanner) Write(p []byte) (int, error) { c.n += int64(len(p)); return len(p), nil }
func (c *countingScanner) Close() error                { return nil }
