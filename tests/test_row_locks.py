"""Every row lock the services take is FOR NO KEY UPDATE, never FOR UPDATE.

FOR UPDATE also refuses the FOR KEY SHARE that another transaction's foreign-key check takes on the row at
its commit. That transaction may hold the credit lock, which the lock holder then waits for: a deadlock
PostgreSQL ends by failing one of them (found by bench/soak.py as a 500 on uploads; see
exchange.services._common._lock_dataset). We never change a key, so FOR NO KEY UPDATE orders our writers
just as well.
"""

from __future__ import annotations

import ast
import re
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
PACKAGES = ("consortium", "exchange", "ledger")
SQL_FOR_UPDATE = re.compile(r"\bFOR\s+UPDATE\b", re.IGNORECASE)


def _sources() -> list[Path]:
    return [
        path
        for package in PACKAGES
        for path in (ROOT / package).rglob("*.py")
        if "migrations" not in path.parts
    ]


def lock_problems(source: str, name: str) -> list[str]:
    """Where `source` locks rows FOR UPDATE: select_for_update() without no_key=True, or SQL saying so."""
    problems = []
    for node in ast.walk(ast.parse(source)):
        if (
            isinstance(node, ast.Call)
            and isinstance(node.func, ast.Attribute)
            and node.func.attr == "select_for_update"
            and not any(
                keyword.arg == "no_key"
                and isinstance(keyword.value, ast.Constant)
                and keyword.value.value is True
                for keyword in node.keywords
            )
        ):
            problems.append(f"{name}:{node.lineno}: select_for_update() without no_key=True")
        if (
            isinstance(node, ast.Constant)
            and isinstance(node.value, str)
            and node.value.lstrip().upper().startswith(("SELECT", "WITH"))
            and SQL_FOR_UPDATE.search(node.value)  # "FOR NO KEY UPDATE" does not match
        ):
            problems.append(f"{name}:{node.lineno}: SQL with FOR UPDATE")
    return problems


def test_the_check_finds_a_for_update_lock() -> None:
    assert lock_problems("Member.objects.select_for_update().get(pk=1)", "x")
    assert lock_problems("Grant.objects.select_for_update(of=('self',)).get(pk=1)", "x")
    assert lock_problems("q = 'SELECT id FROM t WHERE id = 1 FOR UPDATE'", "x")
    assert not lock_problems("Member.objects.select_for_update(no_key=True).get(pk=1)", "x")
    assert not lock_problems("q = 'SELECT id FROM t ORDER BY id FOR NO KEY UPDATE'", "x")


def test_no_service_locks_a_row_for_update() -> None:
    sources = _sources()
    assert len(sources) > 50  # the packages were found
    problems = [
        problem
        for path in sources
        for problem in lock_problems(path.read_text(encoding="utf-8"), str(path.relative_to(ROOT)))
    ]
    assert not problems, "\n".join(problems)
