"""The tasks a worker may run: only functions decorated with ``@task`` are in it.

A worker looks a payload's ``path`` up here and never imports a dotted path taken from
a queue, so a payload naming ``os.system`` is refused rather than called. A task moved
to another module can keep its old path as an alias (``@task(aliases=(...))``), so
payloads queued under the old path still run.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable, Iterator
from typing import TYPE_CHECKING

from dlq.exceptions import UnknownTaskError

if TYPE_CHECKING:
    from dlq.core.task import Task

__all__ = ["TaskRegistry", "default_registry"]


class TaskRegistry:
    def __init__(self) -> None:
        self._tasks: dict[str, Task[..., object]] = {}
        # Every path a task answers to, its own and its aliases: what a payload is looked up in.
        self._paths: dict[str, Task[..., object]] = {}
        self._resolvers: list[Callable[[str], Task[..., object] | None]] = []

    def add_resolver(self, resolve: Callable[[str], Task[..., object] | None]) -> None:
        """Consult ``resolve(path)`` for a path no ``@task`` registered (once per path).

        For bridges to other task APIs (Django's ``django.tasks``): a resolver must return
        a task only for an object that API itself marks as a task defined in code, so a
        payload naming any other callable stays unknown.
        """
        if resolve not in self._resolvers:
            self._resolvers.append(resolve)

    def register(self, task: Task[..., object], aliases: Iterable[str] = ()) -> None:
        """Record ``task`` under its path and under each of ``aliases``.

        A module imported twice (autoreload, tests) registers the same path again: the
        newest definition wins, as it would for any other name in that module.
        """
        self._tasks[task.path] = task
        self._paths[task.path] = task
        for alias in aliases:
            self._paths[alias] = task

    def get(self, path: str) -> Task[..., object]:
        """The task whose path, or one of whose aliases, is ``path``."""
        try:
            return self._paths[path]
        except KeyError:
            pass
        for resolve in self._resolvers:
            found = resolve(path)
            if found is not None:
                self._paths[path] = found
                return found
        raise UnknownTaskError(path)

    def __contains__(self, path: object) -> bool:
        return path in self._paths

    def __iter__(self) -> Iterator[Task[..., object]]:
        """Each task once, by its own path; aliases are not listed."""
        return iter(sorted(self._tasks.values(), key=lambda task: task.path))

    def __len__(self) -> int:
        return len(self._tasks)


#: Where ``@task`` records what it decorates. Recording is all decoration does.
default_registry = TaskRegistry()
