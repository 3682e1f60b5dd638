package policy

import (
	"context"
	"fmt"
	"strconv"
	"strings"
)

// AttachmentSizeConfig is [rules.attachment_size]: attachments larger than
// the recipients allow, by decoded size.
type AttachmentSizeConfig struct {
	RuleCommon
	Max       Size           `toml:"max"`       // per attachment
	MaxTotal  Size           `toml:"max_total"` // all attachments together; 0 = no limit
	Overrides []SizeOverride `toml:"overrides"`

	overrides []sizeOverride
}

// SizeOverride gives some recipients a limit of their own.
type SizeOverride struct {
	Recipients []string `toml:"recipients"`
	Max        Size     `toml:"max"`
}

func (c *AttachmentSizeConfig) setDefaults() {
	c.outcome(Reject, Reply{Code: 552, Enhanced: "5.3.4", Text: "Attachment too large: {filename} ({size}, limit {limit})"})
	c.Max = 3 << 20
	c.Overrides = []SizeOverride{}
}

func (c *AttachmentSizeConfig) validate() []*ConfigError {
	var errs []*ConfigError
	if c.Max <= 0 {
		errs = append(errs, &ConfigError{Key: "max", Msg: "must be above zero"})
	}
	c.overrides = nil
	for _, o := range c.Overrides {
		if len(o.Recipients) == 0 || o.Max <= 0 {
			errs = append(errs, &ConfigError{Key: "overrides", Msg: "each override needs recipients and a max above zero"})
		}
		c.overrides = append(c.overrides, sizeOverride{compilePatterns("overrides", o.Recipients, &errs), o.Max})
	}
	return errs
}

func (c *AttachmentSizeConfig) needs() Needs {
	return Needs{Stages: []Stage{StageEOB}, Vars: []string{"filename", "size", "limit"}, Inspection: true}
}

func (c *AttachmentSizeConfig) build(*Env) (Rule, error) {
	return &attachmentSize{max: c.Max, total: c.MaxTotal, overrides: c.overrides}, nil
}

type sizeOverride struct {
	recipients Patterns
	max        Size
}

// attachmentSize refuses, at end of body, a message with an attachment over
// the limit. With several recipients the smallest of their limits holds:
// one message cannot be split, and no recipient may get more than it allows.
type attachmentSize struct {
	max, total Size
	overrides  []sizeOverride
}

func (r *attachmentSize) Name() string { return "attachment_size" }

// limit returns the per-attachment limit for the message's recipients.
func (r *attachmentSize) limit(rcpts []string) Size {
	if len(rcpts) == 0 {
		return r.max
	}
	var lim Size = -1
	for _, rc := range rcpts {
		l := r.max
		for _, o := range r.overrides {
			if _, ok := o.recipients.Match(rc); ok {
				l = o.max
				break
			}
		}
		if lim < 0 || l < lim {
			lim = l
		}
	}
	return lim
}

func (r *attachmentSize) Check(_ context.Context, _ Stage, m *Message) (Hit, error) {
	lim := r.limit(m.Rcpts)
	var sum int64
	for _, a := range m.Inspection.Attachments {
		if a.Size > int64(lim) {
			return sizeHit(fmt.Sprintf("%s is %d bytes, over the limit of %s", attachmentName(a), a.Size, lim),
				attachmentFilename(a), a.Size, lim), nil
		}
		sum += a.Size
	}
	if r.total > 0 && sum > int64(r.total) {
		return sizeHit(fmt.Sprintf("attachments total %d bytes, over the limit of %s", sum, r.total),
			"all attachments together", sum, r.total), nil
	}
	return Hit{}, nil
}

// sizeHit is a hit of the rule: why for the log; the file's name, its size
// and the limit for a reply.
func sizeHit(why, filename string, size int64, limit Size) Hit {
	sz, l := sizeLike(size, limit), limit.String()
	return Hit{Matched: true, Reason: why, Vars: map[string]string{
		"filename": filename, "size": sz, "limit": l,
		"reason": filename + " is " + sz + ", over the limit of " + l,
	}}
}

// sizeLike writes a byte count in the unit of the limit it went over, to
// one decimal, rounded up so that it never reads as the limit itself:
// 3,000,001 bytes over "3MB" is "3.1MB".
func sizeLike(n int64, limit Size) string {
	unit := strings.TrimLeft(limit.String(), "0123456789")
	m, err := ParseSize("1" + unit)
	if err != nil || m <= 1 {
		return strconv.FormatInt(n, 10) + "B"
	}
	tenths := (n*10 + int64(m) - 1) / int64(m)
	if tenths%10 == 0 {
		return strconv.FormatInt(tenths/10, 10) + unit
	}
	return strconv.FormatInt(tenths/10, 10) + "." + strconv.FormatInt(tenths%10, 10) + unit
}
