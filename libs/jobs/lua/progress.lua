-- Progress only grows: a unit restarted elsewhere does not pull the count back, a stored unit stays at its total.
-- KEYS: progress, results; ARGV: unit id, done.
if redis.call('HEXISTS', KEYS[2], ARGV[1]) == 1 then return 0 end
local old = tonumber(redis.call('HGET', KEYS[1], ARGV[1]) or '0')
if tonumber(ARGV[2]) > old then redis.call('HSET', KEYS[1], ARGV[1], ARGV[2]) return 1 end
return 0
