"""In-process claims (``SupportsClaim``) for backends that live in one process."""

from __future__ import annotations

import threading
from datetime import datetime, timedelta

from dlq.core.protocols import Clock

__all__ = ["ClaimTable"]


class ClaimTable:
    def __init__(self, clock: Clock) -> None:
        self._clock = clock
        self._expiry: dict[str, datetime] = {}
        self._lock = threading.Lock()

    def claim(self, key: str, ttl_s: int) -> bool:
        now = self._clock()
        with self._lock:
            expires = self._expiry.get(key)
            if expires is not None and expires > now:
                return False
            self._expiry[key] = now + timedelta(seconds=ttl_s)
            return True
