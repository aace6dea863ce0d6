"""The database backend's tables, as its SQL names them; ``dlq/models.py`` declares them.

=================  ==========================================================================
``dlq_job``        waiting and reserved jobs, one row each (finished ones are deleted):
                   ``queue``, ``payload`` (the JSON :func:`~dlq.domain.envelope.encode_job`
                   writes), ``priority`` (higher first, default 0), ``available_at`` (the
                   database's clock at enqueue, or the time a delayed job becomes due),
                   ``is_delayed`` (not yet due: outside the claim index until promoted),
                   ``worker`` (the worker number holding it, NULL while it waits)
``dlq_dead_job``   dead letters: the payload as it was queued, the reason and when
``dlq_queue``      per queue: ``paused_until``
``dlq_slot``       per worker slot: the runner's lease (``owner``, ``lease_until``) and
                   ``started``, the id of the job row the slot last started
``dlq_claim``      claims (cron minutes), keyed by the SHA-256 of the claim's key
``dlq_cron_firing``  per cron entry (keyed by the SHA-256 of its id): the latest minute fired
``dlq_job_record``  per job that keeps its result (keyed by job id): the encoded
                   :class:`~dlq.domain.job_record.JobRecord` and ``expires_at``, after which
                   it is ignored and pruned
=================  ==========================================================================

Every time is the database's own clock (see :mod:`.sql_postgres` and its siblings), so
machines whose clocks disagree still agree on leases, claims and pauses.
"""

from __future__ import annotations

import hashlib
from typing import Final

__all__ = [
    "CLAIM_TABLE",
    "CRON_TABLE",
    "DEAD_TABLE",
    "JOB_TABLE",
    "MAX_NAME_LENGTH",
    "MAX_PAYLOAD_BYTES",
    "QUEUE_TABLE",
    "RECORD_TABLE",
    "SLOT_TABLE",
    "key_digest",
    "notify_channel",
]

JOB_TABLE: Final = "dlq_job"
DEAD_TABLE: Final = "dlq_dead_job"
QUEUE_TABLE: Final = "dlq_queue"
SLOT_TABLE: Final = "dlq_slot"
CLAIM_TABLE: Final = "dlq_claim"
CRON_TABLE: Final = "dlq_cron_firing"
RECORD_TABLE: Final = "dlq_job_record"

#: The longest queue name (and lease owner) the tables hold.
MAX_NAME_LENGTH: Final = 255

#: The largest payload enqueue accepts. The column could hold more, but one row must also
#: fit in one statement (MariaDB's ``max_allowed_packet`` is 16 MiB by default) and a job
#: this large belongs in a table of its own, with its id as the argument.
MAX_PAYLOAD_BYTES: Final = 1024 * 1024


def key_digest(key: str) -> str:
    """The primary key a claim or cron entry is stored under: any length fits in 64 chars."""
    return hashlib.sha256(key.encode("utf-8")).hexdigest()


def notify_channel(queue: str) -> str:
    """PostgreSQL's LISTEN/NOTIFY channel of ``queue``: a plain identifier of any queue name
    (channel names are identifiers of at most 63 bytes; queue names are neither)."""
    return "dlq_" + hashlib.blake2b(queue.encode("utf-8"), digest_size=12).hexdigest()
