-- A retry budget the fleet shares: first attempts and retries counted in buckets of the
-- window, on the server's clock.
-- KEYS[1]: the budget's hash, fields `d<bucket>` (first attempts) and `w<bucket>` (retries).
-- ARGV[1]: first attempts to add, ARGV[2]: '1' to take a retry, ARGV[3]: retries per first
-- attempt in parts per million, ARGV[4]: retries the window allows whatever its first
-- attempts, ARGV[5]: the window (ms), ARGV[6]: how long the key lives unused (ms).
-- Returns 1 when a retry was taken, 0 otherwise.
local t = redis.call('TIME')
local now = tonumber(t[1]) * 1000 + math.floor(tonumber(t[2]) / 1000)
local buckets = 10
local width = math.max(1, math.floor(tonumber(ARGV[5]) / buckets))
local current = math.floor(now / width)
local deposits = tonumber(ARGV[1])
if deposits > 0 then
  redis.call('HINCRBY', KEYS[1], 'd' .. current, deposits)
end
-- Buckets that left the window are dropped.
for old = current - 2 * buckets, current - buckets do
  redis.call('HDEL', KEYS[1], 'd' .. old, 'w' .. old)
end
local granted = 0
if ARGV[2] == '1' then
  local d, w = 0, 0
  for b = current - buckets + 1, current do
    d = d + (tonumber(redis.call('HGET', KEYS[1], 'd' .. b)) or 0)
    w = w + (tonumber(redis.call('HGET', KEYS[1], 'w' .. b)) or 0)
  end
  local allowed = math.floor(d * tonumber(ARGV[3]) / 1000000) + tonumber(ARGV[4])
  if w < allowed then
    redis.call('HINCRBY', KEYS[1], 'w' .. current, 1)
    granted = 1
  end
end
redis.call('PEXPIRE', KEYS[1], ARGV[6])
return granted
