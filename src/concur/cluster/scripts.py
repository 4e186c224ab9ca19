"""The frontier's Lua scripts: every change to a shared crawl is one of these, atomic.

Redis and Valkey run a script to its end before any other command, so a worker's
lease, or its finished page with the links found on it, happens all at once or not at
all: two workers never take the same URL, a link is admitted once, and a page's record
and its new links are never half written.  The scripts use only commands of Redis 7
and Valkey (no modules), and take the time from the server (``TIME``), so politeness
holds across machines whose clocks disagree.

Keys, all under one prefix ``concur:{NAME}:`` (the braces keep a crawl's keys in one
hash slot):

``meta``      hash: the plan and config (JSON), ``state`` (running/done), counters
``seen``      set: every URL ever admitted (de-duplication)
``q:HOST``    list: the queued jobs of one origin (see *entries*)
``h:HOST``    hash: the origin's politeness: ``busy`` (leased now), ``next`` (no start
              before), ``delay``, ``robots`` (0 needed, 1 being fetched, 2 known)
``ready``     sorted set: origins that may start a fetch, by the time they may
``delayed``   sorted set: retries, by the time they may start again
``leases``    sorted set: leased job ids by deadline; ``leased`` hash: id -> holder
``records``   list: one record per admitted URL (a JSON array, as :func:`record_from`)
``robots``    hash: origin -> its robots.txt verdict (JSON), read by every worker
``workers``   hash: worker id -> when it was last heard from (server time)

An entry (a queued job) is one string of fields separated by ``\\x1f``: kind (``p``),
id, depth, hops, attempt, losses (leases that expired), start of its first attempt
(seconds since the crawl began; empty before), URL.
"""

from __future__ import annotations

__all__ = ["COMPLETE", "LEASE", "RENEW", "SEED", "SEP"]

SEP = "\x1f"

_PRELUDE = r"""
local P = ARGV[1]
local SEP = '\31'
local meta = P .. 'meta'
local t = redis.call('TIME')
local now = tonumber(t[1]) + tonumber(t[2]) / 1000000
local conf = redis.call('HMGET', meta, 'per_host', 'delay', 'obey', 'max_pages', 't0')
local per_host = tonumber(conf[1]) or 2
local default_delay = tonumber(conf[2]) or 0
local obey = conf[3] == '1'
local max_pages = tonumber(conf[4]) or -1
local t0 = tonumber(conf[5]) or now

local function split(s)
  local out = {}
  local i = 1
  while true do
    local j = string.find(s, SEP, i, true)
    if not j then out[#out + 1] = string.sub(s, i) return out end
    out[#out + 1] = string.sub(s, i, j - 1)
    i = j + 1
  end
end

local function arm(host)
  local h = P .. 'h:' .. host
  local v = redis.call('HMGET', h, 'busy', 'next', 'delay', 'robots')
  local busy = tonumber(v[1]) or 0
  local limit = per_host
  if (tonumber(v[3]) or 0) > 0 then limit = 1 end
  if busy >= limit or v[4] == '1' or redis.call('LLEN', P .. 'q:' .. host) == 0 then
    redis.call('ZREM', P .. 'ready', host)
  else
    redis.call('ZADD', P .. 'ready', tonumber(v[2]) or 0, host)
  end
end

local function later(host, when)
  local h = P .. 'h:' .. host
  if when > (tonumber(redis.call('HGET', h, 'next')) or 0) then
    redis.call('HSET', h, 'next', tostring(when))
  end
end

local function finish(record, is_error, disallowed)
  redis.call('RPUSH', P .. 'records', record)
  redis.call('HINCRBY', meta, 'records', 1)
  redis.call('HINCRBY', meta, 'open', -1)
  if is_error then redis.call('HINCRBY', meta, 'errors', 1) end
  if disallowed then redis.call('HINCRBY', meta, 'disallowed', 1) end
end

local function admit(url, host, depth, hops)
  if max_pages >= 0 and (tonumber(redis.call('HGET', meta, 'admitted')) or 0) >= max_pages then
    return 0
  end
  if redis.call('SADD', P .. 'seen', url) == 0 then return 0 end
  local id = redis.call('HINCRBY', meta, 'admitted', 1) - 1
  redis.call('HINCRBY', meta, 'open', 1)
  local h = P .. 'h:' .. host
  if redis.call('EXISTS', h) == 0 then
    local robots = '2'
    if obey then robots = '0' end
    redis.call('HSET', h, 'busy', 0, 'next', 0, 'delay', tostring(default_delay), 'robots', robots)
    redis.call('HINCRBY', meta, 'hosts', 1)
  end
  redis.call('RPUSH', P .. 'q:' .. host,
    table.concat({'p', id, depth, hops, '1', '0', '', url}, SEP))
  arm(host)
  return 1
end
"""

