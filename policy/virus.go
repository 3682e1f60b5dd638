package policy

import (
	"context"
	"errors"
	"fmt"
	"io"
	"time"

	"github.com/sekisho/sekisho/policy/clamd"
)

// VirusConfig is [rules.virus]: mail clamd finds a virus in.
type VirusConfig struct {
	RuleCommon
	Address     string   `toml:"address"`       // "unix:/run/clamav/clamd.ctl" or "inet:127.0.0.1:3310"
	Timeout     Duration `toml:"timeout"`       // per clamd operation; default 30s
	MaxScanSize Size     `toml:"max_scan_size"` // default 25MB, Debian's StreamMaxLength
	Oversize    string   `toml:"oversize"`      // "skip" (accept with a tag header, default) or "tempfail"
}

func (c *VirusConfig) defaults() (Action, Reply) {
	return Reject, Reply{Code: 554, Enhanced: "5.7.1", Text: "Virus found: {virus}"}
}

func (c *VirusConfig) check() []*ConfigError {
	var errs []*ConfigError
	if _, err := clamd.Parse(c.Address); err != nil {
		errs = append(errs, &ConfigError{Key: "address", Msg: err.Error()})
	}
	if c.Oversize != "" && c.Oversize != "skip" && c.Oversize != "tempfail" {
		errs = append(errs, &ConfigError{Key: "oversize", Msg: fmt.Sprintf("must be skip or tempfail, not %q", c.Oversize)})
	}
	if c.Action != nil && *c.Action == Tempfail {
		errs = append(errs, &ConfigError{Key: "action", Msg: "a virus is not a temporary condition: use reject, discard or quarantine"})
	}
	return errs
}

func (c *VirusConfig) build(*Env) (Rule, error) {
	cl, err := clamd.Parse(c.Address)
	if err != nil {
		return nil, err
	}
	cl.Timeout = c.Timeout.D()
	if cl.Timeout == 0 {
		cl.Timeout = 30 * time.Second
	}
	r := &virus{client: cl, max: int64(c.MaxScanSize), tempfailOversize: c.Oversize == "tempfail"}
	if r.max == 0 {
		r.max = 25 << 20
	}
	return r, nil
}

// virus streams each message to clamd as the MTA passes it on and reads
// the verdict at end of body. clamd down, too slow or over its size limit
// is an error (the rule's on_error); a message over max_scan_size is not
// sent and follows the oversize policy; neither passes silently.
type virus struct {
	client           *clamd.Client
	max              int64
	tempfailOversize bool
}

func (r *virus) Name() string    { return "virus" }
func (r *virus) Stages() []Stage { return []Stage{StageBody} }

// errOversize marks a message larger than max_scan_size.
var errOversize = errors.New("message larger than max_scan_size")

// virusSink feeds one clamd stream, stopping at max_scan_size.
type virusSink struct {
	s   *clamd.Stream
	n   int64
	max int64
}

func (v *virusSink) Write(p []byte) (int, error) {
	v.n += int64(len(p))
	if v.n > v.max {
		return 0, errOversize
	}
	return v.s.Write(p)
}

func (v *virusSink) Abort() { v.s.Abort() }

// OpenStream starts an INSTREAM scan for one message.
func (r *virus) OpenStream(ctx context.Context, _ *Message) (StreamSink, error) {
	s, err := r.client.NewStream(ctx)
	if err != nil {
		return nil, err
	}
	return &virusSink{s: s, max: r.max}, nil
}

func (r *virus) Check(ctx context.Context, _ Stage, m *Message) (Hit, error) {
	var res clamd.Result
	sink, err := m.stream(r.Name())
	switch {
	case errors.Is(err, errOversize) || (errors.Is(err, errNoStream) && m.Size > r.max):
		return r.oversize(m)
	case errors.Is(err, errNoStream) && m.Raw != nil:
		raw, err := m.Raw()
		if err != nil {
			return Hit{}, err
		}
		defer raw.Close()
		res, err = r.client.Scan(ctx, &capped{r: raw, left: r.max})
		if errors.Is(err, errOversize) {
			return r.oversize(m)
		}
		if err != nil {
			return Hit{}, fmt.Errorf("clamd: %w", err)
		}
	case err != nil:
		return Hit{}, fmt.Errorf("clamd: %w", err)
	default:
		delete(m.state.streams, r.Name())
		if res, err = sink.(*virusSink).s.Close(); err != nil {
			return Hit{}, fmt.Errorf("clamd: %w", err)
		}
	}
	if !res.Infected {
		return Hit{}, nil
	}
	return Hit{Matched: true, Reason: "clamd found " + res.Virus, Vars: map[string]string{"virus": res.Virus}}, nil
}

func (r *virus) oversize(m *Message) (Hit, error) {
	reason := fmt.Sprintf("not scanned: message of %d bytes is over max_scan_size %s", m.Size, Size(r.max))
	if m.Size <= r.max {
		reason = fmt.Sprintf("not scanned: message is over max_scan_size %s", Size(r.max))
	}
	if r.tempfailOversize {
		return Hit{Matched: true, Reason: reason, Action: Tempfail, Reply: Reply{Code: 452, Enhanced: "4.3.4", Text: "Message too large to scan, try again later"}}, nil
	}
	return Hit{Matched: true, Reason: reason, Action: Tag}, nil
}

// capped reads at most left bytes, then fails with errOversize, so that
// max_scan_size holds whatever Message.Size says.
type capped struct {
	r    io.Reader
	left int64
}

func (c *capped) Read(p []byte) (int, error) {
	n, err := c.r.Read(p)
	c.left -= int64(n)
	if c.left < 0 {
		return 0, errOversize
	}
	return n, err
}
