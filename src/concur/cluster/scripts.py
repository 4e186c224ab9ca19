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
``hosts``     set: every origin the crawl has met
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

What makes them cheap (the frontier's ceiling is Lua's own time, not the commands'):
counters, records and lease bookkeeping are gathered in Lua tables and written once
per call; a host's readiness is worked out once per call however many of its URLs
moved; a lease takes a host's jobs with one ``LPOP key count``.  Hosts wait in
``ready`` in the order they became ready (the score is when, or their ``next`` if
later), so leases go round the hosts instead of draining the first one.

An entry (a queued job) is one string of fields separated by ``\\x1f``: kind (``p``),
id, depth, hops, attempt, losses (leases that expired), start of its first attempt
(seconds since the crawl began; empty before), referrer (the page that led to it), URL.
"""

from __future__ import annotations

__all__ = ["COMPLETE", "LEASE", "RELEASE", "RENEW", "SEED", "SEP"]

# What a completion is, as the COMPLETE script reads it from its arguments: an action
# letter after the lease id and the host, then that action's fields (flat arguments
# rather than JSON: decoding JSON in Lua cost a fifth of the script's time).
RECORD = "R"  # record, error, disallowed, redirect, blocked, depth, hops, referrer, n, links
RETRY = "T"  # wait, pause 0/1, the entry to queue again
ROBOTS = "B"  # verdict (JSON), delay
ROBOTS_AGAIN = "A"  # url ('' = the default), hops, failures, wait

SEP = "\x1f"

_PRELUDE = r"""
local P = ARGV[1]
local SEP = '\31'
local meta = P .. 'meta'
local ready = P .. 'ready'
local t = redis.call('TIME')
local now = tonumber(t[1]) + tonumber(t[2]) / 1000000
local conf = redis.call('HMGET', meta, 'per_host', 'delay', 'obey', 'max_pages', 't0', 'admitted')
local per_host = tonumber(conf[1]) or 2
local default_delay = tonumber(conf[2]) or 0
local obey = conf[3] == '1'
local max_pages = tonumber(conf[4]) or -1
local t0 = tonumber(conf[5]) or now
local admitted = tonumber(conf[6]) or 0

local counts = {}  -- meta counters: added up here, written once (flush)
local dirty = {}  -- hosts whose readiness may have changed
local known = {}  -- hosts whose hash exists
local records = {}

local function count(name, n)
  counts[name] = (counts[name] or 0) + n
end

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

local function push(key, values)  -- RPUSH/ZADD/HSET ... with many arguments, in chunks
  for i = 1, #values, 4000 do
    redis.call(key[1], key[2], unpack(values, i, math.min(i + 3999, #values)))
  end
end

-- in `ready` if it has work and a free slot: by when it became ready, or its `next`
local function arm(host)
  local h = P .. 'h:' .. host
  local v = redis.call('HMGET', h, 'busy', 'next', 'delay', 'robots')
  local busy = tonumber(v[1]) or 0
  local limit = per_host
  if (tonumber(v[3]) or 0) > 0 then limit = 1 end
  if busy >= limit or v[4] == '1' or redis.call('LLEN', P .. 'q:' .. host) == 0 then
    redis.call('ZREM', ready, host)
    return
  end
  local when = tonumber(v[2]) or 0
  local queued = tonumber(redis.call('ZSCORE', ready, host))
  if queued == nil then
    if when < now then when = now end
  elseif queued > when then
    when = queued
  end
  redis.call('ZADD', ready, when, host)
end

local function later(host, when)
  local h = P .. 'h:' .. host
  if when > (tonumber(redis.call('HGET', h, 'next')) or 0) then
    redis.call('HSET', h, 'next', tostring(when))
  end
end

local function finish(record, is_error, disallowed)
  records[#records + 1] = record
  count('records', 1)
  count('open', -1)
  if is_error then count('errors', 1) end
  if disallowed then count('disallowed', 1) end
end

local function admit(url, host, depth, hops, referrer)
  if max_pages >= 0 and admitted >= max_pages then return 0 end
  if redis.call('SADD', P .. 'seen', url) == 0 then return 0 end
  local id = admitted
  admitted = admitted + 1
  count('admitted', 1)
  count('open', 1)
  if not known[host] then
    local h = P .. 'h:' .. host
    if redis.call('EXISTS', h) == 0 then
      local robots = '2'
      if obey then robots = '0' end
      redis.call('HSET', h, 'busy', 0, 'next', 0, 'delay', tostring(default_delay),
        'robots', robots)
      redis.call('SADD', P .. 'hosts', host)
      count('hosts', 1)
    end
    known[host] = true
  end
  redis.call('RPUSH', P .. 'q:' .. host,
    table.concat({'p', id, depth, hops, '1', '0', '', referrer, url}, SEP))
  dirty[host] = true
  return 1
end

local function flush()
  for host in pairs(dirty) do arm(host) end
  push({'RPUSH', P .. 'records'}, records)
  for name, n in pairs(counts) do
    if n ~= 0 then redis.call('HINCRBY', meta, name, n) end
  end
end
"""

SEED = (
    _PRELUDE
    + r"""
-- ARGV: prefix, mode ('0' a new crawl, '1' resume one, '2' more seeds for the new one),
--       per_host, delay, obey, max_pages, plan, config, extra,
--       then url, host pairs (host '' for a seed that is not an http(s) URL)
local exists = redis.call('EXISTS', meta) == 1
local mode = ARGV[2]
if exists and mode == '0' then return 'exists' end
if not exists then
  if mode ~= '0' then return 'missing' end
  redis.call('HSET', meta, 'state', 'running', 'per_host', ARGV[3], 'delay', ARGV[4],
    'obey', ARGV[5], 'max_pages', ARGV[6], 'plan', ARGV[7], 'config', ARGV[8],
    'extra', ARGV[9], 't0', tostring(now), 'admitted', 0, 'open', 0, 'records', 0, 'errors', 0)
  redis.call('SADD', 'concur:crawls', P)
  per_host = tonumber(ARGV[3]); default_delay = tonumber(ARGV[4]); obey = ARGV[5] == '1'
  max_pages = tonumber(ARGV[6]); t0 = now; admitted = 0
elseif mode == '1' then
  redis.call('HSET', meta, 'state', 'running')
end
local added = 0
for i = 10, #ARGV, 2 do
  local url, host = ARGV[i], ARGV[i + 1]
  if host == '' then
    if redis.call('SADD', P .. 'seen', url) == 1 then
      local id = admitted
      admitted = admitted + 1
      count('admitted', 1)
      count('open', 1)
      finish(cjson.encode({id, url, cjson.null, 0, 'invalid_url', 0, 0, 0,
        'not an http(s) URL', '', 0, '', '', 0, ''}), true, false)
    end
  else
    added = added + admit(url, host, 0, 0, '')
  end
end
flush()
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
local leases, leased = P .. 'leases', P .. 'leased'
redis.call('HSET', P .. 'workers', worker, tostring(now))

-- leases of workers that went silent: back to the queue (counted as retries)
local expired = redis.call('ZRANGEBYSCORE', leases, '-inf', now, 'LIMIT', 0, 256)
if #expired > 0 then
  local held = redis.call('HMGET', leased, unpack(expired))
  redis.call('ZREM', leases, unpack(expired))
  redis.call('HDEL', leased, unpack(expired))
  for k = 1, #expired do
    local v = held[k]
    if v then
      local f = split(v)  -- holder, host, then the entry's fields
      local host = f[2]
      redis.call('HINCRBY', P .. 'h:' .. host, 'busy', -1)
      count('expired', 1)
      if f[3] == 'r' then
        redis.call('HSET', P .. 'h:' .. host, 'robots', '0')
      else
        local losses = tonumber(f[8]) + 1
        if losses > max_losses then
          local start = tonumber(f[9]) or (now - t0)
          finish(cjson.encode({tonumber(f[4]), f[11], cjson.null, 0, 'other',
            tonumber(f[7]) - 1 + losses, start, now - t0,
            'lost: ' .. losses .. ' workers stopped answering while they held it', '',
            tonumber(f[5]), f[10], '', 0, ''}), true, false)
        else
          redis.call('LPUSH', P .. 'q:' .. host, table.concat({'p', f[4], f[5], f[6], f[7],
            tostring(losses), f[9], f[10], f[11]}, SEP))
          count('retries', 1)
        end
      end
      dirty[host] = true
    end
  end
end

-- retries whose wait is over
local due = redis.call('ZRANGEBYSCORE', P .. 'delayed', '-inf', now, 'LIMIT', 0, 256)
if #due > 0 then
  redis.call('ZREM', P .. 'delayed', unpack(due))
  for _, m in ipairs(due) do
    local i = string.find(m, SEP, 1, true)
    local host = string.sub(m, 1, i - 1)
    redis.call('LPUSH', P .. 'q:' .. host, string.sub(m, i + 1))
    dirty[host] = true
  end
end
for host in pairs(dirty) do arm(host) end
dirty = {}

local out = {'jobs', tostring(now - t0)}
local got = 0
local deadlines, holders = {}, {}
while got < want do
  local top = redis.call('ZRANGE', ready, 0, 0, 'WITHSCORES')
  if #top == 0 or tonumber(top[2]) > now then break end
  local host = top[1]
  redis.call('ZREM', ready, host)  -- re-armed below: behind the hosts that waited longer
  local h = P .. 'h:' .. host
  local v = redis.call('HMGET', h, 'robots', 'delay', 'busy', 'rurl', 'rhops', 'rfail')
  local delay = tonumber(v[2]) or 0
  local taken = 0
  if v[1] == '0' then
    local lid = 'r:' .. host
    local entry = table.concat({'r', lid, v[4] or '', v[5] or '0', v[6] or '0'}, SEP)
    redis.call('HSET', h, 'robots', '1')
    count('robots_fetches', 1)
    deadlines[#deadlines + 1] = deadline
    deadlines[#deadlines + 1] = lid
    holders[#holders + 1] = lid
    holders[#holders + 1] = worker .. SEP .. host .. SEP .. entry
    out[#out + 1] = host
    out[#out + 1] = entry
    taken = 1
  else
    local limit = per_host
    if delay > 0 then limit = 1 end
    local n = math.min(want - got, limit - (tonumber(v[3]) or 0))
    local entries = n > 0 and redis.call('LPOP', P .. 'q:' .. host, n)
    if entries then
      for _, entry in ipairs(entries) do
        local j = string.find(entry, SEP, 3, true)
        local lid = string.sub(entry, 3, j - 1)
        deadlines[#deadlines + 1] = deadline
        deadlines[#deadlines + 1] = lid
        holders[#holders + 1] = lid
        holders[#holders + 1] = worker .. SEP .. host .. SEP .. entry
        out[#out + 1] = host
        out[#out + 1] = entry
      end
      taken = #entries
    end
  end
  if taken > 0 then
    redis.call('HINCRBY', h, 'busy', taken)
    if delay > 0 then later(host, now + delay) end
    got = got + taken
  end
  arm(host)
end
if got > 0 then
  push({'ZADD', leases}, deadlines)
  push({'HSET', leased}, holders)
  flush()
  return out
end
flush()

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
-- ARGV: prefix, worker, then each finished lease: its id, host, an action letter and
-- that action's fields (concur.cluster.scripts.RECORD, RETRY, ROBOTS, ROBOTS_AGAIN)
-- returns the number of completions that were stale (their lease had expired)
local worker = ARGV[2]
local mine = worker .. SEP
local stale = 0
local released = {}
local busy = {}
local delays = {}
local i = 3
while i <= #ARGV do
  local lid, host, act = ARGV[i], ARGV[i + 1], ARGV[i + 2]
  local nxt
  if act == 'R' then
    nxt = i + 12 + 2 * tonumber(ARGV[i + 11])
  elseif act == 'T' then
    nxt = i + 6
  elseif act == 'B' then
    nxt = i + 5
  else
    nxt = i + 7
  end
  local v = redis.call('HGET', P .. 'leased', lid)
  if not v or string.sub(v, 1, #mine) ~= mine then
    stale = stale + 1
  else
    released[#released + 1] = lid
    busy[host] = (busy[host] or 0) - 1
    dirty[host] = true
    if act == 'R' then
      finish(ARGV[i + 3], ARGV[i + 4] == '1', ARGV[i + 5] == '1')
      local depth, hops, referrer = ARGV[i + 8], ARGV[i + 9], ARGV[i + 10]
      local added = 0
      for k = i + 12, nxt - 1, 2 do
        added = added + admit(ARGV[k], ARGV[k + 1], depth, hops, referrer)
      end
      if ARGV[i + 6] == '1' and added > 0 then count('redirects', 1) end
      count('blocked', tonumber(ARGV[i + 7]))
    elseif act == 'T' then
      redis.call('ZADD', P .. 'delayed', now + tonumber(ARGV[i + 3]), host .. SEP .. ARGV[i + 5])
      count('retries', 1)
      if ARGV[i + 4] == '1' then later(host, now + tonumber(ARGV[i + 3])) end
    elseif act == 'B' then
      redis.call('HSET', P .. 'robots', host, ARGV[i + 3])
      redis.call('HSET', P .. 'h:' .. host, 'robots', '2', 'delay', ARGV[i + 4])
      delays[host] = tonumber(ARGV[i + 4])
    else  -- robots_again: it redirected, or could not be reached (a wait before the next try)
      redis.call('HSET', P .. 'h:' .. host, 'robots', '0', 'rurl', ARGV[i + 3],
        'rhops', ARGV[i + 4], 'rfail', ARGV[i + 5])
      later(host, now + tonumber(ARGV[i + 6]))
    end
  end
  i = nxt
end
if #released > 0 then
  redis.call('HDEL', P .. 'leased', unpack(released))
  redis.call('ZREM', P .. 'leases', unpack(released))
end
for host, n in pairs(busy) do
  redis.call('HINCRBY', P .. 'h:' .. host, 'busy', n)
  local delay = delays[host] or tonumber(redis.call('HGET', P .. 'h:' .. host, 'delay')) or 0
  if delay > 0 then later(host, now + delay) end  -- the delay counts from the answer
end
flush()
redis.call('HSET', P .. 'workers', worker, tostring(now))
return stale
"""
)

RELEASE = (
    _PRELUDE
    + r"""
-- ARGV: prefix, worker, then lease ids it gives back unfinished (it is stopping):
-- back to the front of their hosts' queues at once, not after their leases expire
local mine = ARGV[2] .. SEP
local given = {}
local busy = {}
for i = 3, #ARGV do
  local lid = ARGV[i]
  local v = redis.call('HGET', P .. 'leased', lid)
  if v and string.sub(v, 1, #mine) == mine then
    given[#given + 1] = lid
    local rest = string.sub(v, #mine + 1)
    local j = string.find(rest, SEP, 1, true)
    local host, entry = string.sub(rest, 1, j - 1), string.sub(rest, j + 1)
    busy[host] = (busy[host] or 0) - 1
    dirty[host] = true
    if string.sub(entry, 1, 1) == 'r' then
      redis.call('HSET', P .. 'h:' .. host, 'robots', '0')
    else
      redis.call('LPUSH', P .. 'q:' .. host, entry)
    end
  end
end
if #given > 0 then
  redis.call('HDEL', P .. 'leased', unpack(given))
  redis.call('ZREM', P .. 'leases', unpack(given))
  count('released', #given)
end
for host, n in pairs(busy) do redis.call('HINCRBY', P .. 'h:' .. host, 'busy', n) end
flush()
return #given
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
