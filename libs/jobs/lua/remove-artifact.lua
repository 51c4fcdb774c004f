-- Drops one owner's upload (every upload, for ARGV[1] = ''); the last one takes the bytes with it in the same step.
-- KEYS: data, uploads. ARGV: owner or ''.
if ARGV[1] == '' then
  if redis.call('DEL', KEYS[2]) == 0 then return 0 end
elseif redis.call('HDEL', KEYS[2], ARGV[1]) == 0 then
  return 0
end
if redis.call('HLEN', KEYS[2]) == 0 then redis.call('DEL', KEYS[1]) end
return 1
