package policy

import (
	"context"
	"crypto/sha256"
	"encoding/hex"
	"errors"
	"log/slog"
	"sync"
	"sync/atomic"
	"time"

	"github.com/hashicorp/golang-lru/v2/expirable"
	"github.com/prometheus/client_golang/prometheus"
	"github.com/redis/go-redis/v9"

	"github.com/sekisho/sekisho/policy/clamd"
	"github.com/sekisho/sekisho/policy/metrics"
	"github.com/sekisho/sekisho/policy/ratelimit"
)

// The verdict cache of the virus rule in parts mode: clamd's verdict on a
// part, kept by the SHA-256 of the bytes sent to it and by clamd's
// signature version (engine and database, from VERSION). The same file
// sent to a whole department, a newsletter, a campaign's attachment, is
// scanned once per signature update. A new signature version changes
// every key: no "clean" outlives an update, and the old entries are
// dropped. Clean and infected verdicts are kept, errors never, nor parts
// cut at max_scan_size, nor parts larger than cache_part_size, which are
// streamed to clamd as they are decoded.
//
// The verdicts are kept in the process (an LRU), or in Redis, where every
// MX host on the same servers finds what the others scanned.

// versionCheck is how often clamd's signature version is asked again
// (freshclam checks for updates every hour by default; clamd reloads
// them within SelfCheck, 10 minutes by default).
const versionCheck = time.Minute

// verdictCache is the process's cache: it outlives reloads.
type verdictCache struct {
	mu      sync.Mutex
	entries *expirable.LRU[[sha256.Size]byte, clamd.Result]
	size    int
	ttl     time.Duration
	// version is the signature version of the clamd last asked, "" when
	// unknown (the cache is then not used); asked is when it was asked.
	version string
	asked   time.Time
	address string
	now     func() time.Time
	// remote holds the Redis stores of the verdicts, by redisKey; like the
	// cache, they outlive reloads.
	remote map[string]*remoteVerdicts
}

// verdictCache returns the process's verdict cache, resized when a reload
// changes its size or lifetime (its entries are then dropped).
func (env *Env) verdictCache(size int, ttl time.Duration) *verdictCache {
	env.mu.Lock()
	defer env.mu.Unlock()
	c := env.verdicts
	if c == nil || c.size != size || c.ttl != ttl {
		now := env.Now
		if now == nil {
			now = time.Now
		}
		var remote map[string]*remoteVerdicts
		if c != nil {
			c.mu.Lock()
			remote = c.remote
			c.mu.Unlock()
		}
		c = &verdictCache{entries: expirable.NewLRU[[sha256.Size]byte, clamd.Result](size, nil, ttl), size: size, ttl: ttl, now: now, remote: remote}
		env.verdicts = c
	}
	// A reload asks clamd's version again before the next lookup.
	c.mu.Lock()
	c.asked = time.Time{}
	c.mu.Unlock()
	return c
}

// signatures returns the signature version of cl's clamd, asking it when
// the last answer is older than versionCheck or came from another clamd;
// "" when it cannot be known, and the cache is then not used.
func (c *verdictCache) signatures(ctx context.Context, cl *clamd.Client) string {
	c.mu.Lock()
	now := c.now()
	if c.address == cl.String() && !c.asked.IsZero() && now.Sub(c.asked) < versionCheck {
		v := c.version
		c.mu.Unlock()
		return v
	}
	// One message asks; the others go on with the version known until
	// the answer comes.
	c.asked, c.address = now, cl.String()
	c.mu.Unlock()
	reply, err := cl.Version(ctx)
	v, ok := clamd.SignatureVersion(reply)
	if err != nil || !ok {
		v = ""
	}
	c.mu.Lock()
	defer c.mu.Unlock()
	if v != c.version {
		// New signatures: every verdict kept is of the old ones.
		c.entries.Purge()
		c.version = v
	}
	return v
}

// key names a part's content under a signature version.
func cacheKey(version string, sum [sha256.Size]byte) [sha256.Size]byte {
	h := sha256.New()
	h.Write([]byte(version))
	h.Write([]byte{0})
	h.Write(sum[:])
	var k [sha256.Size]byte
	h.Sum(k[:0])
	return k
}

// cached returns the verdict kept on a part's content under a signature
// version, from Redis when the rule keeps its verdicts there. A Redis that
// does not answer is a miss: the part goes to clamd.
func (r *virus) cached(ctx context.Context, version string, sum [sha256.Size]byte) (clamd.Result, bool) {
	if r.remote != nil {
		return r.remote.get(ctx, version, sum)
	}
	return r.cache.get(version, sum)
}

// keep keeps clamd's verdict on a part's content under a signature version.
func (r *virus) keep(ctx context.Context, version string, sum [sha256.Size]byte, res clamd.Result) {
	if r.remote != nil {
		r.remote.add(ctx, version, sum, res, r.cacheTTL)
		return
	}
	r.cache.add(version, sum, res)
}

