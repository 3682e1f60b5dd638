package policy_test

import (
	"context"
	"testing"

	"github.com/sekisho/sekisho/policy"
)

// The rule's default replies.
const (
	asciiSubjectReply = "550 5.7.1 The subject has no Japanese (non-ASCII) text"
	asciiBodyReply    = "550 5.7.1 The body has no Japanese (non-ASCII) text"
)

func TestASCIIOnlyBodyOff(t *testing.T) {
	e := newEngine(t, "[rules.ascii_only]\nbody = false\n", nil)
	if e.Needs(policy.StageEOB) {
		t.Error("Needs(eob) with the body check off")
	}
	expectContinue(t, e.Run(context.Background(), policy.StageEOB, fileMessage(t, "plain-ascii.eml")))
	expect(t, e.Run(context.Background(), policy.StageEOH, headerMessage(policy.Header{Name: "Subject", Value: "Hello"})),
		"ascii_only", policy.Reject, asciiSubjectReply)
}
