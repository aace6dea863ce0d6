"""Dramatiq's own worker (its CLI), one process with one thread, prefetching 64 messages:
the counterpart of one dlq worker under queue_runner. The prefetch is set by the
environment (``dramatiq_queue_prefetch``, by benchkit.systems)."""

import sys
from pathlib import Path

HERE = Path(__file__).resolve().parent
sys.path[:0] = [str(HERE), str(HERE.parent)]

from dramatiq.cli import main  # noqa: E402

if __name__ == "__main__":
    sys.argv = ["dramatiq", "benchapp.tasks", "--processes", "1", "--threads", "1", *sys.argv[1:]]
    sys.exit(main())
