"""The job envelope: what is queued, and how it is written as JSON.

A payload written by django-lightweight-queue 4.x::

    {"path": "app.tasks.fn", "args": [1], "kwargs": {"b": 2}, "timeout": null,
     "sigkill_on_stop": false, "created_time": "2024-01-02 03:04:05.123456"}

decodes into a :class:`Job`. dlq writes the same keys (``created_time`` in the same
format, UTC) plus ``id`` and ``attempts``, and, only when they differ from their defaults,
``run_after`` (a delayed job), ``retry`` (retries done) and ``store_result``.
"""

from __future__ import annotations

import dataclasses
import hashlib
import json
import os
from collections.abc import Iterable, Mapping, Sequence
from datetime import UTC, datetime
from typing import Any, TypeAlias

from pydantic import BaseModel, ConfigDict, Field, JsonValue, ValidationError

from dlq.exceptions import PayloadError

__all__ = ["TIME_FORMAT", "JSONValue", "Job", "decode_job", "encode_job", "encode_jobs"]

JSONValue: TypeAlias = JsonValue

#: The format django-lightweight-queue writes ``created_time`` in (always UTC).
TIME_FORMAT = "%Y-%m-%d %H:%M:%S.%f"


@dataclasses.dataclass(frozen=True, slots=True, init=False)
class Job:
    """One queued call of a task: what to run, with what, and under which limits.

    ``timeout`` is in seconds, as upstream; ``attempts`` counts the deliveries that
    started this job before (0 for a fresh job): crashes, not raised exceptions.
    ``run_after`` holds the job back until then (UTC); ``retry`` counts the retries done
    after the task raised (0 on the first run), so the run is attempt ``retry + 1``;
    ``store_result`` asks for a :class:`~dlq.domain.job_record.JobRecord`. ``raw`` keeps
    the exact bytes the job was decoded from, so a backend can find or dead-letter that
    very payload.
    """

    id: str
    path: str
    args: tuple[JSONValue, ...]
    kwargs: Mapping[str, JSONValue]
    timeout: int | None = None
    sigkill_on_stop: bool = False
    created_time: datetime | None = None
    attempts: int = 0
    run_after: datetime | None = None
    retry: int = 0
    store_result: bool = False
    raw: bytes | None = dataclasses.field(default=None, compare=False, repr=False)

    def __init__(
        self,
        id: str,
        path: str,
        args: tuple[JSONValue, ...],
        kwargs: Mapping[str, JSONValue],
        timeout: int | None = None,
        sigkill_on_stop: bool = False,
        created_time: datetime | None = None,
        attempts: int = 0,
        run_after: datetime | None = None,
        retry: int = 0,
        store_result: bool = False,
        raw: bytes | None = None,
    ) -> None:
        # What a frozen dataclass's own __init__ does, but through the slots' descriptors
        # instead of object.__setattr__: a third of the cost, and every enqueue and every
        # delivery makes a Job.
        s = _SLOT_SETTERS
        s[0](self, id)
        s[1](self, path)
        s[2](self, args)
        s[3](self, kwargs)
        s[4](self, timeout)
        s[5](self, sigkill_on_stop)
        s[6](self, created_time)
        s[7](self, attempts)
        s[8](self, run_after)
        s[9](self, retry)
        s[10](self, store_result)
        s[11](self, raw)

    @classmethod
    def create(
        cls,
        path: str,
        args: Sequence[JSONValue],
        kwargs: Mapping[str, JSONValue],
        *,
        now: datetime,
        timeout: int | None = None,
        sigkill_on_stop: bool = False,
        run_after: datetime | None = None,
        store_result: bool = False,
        job_id: str | None = None,
    ) -> Job:
        # Positionally, as in with_attempts: every enqueue makes a job, and keywords cost
        # a little more to bind.
        return cls(
            job_id or os.urandom(16).hex(),
            path,
            tuple(args),
            dict(kwargs),
            timeout,
            sigkill_on_stop,
            now.astimezone(UTC),
            0,
            None if run_after is None else run_after.astimezone(UTC),
            0,
            store_result,
        )

    def replace(self, **changes: object) -> Job:
        """A copy with ``changes`` applied; ``raw`` is dropped since it no longer matches."""
        return dataclasses.replace(self, raw=None, **changes)  # type: ignore[arg-type]  # keyword names are checked at run time by dataclasses

    def next_delivery(self) -> Job:
        """This job as handed out once more: ``attempts`` goes up by one."""
        return self.with_attempts(self.attempts + 1, raw=None)

    def with_attempts(self, attempts: int, raw: bytes | None) -> Job:
        """A copy with ``attempts`` and ``raw`` changed; spelt out, as ``dataclasses.replace``
        costs several times as much."""
        return Job(
            self.id,
            self.path,
            self.args,
            self.kwargs,
            self.timeout,
            self.sigkill_on_stop,
            self.created_time,
            attempts,
            self.run_after,
            self.retry,
            self.store_result,
            raw,
        )

    def retried(self, run_after: datetime) -> Job:
        """This job as queued again after its task raised: one more retry done, no
        deliveries yet, held back until ``run_after``."""
        return Job(
            self.id,
            self.path,
            self.args,
            self.kwargs,
            self.timeout,
            self.sigkill_on_stop,
            self.created_time,
            0,
            run_after.astimezone(UTC),
            self.retry + 1,
            self.store_result,
        )

    def is_due(self, now: datetime) -> bool:
        """False while the job is held back (``run_after`` still ahead of ``now``)."""
        return self.run_after is None or self.run_after <= now

    def identity(self) -> str:
        """What makes two jobs duplicates: everything but id, created time and attempts."""
        return json.dumps(
            [self.path, self.args, self.kwargs, self.timeout, self.sigkill_on_stop],
            sort_keys=True,
            separators=(",", ":"),
        )

    def encode(self) -> bytes:
        return encode_job(self)

    def __str__(self) -> str:
        return f"{self.path} [{self.id}]"


