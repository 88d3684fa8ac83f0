-- A circuit breaker the fleet shares: calls and counted failures in buckets of the window,
-- on the server's clock, and the moment the fleet's breaker closes again.
-- KEYS[1]: the breaker's hash, fields `c<bucket>`, `f<bucket>` and `open_until` (server ms).
-- ARGV[1]: calls to add, ARGV[2]: failures among them, ARGV[3]: the failure ratio that opens
-- it (parts per million), ARGV[4]: the fewest calls it opens on, ARGV[5]: the window (ms),
-- ARGV[6]: how long it stays open (ms), ARGV[7]: how long the key lives unused (ms).
-- Returns how long the fleet's breaker stays open (ms), 0 when closed.
local t = redis.call('TIME')
local now = tonumber(t[1]) * 1000 + math.floor(tonumber(t[2]) / 1000)
local buckets = 10
local width = math.max(1, math.floor(tonumber(ARGV[5]) / buckets))
local current = math.floor(now / width)
local calls, failures = tonumber(ARGV[1]), tonumber(ARGV[2])
if calls > 0 then
  redis.call('HINCRBY', KEYS[1], 'c' .. current, calls)
end
if failures > 0 then
  redis.call('HINCRBY', KEYS[1], 'f' .. current, failures)
end
for old = current - 2 * buckets, current - buckets do
  redis.call('HDEL', KEYS[1], 'c' .. old, 'f' .. old)
end
redis.call('PEXPIRE', KEYS[1], ARGV[7])
local open_until = tonumber(redis.call('HGET', KEYS[1], 'open_until')) or 0
if now < open_until then
  return open_until - now
end
local c, f = 0, 0
for b = current - buckets + 1, current do
  c = c + (tonumber(redis.call('HGET', KEYS[1], 'c' .. b)) or 0)
  f = f + (tonumber(redis.call('HGET', KEYS[1], 'f' .. b)) or 0)
end
if c >= tonumber(ARGV[4]) and f * 1000000 >= tonumber(ARGV[3]) * c then
  local open_ms = tonumber(ARGV[6])
  redis.call('HSET', KEYS[1], 'open_until', now + open_ms)
  -- The counts that opened it are spent: after the break the fleet starts afresh.
  for b = current - buckets + 1, current do
    redis.call('HDEL', KEYS[1], 'c' .. b, 'f' .. b)
  end
  return open_ms
end
return 0
