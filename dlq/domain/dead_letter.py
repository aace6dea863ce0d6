"""A payload a backend gave up on, kept with the reason instead of being dropped."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime

__all__ = ["DeadLetter"]


@dataclass(frozen=True, slots=True)
class DeadLetter:
    """``raw`` is the payload exactly as it was queued; ``job_id`` is None when undecodable."""

    queue: str
    raw: bytes
    reason: str
    failed_at: datetime
    job_id: str | None = None