_SLOT_SETTERS = tuple(vars(Job)[field.name].__set__ for field in dataclasses.fields(Job))
_dumps = json.JSONEncoder(separators=(",", ":")).encode
_BOOL = {True: "true", False: "false"}


def encode_job(job: Job) -> bytes:
    """The JSON payload for ``job``: upstream's keys first, then ``id`` and ``attempts``.

    Written field by field rather than through one ``json.dumps`` of a dict: enqueueing
    spends most of its time here, and this is twice as fast for the same bytes.
    """
    head, middle, tail = _shared_json(job)
    return _payload(job, head, middle, tail)


def encode_jobs(jobs: Iterable[Job]) -> list[bytes]:
    """``[encode_job(job) for job in jobs]``, written faster for the jobs of a bulk enqueue.

    Those differ only in ``id``, ``args`` and ``kwargs``: the JSON of their other fields is
    written once for each run of jobs that share them, not once per job.
    """
    payloads = []
    shared: Job | None = None
    head = middle = tail = ""
    for job in jobs:
        # Compared by identity: that is cheap, the jobs of one bulk enqueue hold the very
        # same objects, and equal values that are not identical only cost a recomputation.
        if not (
            shared is not None
            and job.path is shared.path
            and job.created_time is shared.created_time
            and job.timeout is shared.timeout
            and job.sigkill_on_stop is shared.sigkill_on_stop
            and job.attempts is shared.attempts
            and job.run_after is shared.run_after
            and job.retry is shared.retry
            and job.store_result is shared.store_result
        ):
            shared = job
            head, middle, tail = _shared_json(job)
        payloads.append(_payload(job, head, middle, tail))
    return payloads


def _shared_json(job: Job) -> tuple[str, str, str]:
    """The payload of ``job`` around its ``args``, ``kwargs`` and ``id``."""
    return (
        f'{{"path":{_json_path(job.path)},"args":',
        f',"timeout":{"null" if job.timeout is None else int(job.timeout)},'
        f'"sigkill_on_stop":{_BOOL[bool(job.sigkill_on_stop)]},'
        f'"created_time":{_json_time(job.created_time)},"id":',
        f',"attempts":{int(job.attempts)}{_lifecycle_json(job)}}}',
    )


def _lifecycle_json(job: Job) -> str:
    """The keys a job carries only when they are not their defaults (so a plain job's
    payload is upstream's plus ``id`` and ``attempts``, as before)."""
    if job.run_after is None and not job.retry and not job.store_result:
        return ""
    parts = []
    if job.run_after is not None:
        parts.append(
            '"run_after":"'
            + job.run_after.astimezone(UTC).isoformat(" ", "microseconds")[:26]
            + '"'
        )
    if job.retry:
        parts.append(f'"retry":{int(job.retry)}')
    if job.store_result:
        parts.append('"store_result":true')
    return "," + ",".join(parts)


def _payload(job: Job, head: str, middle: str, tail: str) -> bytes:
    """The payload of ``job``, given :func:`_shared_json` of it (or of a job like it)."""
    return (
        f'{head}{_dumps(job.args) if job.args else "[]"},"kwargs":'
        f"{_dumps(job.kwargs) if job.kwargs else '{}'}{middle}{_json_id(job.id)}{tail}"
    ).encode()


_PATHS: dict[str, str] = {}
_LAST_TIME: list[tuple[datetime | None, str]] = [(None, "null")]


