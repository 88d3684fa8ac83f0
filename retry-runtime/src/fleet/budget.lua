-- A retry budget the fleet shares: first attempts and retries counted in the window.
-- KEYS[1]: the budget's hash, fields `d<bucket>` (first attempts) and `w<bucket>` (retries).
-- ARGV[1]: first attempts to add, ARGV[2]: '1' to take a retry, ARGV[3]: retries per first
-- attempt in parts per million, ARGV[4]: retries the window allows whatever its first
-- attempts, ARGV[5]: the window (ms), ARGV[6]: how long the key lives unused (ms).
-- Returns 1 when a retry was taken, 0 otherwise.
local _, current = bucket_now(tonumber(ARGV[5]))
local deposits = tonumber(ARGV[1])
if deposits > 0 then
  redis.call('HINCRBY', KEYS[1], 'd' .. current, deposits)
end
drop(KEYS[1], {'d', 'w'}, current - 2 * BUCKETS, current - BUCKETS)
local granted = 0
if ARGV[2] == '1' then
  local allowed = math.floor(sum(KEYS[1], 'd', current) * tonumber(ARGV[3]) / 1000000)
    + tonumber(ARGV[4])
  if sum(KEYS[1], 'w', current) < allowed then
    redis.call('HINCRBY', KEYS[1], 'w' .. current, 1)
    granted = 1
  end
end
redis.call('PEXPIRE', KEYS[1], ARGV[6])
return granted
