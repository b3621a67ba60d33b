"""Fail a service at its worst point and check that it left nothing behind.

`failing_after(kind)` lets the real `ledger_append` write the entry of `kind` (its row, its receipt and,
for a credit kind, its transfers and balances) and then raises a DatabaseError, as if the database failed
right after it. `nothing_left` then compares the whole world with a snapshot taken before the call: every
row of our apps, of django-guardian and of auth's groups, the files under MEDIA_ROOT, the mail sent, the
after-commit hooks registered and the Celery tasks sent.

`nothing_left_at_commit` fails the commit itself (transactional tests only): everything the service does
inside its transaction has been done, so a side effect it took before committing (a notice, a task, a
file, a throttle's count) is caught there, where a failure after the last entry may come too early.
"""

from __future__ import annotations

import sys
from collections.abc import Callable, Iterator
from contextlib import ExitStack, contextmanager
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any
from unittest import mock

from celery.app.task import Task
from django.apps import apps
from django.conf import settings
from django.core import mail
from django.db import DatabaseError, connection

import ledger.services

# Rows that change with who is looking, not with what the services wrote.
_UNSTABLE = {"consortium.User": {"last_login"}, "consortium.MemberAPIKey": {"last_used_at"}}
_APPS = {"consortium", "exchange", "ledger", "credit", "guardian", "auth"}


class InjectedFailure(DatabaseError):
    """The failure `failing_after` raises."""


def world() -> dict[str, Any]:
    """Every row of our apps (and guardian's permissions, auth's groups and their members), and the
    stored files with their contents."""
    rows: dict[str, Any] = {}
    for model in apps.get_models(include_auto_created=True):
        if model._meta.app_label not in _APPS:
            continue
        skip = _UNSTABLE.get(model._meta.label, set())
        names = [f.attname for f in model._meta.concrete_fields if f.attname not in skip]
        rows[model._meta.label] = list(model._default_manager.order_by("pk").values_list(*names))
    media = Path(settings.MEDIA_ROOT)
    rows["files"] = sorted(
        (str(path.relative_to(media)), path.read_bytes()) for path in media.rglob("*") if path.is_file()
    )
    return rows


@dataclass
class Injection:
    kind: str
    occurrence: int
    appended: list[str] = field(default_factory=list)
    tasks_sent: list[str] = field(default_factory=list)

    @property
    def fired(self) -> bool:
        return self.appended.count(self.kind) >= self.occurrence


@contextmanager
def _recording_tasks(injection: Injection) -> Iterator[None]:
    def send(task: Task, *args: Any, **kwargs: Any) -> None:
        injection.tasks_sent.append(task.name)

    with mock.patch.object(Task, "apply_async", send):
        yield


@contextmanager
def failing_after(kind: str, occurrence: int = 1) -> Iterator[Injection]:
    """Within the block, the `occurrence`-th entry of `kind` is appended for real, then InjectedFailure is
    raised from `ledger_append`. Records the kinds appended and every Celery task sent meanwhile."""
    real = ledger.services.ledger_append
    injection = Injection(kind, occurrence)

    def append(**entry: Any) -> Any:
        appended = real(**entry)
        injection.appended.append(entry["kind"])
        if entry["kind"] == kind and injection.appended.count(kind) == occurrence:
            raise InjectedFailure(f"injected after {kind} #{occurrence}")
        return appended

    with ExitStack() as stack:
        # Every module that imported the function by name calls it through its own global.
        for module in [m for m in list(sys.modules.values()) if getattr(m, "ledger_append", None) is real]:
            stack.enter_context(mock.patch.object(module, "ledger_append", append))
        stack.enter_context(_recording_tasks(injection))
        yield injection


def nothing_left(
    call: Callable[[], Any],
    kind: str,
    *,
    occurrence: int = 1,
    capture: Any,
) -> Injection:
    """Run `call` failing after the `occurrence`-th entry of `kind`; assert it raised that failure and
    changed nothing: rows, files, mail, after-commit hooks, tasks. `capture` is pytest-django's
    django_capture_on_commit_callbacks fixture. Returns the injection (what was appended)."""
    before, outbox = world(), len(mail.outbox)
    with capture(execute=True) as callbacks, failing_after(kind, occurrence) as injection:
        try:
            call()
        except InjectedFailure:
            pass
        else:
            raise AssertionError(f"the call never appended {kind} #{occurrence}: {injection.appended}")
    assert injection.fired
    assert not connection.needs_rollback
    after = world()
    changed = sorted(label for label in before if before[label] != after[label])
    assert not changed, f"left behind after {injection.appended}: {changed}"
    assert callbacks == [], "after-commit hooks of a rolled-back transaction"
    assert len(mail.outbox) == outbox, "mail sent for a rolled-back transaction"
    assert injection.tasks_sent == [], f"tasks sent for a rolled-back transaction: {injection.tasks_sent}"
    return injection


def nothing_left_at_commit(call: Callable[[], Any]) -> Injection:
    """Run `call` (outside any transaction: a transactional test) with its commit failing; assert the
    commit was reached and nothing changed: rows, files, mail, tasks."""
    assert not connection.in_atomic_block, "the commit can only fail in a transactional test"
    before, outbox = world(), len(mail.outbox)
    injection = Injection("commit", 1)

    def fail() -> None:
        injection.appended.append("commit")
        raise InjectedFailure("injected at commit")

    with _recording_tasks(injection), mock.patch.object(connection, "commit", fail):
        try:
            call()
        except InjectedFailure:
            pass
        else:
            raise AssertionError("the call committed nothing, or swallowed the failure")
    assert injection.fired
    after = world()
    changed = sorted(label for label in before if before[label] != after[label])
    assert not changed, f"left behind by a failed commit: {changed}"
    assert len(mail.outbox) == outbox, "mail sent for a failed commit"
    assert injection.tasks_sent == [], f"tasks sent for a failed commit: {injection.tasks_sent}"
    return injection
