package policy

import (
	"context"
	"errors"
	"fmt"
	"io"
	"strings"
	"time"

	"github.com/sekisho/sekisho/policy/clamd"
	"github.com/sekisho/sekisho/policy/metrics"
	"github.com/sekisho/sekisho/policy/mime"
	"github.com/sekisho/sekisho/policy/ratelimit"
)

// VirusConfig is [rules.virus]: mail clamd finds a virus in.
type VirusConfig struct {
	RuleCommon
	Address     string   `toml:"address"`       // "unix:/run/clamav/clamd.ctl" or "inet:127.0.0.1:3310"; no default
	Timeout     Duration `toml:"timeout"`       // per clamd operation
	MaxScanSize Size     `toml:"max_scan_size"` // per message, or per part; at or below clamd's StreamMaxLength (Debian: 25MB)
	Oversize    string   `toml:"oversize"`      // "skip" (accept with a tag header) or "tempfail"
	Scan        string   `toml:"scan"`          // "parts": the decoded parts (one clamd session a message); "message": the raw message
	ScanText    bool     `toml:"scan_text"`     // parts: the body text too (off by default)
	ScanImages  bool     `toml:"scan_images"`   // parts: images too
	// The verdict cache (parts mode): clamd's verdicts kept by the
	// SHA-256 of the bytes scanned and clamd's signature version.
	Cache         StoreConfig `toml:"cache"`           // "memory", "off", or a Redis URL or table as rate_limit's store
	CacheEntries  int         `toml:"cache_entries"`   // verdicts kept at most (in memory)
	CacheTTL      Duration    `toml:"cache_ttl"`       // how long one is kept
	CachePartSize Size        `toml:"cache_part_size"` // larger parts are streamed to clamd, not cached
	CacheTimeout  Duration    `toml:"cache_timeout"`   // per Redis call

	client *clamd.Client
}

// needs: clamd decides, from the raw message, or in parts mode from the
// parts the inspection decodes; in message mode clamd still gets the
// archive entries a password opened, when the message is inspected.
func (c *VirusConfig) needs() Needs {
	parts := PartsIfInspected
	if c.Scan == "parts" {
		parts = EveryPart
	}
	return Needs{Stages: []Stage{StageEOB}, Vars: []string{"virus", "filename"}, Stream: true, Parts: parts, Network: true, Derive: true}
}

func (c *VirusConfig) setDefaults() {
	c.outcome(Reject, Reply{Code: 554, Enhanced: "5.7.1", Text: "Virus found: {virus}"})
	c.Timeout = Duration(30 * time.Second)
	c.MaxScanSize = 25 << 20
	c.Oversize = "skip"
	c.Scan = "parts"
	c.Cache = StoreConfig{text: "memory"}
	c.CacheEntries = 100000
	c.CacheTTL = Duration(time.Hour)
	c.CachePartSize = 4 << 20
	c.CacheTimeout = Duration(time.Second)
}

// derive tells the forms of cache apart: a table is decoded over the
// default "memory", a string replaces it.
func (c *VirusConfig) derive(set func(key string) bool) { c.Cache.derive(set("cache")) }

// cacheOff reports whether no verdict is kept.
func (c *VirusConfig) cacheOff() bool { return c.Cache.form != storeTable && c.Cache.text == "off" }

func (c *VirusConfig) validate() []*ConfigError {
	var errs []*ConfigError
	cl, err := clamd.Parse(c.Address)
	if err != nil {
		errs = append(errs, &ConfigError{Key: "address", Msg: err.Error()})
	}
	c.client = cl
	if c.Timeout <= 0 {
		errs = append(errs, &ConfigError{Key: "timeout", Msg: "must be above zero"})
	}
	if c.MaxScanSize <= 0 {
		errs = append(errs, &ConfigError{Key: "max_scan_size", Msg: "must be above zero"})
	}
	if c.Oversize != "skip" && c.Oversize != "tempfail" {
		errs = append(errs, &ConfigError{Key: "oversize", Msg: fmt.Sprintf("must be skip or tempfail, not %q", c.Oversize)})
	}
	if c.Scan != "parts" && c.Scan != "message" {
		errs = append(errs, &ConfigError{Key: "scan", Msg: fmt.Sprintf("must be parts or message, not %q", c.Scan)})
	}
	switch {
	case c.cacheOff():
	case c.Cache.form != storeTable && c.Cache.text != "memory" && !ratelimit.IsRedisURL(c.Cache.text):
		errs = append(errs, &ConfigError{Key: "cache", Msg: fmt.Sprintf("want \"memory\", \"off\", a Redis URL (%s) or a table with sentinels or nodes, not %q",
			ratelimit.RedisSchemes, ratelimit.Redact(c.Cache.text))})
	default:
		for _, e := range c.Cache.validate() {
			e.Key = "cache" + strings.TrimPrefix(e.Key, "store")
			errs = append(errs, e)
		}
	}
	if c.CacheTimeout <= 0 {
		errs = append(errs, &ConfigError{Key: "cache_timeout", Msg: "must be above zero"})
	}
	if c.CacheEntries < 1 {
		errs = append(errs, &ConfigError{Key: "cache_entries", Msg: fmt.Sprintf("must be at least 1, not %d", c.CacheEntries)})
	}
	if c.CacheTTL <= 0 {
		errs = append(errs, &ConfigError{Key: "cache_ttl", Msg: "must be above zero"})
	}
	if c.CachePartSize <= 0 {
		errs = append(errs, &ConfigError{Key: "cache_part_size", Msg: "must be above zero"})
	}
	if c.Action == Tempfail {
		errs = append(errs, &ConfigError{Key: "action", Msg: "a virus is not a temporary condition: use reject, discard or quarantine"})
	}
	return errs
}

