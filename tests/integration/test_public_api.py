"""Every module says what it exports, and the exception tree in the docs is the real one."""

from __future__ import annotations

import importlib
import inspect
import pkgutil
import re
from types import ModuleType

import pytest

import dlq
import dlq.exceptions
from dlq.exceptions import DLQError

# Modules Django looks things up in by name, rather than modules one imports from.
WITHOUT_ALL = re.compile(r"^dlq\.(apps|urls|management\.commands\..+|migrations\..+)$")


def modules() -> list[str]:
    return sorted(
        info.name
        for info in pkgutil.walk_packages(dlq.__path__, "dlq.")
        if not info.ispkg and not WITHOUT_ALL.match(info.name)
    )


@pytest.mark.parametrize("name", modules())
def test_all_lists_exactly_the_public_names_defined_here(name: str) -> None:
    module: ModuleType = importlib.import_module(name)
    assert hasattr(module, "__all__"), f"{name} has no __all__"
    defined = {
        attribute
        for attribute, value in vars(module).items()
        if not attribute.startswith("_")
        and (
            getattr(value, "__module__", None) == name
            and (inspect.isclass(value) or inspect.isfunction(value))
        )
    }
    assert defined <= set(module.__all__), f"{name} does not export {defined - set(module.__all__)}"
    missing = [attribute for attribute in module.__all__ if not hasattr(module, attribute)]
    assert not missing, f"{name}.__all__ names what it lacks: {missing}"


def all_subclasses(cls: type) -> set[type]:
    found: set[type] = set()
    sub: type
    for sub in cls.__subclasses__():
        found |= {sub, *all_subclasses(sub)}
    return found


def test_exception_tree_in_the_docstring_lists_every_error() -> None:
    for name in modules():
        importlib.import_module(name)
    doc = dlq.exceptions.__doc__ or ""
    documented = set(re.findall(r"[├└]── (\w+)", doc))
    actual = {cls.__name__ for cls in all_subclasses(DLQError) if cls.__module__.startswith("dlq.")}
    assert documented == actual
