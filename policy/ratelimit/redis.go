package ratelimit

import (
	"context"
	"crypto/rand"
	"encoding/hex"
	"errors"
	"fmt"
	"log/slog"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"time"

	"github.com/redis/go-redis/v9"
)

// Redis is a Store kept in Redis (5.0 or later), so that several MX hosts
// share their counts: one server, a master found through Sentinel, or a
// Redis Cluster (see ParseRedisURL). Each key is a sorted set of events
// scored by the time they were added, in microseconds. The time is the
// Redis server's (TIME), never the caller's, so that hosts with skewed
// clocks agree on what a window holds. It is safe for concurrent use.
type Redis struct {
	client  redis.UniversalClient
	name    string // the URL without its password
	prefix  string
	timeout time.Duration
	token   string // tells this instance's events apart from other hosts'
	seq     atomic.Uint64

	down    atomic.Bool // the last call that could tell failed
	mu      sync.Mutex  // serialises changes of down and their reports
	closed  bool
	onState func(up bool, err error)

	// With Sentinel or Cluster, Add waits for a replica (see Add).
	replicated   bool
	waitSkip     atomic.Int64 // unix nanoseconds until which no WAIT is sent
	unreplicated atomic.Bool  // the last WAIT sent saw no replica acknowledge
	masters      sync.Map     // cluster master address → *masterReplicas
}

// masterReplicas is how many replicas a cluster master had when last
// asked (INFO replication), and when that was.
type masterReplicas struct {
	mu    sync.Mutex
	n     int
	at    time.Time
	seen  bool // n was read once
	lost  bool // it had replicas and has none now: logged
	asked bool // a question is under way
}

// Both scripts touch one key, KEYS[1], and name every key they touch in
// KEYS: Redis Cluster routes a script by the slot of its keys, and a script
// on one key always runs where that key lives. A script that needs a second
// key must keep both in one slot with a hash tag ("{...}" around the part
// they share), or the cluster refuses it with CROSSSLOT. The parts of a key
// that come from mail (addresses) may hold braces: that only moves the key
// to another slot.

// countScript counts the events younger than the window (ARGV[1], in
// microseconds). It only reads, so that a Count with a shorter window never
// removes events a longer one still needs.
var countScript = redis.NewScript(`
local t = redis.call('TIME')
local now = tonumber(t[1]) * 1000000 + tonumber(t[2])
local cutoff = string.format('%.0f', now - tonumber(ARGV[1]))
return redis.call('ZCOUNT', KEYS[1], '(' .. cutoff, '+inf')
`)

// addScript drops the events older than the window (ARGV[1], in
// microseconds), adds ARGV[2] events with members unique to this call
// (ARGV[3], then the event's number), keeps the newest ARGV[4] events, and
// lets the key expire one window after its last event. The members do not
// depend on the time, so that a call the client sends again (a cluster
// client tries again after a lost connection) re-scores its own events
// rather than counting them twice. Scores go to Redis as strings: Lua would
// print a number of 16 digits in exponent form and lose precision.
var addScript = redis.NewScript(`
local key = KEYS[1]
local window = tonumber(ARGV[1])
local n = tonumber(ARGV[2])
local t = redis.call('TIME')
local now = tonumber(t[1]) * 1000000 + tonumber(t[2])
local score = string.format('%.0f', now)
redis.call('ZREMRANGEBYSCORE', key, '-inf', string.format('%.0f', now - window))
local member = ARGV[3] .. ':'
local batch = {}
for i = 1, n do
  batch[#batch + 1] = score
  batch[#batch + 1] = member .. i
  if #batch >= 1000 or i == n then
    redis.call('ZADD', key, unpack(batch))
    batch = {}
  end
end
redis.call('ZREMRANGEBYRANK', key, 0, -(tonumber(ARGV[4]) + 1))
redis.call('PEXPIRE', key, math.ceil(window / 1000))
return n
`)

// maxRedirects bounds the MOVED and ASK redirects a cluster client follows
// for one call, and its tries after a failure: go-redis counts both in
// ClusterOptions.MaxRedirects, where 0 means its default of 3 and -1 none.
// It is set explicitly because go-redis derives it elsewhere: its
// failover-cluster client copies MaxRetries into it, so the MaxRetries of
// -1 set below would turn redirects off there. NewUniversalClient only
// picks that client to route reads to replicas, which this store never
// asks for; a Sentinel URL gets a client of the master alone.
const maxRedirects = 3

