package dnsbl

import (
	"context"
	"errors"
	"fmt"
	"math"
	"net"
	"net/netip"
	"strings"
	"sync"
	"sync/atomic"
	"time"

	lru "github.com/hashicorp/golang-lru/v2"
	"github.com/miekg/dns"
	"golang.org/x/sync/singleflight"

	"github.com/sekisho/sekisho/policy/metrics"
)

// CacheConfig sizes the Resolver's cache and bounds how long answers are kept.
type CacheConfig struct {
	// Size is the number of answers kept; zero means 10000, negative disables the cache.
	Size int
	// MinTTL is the shortest time an answer is kept; zero means 30s.
	MinTTL time.Duration
	// MaxTTL is the longest time an answer is kept; zero means 1h.
	MaxTTL time.Duration
	// NegativeTTL is kept for a negative answer without SOA; zero means 5m.
	NegativeTTL time.Duration
	// Now tells the time; nil means time.Now.
	Now func() time.Time
	// Metrics counts each zone's lookups by result and by cache use; nil
	// counts nothing. It is here, with the cache, because the Resolver
	// lives as long as the process.
	Metrics *metrics.Metrics
}

// Stats counts a Resolver's work since it was created.
type Stats struct {
	// Queries is the number of DNS queries sent, TXT and TCP retries included.
	Queries uint64
	// CacheHits is the number of zone lookups answered from the cache.
	CacheHits uint64
	// Errors is the number of zone results returned with an error.
	Errors uint64
}

// Resolver checks addresses against DNS lists. Create one per process: it
// keeps its cache across configuration reloads, and is safe for concurrent use.
type Resolver struct {
	cache   *lru.Cache[cacheKey, *entry] // nil when disabled
	flights singleflight.Group
	minTTL  time.Duration
	maxTTL  time.Duration
	negTTL  time.Duration
	now     func() time.Time
	metrics *metrics.Metrics

	resolvConf string
	sysMu      sync.Mutex
	sysServer  atomic.Pointer[string]

	queries atomic.Uint64
	hits    atomic.Uint64
	errs    atomic.Uint64

	stateMu sync.Mutex
	down    map[string]bool // zones whose last lookup failed
}

// ZoneAnswered records whether a zone's lookup was answered (listed or
// not) or failed, and reports whether that changed since the zone's last
// lookup: the rule logs each change once. A zone is taken to answer until
// a lookup fails. The zone's state is in sekisho_dnsbl_zone_up from its
// first lookup on.
func (r *Resolver) ZoneAnswered(zone string, answered bool) (changed bool) {
	r.stateMu.Lock()
	defer r.stateMu.Unlock()
	down, seen := r.down[zone]
	if seen && down == !answered {
		return false
	}
	if r.down == nil {
		r.down = map[string]bool{}
	}
	r.down[zone] = !answered
	r.metrics.DNSBLZoneUp(zone, answered)
	return down != !answered
}

// cacheKey identifies an answer: the server asked and the query name, held as
// zone and address so that a cache hit builds no string.
type cacheKey struct {
	server string
	zone   string
	ip     netip.Addr
}

// entry is a cached answer. It is never modified once stored.
type entry struct {
	codes   []netip.Addr
	txt     string
	expires time.Time
}

// flight is what a lookup shared by concurrent Checks returns.
type flight struct {
	e      *entry
	cached bool
}

// pending is a zone whose answer is awaited.
type pending struct {
	idx int
	ch  <-chan singleflight.Result
}

// errInvalidAddr is returned for every zone when the address is not valid.
var errInvalidAddr = errors.New("dnsbl: invalid client address")

