"""SQLite's LIKE, lower() and upper() folding the case of every script, as PostgreSQL's do, for the embedded
default.

SQLite built without ICU folds ASCII only: `icontains`, `iexact` and the other case-insensitive lookups
(LIKE on SQLite) missed "Überwachung" for "ÜBERWACHUNG", and the unique index on lower(username) let
"émile" and "ÉMILE" both exist, where PostgreSQL finds the one and refuses the other. `register` replaces
the three functions on each new SQLite connection (Django's `connection_created`); on ASCII they answer
exactly as SQLite's own (property-tested), so nothing that worked changes. SQLite never uses an index for
LIKE on Django's columns (their collation is BINARY), so replacing it costs no index.
"""

from __future__ import annotations

import functools
import re
import sqlite3
from typing import Any

# Never matches: SQLite's LIKE matches nothing when the pattern ends in its escape character.
_NOTHING = re.compile(r"(?!)")


@functools.lru_cache(maxsize=512)
def _like_regex(pattern: str, escape: str | None) -> re.Pattern[str]:
    parts: list[str] = []
    characters = iter(pattern)
    for character in characters:
        if character == escape:
            escaped = next(characters, None)
            if escaped is None:
                return _NOTHING
            parts.append(re.escape(escaped))
        elif character == "%":
            parts.append(".*")
        elif character == "_":
            parts.append(".")
        else:
            parts.append(re.escape(character))
    return re.compile("".join(parts), re.IGNORECASE | re.DOTALL)


def _text(value: Any) -> str:
    # SQLite compares numbers and blobs by their text.
    if isinstance(value, bytes):
        return value.decode("utf-8", "replace")
    return value if isinstance(value, str) else str(value)


def like(pattern: Any, value: Any, escape: Any = None) -> int | None:
    """SQL `value LIKE pattern [ESCAPE escape]` (SQLite calls like(pattern, value, escape)): 1 or 0, or
    NULL where either side is NULL; letters of any script match whatever their case."""
    if pattern is None or value is None:
        return None
    if escape is not None and len(_text(escape)) != 1:
        raise ValueError("ESCAPE expression must be a single character")
    regex = _like_regex(_text(pattern), None if escape is None else _text(escape))
    return int(regex.fullmatch(_text(value)) is not None)


def lower(value: Any) -> str | None:
    """SQL lower(value) for every script; NULL stays NULL."""
    return None if value is None else _text(value).lower()


def upper(value: Any) -> str | None:
    """SQL upper(value) for every script; NULL stays NULL."""
    return None if value is None else _text(value).upper()


def register(connection: sqlite3.Connection) -> None:
    """Put the Unicode-aware LIKE, lower() and upper() in place of SQLite's own on `connection`."""
    connection.create_function("like", 2, like, deterministic=True)
    connection.create_function("like", 3, like, deterministic=True)
    connection.create_function("lower", 1, lower, deterministic=True)
    connection.create_function("upper", 1, upper, deterministic=True)
