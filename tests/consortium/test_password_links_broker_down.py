"""A password link whose mail cannot be queued (the broker is down) fails after the fact, not in the answer:
the admin's link is recorded and the admin told it is on its way, as the exchange's notices are (queued by
robust after-commit hooks, the failure logged); "Forgot your password?" answers a known address exactly as
an unknown one, so a broker outage tells nobody which addresses have accounts."""

from __future__ import annotations

import pytest
from django.test import Client
from django.urls import reverse
from kombu.exceptions import OperationalError

from consortium import tasks
from ledger.models import LedgerEntry


@pytest.fixture
def broker_down(monkeypatch) -> list[object]:
    attempts: list[object] = []

    def refuse(*args: object, **kwargs: object) -> None:
        attempts.append(args)
        raise OperationalError("[Errno 111] Connection refused")

    monkeypatch.setattr(tasks.send_password_link_task, "delay", refuse)
    return attempts


@pytest.mark.django_db
def test_forgot_password_answers_alike_for_a_known_address_with_the_broker_down(analyst, broker_down) -> None:
    known = Client().post(reverse("portal:password-reset"), {"email": analyst.email})
    unknown = Client().post(reverse("portal:password-reset"), {"email": "nobody@nowhere.example"})
    assert len(broker_down) == 1  # the known address's link was attempted
    assert (known.status_code, known["Location"]) == (unknown.status_code, unknown["Location"])
    assert known["Location"] == reverse("portal:password-reset-done")


@pytest.mark.django_db(transaction=True)
def test_an_admins_link_is_recorded_when_its_mail_cannot_be_queued(
    member_admin, analyst, broker_down
) -> None:
    client = Client()
    client.force_login(member_admin)
    response = client.post(reverse("portal:person-password-link", args=[analyst.pk]), follow=True)
    assert response.status_code == 200
    assert "is on its way to" in response.content.decode()
    assert len(broker_down) == 1  # after the commit
    assert LedgerEntry.objects.filter(
        kind="member.user_password_link_sent", subject_id=str(analyst.pk)
    ).exists()


@pytest.mark.django_db
def test_links_that_could_not_be_queued_leave_the_addresss_budget_as_it_was(analyst, broker_down) -> None:
    """The budget (3 an hour) counts links sent: an outage of the broker must not lock the address out."""
    from consortium import services

    for _ in range(5):
        services.password_links_request(email=analyst.email)
    assert len(broker_down) == 5  # each one tried: none was spent


@pytest.mark.django_db
def test_a_link_that_went_out_spends_the_budget_though_another_could_not_be_queued(
    analyst, monkeypatch
) -> None:
    """Two people at one address: one link queued, the other refused. A link went out, so it counts."""
    from consortium import services
    from tests.factories import UserFactory

    twin = UserFactory(username="twin", member=analyst.member, member_role="analyst", email=analyst.email)
    sent: list[int] = []

    def queue_all_but_the_twin(pk: int) -> None:
        if pk == twin.pk:
            raise OperationalError("[Errno 111] Connection refused")
        sent.append(pk)

    monkeypatch.setattr(tasks.send_password_link_task, "delay", queue_all_but_the_twin)
    for _ in range(5):
        services.password_links_request(email=analyst.email)
    assert sent == [analyst.pk] * 3  # the budget of three an hour, spent by the links that went out
