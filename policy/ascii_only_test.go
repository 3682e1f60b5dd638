package policy_test

import (
	"context"
	"testing"

	"github.com/sekisho/sekisho/policy"
)

// The rule's default replies.
const (
	rtASCIISubject = "550 5.7.1 The subject has no Japanese (non-ASCII) text"
	rtASCIIBody    = "550 5.7.1 The body has no Japanese (non-ASCII) text"
)

func TestASCIIOnlyBodyOff(t *testing.T) {
	e := rtEngine(t, "[rules.ascii_only]\nbody = false\n", nil)
	if e.Needs(policy.StageEOB) {
		t.Error("Needs(eob) with the body check off")
	}
	rtExpectContinue(t, e.Run(context.Background(), policy.StageEOB, rtFileMessage(t, "plain-ascii.eml")))
	rtExpect(t, e.Run(context.Background(), policy.StageEOH, rtHeaderMessage(policy.Header{Name: "Subject", Value: "Hello"})),
		"ascii_only", policy.Reject, rtASCIISubject)
}
