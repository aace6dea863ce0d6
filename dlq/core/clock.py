"""The one reader of the wall clock that adapters share; pure code takes ``now`` instead."""

from __future__ import annotations

from datetime import UTC, datetime

__all__ = ["utc_now"]


def utc_now() -> datetime:
    """The current time, timezone-aware, in UTC: the default :data:`~dlq.core.protocols.Clock`."""
    return datetime.now(UTC)
