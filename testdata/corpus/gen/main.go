// Command gen writes a deterministic mixed corpus of inbound mail for load
// tests and benchmarks: Japanese business mail (ISO-2022-JP, Shift_JIS and
// UTF-8; 7bit, base64 and quoted-printable), English mail (plain and HTML),
// and mail with attachments from 10 KB to 4 MB (PDF, images, Office files,
// zip archives), about 330 KB a message on average. Every message is
// accepted by the built-in configuration: its subject and body are
// Japanese, and no attachment is refused. The same -seed gives the same
// files.
//
//	go run ./testdata/corpus/gen -dir /tmp/corpus -n 200
package main

import (
	"archive/zip"
	"bytes"
	"encoding/base64"
	"flag"
	"fmt"
	"log"
	"math"
	"math/rand/v2"
	"mime"
	"mime/quotedprintable"
	"os"
	"path/filepath"
	"strings"

	"golang.org/x/text/encoding"
	"golang.org/x/text/encoding/japanese"
)

func main() {
	dir := flag.String("dir", "", "output directory (created)")
	n := flag.Int("n", 200, "number of messages")
	seed := flag.Uint64("seed", 1, "random seed")
	flag.Parse()
	if *dir == "" {
		log.Fatal("-dir is required")
	}
	if err := os.MkdirAll(*dir, 0o755); err != nil {
		log.Fatal(err)
	}
	g := &gen{r: rand.New(rand.NewPCG(*seed, 0x5e4151d0))}
	var total int64
	for i := range *n {
		msg := g.message(i)
		total += int64(len(msg))
		if err := os.WriteFile(filepath.Join(*dir, fmt.Sprintf("%04d.eml", i)), msg, 0o644); err != nil {
			log.Fatal(err)
		}
	}
	fmt.Printf("%d messages, %d bytes, %d bytes on average\n", *n, total, total/int64(*n))
}

type gen struct {
	r     *rand.Rand
	sizes int // attachment sizes drawn so far
}

var subjects = []string{
	"お打ち合わせ日程のご確認", "見積書送付のご案内", "請求書の件", "資料をお送りします",
	"会議議事録", "来週のご訪問について", "契約書のご確認のお願い", "出張報告",
}

var paragraphs = []string{
	"いつもお世話になっております。",
	"来週のお打ち合わせですが、火曜日の午後三時からでいかがでしょうか。",
	"資料は前日までにお送りいたします。ご確認のほどよろしくお願いいたします。",
	"先日はお忙しいところお時間をいただき、誠にありがとうございました。",
	"添付のファイルをご確認いただけますと幸いです。",
	"ご不明な点がございましたら、お気軽にお問い合わせください。",
	"引き続きどうぞよろしくお願い申し上げます。",
}

var english = []string{
	"Thank you for your message.", "Please find the details below.",
	"We look forward to working with you.", "Let me know if you have any questions.",
}

// message builds message i. The mix: 42% Japanese text only, 20% English
// text and HTML with a Japanese line (so that it is not ASCII-only), 38%
// with one or two attachments whose sizes are log-uniform in 10 KB–4 MB.
func (g *gen) message(i int) []byte {
	var b bytes.Buffer
	from := fmt.Sprintf("sender%d@example.net", i%37)
	fmt.Fprintf(&b, "Return-Path: <%s>\r\n", from)
	fmt.Fprintf(&b, "From: %s <%s>\r\n", mime.BEncoding.Encode("UTF-8", "送信者"), from)
	fmt.Fprintf(&b, "To: user%d@example.co.jp\r\n", i%11)
	fmt.Fprintf(&b, "Subject: %s\r\n", mime.BEncoding.Encode("ISO-2022-JP", jis(subjects[i%len(subjects)])))
	fmt.Fprintf(&b, "Date: Mon, 30 Nov 2026 10:%02d:00 +0900\r\n", i%60)
	fmt.Fprintf(&b, "Message-ID: <corpus.%d@example.net>\r\nMIME-Version: 1.0\r\n", i)
	// Each run of 100 messages has the mix exactly.
	switch p := (i*61 + 17) % 100; {
	case p < 42:
		g.japaneseBody(&b)
	case p < 62:
		g.englishBody(&b)
	default:
		g.withAttachments(&b, i)
	}
	return b.Bytes()
}

