"""An exception raised at a chosen bytecode, as a signal handler's exception would land.

A handler that raises (the worker's ``StopWorker`` did) lands between any two bytecodes of
whatever the process was running; :func:`interrupted_at` makes that happen on purpose, at
the ``n``-th bytecode run in the given modules' functions (closures included). C calls (a
``sendall``, a hiredis ``gets``) are atomic here, as they are for a signal: its handler
runs at the next bytecode.

It counts with ``sys.monitoring`` (Python 3.12+), which instruments the functions before
they run; ``sys.settrace``'s per-opcode events miss the first run of each function there.
On 3.11 it falls back to ``sys.settrace``, whose events are complete on that version.
"""

from __future__ import annotations

import sys
from collections.abc import Iterator, Sequence
from contextlib import contextmanager
from dataclasses import dataclass
from types import CodeType, FrameType, ModuleType
from typing import Any

__all__ = ["Interrupted", "Interruption", "interrupted_at"]


class Interrupted(BaseException):
    """Raised into the code under test (a BaseException, as ``StopWorker`` was)."""


@dataclass
class Interruption:
    """Where the exception was raised (if it was), and how many bytecodes ran."""

    target: int
    raised: bool = False
    where: str = ""
    seen: int = 0

    @property
    def ran_out(self) -> bool:
        """The block ended before reaching the chosen bytecode."""
        return not self.raised and self.seen < self.target

    def tick(self, code: CodeType) -> None:
        if self.raised:
            return
        self.seen += 1
        if self.seen == self.target:
            self.raised = True
            self.where = code.co_qualname
            raise Interrupted(f"at bytecode {self.target}, in {self.where}")


def _code_objects(modules: Sequence[ModuleType]) -> list[CodeType]:
    files = {module.__file__ for module in modules}
    found: dict[CodeType, None] = {}

    def add(code: CodeType) -> None:
        if code.co_filename in files and code not in found:
            found[code] = None
            for const in code.co_consts:
                if isinstance(const, CodeType):
                    add(const)

    for module in modules:
        for value in vars(module).values():
            members = [value, *vars(value).values()] if isinstance(value, type) else [value]
            for member in members:
                function = getattr(member, "fget", None) or getattr(member, "__func__", member)
                code = getattr(function, "__code__", None)
                if isinstance(code, CodeType):
                    add(code)
    return list(found)


@contextmanager
def interrupted_at(opcode: int, modules: Sequence[ModuleType]) -> Iterator[Interruption]:
    """Raise :class:`Interrupted` at the ``opcode``-th bytecode run in ``modules`` (counting
    from 1) within the block; nothing if the block runs fewer."""
    interruption = Interruption(target=opcode)
    codes = _code_objects(modules)
    monitoring = getattr(sys, "monitoring", None)
    if monitoring is None:  # Python 3.11
        with _traced(interruption, codes):
            yield interruption
        return
    tool = next(
        tool for tool in (3, 4, 0) if monitoring.get_tool(tool) is None
    )  # ids no one here uses (Hypothesis and coverage take others)
    instruction = monitoring.events.INSTRUCTION
    monitoring.use_tool_id(tool, "dlq interruptions")
    monitoring.register_callback(tool, instruction, lambda code, _: interruption.tick(code))
    for code in codes:
        monitoring.set_local_events(tool, code, instruction)
    try:
        yield interruption
    finally:
        for code in codes:
            monitoring.set_local_events(tool, code, 0)
        monitoring.register_callback(tool, instruction, None)
        monitoring.free_tool_id(tool)


@contextmanager
def _traced(interruption: Interruption, codes: list[CodeType]) -> Iterator[None]:
    wanted = set(codes)

    def local(frame: FrameType, event: str, arg: Any) -> Any:
        if event == "opcode":
            interruption.tick(frame.f_code)
        return local

    def calls(frame: FrameType, event: str, arg: Any) -> Any:
        if frame.f_code not in wanted:
            return None
        frame.f_trace_opcodes = True
        frame.f_trace_lines = False
        return local

    previous = sys.gettrace()
    sys.settrace(calls)
    try:
        yield
    finally:
        sys.settrace(previous)
