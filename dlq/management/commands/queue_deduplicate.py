"""``manage.py queue_deduplicate QUEUE``: drop waiting jobs that repeat an earlier one."""

from __future__ import annotations

from argparse import ArgumentParser
from collections.abc import Iterator
from contextlib import contextmanager
from typing import Any

from django.core.management.base import BaseCommand, OutputWrapper

from dlq.core.protocols import ProgressCallback, SupportsDeduplicate
from dlq.management.options import add_config_argument
from dlq.management.queues import backend_errors, configured_queue, missing_capability


class Command(BaseCommand):
    help = (
        "Remove jobs waiting in QUEUE that are identical to an earlier one but for their id"
        " and created time, keeping the oldest. Safe while workers run."
    )

    def add_arguments(self, parser: ArgumentParser) -> None:
        parser.add_argument("queue", help="the queue to deduplicate")
        add_config_argument(parser)

    def handle(self, *args: Any, **options: Any) -> None:
        queue, runtime = configured_queue(self.stderr, options)
        with backend_errors(queue):
            backend = runtime.backend_for(queue)
            if not isinstance(backend, SupportsDeduplicate):
                raise missing_capability(backend, SupportsDeduplicate, "deduplicate queues")
            with progress_bar(self.stderr, f"Deduplicating {queue}") as progress:
                before, after = backend.deduplicate(queue, progress=progress)
        # Upstream's wording, so scripts that read it keep working.
        if before == after:
            self.stdout.write(f"No duplicate jobs detected (queue length remains {before})")
        else:
            self.stdout.write(
                f"Deduplication reduced the queue from {before} jobs to {after} job(s)"
            )


@contextmanager
def progress_bar(stream: OutputWrapper, label: str) -> Iterator[ProgressCallback]:
    """A ``progress(done, total)`` callback drawing a tqdm bar on ``stream``.

    The bar is drawn only when ``stream`` is a terminal, and not at all without tqdm
    (the ``dlq[progress]`` extra): progress is a nicety, never a reason to fail.
    """
    try:
        from tqdm import tqdm
    except ImportError:  # pragma: no cover -- tqdm is installed wherever tests run
        yield lambda done, total: None
        return
    # OutputWrapper.write adds a newline to each write and styles it (stderr in red),
    # which would break tqdm's redrawing in place; write the text as it is instead.
    raw = _RawStream(stream)
    with tqdm(total=0, desc=label, unit="job", file=raw, disable=not raw.isatty()) as bar:

        def progress(done: int, total: int) -> None:
            if bar.total != total:
                bar.total = total
            bar.update(done - bar.n)

        yield progress


class _RawStream:
    def __init__(self, wrapper: OutputWrapper) -> None:
        self._wrapper = wrapper

    def write(self, text: str) -> None:
        self._wrapper.write(text, style_func=str, ending="")

    def flush(self) -> None:
        self._wrapper.flush()

    def isatty(self) -> bool:
        return self._wrapper.isatty()
