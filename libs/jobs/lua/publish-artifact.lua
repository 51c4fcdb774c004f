-- Publishes an upload's bytes and records the upload in one step (see RedisArtifactStore.put).
-- KEYS: temp bytes, data, uploads. ARGV: owner, info json, 'bytes' when KEYS[1] holds the content, 'none'
-- when the upload relied on the bytes being there already.
if redis.call('EXISTS', KEYS[2]) == 1 then
  redis.call('DEL', KEYS[1])
elseif ARGV[3] == 'bytes' then
  redis.call('RENAME', KEYS[1], KEYS[2])
else
  return 0
end
redis.call('HSET', KEYS[3], ARGV[1], ARGV[2])
return 1
