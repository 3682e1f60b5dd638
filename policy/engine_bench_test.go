package policy_test

import (
	"context"
	"fmt"
	"strings"
	"testing"

	"github.com/sekisho/sekisho/policy"
)

// BenchmarkEngineMessage runs whole messages through the engine as the
// milter does (connect, MAIL, RCPT, end of headers, the message fed in 64
// KiB pieces, end of body) with the built-in configuration: the crafted
// Japanese messages of testdata/mime and one with a 1 MB base64 PDF. The
// throughput is of the messages' bytes.
func BenchmarkEngineMessage(b *testing.B) {
	e := newEngine(b, strings.Replace(string(policy.DefaultConfig), "limit = 5", "limit = 1000000000", 1), nil)
	var msgs [][]byte
	for _, name := range []string{"iso2022jp", "iso2022jp-split-word", "sjis-base64", "unlabelled-raw-sjis-subject", "eucjp-qp", "html-utf8-entities"} {
		msgs = append(msgs, mimeFile(b, name+".eml"))
	}
	var pdf strings.Builder
	pdf.WriteString("Subject: =?ISO-2022-JP?B?GyRCO3FOQRsoQg==?=\r\nMIME-Version: 1.0\r\nContent-Type: multipart/mixed; boundary=b\r\n\r\n--b\r\n" +
		"Content-Type: text/plain; charset=ISO-2022-JP\r\n\r\n\x1b$B$*@$OC$K$J$C$F$*$j$^$9!#\x1b(B\r\n--b\r\n" +
		"Content-Type: application/pdf; name=a.pdf\r\nContent-Transfer-Encoding: base64\r\n\r\n")
	for range 1_000_000 / 57 {
		pdf.WriteString("JVBERi0xLjcKJeLjz9MKMSAwIG9iago8PC9UeXBlL0NhdGFsb2c+PmVuZG9iagoxIDAgb2Jq\r\n")
	}
	pdf.WriteString("--b--\r\n")
	msgs = append(msgs, []byte(pdf.String()))
	var total int64
	headers := make([][]policy.Header, len(msgs))
	for i, m := range msgs {
		total += int64(len(m))
		headers[i] = headersOf(b, m)
	}
	b.SetBytes(total / int64(len(msgs)))
	b.ReportAllocs()
	ctx := context.Background()
	n := 0
	for b.Loop() {
		raw, hdr := msgs[n%len(msgs)], headers[n%len(msgs)]
		n++
		m := &policy.Message{Client: outsider}
		e.Run(ctx, policy.StageConnect, m)
		m.Reset()
		m.Sender = fmt.Sprintf("sender%d@example.net", n)
		e.Run(ctx, policy.StageMail, m)
		m.Rcpt = "user@example.co.jp"
		e.Run(ctx, policy.StageRcpt, m)
		m.Rcpts = append(m.Rcpts, m.Rcpt)
		m.Headers = hdr
		e.OpenStreams(ctx, m)
		if v := e.Run(ctx, policy.StageEOH, m); v.Action != policy.Continue {
			b.Fatalf("message %d refused at end of headers: %v (%s)", n, v, v.Reason)
		}
		for p := raw; len(p) > 0; {
			k := min(len(p), 64<<10)
			e.Feed(m, p[:k])
			p = p[k:]
		}
		e.Finish(ctx, m)
		m.Close()
	}
}