func (c *VirusConfig) build(env *Env) (Rule, error) {
	cl := *c.client
	cl.Timeout = c.Timeout.D()
	cl.Metrics = env.Metrics
	cl.Health = env.clamdHealth(cl.String())
	r := &virus{client: &cl, max: int64(c.MaxScanSize), tempfailOversize: c.Oversize == "tempfail",
		parts: c.Scan == "parts", text: c.ScanText, images: c.ScanImages, metrics: env.Metrics,
		cachePart: int64(c.CachePartSize), cacheTTL: c.CacheTTL.D()}
	if c.cacheOff() {
		return r, nil
	}
	r.cache = env.verdictCache(c.CacheEntries, c.CacheTTL.D())
	if c.Cache.memory() {
		return r, nil
	}
	var err error
	r.remote, err = r.cache.remoteVerdicts(env, c.Cache.url, c.CacheTimeout.D())
	return r, err
}

// virus streams each message to clamd as the MTA passes it on and reads
// the verdict at end of body. clamd down, too slow or over its size limit
// is an error (the rule's on_error); a message over max_scan_size is not
// sent and follows the oversize policy; neither passes silently.
type virus struct {
	client           *clamd.Client
	max              int64
	tempfailOversize bool
	parts            bool // scan the decoded parts, not the raw message
	text, images     bool // in parts mode, scan those parts too
	metrics          *metrics.Metrics
	cache            *verdictCache   // nil when off; asks clamd's signature version
	remote           *remoteVerdicts // the verdicts are kept in Redis; nil in memory
	cacheTTL         time.Duration
	cachePart        int64 // parts up to this size are held, hashed and looked up
}

// clamdError reports a scan that clamd did not answer, counted by kind
// once per message.
func (r *virus) clamdError(err error) error {
	r.metrics.ClamdError(clamd.Kind(err))
	return fmt.Errorf("clamd: %w", err)
}

func (r *virus) Name() string { return "virus" }

// errOversize marks a message larger than max_scan_size.
var errOversize = errors.New("message larger than max_scan_size")

// virusSink feeds one clamd stream, stopping at max_scan_size. clamd
// cannot open an encrypted archive in the raw message: the entries the
// inspection decrypts with a password (PPAP pairing) go to it in a session
// of their own.
type virusSink struct {
	s   *clamd.Stream
	n   int64
	max int64
	dec *partsScan // the decrypted entries
}

// Part takes the decrypted archive entries, and no other part: clamd
// reads those in the raw message.
func (v *virusSink) Part(info mime.PartInfo) io.WriteCloser {
	if !info.Decrypted {
		return nil
	}
	return v.dec.Part(info)
}

func (v *virusSink) Write(p []byte) (int, error) {
	v.n += int64(len(p))
	if v.n > v.max {
		return 0, errOversize
	}
	return v.s.Write(p)
}

func (v *virusSink) Abort() {
	v.s.Abort()
	v.dec.Abort()
}

// OpenStream starts the scan of one message: an INSTREAM of the raw
// message, or in parts mode a sink that the inspection hands the parts to.
func (r *virus) OpenStream(ctx context.Context, _ *Message) (StreamSink, error) {
	if r.parts {
		return &partsScan{r: r, ctx: ctx}, nil
	}
	s, err := r.client.NewStream(ctx)
	if err != nil {
		return nil, err
	}
	return &virusSink{s: s, max: r.max, dec: &partsScan{r: r, ctx: ctx}}, nil
}

// CheckStream reads clamd's verdict on the stream of the message.
func (r *virus) CheckStream(_ context.Context, m *Message, sink StreamSink, err error) (Hit, error) {
	if p, ok := sink.(*partsScan); ok && err == nil {
		return p.verdict(m)
	}
	switch {
	case errors.Is(err, errOversize):
		return r.oversize(m)
	case err != nil:
		return Hit{}, r.clamdError(err)
	}
	v := sink.(*virusSink)
	res, err := v.s.Close()
	if err != nil {
		v.dec.Abort()
		return Hit{}, r.clamdError(err)
	}
	if hit := r.result(res); hit.Matched {
		v.dec.Abort()
		return hit, nil
	}
	if !v.dec.used() {
		return Hit{}, nil
	}
	return v.dec.verdict(m)
}

// Check scans a message that was not streamed, from its raw bytes.
func (r *virus) Check(ctx context.Context, _ Stage, m *Message) (Hit, error) {
	if m.Size > r.max {
		return r.oversize(m)
	}
	if m.Raw == nil {
		return Hit{}, errors.New("clamd: the message was not streamed to the scanner and its body is not available")
	}
	raw, err := m.Raw()
	if err != nil {
		return Hit{}, err
	}
	defer raw.Close()
	res, err := r.client.Scan(ctx, &capped{r: raw, left: r.max})
	if errors.Is(err, errOversize) {
		return r.oversize(m)
	}
	if err != nil {
		return Hit{}, r.clamdError(err)
	}
	return r.result(res), nil
}

// result turns clamd's answer into a hit.
func (r *virus) result(res clamd.Result) Hit {
	if !res.Infected {
		return Hit{}
	}
	return Hit{Matched: true, Reason: "clamd found " + res.Virus, Vars: map[string]string{"virus": res.Virus, "filename": "", "reason": "virus " + res.Virus}}
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
