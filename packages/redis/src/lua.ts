/**
 * The Redis scripts. Each runs atomically, so a sequence number, its stream entry and its PUBLISH
 * happen in one step (publish order = seq order on every subscriber), and a presence count flip
 * is seen by exactly one caller (which fires the cluster-wide uidport edge).
 *
 * Keys touched besides KEYS[] are derived from the prefix inside the scripts: fine on a single
 * Redis (or a replica set), not on Redis Cluster.
 */

const NOW = `local function now_ms() local t = redis.call('TIME') return tonumber(t[1]) * 1000 + math.floor(tonumber(t[2]) / 1000) end
`;

/**
 * Drops the expired head of a stream (entries carry their append time in field 't'): amortized
 * O(1). The oldest entry alone is read first: on most calls nothing has expired, and reading a
 * batch of 64 entries (events included) on every publish cost more Redis CPU than the rest of it.
 */
const TRIM_AGE = `local function entry_t(e)
  local f = e[2]
  for i = 1, #f, 2 do if f[i] == 't' then return tonumber(f[i + 1]) end end
  return 0
end
local function trim_age(stream, cutoff)
  local oldest = redis.call('XRANGE', stream, '-', '+', 'COUNT', 1)
  if #oldest == 0 or entry_t(oldest[1]) >= cutoff then return end
  while true do
    local batch = redis.call('XRANGE', stream, '-', '+', 'COUNT', 64)
    if #batch == 0 then return end
    local last = nil
    for _, e in ipairs(batch) do
      if entry_t(e) < cutoff then last = e[1] else break end
    end
    if last == nil then return end
    local seq = tonumber(string.match(last, '^(%d+)'))
    redis.call('XTRIM', stream, 'MINID', tostring(seq + 1) .. '-0')
    if last ~= batch[#batch][1] then return end
  end
end
`;

/** A stream's generation, created (with its counter at 0) when its meta hash is gone. */
const GEN_OF = `local function gen_of(meta, cand)
  if redis.call('HSETNX', meta, 'gen', cand) == 1 then redis.call('HSET', meta, 'seq', 0) end
  return redis.call('HGET', meta, 'gen')
end
`;

/**
 * KEYS: meta hash, stream, order counter (one per prefix: the cross-stream order of history()),
 * broadcast meta hash (KEYS[1] itself for a broadcast). ARGV: gen candidate, maxEvents, maxAgeMs,
 * metaTtlMs, channel, body (a JSON object), clientId ('' for none), n, then n event JSONs.
 *
 * The message published is `m<first seq>|<body>` with `"ep"` added to the body: for a uid stream
 * its epoch (`<broadcast gen>.<uid gen>`, as history() and head() report it), for the broadcast
 * stream its generation. So every subscriber can stamp the events with the log they belong to, and
 * a server sees a log replaced under a live client (Redis flushed or restarted empty: sequences
 * restart at 1). Returns { first seq, ep }.
 */
export const PUBLISH_LOGGED = `${NOW}${TRIM_AGE}${GEN_OF}
local meta, stream, bmeta = KEYS[1], KEYS[2], KEYS[4]
local maxEvents, maxAge, metaTtl = tonumber(ARGV[2]), tonumber(ARGV[3]), tonumber(ARGV[4])
local n = tonumber(ARGV[8])
local ep = gen_of(meta, ARGV[1])
if bmeta ~= meta then
  ep = gen_of(bmeta, ARGV[1]) .. '.' .. ep
  redis.call('PEXPIRE', bmeta, metaTtl)
end
local last = redis.call('HINCRBY', meta, 'seq', n)
local first = last - n + 1
local t = now_ms()
local o = redis.call('INCRBY', KEYS[3], n) - n
trim_age(stream, t - maxAge)
for i = 1, n do
  if ARGV[7] == '' then
    redis.call('XADD', stream, 'MAXLEN', maxEvents, tostring(first + i - 1) .. '-0', 'e', ARGV[8 + i], 't', t, 'o', o + i)
  else
    redis.call('XADD', stream, 'MAXLEN', maxEvents, tostring(first + i - 1) .. '-0', 'e', ARGV[8 + i], 'c', ARGV[7], 't', t, 'o', o + i)
  end
end
redis.call('PEXPIRE', stream, maxAge)
redis.call('PEXPIRE', meta, metaTtl)
redis.call('PUBLISH', ARGV[5], 'm' .. first .. '|{"ep":' .. cjson.encode(ep) .. ',' .. string.sub(ARGV[6], 2))
return { first, ep }
`;

/**
 * KEYS: uid meta, uid stream, broadcast meta, broadcast stream. ARGV: uid gen candidate, broadcast
 * gen candidate, fromU, fromG, count, maxAgeMs, metaTtlMs.
 * Returns { genU, seqU, floorU, genG, seqG, floorG, entriesU, entriesG } (entries as XRANGE gives them).
 */
