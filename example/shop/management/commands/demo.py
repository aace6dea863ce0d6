"""``manage.py demo``: start the queue runner, enqueue a few thousand jobs, watch them finish."""

import signal
import subprocess
import sys
import time
from datetime import date, timedelta
from decimal import Decimal
from typing import Any

from django.core.management.base import BaseCommand, CommandError, CommandParser
from mail.tasks import send_receipt
from reports.tasks import build_report
from tqdm import tqdm

from dlq.conf import get_runtime
from shop import progress
from shop.tasks import process_order


class Command(BaseCommand):
    help = "Run the example: a queue runner, thousands of jobs, a progress bar, a clean stop."

    def add_arguments(self, parser: CommandParser) -> None:
        parser.add_argument("--jobs", type=int, default=3000)
        parser.add_argument("--timeout", type=float, default=300.0, help="give up after (s)")
        parser.add_argument(
            "--receipts", type=int, default=20, help="tasks enqueued through Django's task API"
        )

    def handle(self, *args: Any, **options: Any) -> None:
        jobs: int = options["jobs"]
        progress.reset()
        runtime = get_runtime()
        for queue in runtime.settings.WORKERS:
            backend = runtime.backend_for(queue)
            clear = getattr(backend, "clear", None)
            if clear is not None:
                clear(queue)

        workers = ", ".join(f"{n} x {q}" for q, n in sorted(runtime.settings.WORKERS.items()))
        backend = runtime.backend_for("orders")
        self.stdout.write(f"Jobs wait in {backend!r}")
        self.stdout.write(f"Starting manage.py queue_runner ({workers})")
        runner = subprocess.Popen([sys.executable, "manage.py", "queue_runner"])
        try:
            self.stdout.write(f"Enqueueing {jobs} jobs...")
            orders = jobs * 2 // 3
            with process_order.bulk_enqueue(batch_size=500) as enqueue:
                for number in range(orders):
                    enqueue(number, Decimal(number) / 100)
            with build_report.bulk_enqueue(batch_size=500) as enqueue_report:
                for number in range(jobs - orders):
                    enqueue_report(date(2026, 1, 1) + timedelta(days=number % 365))
            self.watch(runner, jobs, options["timeout"])
            self.receipts(runner, options["receipts"], options["timeout"])
        finally:
            self.stop(runner)

    def watch(self, runner: "subprocess.Popen[bytes]", jobs: int, timeout_s: float) -> None:
        deadline = time.monotonic() + timeout_s
        with tqdm(total=jobs, unit="job", desc="finished") as bar:
            done = 0
            while done < jobs:
                if runner.poll() is not None:
                    raise CommandError(f"the queue runner exited early ({runner.returncode})")
                if time.monotonic() > deadline:
                    raise CommandError(f"only {done} of {jobs} jobs finished in {timeout_s}s")
                time.sleep(0.1)
                now = progress.done()
                bar.update(now - done)
                done = now
        self.stdout.write(self.style.SUCCESS(f"All {jobs} jobs ran."))

    def receipts(self, runner: "subprocess.Popen[bytes]", count: int, timeout_s: float) -> None:
        """Django's task API on the same runner: enqueue, wait, read the results back."""
        self.stdout.write(f"Enqueueing {count} receipts through Django's task API...")
        before = progress.done()
        results = [send_receipt.enqueue(number, f"{number / 100:.2f}") for number in range(count)]
        deadline = time.monotonic() + timeout_s
        while progress.done() < before + count:
            if runner.poll() is not None:
                raise CommandError(f"the queue runner exited early ({runner.returncode})")
            if time.monotonic() > deadline:
                raise CommandError(f"only {progress.done() - before} of {count} receipts ran")
            time.sleep(0.05)
        if not results or not send_receipt.get_backend().supports_get_result:
            self.stdout.write(self.style.SUCCESS(f"All {count} receipts ran."))
            return
        for result in results:  # a result is written just after its task returns
            while not result.is_finished and time.monotonic() < deadline:
                time.sleep(0.05)
                result.refresh()
            if result.status != "SUCCESSFUL":
                raise CommandError(f"receipt {result.id} is {result.status}: {result.errors}")
        last = results[-1]
        self.stdout.write(
            self.style.SUCCESS(
                f"All {count} receipts ran; receipt {last.id} returned {last.return_value!r}."
            )
        )

    def stop(self, runner: "subprocess.Popen[bytes]") -> None:
        if runner.poll() is not None:
            return
        self.stdout.write("Stopping the queue runner (SIGTERM)...")
        runner.send_signal(signal.SIGTERM)
        try:
            code = runner.wait(timeout=60)
        except subprocess.TimeoutExpired:
            runner.kill()
            runner.wait()
            raise CommandError("the queue runner did not stop within 60s; killed it") from None
        if code:
            raise CommandError(f"the queue runner exited with {code}")
        self.stdout.write(self.style.SUCCESS("Stopped cleanly (exit code 0)."))
