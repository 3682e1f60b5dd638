// Command gen writes the crafted messages of testdata/mime used by the tests
// of package policy/mime. Its output is reproducible: fixed boundaries, no
// dates, deterministic content. Run it from the module root:
//
//	go run ./testdata/mime/gen
package main

import (
	"archive/tar"
	"archive/zip"
	"bytes"
	"compress/gzip"
	"encoding/base64"
	"encoding/binary"
	"flag"
	"fmt"
	"hash/crc32"
	"log"
	"mime/quotedprintable"
	"os"
	"path/filepath"
	"strings"

	"golang.org/x/text/encoding"
	"golang.org/x/text/encoding/japanese"
)

func main() {
	dir := flag.String("dir", "testdata/mime", "output directory")
	flag.Parse()
	for _, m := range messages() {
		data := m.body
		if m.crlf {
			data = strings.ReplaceAll(data, "\n", "\r\n")
		}
		name := filepath.Join(*dir, m.name+".eml")
		if err := os.WriteFile(name, []byte(data), 0o644); err != nil {
			log.Fatal(err)
		}
	}
}

type message struct {
	name string
	crlf bool
	body string
}

func enc(e encoding.Encoding, s string) string {
	b, err := e.NewEncoder().String(s)
	if err != nil {
		log.Fatalf("encoding %q: %v", s, err)
	}
	return b
}

func jis(s string) string  { return enc(japanese.ISO2022JP, s) }
func sjis(s string) string { return enc(japanese.ShiftJIS, s) }
func euc(s string) string  { return enc(japanese.EUCJP, s) }

// b64 encodes data in lines of 76 characters.
func b64(data []byte) string {
	s := base64.StdEncoding.EncodeToString(data)
	var b strings.Builder
	for len(s) > 76 {
		b.WriteString(s[:76] + "\n")
		s = s[76:]
	}
	b.WriteString(s + "\n")
	return b.String()
}

func qp(data string) string {
	var b bytes.Buffer
	w := quotedprintable.NewWriter(&b)
	w.Write([]byte(data))
	w.Close()
	return strings.ReplaceAll(b.String(), "\r\n", "\n")
}

// word is an RFC 2047 B encoded word of already-encoded bytes.
func word(charset, data string) string {
	return "=?" + charset + "?B?" + base64.StdEncoding.EncodeToString([]byte(data)) + "?="
}

