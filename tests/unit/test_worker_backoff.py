"""The restart back-off of crashing workers: pure maths, no processes."""

from __future__ import annotations

import pytest
from hypothesis import given
from hypothesis import strategies as st

from dlq.worker.backoff import RestartBackoff


def test_crashes_in_a_row_double_the_wait_up_to_the_cap() -> None:
    backoff = RestartBackoff(initial_s=0.1, factor=2, max_s=30, healthy_after_s=60)
    delays = [backoff.crashed(started_at=0.0, now=1.0) for _ in range(12)]

    assert delays[:6] == pytest.approx([0.0, 0.1, 0.2, 0.4, 0.8, 1.6])
    assert delays[-1] == 30
    assert max(delays) == 30


def test_a_healthy_minute_forgives_earlier_crashes() -> None:
    backoff = RestartBackoff()
    for _ in range(6):
        backoff.crashed(started_at=0.0, now=1.0)

    assert backoff.crashed(started_at=100.0, now=160.0) == 0.0
    assert backoff.crashed(started_at=160.0, now=161.0) == pytest.approx(0.1)


def test_a_job_finished_between_crashes_forgives_them() -> None:
    # Two poison jobs fifty good jobs apart: the slot made progress, so the second crash
    # restarts it at once instead of after a wait that grew with every earlier crash.
    backoff = RestartBackoff()
    for _ in range(8):
        backoff.crashed(started_at=0.0, now=1.0)
    assert backoff.crashed(started_at=1.0, now=2.0, jobs_done=50) == 0.0
    assert backoff.crashed(started_at=2.0, now=2.1) == pytest.approx(0.1)
    assert backoff.crashed(started_at=2.1, now=2.2, jobs_done=0) == pytest.approx(0.2)


def test_a_clean_recycle_after_a_healthy_run_forgives_too() -> None:
    backoff = RestartBackoff()
    backoff.crashed(started_at=0.0, now=1.0)
    backoff.crashed(started_at=1.0, now=2.0)

    backoff.exited_cleanly(started_at=2.0, now=1.0)  # a short run: nothing forgiven
    assert backoff.crashes == 2
    backoff.exited_cleanly(started_at=2.0, now=70.0)
    assert backoff.crashes == 0


@given(
    crashes=st.integers(min_value=2, max_value=10_000),
    initial_s=st.floats(min_value=0.001, max_value=5),
    factor=st.floats(min_value=1, max_value=10),
)
def test_the_delay_is_monotonic_and_bounded(crashes: int, initial_s: float, factor: float) -> None:
    """From the second crash in a row on; the first restarts at once."""
    backoff = RestartBackoff(initial_s=initial_s, factor=factor, max_s=30)

    assert backoff.delay_s(1) == 0.0
    assert initial_s <= backoff.delay_s(crashes) <= 30
    assert backoff.delay_s(crashes) <= backoff.delay_s(crashes + 1)


@pytest.mark.parametrize(
    "kwargs",
    [{"initial_s": 0}, {"initial_s": 40, "max_s": 30}, {"factor": 0.5}, {"healthy_after_s": -1}],
)
def test_nonsense_is_refused(kwargs: dict[str, float]) -> None:
    with pytest.raises(ValueError, match="a back-off needs"):
        RestartBackoff(**kwargs)
