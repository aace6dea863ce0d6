"""Starting, watching and always stopping the processes a scenario runs."""

from __future__ import annotations

import contextlib
import os
import signal
import subprocess
import time
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import IO

from benchkit.config import BenchConfig
from benchkit.systems import System

__all__ = ["Spawned", "descendants", "smaps_rollup_kib", "spawn", "stop", "tree_memory_kib"]

_STOP_GRACE_S = 5.0


@dataclass
class Spawned:
    proc: subprocess.Popen[bytes]
    argv: list[str]
    log_path: Path
    started_at_s: float  # time.time() just before the fork
    _log: IO[bytes] | None = field(repr=False, default=None)

    @property
    def pid(self) -> int:
        return self.proc.pid

    def alive(self) -> bool:
        return self.proc.poll() is None

    def log_tail(self, chars: int = 1500) -> str:
        try:
            return self.log_path.read_text(errors="replace")[-chars:]
        except OSError:
            return ""


def spawn(
    system: System,
    config: BenchConfig,
    argv: list[str],
    log_path: Path,
    extra_env: dict[str, str] | None = None,
) -> Spawned:
    """Start a process of `system` in its project dir, output to `log_path`.

    It stays in the caller's process group, so run.py can kill measure.py and everything it
    started with one killpg if a scenario hangs.
    """
    env = {**os.environ, **config.to_env(), "PYTHONUNBUFFERED": "1"}
    env["DJANGO_SETTINGS_MODULE"] = system.settings_module
    env.update(extra_env or {})
    log = open(log_path, "ab")  # noqa: SIM115 - closed in stop()
    started_at_s = time.time()
    proc = subprocess.Popen(
        argv,
        cwd=system.project_dir,
        env=env,
        stdin=subprocess.DEVNULL,
        stdout=log,
        stderr=subprocess.STDOUT,
    )
    return Spawned(proc=proc, argv=argv, log_path=log_path, started_at_s=started_at_s, _log=log)


def stop(spawned: Spawned, sig: int = signal.SIGTERM) -> int | None:
    """Stop the process and any children it left; SIGKILL after a grace period."""
    children = descendants(spawned.pid)
    if spawned.alive():
        with contextlib.suppress(ProcessLookupError):
            spawned.proc.send_signal(sig)
        try:
            spawned.proc.wait(timeout=_STOP_GRACE_S)
        except subprocess.TimeoutExpired:
            spawned.proc.kill()
            spawned.proc.wait(timeout=_STOP_GRACE_S)
    for pid in children:
        with contextlib.suppress(ProcessLookupError, PermissionError):
            os.kill(pid, signal.SIGKILL)
    if spawned._log is not None:
        spawned._log.close()
    return spawned.proc.returncode


@contextlib.contextmanager
def running(
    system: System,
    config: BenchConfig,
    argv: list[str],
    log_path: Path,
    extra_env: dict[str, str] | None = None,
) -> Iterator[Spawned]:
    spawned = spawn(system, config, argv, log_path, extra_env)
    try:
        yield spawned
    finally:
        stop(spawned)


def descendants(pid: int) -> list[int]:
    """Every live descendant of `pid` (from /proc), children first."""
    parents: dict[int, list[int]] = {}
    for entry in os.listdir("/proc"):
        if not entry.isdigit():
            continue
        try:
            with open(f"/proc/{entry}/stat") as f:
                stat = f.read()
        except OSError:
            continue
        # The command name is in parentheses and may contain spaces.
        ppid = int(stat.rsplit(")", 1)[1].split()[1])
        parents.setdefault(ppid, []).append(int(entry))
    found: list[int] = []
    frontier = [pid]
    while frontier:
        children = parents.get(frontier.pop(0), [])
        found.extend(children)
        frontier.extend(children)
    return found


def smaps_rollup_kib(pid: int) -> dict[str, int]:
    """The kB figures of /proc/PID/smaps_rollup (Rss, Pss, Private_Dirty, ...)."""
    figures: dict[str, int] = {}
    with open(f"/proc/{pid}/smaps_rollup") as f:
        for line in f:
            parts = line.split()
            if len(parts) == 3 and parts[2] == "kB":
                figures[parts[0].rstrip(":")] = int(parts[1])
    return figures


def tree_memory_kib(pid: int) -> dict[str, int]:
    """Rss, Pss and USS (private clean + dirty) summed over `pid` and its descendants."""
    totals = {"rss_kib": 0, "pss_kib": 0, "uss_kib": 0, "processes": 0}
    for one in [pid, *descendants(pid)]:
        try:
            figures = smaps_rollup_kib(one)
        except OSError:
            continue
        totals["rss_kib"] += figures.get("Rss", 0)
        totals["pss_kib"] += figures.get("Pss", 0)
        totals["uss_kib"] += figures.get("Private_Clean", 0) + figures.get("Private_Dirty", 0)
        totals["processes"] += 1
    return totals
