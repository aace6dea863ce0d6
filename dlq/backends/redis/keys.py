"""Where the Redis backends keep things: the key layout, shared by both backends.

Keys written by django-lightweight-queue 4.x, unchanged so that both can work on one
Redis during a rolling upgrade (``P:`` is ``REDIS_PREFIX`` and a colon, or nothing)::

    P:django_lightweight_queue:<queue>                  list: waiting jobs; LPUSH in, pop right
    P:django_lightweight_queue:<queue>:processing:<n>   list: jobs worker slot n has taken
    P:django_lightweight_queue:<queue>:pause            string: pause end (isoformat ' '), with TTL

Keys only dlq writes; the queue name is a Redis Cluster hash tag::

    P:django_lightweight_queue:{<queue>}:dead           list: dead letters, newest first
    P:django_lightweight_queue:{<queue>}:started:<n>    string: SHA-1 of the raw payload that
                                                        slot n last handed to its task
    P:django_lightweight_queue:{<queue>}:lease:<n>      string: the runner serving slot n (PX TTL)
    P:django_lightweight_queue:{<queue>}:delayed        sorted set: held jobs (payload scored
                                                        by its run_after, epoch seconds)
    P:django_lightweight_queue:record:<job id>          string: a job's record (EX TTL)
    P:django_lightweight_queue:claim:<name>             string: a cron claim (EX TTL)
    P:django_lightweight_queue:cron:last_fired          hash: entry id -> last minute fired (UTC)

What the hash tag does and does not give in Redis Cluster: every dlq key of one queue
hashes to the slot of ``<queue>``, so they can be read and written together. The legacy
keys carry no tag (upstream never had one) and hash by their full names, each to its own
slot; the scripts that move jobs between the waiting list, a processing list and the dead
letters touch both kinds and so fail with CROSSSLOT on a cluster. These backends therefore
need a single Redis server (optionally replicated, or behind Sentinel); running on a
cluster would need the legacy keys renamed, which would break compatibility with upstream.

The pause key keeps upstream's value (``until.isoformat(' ')``); dlq sets it with a
millisecond expiry (upstream used whole seconds), and both sides only ask whether it
exists, so a pause set by either stops the other's workers.
"""

from __future__ import annotations

import re
from dataclasses import dataclass

__all__ = ["Keys", "glob_escape"]

_NAMESPACE = "django_lightweight_queue"
_GLOB = re.compile(r"([*?\[\]\\])")


def glob_escape(text: str) -> str:
    """``text`` matched literally by a Redis ``SCAN MATCH`` pattern."""
    return _GLOB.sub(r"\\\1", text)


@dataclass(frozen=True, slots=True)
class Keys:
    """Key names for one ``REDIS_PREFIX``."""

    prefix: str = ""

    @property
    def base(self) -> str:
        return f"{self.prefix}:{_NAMESPACE}" if self.prefix else _NAMESPACE

    def queue(self, queue: str) -> str:
        return f"{self.base}:{queue}"

    def processing(self, queue: str, worker_number: int) -> str:
        return f"{self.base}:{queue}:processing:{worker_number}"

    def pause(self, queue: str) -> str:
        return f"{self.base}:{queue}:pause"

    def _tagged(self, queue: str) -> str:
        return f"{self.base}:{{{queue}}}"

    def dead(self, queue: str) -> str:
        return f"{self._tagged(queue)}:dead"

    def started(self, queue: str, worker_number: int) -> str:
        return f"{self._tagged(queue)}:started:{worker_number}"

    def lease(self, queue: str, worker_number: int) -> str:
        return f"{self._tagged(queue)}:lease:{worker_number}"

    def delayed(self, queue: str) -> str:
        return f"{self._tagged(queue)}:delayed"

    def record(self, job_id: str) -> str:
        return f"{self.base}:record:{job_id}"

    def claim(self, name: str) -> str:
        return f"{self.base}:claim:{name}"

    @property
    def cron_history(self) -> str:
        return f"{self.base}:cron:last_fired"

    def processing_pattern(self, queue: str) -> str:
        return glob_escape(f"{self.base}:{queue}:processing:") + "*"

    def lease_pattern(self, queue: str) -> str:
        return glob_escape(f"{self._tagged(queue)}:lease:") + "*"

    def worker_number(self, key: bytes | str, queue: str) -> int | None:
        """The slot number at the end of a processing or lease key of ``queue``, if any."""
        text = key.decode("utf-8", "replace") if isinstance(key, bytes) else key
        for stem in (f"{self.base}:{queue}:processing:", f"{self._tagged(queue)}:lease:"):
            if text.startswith(stem):
                tail = text[len(stem) :]
                return int(tail) if tail.isdigit() and tail.isascii() else None
        return None
