from __future__ import annotations

import contextlib
import dataclasses
import json
from datetime import UTC, datetime

import pytest
from hypothesis import given
from hypothesis import strategies as st

from dlq.domain.envelope import Job, decode_job, encode_job, encode_jobs
from dlq.exceptions import PayloadError

UPSTREAM = (
    '{"path": "app.tasks.fn", "args": [1], "kwargs": {"b": 2}, "timeout": null,'
    ' "sigkill_on_stop": false, "created_time": "2024-01-02 03:04:05.123456"}'
)
NOW = datetime(2026, 1, 2, 3, 4, 5, 678901, tzinfo=UTC)

json_values = st.recursive(
    st.none()
    | st.booleans()
    | st.integers()
    | st.text()
    | st.floats(allow_nan=False, allow_infinity=False),
    lambda inner: st.lists(inner, max_size=3) | st.dictionaries(st.text(), inner, max_size=3),
    max_leaves=10,
)


def test_decodes_upstream_payload() -> None:
    job = decode_job(UPSTREAM)
    assert (job.path, job.args, dict(job.kwargs)) == ("app.tasks.fn", (1,), {"b": 2})
    assert job.timeout is None
    assert job.sigkill_on_stop is False
    assert job.created_time == datetime(2024, 1, 2, 3, 4, 5, 123456, tzinfo=UTC)
    assert job.attempts == 0
    assert job.id.startswith("legacy-")
    assert job.raw == UPSTREAM.encode()


def test_legacy_id_is_stable_for_the_same_bytes() -> None:
    assert decode_job(UPSTREAM).id == decode_job(UPSTREAM.encode()).id


def test_encoding_keeps_upstreams_keys_and_time_format() -> None:
    job = Job.create("app.tasks.fn", [1], {"b": 2}, now=NOW, timeout=30)
    data = json.loads(encode_job(job))
    assert data["created_time"] == "2026-01-02 03:04:05.678901"
    assert list(data)[:6] == [
        "path",
        "args",
        "kwargs",
        "timeout",
        "sigkill_on_stop",
        "created_time",
    ]
    assert data["id"] == job.id
    assert data["attempts"] == 0


@given(
    args=st.lists(json_values, max_size=4),
    kwargs=st.dictionaries(st.text(min_size=1), json_values, max_size=4),
    timeout=st.none() | st.integers(min_value=1, max_value=10**6),
    sigkill=st.booleans(),
    attempts=st.integers(min_value=0, max_value=100),
)
def test_round_trip(
    args: list[object], kwargs: dict[str, object], timeout: int | None, sigkill: bool, attempts: int
) -> None:
    job = Job.create("a.b", args, kwargs, now=NOW, timeout=timeout, sigkill_on_stop=sigkill)  # type: ignore[arg-type]  # JSON values from the strategy
    job = job.replace(attempts=attempts)
    assert decode_job(job.encode()) == job
    handed_out = decode_job(job.encode(), deliver=True)
    assert handed_out == job.next_delivery()
    assert handed_out.raw == job.encode()  # kept: the backend finds the payload by it


@given(
    st.lists(
        st.tuples(
            st.lists(json_values, max_size=2),
            st.dictionaries(st.text(min_size=1), json_values, max_size=2),
            st.sampled_from(["a.b", "c.d"]),
            st.sampled_from([NOW, datetime(2020, 1, 1, tzinfo=UTC)]),
            st.none() | st.integers(min_value=1, max_value=9),
        ),
        max_size=6,
    )
)
def test_a_batch_encodes_as_its_jobs_do_one_by_one(
    calls: list[tuple[list[object], dict[str, object], str, datetime, int | None]],
) -> None:
    jobs = [
        Job.create(path, args, kwargs, now=when, timeout=timeout)  # type: ignore[arg-type]  # JSON values from the strategy
        for args, kwargs, path, when, timeout in calls
    ]
    assert encode_jobs(jobs) == [encode_job(job) for job in jobs]


def test_times_decode_right_when_payloads_alternate() -> None:
    older = Job.create("a.b", [], {}, now=datetime(2020, 1, 1, tzinfo=UTC))
    newer = Job.create("a.b", [], {}, now=NOW)
    for job in (older, newer, newer, older):
        assert decode_job(job.encode()).created_time == job.created_time
    empty = b'{"path": "a.b", "args": [], "kwargs": {}, "created_time": ""}'
    with pytest.raises(PayloadError, match="created_time"):
        decode_job(empty)


def test_identity_ignores_id_time_and_attempts() -> None:
    first = Job.create("a.b", [1], {}, now=NOW)
    second = Job.create("a.b", [1], {}, now=datetime(2020, 1, 1, tzinfo=UTC)).next_delivery()
    assert first.id != second.id
    assert first.identity() == second.identity()
    assert first.identity() != Job.create("a.b", [2], {}, now=NOW).identity()


@pytest.mark.parametrize(
    ("payload", "message"),
    [
        (b"not json", "not JSON"),
        (b"[1, 2]", "payload"),
        (b'{"args": [], "kwargs": {}}', "missing field 'path'"),
        (b'{"path": "a.b", "args": [], "kwargs": {}, "colour": 1}', "unknown field 'colour'"),
        (b'{"path": "a.b", "args": {}, "kwargs": {}}', "args"),
        (b'{"path": "a.b", "args": [], "kwargs": [], "timeout": null}', "kwargs"),
        (b'{"path": "a.b", "args": [], "kwargs": {}, "timeout": "5"}', "timeout"),
        (b'{"path": "a.b", "args": [], "kwargs": {}, "timeout": -1}', "timeout"),
        (b'{"path": "a.b", "args": [], "kwargs": {}, "created_time": "yesterday"}', "created_time"),
        (b"\xff\xfe", "not JSON"),
    ],
)
def test_malformed_payloads_raise_one_error_type(payload: bytes, message: str) -> None:
    with pytest.raises(PayloadError, match="malformed job payload") as caught:
        decode_job(payload)
    assert message in str(caught.value)
    assert caught.value.raw == payload


@given(st.binary(max_size=200))
def test_arbitrary_bytes_never_escape_as_other_errors(raw: bytes) -> None:
    with contextlib.suppress(PayloadError):
        decode_job(raw)


def test_jobs_are_built_alike_by_position_and_keyword_and_stay_frozen() -> None:
    by_position = Job("i", "a.b", (1,), {"k": 2}, 5, True, NOW, 3, NOW, 2, True, b"raw")
    by_keyword = Job(
        id="i",
        path="a.b",
        args=(1,),
        kwargs={"k": 2},
        timeout=5,
        sigkill_on_stop=True,
        created_time=NOW,
        attempts=3,
        run_after=NOW,
        retry=2,
        store_result=True,
        raw=b"raw",
    )
    assert by_position == by_keyword
    assert [getattr(by_position, f.name) for f in dataclasses.fields(Job)] == [
        "i",
        "a.b",
        (1,),
        {"k": 2},
        5,
        True,
        NOW,
        3,
        NOW,
        2,
        True,
        b"raw",
    ]
    assert Job("i", "a.b", (), {}) == Job(
        "i", "a.b", (), {}, None, False, None, 0, None, 0, False, None
    )
    with pytest.raises(dataclasses.FrozenInstanceError):
        by_position.attempts = 4  # type: ignore[misc]  # what is being checked
