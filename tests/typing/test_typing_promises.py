"""The typing promises, proved by running mypy (with the project's mypy.ini) on snippets.

In a snippet, a line ending ``# E: <message>`` must get exactly that error, ``# N:
<message>`` exactly that note (``reveal_type``), and every other line no error at all.
"""

from __future__ import annotations

import re
from collections import defaultdict
from pathlib import Path

import pytest
from mypy import api

ROOT = Path(__file__).resolve().parents[2]
SNIPPETS = sorted((Path(__file__).parent / "snippets").glob("*.py"))
EXPECTATION = re.compile(r"#\s*([EN]): (.*)$")
REPORTED = re.compile(r"^(?P<file>[^:]+):(?P<line>\d+): (?P<kind>error|note): (?P<message>.*)$")


def expected(snippet: Path) -> dict[int, list[str]]:
    found: dict[int, list[str]] = defaultdict(list)
    for number, line in enumerate(snippet.read_text().splitlines(), start=1):
        match = EXPECTATION.search(line)
        if match:
            kind = "error" if match[1] == "E" else "note"
            found[number].append(f"{kind}: {match[2].strip()}")
    return dict(found)


def reported(snippet: Path) -> dict[int, list[str]]:
    stdout, stderr, _ = api.run(
        [
            "--config-file",
            str(ROOT / "mypy.ini"),
            "--no-error-summary",
            "--hide-error-context",
            str(snippet.relative_to(ROOT)),
        ]
    )
    assert not stderr, stderr
    found: dict[int, list[str]] = defaultdict(list)
    for line in stdout.splitlines():
        match = REPORTED.match(line)
        assert match, f"unexpected mypy output: {line}"
        if match["kind"] == "note" and "Revealed type" not in match["message"]:
            continue  # "defined here" notes accompany some errors
        found[int(match["line"])].append(f"{match['kind']}: {match['message']}")
    return dict(found)


@pytest.mark.parametrize("snippet", SNIPPETS, ids=lambda path: path.stem)
def test_mypy_reports_exactly_the_expected_errors(
    snippet: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.chdir(ROOT)
    want = expected(snippet)
    assert want, "a snippet without expectations proves nothing"
    assert reported(snippet) == want
