"""``DATABASE_ROUTERS = ["dlq.routers.QueueDatabaseRouter"]``: dlq's tables in their own database.

Needed only when ``LIGHTWEIGHT_QUEUE_DATABASE_ALIAS`` names a database other than
``default``. Then dlq's models are read and written there, its migrations run there
(``manage.py migrate --database=<alias>``) and nowhere else, and no other app's
migrations run there.
"""

from __future__ import annotations

from typing import Any

from dlq.conf import queue_settings

__all__ = ["QueueDatabaseRouter"]


class QueueDatabaseRouter:
    @staticmethod
    def _alias() -> str:
        return queue_settings().DATABASE_ALIAS

    def db_for_read(self, model: type[Any], **hints: Any) -> str | None:
        return self._alias() if model._meta.app_label == "dlq" else None

    def db_for_write(self, model: type[Any], **hints: Any) -> str | None:
        return self._alias() if model._meta.app_label == "dlq" else None

    def allow_migrate(self, db: str, app_label: str, **hints: Any) -> bool | None:
        alias = self._alias()
        if alias == "default":
            return None
        if app_label == "dlq":
            return db == alias
        return False if db == alias else None