// NewResolver returns a Resolver whose cache follows c.
func NewResolver(c CacheConfig) *Resolver {
	r := &Resolver{
		minTTL:     orDefault(c.MinTTL, 30*time.Second),
		maxTTL:     orDefault(c.MaxTTL, time.Hour),
		negTTL:     orDefault(c.NegativeTTL, 5*time.Minute),
		now:        c.Now,
		metrics:    c.Metrics,
		resolvConf: "/etc/resolv.conf",
	}
	if r.maxTTL < r.minTTL {
		r.maxTTL = r.minTTL
	}
	if r.now == nil {
		r.now = time.Now
	}
	if c.Size >= 0 {
		// lru.New fails only for a size below 1.
		r.cache, _ = lru.New[cacheKey, *entry](orDefault(c.Size, 10000))
	}
	return r
}

// orDefault returns v, or def when v is zero.
func orDefault[T time.Duration | int](v, def T) T {
	if v == 0 {
		return def
	}
	return v
}

// Stats returns the counters so far.
func (r *Resolver) Stats() Stats {
	return Stats{Queries: r.queries.Load(), CacheHits: r.hits.Load(), Errors: r.errs.Load()}
}

// Check looks ip up in every zone at once and returns when all have answered,
// or when ctx or opt.Timeout ends, whichever comes first: zones still
// unanswered then carry ErrTimeout (or ctx's error). Answers are cached per
// server and query name; concurrent misses for the same name share one query.
func (r *Resolver) Check(ctx context.Context, ip netip.Addr, zones []Zone, opt Options) Result {
	res := Result{Zones: make([]ZoneResult, len(zones))}
	if len(zones) == 0 {
		return res
	}
	ip = ip.Unmap().WithZone("")
	server, err := r.server(opt.Server)
	if err == nil && !ip.IsValid() {
		err = errInvalidAddr
	}
	if err != nil {
		for i, z := range zones {
			res.Zones[i] = ZoneResult{Zone: z.Name, Weight: z.Weight, Err: err}
			r.metrics.DNSBLLookup(z.Name, "error")
		}
		r.errs.Add(uint64(len(zones)))
		return res
	}

	now := r.now()
	var wait []pending
	for i, z := range zones {
		zr := &res.Zones[i]
		*zr = ZoneResult{Zone: z.Name, Weight: z.Weight}
		if e, ok := r.lookupCache(cacheKey{server, normZone(z.Name), ip}, now); ok {
			r.hits.Add(1)
			zr.Cached = true
			settle(zr, z, ip, e)
			continue
		}
		wait = append(wait, pending{idx: i})
	}
	if len(wait) > 0 {
		r.resolve(ctx, &res, ip, zones, server, opt.Timeout, wait)
	}

	for _, zr := range res.Zones {
		if zr.Listed {
			res.Score += zr.Weight
		}
		if zr.Err != nil {
			r.errs.Add(1)
		}
		r.count(zr)
	}
	return res
}

// count records one zone's result in the metrics. An answer outside the
// zone's codes is an error there, as in Result.Errors: the rule counts it
// as "not listed", but it means the list cannot be used as configured
// (such as Spamhaus refusing a public resolver), which is what an
// operator must see.
func (r *Resolver) count(zr ZoneResult) {
	if r.metrics == nil {
		return
	}
	result := "clean"
	switch {
	case zr.Err != nil:
		result = "error"
	case zr.Listed:
		result = "listed"
	}
	r.metrics.DNSBLLookup(zr.Zone, result)
	r.metrics.DNSBLCache(zr.Zone, zr.Cached)
}

