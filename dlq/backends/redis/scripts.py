"""The Lua scripts of the Redis backends, each run atomically by the server.

They are sent by SHA-1 (``EVALSHA``), with the text only when the server says it does
not know one (``NOSCRIPT``), so a job costs no script text on the wire: :func:`run_script`
does that for a redis-py client, :meth:`dlq.backends.redis.line.Line.script` for a line.

Lists keep upstream's orientation: the newest job at the left (head), the next to run at
the right (tail). A processing list keeps the same order as the queue it was taken from.
"""

from __future__ import annotations

import hashlib
from collections.abc import Sequence
from dataclasses import dataclass, field

import redis

__all__ = [
    "ACQUIRE",
    "CLEAR",
    "CLEAR_DELAYED",
    "DEDUPLICATE",
    "FETCH",
    "MOVE",
    "PROMOTE",
    "RECORD_FIRED",
    "RELEASE",
    "RENEW",
    "REQUEUE",
    "Arg",
    "LuaScript",
    "run_script",
]

Arg = bytes | str | int | float


@dataclass(frozen=True)
class LuaScript:
    name: str
    source: str
    sha: str = field(init=False)

    def __post_init__(self) -> None:
        object.__setattr__(self, "sha", hashlib.sha1(self.source.encode("utf-8")).hexdigest())

    def command(self, keys: Sequence[str], args: Sequence[Arg]) -> tuple[Arg, ...]:
        """The ``EVALSHA`` command that runs this script."""
        return ("EVALSHA", self.sha, len(keys), *keys, *args)


def run_script(
    client: redis.Redis, script: LuaScript, keys: Sequence[str], args: Sequence[Arg]
) -> object:
    """Run ``script`` through a redis-py client, sending its text only when the server lacks it."""
    try:
        return client.evalsha(script.sha, len(keys), *keys, *args)
    except redis.exceptions.NoScriptError:
        return client.eval(script.source, len(keys), *keys, *args)


# Takes jobs for one worker slot, in one round trip, unless the queue is paused.
# KEYS: queue, processing, pause, started. ARGV[1]: how many jobs the slot should hold;
# 0 only checks. Returns {pause PTTL (-2: not paused), started marker, ...}: when paused,
# then the number of jobs given back; when checking, the processing list's length;
# otherwise every job in the processing list (newest first).
# When paused, jobs the slot holds but has not started go back to the queue's tail, in
# order, so no reserved job waits out a pause in a worker's buffer.
FETCH = LuaScript(
    "fetch",
    """
local ttl = redis.call('PTTL', KEYS[3])
local marker = redis.call('GET', KEYS[4]) or ''
if ttl ~= -2 then
  local items = redis.call('LRANGE', KEYS[2], 0, -1)
  local back, keep = {}, false
  for i = 1, #items do
    if not keep and marker ~= '' and redis.sha1hex(items[i]) == marker then
      keep = items[i]
    else
      back[#back + 1] = items[i]
    end
  end
  if #back > 0 then
    redis.call('DEL', KEYS[2])
    if keep then redis.call('RPUSH', KEYS[2], keep) end
    for i = 1, #back, 1000 do
      redis.call('RPUSH', KEYS[1], unpack(back, i, math.min(i + 999, #back)))
    end
  end
  return {ttl, marker, #back}
end
local want = tonumber(ARGV[1])
local have = redis.call('LLEN', KEYS[2])
if want == 0 then return {-2, marker, have} end
local take = want - have
if take > 0 then
  local items = redis.call('LRANGE', KEYS[1], -take, -1)
  if #items > 0 then
    redis.call('LTRIM', KEYS[1], 0, -take - 1)
    local oldest_first = {}
    for i = #items, 1, -1 do oldest_first[#oldest_first + 1] = items[i] end
    redis.call('LPUSH', KEYS[2], unpack(oldest_first))
  end
end
local out = redis.call('LRANGE', KEYS[2], 0, -1)
table.insert(out, 1, marker)
table.insert(out, 1, -2)
return out
""",
)

# Moves jobs out of one processing list, each only while more copies of it are there than
# should stay, so running it twice (a reply lost with the connection) moves nothing twice.
# KEYS: processing, queue, dead, lease, started, delayed. ARGV[1]: '1' to do nothing
# (returning -1) when the slot is leased; ARGV[2]: '1' to delete the started marker; then
# groups of five (see dlq.backends.redis.recovery.Move): raw payload, copies of it to
# leave, destination, value to put there, score (for 'delay'; else empty). Destinations:
# 'requeue_last' (the queue's head: runs after every waiting job), 'requeue_next' (the
# queue's tail: runs next), 'dead' (the dead letters), 'hold_next' (the processing list's
# tail: this slot hands it out next), 'delay' (the delayed jobs, held until the score),
# 'drop' (nowhere). Returns how many groups moved a job.
MOVE = LuaScript(
    "move",
    """
if ARGV[1] == '1' and redis.call('EXISTS', KEYS[4]) == 1 then return -1 end
local moved = 0
for i = 3, #ARGV, 5 do
  local raw, leave, to, value = ARGV[i], tonumber(ARGV[i + 1]), ARGV[i + 2], ARGV[i + 3]
  local found = redis.call('LPOS', KEYS[1], raw, 'COUNT', leave + 1)
  if #found > leave then
    redis.call('LREM', KEYS[1], -1, raw)
    if to == 'requeue_last' then redis.call('LPUSH', KEYS[2], value)
    elseif to == 'requeue_next' then redis.call('RPUSH', KEYS[2], value)
    elseif to == 'dead' then redis.call('LPUSH', KEYS[3], value)
    elseif to == 'hold_next' then redis.call('RPUSH', KEYS[1], value)
    elseif to == 'delay' then redis.call('ZADD', KEYS[6], ARGV[i + 4], value) end
    moved = moved + 1
  end
end
if ARGV[2] == '1' then redis.call('DEL', KEYS[5]) end
return moved
""",
)

