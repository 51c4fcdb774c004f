-- Stores a unit's result once (HSETNX): a unit computed twice (stalled worker, retry) is stored and counted once.
-- KEYS: results, progress, workers, worker-units, job; ARGV: unit id, result, work, worker id, worker info, backend, now.
if redis.call('HSETNX', KEYS[1], ARGV[1], ARGV[2]) == 0 then return 0 end
redis.call('HSET', KEYS[2], ARGV[1], ARGV[3])
redis.call('HSET', KEYS[3], ARGV[4], ARGV[5])
redis.call('HINCRBY', KEYS[4], ARGV[4], 1)
redis.call('HSETNX', KEYS[5], 'backend', ARGV[6])
redis.call('HSET', KEYS[5], 'lastUnitAt', ARGV[7])
return 1
