"""The queue dashboard: dlq's queues, jobs, dead letters and cron in Django's admin.

Pages (under the admin's URLs, linked from its index as "Queues"): every queue with its
numbers, refreshing itself (:func:`~dlq.dashboard.views.queues`); one queue's workers,
waiting jobs and dead letters, a page at a time; the cron entries; one job. Actions:
pause for a duration, resume, requeue one or every dead letter, purge dead letters,
clear a queue, each confirmed, POSTed with Django's CSRF token and logged.

Modules: :mod:`.site` (the admin class and URLs), :mod:`.views` (the pages that show),
:mod:`.operate` (the page that acts), :mod:`.gather` (what they show, read from the
backends), :mod:`.display` (how it is written), :mod:`.actions`, :mod:`.permissions`,
:mod:`.results` (stored results, the place the job lifecycle's results join). The
numbers are :mod:`dlq.status`'s, shared with ``manage.py queue_status``.
"""
