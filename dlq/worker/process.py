"""What dlq asks of the operating system: parent-death signals, titles, memory, daemons.

Each helper degrades quietly where the platform (or an optional package) lacks the
feature, and says so through its return value rather than by raising.
"""

from __future__ import annotations

import ctypes
import os
import resource
import sys
from collections.abc import Callable
from functools import cache
from pathlib import Path

__all__ = [
    "daemonize",
    "pid_in",
    "remove_pidfile",
    "rss_mb",
    "set_parent_death_signal",
    "set_title",
]

_PR_SET_PDEATHSIG = 1


@cache
def _libc() -> ctypes.CDLL | None:
    if not sys.platform.startswith("linux"):
        return None
    try:
        # The C library this process already has loaded: find_library() would run
        # `ldconfig -p` in a subprocess, in every forked worker (~50 ms of its start).
        return ctypes.CDLL(None, use_errno=True)
    except OSError:
        return None


def set_parent_death_signal(signum: int) -> bool:
    """Have the kernel send ``signum`` to this process when its parent dies (Linux only).

    Returns False where that is not available; callers then watch ``os.getppid()``.
    """
    libc = _libc()
    if libc is None:
        return False
    return bool(libc.prctl(_PR_SET_PDEATHSIG, signum, 0, 0, 0) == 0)


_title = ""


@cache
def _setproctitle() -> Callable[[str], None] | None:
    try:
        from setproctitle import setproctitle
    except ImportError:  # the optional 'proctitle' extra is not installed
        return None
    return setproctitle


def set_title(title: str) -> None:
    """Set the title ``ps`` and ``top`` show, when ``setproctitle`` is installed.

    Callers put the queue, slot, state and task path in it, never a job's arguments:
    titles are visible to every user of the machine.
    """
    global _title
    setter = _setproctitle()
    if setter is not None and title != _title:
        setter(title)
        _title = title


def rss_mb() -> float | None:
    """This process's resident memory now, in MB (its peak where /proc is missing)."""
    try:
        pages = int(Path("/proc/self/statm").read_text().split()[1])
    except (OSError, IndexError, ValueError):
        peak = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss
        # Linux reports kilobytes, macOS bytes.
        return peak / (1024 * 1024) if sys.platform == "darwin" else peak / 1024
    return pages * os.sysconf("SC_PAGE_SIZE") / (1024 * 1024)


def daemonize(pidfile: str | os.PathLike[str]) -> None:
    """Detach from the terminal (double fork, new session) and write our pid to ``pidfile``.

    The working directory is kept, unlike a classic daemon's ``chdir('/')``: Django
    settings commonly name files (a SQLite database, log files) relative to it. Standard
    input and output go to /dev/null; logging keeps whatever handlers it has.
    Returns in the daemon only; the original process exits 0 once the pid is written.
    """
    path = Path(pidfile).resolve()
    read_end, write_end = os.pipe()
    if os.fork() > 0:
        # The original process: wait until the daemon has written its pidfile, so that a
        # service manager reading the file right after we exit finds it.
        os.close(write_end)
        status = os.read(read_end, 1)
        os._exit(0 if status == b"1" else 1)
    os.close(read_end)
    os.setsid()
    if os.fork() > 0:
        os._exit(0)
    try:
        temporary = path.with_name(path.name + ".tmp")
        temporary.write_text(f"{os.getpid()}\n")
        temporary.replace(path)
    except OSError as exc:
        print(f"cannot write the pidfile {path}: {exc}", file=sys.stderr)
        os.write(write_end, b"0")
        os._exit(1)
    os.write(write_end, b"1")
    os.close(write_end)
    devnull = os.open(os.devnull, os.O_RDWR)
    for fd in (0, 1, 2):
        os.dup2(devnull, fd)
    os.close(devnull)


def remove_pidfile(pidfile: str | os.PathLike[str]) -> None:
    """Remove ``pidfile`` if it still names this process (another may have taken it over)."""
    path = Path(pidfile)
    try:
        if path.read_text().strip() == str(os.getpid()):
            path.unlink()
    except (OSError, ValueError):
        pass


def pid_in(pidfile: str | os.PathLike[str]) -> int | None:
    """The pid ``pidfile`` names, if that process is alive; None otherwise."""
    try:
        pid = int(Path(pidfile).read_text().strip())
        os.kill(pid, 0)
    except PermissionError:
        return pid  # alive, and someone else's
    except (OSError, ValueError):
        return None
    return pid
