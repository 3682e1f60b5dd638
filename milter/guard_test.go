package milter

import (
	"bytes"
	"errors"
	"fmt"
	"log/slog"
	"strings"
	"testing"

	gomilter "github.com/emersion/go-milter"

	"github.com/sekisho/sekisho/policy"
)

// TestInternalErrorFollowsOnError: a callback that fails or panics gets
// the configured on_error answer, and the failure is logged.
func TestInternalErrorFollowsOnError(t *testing.T) {
	for _, tt := range []struct {
		onError string
		stage   policy.Stage
		want    string // the reply, "accept" or "continue"
	}{
		{"tempfail", policy.StageEOB, "451 4.7.1 Temporary policy failure, try again later"},
		{"tempfail", policy.StageRcpt, "451 4.7.1 Temporary policy failure, try again later"},
		{"accept", policy.StageEOB, "accept"},
		{"accept", policy.StageRcpt, "continue"},
	} {
		for _, fail := range []string{"error", "panic"} {
			t.Run(fmt.Sprintf("%s/%s/%s", tt.onError, tt.stage, fail), func(t *testing.T) {
				cfg, err := policy.Parse("t.toml", []byte(fmt.Sprintf("on_error = %q\n[rules.blank]\n", tt.onError)))
				if err != nil {
					t.Fatal(err)
				}
				var logs bytes.Buffer
				log := slog.New(slog.NewTextHandler(&logs, nil))
				e, err := policy.NewEngine(cfg, &policy.Env{Logger: log})
				if err != nil {
					t.Fatal(err)
				}
				b := &backend{st: newConnState(NewServer(e, log))}
				resp, err := b.guard(tt.stage, func() (gomilter.Response, error) {
					if fail == "panic" {
						panic("boom")
					}
					return nil, errors.New("spool: disk full")
				})
				if err != nil {
					t.Fatal(err)
				}
				got := "continue"
				switch {
				case resp == gomilter.RespAccept:
					got = "accept"
				case resp != gomilter.RespContinue:
					got = strings.TrimRight(string(resp.Response().Data), "\x00")
				}
				if got != tt.want {
					t.Errorf("answer %q, want %q", got, tt.want)
				}
				if !strings.Contains(logs.String(), "panic in milter callback") && !strings.Contains(logs.String(), "milter callback failed") {
					t.Errorf("the failure was not logged:\n%s", logs.String())
				}
			})
		}
	}
}