func (c *verdictCache) get(version string, sum [sha256.Size]byte) (clamd.Result, bool) {
	c.mu.Lock()
	stale := version != c.version
	c.mu.Unlock()
	if stale {
		return clamd.Result{}, false
	}
	return c.entries.Get(cacheKey(version, sum))
}

func (c *verdictCache) add(version string, sum [sha256.Size]byte, r clamd.Result) {
	c.mu.Lock()
	stale := version != c.version
	c.mu.Unlock()
	if !stale {
		c.entries.Add(cacheKey(version, sum), r)
	}
}

// remoteVerdictPrefix starts the Redis key of every verdict: the rest is
// the hex of cacheKey, so that the keys show neither file names nor
// content.
const remoteVerdictPrefix = "sekisho:av:"

// remoteClean is the value kept for a clean verdict; an infected one is
// kept as the name of the virus.
const remoteClean = "OK"

// remoteVerdicts keeps verdicts in Redis (one server, a Sentinel master or
// a Cluster, as rate_limit's store), shared by every host on it. Its calls
// never fail mail: a lookup that fails is a miss, a write that fails is
// dropped; both are counted, and the store's changes between answering
// and failing are logged once each.
type remoteVerdicts struct {
	store  *ratelimit.Redis
	log    *slog.Logger
	errors *prometheus.CounterVec // by op: get or set; nil without metrics
	down   atomic.Bool            // the last call failed
}

// remoteVerdicts returns the process's Redis store of verdicts for a store
// URL and call timeout.
func (c *verdictCache) remoteVerdicts(env *Env, url string, timeout time.Duration) (*remoteVerdicts, error) {
	c.mu.Lock()
	defer c.mu.Unlock()
	key := redisKey(url, timeout)
	if v, ok := c.remote[key]; ok {
		return v, nil
	}
	store, err := ratelimit.NewRedis(url, remoteVerdictPrefix, timeout)
	if err != nil {
		return nil, err
	}
	v := &remoteVerdicts{store: store, log: env.logger(), errors: cacheErrorCounter(env.Metrics)}
	if c.remote == nil {
		c.remote = map[string]*remoteVerdicts{}
	}
	c.remote[key] = v
	return v, nil
}

// cacheErrorCounter is the counter of failed calls to a Redis verdict
// cache, registered once in m's registry; nil when metrics are off.
func cacheErrorCounter(m *metrics.Metrics) *prometheus.CounterVec {
	if m == nil {
		return nil
	}
	c := prometheus.NewCounterVec(prometheus.CounterOpts{
		Name: "sekisho_clamd_cache_errors_total",
		Help: "Failed calls to the virus rule's verdict cache in Redis, by op: get (the part went to clamd) or set (the verdict was not kept). Mail never waits on them.",
	}, []string{"op"})
	if err := m.Registry().Register(c); err != nil {
		var are prometheus.AlreadyRegisteredError
		if errors.As(err, &are) {
			if existing, ok := are.ExistingCollector.(*prometheus.CounterVec); ok {
				return existing
			}
		}
		return nil
	}
	c.WithLabelValues("get")
	c.WithLabelValues("set")
	return c
}

// remoteKey is the Redis key of a part's content under a signature version.
func remoteKey(version string, sum [sha256.Size]byte) string {
	k := cacheKey(version, sum)
	return remoteVerdictPrefix + hex.EncodeToString(k[:])
}

func (v *remoteVerdicts) get(ctx context.Context, version string, sum [sha256.Size]byte) (clamd.Result, bool) {
	val, err := v.store.Client().Get(ctx, remoteKey(version, sum)).Result()
	switch {
	case errors.Is(err, redis.Nil):
		v.answered()
		return clamd.Result{}, false
	case err != nil:
		v.failed("get", err)
		return clamd.Result{}, false
	}
	v.answered()
	if val == remoteClean {
		return clamd.Result{Raw: "stream: OK"}, true
	}
	return clamd.Result{Infected: true, Virus: val, Raw: "stream: " + val + " FOUND"}, true
}

func (v *remoteVerdicts) add(ctx context.Context, version string, sum [sha256.Size]byte, r clamd.Result, ttl time.Duration) {
	val := remoteClean
	if r.Infected {
		val = r.Virus
	}
	if err := v.store.Client().Set(ctx, remoteKey(version, sum), val, ttl).Err(); err != nil {
		v.failed("set", err)
		return
	}
	v.answered()
}

// failed counts a failed call, and logs it when the store answered until
// then. A call whose message was given up on tells nothing of the store.
func (v *remoteVerdicts) failed(op string, err error) {
	if v.errors != nil {
		v.errors.WithLabelValues(op).Inc()
	}
	if errors.Is(err, context.Canceled) {
		return
	}
	if !v.down.Swap(true) {
		v.log.Warn("virus: the verdict cache does not answer: parts go to clamd until it does", "store", v.store.Name(), "error", err)
	}
}

// answered logs that the store answers again after failing.
func (v *remoteVerdicts) answered() {
	if v.down.Load() && v.down.Swap(false) {
		v.log.Info("virus: the verdict cache answers again", "store", v.store.Name())
	}
}
