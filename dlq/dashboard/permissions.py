"""Who may do what on the dashboard: three permissions of :class:`dlq.models.Dashboard`.

Everything needs an active staff user (the admin's own rule) with ``view_dashboard``;
acting needs ``operate_queues`` as well, and seeing job arguments, payloads, return
values and tracebacks needs ``view_payloads`` as well (they can hold personal data).
A superuser has every permission, as everywhere in Django.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Final

__all__ = ["OPERATE", "PAYLOADS", "VIEW", "Access"]

VIEW: Final = "dlq.view_dashboard"
OPERATE: Final = "dlq.operate_queues"
PAYLOADS: Final = "dlq.view_payloads"


@dataclass(frozen=True, slots=True)
class Access:
    """What one user may do, worked out once per request."""

    view: bool
    operate: bool
    payloads: bool

    @classmethod
    def of(cls, user: object) -> Access:
        """``user`` is ``request.user``: any user model, or an anonymous user.

        Read through ``getattr`` because a custom user model need not have ``is_staff``
        or ``has_perm``; one without them gets nothing.
        """
        has_perm = getattr(user, "has_perm", None)
        if not (
            getattr(user, "is_active", False) and getattr(user, "is_staff", False)
        ) or not callable(has_perm):
            return cls(view=False, operate=False, payloads=False)
        view = bool(has_perm(VIEW))
        return cls(
            view=view,
            operate=view and bool(has_perm(OPERATE)),
            payloads=view and bool(has_perm(PAYLOADS)),
        )