export const READ_LOG = `${NOW}${TRIM_AGE}${GEN_OF}
local count, maxAge, metaTtl = tonumber(ARGV[5]), tonumber(ARGV[6]), tonumber(ARGV[7])
local cutoff = now_ms() - maxAge
local function side(meta, stream, cand, from)
  local gen = gen_of(meta, cand)
  redis.call('PEXPIRE', meta, metaTtl)
  local seq = tonumber(redis.call('HGET', meta, 'seq'))
  trim_age(stream, cutoff)
  local floor = seq + 1
  local oldest = redis.call('XRANGE', stream, '-', '+', 'COUNT', 1)
  if #oldest > 0 then floor = tonumber(string.match(oldest[1][1], '^(%d+)')) end
  local entries = {}
  if count > 0 then entries = redis.call('XRANGE', stream, tostring(from + 1) .. '-0', '+', 'COUNT', count) end
  return gen, seq, floor, entries
end
local gu, su, fu, eu = side(KEYS[1], KEYS[2], ARGV[1], tonumber(ARGV[3]))
local gg, sg, fg, eg = side(KEYS[3], KEYS[4], ARGV[2], tonumber(ARGV[4]))
return { gu, su, fu, gg, sg, fg, eu, eg }
`;

/**
 * Presence helpers. Kinds are letters: 'w' ws, 'a' ajax; 'A' stands for "any". A flip string lists
 * the cluster-level edges one change caused, e.g. 'w+A+' (first ws holder anywhere) or 'a-'.
 */
const APPLY = `local cw, ca, cA = KEYS[2], KEYS[3], KEYS[4]
local function has(kinds, k) if k == 'A' then return kinds ~= '' end return string.find(kinds, k, 1, true) ~= nil end
local function apply(uid, old, new)
  local flips = ''
  for _, k in ipairs({ 'w', 'a', 'A' }) do
    local o, n = has(old, k), has(new, k)
    if o ~= n then
      local key = (k == 'w' and cw) or (k == 'a' and ca) or cA
      local c = redis.call('HINCRBY', key, uid, n and 1 or -1)
      if c <= 0 then redis.call('HDEL', key, uid) end
      if n and c == 1 then flips = flips .. k .. '+' elseif (not n) and c <= 0 then flips = flips .. k .. '-' end
    end
  end
  return flips
end
local edges = {}
local out = {}
local function note(uid, flips)
  if flips ~= '' then edges[#edges + 1] = { uid, flips }; out[#out + 1] = uid; out[#out + 1] = flips end
end
local function announce(channel) if #edges > 0 then redis.call('PUBLISH', channel, cjson.encode(edges)) end end
-- Not unpack(): Lua's stack would overflow on a node holding thousands of uids.
local function with_head(h)
  local res = { h }
  for i = 1, #out do res[i + 1] = out[i] end
  return res
end
local function remove_node(np)
  local all = redis.call('HGETALL', np)
  for i = 1, #all, 2 do note(all[i], apply(all[i], all[i + 1], '')) end
  redis.call('DEL', np)
end
`;

/** KEYS: node hash, count w, count a, count any. ARGV: uid, kinds, presence channel. Returns flips. */
export const SET_PRESENCE = `${APPLY}
local np, uid, new = KEYS[1], ARGV[1], ARGV[2]
local old = redis.call('HGET', np, uid) or ''
if old == new then return '' end
if new == '' then redis.call('HDEL', np, uid) else redis.call('HSET', np, uid, new) end
note(uid, apply(uid, old, new))
announce(ARGV[3])
return out[2] or ''
`;

/**
 * Makes this node's hash exactly the given list (after a (re)connect). KEYS: node hash, counts
 * (w, a, any), nodes zset. ARGV: nodeId, ttlMs, presence channel, then uid/kinds pairs.
 * Returns uid/flips pairs.
 */
export const SYNC_NODE = `${NOW}${APPLY}
local np, nodes = KEYS[1], KEYS[5]
redis.call('ZADD', nodes, now_ms() + tonumber(ARGV[2]), ARGV[1])
local old = {}
local all = redis.call('HGETALL', np)
for i = 1, #all, 2 do old[all[i]] = all[i + 1] end
local seen = {}
for i = 4, #ARGV, 2 do
  local uid, new = ARGV[i], ARGV[i + 1]
  seen[uid] = true
  local o = old[uid] or ''
  if o ~= new then
    redis.call('HSET', np, uid, new)
    note(uid, apply(uid, o, new))
  end
end
for uid, o in pairs(old) do
  if not seen[uid] then
    redis.call('HDEL', np, uid)
    note(uid, apply(uid, o, ''))
  end
end
announce(ARGV[3])
return out
`;

/**
 * Heartbeat + sweep, or goodbye. KEYS: (unused), counts (w, a, any), nodes zset. ARGV: nodeId,
 * ttlMs, presence channel, node-hash key prefix, mode ('beat' | 'bye'), max dead nodes per run.
 * Returns { registered (1/0), uid, flips, ... }: registered = 0 when this node was unknown
 * (swept while away, or Redis lost its data), so the caller re-syncs its presence.
 */
export const BEAT = `${NOW}${APPLY}
local nodes, id, prefix = KEYS[5], ARGV[1], ARGV[4]
if ARGV[5] == 'bye' then
  remove_node(prefix .. id)
  redis.call('ZREM', nodes, id)
  announce(ARGV[3])
  return with_head(1)
end
local t = now_ms()
local registered = redis.call('ZSCORE', nodes, id) and 1 or 0
if registered == 1 then redis.call('ZADD', nodes, t + tonumber(ARGV[2]), id) end
local dead = redis.call('ZRANGEBYSCORE', nodes, '-inf', t, 'LIMIT', 0, tonumber(ARGV[6]))
for _, d in ipairs(dead) do
  if d ~= id then
    remove_node(prefix .. d)
    redis.call('ZREM', nodes, d)
  end
end
announce(ARGV[3])
return with_head(registered)
`;
