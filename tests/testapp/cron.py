"""The test app's cron schedule: empty, so that no other test sees cron entries.

Cron tests set ``CONFIG`` with ``monkeypatch.setattr`` (dlq reads it afresh each time).
"""

from __future__ import annotations

CONFIG: list[dict[str, object]] = []
