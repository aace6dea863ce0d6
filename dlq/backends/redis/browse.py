"""Reading a queue one page at a time (``SupportsBrowse``) and its live leases, for the dashboard.

Every read here is bounded by the page asked for, never by the queue's length:

* Waiting jobs are LPUSHed and taken from the right (see :mod:`.keys`), so the next job
  is the list's last element and page ``offset, limit`` is ``LRANGE -(offset+limit)
  -(offset+1)``, read back to front. Redis walks a long list from whichever end is
  nearer, so this costs ``offset + limit`` elements, not the list's length.
* Dead letters are LPUSHed too, and shown newest first: ``LRANGE offset offset+limit-1``.
* Leases are found with the same ``SCAN`` as :func:`.admin.slot_numbers` and read with
  one ``MGET``.
"""

from __future__ import annotations

import redis

from dlq.backends.redis.connection import as_bytes_list
from dlq.backends.redis.dead_letters import decode_entry
from dlq.backends.redis.keys import Keys
from dlq.domain.dead_letter import DeadLetter

__all__ = ["dead_letter_page", "slot_leases", "waiting_page"]


def waiting_page(
    client: redis.Redis, keys: Keys, queue: str, offset: int, limit: int
) -> list[bytes]:
    """Payloads in the order workers take them: the next job first."""
    if limit <= 0 or offset < 0:
        return []
    stop = -(offset + 1)
    start = stop - limit + 1
    return as_bytes_list(client.lrange(keys.queue(queue), start, stop))[::-1]


def dead_letter_page(
    client: redis.Redis, keys: Keys, queue: str, offset: int, limit: int
) -> list[DeadLetter]:
    if limit <= 0 or offset < 0:
        return []
    entries = as_bytes_list(client.lrange(keys.dead(queue), offset, offset + limit - 1))
    return [decode_entry(queue, entry) for entry in entries]


def slot_leases(client: redis.Redis, keys: Keys, queue: str) -> dict[int, str]:
    """Worker number to the owner its lease names, for every live lease of ``queue``."""
    numbered: dict[int, bytes | str] = {}
    for key in client.scan_iter(match=keys.lease_pattern(queue), count=1000):
        number = keys.worker_number(key, queue)
        if number is not None:
            numbered[number] = key
    if not numbered:
        return {}
    numbers = sorted(numbered)
    owners = client.mget([numbered[number] for number in numbers])
    return {
        number: owner.decode("utf-8", "replace") if isinstance(owner, bytes) else str(owner)
        for number, owner in zip(numbers, owners, strict=True)
        if owner is not None  # expired between the SCAN and the MGET
    }
