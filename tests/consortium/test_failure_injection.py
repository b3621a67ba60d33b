"""Every write of the consortium, failed right after its ledger entry was written (or at its commit),
leaves nothing: no member, person, key, group, history row, entry or credit transfer, no mail, no task,
and no link counted against the address's budget. Credit is in force, so an admission posts its
allowance before the failure."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import pytest
from django.core.cache import cache

from consortium import services
from consortium.passwords import PasswordLinkAddressThrottle
from tests.factories import MemberFactory, UserFactory, make_api_key, make_credit_code
from tests.failure_injection import nothing_left, nothing_left_at_commit
from tests.ledger.credit.support import activate

pytestmark = pytest.mark.django_db


@pytest.fixture
def people(member_admin, officer):
    activate()
    second = UserFactory(username="second-admin", member=member_admin.member, member_role="member_admin")
    return {"admin": member_admin, "second": second, "officer": officer}


def apply(people):
    def call() -> Any:
        return services.member_apply(
            legal_name="Never Applied Co., Ltd.",
            credit_code=make_credit_code(41),
            size_class="small",
            sector="C",
            region="Jiangsu",
            contact_name="Li Lei",
            contact_email="li@never.example",
        )

    return call, "member.applied"


def admit(people):
    member = MemberFactory(status="applied")
    return lambda: services.member_admit(member=member, actor=people["officer"]), "member.admitted"


def suspend(people):
    member = people["admin"].member
    return (
        lambda: services.member_suspend(member=member, actor=people["officer"], reason="Dues."),
        "member.suspended",
    )


def change_contact(people):
    return (
        lambda: services.member_contact_change(
            actor=people["admin"], member=people["admin"].member, contact_email="new@own.example"
        ),
        "member.contact_changed",
    )


def add_person(people):
    return (
        lambda: services.user_create(
            actor=people["admin"],
            member=people["admin"].member,
            username="never-added",
            email="never@own.example",
            role="analyst",
        ),
        "member.user_added",
    )


def change_role(people):
    return (
        lambda: services.user_set_role(actor=people["admin"], user=people["second"], role="analyst"),
        "member.user_role_changed",
    )


def deactivate(people):
    return (
        lambda: services.user_deactivate(actor=people["admin"], user=people["second"]),
        "member.user_deactivated",
    )


def send_password_link(people):
    return (
        lambda: services.user_send_password_link(actor=people["admin"], user=people["second"]),
        "member.user_password_link_sent",
    )


def add_staff(people):
    return (
        lambda: services.staff_user_create(
            username="never-staff", email="staff@consortium.example", consortium_role="officer"
        ),
        "consortium.staff_added",
    )


def create_key(people):
    return (
        lambda: services.api_key_create(actor=people["admin"], name="never made", scopes=["read"]),
        "member.api_key_created",
    )


def revoke_key(people):
    key, _ = make_api_key(admin=people["admin"], scopes=["read"])
    return lambda: services.api_key_revoke(actor=people["admin"], key=key), "member.api_key_revoked"


SCENARIOS: list[Callable[[dict[str, Any]], tuple[Callable[[], Any], str]]] = [
    apply,
    admit,
    suspend,
    change_contact,
    add_person,
    change_role,
    deactivate,
    send_password_link,
    add_staff,
    create_key,
    revoke_key,
]


def _links_counted(email: str) -> int:
    throttle = PasswordLinkAddressThrottle(email)
    return len(cache.get(throttle.get_cache_key(None, None)) or [])  # type: ignore[arg-type]


@pytest.mark.parametrize("scenario", SCENARIOS, ids=lambda scenario: scenario.__name__)
def test_a_failure_after_the_entry_leaves_nothing(
    scenario, people, mailoutbox, django_capture_on_commit_callbacks
) -> None:
    call, kind = scenario(people)
    nothing_left(call, kind, capture=django_capture_on_commit_callbacks)
    assert _links_counted(people["second"].email) == 0


@pytest.mark.django_db(transaction=True)
@pytest.mark.parametrize("scenario", [admit, add_person, send_password_link], ids=lambda s: s.__name__)
def test_a_failed_commit_leaves_nothing(scenario, people, mailoutbox) -> None:
    call, _ = scenario(people)
    nothing_left_at_commit(call)
    assert _links_counted(people["second"].email) == 0


def test_the_budget_counts_a_link_sent(people, mailoutbox, django_capture_on_commit_callbacks) -> None:
    """The check above can see a counted link."""
    with django_capture_on_commit_callbacks(execute=True):
        services.user_send_password_link(actor=people["admin"], user=people["second"])
    assert _links_counted(people["second"].email) == 1
    assert len(mailoutbox) == 1
