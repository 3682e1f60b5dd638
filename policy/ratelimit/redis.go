package ratelimit

import (
	"context"
	"crypto/rand"
	"encoding/hex"
	"fmt"
	"log/slog"
	"regexp"
	"strconv"
	"strings"
	"sync/atomic"
	"time"

	"github.com/redis/go-redis/v9"
)

// Redis is a Store kept in Redis (5.0 or later), so that several MX hosts
// share their counts. Each key is a sorted set of events scored by the time
// they were added, in microseconds. The time is the Redis server's (TIME),
// never the caller's, so that hosts with skewed clocks agree on what a window
// holds. It is safe for concurrent use.
type Redis struct {
	client  *redis.Client
	prefix  string
	timeout time.Duration
	token   string // tells this instance's events apart from other hosts'
	seq     atomic.Uint64
}

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
// (server time, then ARGV[3]), keeps the newest ARGV[4] events, and lets the
// key expire one window after its last event. Scores go to Redis as strings:
// Lua would print a number of 16 digits in exponent form and lose precision.
var addScript = redis.NewScript(`
local key = KEYS[1]
local window = tonumber(ARGV[1])
local n = tonumber(ARGV[2])
local t = redis.call('TIME')
local now = tonumber(t[1]) * 1000000 + tonumber(t[2])
local score = string.format('%.0f', now)
redis.call('ZREMRANGEBYSCORE', key, '-inf', string.format('%.0f', now - window))
local member = score .. ':' .. ARGV[3] .. ':'
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

// NewRedis returns a Redis store for the server at url (as redis.ParseURL
// reads it, e.g. "redis://127.0.0.1:6379/0"), putting prefix before every key
// and bounding every call by timeout. It does not connect until first used.
// Failed calls and dials are not retried, so that a server that is down costs
// one failed dial rather than the whole timeout, and a retried Add cannot
// count twice.
func NewRedis(url string, prefix string, timeout time.Duration) (*Redis, error) {
	if timeout <= 0 {
		return nil, fmt.Errorf("ratelimit: redis timeout %v: must be positive", timeout)
	}
	opts, err := ParseRedisURL(url)
	if err != nil {
		return nil, err
	}
	opts.DialTimeout = timeout
	opts.ReadTimeout = timeout
	opts.WriteTimeout = timeout
	opts.PoolTimeout = timeout
	opts.ContextTimeoutEnabled = true
	opts.MaxRetries = -1
	opts.DialerRetries = 1
	var token [8]byte
	rand.Read(token[:])
	return &Redis{
		client:  redis.NewClient(opts),
		prefix:  prefix,
		timeout: timeout,
		token:   hex.EncodeToString(token[:]),
	}, nil
}

// ParseRedisURL reads a Redis URL as redis.ParseURL does; an error never
// shows the URL's password.
func ParseRedisURL(url string) (*redis.Options, error) {
	opts, err := redis.ParseURL(url)
	if err != nil {
		return nil, fmt.Errorf("ratelimit: redis url %s: %s", Redact(url), strings.ReplaceAll(err.Error(), url, Redact(url)))
	}
	return opts, nil
}

// userinfo matches the credentials of a URL, valid or not.
var userinfo = regexp.MustCompile(`^([a-zA-Z][a-zA-Z0-9+.-]*://[^:@/]*):[^@/]*@`)

// Redact returns a URL for logs: its password, if any, is replaced by
// "xxxxx", whether the URL parses or not.
func Redact(url string) string {
	return userinfo.ReplaceAllString(url, "${1}:xxxxx@")
}

// Count returns how many events for key were recorded within the last window.
func (r *Redis) Count(ctx context.Context, key string, window time.Duration) (int, error) {
	if err := checkArgs(key, window, 1); err != nil {
		return 0, err
	}
	ctx, cancel := context.WithTimeout(ctx, r.timeout)
	defer cancel()
	n, err := countScript.Run(ctx, r.client, []string{r.prefix + key}, micros(window)).Int()
	if err != nil {
		return 0, fmt.Errorf("ratelimit: redis count %q: %w", key, err)
	}
	return n, nil
}

// Add records n events for key now, dropping the key's events older than
// window and the oldest beyond MaxEvents.
func (r *Redis) Add(ctx context.Context, key string, window time.Duration, n int) error {
	if err := checkArgs(key, window, n); err != nil {
		return err
	}
	ctx, cancel := context.WithTimeout(ctx, r.timeout)
	defer cancel()
	member := r.token + ":" + strconv.FormatUint(r.seq.Add(1), 10)
	err := addScript.Run(ctx, r.client, []string{r.prefix + key},
		micros(window), min(n, MaxEvents), member, MaxEvents).Err()
	if err != nil {
		return fmt.Errorf("ratelimit: redis add %q: %w", key, err)
	}
	return nil
}

// Close closes the connections to Redis.
func (r *Redis) Close() error {
	if err := r.client.Close(); err != nil {
		return fmt.Errorf("ratelimit: redis close: %w", err)
	}
	return nil
}

// micros is the window in whole microseconds, at least one.
func micros(d time.Duration) int64 {
	return max(int64((d+time.Microsecond-1)/time.Microsecond), 1)
}

// SetLogger sends the Redis client's own messages (failed dials, pool
// trouble) to log at warning level instead of the standard error stream.
// The Redis client has one logger per process.
func SetLogger(log *slog.Logger) {
	redis.SetLogger(redisLogger{log})
}

type redisLogger struct{ log *slog.Logger }

func (l redisLogger) Printf(ctx context.Context, format string, v ...any) {
	l.log.WarnContext(ctx, "redis: "+fmt.Sprintf(format, v...))
}