func (g *gen) text(lines int) string {
	var s strings.Builder
	s.WriteString("山田様\r\n\r\n")
	for range lines {
		s.WriteString(paragraphs[g.r.IntN(len(paragraphs))] + "\r\n")
	}
	s.WriteString("\r\n鈴木\r\n")
	return s.String()
}

// japaneseBody is a text/plain body in one of the encodings Japanese
// mailers use.
func (g *gen) japaneseBody(b *bytes.Buffer) {
	t := g.text(10 + g.r.IntN(60))
	switch g.r.IntN(4) {
	case 0, 1:
		b.WriteString("Content-Type: text/plain; charset=ISO-2022-JP\r\nContent-Transfer-Encoding: 7bit\r\n\r\n")
		b.WriteString(jis(t))
	case 2:
		b.WriteString("Content-Type: text/plain; charset=Shift_JIS\r\nContent-Transfer-Encoding: base64\r\n\r\n")
		b.WriteString(b64(enc(japanese.ShiftJIS, t)))
	default:
		b.WriteString("Content-Type: text/plain; charset=UTF-8\r\nContent-Transfer-Encoding: quoted-printable\r\n\r\n")
		b.WriteString(qp(t))
	}
}

// englishBody is multipart/alternative text and HTML.
func (g *gen) englishBody(b *bytes.Buffer) {
	const bd = "=_alt_boundary"
	var t strings.Builder
	for range 5 + g.r.IntN(30) {
		t.WriteString(english[g.r.IntN(len(english))] + "\r\n")
	}
	t.WriteString("日本語版は添付をご覧ください。\r\n")
	b.WriteString("Content-Type: multipart/alternative; boundary=\"" + bd + "\"\r\n\r\n")
	b.WriteString("--" + bd + "\r\nContent-Type: text/plain; charset=UTF-8\r\nContent-Transfer-Encoding: 8bit\r\n\r\n")
	b.WriteString(t.String())
	b.WriteString("\r\n--" + bd + "\r\nContent-Type: text/html; charset=UTF-8\r\nContent-Transfer-Encoding: quoted-printable\r\n\r\n")
	html := "<html><body><p>" + strings.ReplaceAll(t.String(), "\r\n", "</p>\r\n<p>") + "</p></body></html>\r\n"
	b.WriteString(qp(html))
	b.WriteString("\r\n--" + bd + "--\r\n")
}

// withAttachments is a Japanese text part and one or two attachments.
func (g *gen) withAttachments(b *bytes.Buffer, i int) {
	bd := fmt.Sprintf("=_mixed_%d", i)
	b.WriteString("Content-Type: multipart/mixed; boundary=\"" + bd + "\"\r\n\r\n")
	b.WriteString("--" + bd + "\r\nContent-Type: text/plain; charset=ISO-2022-JP\r\nContent-Transfer-Encoding: 7bit\r\n\r\n")
	b.WriteString(jis(g.text(5 + g.r.IntN(10))))
	n := 1 + i%2
	for k := range n {
		size := g.size()
		if n == 2 {
			size /= 2
		}
		name, ctype, data := g.attachment(k, size)
		b.WriteString("\r\n--" + bd + "\r\n")
		fmt.Fprintf(b, "Content-Type: %s; name=\"%s\"\r\n", ctype, mime.BEncoding.Encode("UTF-8", name))
		fmt.Fprintf(b, "Content-Disposition: attachment; filename=\"%s\"\r\n", mime.BEncoding.Encode("UTF-8", name))
		b.WriteString("Content-Transfer-Encoding: base64\r\n\r\n")
		b.WriteString(b64(data))
	}
	b.WriteString("\r\n--" + bd + "--\r\n")
}

