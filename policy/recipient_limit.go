package policy

import (
	"context"
	"fmt"
	"net/mail"
	"strconv"
	"strings"

	"github.com/sekisho/sekisho/policy/mime"
)

// RecipientLimitConfig is [rules.recipient_limit]: mail to too many
// recipients at once.
type RecipientLimitConfig struct {
	RuleCommon
	Max          int  `toml:"max"`
	CountHeaders bool `toml:"count_headers"`
}

func (c *RecipientLimitConfig) setDefaults() {
	c.outcome(Reject, Reply{Code: 550, Enhanced: "5.5.3", Text: "Too many recipients"})
	c.Max = 9
}

func (c *RecipientLimitConfig) validate() []*ConfigError {
	if c.Max < 1 {
		return []*ConfigError{{Key: "max", Msg: fmt.Sprintf("must be at least 1, not %d", c.Max)}}
	}
	return nil
}

func (c *RecipientLimitConfig) needs() Needs {
	return Needs{Stages: recipientLimitStages(c.CountHeaders), Vars: []string{"count", "limit"}}
}

func (c *RecipientLimitConfig) build(*Env) (Rule, error) {
	return &recipientLimit{max: c.Max, headers: c.CountHeaders}, nil
}

// recipientLimit refuses a message whose envelope (at RCPT) or whose To and
// Cc headers (at end of headers) name more than max recipients. The
// envelope case refuses the message as a whole: the recipient that goes
// over the limit, every later one, and the message itself at end of headers,
// so that nobody receives it.
type recipientLimit struct {
	max     int
	headers bool
}

func (r *recipientLimit) Name() string { return "recipient_limit" }

func recipientLimitStages(headers bool) []Stage {
	if headers {
		return []Stage{StageRcpt, StageEOH}
	}
	return []Stage{StageRcpt}
}

func (r *recipientLimit) Check(_ context.Context, stage Stage, m *Message) (Hit, error) {
	switch stage {
	case StageRcpt:
		if n := len(m.Rcpts) + 1; n > r.max {
			return Hit{Matched: true, WholeMessage: true, Reason: fmt.Sprintf("envelope recipient %d exceeds the limit of %d", n, r.max),
				Vars: r.vars(n, "envelope recipients")}, nil
		}
	case StageEOH:
		if n := HeaderRecipients(m); n > r.max {
			return Hit{Matched: true, Reason: fmt.Sprintf("To and Cc name %d distinct addresses, over the limit of %d", n, r.max),
				Vars: r.vars(n, "addresses in To and Cc")}, nil
		}
	}
	return Hit{}, nil
}

// vars are a hit's placeholders: the count found (at RCPT, the recipient
// that went over), the limit, and a short reason naming what was counted.
func (r *recipientLimit) vars(n int, what string) map[string]string {
	return map[string]string{"count": strconv.Itoa(n), "limit": strconv.Itoa(r.max),
		"reason": fmt.Sprintf("more than %d %s", r.max, what)}
}

// HeaderRecipients counts the distinct addresses named in the To and Cc
// header fields (RFC 5322 §3.6.3), groups included. A field that does not
// parse as an address list is counted by its "@" signs, so that garbage
// cannot hide recipients.
func HeaderRecipients(m *Message) int {
	seen := map[string]bool{}
	unparsed := 0
	for _, h := range m.Headers {
		if !strings.EqualFold(h.Name, "To") && !strings.EqualFold(h.Name, "Cc") {
			continue
		}
		list, err := mail.ParseAddressList(mime.Unfold(h.Value))
		if err != nil {
			unparsed += strings.Count(h.Value, "@")
			continue
		}
		for _, a := range list {
			seen[strings.ToLower(a.Address)] = true
		}
	}
	return len(seen) + unparsed
}