// resolve queries the zones in wait in parallel and fills in their results.
func (r *Resolver) resolve(ctx context.Context, res *Result, ip netip.Addr, zones []Zone, server string, timeout time.Duration, wait []pending) {
	if timeout <= 0 {
		timeout = DefaultTimeout
	}
	ctx, cancel := context.WithTimeout(ctx, timeout)
	defer cancel()
	deadline, _ := ctx.Deadline()
	// A shared lookup outlives a caller that gives up, so that the others
	// waiting on it, and the cache, still get its answer.
	base := context.WithoutCancel(ctx)

	for i := range wait {
		z := zones[wait[i].idx]
		key := cacheKey{server, normZone(z.Name), ip}
		qname := QueryName(ip, key.zone)
		listed := z.Listed
		if len(listed) == 0 {
			listed = defaultListed
		}
		wait[i].ch = r.flights.DoChan(server+" "+qname, func() (any, error) {
			return r.lookup(base, deadline, key, qname, listed)
		})
	}

	for _, p := range wait {
		z := zones[p.idx]
		zr := &res.Zones[p.idx]
		select {
		case fr := <-p.ch:
			if fr.Err != nil {
				zr.Err = fr.Err
				continue
			}
			f := fr.Val.(flight)
			zr.Cached = f.cached
			settle(zr, z, ip, f.e)
		case <-ctx.Done():
			qname := QueryName(ip, z.Name)
			if errors.Is(ctx.Err(), context.DeadlineExceeded) {
				zr.Err = fmt.Errorf("%w for %s: %w", ErrTimeout, qname, ctx.Err())
			} else {
				zr.Err = fmt.Errorf("dnsbl: query %s: %w", qname, ctx.Err())
			}
		}
	}
}

// settle sets a zone result from an answer.
func settle(zr *ZoneResult, z Zone, ip netip.Addr, e *entry) {
	zr.Codes = e.codes
	if len(e.codes) == 0 {
		return
	}
	listed := z.Listed
	if len(listed) == 0 {
		listed = defaultListed
	}
	if anyIn(e.codes, listed) {
		zr.Listed = true
		zr.TXT = e.txt
		return
	}
	codes := make([]string, len(e.codes))
	for i, c := range e.codes {
		codes[i] = c.String()
	}
	zr.Err = fmt.Errorf("%w: %s for %s", ErrUnexpectedCode, strings.Join(codes, ", "), QueryName(ip, z.Name))
}

// lookupCache returns the unexpired answer for key.
func (r *Resolver) lookupCache(key cacheKey, now time.Time) (*entry, bool) {
	if r.cache == nil {
		return nil, false
	}
	e, ok := r.cache.Get(key)
	if !ok || !now.Before(e.expires) {
		return nil, false
	}
	return e, true
}

// lookup queries the A records of qname, and its TXT records when listed,
// and caches the answer. Errors are never cached.
func (r *Resolver) lookup(base context.Context, deadline time.Time, key cacheKey, qname string, listed []Range) (any, error) {
	// A Check that missed the cache just before another's lookup ended
	// finds the answer here rather than asking again.
	if e, ok := r.lookupCache(key, r.now()); ok {
		r.hits.Add(1)
		return flight{e: e, cached: true}, nil
	}
	ctx, cancel := context.WithDeadline(base, deadline)
	defer cancel()

	m, err := r.exchange(ctx, key.server, qname, dns.TypeA)
	if err != nil {
		return nil, err
	}
	e := &entry{}
	var ttl time.Duration
	switch m.Rcode {
	case dns.RcodeSuccess:
		minTTL := uint32(math.MaxUint32)
		for _, rr := range m.Answer {
			a, ok := rr.(*dns.A)
			if !ok {
				continue
			}
			if addr, ok := netip.AddrFromSlice(a.A); ok {
				e.codes = append(e.codes, addr.Unmap())
				minTTL = min(minTTL, a.Hdr.Ttl)
			}
		}
		if len(e.codes) > 0 {
			ttl = time.Duration(minTTL) * time.Second
		} else {
			ttl = r.negativeTTL(m)
		}
	case dns.RcodeNameError:
		ttl = r.negativeTTL(m)
	default:
		return nil, fmt.Errorf("%w %s for %s", ErrRcode, dns.RcodeToString[m.Rcode], qname)
	}
	if anyIn(e.codes, listed) {
		e.txt = r.fetchTXT(ctx, key.server, qname)
	}
	e.expires = r.now().Add(min(max(ttl, r.minTTL), r.maxTTL))
	if r.cache != nil {
		r.cache.Add(key, e)
	}
	return flight{e: e}, nil
}

