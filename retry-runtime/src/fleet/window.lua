-- The window the budget's and the breaker's scripts count in (prepended to each): ten buckets
-- of the window in one hash, fields named by a prefix and the bucket's number, on the
-- server's clock.
local BUCKETS = 10

-- The server's time (ms), and the number of its bucket for a window of `window_ms`.
local function bucket_now(window_ms)
  local t = redis.call('TIME')
  local now = tonumber(t[1]) * 1000 + math.floor(tonumber(t[2]) / 1000)
  local width = math.max(1, math.floor(window_ms / BUCKETS))
  return now, math.floor(now / width)
end

-- Drops the fields of `prefixes` for buckets `from` to `to`.
local function drop(key, prefixes, from, to)
  for b = from, to do
    for _, prefix in ipairs(prefixes) do
      redis.call('HDEL', key, prefix .. b)
    end
  end
end

-- The count of `prefix` over the window ending with bucket `current`.
local function sum(key, prefix, current)
  local n = 0
  for b = current - BUCKETS + 1, current do
    n = n + (tonumber(redis.call('HGET', key, prefix .. b)) or 0)
  end
  return n
end