SEED = (
    _PRELUDE
    + r"""
-- ARGV: prefix, resume (1/0), per_host, delay, obey, max_pages, plan, config, extra,
--       then url, host pairs (host '' for a seed that is not an http(s) URL)
local exists = redis.call('EXISTS', meta) == 1
if exists and ARGV[2] ~= '1' then return 'exists' end
if not exists then
  if ARGV[2] == '1' then return 'missing' end
  redis.call('HSET', meta, 'state', 'running', 'per_host', ARGV[3], 'delay', ARGV[4],
    'obey', ARGV[5], 'max_pages', ARGV[6], 'plan', ARGV[7], 'config', ARGV[8],
    'extra', ARGV[9], 't0', tostring(now), 'admitted', 0, 'open', 0, 'records', 0, 'errors', 0)
  redis.call('SADD', 'concur:crawls', P)
  per_host = tonumber(ARGV[3]); default_delay = tonumber(ARGV[4]); obey = ARGV[5] == '1'
  max_pages = tonumber(ARGV[6]); t0 = now
else
  redis.call('HSET', meta, 'state', 'running')
end
local added = 0
for i = 10, #ARGV, 2 do
  local url, host = ARGV[i], ARGV[i + 1]
  if host == '' then
    if redis.call('SADD', P .. 'seen', url) == 1 then
      local id = redis.call('HINCRBY', meta, 'admitted', 1) - 1
      redis.call('HINCRBY', meta, 'open', 1)
      finish(cjson.encode({id, url, cjson.null, 0, 'invalid_url', 0, 0, 0,
        'not an http(s) URL', ''}), true, false)
    end
  else
    added = added + admit(url, host, 0, 0)
  end
end
return tostring(added)
"""
)

LEASE = (
    _PRELUDE
    + r"""
-- ARGV: prefix, worker, how many, lease seconds, losses allowed
-- returns {'jobs', now - t0, host1, entry1, ...} | {'wait', seconds} | {'done'} | {'missing'}
local state = redis.call('HGET', meta, 'state')
if not state then return {'missing'} end
if state == 'done' then return {'done'} end
local worker = ARGV[2]
local want = tonumber(ARGV[3])
local deadline = now + tonumber(ARGV[4])
local max_losses = tonumber(ARGV[5])
local leases, leased, ready = P .. 'leases', P .. 'leased', P .. 'ready'
redis.call('HSET', P .. 'workers', worker, tostring(now))

-- leases of workers that went silent: back to the queue (counted as retries)
for _, lid in ipairs(redis.call('ZRANGEBYSCORE', leases, '-inf', now, 'LIMIT', 0, 256)) do
  local v = redis.call('HGET', leased, lid)
  redis.call('ZREM', leases, lid)
  redis.call('HDEL', leased, lid)
  if v then
    local f = split(v)  -- holder, host, then the entry's fields
    local host = f[2]
    redis.call('HINCRBY', P .. 'h:' .. host, 'busy', -1)
    redis.call('HINCRBY', meta, 'expired', 1)
    if f[3] == 'r' then
      redis.call('HSET', P .. 'h:' .. host, 'robots', '0')
    else
      local losses = tonumber(f[8]) + 1
      if losses > max_losses then
        local start = tonumber(f[9]) or (now - t0)
        finish(cjson.encode({tonumber(f[4]), f[10], cjson.null, 0, 'other',
          tonumber(f[7]) - 1 + losses, start, now - t0,
          'lost: ' .. losses .. ' workers stopped answering while they held it', ''}), true, false)
      else
        redis.call('LPUSH', P .. 'q:' .. host, table.concat({'p', f[4], f[5], f[6], f[7],
          tostring(losses), f[9], f[10]}, SEP))
        redis.call('HINCRBY', meta, 'retries', 1)
      end
    end
    arm(host)
  end
end

-- retries whose wait is over
for _, m in ipairs(redis.call('ZRANGEBYSCORE', P .. 'delayed', '-inf', now, 'LIMIT', 0, 256)) do
  redis.call('ZREM', P .. 'delayed', m)
  local i = string.find(m, SEP, 1, true)
  local host = string.sub(m, 1, i - 1)
  redis.call('LPUSH', P .. 'q:' .. host, string.sub(m, i + 1))
  arm(host)
end

local out = {'jobs', tostring(now - t0)}
while #out - 2 < want * 2 do
  local top = redis.call('ZRANGE', ready, 0, 0, 'WITHSCORES')
  if #top == 0 or tonumber(top[2]) > now then break end
  local host = top[1]
  local h = P .. 'h:' .. host
  local v = redis.call('HMGET', h, 'robots', 'delay', 'rurl', 'rhops', 'rfail')
  local entry, lid
  if v[1] == '0' then
    lid = 'r:' .. host
    entry = table.concat({'r', lid, v[3] or '', v[4] or '0', v[5] or '0'}, SEP)
    redis.call('HSET', h, 'robots', '1')
    redis.call('HINCRBY', meta, 'robots_fetches', 1)
  else
    entry = redis.call('LPOP', P .. 'q:' .. host)
    if entry then
      local j = string.find(entry, SEP, 3, true)
      lid = string.sub(entry, 3, j - 1)
    end
  end
  if entry then
    redis.call('HINCRBY', h, 'busy', 1)
    local delay = tonumber(v[2]) or 0
    if delay > 0 then later(host, now + delay) end
    redis.call('ZADD', leases, deadline, lid)
    redis.call('HSET', leased, lid, worker .. SEP .. host .. SEP .. entry)
    out[#out + 1] = host
    out[#out + 1] = entry
    arm(host)
  else
    redis.call('ZREM', ready, host)
  end
end
if #out > 2 then return out end

if (tonumber(redis.call('HGET', meta, 'open')) or 0) <= 0 and redis.call('ZCARD', leases) == 0 then
  redis.call('HSET', meta, 'state', 'done', 'done_at', tostring(now))
  return {'done'}
end
local wake = 1.0
for _, key in ipairs({ready, P .. 'delayed', leases}) do
  local first = redis.call('ZRANGE', key, 0, 0, 'WITHSCORES')
  if #first > 0 then wake = math.min(wake, tonumber(first[2]) - now) end
end
return {'wait', tostring(math.max(wake, 0))}
"""
)

