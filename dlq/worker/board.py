"""What each worker is doing, in memory its runner shares with it: the job board.

The supervisor must know, at any moment, whether each worker runs a job, which one and
since when: to enforce timeouts, to kill ``sigkill_on_stop`` jobs when stopping, to say
in its logs what a dying worker was running, and to tell a crash loop from a slot that
makes progress between crashes. A message per job over a pipe would wake the runner for
every job (at 20,000 jobs/s that is most of a core on a 2-core machine); instead each
worker writes one fixed-size record of an anonymous shared mapping, made by the runner
before it forks, and the runner reads the records when it looks (every tick). A write
costs about a microsecond and no system call.

The payload itself is not here: a job with a timeout is also sent whole over the
worker's pipe (:mod:`dlq.worker.channel`), since after killing it the supervisor must
hand it to the backend as ``TimedOut``.

Each record is guarded by a sequence number (a seqlock): the worker makes it odd before
changing the record and even after, and the reader takes a copy that began and ended
with the same even number. There is one writer per record (its worker), and a worker
that dies mid-write leaves an odd number: the reader then reports what it read last.
"""

from __future__ import annotations

import mmap
import struct
from dataclasses import dataclass

from dlq.domain.envelope import Job

__all__ = ["Board", "BoardEntry", "RunningJob"]

# seq, running, sigkill_on_stop, timeout_s, started_at, jobs_done, id, path
_RECORD = struct.Struct("=IBBIdQ64p190p")
_SEQ = struct.Struct("=I")
_BODY_OFFSET = _SEQ.size
_BODY = struct.Struct("=BBIdQ64p190p")
_MAX_TIMEOUT_S = 2**32 - 1


@dataclass(frozen=True, slots=True)
class RunningJob:
    """The job a worker runs, as its supervisor sees it (never its arguments)."""

    id: str
    path: str
    #: ``time.monotonic()`` in the worker when it handed the job to its task.
    started_at: float
    #: Seconds; None for none.
    timeout_s: int | None
    sigkill_on_stop: bool

    def __str__(self) -> str:
        return f"{self.path} [{self.id}]"


@dataclass(frozen=True, slots=True)
class BoardEntry:
    """One worker's record: the job it runs (None when idle) and the jobs it has finished."""

    running: RunningJob | None
    jobs_done: int


_IDLE = BoardEntry(None, 0)


class Board:
    """One record per worker slot index (from 1), shared by a runner and its workers."""

    def __init__(self, size: int) -> None:
        if size < 0:
            raise ValueError(f"a board cannot have {size} records")
        self._size = size
        # Anonymous and MAP_SHARED (the default): a forked child writes the same pages.
        # (At least one record's worth: a runner that serves only cron has no slots.)
        self._memory = mmap.mmap(-1, _RECORD.size * max(size, 1))
        self._last = [_IDLE] * (size + 1)
        # Per index, what the writer last wrote (its process's own copy, after the fork).
        self._seq = [0] * (size + 1)
        self._jobs_done = [0] * (size + 1)

    def _offset(self, index: int) -> int:
        if not 1 <= index <= self._size:
            raise IndexError(f"board index {index} is not in 1..{self._size}")
        return (index - 1) * _RECORD.size

    # -- the supervisor -------------------------------------------------------------------

    def reset(self, index: int) -> None:
        """Clear a record before a new worker is forked for it."""
        offset = self._offset(index)
        self._memory[offset : offset + _RECORD.size] = bytes(_RECORD.size)
        self._last[index] = _IDLE
        self._seq[index] = 0
        self._jobs_done[index] = 0

    def read(self, index: int) -> BoardEntry:
        offset = self._offset(index)
        for _ in range(100):
            (before,) = _SEQ.unpack_from(self._memory, offset)
            if before & 1:
                continue
            fields = _BODY.unpack_from(self._memory, offset + _BODY_OFFSET)
            (after,) = _SEQ.unpack_from(self._memory, offset)
            if before == after:
                self._last[index] = _entry(*fields)
                break
        # Mid-write (or its writer died mid-write): the last consistent copy.
        return self._last[index]

    # -- the worker -----------------------------------------------------------------------

    def started(self, index: int, job: Job, started_at: float) -> None:
        timeout = job.timeout if job.timeout and 0 < job.timeout <= _MAX_TIMEOUT_S else 0
        self._write(
            index,
            1,
            1 if job.sigkill_on_stop else 0,
            timeout,
            started_at,
            job.id.encode("utf-8", "replace"),
            job.path.encode("utf-8", "replace"),
        )

    def finished(self, index: int) -> None:
        self._jobs_done[index] += 1
        self._write(index, 0, 0, 0, 0.0, b"", b"")

    def _write(
        self,
        index: int,
        running: int,
        sigkill: int,
        timeout: int,
        started_at: float,
        job_id: bytes,
        path: bytes,
    ) -> None:
        offset = self._offset(index)
        seq = self._seq[index] + 1
        _SEQ.pack_into(self._memory, offset, seq)  # odd: being written
        _BODY.pack_into(
            self._memory,
            offset + _BODY_OFFSET,
            running,
            sigkill,
            timeout,
            started_at,
            self._jobs_done[index],
            job_id,
            path,
        )
        _SEQ.pack_into(self._memory, offset, seq + 1)
        self._seq[index] = seq + 1

    def close(self) -> None:
        self._memory.close()


def _entry(
    running: int,
    sigkill: int,
    timeout: int,
    started_at: float,
    jobs_done: int,
    job_id: bytes,
    path: bytes,
) -> BoardEntry:
    if not running:
        return BoardEntry(None, jobs_done)
    job = RunningJob(
        job_id.decode("utf-8", "replace"),
        path.decode("utf-8", "replace"),
        started_at,
        timeout or None,
        bool(sigkill),
    )
    return BoardEntry(job, jobs_done)
