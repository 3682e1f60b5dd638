package pairing

import (
	"context"
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"fmt"
	"strconv"
	"time"

	"github.com/redis/go-redis/v9"
)

// Redis is a Store kept in Redis, so that the MX hosts of one domain pair
// an archive that reached one of them with the password that reached
// another. Each sender/recipient pair is one hash, named by a digest of
// the two addresses (they are not stored): a field "a:ID" per archive
// waiting ("FIRST:UNTIL", in milliseconds), and the candidates ("c", a
// JSON list) with their expiry ("cu"). The hash expires with its last
// archive. Times are the callers', as the memory store's. It is safe for
// concurrent use.
//
// Every script touches one key, KEYS[1], so that it runs where that key
// lives in a Redis Cluster; a script that needs a second key must keep
// both in one slot with a hash tag.
type Redis struct {
	client  redis.UniversalClient
	prefix  string
	timeout time.Duration
}

// NewRedis returns a store on client, putting prefix before every key and
// bounding every call by timeout. The client is the caller's to close.
func NewRedis(client redis.UniversalClient, prefix string, timeout time.Duration) *Redis {
	return &Redis{client: client, prefix: prefix, timeout: timeout}
}

func (s *Redis) key(sender, rcpt string) string {
	h := sha256.Sum256([]byte(pairKey(sender, rcpt)))
	return s.prefix + hex.EncodeToString(h[:16])
}

func ms(t time.Time) string { return strconv.FormatInt(t.UnixMilli(), 10) }

// cleanLua drops what has expired at now from the pair's hash, the hash
// itself when no archive waits, and returns the number of archives
// waiting and the latest expiry.
const cleanLua = `
local function clean(key, now)
  local all = redis.call('HGETALL', key)
  local live, last, cu = 0, 0, nil
  for i = 1, #all, 2 do
    local k, v = all[i], all[i + 1]
    if string.sub(k, 1, 2) == 'a:' then
      local sep = string.find(v, ':', 1, true)
      local untl = tonumber(string.sub(v, sep + 1))
      if untl <= now then
        redis.call('HDEL', key, k)
      else
        live = live + 1
        if untl > last then last = untl end
      end
    elseif k == 'cu' then
      cu = tonumber(v)
    end
  end
  if live == 0 then
    redis.call('DEL', key)
  elseif cu and cu <= now then
    redis.call('HDEL', key, 'c', 'cu')
  end
  return live, last
end
`

// waitScript: ARGV id, now, until. Returns the first time the archive was
// seen.
var waitScript = redis.NewScript(cleanLua + `
local key, f, now, untl = KEYS[1], 'a:' .. ARGV[1], tonumber(ARGV[2]), tonumber(ARGV[3])
local live, last = clean(key, now)
local v = redis.call('HGET', key, f)
local first = ARGV[2]
if v then
  first = string.sub(v, 1, string.find(v, ':', 1, true) - 1)
else
  redis.call('HSET', key, f, ARGV[2] .. ':' .. ARGV[3])
  if untl > last then last = untl end
end
-- Expiry is relative: the callers' clock, not Redis's, says what time it is.
redis.call('PEXPIRE', key, string.format('%.0f', last - now))
return first
`)

// waitingScript: ARGV now. Returns the number of archives waiting.
var waitingScript = redis.NewScript(cleanLua + `
local live = clean(KEYS[1], tonumber(ARGV[1]))
return live
`)

// addScript: ARGV now, until, candidates (JSON), max. Keeps the latest max
// candidates, those given last, only while an archive waits.
var addScript = redis.NewScript(cleanLua + `
local key, now = KEYS[1], tonumber(ARGV[1])
if clean(key, now) == 0 then return 0 end
local old = redis.call('HGET', key, 'c')
local list = {}
if old then list = cjson.decode(old) end
for _, c in ipairs(cjson.decode(ARGV[3])) do
  for i = #list, 1, -1 do
    if list[i] == c then table.remove(list, i) end
  end
  list[#list + 1] = c
end
local max = tonumber(ARGV[4])
while #list > max do table.remove(list, 1) end
redis.call('HSET', key, 'c', cjson.encode(list), 'cu', ARGV[2])
local ttl = redis.call('PTTL', key)
local want = tonumber(ARGV[2]) - now
if ttl >= 0 and ttl < want then redis.call('PEXPIRE', key, string.format('%.0f', want)) end
return #list
`)