COMPLETE = (
    _PRELUDE
    + r"""
-- ARGV: prefix, worker, then one JSON object per finished lease:
--   {lid, host, do = 'record'|'retry'|'robots'|'robots_again', ...} (see concur.cluster.job)
-- returns the number of completions that were stale (their lease had expired)
local worker = ARGV[2]
local stale = 0
for i = 3, #ARGV do
  local c = cjson.decode(ARGV[i])
  local v = redis.call('HGET', P .. 'leased', c.lid)
  if not v or string.sub(v, 1, #worker + 1) ~= worker .. SEP then
    stale = stale + 1
  else
    redis.call('HDEL', P .. 'leased', c.lid)
    redis.call('ZREM', P .. 'leases', c.lid)
    local host = c.host
    local h = P .. 'h:' .. host
    redis.call('HINCRBY', h, 'busy', -1)
    local act = c['do']
    if act == 'record' then
      finish(c.record, c.error == 1, c.disallowed == 1)
      local added = 0
      for _, l in ipairs(c.links or {}) do
        added = added + admit(l[1], l[2], l[3], l[4])
      end
      if c.redirect == 1 and added > 0 then redis.call('HINCRBY', meta, 'redirects', 1) end
      if (c.blocked or 0) > 0 then redis.call('HINCRBY', meta, 'blocked', c.blocked) end
    elseif act == 'retry' then
      redis.call('ZADD', P .. 'delayed', now + c.wait, host .. SEP .. c.entry)
      redis.call('HINCRBY', meta, 'retries', 1)
      if c.pause == 1 then later(host, now + c.wait) end
    elseif act == 'robots' then
      redis.call('HSET', P .. 'robots', host, c.verdict)
      redis.call('HSET', h, 'robots', '2', 'delay', tostring(c.delay))
    else  -- robots_again: it redirected, or could not be reached (a wait before the next try)
      redis.call('HSET', h, 'robots', '0', 'rurl', c.url, 'rhops', c.hops, 'rfail', c.fail)
      later(host, now + c.wait)
    end
    local delay = tonumber(redis.call('HGET', h, 'delay')) or 0
    if delay > 0 then later(host, now + delay) end  -- the delay counts from the answer
    arm(host)
  end
end
redis.call('HSET', P .. 'workers', worker, tostring(now))
return stale
"""
)

RENEW = r"""
-- ARGV: prefix, worker, lease seconds, then lease ids the worker holds
local P = ARGV[1]
local t = redis.call('TIME')
local deadline = tonumber(t[1]) + tonumber(t[2]) / 1000000 + tonumber(ARGV[3])
local kept = 0
for i = 4, #ARGV do
  local v = redis.call('HGET', P .. 'leased', ARGV[i])
  if v and string.sub(v, 1, #ARGV[2] + 1) == ARGV[2] .. '\31' then
    redis.call('ZADD', P .. 'leases', 'XX', deadline, ARGV[i])
    kept = kept + 1
  end
end
return kept
"""