// NewRedis returns a Redis store for the servers of a store URL (see
// ParseRedisURL), putting prefix before every key and bounding every call
// by timeout. It does not connect until first used. A single server or a
// Sentinel master gets no retry of a failed call or dial, so that a server
// that is down costs one failed dial rather than the whole timeout; a
// cluster client follows redirects and may try another node within the
// timeout, which cannot count an Add twice (see addScript).
func NewRedis(rawURL string, prefix string, timeout time.Duration) (*Redis, error) {
	if timeout <= 0 {
		return nil, fmt.Errorf("ratelimit: redis timeout %v: must be positive", timeout)
	}
	cfg, err := ParseRedisURL(rawURL)
	if err != nil {
		return nil, err
	}
	var client redis.UniversalClient
	switch cfg.Topology {
	case RedisNode:
		// NewUniversalClient knows no unix sockets: a single server keeps
		// the options redis.ParseURL made.
		o := cfg.Node
		o.DialTimeout, o.ReadTimeout, o.WriteTimeout, o.PoolTimeout = timeout, timeout, timeout, timeout
		o.ContextTimeoutEnabled = true
		o.MaxRetries = -1
		o.DialerRetries = 1
		client = redis.NewClient(o)
	default:
		o := cfg.Universal
		o.DialTimeout, o.ReadTimeout, o.WriteTimeout, o.PoolTimeout = timeout, timeout, timeout, timeout
		o.ContextTimeoutEnabled = true
		o.MaxRetries = -1
		o.DialerRetries = 1
		o.MaxRedirects = maxRedirects
		client = redis.NewUniversalClient(o)
	}
	var token [8]byte
	rand.Read(token[:])
	return &Redis{
		client:     client,
		name:       Redact(rawURL),
		prefix:     prefix,
		timeout:    timeout,
		token:      hex.EncodeToString(token[:]),
		replicated: cfg.Topology == RedisSentinel || cfg.Topology == RedisCluster,
	}, nil
}

// Client returns the store's Redis client, for other keys kept on the same
// servers (PPAP pairing); Close closes it.
func (r *Redis) Client() redis.UniversalClient { return r.client }

// Name returns the store's URL without its password, for logs and metrics.
func (r *Redis) Name() string { return r.name }

// OnStateChange makes r call f when the store goes from answering to
// failing (up false, with the error of the first failed call) and back (up
// true): once per change, not once per call. The store is taken to be up
// until a call fails. A call the caller gave up on (its context ended)
// tells nothing and changes nothing. f is called in the goroutine of the
// call that saw the change, one call at a time, in order; not after Close.
func (r *Redis) OnStateChange(f func(up bool, err error)) {
	r.mu.Lock()
	r.onState = f
	r.mu.Unlock()
}

// observe records the outcome of a call made under the caller's context.
func (r *Redis) observe(caller context.Context, err error) {
	if err != nil && caller.Err() != nil {
		return
	}
	down := err != nil
	if r.down.Load() == down {
		return // no change: the common case takes no lock
	}
	r.mu.Lock()
	defer r.mu.Unlock()
	if r.closed || r.down.Load() == down {
		return
	}
	r.down.Store(down)
	if r.onState != nil {
		r.onState(!down, err)
	}
}

// Count returns how many events for key were recorded within the last window.
func (r *Redis) Count(ctx context.Context, key string, window time.Duration) (int, error) {
	if err := checkArgs(key, window, 1); err != nil {
		return 0, err
	}
	callCtx, cancel := context.WithTimeout(ctx, r.timeout)
	defer cancel()
	n, err := countScript.Run(callCtx, r.client, []string{r.prefix + key}, micros(window)).Int()
	r.observe(ctx, err)
	if err != nil {
		return 0, fmt.Errorf("ratelimit: redis count %q: %w", key, err)
	}
	return n, nil
}

// ErrNotReplicated is wrapped in the error of an Add whose events were
// recorded on the master but that no replica acknowledged in time: a
// failover now could lose them. The count holds otherwise.
var ErrNotReplicated = errors.New("no replica acknowledged the count in time")

// waitBackoff is how long Add sends no WAIT after one that no replica
// acknowledged: while a master has no replica in reach, a WAIT lasts its
// whole timeout, and each message would pay it.
const waitBackoff = 10 * time.Second

