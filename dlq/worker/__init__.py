"""Running jobs in processes: the supervised runner behind ``queue_runner``.

- :mod:`~dlq.worker.supervisor`: the runner's loop; one forked child per worker slot.
- :mod:`~dlq.worker.child`, :mod:`~dlq.worker.loop`: what a worker process runs.
- :mod:`~dlq.worker.board`: which job each worker runs since when, in memory shared with
  the supervisor; :mod:`~dlq.worker.channel`: what else a worker tells it, over a pipe.
- :mod:`~dlq.worker.stop_flag`: how a worker is asked to stop (a flag, never an exception).
- :mod:`~dlq.worker.children`, :mod:`~dlq.worker.slots`: forking, reaping, and what an
  exit means; :mod:`~dlq.worker.backoff`: restart delays of crashing workers.
- :mod:`~dlq.worker.stopping`: what a graceful stop does to each child.
- :mod:`~dlq.worker.leases`: holding a slot so that no other runner serves it.
- :mod:`~dlq.worker.metrics`: Prometheus (imported only when enabled).
- :mod:`~dlq.worker.process`, :mod:`~dlq.worker.wakeup`: the operating system's side.

Nothing here imports Django: the management commands pass in a
:class:`~dlq.worker.config.WorkerEnvironment` of callbacks.
"""
