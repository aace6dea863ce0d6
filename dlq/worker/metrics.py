"""Prometheus metrics of a runner and its workers (the optional ``prometheus`` extra).

Only imported when ``LIGHTWEIGHT_QUEUE_ENABLE_PROMETHEUS`` is on, so dlq works without
``prometheus-client`` installed.

Each worker process serves, on ``PROMETHEUS_START_PORT + index``:

``dlq_job_duration_seconds{queue,task}``
    histogram of how long jobs ran (successful or failed ones; a refused job never ran).
``dlq_jobs_total{queue,task,outcome}``
    jobs that ended, by ``succeeded``, ``failed`` or ``rejected``.
``dlq_job_timeouts_total{queue,worker}``, ``dlq_worker_restarts_total{queue,worker}``
    jobs of this slot killed for overrunning, and times its process was started again.
    The runner counts these (a killed process cannot) and each new process starts from
    the runner's count, so the series never goes backwards.

The runner serves, on ``PROMETHEUS_START_PORT``, upstream's ``/worker_config`` (the
JSON a Prometheus ``http_sd`` or file-based service discovery reads: one target per
worker, labelled with its queue and number) and at any other path:
``dlq_queue_length{queue}``, ``dlq_queue_paused{queue}`` (read from the backend when
scraped), ``dlq_workers_running``, ``dlq_workers_busy`` (running a job) and the two
per-slot counters above.
"""

from __future__ import annotations

import json
import logging
import socket
from collections.abc import Callable, Iterable, Sequence
from dataclasses import dataclass
from http.server import HTTPServer
from typing import ClassVar

from prometheus_client import CollectorRegistry, Counter, Histogram, start_http_server
from prometheus_client.core import CounterMetricFamily, GaugeMetricFamily, Metric
from prometheus_client.exposition import MetricsHandler
from prometheus_client.registry import Collector

from dlq.core.protocols import Backend, SupportsPause
from dlq.domain.allocation import WorkerSlot
from dlq.domain.envelope import Job
from dlq.domain.outcome import Outcome, Rejected, TimedOut
from dlq.worker.config import MetricsOptions

__all__ = [
    "QueueStats",
    "RunnerMetrics",
    "SlotStats",
    "WorkerMetrics",
    "queue_stats",
    "serve_runner_metrics",
    "worker_config",
]

# The label names upstream's /worker_config uses; dashboards and relabelling rules
# written for django-lightweight-queue keep working.
_QUEUE_LABEL = "django_lightweight_queue_worker_queue"
_NUMBER_LABEL = "django_lightweight_queue_worker_num"


def worker_config(
    slots: Sequence[WorkerSlot], start_port: int, hostname: str
) -> list[dict[str, object]]:
    """Upstream's service-discovery answer: a target per worker, ports from start + 1."""
    return [
        {
            "targets": [f"{hostname}:{start_port + index}"],
            "labels": {_QUEUE_LABEL: slot.queue, _NUMBER_LABEL: str(slot.number)},
        }
        for index, slot in enumerate(slots, start=1)
    ]


class WorkerMetrics:
    """One worker process's metrics, in a registry of its own.

    A fresh registry rather than prometheus-client's global one: the process was forked
    from the runner, and a global registry's lock could have been held at the fork.
    """

    def __init__(self, slot: WorkerSlot, *, timeouts: int, restarts: int) -> None:
        self.registry = CollectorRegistry(auto_describe=True)
        self._queue = slot.queue
        self._duration = Histogram(
            "dlq_job_duration_seconds",
            "How long jobs ran, by queue and task",
            ["queue", "task"],
            registry=self.registry,
            buckets=(0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10, 30, 60, 300, 900),
        )
        self._jobs = Counter(
            "dlq_jobs",
            "Jobs that ended, by queue, task and outcome",
            ["queue", "task", "outcome"],
            registry=self.registry,
        )
        labels = {"queue": slot.queue, "worker": str(slot.number)}
        timeout_counter = Counter(
            "dlq_job_timeouts",
            "Jobs of this worker slot killed for running past their timeout",
            list(labels),
            registry=self.registry,
        )
        timeout_counter.labels(**labels).inc(timeouts)
        restart_counter = Counter(
            "dlq_worker_restarts",
            "Times this worker slot's process was started again",
            list(labels),
            registry=self.registry,
        )
        restart_counter.labels(**labels).inc(restarts)

    def serve(self, address: str, port: int) -> None:
        """Serve on ``address:port`` from a daemon thread; raises OSError if it is taken."""
        start_http_server(port, addr=address, registry=self.registry)

    def observe(self, job: Job, outcome: Outcome) -> None:
        kind = type(outcome).__name__.lower()
        self._jobs.labels(self._queue, job.path, kind).inc()
        if not isinstance(outcome, Rejected | TimedOut):
            self._duration.labels(self._queue, job.path).observe(outcome.duration_s)


@dataclass(frozen=True, slots=True)
class SlotStats:
    slot: WorkerSlot
    restarts: int
    timeouts: int
    #: A worker process is alive.
    running: bool
    #: It runs a job (as of the supervisor's last look at the job board).
    busy: bool = False


@dataclass(frozen=True, slots=True)
class QueueStats:
    queue: str
    #: None when the backend could not be asked.
    length: int | None
    paused: bool | None


