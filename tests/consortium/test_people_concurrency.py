"""Two member admins demoting or deactivating each other at once on PostgreSQL: one wins, the member keeps an
admin."""

from __future__ import annotations

import contextlib
import threading
from typing import Any

import pytest
from django.db import connections
from rest_framework.test import APIClient

from consortium.models import User
from consortium.services import people
from ledger.models import LedgerEntry
from tests.factories import MemberFactory, UserFactory

pytestmark = [pytest.mark.postgres, pytest.mark.django_db(transaction=True)]


def _each_other(monkeypatch, send) -> tuple[dict[str, tuple[int, str]], Any]:
    """Two admins of one member each `send(client, other)` at once; their answers, and the member."""
    member = MemberFactory()
    first = UserFactory(member=member, member_role="member_admin", username="first-admin")
    second = UserFactory(member=member, member_role="member_admin", username="second-admin")
    # Both requests first get past their lookups and permission checks (on a loaded machine one could
    # otherwise commit before the other began, which then finds its actor demoted: a 404, not the race).
    # Then hold each between taking its locks and checking for the last admin until the other one arrives
    # too. Unserialised, both then check against the other's uncommitted (still admin) row; with the member
    # row locked the second waits for the first to commit, so the barrier times out and it goes on.
    arrived, barrier = threading.Barrier(2), threading.Barrier(2)
    lock_managed_user = people._lock_managed_user

    def lock_then_meet(actor, user):
        arrived.wait(timeout=30)
        locked = lock_managed_user(actor, user)
        with contextlib.suppress(threading.BrokenBarrierError):
            barrier.wait(timeout=2)
        return locked

    monkeypatch.setattr(people, "_lock_managed_user", lock_then_meet)
    results: dict[str, tuple[int, str]] = {}

    def demote(actor: User, target: User) -> None:
        try:
            client = APIClient()
            client.force_login(actor)
            response = send(client, target)
            results[actor.username] = (response.status_code, response.json().get("code", ""))
        finally:
            connections.close_all()  # this thread's own connection

    threads = [
        threading.Thread(target=demote, args=(first, second)),
        threading.Thread(target=demote, args=(second, first)),
    ]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(timeout=60)
    return results, member


def test_two_admins_demoting_each_other_leave_one_admin(monkeypatch) -> None:
    results, member = _each_other(
        monkeypatch,
        lambda client, target: client.patch(
            f"/api/v1/users/{target.pk}/", {"role": "analyst"}, format="json"
        ),
    )
    assert sorted(results.values()) == [(200, ""), (409, "last_admin")], results
    admins = User.objects.filter(member=member, member_role="member_admin", is_active=True)
    assert admins.count() == 1


def test_two_admins_deactivating_each_other_leave_one_admin(monkeypatch) -> None:
    results, member = _each_other(
        monkeypatch, lambda client, target: client.post(f"/api/v1/users/{target.pk}/deactivate/")
    )
    assert sorted(results.values()) == [(200, ""), (409, "last_admin")], results
    admins = User.objects.filter(member=member, member_role="member_admin", is_active=True)
    assert admins.count() == 1
    assert LedgerEntry.objects.filter(kind="member.user_deactivated").count() == 1
