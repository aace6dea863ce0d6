"""What one parameter's annotation lets through, on the way into a queue and out of it.

A queued job's arguments come back as JSON: from this code, from an older deploy, from
upstream's enqueuers, or typed by hand. Before a task runs, each argument is checked
against its parameter's annotation, so ``"abc"`` for an ``int`` is refused (the job is
rejected and kept as a dead letter) instead of failing somewhere inside the task.

The rules, for a value that arrived as JSON:

- Plain JSON types are strict: an ``int`` refuses ``"1"``, ``1.5`` and ``True``; a ``float``
  takes ``1`` (as ``1.0``); a ``bool`` refuses ``1``; a ``str`` refuses ``5``. The same holds
  inside containers (``list[int]``, ``dict[str, float]``, ``int | None``).
- Richer types that the codec encodes (``datetime``, ``Decimal``, ``UUID``, ``Enum``,
  pydantic models, dataclasses, tuples...) are rebuilt from their JSON form by pydantic,
  as lax as pydantic is for them; what sits inside them is theirs to judge.
- No annotation, ``Any`` or ``object``: anything, unchanged (upstream's untyped tasks).

Scalars and unions of scalars (``int``, ``str | None``...) are checked by a comparison of
types, without pydantic: they are most parameters, and every job pays for their checks.
"""

from __future__ import annotations

import types
import typing
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass
from typing import Annotated, Any, Literal, Union

from pydantic import Strict, TypeAdapter, ValidationError

__all__ = ["ArgumentMismatch", "ArgumentType", "Check", "argument_type", "shown"]

#: Returns the argument as the task gets it; raises ValueError when it does not fit.
Check = Callable[[object], object]

_SCALARS: tuple[type, ...] = (bool, int, float, str, type(None))
_STRICT = Strict()
_UNIONS = (Union, types.UnionType)
# Containers whose JSON form is the same container: JSON in, the same JSON out.
_PLAIN_ORIGINS = (list, dict, *_UNIONS, Sequence, Mapping)


class ArgumentMismatch(ValueError):
    """A value is not of a scalar type its parameter allows (pydantic's errors say more)."""


@dataclass(frozen=True, slots=True)
class ArgumentType:
    """How values of one parameter are checked, converted and encoded."""

    #: The annotation as an error message names it: ``int``, ``list[int]``, ``datetime``.
    expected: str
    #: From a value that arrived as JSON to the task's argument; raises ValueError.
    decode: Check
    #: True when the value's JSON form is the value itself (no pydantic encoding).
    plain: bool
    #: Pydantic's validator and serialiser, for annotations that need encoding.
    adapter: TypeAdapter[Any] | None = None

    def detail(self, exc: ValueError) -> str:
        """What ``exc``, raised by :attr:`decode`, says beyond "does not fit"."""
        if isinstance(exc, ValidationError):
            error = exc.errors(include_url=False)[0]
            where = "".join(f"[{part!r}]" for part in error["loc"])
            return f": {error['msg']}{f' at {where}' if where else ''}"
        return ""


def argument_type(hint: object) -> ArgumentType | None:
    """The checks for a parameter annotated ``hint``; None when it accepts anything.

    Raises whatever pydantic raises for an annotation it cannot handle (built once, at a
    task's first use: the codec reports it as the task's error).
    """
    if _accepts_anything(hint):
        return None
    expected = _name(hint)
    scalars = _scalar_members(hint)
    if scalars is not None:
        return ArgumentType(expected, _scalar_check(scalars), plain=True)
    adapter: TypeAdapter[Any] = TypeAdapter(_strict_leaves(hint))
    return ArgumentType(expected, adapter.validate_python, plain=_is_plain(hint), adapter=adapter)


def shown(value: object, limit: int = 60) -> str:
    """``repr(value)``, cut to about ``limit`` characters: a payload may hold anything."""
    text = repr(value)
    return text if len(text) <= limit else f"{text[: limit - 3]}..."


