"""Readiness: whether this process can serve requests now, check by check.

The health endpoint (consortium.api.views.HealthView) runs every check and answers 503 when one fails; the
operators' commands (consortium.management.base) ask `database_unavailable` before they run. A check reads
and never writes: no ledger entry, no key published, no development key generated.

Each check gives what the endpoint may show to anyone (`public`: ok, and at most an error's class name or a
vendor) and, when it fails, what only an operator reads (`problem`: logs and commands; it may name a host,
a file or a migration). Apps add their own checks with `readiness_check` (ledger adds the signing key's in
its AppConfig.ready).
"""

from __future__ import annotations

import logging
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

from django.conf import settings
from django.db import connection
from django.db.migrations.loader import MigrationLoader
from django.db.migrations.recorder import MigrationRecorder

logger = logging.getLogger(__name__)


@dataclass(frozen=True)
class Check:
    """One check's outcome: `public` is safe to show anyone; `problem` says why it failed, for operators."""

    ok: bool
    public: dict[str, Any] = field(default_factory=dict)
    problem: str = ""

    def shown(self) -> dict[str, Any]:
        return {"ok": self.ok, **self.public}


_checks: dict[str, Callable[[], Check]] = {}


def readiness_check(name: str) -> Callable[[Callable[[], Check]], Callable[[], Check]]:
    """Register a check under `name` (the member of the health body that shows it)."""

    def register(check: Callable[[], Check]) -> Callable[[], Check]:
        _checks[name] = check
        return check

    return register


def readiness() -> dict[str, Check]:
    """Every registered check's outcome, by name. A check that raises counts as failed (its exception's class
    is shown, its message logged), so this never raises."""
    outcomes = {}
    for name, check in _checks.items():
        try:
            outcomes[name] = check()
        except Exception as exc:  # a readiness check reports any failure, never raises
            outcomes[name] = Check(False, {"error": type(exc).__name__}, first_line(exc))
    for name, outcome in outcomes.items():
        if not outcome.ok:
            logger.warning("not ready: %s: %s", name, outcome.problem)
    return outcomes


def first_line(exc: BaseException) -> str:
    """An exception's message on one line (a driver's often runs to several), or its class's name."""
    text = str(exc).strip()
    return text.splitlines()[0].strip() if text else type(exc).__name__


# --- The database: reachable, and migrated as far as this code needs --------------------------------------

_migrations_on_disk: frozenset[tuple[str, str]] | None = None


def _expected_migrations() -> frozenset[tuple[str, str]]:
    """Every migration this code ships (read from disk once per process: the code does not change under a
    running process)."""
    global _migrations_on_disk
    if _migrations_on_disk is None:
        _migrations_on_disk = frozenset(MigrationLoader(None, ignore_no_migrations=True).graph.nodes)
    return _migrations_on_disk


def unapplied_migrations() -> list[str]:
    """The migrations this code ships that the database has not recorded as applied ("app.name"), sorted;
    raises the driver's error (OperationalError, ...) when the database does not answer."""
    applied = set(MigrationRecorder(connection).applied_migrations())
    return sorted(f"{app}.{name}" for app, name in _expected_migrations() - applied)


def database_unavailable() -> str | None:
    """Why the exchange cannot use its database now, for an operator: unreachable (the driver's reason) or
    not migrated (how many migrations are missing, the first few named); None when it can."""
    try:
        connection.ensure_connection()
        missing = unapplied_migrations()
    except Exception as exc:  # any driver's failure to connect: the operator gets its reason
        return f"Cannot use the database (DATABASE_URL, {connection.vendor}): {first_line(exc)}"
    if missing:
        named = ", ".join(missing[:3]) + (", ..." if len(missing) > 3 else "")
        return (
            f"The database is not migrated: {len(missing)} migration(s) not applied ({named}). "
            "Run `manage.py migrate` first."
        )
    return None


@readiness_check("database")
def database() -> Check:
    """The database answers a query."""
    try:
        with connection.cursor() as cursor:
            cursor.execute("SELECT 1")
    except Exception as exc:  # any driver's failure to connect or answer
        return Check(False, {"vendor": connection.vendor, "error": type(exc).__name__}, first_line(exc))
    return Check(True, {"vendor": connection.vendor})


@readiness_check("migrations")
def migrations() -> Check:
    """Every migration this code ships is applied."""
    missing = unapplied_migrations()
    if missing:
        return Check(
            False,
            {"error": "not_applied", "missing": len(missing)},
            f"{len(missing)} migration(s) not applied, the first {missing[0]}: run manage.py migrate",
        )
    return Check(True)


# --- The broker -------------------------------------------------------------------------------------------


@readiness_check("broker")
def broker() -> Check:
    """The Celery broker accepts a connection (always ok in the embedded default: tasks run eagerly)."""
    if not settings.CELERY_BROKER_URL:
        return Check(True, {"mode": "eager"})
    from consortium.celery import app

    try:
        with app.connection_for_write(settings.CELERY_BROKER_URL) as conn:
            conn.ensure_connection(max_retries=1, timeout=2)
            transport = conn.transport_cls
    except Exception as exc:  # any transport's failure to connect
        return Check(False, {"mode": "broker", "error": type(exc).__name__}, first_line(exc))
    return Check(True, {"mode": "broker", "transport": transport})
