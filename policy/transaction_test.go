package policy_test

import (
	"bytes"
	"context"
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/sekisho/sekisho/policy"
)

// TestBodyKeepsNothing: Transaction.Body keeps nothing of the chunk it is
// given once it returns, so that the milter reads every chunk into the same
// buffer: each message of testdata/mime, passed on through one buffer that
// is scribbled over after each chunk, gets the outcome it gets when every
// chunk is a fresh copy, under every rule that needs no outside service
// and under the virus rule (a fake clamd) in both its modes, whose streams
// get the chunks too; EICAR is found across chunk boundaries.
func TestBodyKeepsNothing(t *testing.T) {
	local, err := os.ReadFile("../testdata/load/local-rules.toml")
	if err != nil {
		t.Fatal(err)
	}
	clamd := startClamd(t, "")
	virus := func(mode string) string {
		return fmt.Sprintf("%s\n[rules.virus]\naddress = \"inet:%s\"\nscan = %q\ncache = \"off\"\n", local, clamd.addr, mode)
	}
	files, err := filepath.Glob(filepath.Join(mimeDir, "*.eml"))
	if err != nil || len(files) < 20 {
		t.Fatalf("%d messages in %s: %v", len(files), mimeDir, err)
	}
	msgs := map[string][]byte{}
	for _, f := range files {
		if msgs[filepath.Base(f)], err = os.ReadFile(f); err != nil {
			t.Fatal(err)
		}
	}
	filler := bytes.Repeat([]byte("0123456789abcdef"), 8000)
	// In the attachment for the parts mode, in the text for the message
	// mode (the fake clamd reads no MIME).
	msgs["eicar"] = attachmentMail("請求書", strings.Repeat("本文です。\r\n", 9000)+eicar, "application/octet-stream", "a.bin", append(filler, eicar...))
	outcome := func(conf string, raw []byte, piece int, reuse bool) string {
		e := newEngine(t, conf, quietEnv())
		tx := policy.NewTransaction(func() *policy.Engine { return e })
		ctx := context.Background()
		tx.Mail(ctx, "sender@example.com")
		tx.Rcpt(ctx, "user@example.co.jp")
		for _, h := range headersOf(t, raw) {
			tx.Header(h.Name, h.Value)
		}
		var out strings.Builder
		if v := tx.EndOfHeaders(ctx); v.Action.Final() {
			return fmt.Sprintf("eoh %s %s %q", v.Rule, v.Action, v.Reason)
		}
		body := raw
		if i := bytes.Index(raw, []byte("\r\n\r\n")); i >= 0 {
			body = raw[i+4:]
		} else if i := bytes.Index(raw, []byte("\n\n")); i >= 0 {
			body = raw[i+2:]
		}
		buf := make([]byte, piece)
		for len(body) > 0 {
			n := min(piece, len(body))
			chunk := bytes.Clone(body[:n])
			if reuse {
				chunk = buf[:n]
				copy(chunk, body[:n])
			}
			tx.Body(chunk)
			if reuse {
				for i := range buf {
					buf[i] = "--\r\nMZ=?\x00"[i%9]
				}
			}
			body = body[n:]
		}
		tx.Message().Raw = nil
		o := tx.End(ctx, false)
		fmt.Fprintf(&out, "%s %s %q %q %q", o.Rule, o.Action, o.Reason, o.Headers, o.Quarantine)
		tx.Close()
		return out.String()
	}
	for _, conf := range []string{string(local), virus("parts"), virus("message")} {
		for name, raw := range msgs {
			for _, piece := range []int{997, 64 << 10} {
				fresh, reused := outcome(conf, raw, piece, false), outcome(conf, raw, piece, true)
				if fresh != reused {
					t.Errorf("%s in pieces of %d: %s through one buffer, %s fresh", name, piece, reused, fresh)
				}
				if name == "eicar" && conf != string(local) && !strings.Contains(fresh, "virus reject") {
					t.Errorf("EICAR in pieces of %d: %s", piece, fresh)
				}
			}
		}
	}
}