def queue_stats(
    queues: Iterable[str], backend_for: Callable[[str], Backend], logger: logging.Logger
) -> list[QueueStats]:
    """Each queue's length and pause, asked of its backend now.

    After a backend fails, the queues after it are not asked in this scrape: each failure
    may have waited its call's deadline, and the runner's loop is waiting with it.
    """
    stats = []
    failed = False
    for queue in queues:
        if failed:
            stats.append(QueueStats(queue, None, None))
            continue
        try:
            backend = backend_for(queue)
            length: int | None = backend.length(queue)
            paused = (
                backend.paused_until(queue) is not None
                if isinstance(backend, SupportsPause)
                else None
            )
        except Exception as exc:  # a scrape must not take the runner down
            logger.warning("Cannot read the length of queue %s for metrics: %s", queue, exc)
            length, paused = None, None
            failed = True
        stats.append(QueueStats(queue, length, paused))
    return stats


class _RunnerCollector(Collector):
    def __init__(
        self,
        slot_stats: Callable[[], Sequence[SlotStats]],
        queue_stats: Callable[[], Sequence[QueueStats]],
    ) -> None:
        self._slot_stats = slot_stats
        self._queue_stats = queue_stats

    def collect(self) -> Iterable[Metric]:
        length = GaugeMetricFamily(
            "dlq_queue_length", "Jobs waiting in the queue", labels=["queue"]
        )
        paused = GaugeMetricFamily(
            "dlq_queue_paused", "1 while the queue is paused, else 0", labels=["queue"]
        )
        for stats in self._queue_stats():
            if stats.length is not None:
                length.add_metric([stats.queue], stats.length)
            if stats.paused is not None:
                paused.add_metric([stats.queue], int(stats.paused))
        labels = ["queue", "worker"]
        timeouts = CounterMetricFamily(
            "dlq_job_timeouts", "Jobs killed for running past their timeout", labels=labels
        )
        restarts = CounterMetricFamily(
            "dlq_worker_restarts", "Times a worker slot's process was started again", labels=labels
        )
        running = busy = 0
        for slot_stats in self._slot_stats():
            values = [slot_stats.slot.queue, str(slot_stats.slot.number)]
            timeouts.add_metric(values, slot_stats.timeouts)
            restarts.add_metric(values, slot_stats.restarts)
            running += slot_stats.running
            busy += slot_stats.busy
        workers = GaugeMetricFamily("dlq_workers_running", "Worker processes alive")
        workers.add_metric([], running)
        working = GaugeMetricFamily("dlq_workers_busy", "Worker processes running a job")
        working.add_metric([], busy)
        return [length, paused, timeouts, restarts, workers, working]


class _RunnerHandler(MetricsHandler):
    config_response: ClassVar[bytes] = b"[]"
    # A scrape is served by the supervising loop itself: never let a slow client hold it.
    timeout = 0.5

    def do_GET(self) -> None:
        if self.path == "/worker_config":
            self.send_response(200)
            self.send_header("Content-Type", "application/json")
            self.end_headers()
            self.wfile.write(self.config_response)
            return
        super().do_GET()


class _Server(HTTPServer):
    def __init__(self, address: str, port: int, handler: type[_RunnerHandler]) -> None:
        if ":" in address:
            self.address_family = socket.AF_INET6
        super().__init__((address, port), handler)
        # Polled by the supervisor's loop: never wait for a request that is not there.
        self.timeout = 0


class RunnerMetrics:
    """The runner's endpoint. Served without a thread: the supervisor polls
    :meth:`fileno` with its other file descriptors and calls :meth:`handle`, so the
    runner stays single-threaded and forking a worker from it stays safe."""

    def __init__(
        self,
        slots: Sequence[WorkerSlot],
        *,
        bind_address: str,
        start_port: int,
        slot_stats: Callable[[], Sequence[SlotStats]],
        backend_for: Callable[[str], Backend],
        logger: logging.Logger,
        hostname: str | None = None,
    ) -> None:
        queues = sorted({slot.queue for slot in slots})
        registry = CollectorRegistry(auto_describe=False)
        registry.register(
            _RunnerCollector(slot_stats, lambda: queue_stats(queues, backend_for, logger))
        )
        config = worker_config(slots, start_port, hostname or socket.gethostname())
        handler = type(
            "RunnerHandler",
            (_RunnerHandler,),
            {
                "registry": registry,
                "config_response": json.dumps(config, sort_keys=True, indent=4).encode(),
            },
        )
        self._server = _Server(bind_address, start_port, handler)

    def fileno(self) -> int:
        return self._server.fileno()

    def handle(self) -> None:
        self._server.handle_request()

    def close(self) -> None:
        self._server.server_close()


def serve_runner_metrics(
    options: MetricsOptions,
    slots: Sequence[WorkerSlot],
    *,
    slot_stats: Callable[[], Sequence[SlotStats]],
    backend_for: Callable[[str], Backend],
    logger: logging.Logger,
) -> RunnerMetrics | None:
    """The runner's endpoint, listening; None (with a warning) if its port is taken."""
    try:
        metrics = RunnerMetrics(
            slots,
            bind_address=options.bind_address,
            start_port=options.start_port,
            slot_stats=slot_stats,
            backend_for=backend_for,
            logger=logger,
        )
    except OSError as exc:
        logger.warning(
            "Cannot serve the runner's metrics on %s:%d: %s",
            options.bind_address,
            options.start_port,
            exc,
        )
        return None
    logger.info(
        "Serving metrics and /worker_config on %s:%d", options.bind_address, options.start_port
    )
    return metrics