// negativeTTL returns how long a negative answer may be kept: the smaller of
// the SOA's TTL and its MINIMUM field (RFC 2308 section 5), or NegativeTTL
// when the authority section holds no SOA.
func (r *Resolver) negativeTTL(m *dns.Msg) time.Duration {
	for _, rr := range m.Ns {
		if soa, ok := rr.(*dns.SOA); ok {
			return time.Duration(min(soa.Hdr.Ttl, soa.Minttl)) * time.Second
		}
	}
	return r.negTTL
}

// fetchTXT returns the TXT records of qname joined with "; ", or "" on any
// failure. It uses at most half of the time left, so that a slow TXT answer
// cannot turn a listing into a timeout.
func (r *Resolver) fetchTXT(ctx context.Context, server, qname string) string {
	deadline, _ := ctx.Deadline()
	ctx, cancel := context.WithTimeout(ctx, time.Until(deadline)/2)
	defer cancel()
	m, err := r.exchange(ctx, server, qname, dns.TypeTXT)
	if err != nil || m.Rcode != dns.RcodeSuccess {
		return ""
	}
	var parts []string
	for _, rr := range m.Answer {
		if t, ok := rr.(*dns.TXT); ok {
			parts = append(parts, strings.Join(t.Txt, ""))
		}
	}
	return strings.Join(parts, "; ")
}

// exchange sends one recursive query over UDP, and again over TCP when the
// reply is truncated (RFC 7766 section 5). ctx must carry a deadline.
func (r *Resolver) exchange(ctx context.Context, server, qname string, qtype uint16) (*dns.Msg, error) {
	q := new(dns.Msg)
	q.SetQuestion(qname, qtype)
	q.RecursionDesired = true
	deadline, _ := ctx.Deadline()
	c := dns.Client{Net: "udp", Timeout: time.Until(deadline)}
	r.queries.Add(1)
	m, _, err := c.ExchangeContext(ctx, q, server)
	if err == nil && m.Truncated {
		c.Net = "tcp"
		c.Timeout = time.Until(deadline)
		r.queries.Add(1)
		m, _, err = c.ExchangeContext(ctx, q, server)
	}
	if err != nil {
		var ne net.Error
		if errors.Is(err, context.DeadlineExceeded) || errors.As(err, &ne) && ne.Timeout() {
			return nil, fmt.Errorf("%w for %s: %w", ErrTimeout, qname, err)
		}
		return nil, fmt.Errorf("dnsbl: query %s: %w", qname, err)
	}
	if len(m.Question) != 1 || m.Question[0].Qtype != qtype || !strings.EqualFold(m.Question[0].Name, qname) {
		return nil, fmt.Errorf("dnsbl: query %s: reply is for another question", qname)
	}
	return m, nil
}

// server returns the address to query: s, with port 53 when it has none, or
// the first nameserver of resolv.conf when s is empty.
func (r *Resolver) server(s string) (string, error) {
	if s == "" {
		return r.systemServer()
	}
	if _, _, err := net.SplitHostPort(s); err != nil {
		return net.JoinHostPort(strings.Trim(s, "[]"), "53"), nil
	}
	return s, nil
}

// systemServer reads resolv.conf once, the first time it succeeds.
func (r *Resolver) systemServer() (string, error) {
	if s := r.sysServer.Load(); s != nil {
		return *s, nil
	}
	r.sysMu.Lock()
	defer r.sysMu.Unlock()
	if s := r.sysServer.Load(); s != nil {
		return *s, nil
	}
	cc, err := dns.ClientConfigFromFile(r.resolvConf)
	if err != nil {
		return "", fmt.Errorf("dnsbl: read %s: %w", r.resolvConf, err)
	}
	if len(cc.Servers) == 0 {
		return "", fmt.Errorf("dnsbl: no nameserver in %s", r.resolvConf)
	}
	s := net.JoinHostPort(cc.Servers[0], cc.Port)
	r.sysServer.Store(&s)
	return s, nil
}
