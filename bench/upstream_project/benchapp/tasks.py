"""Benchmark tasks for upstream. Keep in step with dlq_project/benchapp/tasks.py."""

from benchkit import tasks_impl
from django_lightweight_queue import task


@task(queue="bench")
def noop_count() -> None:
    tasks_impl.noop_count()


@task(queue="bench")
def mark(name: str) -> None:
    tasks_impl.mark(name)


@task(queue="bench")
def latency_probe(sample: int) -> None:
    tasks_impl.latency_probe(sample)


@task(queue="bench")
def whoami() -> None:
    tasks_impl.whoami()
