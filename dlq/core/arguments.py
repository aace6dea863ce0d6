"""Checking and converting a task's arguments on their way into and out of a queue.

Parameters annotated with plain JSON types (or not at all) travel as they are, after a
check that they really are JSON. Parameters annotated with anything richer that pydantic
understands (datetime, Decimal, UUID, Enum, models, dataclasses...) are encoded by
pydantic when enqueued and rebuilt as that type before the task runs. Either way, a value
that does not fit its parameter's annotation is refused, when enqueued and again when
the job is decoded for a worker (:mod:`dlq.core.argument_types` has the rules).
"""

from __future__ import annotations

import inspect
import math
import typing
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass
from functools import cached_property

from pydantic import ValidationError

from dlq.core.argument_types import ArgumentType, Check, argument_type, shown
from dlq.domain.envelope import JSONValue
from dlq.exceptions import TaskArgumentError

__all__ = ["ArgumentCodec"]

_EXACT_SCALARS = frozenset({int, str, bool})


class ArgumentCodec:
    """Encodes, checks and decodes the arguments of one task function.

    What it learns from the function (its signature, a check per annotated parameter) is
    worked out at first use, not when the task is decorated: annotations may name things
    defined later in the module, and importing a tasks module should cost nothing.
    """

    def __init__(self, fn: Callable[..., object], task_path: str) -> None:
        self._fn = fn
        self._path = task_path

    @cached_property
    def _signature(self) -> inspect.Signature:
        return inspect.signature(self._fn)

    @cached_property
    def _types(self) -> Mapping[str, ArgumentType]:
        """A check for each parameter whose annotation does not accept anything."""
        try:
            hints = typing.get_type_hints(self._fn, include_extras=True)
        except Exception as exc:  # an unresolvable annotation is the task author's error
            raise TaskArgumentError(
                f"{self._path}: cannot resolve its parameter annotations: {exc}"
            ) from exc
        found = {}
        for name, hint in hints.items():
            if name == "return":
                continue
            try:
                kind = argument_type(hint)
            except Exception as exc:  # pydantic cannot handle it: the author's error too
                raise TaskArgumentError(
                    f"{self._path}: the annotation of parameter {name!r} ({hint!r}) cannot"
                    f" be checked: {exc}"
                ) from exc
            if kind is not None:
                found[name] = kind
        return found

    @cached_property
    def _positional_checks(self) -> tuple[Check | None, ...]:
        """The check of each positional parameter, in order (None: anything goes)."""
        types = self._types
        return tuple(
            kind.decode if (kind := types.get(name)) is not None else None
            for name in self._shape.positional
        )

    @cached_property
    def _shape(self) -> _Shape:
        return _Shape.of(self._signature)

    def _parameter_names(
        self, args: Sequence[object], kwargs: Mapping[str, object]
    ) -> tuple[Sequence[str], dict[str, str]]:
        """The parameter each positional and keyword argument lands in."""
        shape = self._shape
        if not kwargs and shape.fits_positionally(len(args)):
            return shape.positional[: len(args)], {}
        try:
            self._signature.bind(*args, **kwargs)
        except TypeError as exc:
            raise TaskArgumentError(f"{self._path}: {exc}") from None
        names = [
            shape.positional[i] if i < len(shape.positional) else shape.var_positional
            for i in range(len(args))
        ]
        keyword = {
            key: key if key in self._signature.parameters else shape.var_keyword for key in kwargs
        }
        return names, keyword

    def encode(
        self, args: Sequence[object], kwargs: Mapping[str, object]
    ) -> tuple[list[JSONValue], dict[str, JSONValue]]:
        if not args and not kwargs and self._shape.fits_positionally(0):
            return [], {}  # (tasks without parameters are common: spared the binding)
        names, keyword = self._parameter_names(args, kwargs)
        # Every call is encoded here, and most have no keywords (many no arguments at all):
        # an empty comprehension still costs a function call and a zip, so skip those.
        encoded_args = (
            [
                self._encode(name, value, at)
                for at, (name, value) in enumerate(zip(names, args, strict=True))
            ]
            if args
            else []
        )
        encoded_kwargs = (
            {key: self._encode(keyword[key], value, key) for key, value in kwargs.items()}
            if kwargs
            else {}
        )
        return encoded_args, encoded_kwargs

    def decode(
        self, args: Sequence[JSONValue], kwargs: Mapping[str, JSONValue]
    ) -> tuple[list[object], dict[str, object]]:
        """The task's arguments from a job's; TaskArgumentError if they do not fit."""
        if not self._types:  # upstream's untyped tasks, and tasks without parameters
            if not kwargs and self._shape.fits_positionally(len(args)):
                return list(args), {}  # (every job goes through here: spared the binding)
            self._parameter_names(args, kwargs)  # only to refuse what does not fit
            return list(args), dict(kwargs)
        if not kwargs and self._shape.fits_positionally(len(args)):
            # Most jobs: positional arguments that bind without help. Checked in one
            # comprehension (fewer arguments than checks: defaults); the first that fails
            # sends us down the path that names it.
            try:
                return [
                    value if check is None else check(value)
                    for check, value in zip(self._positional_checks, args, strict=False)
                ], {}
            except Exception:
                pass  # said again below, with the parameter's name
        names, keyword = self._parameter_names(args, kwargs)
        decoded_args = [
            self._decode(name, value, at)
            for at, (name, value) in enumerate(zip(names, args, strict=True))
        ]
        decoded_kwargs = {
            key: self._decode(keyword[key], value, key) for key, value in kwargs.items()
        }
        return decoded_args, decoded_kwargs

    def _label(self, name: str, at: int | str) -> str:
        """How a message names an argument: 'user_id', or 'ids'[2] and 'options'['x'] for
        items of ``*ids`` and ``**options``."""
        shape = self._shape
        if isinstance(at, int) and name == shape.var_positional:
            return f"{name!r}[{at - len(shape.positional)}]"
        if isinstance(at, str) and name == shape.var_keyword and at != name:
            return f"{name!r}[{at!r}]"
        return repr(name)

    def _encode(self, name: str, value: object, at: int | str) -> JSONValue:
        kind = self._types.get(name)
        if kind is None:
            return _checked_json(value, self._path, self._label(name, at))
        if kind.plain:
            label = self._label(name, at)
            try:
                return typing.cast(JSONValue, kind.decode(_checked_json(value, self._path, label)))
            except ValueError as exc:
                raise TaskArgumentError(
                    f"{self._path}: argument {label} cannot be queued: {shown(value)} is not"
                    f" {kind.expected}{kind.detail(exc)}"
                ) from None
        adapter = kind.adapter
        assert adapter is not None  # (every annotation that is not plain has one)
        try:
            return typing.cast(
                JSONValue, adapter.dump_python(adapter.validate_python(value), mode="json")
            )
        except (ValidationError, ValueError, TypeError) as exc:
            raise TaskArgumentError(
                f"{self._path}: argument {self._label(name, at)} cannot be queued:"
                f" {_first_error(exc)}"
            ) from None

    def _decode(self, name: str, value: JSONValue, at: int | str) -> object:
        kind = self._types.get(name)
        if kind is None:
            return value
        try:
            return kind.decode(value)
        except ValueError as exc:
            detail = kind.detail(exc)
        except Exception as exc:  # a custom type's validator failed some other way
            detail = f": {type(exc).__name__}: {exc}"
        raise TaskArgumentError(
            f"{self._path}: queued argument {self._label(name, at)} = {shown(value)} does not fit its"
            f" annotation {kind.expected}{detail}"
        )


