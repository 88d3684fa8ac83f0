-- A circuit breaker the fleet shares: calls and counted failures in the window, and the
-- moment the fleet's breaker closes again.
-- KEYS[1]: the breaker's hash, fields `c<bucket>`, `f<bucket>` and `open_until` (server ms).
-- ARGV[1]: calls to add, ARGV[2]: failures among them, ARGV[3]: the failure ratio that opens
-- it (parts per million), ARGV[4]: the fewest calls it opens on, ARGV[5]: the window (ms),
-- ARGV[6]: how long it stays open (ms), ARGV[7]: how long the key lives unused (ms).
-- Returns how long the fleet's breaker stays open (ms), 0 when closed.
local now, current = bucket_now(tonumber(ARGV[5]))
local calls, failures = tonumber(ARGV[1]), tonumber(ARGV[2])
if calls > 0 then
  redis.call('HINCRBY', KEYS[1], 'c' .. current, calls)
end
if failures > 0 then
  redis.call('HINCRBY', KEYS[1], 'f' .. current, failures)
end
drop(KEYS[1], {'c', 'f'}, current - 2 * BUCKETS, current - BUCKETS)
redis.call('PEXPIRE', KEYS[1], ARGV[7])
local open_until = tonumber(redis.call('HGET', KEYS[1], 'open_until')) or 0
if now < open_until then
  return open_until - now
end
local c, f = sum(KEYS[1], 'c', current), sum(KEYS[1], 'f', current)
if c >= tonumber(ARGV[4]) and f * 1000000 >= tonumber(ARGV[3]) * c then
  local open_ms = tonumber(ARGV[6])
  redis.call('HSET', KEYS[1], 'open_until', now + open_ms)
  -- The counts that opened it are spent: after the break the fleet starts afresh.
  drop(KEYS[1], {'c', 'f'}, current - BUCKETS + 1, current)
  return open_ms
end
return 0