// pct is RFC 2231 percent encoding of every byte outside a safe set.
func pct(data string) string {
	var b strings.Builder
	for i := 0; i < len(data); i++ {
		c := data[i]
		if (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || (c >= '0' && c <= '9') || c == '.' || c == '_' || c == '-' {
			b.WriteByte(c)
		} else {
			fmt.Fprintf(&b, "%%%02X", c)
		}
	}
	return b.String()
}

// pe is the start of a Windows executable: DOS header pointing at a PE header.
func pe() []byte {
	b := make([]byte, 256)
	copy(b, "MZ")
	b[0x3c] = 0x80
	copy(b[0x80:], "PE\x00\x00")
	return b
}

func elf() []byte {
	return append([]byte("\x7fELF\x02\x01\x01\x00"), bytes.Repeat([]byte{0}, 56)...)
}

func machoFat() []byte {
	return append([]byte{0xca, 0xfe, 0xba, 0xbe, 0, 0, 0, 2}, bytes.Repeat([]byte{0}, 40)...)
}

func javaClass() []byte {
	return append([]byte{0xca, 0xfe, 0xba, 0xbe, 0, 0, 0, 52}, bytes.Repeat([]byte{0}, 40)...)
}

type zipFile struct {
	name      string
	data      []byte
	encrypted bool
}

// zipOf builds a zip archive. Encrypted entries are written raw with the
// encrypted flag (bit 0) set and stand-in ciphertext, as a traditional
// PKWARE-encrypted entry looks to a reader without the password.
func zipOf(files ...zipFile) []byte {
	var b bytes.Buffer
	w := zip.NewWriter(&b)
	for _, f := range files {
		if f.encrypted {
			cipher := append(bytes.Repeat([]byte{0x5a}, 12), f.data...)
			h := &zip.FileHeader{
				Name:               f.name,
				Method:             zip.Store,
				Flags:              0x1,
				CRC32:              crc32.ChecksumIEEE(f.data),
				CompressedSize64:   uint64(len(cipher)),
				UncompressedSize64: uint64(len(f.data)),
			}
			fw, err := w.CreateRaw(h)
			if err != nil {
				log.Fatal(err)
			}
			fw.Write(cipher)
			continue
		}
		fw, err := w.CreateHeader(&zip.FileHeader{Name: f.name, Method: zip.Deflate})
		if err != nil {
			log.Fatal(err)
		}
		fw.Write(f.data)
	}
	if err := w.Close(); err != nil {
		log.Fatal(err)
	}
	return b.Bytes()
}

// attach is a base64 attachment part with a raw Content-Disposition value.
func attach(ctype, disposition string, data []byte) string {
	s := "Content-Type: " + ctype + "\n"
	if disposition != "" {
		s += "Content-Disposition: " + disposition + "\n"
	}
	return s + "Content-Transfer-Encoding: base64\n\n" + b64(data)
}

// mixed wraps parts in a multipart/mixed message with a fixed boundary.
func mixed(headers string, parts ...string) string {
	return mixedWith("=_b1", headers, parts...)
}

// mixedWith is mixed with the given boundary.
func mixedWith(boundary, headers string, parts ...string) string {
	s := headers + "MIME-Version: 1.0\nContent-Type: multipart/mixed; boundary=\"" + boundary + "\"\n\n"
	for _, p := range parts {
		s += "--" + boundary + "\n" + p
	}
	return s + "--" + boundary + "--\n"
}

const textPart = "Content-Type: text/plain; charset=utf-8\n\nSee attached.\n"

func messages() []message {
	deep := "Subject: deep\nContent-Type: multipart/mixed; boundary=\"d0\"\n\n"
	for i := 0; i < 25; i++ {
		deep += fmt.Sprintf("--d%d\nContent-Type: multipart/mixed; boundary=\"d%d\"\n\n", i, i+1)
	}
	deep += "--d25\nContent-Type: application/octet-stream; name=\"deep.exe\"\n\nMZ\n--d25--\n"
	for i := 24; i >= 0; i-- {
		deep += fmt.Sprintf("--d%d--\n", i)
	}

	inner := mixedWith("=_inner", "From: a@example.jp\nSubject: inner\n",
		textPart,
		attach("application/octet-stream", `attachment; filename="payload.exe"`, pe()))
	exePart := attach("application/octet-stream", `attachment; filename="setup.exe"`, pe())
	jaText := "Content-Type: text/plain; charset=ISO-2022-JP\n\n" + jis("添付ファイルをご確認ください。\n")
	longB := "L" + strings.Repeat("0123456789", 500)

	tooDeep := zipOf(zipFile{name: "setup.exe", data: pe()})
	for i := 0; i < 11; i++ {
		tooDeep = zipOf(zipFile{name: fmt.Sprintf("level%d.zip", i), data: tooDeep})
	}
	bigInner := zipOf(zipFile{name: "big.zip", data: storedZip(
		zipFile{name: "padding.bin", data: make([]byte, 51<<20)},
		zipFile{name: "setup.exe", data: pe()})})
	bomb := zipOf(
		zipFile{name: "bomb.zip", data: storedZip(zipFile{name: "zeros.bin", data: make([]byte, 60<<20)})},
		zipFile{name: "setup.exe", data: pe()})

	return []message{
		{"plain-ascii", true, "From: sender@example.com\nTo: rcpt@example.jp\nSubject: Quarterly report\nMIME-Version: 1.0\nContent-Type: text/plain; charset=us-ascii\n\nHello,\n\nThe report is ready.\n"},
		{"iso2022jp", true, "From: sender@example.jp\nSubject: " + word("ISO-2022-JP", jis("見積書の送付")) + "\n " +
			word("ISO-2022-JP", jis("について（ご確認）")) + "\nMIME-Version: 1.0\nContent-Type: text/plain; charset=ISO-2022-JP\nContent-Transfer-Encoding: 7bit\n\n" +
			jis("お世話になっております。\n見積書をお送りします。\n")},
		{"iso2022jp-split-word", true, "Subject: " + splitJIS("請求書送付のお知らせ") + "\nContent-Type: text/plain; charset=iso-2022-jp\n\n" + jis("本文です。\n")},
		{"sjis-base64", true, "Subject: =?Shift_JIS?B?" + base64.StdEncoding.EncodeToString([]byte(sjis("会議の件"))) + "?=\nMIME-Version: 1.0\nContent-Type: text/plain; charset=Shift_JIS\nContent-Transfer-Encoding: base64\n\n" + b64([]byte(sjis("明日の会議は十時からです。\n表示とソフトの確認をお願いします。\n")))},
		{"cp932-label", false, "Subject: cp932\nContent-Type: text/plain; charset=CP932\nContent-Transfer-Encoding: 8bit\n\n" + sjis("①②③　ＮＥＣ特殊文字\n")},
		{"eucjp-qp", true, "Subject: =?EUC-JP?Q?" + strings.ReplaceAll(strings.TrimSuffix(qp(euc("ご連絡")), "\n"), " ", "_") + "?=\nContent-Type: text/plain; charset=EUC-JP\nContent-Transfer-Encoding: quoted-printable\n\n" + qp(euc("テスト送信です。よろしくお願いします。\n"))},
		{"html-utf8-entities", true, "Subject: =?UTF-8?Q?=E3=81=8A=E7=9F=A5=E3=82=89=E3=81=9B?=\nContent-Type: text/html; charset=UTF-8\nContent-Transfer-Encoding: 8bit\n\n" +
			"<!DOCTYPE html>\n<html><head><title>Hidden title</title><style>p { color: red; }</style>\n<script type=\"text/javascript\">var x = \"<p>not text</p>\";</script></head>\n<body><!-- a comment with <b>tags</b> -->\n<p class=\"x\" data-a='1>2'>Caf&eacute; &amp; &#x3042;&#12356; &lt;ok&gt;&nbsp;end</p>\n<div>日本語&copy;</div></body></html>\n"},
		{"unlabelled-iso2022jp", true, "Subject: no charset\nContent-Type: text/plain\n\n" + jis("ラベルのない本文です。\n")},
		{"unlabelled-raw-sjis-subject", true, "Subject: " + sjis("生のシフトJIS件名") + "\nContent-Type: text/plain\nContent-Transfer-Encoding: 8bit\n\n" + sjis("本文もシフトJISです。\n")},
		{"blank-ideographic-space", true, "Subject: blank\nContent-Type: text/plain; charset=UTF-8\n\n\u3000\u3000\n \u00a0\u200b\ufeff\n\u3000\n"},
		{"attachment-only", true, mixed("Subject: scan\n",
			attach("application/pdf", `attachment; filename="scan.pdf"`, []byte("%PDF-1.4\n%\xe2\xe3\xcf\xd3\n1 0 obj\n<<>>\nendobj\n")))},
		{"exe-unquoted-encoded-word", true, mixed("Subject: invoice\n",
			textPart,
			attach("application/octet-stream", "attachment; filename="+word("ISO-2022-JP", jis("請求書"))+".exe", pe()))},
		{"rfc2231-sjis-continuations", true, mixed("Subject: rfc2231\n",
			textPart,
			attach("application/octet-stream", "attachment;\n filename*0*=shift_jis''"+pct(sjis("ソフトウェア表"))+";\n filename*1*="+pct(sjis("更新プログラム"))+";\n filename*2=\".exe\"", pe()))},
		{"raw-sjis-filename", true, mixed("Subject: raw\n",
			textPart,
			attach("application/octet-stream", `attachment; filename="`+sjis("表計算ソフト")+`.exe"`, pe()))},
		{"name-only", true, mixed("Subject: name only\n",
			textPart,
			attach("application/pdf; name=\""+word("UTF-8", "見積書")+".pdf\"", "", []byte("%PDF-1.7\n")))},
		{"no-extension", true, mixed("Subject: no ext\n",
			textPart,
			attach("application/octet-stream", `attachment; filename="README"`, []byte("plain data\n")),
			"Content-Type: application/octet-stream\nContent-Transfer-Encoding: base64\n\n"+b64([]byte("unnamed inline data\n")))},
		{"double-extension", true, mixed("Subject: double\n",
			textPart,
			attach("application/pdf", `attachment; filename="invoice.pdf.exe"`, pe()))},
		{"trailing-dot", true, mixed("Subject: trailing\n",
			textPart,
			attach("application/octet-stream", `attachment; filename="evil.exe. "`, pe()),
			attach("application/octet-stream", "attachment; filename*=UTF-8''"+pct("evil.exe\u3000."), pe()))},
		{"rlo-trick", true, mixed("Subject: rlo\n",
			textPart,
			attach("application/octet-stream", "attachment; filename=\""+"=?UTF-8?B?"+base64.StdEncoding.EncodeToString([]byte("invoice_\u202Efdp.exe"))+"?=\"", pe()),
			attach("application/pdf", "attachment; filename*=UTF-8''"+pct("\u202Eexe.pdf"), []byte("%PDF-1.4\n")))},
		{"pe-named-pdf", true, mixed("Subject: pdf\n",
			textPart,
			attach("application/pdf", `attachment; filename="document.pdf"`, pe()))},
		{"elf-macho-class", true, mixed("Subject: binaries\n",
			textPart,
			attach("application/octet-stream", `attachment; filename="tool"`, elf()),
			attach("application/octet-stream", `attachment; filename="app"`, machoFat()),
			attach("application/java-vm", `attachment; filename="Main.class"`, javaClass()))},
		{"zip-with-exe", true, mixed("Subject: zip\n",
			textPart,
			attach("application/zip", `attachment; filename="docs.zip"`, zipOf(
				zipFile{name: "readme.txt", data: []byte("read me\n")},
				zipFile{name: "bin/setup.exe", data: pe()},
				zipFile{name: sjis("請求書.pdf.exe"), data: pe()})))},
		{"nested-zip", true, mixed("Subject: nested\n",
			textPart,
			attach("application/octet-stream", `attachment; filename="outer.dat"`, zipOf(
				zipFile{name: "inner.zip", data: zipOf(
					zipFile{name: "deeper.zip", data: zipOf(
						zipFile{name: "deepest.zip", data: zipOf(zipFile{name: "payload.exe", data: pe()})})},
					zipFile{name: "payload.scr", data: pe()})})))},
		{"encrypted-zip", true, mixed("Subject: encrypted\n",
			textPart,
			attach("application/zip", `attachment; filename="secret.zip"`, zipOf(
				zipFile{name: "note.txt", data: []byte("password is in the next mail\n")},
				zipFile{name: "invoice.exe", data: pe(), encrypted: true})))},
		{"corrupt-zip", true, mixed("Subject: corrupt\n",
			textPart,
			attach("application/zip", `attachment; filename="broken.zip"`, append([]byte("PK\x03\x04"), bytes.Repeat([]byte{0xee}, 64)...)))},
		{"rfc822-with-exe", true, mixed("Subject: forward\n",
			textPart,
			"Content-Type: message/rfc822\nContent-Disposition: attachment; filename=\"fwd.eml\"\n\n"+inner)},
		{"rfc822-inline", true, mixed("Subject: inline forward\n",
			"Content-Type: message/rfc822\n\nSubject: inner\nContent-Type: text/plain; charset=utf-8\n\nforwarded text\n")},
		{"missing-closing-boundary", true, "Subject: truncated\nContent-Type: multipart/mixed; boundary=\"t1\"\n\n--t1\nContent-Type: text/plain\n\nfirst part\n--t1\nContent-Type: application/octet-stream; name=\"cut.exe\"\nContent-Transfer-Encoding: base64\n\n" + b64(pe())},
		{"unknown-charset", true, "Subject: =?x-foo?B?SGVsbG8=?= and =?ISO-2022-JP?B?" + base64.StdEncoding.EncodeToString([]byte(jis("日本"))) + "?=\nContent-Type: text/plain; charset=\"x-foo\"\nContent-Transfer-Encoding: 8bit\n\n" + sjis("未知の文字コード\n")},
		{"deep-nesting", true, deep},
		{"multipart-no-boundary", true, "Subject: no boundary\nContent-Type: multipart/mixed\n\n--x\nContent-Type: text/plain\n\nhidden\n--x--\n"},
		// Shapes that other software reads and a strict parser stops at.
		{"header-no-colon", true, mixed("Subject: Undeliverable: report\n",
			"Content-Type: text/plain; charset=us-ascii\nThis line is not a header field\nContent-Transfer-Encoding: 7bit\n\nDelivery has failed.\n",
			jaText, exePart)},
		{"repeated-boundary", true, mixed("Subject: twice\n", "--=_b1\n"+jaText, exePart)},
		{"rfc822-mbox-from", true, mixed("Subject: forward\n",
			jaText,
			"Content-Type: message/rfc822\nContent-Disposition: attachment; filename=\"fwd.eml\"\n\nFrom a@example.jp Mon Jan  1 00:00:00 2024\n"+inner)},
		{"digest-default-rfc822", true, "Subject: digest\nMIME-Version: 1.0\nContent-Type: multipart/digest; boundary=\"dg\"\n\n--dg\n\n" + inner + "--dg--\n"},
		{"long-boundary", true, mixedWith(longB, "Subject: long boundary\n", jaText, exePart)},
		{"boundary-prefix", true, "Subject: prefix\nMIME-Version: 1.0\nContent-Type: multipart/mixed; boundary=\"b1\"\n\n--b1\n" +
			"Content-Type: multipart/alternative; boundary=\"b1-x\"\n\n--b1-x\n" + jaText + "--b1-x--\n--b1\n" + exePart + "--b1--\n"},
		{"qp-raw-esc", true, "Subject: qp\nMIME-Version: 1.0\nContent-Type: text/plain; charset=ISO-2022-JP\nContent-Transfer-Encoding: quoted-printable\n\n" +
			jis("お世話になっております。") + "=\n" + jis("よろしくお願いします。") + "\n"},
		{"zip-too-deep", true, mixed("Subject: deep zip\n", jaText,
			attach("application/zip", `attachment; filename="deep.zip"`, tooDeep))},
		{"zip-big-inner", true, mixed("Subject: big inner zip\n", jaText,
			attach("application/zip", `attachment; filename="outer.zip"`, bigInner))},
		{"zip-corrupt-directory", true, mixed("Subject: corrupt directory\n", jaText,
			attach("application/zip", `attachment; filename="broken.zip"`, corruptDirectory(zipOf(zipFile{name: "setup.exe", data: pe()}))))},
		{"exe-beside-zip-bomb", true, mixed("Subject: bomb\n", jaText,
			attach("application/zip", `attachment; filename="docs.zip"`, bomb))},
		// Files embedded in text and other containers.
		{"uuencode-inline", true, "From: a@example.com\nSubject: uu\n\nSee below.\n\n" + uuencode("setup.exe", pe()) + "\nBye.\n"},
		{"yenc-inline", true, "From: a@example.com\nSubject: yenc\n\nSee below.\n" + yenc("setup.exe", pe()) + "Bye.\n"},
		{"cte-uuencode", true, mixed("Subject: uu part\n", jaText,
			"Content-Type: application/octet-stream; name=\"tool.bin\"\nContent-Transfer-Encoding: x-uuencode\n\n"+uuencode("tool.bin", pe()))},
		{"rar-attachment", true, mixed("Subject: rar\n", jaText,
			attach("application/octet-stream", `attachment; filename="docs.rar"`, append([]byte("Rar!\x1a\x07\x01\x00"), bytes.Repeat([]byte{0x11}, 40)...)))},
		{"zip-named-not-zip", true, mixed("Subject: fake zip\n", jaText,
			attach("application/zip", `attachment; filename="docs.zip"`, bytes.Repeat([]byte{0x42}, 64)))},
		// Archive formats other than zip: 7z archives are files made once
		// by 7-Zip (testdata/mime/archives), the others are built here.
		{"sevenzip-with-exe", true, mixed("Subject: 7z\n", jaText,
			attach("application/x-7z-compressed", `attachment; filename="docs.7z"`, archiveFile("docs.7z")))},
		{"sevenzip-encrypted-list", true, mixed("Subject: 7z -mhe\n", jaText,
			attach("application/octet-stream", `attachment; filename="secret.7z"`, archiveFile("encrypted-list.7z")))},
		{"sevenzip-encrypted-entries", true, mixed("Subject: 7z -p\n", jaText,
			attach("application/octet-stream", `attachment; filename="secret.7z"`, archiveFile("encrypted-entries.7z")))},
		{"targz-with-exe", true, mixed("Subject: tar.gz\n", jaText,
			attach("application/gzip", `attachment; filename="docs.tar.gz"`, gzipOf("", tarOf(
				"docs/readme.txt", []byte("read me\n"),
				sjis("docs/請求書.exe"), pe(),
				"docs/inner.zip", zipOf(zipFile{name: "payload.scr", data: pe()})))))},
		{"gzip-exe", true, mixed("Subject: gzip\n", jaText,
			attach("application/octet-stream", `attachment; filename="report.gz"`, gzipOf("report.pdf.exe", pe())))},
		{"rar5-with-exe", true, mixed("Subject: rar5\n", jaText,
			attach("application/octet-stream", `attachment; filename="docs.dat"`, rar5(
				rarFile{name: "readme.txt", data: []byte("read me\n")},
				rarFile{name: "請求書.exe", data: pe()},
				rarFile{name: "invoice.exe", data: pe(), encrypted: true})))},
		{"tnef-winmail", true, mixed("Subject: winmail\n", jaText,
			attach("application/ms-tnef", `attachment; filename="winmail.dat"`, append([]byte{0x78, 0x9f, 0x3e, 0x22}, bytes.Repeat([]byte{0}, 40)...)))},
		{"message-partial", true, "Subject: part 1 of 2\nMIME-Version: 1.0\nContent-Type: message/partial; id=\"abc@example.com\"; number=1; total=2\n\n" + inner[:200]},
		{"part-after-close", true, mixed("Subject: epilogue\n", jaText) + "--=_b1\n" + exePart + "--=_b1--\n"},
		{"multipart-no-delimiter", true, "Subject: wrong boundary\nMIME-Version: 1.0\nContent-Type: multipart/mixed; boundary=\"abc\"\n\n--xyz\n" + exePart + "--xyz--\n"},
		// Header values read as Thunderbird reads them, and every other
		// reading where clients could differ.
		{"cte-first-token", true, mixed("Subject: cte\n", jaText,
			"Content-Type: application/pdf; name=\"invoice.pdf\"\nContent-Transfer-Encoding: base64;\n\n"+b64(pe()),
			"Content-Type: application/pdf; name=\"report.pdf\"\nContent-Transfer-Encoding: base64 (binary)\n\n"+b64(pe()))},
		{"cte-second-value", true, mixed("Subject: cte twice\n", jaText,
			"Content-Type: application/pdf; name=\"invoice.pdf\"\nContent-Transfer-Encoding: 7bit, base64\n\n"+b64(pe()))},
		{"base64-padding-inside", true, mixed("Subject: padding\n", jaText,
			"Content-Type: application/pdf; name=\"invoice.pdf\"\nContent-Transfer-Encoding: base64\n\nTQ==\n"+b64(pe()[1:]))},
		{"boundary-two-readings", true, "Subject: two boundaries\nMIME-Version: 1.0\nContent-Type: multipart/mixed, boundary=\"outer\"; boundary=\"inner\"\n\n" +
			"--inner\n" + jaText + "--inner\nContent-Type: text/plain\n\n--outer\n" + exePart + "--outer--\n--inner--\n"},
		{"boundary-rfc2231-and-plain", true, "Subject: two forms\nMIME-Version: 1.0\nContent-Type: multipart/mixed; boundary=\"plain\"; boundary*=us-ascii''ext\n\n" +
			"--plain\n" + jaText + "--plain\nContent-Type: text/plain\n\n--ext\n" + exePart + "--ext--\n--plain--\n"},
		{"message-news", true, mixed("Subject: news\n", jaText, "Content-Type: message/news\n\n"+inner)},
		{"type-after-question-mark", true, mixed("Subject: question mark\n", jaText, "Content-Type: application/pdf?message/rfc822\n\n"+inner)},
		{"octet-stream-eml", true, mixed("Subject: eml\n", jaText,
			"Content-Type: application/octet-stream; name=\"fwd.eml\"\nContent-Transfer-Encoding: 7bit\n\n"+inner)},
		{"eml-in-zip", true, mixed("Subject: eml in zip\n", jaText,
			attach("application/zip", `attachment; filename="mails.zip"`, zipOf(zipFile{name: "fwd.eml", data: []byte(inner)})))},
		{"name-headers", true, mixed("Subject: names\n", jaText,
			"Content-Type: text/plain\nContent-Name: setup.exe\n\nhello\n",
			"Content-Type: text/plain\nX-Sun-Data-Name: tool.scr\n\nhello\n")},
		{"filename-readings", true, mixed("Subject: names\n", jaText,
			attach("application/pdf", `attachment; filename="invoice.pdf"; filename="setup.exe"`, []byte("%PDF-1.4\n")),
			attach("application/pdf", `attachment; filename=setup.exe x`, []byte("%PDF-1.4\n")),
			attach("application/pdf, name=tool.scr", "", []byte("%PDF-1.4\n")),
			attach("application/pdf", `attachment; filename*=UTF-8''setup.exe%00.pdf`, []byte("%PDF-1.4\n")))},
		{"related-inline-image", true, "Subject: newsletter\nMIME-Version: 1.0\nContent-Type: multipart/related; boundary=\"rel\"; type=\"text/html\"\n\n" +
			"--rel\nContent-Type: text/html; charset=UTF-8\n\n<p>新製品のご案内</p><img src=\"cid:logo@example.jp\">\n" +
			"--rel\nContent-Type: image/png\nContent-ID: <logo@example.jp>\nContent-Transfer-Encoding: base64\n\n" + b64([]byte("\x89PNG\r\n\x1a\n\x00\x00\x00\rIHDR")) +
			"--rel\nContent-Type: application/octet-stream\nContent-ID: <tool@example.jp>\nContent-Transfer-Encoding: base64\n\n" + b64(pe()) + "--rel--\n"},
		{"ebcdic-label", true, "Subject: ebcdic\nContent-Type: text/plain; charset=IBM037\n\nPlease find the invoice attached.\n"},
		{"lf-only-alternative", false, "Subject: alt\nContent-Type: multipart/alternative; boundary=alt\n\npreamble " + strings.Repeat("x", 5000) + "\n--alt\nContent-Type: text/plain; charset=utf-8\nContent-Transfer-Encoding: quoted-printable\n\n=E3=81=93=E3=82=93=E3=81=AB=E3=81=A1=E3=81=AF\n--alt\nContent-Type: text/html; charset=utf-8\n\n<p>&#x3053;&#x3093;&#x306B;&#x3061;&#x306F;</p>\n--alt--\n"},
	}
}

// storedZip is zipOf without compression, so that the archive is as big as
// its content.
func storedZip(files ...zipFile) []byte {
	var b bytes.Buffer
	w := zip.NewWriter(&b)
	for _, f := range files {
		fw, err := w.CreateHeader(&zip.FileHeader{Name: f.name, Method: zip.Store})
		if err != nil {
			log.Fatal(err)
		}
		fw.Write(f.data)
	}
	if err := w.Close(); err != nil {
		log.Fatal(err)
	}
	return b.Bytes()
}

// corruptDirectory overwrites the signature of a zip's central directory:
// the local file headers and data stay readable, as tools that scan them
// do, but the directory is gone.
func corruptDirectory(z []byte) []byte {
	out := append([]byte(nil), z...)
	i := bytes.LastIndex(out, []byte("PK\x01\x02"))
	copy(out[i:], "XX")
	j := bytes.LastIndex(out, []byte("PK\x05\x06"))
	copy(out[j:], "XX")
	return out
}

// uuencode encodes data as a uuencode block ("begin 644 name" … "end").
func uuencode(name string, data []byte) string {
	var b strings.Builder
	b.WriteString("begin 644 " + name + "\n")
	enc := func(c byte) byte {
		if c == 0 {
			return '`'
		}
		return c + ' '
	}
	for len(data) > 0 {
		n := min(45, len(data))
		line := data[:n]
		data = data[n:]
		b.WriteByte(enc(byte(n)))
		for i := 0; i < n; i += 3 {
			var g [3]byte
			copy(g[:], line[i:min(i+3, n)])
			b.WriteByte(enc(g[0] >> 2))
			b.WriteByte(enc((g[0]<<4 | g[1]>>4) & 63))
			b.WriteByte(enc((g[1]<<2 | g[2]>>6) & 63))
			b.WriteByte(enc(g[2] & 63))
		}
		b.WriteByte('\n')
	}
	b.WriteString("`\nend\n")
	return b.String()
}

// yenc encodes data as a single-part yEnc block.
func yenc(name string, data []byte) string {
	var b strings.Builder
	fmt.Fprintf(&b, "=ybegin line=128 size=%d name=%s\n", len(data), name)
	col := 0
	for _, c := range data {
		o := c + 42
		switch o {
		case 0, '\n', '\r', '=':
			b.WriteByte('=')
			o += 64
			col++
		}
		b.WriteByte(o)
		col++
		if col >= 128 {
			b.WriteByte('\n')
			col = 0
		}
	}
	if col > 0 {
		b.WriteByte('\n')
	}
	fmt.Fprintf(&b, "=yend size=%d\n", len(data))
	return b.String()
}

// splitJIS encodes s as ISO-2022-JP and cuts the bytes into three encoded
// words in the middle of the two-byte run, the way some mailers do: only
// the first word switches to JIS X 0208 and only the last switches back.
func splitJIS(s string) string {
	b := jis(s)
	third := (len(b) - 6) / 3 / 2 * 2
	w1, w2, w3 := b[:3+third], b[3+third:3+2*third], b[3+2*third:]
	return word("ISO-2022-JP", w1) + "\n " + word("ISO-2022-JP", w2) + "\n " + word("ISO-2022-JP", w3)
}

// archiveFile reads an archive of testdata/mime/archives.
func archiveFile(name string) []byte {
	b, err := os.ReadFile(filepath.Join("testdata", "mime", "archives", name))
	if err != nil {
		log.Fatal(err)
	}
	return b
}

// tarOf builds a tar archive of name, content pairs, names written as
// given.
func tarOf(fs ...any) []byte {
	var b bytes.Buffer
	w := tar.NewWriter(&b)
	for i := 0; i < len(fs); i += 2 {
		name, data := fs[i].(string), fs[i+1].([]byte)
		if err := w.WriteHeader(&tar.Header{Name: name, Mode: 0o644, Size: int64(len(data)), Format: tar.FormatGNU}); err != nil {
			log.Fatal(err)
		}
		w.Write(data)
	}
	if err := w.Close(); err != nil {
		log.Fatal(err)
	}
	return b.Bytes()
}

// gzipOf compresses data, with name (bytes, as the header holds them) in
// the header when not empty.
func gzipOf(name string, data []byte) []byte {
	var b bytes.Buffer
	w := gzip.NewWriter(&b)
	var latin1 []rune
	for i := 0; i < len(name); i++ {
		latin1 = append(latin1, rune(name[i]))
	}
	w.Name = string(latin1)
	w.Write(data)
	if err := w.Close(); err != nil {
		log.Fatal(err)
	}
	return b.Bytes()
}

type rarFile struct {
	name      string
	data      []byte
	encrypted bool // an encryption record only: the data is not encrypted
}

// rar5 builds a RAR 5 archive of stored entries, as rarlab's technote of
// the format describes it.
func rar5(files ...rarFile) []byte {
	vint := func(b []byte, v uint64) []byte {
		for v >= 0x80 {
			b = append(b, byte(v)|0x80)
			v >>= 7
		}
		return append(b, byte(v))
	}
	block := func(out, fields, data []byte) []byte {
		h := append(vint(nil, uint64(len(fields))), fields...)
		out = binary.LittleEndian.AppendUint32(out, crc32.ChecksumIEEE(h))
		return append(append(out, h...), data...)
	}
	out := block([]byte("Rar!\x1a\x07\x01\x00"), vint(vint(vint(nil, 1), 0), 0), nil)
	for _, f := range files {
		var extra []byte
		if f.encrypted {
			rec := append(vint(vint(vint(nil, 1), 0), 0), 15)
			rec = append(rec, make([]byte, 32)...)
			extra = append(vint(nil, uint64(len(rec))), rec...)
		}
		flags := uint64(2)
		if len(extra) > 0 {
			flags |= 1
		}
		h := vint(vint(nil, 2), flags)
		if len(extra) > 0 {
			h = vint(h, uint64(len(extra)))
		}
		h = vint(vint(vint(vint(h, uint64(len(f.data))), 4), uint64(len(f.data))), 0x20)
		h = binary.LittleEndian.AppendUint32(h, crc32.ChecksumIEEE(f.data))
		h = vint(vint(vint(h, 0), 0), uint64(len(f.name)))
		h = append(append(h, f.name...), extra...)
		out = block(out, h, f.data)
	}
	return block(out, vint(vint(vint(nil, 5), 0), 0), nil)
}