# Empties a list and, given pairs of (processing list, started marker) after it, every
# reserved job those slots have not started. Returns how many jobs went.
CLEAR = LuaScript(
    "clear",
    """
local n = redis.call('LLEN', KEYS[1])
redis.call('DEL', KEYS[1])
for i = 2, #KEYS, 2 do
  local marker = redis.call('GET', KEYS[i + 1]) or ''
  local items = redis.call('LRANGE', KEYS[i], 0, -1)
  local keep = false
  for j = 1, #items do
    if not keep and marker ~= '' and redis.sha1hex(items[j]) == marker then keep = items[j] end
  end
  if #items > 0 then
    redis.call('DEL', KEYS[i])
    n = n + #items
    if keep then
      redis.call('RPUSH', KEYS[i], keep)
      n = n - 1
    end
  end
end
return n
""",
)

# Moves due delayed jobs to the queue's head (where new jobs go), earliest first, at most
# ARGV[2] of them. KEYS: delayed, queue. ARGV[1]: now, as epoch seconds (the scores' unit).
# Returns how many moved. One run is atomic: two runners promoting at once move each job
# once. LPUSH of a, b, c leaves a nearest the tail, so the earliest due runs first.
PROMOTE = LuaScript(
    "promote",
    """
local due = redis.call('ZRANGEBYSCORE', KEYS[1], '-inf', ARGV[1], 'LIMIT', 0, tonumber(ARGV[2]))
for i = 1, #due, 1000 do
  local last = math.min(i + 999, #due)
  redis.call('ZREM', KEYS[1], unpack(due, i, last))
  redis.call('LPUSH', KEYS[2], unpack(due, i, last))
end
return #due
""",
)

# Removes every delayed job of a queue. KEYS: delayed. Returns how many there were.
CLEAR_DELAYED = LuaScript(
    "clear_delayed",
    """
local n = redis.call('ZCARD', KEYS[1])
redis.call('DEL', KEYS[1])
return n
""",
)

# Removes duplicates given as (drop, keep) pairs, each only while its keeper is still
# waiting in the queue (when drop and keep are byte-identical: while two copies are), so
# a job whose twin a worker has already taken is never removed. Returns how many went.
DEDUPLICATE = LuaScript(
    "deduplicate",
    """
local removed = 0
for i = 1, #ARGV, 2 do
  local drop, keep = ARGV[i], ARGV[i + 1]
  local ok
  if drop == keep then
    ok = #redis.call('LPOS', KEYS[1], keep, 'COUNT', 2) >= 2
  else
    ok = redis.call('LPOS', KEYS[1], keep) ~= false
  end
  if ok then removed = removed + redis.call('LREM', KEYS[1], 1, drop) end
end
return removed
""",
)

# Moves dead letters back to the queue's head: pairs of (dead-letter entry, payload).
REQUEUE = LuaScript(
    "requeue",
    """
local n = 0
for i = 1, #ARGV, 2 do
  if redis.call('LREM', KEYS[1], -1, ARGV[i]) > 0 then
    redis.call('LPUSH', KEYS[2], ARGV[i + 1])
    n = n + 1
  end
end
return n
""",
)

ACQUIRE = LuaScript(
    "acquire",
    """
local owner = redis.call('GET', KEYS[1])
if owner == false or owner == ARGV[1] then
  redis.call('SET', KEYS[1], ARGV[1], 'PX', ARGV[2])
  return 1
end
return 0
""",
)

RENEW = LuaScript(
    "renew",
    """
if redis.call('GET', KEYS[1]) == ARGV[1] then
  redis.call('PEXPIRE', KEYS[1], ARGV[2])
  return 1
end
return 0
""",
)

RELEASE = LuaScript(
    "release",
    """
if redis.call('GET', KEYS[1]) == ARGV[1] then
  redis.call('DEL', KEYS[1])
  return 1
end
return 0
""",
)

# Keeps the latest minute each cron entry fired for. KEYS: the history hash.
# ARGV: entry id, UTC ISO time; ISO strings of one format order as the times do.
RECORD_FIRED = LuaScript(
    "record_fired",
    """
local previous = redis.call('HGET', KEYS[1], ARGV[1])
if previous == false or previous < ARGV[2] then
  redis.call('HSET', KEYS[1], ARGV[1], ARGV[2])
end
return 0
""",
)
