"""Cron, the pure part: what an entry is, when it fires, and what a scheduler must enqueue.

- :mod:`~dlq.domain.cron.spec`: the ``minutes``, ``hours`` and ``days`` fields, parsed,
  matched against a time and stepped through (:class:`~dlq.domain.cron.spec.CronSpec`).
- :mod:`~dlq.domain.cron.entry`: one validated entry of an app's ``cron.py``, its id, and
  every problem in a ``CONFIG``.
- :mod:`~dlq.domain.cron.due`: which (entry, minute) pairs are due in an interval, across
  daylight-saving changes, and how missed minutes collapse into one run.

Time is a parameter of every function. The scheduler loop, which claims, enqueues and
reads the clock, is :mod:`dlq.core.scheduler`; discovering ``cron.py`` modules and the
task a cron job runs as are Django's business, in :mod:`dlq.cron_jobs`.
"""
