package policy

import (
	"context"
	"crypto/sha256"
	"sync"
	"time"

	"github.com/hashicorp/golang-lru/v2/expirable"

	"github.com/sekisho/sekisho/policy/clamd"
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
		c = &verdictCache{entries: expirable.NewLRU[[sha256.Size]byte, clamd.Result](size, nil, ttl), size: size, ttl: ttl, now: now}
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
