"""Checking and converting a task's arguments on their way into and out of a queue.

Parameters annotated with plain JSON types (or not at all) travel as they are, after a
check that they really are JSON. Parameters annotated with anything richer that pydantic
understands (datetime, Decimal, UUID, Enum, models, dataclasses...) are encoded by
pydantic when enqueued and rebuilt as that type before the task runs.
"""

from __future__ import annotations

import inspect
import math
import types
import typing
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass
from functools import cached_property
from typing import Any, Union

from pydantic import TypeAdapter, ValidationError

from dlq.domain.envelope import JSONValue
from dlq.exceptions import TaskArgumentError

__all__ = ["ArgumentCodec"]

_PLAIN = (type(None), bool, int, float, str)
_EXACT_SCALARS = frozenset({int, str, bool})
_PLAIN_ORIGINS = (list, dict, Union, types.UnionType, Sequence, Mapping)


class ArgumentCodec:
    """Encodes and decodes the arguments of one task function."""

    def __init__(self, fn: Callable[..., object], task_path: str) -> None:
        self._fn = fn
        self._path = task_path

    @cached_property
    def _signature(self) -> inspect.Signature:
        return inspect.signature(self._fn)

    @cached_property
    def _adapters(self) -> Mapping[str, TypeAdapter[Any]]:
        # Resolved on first use, not at decoration: annotations may name things defined
        # later in the module.
        try:
            hints = typing.get_type_hints(self._fn)
        except Exception as exc:  # an unresolvable annotation is the task author's error
            raise TaskArgumentError(
                f"{self._path}: cannot resolve its parameter annotations: {exc}"
            ) from exc
        return {
            name: TypeAdapter(hint)
            for name, hint in hints.items()
            if name != "return" and not _is_plain(hint)
        }

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
            [self._encode(name, value) for name, value in zip(names, args, strict=True)]
            if args
            else []
        )
        encoded_kwargs = (
            {key: self._encode(keyword[key], value) for key, value in kwargs.items()}
            if kwargs
            else {}
        )
        return encoded_args, encoded_kwargs

    def decode(
        self, args: Sequence[JSONValue], kwargs: Mapping[str, JSONValue]
    ) -> tuple[list[object], dict[str, object]]:
        if not self._adapters:  # nothing but JSON types: the values are the arguments
            if not kwargs and self._shape.fits_positionally(len(args)):
                return list(args), {}  # (every job goes through here: spared the binding)
            self._parameter_names(args, kwargs)  # only to refuse what does not fit
            return list(args), dict(kwargs)
        names, keyword = self._parameter_names(args, kwargs)
        decoded_args = [self._decode(name, value) for name, value in zip(names, args, strict=True)]
        decoded_kwargs = {key: self._decode(keyword[key], value) for key, value in kwargs.items()}
        return decoded_args, decoded_kwargs

    def _encode(self, name: str, value: object) -> JSONValue:
        adapter = self._adapters.get(name)
        if adapter is None:
            return _checked_json(value, self._path, name)
        try:
            return typing.cast(
                JSONValue, adapter.dump_python(adapter.validate_python(value), mode="json")
            )
        except (ValidationError, ValueError, TypeError) as exc:
            raise TaskArgumentError(
                f"{self._path}: argument {name!r} cannot be queued: {_first_error(exc)}"
            ) from None

    def _decode(self, name: str, value: JSONValue) -> object:
        adapter = self._adapters.get(name)
        if adapter is None:
            return value
        try:
            return adapter.validate_python(value)
        except ValidationError as exc:
            raise TaskArgumentError(
                f"{self._path}: queued argument {name!r} does not fit its annotation:"
                f" {_first_error(exc)}"
            ) from None


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


def _is_plain(hint: object) -> bool:
    """True when ``hint`` needs no conversion: JSON in, the same JSON out."""
    if hint in _PLAIN or hint is Any or hint is object:
        return True
    if typing.get_origin(hint) in _PLAIN_ORIGINS:
        return all(_is_plain(arg) for arg in typing.get_args(hint) if arg is not Ellipsis)
    return False


def _checked_json(value: object, path: str, name: str, where: str = "") -> JSONValue:
    """``value`` if it is JSON exactly as it will come back out; otherwise say what is not."""
    if type(value) in _EXACT_SCALARS or value is None or isinstance(value, (bool, int, str)):
        return value  # type: ignore[return-value]  # checked just above
    if isinstance(value, float):
        if math.isfinite(value):
            return value
        problem = f"{value!r} has no JSON form"
    elif isinstance(value, (list, tuple)):
        return [_checked_json(item, path, name, f"{where}[{i}]") for i, item in enumerate(value)]
    elif isinstance(value, dict):
        for key in value:
            if not isinstance(key, str):
                problem = f"the key {key!r} is not a string"
                break
        else:
            return {
                key: _checked_json(item, path, name, f"{where}[{key!r}]")
                for key, item in value.items()
            }
    else:
        problem = (
            f"a {type(value).__name__} is not JSON (annotate the parameter to have it encoded)"
        )
    raise TaskArgumentError(f"{path}: argument {name!r}{where} cannot be queued: {problem}")


def _first_error(exc: Exception) -> str:
    if isinstance(exc, ValidationError):
        error = exc.errors(include_url=False)[0]
        where = ".".join(str(part) for part in error["loc"])
        return f"{where + ': ' if where else ''}{error['msg']} (got {error.get('input')!r:.60})"
    return str(exc)
