"""ARCHITECTURE.md stays true: it names every module of dlq, and only paths that exist."""

from __future__ import annotations

import re
from pathlib import Path

REPO = Path(__file__).resolve().parents[2]
PAGE = (REPO / "ARCHITECTURE.md").read_text()
# Named as a whole (their modules are listed inside the package's own docs).
WHOLE = {"dlq/migrations", "dlq/management/commands"}


def _modules() -> list[str]:
    found = []
    for path in sorted((REPO / "dlq").rglob("*.py")):
        relative = path.relative_to(REPO).as_posix()
        if any(relative.startswith(whole + "/") for whole in WHOLE):
            continue
        if path.name == "__init__.py":
            relative = relative.removesuffix("/__init__.py")
        found.append(relative)
    return found


def _named(module: str) -> bool:
    """Named by its path, or by its file name inside its package's paragraph."""
    if re.search(re.escape(module) + r"\b/?", PAGE):
        return True
    package, _, name = module.rpartition("/")
    return package != "dlq" and f"`{package}/`" in PAGE and f"`{name}`" in PAGE


def test_every_module_is_named() -> None:
    missing = [module for module in _modules() if module != "dlq" and not _named(module)]
    assert not missing, f"ARCHITECTURE.md does not say what these are: {missing}"


def test_every_path_it_names_exists() -> None:
    cited = set(re.findall(r"`?(dlq/[\w/]*\w(?:\.py)?/?)", PAGE))
    gone = sorted(path for path in cited if not (REPO / path.rstrip("/")).exists())
    assert not gone, f"ARCHITECTURE.md names paths that do not exist: {gone}"