// Add records n events for key now, dropping the key's events older than
// window and the oldest beyond MaxEvents.
//
// With Sentinel or Cluster, it then sends WAIT 1 on the same connection,
// for at most a quarter of the timeout, so that an Add that returns nil is
// on a replica too and survives a failover (Redis replicates
// asynchronously: a master lost right after a write loses it). When no
// replica acknowledges in time, the events are kept on the master and the
// error wraps ErrNotReplicated; for waitBackoff after that, no WAIT is
// sent. A change between acknowledged and not is logged once each way.
//
// In a cluster the script and WAIT go to the master of the key's slot, on
// one connection of the cluster client's pool for that node. A master the
// cluster gives no replica (INFO replication, asked at most every
// waitBackoff) gets no WAIT: it would only last its whole timeout. That is
// logged at INFO when first seen, and at WARN when a master that had
// replicas has none left. A slot that moved under the call (MOVED, ASK) is
// counted through the cluster client instead, without WAIT.
func (r *Redis) Add(ctx context.Context, key string, window time.Duration, n int) error {
	if err := checkArgs(key, window, n); err != nil {
		return err
	}
	callCtx, cancel := context.WithTimeout(ctx, r.timeout)
	defer cancel()
	member := r.token + ":" + strconv.FormatUint(r.seq.Add(1), 10)
	args := []any{micros(window), min(n, MaxEvents), member, MaxEvents}
	if r.replicated && time.Now().UnixNano() >= r.waitSkip.Load() {
		master, err := r.masterOf(callCtx, r.prefix+key)
		if err == nil && master != nil {
			var acked bool
			acked, err = r.addAndWait(callCtx, master, r.prefix+key, args)
			if !redirected(err) {
				r.observe(ctx, err)
				if err != nil {
					return fmt.Errorf("ratelimit: redis add %q: %w", key, err)
				}
				return r.noteReplicas(key, acked)
			}
		}
		// A cluster master without replicas, a slot that moved, or a
		// cluster whose map could not be read: the cluster client
		// routes the call (and its failure, if any, is reported).
	}
	err := addScript.Run(callCtx, r.client, []string{r.prefix + key}, args...).Err()
	r.observe(ctx, err)
	if err != nil {
		return fmt.Errorf("ratelimit: redis add %q: %w", key, err)
	}
	return nil
}

// masterOf returns the client of the master that holds key: the store's
// own client with Sentinel; with Cluster, the client of the slot's master,
// or nil when that master has no replica to wait for.
func (r *Redis) masterOf(ctx context.Context, key string) (*redis.Client, error) {
	switch c := r.client.(type) {
	case *redis.Client:
		return c, nil
	case *redis.ClusterClient:
		m, err := c.MasterForKey(ctx, key)
		if err != nil {
			return nil, err
		}
		if r.replicasOf(ctx, m) == 0 {
			return nil, nil
		}
		return m, nil
	}
	return nil, fmt.Errorf("ratelimit: no single connection on a %T", r.client)
}

// replicasOf returns how many replicas the cluster master m has, asking
// it at most once per waitBackoff. Until a master has answered once, the
// calls for it wait for its answer; after that, one call asks again while
// the others take the answer before. A master that cannot be asked is
// taken to have the replicas it had, or one, so that WAIT tells.
func (r *Redis) replicasOf(ctx context.Context, m *redis.Client) int {
	addr := m.Options().Addr
	v, _ := r.masters.LoadOrStore(addr, &masterReplicas{n: 1})
	mr := v.(*masterReplicas)
	mr.mu.Lock()
	if mr.seen && (time.Since(mr.at) < waitBackoff || mr.asked) {
		n := mr.n
		mr.mu.Unlock()
		return n
	}
	var info string
	var err error
	if !mr.seen {
		// The first answer is waited for under the lock.
		info, err = m.Info(ctx, "replication").Result()
	} else {
		mr.asked = true
		mr.mu.Unlock()
		info, err = m.Info(ctx, "replication").Result()
		mr.mu.Lock()
		mr.asked = false
	}
	defer mr.mu.Unlock()
	if err != nil {
		return mr.n
	}
	n := int(infoField(info, "connected_slaves"))
	if n < 0 {
		// An answer without the field tells nothing: WAIT tells.
		return max(mr.n, 1)
	}
	switch {
	case n == 0 && !mr.seen:
		logger().Info("rate-limit store: a cluster master has no replica; its counts are not waited for",
			"store", r.name, "master", addr)
	case n == 0 && mr.n > 0 && !mr.lost:
		mr.lost = true
		logger().Warn("rate-limit store: a cluster master has lost its replicas: a failover now could lose its counts",
			"store", r.name, "master", addr)
	case n > 0 && mr.lost:
		mr.lost = false
		logger().Info("rate-limit store: a cluster master has a replica again", "store", r.name, "master", addr)
	}
	mr.n, mr.at, mr.seen = n, time.Now(), true
	return n
}

