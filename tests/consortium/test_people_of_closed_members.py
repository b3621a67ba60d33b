"""A person is never added to a member that is withdrawn or declined, even by a request that read the
member before the officer's decision committed: user_create checks the status on the member's locked row,
which the lifecycle transitions lock too."""

from __future__ import annotations

import threading

import pytest
from django.db import connections

from consortium import services
from consortium.errors import Conflict
from consortium.models import Member, User
from consortium.services import membership, people
from ledger import keys
from ledger.models import LedgerEntry
from tests.factories import MemberFactory


def _add(officer, member: Member, username: str = "late-person") -> User:
    return services.user_create(
        actor=officer, member=member, username=username, email=f"{username}@firm.example", role="analyst"
    )


@pytest.mark.django_db
@pytest.mark.parametrize(
    ("start", "decide"),
    [
        (
            "active",
            lambda officer, member: services.member_withdraw(member=member, actor=officer, reason="Left."),
        ),
        (
            "applied",
            lambda officer, member: services.member_decline(member=member, actor=officer, reason="No."),
        ),
    ],
    ids=["withdrawn", "declined"],
)
def test_a_person_for_a_member_read_before_it_closed_is_refused(officer, start, decide) -> None:
    member = MemberFactory(status=start)
    stale = Member.objects.get(pk=member.pk)  # as the request read it
    decide(officer, member)
    assert stale.status == start
    entries = LedgerEntry.objects.count()
    with pytest.raises(Conflict) as refused:
        _add(officer, stale)
    assert refused.value.code == "member_not_active"
    assert not User.objects.filter(username="late-person").exists()
    assert LedgerEntry.objects.count() == entries


@pytest.mark.postgres
@pytest.mark.django_db(transaction=True)
def test_a_person_added_while_the_member_is_withdrawn_is_added_before_or_refused(
    officer, monkeypatch
) -> None:
    """On PostgreSQL, the withdrawal holds the member's row until it commits while the addition has passed
    its first check: the addition waits for it and is refused, never added to the withdrawn member."""
    member = MemberFactory()
    stale = Member.objects.get(pk=member.pk)
    keys.active_signer()
    withdrawing, checked = threading.Event(), threading.Event()
    transition_append = membership.ledger_append

    def held_append(**entry):
        if entry["kind"] == "member.withdrawn":
            withdrawing.set()  # the row is locked and changed, not yet committed
            checked.wait(timeout=5)
        return transition_append(**entry)

    monkeypatch.setattr(membership, "ledger_append", held_append)
    first_check = people._check_member_takes_people

    def check_then_signal(member_: Member) -> None:
        first_check(member_)
        checked.set()

    monkeypatch.setattr(people, "_check_member_takes_people", check_then_signal)
    outcomes: dict[str, str] = {}

    def run(name: str, job) -> None:
        try:
            job()
            outcomes[name] = "ok"
        except Conflict as exc:
            outcomes[name] = exc.code
        finally:
            connections.close_all()

    def add() -> None:
        assert withdrawing.wait(timeout=30)
        _add(officer, stale)

    connections.close_all()
    threads = [
        threading.Thread(
            target=run,
            args=("withdraw", lambda: services.member_withdraw(member=member, actor=officer, reason="Left.")),
        ),
        threading.Thread(target=run, args=("add", add)),
    ]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(timeout=60)
    assert outcomes == {"withdraw": "ok", "add": "member_not_active"}
    assert not User.objects.filter(username="late-person").exists()