// size is log-uniform in 10 KB–4 MB, drawn from a low-discrepancy
// sequence so that even a small corpus has the distribution's mean.
func (g *gen) size() int {
	g.sizes++
	u := math.Mod(float64(g.sizes)*0.6180339887498949, 1)
	lo, hi := math.Log(10e3), math.Log(4e6)
	return int(math.Exp(lo + u*(hi-lo)))
}

// attachment makes a file of about size bytes of a kind seen in business
// mail: its leading bytes are those of the format, the rest is noise
// (which compresses as badly as real PDF or JPEG data does).
func (g *gen) attachment(k, size int) (name, ctype string, data []byte) {
	noise := func(n int, head string) []byte {
		d := make([]byte, n)
		for i := 0; i+8 <= n; i += 8 {
			v := g.r.Uint64()
			for j := range 8 {
				d[i+j] = byte(v >> (8 * j))
			}
		}
		copy(d, head)
		return d
	}
	switch g.r.IntN(6) {
	case 0, 1:
		return fmt.Sprintf("資料%d.pdf", k+1), "application/pdf", noise(size, "%PDF-1.7\n%\xe2\xe3\xcf\xd3\n")
	case 2:
		return fmt.Sprintf("写真%d.jpg", k+1), "image/jpeg", noise(size, "\xff\xd8\xff\xe0\x00\x10JFIF\x00")
	case 3:
		return fmt.Sprintf("図%d.png", k+1), "image/png", noise(size, "\x89PNG\r\n\x1a\n")
	case 4:
		return fmt.Sprintf("見積書%d.xlsx", k+1), "application/vnd.openxmlformats-officedocument.spreadsheetml.sheet",
			zipOf(map[string][]byte{"[Content_Types].xml": []byte("<Types/>"), "xl/workbook.xml": []byte("<workbook/>"),
				"xl/media/image1.png": noise(size, "\x89PNG\r\n\x1a\n")})
	default:
		return fmt.Sprintf("一式%d.zip", k+1), "application/zip",
			zipOf(map[string][]byte{"readme.txt": []byte("資料一式です。\r\n"), "data/report.pdf": noise(size, "%PDF-1.7\n")})
	}
}

// zipOf makes a zip archive, each entry stored.
func zipOf(files map[string][]byte) []byte {
	var b bytes.Buffer
	w := zip.NewWriter(&b)
	for _, name := range []string{"[Content_Types].xml", "xl/workbook.xml", "readme.txt", "xl/media/image1.png", "data/report.pdf"} {
		data, ok := files[name]
		if !ok {
			continue
		}
		fw, err := w.CreateHeader(&zip.FileHeader{Name: name, Method: zip.Store})
		if err != nil {
			log.Fatal(err)
		}
		fw.Write(data)
	}
	if err := w.Close(); err != nil {
		log.Fatal(err)
	}
	return b.Bytes()
}

func enc(e encoding.Encoding, s string) []byte {
	b, err := e.NewEncoder().Bytes([]byte(s))
	if err != nil {
		log.Fatalf("encoding %q: %v", s, err)
	}
	return b
}

func jis(s string) string { return string(enc(japanese.ISO2022JP, s)) }

// b64 encodes data in lines of 76 characters.
func b64(data []byte) string {
	s := base64.StdEncoding.EncodeToString(data)
	var b strings.Builder
	b.Grow(len(s) + len(s)/76*2 + 2)
	for len(s) > 76 {
		b.WriteString(s[:76] + "\r\n")
		s = s[76:]
	}
	b.WriteString(s + "\r\n")
	return b.String()
}

func qp(s string) string {
	var b bytes.Buffer
	w := quotedprintable.NewWriter(&b)
	w.Write([]byte(s))
	w.Close()
	return b.String()
}
