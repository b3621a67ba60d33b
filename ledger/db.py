"""The hot statements of the ledger and of credit posting, prepared on psycopg's own cursor (PostgreSQL)."""

from __future__ import annotations

from typing import Any

from django.conf import settings
from django.db import DEFAULT_DB_ALIAS, connections


def hot_cursor(conn: Any) -> Any:
    """The psycopg cursor of this connection for the hot statements, or None where Django's own cursor
    must run them: on SQLite, while queries are logged (DEBUG, tests capturing queries: Django's cursor
    logs the SQL text) and while execute wrappers are installed.

    On PostgreSQL it binds parameters on the server, so bytes and arrays travel as binary instead of escaped
    into the SQL text, and the hot statements are prepared once per connection instead of parsed and planned
    on every call. Django prepares nothing by default (for transaction-mode poolers):
    LEDGER["PREPARED_INSERT"] = False turns preparing off. One cursor per connection, made once: Django's
    cursor wrapper and a new cursor per statement cost about as much as the entry INSERT's own client time.
    Callers check the transaction and wrap errors as Django's cursor would (`hot_rows`).
    """
    if conn.vendor != "postgresql" or conn.queries_logged or conn.execute_wrappers:
        return None
    raw = conn.connection
    if raw is None:
        conn.ensure_connection()
        raw = conn.connection
    cached = getattr(conn, "_ledger_cursor", None)
    if cached is not None and cached[0] is raw:
        return cached[1]
    import psycopg

    if raw.prepare_threshold is None:
        # psycopg prepares nothing while the threshold is None, not even on request; a threshold this high
        # prepares only what asks for it (the hot statements), as Django's own queries never do.
        raw.prepare_threshold = 1 << 30
    cursor = psycopg.Cursor(raw)
    conn._ledger_cursor = (raw, cursor)
    return cursor


def hot_rows(sql: str, params: Any, *, conn: Any = None) -> list[tuple[Any, ...]]:
    """Run one hot statement (prepared, as `hot_cursor` says, with binary results) in the current
    transaction; its rows. `%b` marks a parameter sent binary (Django's cursor, which logs, sends it as
    text). Errors are Django's, and a broken transaction is refused, as through Django's cursor."""
    conn = conn or connections[DEFAULT_DB_ALIAS]
    cursor = hot_cursor(conn)
    if cursor is None:
        with conn.cursor() as django_cursor:
            django_cursor.execute(sql.replace("%b", "%s"), params)
            return django_cursor.fetchall() if django_cursor.description else []
    conn.validate_no_broken_transaction()
    with conn.wrap_database_errors:
        cursor.execute(sql, params, prepare=settings.LEDGER.get("PREPARED_INSERT", True), binary=True)
        return cursor.fetchall() if cursor.description else []
