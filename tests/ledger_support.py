"""Test support for the ledger: a throwaway signing key per test, and flushes that respect the triggers.

Between transactional tests Django empties every table; the ledger's append-only triggers refuse that, as
they should. Like a DBA restoring a test database, the flush here drops the triggers, empties the tables and
installs the triggers again, all inside the flush's own transaction.
"""

from __future__ import annotations

import importlib
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

import pytest
from django.db import connection
from django.db.backends.base.operations import BaseDatabaseOperations

from ledger import keys

_triggers = importlib.import_module("ledger.migrations.0002_append_only_triggers")
_credit_triggers = importlib.import_module("ledger.credit.migrations.0002_append_only_triggers")
_use_triggers = importlib.import_module("ledger.credit.migrations.0005_use_append_only")


class _RawSQL:
    """Just enough of a schema editor for the trigger migration's functions: raw SQL on `connection`."""

    connection = connection

    @staticmethod
    def execute(sql: str, params: object = None) -> None:
        with connection.cursor() as cursor:
            cursor.execute(sql, params)


def drop_ledger_triggers() -> None:
    """Remove the append-only triggers of the ledger, transfer and use tables (as a superuser could);
    `install_ledger_triggers` restores them."""
    _use_triggers.uninstall(None, _RawSQL)
    _credit_triggers.uninstall(None, _RawSQL)
    _triggers.uninstall(None, _RawSQL)


def install_ledger_triggers() -> None:
    _triggers.install(None, _RawSQL)
    _credit_triggers.install(None, _RawSQL)
    _use_triggers.install(None, _RawSQL)


@contextmanager
def ledger_triggers_dropped() -> Iterator[None]:
    """Within the block the append-only tables can be changed, as by a superuser who dropped the triggers;
    they are installed again after it, whatever happens inside."""
    drop_ledger_triggers()
    try:
        yield
    finally:
        install_ledger_triggers()


@pytest.fixture(autouse=True)
def ledger_signing_key(settings: pytest.FixtureRequest, tmp_path: Path) -> Iterator[Path]:
    """Each test signs with its own freshly generated key under tmp_path, and signs checkpoints only when it
    asks (as beat would; the embedded default's after-commit checkpoints depend on the clock and on which
    test ran before in the process: tests/ledger/test_ledger_db.py turns them on where it tests them)."""
    path = tmp_path / "ledger-signing-key.pem"
    settings.LEDGER = {
        **settings.LEDGER,
        "SIGNING_KEY_PATH": str(path),
        "SIGNING_KEY_PEM": "",
        "GENERATE_DEV_KEY": True,
        "CHECKPOINT_AFTER_COMMIT": False,
    }
    keys.forget_cached_signer()
    yield path
    keys.forget_cached_signer()


@pytest.fixture(autouse=True, scope="session")
def flush_around_ledger_triggers() -> Iterator[None]:
    original = BaseDatabaseOperations.execute_sql_flush

    def execute_sql_flush(self: BaseDatabaseOperations, sql_list: list[str]) -> None:
        drop_ledger_triggers()
        try:
            original(self, sql_list)
        finally:
            install_ledger_triggers()

    BaseDatabaseOperations.execute_sql_flush = execute_sql_flush  # type: ignore[method-assign]
    yield
    BaseDatabaseOperations.execute_sql_flush = original  # type: ignore[method-assign]