// candidatesScript: ARGV now. Returns false when no archive waits, else
// the candidates (JSON), "" when none.
var candidatesScript = redis.NewScript(cleanLua + `
local key = KEYS[1]
if clean(key, tonumber(ARGV[1])) == 0 then return false end
return redis.call('HGET', key, 'c') or ''
`)

// doneScript: ARGV id. Drops the archive, and the hash with its
// candidates when no other archive waits.
var doneScript = redis.NewScript(`
local key = KEYS[1]
redis.call('HDEL', key, 'a:' .. ARGV[1])
for _, k in ipairs(redis.call('HKEYS', key)) do
  if string.sub(k, 1, 2) == 'a:' then return 1 end
end
redis.call('DEL', key)
return 0
`)

func (s *Redis) run(ctx context.Context, sc *redis.Script, key string, args ...any) *redis.Cmd {
	ctx, cancel := context.WithTimeout(ctx, s.timeout)
	defer cancel()
	return sc.Run(ctx, s.client, []string{key}, args...)
}

func (s *Redis) Wait(ctx context.Context, sender, rcpt, id string, now time.Time, ttl time.Duration) (time.Time, error) {
	v, err := s.run(ctx, waitScript, s.key(sender, rcpt), id, ms(now), ms(now.Add(ttl))).Text()
	if err != nil {
		return time.Time{}, fmt.Errorf("pairing: redis wait: %w", err)
	}
	first, err := strconv.ParseInt(v, 10, 64)
	if err != nil {
		return time.Time{}, fmt.Errorf("pairing: redis wait: first seen %q: %w", v, err)
	}
	t := time.UnixMilli(first)
	if first == now.UnixMilli() {
		t = now // the caller's time to the nanosecond, as the memory store gives it
	}
	return t, nil
}

func (s *Redis) Waiting(ctx context.Context, sender, rcpt string, now time.Time) (bool, error) {
	n, err := s.run(ctx, waitingScript, s.key(sender, rcpt), ms(now)).Int()
	if err != nil {
		return false, fmt.Errorf("pairing: redis waiting: %w", err)
	}
	return n > 0, nil
}

func (s *Redis) AddCandidates(ctx context.Context, sender, rcpt string, cands []string, now time.Time, ttl time.Duration) error {
	if len(cands) == 0 {
		return nil
	}
	b, err := json.Marshal(cands)
	if err != nil {
		return fmt.Errorf("pairing: redis add: %w", err)
	}
	if err := s.run(ctx, addScript, s.key(sender, rcpt), ms(now), ms(now.Add(ttl)), string(b), MaxCandidates).Err(); err != nil {
		return fmt.Errorf("pairing: redis add: %w", err)
	}
	return nil
}

func (s *Redis) Candidates(ctx context.Context, sender, rcpt string, now time.Time) ([]string, bool, error) {
	v, err := s.run(ctx, candidatesScript, s.key(sender, rcpt), ms(now)).Text()
	if err == redis.Nil {
		return nil, false, nil
	}
	if err != nil {
		return nil, false, fmt.Errorf("pairing: redis candidates: %w", err)
	}
	if v == "" || v == "{}" { // none yet; cjson writes an empty list as {}
		return nil, true, nil
	}
	var out []string
	if err := json.Unmarshal([]byte(v), &out); err != nil {
		return nil, true, fmt.Errorf("pairing: redis candidates: %w", err)
	}
	return out, true, nil
}

func (s *Redis) Done(ctx context.Context, sender, rcpt, id string) error {
	if err := s.run(ctx, doneScript, s.key(sender, rcpt), id).Err(); err != nil {
		return fmt.Errorf("pairing: redis done: %w", err)
	}
	return nil
}
