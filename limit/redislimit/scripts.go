package redislimit

import (
	"crypto/sha1"
	"encoding/hex"
)

// The scripts below run on the Redis server, one call per decision. They
// share these rules:
//
//   - Time is the server's (TIME, in microseconds), so instances whose clocks
//     disagree still share one schedule.
//   - Stored state never moves backwards: a stored theoretical arrival time
//     or window number later than the one the clock gives is kept, so a
//     server clock that steps back (a failover to a replica whose clock is
//     behind) cannot hand out tokens twice.
//   - Every write sets a TTL of at least one millisecond (rounded up), so a
//     key is never left without expiry and never written with a 0 TTL.
//   - A time in microseconds is stored with string.format('%.17g'), which
//     survives a round trip through a Lua double: Lua's and Redis's own
//     number-to-string conversion keeps only 14 digits. Window numbers,
//     counts and durations stay below 1e14 (windows are at least 1ms and
//     at most a year) and are written with plain concatenation, which is
//     cheaper.
//   - A reply is one status string "allowed remaining retry reset taken"
//     (durations in microseconds, retry -1 meaning never) rather than an
//     array, so the client decodes it without allocating per field.
//   - Each script makes as few Redis calls as it can: TIME, GET, and one
//     SET with PX when it takes something.
//   - A stored value that is not what the script wrote is an error reply,
//     never a silent reset.
//
// Every script touches exactly one key, so it is Cluster-safe whatever the
// key; the keys are hash-tagged anyway (see Limiter.key).

// tokenScript is GCRA (the generic cell rate algorithm): the key holds the
// theoretical arrival time (TAT) of the next token; a request for n tokens is
// allowed when TAT + n*T - tau <= now, where T is the emission interval and
// tau = T*burst. ARGV: T (µs, may be fractional), burst, n, want. When n
// tokens are available the script takes min(want, available) >= n of them
// (want > n is a lease) and reports how many it took.
const tokenScript = `
local T = tonumber(ARGV[1])
local burst = tonumber(ARGV[2])
local n = tonumber(ARGV[3])
local want = tonumber(ARGV[4])
local t = redis.call('TIME')
local now = tonumber(t[1]) * 1000000 + tonumber(t[2])
local tat = now
local v = redis.call('GET', KEYS[1])
if v then
  local s = tonumber(v)
  if s == nil then
    return redis.error_reply('LEVEE corrupt limiter state at ' .. KEYS[1])
  end
  if s > tat then tat = s end
end
local tau = T * burst
local avail = math.floor((now + tau - tat + 0.5) / T)
if avail > burst then avail = burst end
if avail < 0 then avail = 0 end
local reset = math.ceil(tat - now)
if n > avail then
  local retry = -1
  if n <= burst then
    retry = math.ceil(tat + n * T - tau - now)
    if retry < 1 then retry = 1 end
  end
  return {ok = string.format('0 %d %d %d 0', avail, retry, reset)}
end
local take = want
if take > avail then take = avail end
if take > 0 then
  tat = tat + take * T
  reset = math.ceil(tat - now)
  local ttl = math.ceil(reset / 1000)
  if ttl < 1 then ttl = 1 end
  redis.call('SET', KEYS[1], string.format('%.17g', tat), 'PX', string.format('%d', ttl))
end
return {ok = string.format('1 %d 0 %d %d', avail - take, reset, take)}
`

// fixedScript counts requests per window of W µs aligned on the server
// clock. The key is a string "w c": window number and count (both below
// 1e14, so Lua's own number formatting keeps every digit). ARGV: W, limit,
// n.
const fixedScript = `
local win = tonumber(ARGV[1])
local lim = tonumber(ARGV[2])
local n = tonumber(ARGV[3])
local t = redis.call('TIME')
local now = tonumber(t[1]) * 1000000 + tonumber(t[2])
local w = math.floor(now / win)
local cw, c = w, 0
local v = redis.call('GET', KEYS[1])
if v then
  local sw, sc = string.match(v, '^(%d+) (%d+)$')
  sw, sc = tonumber(sw), tonumber(sc)
  if sw == nil or sc == nil then
    return redis.error_reply('LEVEE corrupt limiter state at ' .. KEYS[1])
  end
  if sw >= w then cw, c = sw, sc end
end
local reset = math.ceil((cw + 1) * win - now)
if c + n > lim then
  local retry = -1
  if n <= lim then retry = reset end
  local rem = lim - c
  if rem < 0 then rem = 0 end
  return {ok = '0 ' .. rem .. ' ' .. retry .. ' ' .. reset .. ' 0'}
end
if n > 0 then
  c = c + n
  local ttl = math.ceil(reset / 1000)
  if ttl < 1 then ttl = 1 end
  redis.call('SET', KEYS[1], cw .. ' ' .. c, 'PX', ttl)
end
return {ok = '1 ' .. (lim - c) .. ' 0 ' .. reset .. ' ' .. n}
`

