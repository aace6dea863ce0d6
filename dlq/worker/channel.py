"""What a worker process tells its supervisor over a pipe of its own, besides the board.

Which job each worker runs, and since when, is on the job board (:mod:`dlq.worker.board`),
written for every job without a system call. Two things need more than a fixed-size
record, and come down this pipe as lines of JSON:

- :class:`JobStarted`, for a job with a timeout: the supervisor, not the worker, enforces
  timeouts (a job that blocks signals or sits in C code cannot stop a SIGKILL from
  another process), and after the kill it must hand the job itself, with the exact bytes
  it was dequeued as, to the backend as ``TimedOut``.
- :class:`WorkerExiting`: why the worker leaves on purpose.

Each worker has its own pipe and is its only writer, so lines never interleave; the
pipe also tells the supervisor, by its end of file, that the worker is gone.
"""

from __future__ import annotations

import base64
import dataclasses
import json
import os
from dataclasses import dataclass
from typing import TypeAlias

from dlq.domain.envelope import Job, decode_job

__all__ = [
    "ChannelReader",
    "ChannelWriter",
    "JobStarted",
    "Message",
    "WorkerExiting",
]


@dataclass(frozen=True, slots=True)
class JobStarted:
    """A job with a timeout starts: what the supervisor acknowledges if it must kill it."""

    job: Job
    #: ``time.monotonic()`` in the worker just before the job was handed to its task.
    started_at: float

    @staticmethod
    def needed_for(job: Job) -> bool:
        """Whether the supervisor may have to acknowledge ``job`` itself (it has a timeout;
        a timeout of 0 means none, as upstream)."""
        return bool(job.timeout)


@dataclass(frozen=True, slots=True)
class WorkerExiting:
    """The worker leaves on purpose (``reason``: see ``StopReason``) after ``jobs_done`` jobs."""

    reason: str
    jobs_done: int


Message: TypeAlias = JobStarted | WorkerExiting


def _encode(message: Message) -> bytes:
    if isinstance(message, JobStarted):
        job = message.job
        data: dict[str, object] = {
            "event": "started",
            "at": message.started_at,
            # The payload as encoded now (with this delivery's attempts) and the exact
            # bytes it was dequeued as, which a backend may use to find it again.
            "job": job.encode().decode("utf-8"),
            "raw": None if job.raw is None else base64.b64encode(job.raw).decode("ascii"),
        }
    else:
        data = {"event": "exiting", "reason": message.reason, "jobs_done": message.jobs_done}
    return json.dumps(data, separators=(",", ":")).encode("utf-8") + b"\n"


def _decode(line: bytes) -> Message:
    data = json.loads(line)
    if data["event"] == "exiting":
        return WorkerExiting(str(data["reason"]), int(data["jobs_done"]))
    job = decode_job(data["job"])
    raw = data["raw"]
    # decode_job keeps the bytes it decoded; put back the ones the backend handed out.
    job = dataclasses.replace(job, raw=None if raw is None else base64.b64decode(raw))
    return JobStarted(job, float(data["at"]))


class ChannelWriter:
    """The worker's end."""

    def __init__(self, fd: int) -> None:
        self._fd = fd

    def send(self, message: Message) -> None:
        view = memoryview(_encode(message))
        while view:
            # A big payload may not fit the pipe at once; the supervisor keeps reading.
            written = os.write(self._fd, view)
            view = view[written:]

    def close(self) -> None:
        os.close(self._fd)


class ChannelReader:
    """The supervisor's end: non-blocking, buffering partial lines."""

    def __init__(self, fd: int) -> None:
        self.fd = fd
        os.set_blocking(fd, False)
        self._buffer = bytearray()
        #: The worker's end is closed: it has exited (or is exiting).
        self.eof = False
        self.closed = False

    def read(self) -> list[Message]:
        """Every complete message available now; sets ``eof`` at end of file."""
        while not (self.eof or self.closed):
            try:
                chunk = os.read(self.fd, 65536)
            except BlockingIOError:
                break
            if not chunk:
                self.eof = True
            self._buffer += chunk
        messages = []
        while (end := self._buffer.find(b"\n")) >= 0:
            line = bytes(self._buffer[:end])
            del self._buffer[: end + 1]
            messages.append(_decode(line))
        return messages

    def close(self) -> None:
        if not self.closed:
            self.closed = True
            os.close(self.fd)
