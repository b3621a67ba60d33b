"""Every write of credit, failed right after its ledger entry and its transfers were written, leaves
nothing: no rules, epoch, settlement, release, adjustment approval, claim decision or affiliation, no
entry, no transfer and no balance change. A roll that settles the ended epoch and fails opening the next
one settles nothing either."""

from __future__ import annotations

from collections.abc import Callable
from datetime import timedelta
from typing import Any

import pytest
from django.utils import timezone

from ledger.credit import services
from ledger.credit.models import CreditEpoch
from tests.failure_injection import nothing_left
from tests.ledger.credit.support import CHANGED_RULES, activate, admit

pytestmark = pytest.mark.django_db


@pytest.fixture
def people(member, other_member, member_admin, other_admin, officer, auditor):
    activate()
    admit(member, other_member)
    return {
        "member": member,
        "other": other_member,
        "admin": member_admin,
        "other_admin": other_admin,
        "officer": officer,
        "auditor": auditor,
    }


def publish_rules(people):
    return (
        lambda: services.credit_rules_publish(actor=people["officer"], params=CHANGED_RULES),
        "credit.rules_changed",
    )


def settle(people):
    epoch = CreditEpoch.objects.get(settled_order=-1).epoch
    return (
        lambda: services.credit_epoch_settle(actor=people["officer"], epoch=epoch, early=True),
        "epoch.settled",
    )


def open_epoch(people):
    epoch = CreditEpoch.objects.get(settled_order=-1).epoch
    services.credit_epoch_settle(actor=people["officer"], epoch=epoch, early=True)
    return lambda: services.credit_epoch_open(actor=people["officer"], epoch="2099-12"), "epoch.opened"


def roll_failing_to_open(people):
    """Settles the ended epoch, then fails opening the next: the settlement goes too."""
    next_month = timezone.now() + timedelta(days=40)
    return lambda: services.credit_epoch_roll(now=next_month), "epoch.opened"


def release(people):
    return lambda: services.credit_release(), "credit.released"


def approve_adjustment(people):
    proposed = services.credit_adjustment_propose(
        actor=people["auditor"], member=people["member"], amount_mcr=5_000, reason="Missed use."
    )
    return (
        lambda: services.credit_adjustment_approve(actor=people["officer"], adjustment=proposed),
        "credit.adjusted",
    )


def accept_affiliation(people):
    claim = services.affiliation_declare(actor=people["admin"], parent=people["other"])
    return (
        lambda: services.affiliation_claim_decide(actor=people["other_admin"], claim=claim, accept=True),
        "member.affiliated",
    )


def link_affiliation(people):
    return (
        lambda: services.affiliation_link(
            actor=people["officer"], member=people["member"], parent=people["other"]
        ),
        "member.affiliated",
    )


SCENARIOS: list[Callable[[dict[str, Any]], tuple[Callable[[], Any], str]]] = [
    publish_rules,
    settle,
    open_epoch,
    roll_failing_to_open,
    release,
    approve_adjustment,
    accept_affiliation,
    link_affiliation,
]


@pytest.mark.parametrize("scenario", SCENARIOS, ids=lambda scenario: scenario.__name__)
def test_a_failure_after_the_entry_leaves_nothing(
    scenario, people, django_capture_on_commit_callbacks
) -> None:
    call, kind = scenario(people)
    injection = nothing_left(call, kind, capture=django_capture_on_commit_callbacks)
    if scenario is roll_failing_to_open:
        assert injection.appended == ["epoch.settled", "epoch.opened"]
