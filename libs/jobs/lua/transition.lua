-- Status changes are compare-and-set so that e.g. a late unit cannot revive a cancelled job.
-- KEYS[1] job hash; ARGV: to, allowed (comma-separated), timestamp field ('' = none), now, error ('' = none).
local s = redis.call('HGET', KEYS[1], 'status')
if not s then return 0 end
for allowed in string.gmatch(ARGV[2], '[^,]+') do
  if allowed == s then
    redis.call('HSET', KEYS[1], 'status', ARGV[1])
    if ARGV[3] ~= '' and redis.call('HEXISTS', KEYS[1], ARGV[3]) == 0 then redis.call('HSET', KEYS[1], ARGV[3], ARGV[4]) end
    if ARGV[5] ~= '' then redis.call('HSET', KEYS[1], 'error', ARGV[5]) end
    return 1
  end
end
return 0
