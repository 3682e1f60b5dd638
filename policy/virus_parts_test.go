package policy_test

import (
	"context"
	"encoding/base64"
	"fmt"
	"strings"
	"testing"

	"github.com/sekisho/sekisho/policy"
)

// partsEngine builds the virus rule in parts mode for the fake clamd at
// addr.
func partsEngine(t *testing.T, addr, rest string) *policy.Engine {
	t.Helper()
	return newEngine(t, fmt.Sprintf("[rules.virus]\naddress = \"inet:%s\"\ntimeout = \"5s\"\n%s\n", addr, rest), nil)
}

// partsMail is a message with a Japanese text part holding text and one
// base64 attachment of type ctype holding content.
func partsMail(t *testing.T, text, ctype, content string) []byte {
	return []byte("From: a@example.net\r\nSubject: " + jisWord(t, "資料") + "\r\nMIME-Version: 1.0\r\n" +
		"Content-Type: multipart/mixed; boundary=b\r\n\r\n--b\r\nContent-Type: text/plain; charset=us-ascii\r\n\r\n" + text +
		"\r\n--b\r\nContent-Type: " + ctype + "; name=a.bin\r\nContent-Transfer-Encoding: base64\r\n\r\n" +
		base64.StdEncoding.EncodeToString([]byte(content)) + "\r\n--b--\r\n")
}

// scanParts runs a message through the engine as the milter does and
// returns the end-of-body verdict.
func scanParts(e *policy.Engine, raw []byte) (policy.Verdict, *policy.Message) {
	m := &policy.Message{Client: outsider, Sender: "a@example.net", Rcpts: []string{"b@example.co.jp"}}
	feed(e, m, raw, 1000)
	v := e.Run(context.Background(), policy.StageEOB, m)
	m.Close()
	return v, m
}

func TestVirusParts(t *testing.T) {
	for _, tt := range []struct {
		name, cfg, text, ctype, content string
		want                            string // "virus", "clean"
		scans                           int    // streams clamd received
	}{
		// The fake does not decode base64: it finds the test string only
		// in the decoded attachment the inspection hands over.
		{"eicar in a base64 attachment", "", "hello", "application/octet-stream", eicar, "virus", 1},
		{"clean", "", "hello", "application/pdf", "%PDF-1.7 clean", "clean", 1},
		{"text parts not scanned by default", "", eicar, "application/pdf", "%PDF", "clean", 1},
		{"eicar in the text part, scan_text on", "scan_text = true", eicar, "application/pdf", "%PDF", "virus", 2},
		{"images skipped", "scan_text = true", "hello", "image/png", eicar, "clean", 1},
		{"images on", "scan_images = true", "hello", "image/png", eicar, "virus", 1},
	} {
		t.Run(tt.name, func(t *testing.T) {
			clamd := startClamd(t, "")
			e := partsEngine(t, clamd.addr, tt.cfg)
			v, _ := scanParts(e, partsMail(t, tt.text, tt.ctype, tt.content))
			if tt.want == "virus" {
				expect(t, v, "virus", policy.Reject, virusReply, "clamd found Eicar-Test-Signature in")
			} else {
				expectContinue(t, v)
			}
			conns, scans, _ := clamd.counts()
			if conns != 1 || scans != tt.scans || clamd.command != "zIDSESSION" {
				t.Errorf("clamd saw %d connections, %d scans, command %q; want one session of %d", conns, scans, clamd.command, tt.scans)
			}
		})
	}
}

func TestVirusPartsErrors(t *testing.T) {
	mail := partsMail(t, "hello", "application/pdf", "%PDF "+strings.Repeat("x", 3000))
	t.Run("clamd down", func(t *testing.T) {
		e := partsEngine(t, closedAddr(t), "")
		v, _ := scanParts(e, mail)
		expect(t, v, "virus", policy.Tempfail, servFailReply, "error: clamd")
	})
	t.Run("size limit", func(t *testing.T) {
		clamd := startClamd(t, "INSTREAM size limit exceeded. ERROR")
		v, _ := scanParts(partsEngine(t, clamd.addr, ""), mail)
		expect(t, v, "virus", policy.Tempfail, servFailReply, "size limit")
	})
	t.Run("part over max_scan_size", func(t *testing.T) {
		clamd := startClamd(t, "")
		e := partsEngine(t, clamd.addr, "max_scan_size = \"1KB\"")
		v, m := scanParts(e, mail)
		expectContinue(t, v)
		if a := m.Annotations(); len(a) != 1 || a[0].Action != policy.Tag || !strings.Contains(a[0].Reason, `"a.bin" (part 2) over max_scan_size 1KB`) {
			t.Errorf("annotations %+v, want a tag for the part over the limit", a)
		}
	})
	t.Run("inspection stopped", func(t *testing.T) {
		clamd := startClamd(t, "")
		e := newEngine(t, fmt.Sprintf("[inspect]\nmax_parts = 2\n[rules.virus]\naddress = \"inet:%s\"\n", clamd.addr), nil)
		v, _ := scanParts(e, mail)
		expect(t, v, "virus", policy.Tempfail, servFailReply, "the inspection stopped at a limit")
	})
	t.Run("aborted", func(t *testing.T) {
		clamd := startClamd(t, "")
		e := partsEngine(t, clamd.addr, "")
		m := &policy.Message{Client: outsider, Sender: "a@example.net"}
		feed(e, m, mail, 1000)
		m.Close()
	})
}
