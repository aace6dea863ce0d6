"""The job board: what each worker runs, shared with its runner without a system call."""

from __future__ import annotations

import os
import struct
from datetime import UTC, datetime

import pytest
from hypothesis import given
from hypothesis import strategies as st

from dlq.domain.envelope import Job
from dlq.worker.board import Board, BoardEntry, RunningJob

NOW = datetime(2026, 1, 1, tzinfo=UTC)


def _job(path: str = "shop.tasks.charge", **options: object) -> Job:
    return Job.create(path, [1], {}, now=NOW).replace(**options)


def test_a_record_says_what_runs_since_when_and_how_many_jobs_finished() -> None:
    board = Board(3)
    job = _job(timeout=30, sigkill_on_stop=True)
    assert board.read(2) == BoardEntry(None, 0)

    board.started(2, job, 12.5)
    assert board.read(2) == BoardEntry(RunningJob(job.id, job.path, 12.5, 30, True), 0)
    assert board.read(1) == BoardEntry(None, 0)  # records are separate

    board.finished(2)
    board.started(2, _job(), 13.0)
    entry = board.read(2)
    assert entry.jobs_done == 1
    assert entry.running is not None
    assert entry.running.timeout_s is None
    assert not entry.running.sigkill_on_stop
    board.close()


def test_a_forked_worker_writes_what_its_runner_reads() -> None:
    board = Board(1)
    job = _job(timeout=5)
    pid = os.fork()
    if pid == 0:  # pragma: no cover - the child
        board.finished(1)
        board.started(1, job, 99.0)
        os._exit(0)
    _, status = os.waitpid(pid, 0)
    assert os.waitstatus_to_exitcode(status) == 0
    assert board.read(1) == BoardEntry(RunningJob(job.id, job.path, 99.0, 5, False), 1)

    board.reset(1)  # before the slot's next worker is forked
    assert board.read(1) == BoardEntry(None, 0)
    board.close()


def test_a_record_left_mid_write_reads_as_the_last_whole_one() -> None:
    board = Board(1)
    job = _job()
    board.started(1, job, 1.0)
    first = board.read(1)
    # A worker killed between marking its record "being written" and finishing it.
    memory = board._memory
    struct.pack_into("=I", memory, 0, 3)
    memory[40:60] = b"\xff" * 20
    assert board.read(1) == first
    board.close()


@given(
    path=st.text(min_size=1, max_size=400),
    job_id=st.text(min_size=1, max_size=100),
    timeout=st.one_of(st.none(), st.integers(min_value=0, max_value=2**40)),
)
def test_any_job_fits_its_record(path: str, job_id: str, timeout: int | None) -> None:
    board = Board(1)
    board.started(1, _job(path).replace(id=job_id, timeout=timeout), 5.0)
    running = board.read(1).running
    assert running is not None
    assert path.startswith(running.path.rstrip("\ufffd")) or "\ufffd" in running.path
    assert job_id.startswith(running.id.rstrip("\ufffd")) or "\ufffd" in running.id
    assert running.timeout_s == (timeout if timeout and timeout < 2**32 else None)
    board.close()


def test_indexes_outside_the_board_are_refused() -> None:
    board = Board(2)
    with pytest.raises(IndexError, match=r"board index 3 is not in 1\.\.2"):
        board.read(3)
    with pytest.raises(ValueError, match="cannot have -1 records"):
        Board(-1)
    board.close()
    empty = Board(0)  # a runner that only schedules cron
    with pytest.raises(IndexError):
        empty.read(1)
    empty.close()