// infoField reads the integer field name of an INFO answer; -1 when
// absent or not a number.
func infoField(info, name string) int64 {
	for _, line := range strings.Split(info, "\n") {
		if v, ok := strings.CutPrefix(strings.TrimSpace(line), name+":"); ok {
			if n, err := strconv.ParseInt(v, 10, 64); err == nil {
				return n
			}
		}
	}
	return -1
}

// redirected reports whether a cluster node answered that the key's slot
// is served elsewhere: the call did not run there.
func redirected(err error) bool {
	if err == nil {
		return false
	}
	msg := err.Error()
	return strings.HasPrefix(msg, "MOVED ") || strings.HasPrefix(msg, "ASK ")
}

// addAndWait runs addScript on one connection of master, then WAIT 1 on
// it, and reports whether a replica acknowledged.
func (r *Redis) addAndWait(ctx context.Context, master *redis.Client, key string, args []any) (bool, error) {
	conn := master.Conn()
	defer conn.Close()
	if err := addScript.Run(ctx, conn, []string{key}, args...).Err(); err != nil {
		return false, err
	}
	wait := max(r.timeout/4, time.Millisecond)
	acked, err := conn.Do(ctx, "WAIT", 1, wait.Milliseconds()).Int()
	if err != nil {
		// The count is written; only its replication is unknown.
		return false, nil
	}
	return acked >= 1, nil
}

// noteReplicas records whether a replica acknowledged an Add of key.
func (r *Redis) noteReplicas(key string, acked bool) error {
	if acked {
		r.waitSkip.Store(0)
		if r.unreplicated.Swap(false) {
			logger().Info("rate-limit counts reach a replica again", "store", r.name)
		}
		return nil
	}
	r.waitSkip.Store(time.Now().Add(waitBackoff).UnixNano())
	if !r.unreplicated.Swap(true) {
		logger().Warn("rate-limit count not acknowledged by any replica: a failover now could lose it",
			"store", r.name, "timeout", r.timeout.String())
	}
	return fmt.Errorf("ratelimit: redis add %q: %w", key, ErrNotReplicated)
}

// Close closes the connections to Redis; the state is no longer reported.
func (r *Redis) Close() error {
	r.mu.Lock()
	r.closed = true
	r.mu.Unlock()
	if err := r.client.Close(); err != nil {
		return fmt.Errorf("ratelimit: redis close: %w", err)
	}
	return nil
}

// micros is the window in whole microseconds, at least one.
func micros(d time.Duration) int64 {
	return max(int64((d+time.Microsecond-1)/time.Microsecond), 1)
}

// SetLogger sends the Redis client's own messages to log: a master that
// Sentinel names anew at info level, the rest (each failed dial, pool
// trouble) at debug level. A failed dial repeats with every message while
// a server is down; the store's change of state, which OnStateChange
// reports once, is what an operator needs to see. The Redis client has one
// logger per process.
func SetLogger(log *slog.Logger) {
	pkgLog.Store(log)
	redis.SetLogger(redisLogger{log})
}

// pkgLog is the logger of SetLogger, for the store's own messages.
var pkgLog atomic.Pointer[slog.Logger]

func logger() *slog.Logger {
	if l := pkgLog.Load(); l != nil {
		return l
	}
	return slog.Default()
}

type redisLogger struct{ log *slog.Logger }

func (l redisLogger) Printf(ctx context.Context, format string, v ...any) {
	level := slog.LevelDebug
	if strings.HasPrefix(format, "sentinel: new master") {
		level = slog.LevelInfo
	}
	if l.log.Enabled(ctx, level) {
		l.log.Log(ctx, level, "redis: "+fmt.Sprintf(format, v...))
	}
}