@dataclass(frozen=True)
class _Shape:
    """A signature's parameters by kind, worked out once per task."""

    positional: tuple[str, ...]
    required_positional: int
    var_positional: str
    var_keyword: str
    required_keyword_only: bool

    @classmethod
    def of(cls, signature: inspect.Signature) -> _Shape:
        parameters = list(signature.parameters.values())
        positional = [
            p for p in parameters if p.kind in (p.POSITIONAL_ONLY, p.POSITIONAL_OR_KEYWORD)
        ]
        return cls(
            positional=tuple(p.name for p in positional),
            required_positional=sum(1 for p in positional if p.default is p.empty),
            var_positional=next((p.name for p in parameters if p.kind is p.VAR_POSITIONAL), ""),
            var_keyword=next((p.name for p in parameters if p.kind is p.VAR_KEYWORD), ""),
            required_keyword_only=any(
                p.kind is p.KEYWORD_ONLY and p.default is p.empty for p in parameters
            ),
        )

    def fits_positionally(self, count: int) -> bool:
        """True when ``count`` positional arguments alone certainly bind (the common case)."""
        return not self.required_keyword_only and self.required_positional <= count <= len(
            self.positional
        )


def _checked_json(value: object, path: str, label: str, where: str = "") -> JSONValue:
    """``value`` if it is JSON exactly as it will come back out; otherwise say what is not."""
    if type(value) in _EXACT_SCALARS or value is None or isinstance(value, (bool, int, str)):
        return value  # type: ignore[return-value]  # checked just above
    if isinstance(value, float):
        if math.isfinite(value):
            return value
        problem = f"{value!r} has no JSON form"
    elif isinstance(value, (list, tuple)):
        return [_checked_json(item, path, label, f"{where}[{i}]") for i, item in enumerate(value)]
    elif isinstance(value, dict):
        for key in value:
            if not isinstance(key, str):
                problem = f"the key {key!r} is not a string"
                break
        else:
            return {
                key: _checked_json(item, path, label, f"{where}[{key!r}]")
                for key, item in value.items()
            }
    else:
        problem = (
            f"a {type(value).__name__} is not JSON (annotate the parameter to have it encoded)"
        )
    raise TaskArgumentError(f"{path}: argument {label}{where} cannot be queued: {problem}")


def _first_error(exc: Exception) -> str:
    if isinstance(exc, ValidationError):
        error = exc.errors(include_url=False)[0]
        where = ".".join(str(part) for part in error["loc"])
        return f"{where + ': ' if where else ''}{error['msg']} (got {error.get('input')!r:.60})"
    return str(exc)
