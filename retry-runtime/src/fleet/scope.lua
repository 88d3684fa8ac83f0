-- One decision on a scope's shared state, atomic on the server: a compare-and-set on its
-- version, with the server's clock.
-- KEYS[1]: the scope's hash, fields `v` (version) and `s` (the state, encoded).
-- ARGV[1]: the version the caller decided on, or '' to only read.
-- ARGV[2]: the state it decided, ARGV[3]: how long the key lives unused (ms).
-- Returns {written (0 or 1), version, the state ('' when written or absent), server ms}.
local t = redis.call('TIME')
local now = tonumber(t[1]) * 1000 + math.floor(tonumber(t[2]) / 1000)
local current = redis.call('HMGET', KEYS[1], 'v', 's')
local version = tonumber(current[1]) or 0
if ARGV[1] ~= '' and tonumber(ARGV[1]) == version then
  version = version + 1
  redis.call('HSET', KEYS[1], 'v', version, 's', ARGV[2])
  redis.call('PEXPIRE', KEYS[1], ARGV[3])
  return {1, version, '', now}
end
return {0, version, current[2] or '', now}
