"""README.md and docs/*.md name only files, Python names and URL paths that exist: a module that became a
package, a function renamed or removed, or a route moved leaves behind a reference no other test reads."""

from __future__ import annotations

import importlib
import re
from pathlib import Path

import pytest
from django.urls import Resolver404, resolve

ROOT = Path(__file__).resolve().parents[1]
DOCUMENTS = [ROOT / "README.md", *sorted((ROOT / "docs").glob("*.md"))]

# A repository path (`ledger/credit/rules.py`, `docs/credit.md`, `tests/ledger/`), not part of a URL or of a
# longer path; placeholders (`<app>`, `{id}`, `*`) are not checked.
PATH = re.compile(
    r"(?<![\w/.:-])((?:\.ci|consortium|exchange|ledger|bench|scripts|docs|tests)/[\w./<>{}*-]*[\w/*>}])"
)
# A dotted name under one of our packages (`ledger.services.ledger_append`, `python -m ledger.verify`); host
# names such as consortium.example are not Python.
DOTTED = re.compile(r"(?<![\w./-])((?:consortium|exchange|ledger)(?:\.[A-Za-z_]\w*)+)")
HOST = re.compile(r"\.(example|com|cn|internal)\b")
# A URL path in inline code: the service's all end in a slash (`/api/v1/ledger/status/`,
# `/api/v1/credit/statements/<epoch>/?format=csv`), which files (`/proc/<pid>/schedstat`) do not.
URL = re.compile(r"`(/[^`\s?]*/)(?:\?[^`\s]*)?`")


def references(pattern: re.Pattern[str]) -> list[tuple[str, str]]:
    """(document:line, reference) for each match in every document."""
    found = []
    for document in DOCUMENTS:
        for number, line in enumerate(document.read_text().splitlines(), start=1):
            found += [(f"{document.relative_to(ROOT)}:{number}", match) for match in pattern.findall(line)]
    return found


def resolves(dotted: str) -> bool:
    """Whether `dotted` is a module, or attributes reached from the longest module prefix that imports."""
    parts = dotted.split(".")
    for cut in range(len(parts), 0, -1):
        try:
            target = importlib.import_module(".".join(parts[:cut]))
        except ModuleNotFoundError:
            continue
        for name in parts[cut:]:
            if not hasattr(target, name):
                return False
            target = getattr(target, name)
        return True
    return False


def test_every_path_named_in_the_docs_exists() -> None:
    paths = references(PATH)
    assert len(paths) > 20  # the pattern still finds the docs' paths
    missing = [
        f"{where}: {path}"
        for where, path in paths
        if not any(c in path for c in "<>{}*") and not (ROOT / path.rstrip(".")).exists()
    ]
    assert not missing, "paths named in README.md or docs/ that do not exist:\n" + "\n".join(missing)


def test_every_python_name_in_the_docs_resolves() -> None:
    names = [(where, name) for where, name in references(DOTTED) if not HOST.search(name)]
    assert len(names) > 10
    unresolved = [f"{where}: {name}" for where, name in names if not resolves(name)]
    assert not unresolved, "Python names in README.md or docs/ that do not resolve:\n" + "\n".join(unresolved)


def test_every_url_path_in_the_docs_is_served() -> None:
    urls = [(where, url) for where, url in references(URL) if "..." not in url]
    assert len(urls) > 20
    unserved = []
    for where, url in urls:
        path = url.replace("<epoch>", "2026-11")
        try:
            resolve(re.sub(r"<[^>]+>|\{[^}]+\}", "1", path))
        except Resolver404:
            unserved.append(f"{where}: {url}")
    assert not unserved, "URL paths in README.md or docs/ that nothing serves:\n" + "\n".join(unserved)


@pytest.mark.parametrize(
    ("text", "stale"),
    [
        ("after `ledger/services.py` became a package", ["ledger/services.py"]),
        ("see `ledger.services.ledger_appends`", ["ledger.services.ledger_appends"]),
    ],
)
def test_the_patterns_catch_a_moved_module_and_a_renamed_function(text: str, stale: list[str]) -> None:
    paths = [p for p in PATH.findall(text) if not (ROOT / p).exists()]
    names = [n for n in DOTTED.findall(text) if not resolves(n)]
    assert paths + names == stale