def _json_id(job_id: str) -> str:
    # dlq's own ids are hex: nothing in them to escape, so no encoder call per job.
    return f'"{job_id}"' if job_id.isascii() and job_id.isalnum() else _dumps(job_id)


def _json_path(path: str) -> str:
    encoded = _PATHS.get(path)
    if encoded is None:
        encoded = _dumps(path)
        if len(_PATHS) < 4096:  # task paths are few; a flood of odd ones is not cached
            _PATHS[path] = encoded
    return encoded


def _json_time(when: datetime | None) -> str:
    """``when`` in UTC as :data:`TIME_FORMAT` writes it, as a JSON string.

    The last one is remembered because the jobs of one bulk enqueue share one time (for
    backends that encode them one at a time; :func:`encode_jobs` needs it once anyway).
    """
    if when is None:
        return "null"
    last, encoded = _LAST_TIME[0]
    if when is last:
        return encoded
    # TIME_FORMAT is the first 26 characters of the UTC isoformat (the rest is "+00:00"):
    # slicing them off is cheaper than a naive copy of the datetime to format.
    encoded = '"' + when.astimezone(UTC).isoformat(" ", "microseconds")[:26] + '"'
    _LAST_TIME[0] = (when, encoded)
    return encoded


class _Wire(BaseModel):
    """The payload as it sits in a queue; strict, so a wrong type is an error, not a guess."""

    model_config = ConfigDict(extra="forbid", strict=True, frozen=True)

    path: str = Field(min_length=1)
    # Any, not JsonValue: validated from JSON text only, every value here already is JSON.
    # JsonValue's recursive schema cost 50 ms to build when this module is imported (in
    # every worker's start-up) and 1.4 us more per decode (4.0 against 2.6 us a payload).
    args: list[Any]
    kwargs: dict[str, Any]
    timeout: int | None = Field(default=None, ge=0)
    sigkill_on_stop: bool = False
    created_time: str | None = None
    id: str | None = Field(default=None, min_length=1)
    attempts: int = Field(default=0, ge=0)
    run_after: str | None = None
    retry: int = Field(default=0, ge=0)
    store_result: bool = False


def decode_job(raw: bytes | str, *, deliver: bool = False) -> Job:
    """The job in ``raw``, or :class:`~dlq.exceptions.PayloadError` saying what is wrong.

    ``deliver``: the job as handed to its task, ``attempts`` counting this delivery (one
    object made instead of two, for every job a worker takes).
    """
    data = raw.encode("utf-8", "surrogateescape") if isinstance(raw, str) else raw
    try:
        wire = _Wire.model_validate_json(data)
    except ValidationError as exc:
        raise PayloadError(f"malformed job payload: {_describe(exc)}", data) from None
    return Job(
        id=wire.id or "legacy-" + hashlib.sha256(data).hexdigest()[:24],
        path=wire.path,
        args=tuple(wire.args),
        kwargs=wire.kwargs,
        timeout=wire.timeout,
        sigkill_on_stop=wire.sigkill_on_stop,
        created_time=(None if wire.created_time is None else _parse_time(wire.created_time, data)),
        attempts=wire.attempts + 1 if deliver else wire.attempts,
        run_after=None
        if wire.run_after is None
        else _parse_time(wire.run_after, data, "run_after"),
        retry=wire.retry,
        store_result=wire.store_result,
        raw=data,
    )


_LAST_PARSED: list[tuple[str | None, datetime]] = [(None, datetime.min)]


def _parse_time(text: str, raw: bytes, field: str = "created_time") -> datetime:
    # The last one is remembered: the jobs of one bulk enqueue, taken in one batch, share it.
    last_text, parsed = _LAST_PARSED[0]
    if text == last_text:
        return parsed
    try:
        parsed = datetime.fromisoformat(text)
    except ValueError:
        raise PayloadError(
            f"malformed job payload: {field} {text!r} is not a time like"
            " '2024-01-02 03:04:05.123456'",
            raw,
        ) from None
    if parsed.tzinfo is None:
        parsed = parsed.replace(tzinfo=UTC)
    _LAST_PARSED[0] = (text, parsed)
    return parsed


def _describe(exc: ValidationError) -> str:
    parts = []
    for error in exc.errors(include_url=False):
        where = ".".join(str(part) for part in error["loc"]) or "payload"
        kind = error["type"]
        if kind == "missing":
            parts.append(f"missing field {where!r}")
        elif kind == "extra_forbidden":
            parts.append(f"unknown field {where!r}")
        elif kind == "json_invalid":
            parts.append(f"not JSON ({error['msg']})")
        else:
            parts.append(f"{where}: {error['msg']} (got {error.get('input')!r:.60})")
    return "; ".join(parts)
