package policy_test

import (
	"context"
	"encoding/base64"
	"fmt"
	"strings"
	"testing"

	"github.com/sekisho/sekisho/policy"
)

// rtPartsEngine builds the virus rule in parts mode for the fake clamd at
// addr.
func rtPartsEngine(t *testing.T, addr, rest string) *policy.Engine {
	t.Helper()
	return rtEngine(t, fmt.Sprintf("[rules.virus]\naddress = \"inet:%s\"\ntimeout = \"5s\"\n%s\n", addr, rest), nil)
}

// rtPartsMail is a message with a Japanese text part holding text and one
// base64 attachment of type ctype holding content.
func rtPartsMail(t *testing.T, text, ctype, content string) []byte {
	return []byte("From: a@example.net\r\nSubject: " + rtJIS(t, "資料") + "\r\nMIME-Version: 1.0\r\n" +
		"Content-Type: multipart/mixed; boundary=b\r\n\r\n--b\r\nContent-Type: text/plain; charset=us-ascii\r\n\r\n" + text +
		"\r\n--b\r\nContent-Type: " + ctype + "; name=a.bin\r\nContent-Transfer-Encoding: base64\r\n\r\n" +
		base64.StdEncoding.EncodeToString([]byte(content)) + "\r\n--b--\r\n")
}

// rtScanParts runs a message through the engine as the milter does and
// returns the end-of-body verdict.
func rtScanParts(e *policy.Engine, raw []byte) (policy.Verdict, *policy.Message) {
	m := &policy.Message{Client: rtClient, Sender: "a@example.net", Rcpts: []string{"b@example.co.jp"}}
	rtStream(e, m, raw, 1000)
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
		{"eicar in a base64 attachment", "", "hello", "application/octet-stream", rtEICAR, "virus", 1},
		{"clean", "", "hello", "application/pdf", "%PDF-1.7 clean", "clean", 1},
		{"text parts not scanned by default", "", rtEICAR, "application/pdf", "%PDF", "clean", 1},
		{"eicar in the text part, scan_text on", "scan_text = true", rtEICAR, "application/pdf", "%PDF", "virus", 2},
		{"images skipped", "scan_text = true", "hello", "image/png", rtEICAR, "clean", 1},
		{"images on", "scan_images = true", "hello", "image/png", rtEICAR, "virus", 1},
	} {
		t.Run(tt.name, func(t *testing.T) {
			clamd := rtStartClamd(t, "")
			e := rtPartsEngine(t, clamd.addr, tt.cfg)
			v, _ := rtScanParts(e, rtPartsMail(t, tt.text, tt.ctype, tt.content))
			if tt.want == "virus" {
				rtExpect(t, v, "virus", policy.Reject, rtVirusReply, "clamd found Eicar-Test-Signature in")
			} else {
				rtExpectContinue(t, v)
			}
			conns, scans, _ := clamd.counts()
			if conns != 1 || scans != tt.scans || clamd.command != "zIDSESSION" {
				t.Errorf("clamd saw %d connections, %d scans, command %q; want one session of %d", conns, scans, clamd.command, tt.scans)
			}
		})
	}
}

func TestVirusPartsErrors(t *testing.T) {
	mail := rtPartsMail(t, "hello", "application/pdf", "%PDF "+strings.Repeat("x", 3000))
	t.Run("clamd down", func(t *testing.T) {
		e := rtPartsEngine(t, rtClosedAddr(t), "")
		v, _ := rtScanParts(e, mail)
		rtExpect(t, v, "virus", policy.Tempfail, rtServFail, "error: clamd")
	})
	t.Run("size limit", func(t *testing.T) {
		clamd := rtStartClamd(t, "INSTREAM size limit exceeded. ERROR")
		v, _ := rtScanParts(rtPartsEngine(t, clamd.addr, ""), mail)
		rtExpect(t, v, "virus", policy.Tempfail, rtServFail, "size limit")
	})
	t.Run("part over max_scan_size", func(t *testing.T) {
		clamd := rtStartClamd(t, "")
		e := rtPartsEngine(t, clamd.addr, "max_scan_size = \"1KB\"")
		v, m := rtScanParts(e, mail)
		rtExpectContinue(t, v)
		if a := m.Annotations(); len(a) != 1 || a[0].Action != policy.Tag || !strings.Contains(a[0].Reason, `"a.bin" (part 2) over max_scan_size 1KB`) {
			t.Errorf("annotations %+v, want a tag for the part over the limit", a)
		}
	})
	t.Run("inspection stopped", func(t *testing.T) {
		clamd := rtStartClamd(t, "")
		e := rtEngine(t, fmt.Sprintf("[inspect]\nmax_parts = 2\n[rules.virus]\naddress = \"inet:%s\"\n", clamd.addr), nil)
		v, _ := rtScanParts(e, mail)
		rtExpect(t, v, "virus", policy.Tempfail, rtServFail, "the inspection stopped at a limit")
	})
	t.Run("aborted", func(t *testing.T) {
		clamd := rtStartClamd(t, "")
		e := rtPartsEngine(t, clamd.addr, "")
		m := &policy.Message{Client: rtClient, Sender: "a@example.net"}
		rtStream(e, m, mail, 1000)
		m.Close()
	})
}