// slidingScript approximates a sliding window of W µs from two fixed
// windows: the count of the previous window, weighted by the part of it the
// sliding window still covers, plus the count of the current one. The key is
// a string "w c p": window number, current count, previous count. ARGV: W,
// limit, n.
const slidingScript = `
local win = tonumber(ARGV[1])
local lim = tonumber(ARGV[2])
local n = tonumber(ARGV[3])
local t = redis.call('TIME')
local now = tonumber(t[1]) * 1000000 + tonumber(t[2])
local w = math.floor(now / win)
local cw, c, p = w, 0, 0
local v = redis.call('GET', KEYS[1])
if v then
  local sw, sc, sp = string.match(v, '^(%d+) (%d+) (%d+)$')
  sw, sc, sp = tonumber(sw), tonumber(sc), tonumber(sp)
  if sw == nil or sc == nil or sp == nil then
    return redis.error_reply('LEVEE corrupt limiter state at ' .. KEYS[1])
  end
  if sw >= w then
    cw, c, p = sw, sc, sp
  elseif sw == w - 1 then
    p = sc
  end
end
local el = (now - cw * win) / win
if el < 0 then el = 0 end
local used = p * (1 - el) + c
local reset = math.ceil((cw + 1) * win - now)
if c + n > 0 then reset = math.ceil((cw + 2) * win - now) end
if used + n > lim then
  local retry = -1
  if n <= lim then
    local at
    if c + n <= lim and p > 0 then
      at = (cw + 1 - (lim - c - n) / p) * win
    else
      local e = 0
      if c > 0 then e = 1 - (lim - n) / c end
      if e < 0 then e = 0 end
      at = (cw + 1 + e) * win
    end
    retry = math.ceil(at - now)
    if retry < 1 then retry = 1 end
  end
  local rem = math.floor(lim - used)
  if rem < 0 then rem = 0 end
  return {ok = string.format('0 %d %d %d 0', rem, retry, reset)}
end
if n > 0 then
  c = c + n
  local ttl = math.ceil(((cw + 2) * win - now) / 1000)
  if ttl < 1 then ttl = 1 end
  redis.call('SET', KEYS[1], cw .. ' ' .. c .. ' ' .. p, 'PX', ttl)
end
local rem = math.floor(lim - used - n)
if rem < 0 then rem = 0 end
return {ok = '1 ' .. rem .. ' 0 ' .. reset .. ' ' .. n}
`

// script is a Lua source and its SHA1, the name EVALSHA runs it by.
type script struct {
	src string
	sha string
}

func newScript(src string) script {
	h := sha1.Sum([]byte(src))
	return script{src: src, sha: hex.EncodeToString(h[:])}
}

var (
	tokenLua   = newScript(tokenScript)
	fixedLua   = newScript(fixedScript)
	slidingLua = newScript(slidingScript)
)

// reply is a decoded script reply.
type reply struct {
	allowed   bool
	remaining int64
	retry     int64 // µs; -1: never
	reset     int64 // µs
	taken     int64
}

// parseReply decodes "allowed remaining retry reset taken" without
// allocating. ok is false for anything else.
func parseReply(s string) (r reply, ok bool) {
	var f [5]int64
	i := 0
	for k := range f {
		if k > 0 {
			if i >= len(s) || s[i] != ' ' {
				return r, false
			}
			i++
		}
		neg := false
		if i < len(s) && s[i] == '-' {
			neg = true
			i++
		}
		start := i
		var v int64
		for i < len(s) && s[i] >= '0' && s[i] <= '9' {
			if v > (1<<62)/10 {
				return r, false
			}
			v = v*10 + int64(s[i]-'0')
			i++
		}
		if i == start {
			return r, false
		}
		if neg {
			v = -v
		}
		f[k] = v
	}
	if i != len(s) || f[0] < 0 || f[0] > 1 {
		return r, false
	}
	return reply{allowed: f[0] == 1, remaining: f[1], retry: f[2], reset: f[3], taken: f[4]}, true
}
