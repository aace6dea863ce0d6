"""``manage.py demo``: start the queue runner, enqueue a few thousand jobs, watch them finish."""

import signal
import subprocess
import sys
import time
from datetime import date, timedelta
from decimal import Decimal
from typing import Any

from django.core.management import get_commands
from django.core.management.base import BaseCommand, CommandError, CommandParser
from tqdm import tqdm

from dlq.conf import get_runtime
from reports.tasks import build_report
from shop.progress import KEY, client
from shop.tasks import process_order


class Command(BaseCommand):
    help = "Run the example: a queue runner, thousands of jobs, a progress bar, a clean stop."

    def add_arguments(self, parser: CommandParser) -> None:
        parser.add_argument("--jobs", type=int, default=3000)
        parser.add_argument("--timeout", type=float, default=300.0, help="give up after (s)")

    def handle(self, *args: Any, **options: Any) -> None:
        jobs: int = options["jobs"]
        redis = client()
        redis.delete(KEY)
        runtime = get_runtime()
        for queue in runtime.settings.WORKERS:
            backend = runtime.backend_for(queue)
            clear = getattr(backend, "clear", None)
            if clear is not None:
                clear(queue)

        runners = self.start_workers()
        try:
            self.stdout.write(f"Enqueueing {jobs} jobs...")
            orders = jobs * 2 // 3
            with process_order.bulk_enqueue(batch_size=500) as enqueue:
                for number in range(orders):
                    enqueue(number, Decimal(number) / 100)
            with build_report.bulk_enqueue(batch_size=500) as enqueue_report:
                for number in range(jobs - orders):
                    enqueue_report(date(2026, 1, 1) + timedelta(days=number % 365))
            self.watch(redis, jobs, options["timeout"])
        finally:
            self.stop(runners)

    def start_workers(self) -> list["subprocess.Popen[bytes]"]:
        base = [sys.executable, "manage.py"]
        if "queue_runner" in get_commands():
            self.stdout.write("Starting manage.py queue_runner")
            return [subprocess.Popen([*base, "queue_runner"])]
        settings = get_runtime().settings
        self.stdout.write("Starting one manage.py queue_worker per worker slot")
        return [
            subprocess.Popen([*base, "queue_worker", queue, str(number)])
            for queue, count in sorted(settings.WORKERS.items())
            for number in range(1, count + 1)
        ]

    def watch(self, redis: Any, jobs: int, timeout_s: float) -> None:
        deadline = time.monotonic() + timeout_s
        with tqdm(total=jobs, unit="job", desc="finished") as bar:
            done = 0
            while done < jobs:
                if time.monotonic() > deadline:
                    raise CommandError(f"only {done} of {jobs} jobs finished in {timeout_s}s")
                time.sleep(0.1)
                now = int(redis.get(KEY) or 0)
                bar.update(now - done)
                done = now
        self.stdout.write(self.style.SUCCESS(f"All {jobs} jobs ran."))

    def stop(self, processes: list["subprocess.Popen[bytes]"]) -> None:
        self.stdout.write("Stopping (SIGTERM)...")
        for process in processes:
            process.send_signal(signal.SIGTERM)
        codes = [process.wait(timeout=60) for process in processes]
        if any(codes):
            raise CommandError(f"a runner exited with {codes}")
        self.stdout.write(self.style.SUCCESS("Stopped cleanly."))