def _accepts_anything(hint: object) -> bool:
    if hint is Any or hint is object:
        return True
    if typing.get_origin(hint) in _UNIONS:
        return any(_accepts_anything(arg) for arg in typing.get_args(hint))
    return False


def _scalar_members(hint: object) -> tuple[type, ...] | None:
    """The scalar types of ``int``, ``str | None``, ``Optional[float]``...; else None."""
    if hint is None:
        hint = type(None)
    if hint in _SCALARS:
        return (hint,)
    if typing.get_origin(hint) not in _UNIONS:
        return None
    members = tuple(type(None) if arg is None else arg for arg in typing.get_args(hint))
    return members if all(member in _SCALARS for member in members) else None


def _scalar_check(allowed: tuple[type, ...]) -> Check:
    exact = frozenset(allowed)
    # JSON has one kind of number: a float parameter takes 1 and gets 1.0, as pydantic does.
    int_to_float = float in exact and int not in exact
    first = allowed[0]

    def check(value: object) -> object:
        kind = type(value)
        if kind is first or kind in exact:  # (the first test alone decides most calls)
            return value
        if kind is int and int_to_float:
            return float(typing.cast(int, value))
        # Subclasses (an IntEnum, a str subclass) reach here only on the way in, from a
        # caller: they are queued as the base type's JSON. bool is no number here.
        for base in allowed:
            if isinstance(value, base) and not (kind is bool and base is not bool):
                return base(value)
        if int_to_float and isinstance(value, int) and kind is not bool:
            return float(value)
        raise ArgumentMismatch

    return check


def _strict_leaves(hint: object) -> Any:  # (an annotation, built at run time)
    """``hint`` with every plain scalar in it made strict (``Annotated[int, Strict()]``).

    Only the scalars: a ``datetime`` or a model inside the annotation is still built lax
    from its JSON form, and a model's own fields follow the model's own configuration.
    """
    if hint in (bool, int, float, str):
        return Annotated[hint, _STRICT]
    origin = typing.get_origin(hint)
    if origin is None or origin is Literal:
        return hint
    args = typing.get_args(hint)
    if origin is Annotated:
        metadata = typing.cast(Any, hint).__metadata__
        return Annotated[(_strict_leaves(args[0]), *metadata)]
    if origin in (dict, Mapping) and len(args) == 2:
        # JSON keys are strings: a dict[int, str] gets its keys converted, as pydantic does.
        stricter: tuple[object, ...] = (args[0], _strict_leaves(args[1]))
    else:
        stricter = tuple(arg if arg is Ellipsis else _strict_leaves(arg) for arg in args)
    if stricter == args:
        return hint
    if origin in _UNIONS:
        return Union[stricter]  # noqa: UP007 -- from a tuple, at run time
    if isinstance(hint, types.GenericAlias):
        return types.GenericAlias(origin, stricter)
    copy_with: Callable[[tuple[object, ...]], object] | None = getattr(hint, "copy_with", None)
    return hint if copy_with is None else copy_with(stricter)


def _is_plain(hint: object) -> bool:
    """True when ``hint`` needs no conversion: JSON in, the same JSON out."""
    if hint in _SCALARS or hint is None or hint is Any or hint is object:
        return True
    origin = typing.get_origin(hint)
    if origin not in _PLAIN_ORIGINS:
        return False
    args = typing.get_args(hint)
    if origin in (dict, Mapping) and args and args[0] is not str:
        return False  # keys other than strings are converted to strings and back
    return all(_is_plain(arg) for arg in args if arg is not Ellipsis)


def _name(hint: object) -> str:
    if hint is None or hint is type(None):
        return "None"
    if isinstance(hint, type) and typing.get_origin(hint) is None:
        return hint.__qualname__
    return str(hint).replace("typing.", "").replace("NoneType", "None")
