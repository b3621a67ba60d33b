"""People set their own password through a one-time e-mailed link: "Forgot your password?" on the login
page, or a link their member admin sends from the person's page."""

from __future__ import annotations

import html
import json
import re
from typing import Any

import pytest
from django.core import mail
from django.test import Client
from django.urls import reverse

from consortium.models import MemberRole, MemberStatus, User
from consortium.text import FSI, PDI
from ledger.models import LedgerEntry
from tests.consortium.test_portal_bidi_isolation import _unisolated
from tests.factories import StaffFactory, UserFactory

pytestmark = pytest.mark.django_db

NEW_PASSWORD = "a-fresh-portal-password-91"
FORGOT = reverse("portal:password-reset")
SENT = reverse("portal:password-reset-done")
LINK_SENT = "member.user_password_link_sent"


@pytest.fixture(autouse=True)
def _site(settings) -> None:
    settings.SITE_URL = "https://exchange.example.com/"


def text(response: Any) -> str:
    return html.unescape(response.content.decode())


def link_in(message: Any) -> str:
    """The one link in a message, as a path (the message gives it absolute, on SITE_URL)."""
    links = re.findall(r"https?://\S+", message.body)
    link = next(link for link in links if "/password/set/" in link)
    assert link.startswith("https://exchange.example.com/password/set/")
    return link.removeprefix("https://exchange.example.com")


def forgot(email: str, client: Client | None = None) -> Any:
    return (client or Client()).post(FORGOT, {"email": email})


def set_password(link: str, password: str = NEW_PASSWORD) -> Any:
    """Open the link and set `password` through it, as a browser does; returns the last response."""
    client = Client()
    opened = client.get(link)
    if opened.status_code != 302:  # an invalid link is shown at once, with no form
        return opened
    return client.post(opened["Location"], {"new_password1": password, "new_password2": password})


def logs_in(user: User, password: str = NEW_PASSWORD) -> bool:
    response = Client().post(reverse("portal:login"), {"username": user.username, "password": password})
    return response.status_code == 302 and response["Location"] == reverse("portal:home")


@pytest.fixture
def keyed_person(key_client: Any, member: Any) -> User:
    """A person added by a partner system's API key: no usable password, so no way in until a link."""
    client, _key, _raw = key_client(["request", "manage"])
    body = {"username": "keyed", "email": "Keyed.Person@firm.example", "role": MemberRole.ANALYST}
    assert client.post("/api/v1/users/", body, format="json").status_code == 201
    person = User.objects.get(username="keyed")
    assert not person.has_usable_password()
    return person


def test_login_page_offers_forgot_password() -> None:
    page = text(Client().get(reverse("portal:login")))
    assert f'href="{FORGOT}"' in page and "Forgot your password?" in page


def test_person_added_by_a_key_sets_a_password_through_forgot_and_logs_in(keyed_person: User) -> None:
    assert not logs_in(keyed_person, "")

    response = forgot("keyed.person@FIRM.example")  # any case, as typed

    assert (response.status_code, response["Location"]) == (302, SENT)
    assert "Check your e-mail" in text(Client().get(SENT))
    [message] = mail.outbox
    assert message.to == ["Keyed.Person@firm.example"]
    assert "Set your Consortium Exchange password" in message.subject and "keyed" in message.body
    link = link_in(message)

    done = set_password(link)

    assert (done.status_code, done["Location"]) == (302, reverse("portal:password-reset-complete"))
    assert "Your password is set" in text(Client().get(done["Location"]))
    keyed_person.refresh_from_db()
    assert keyed_person.has_usable_password() and logs_in(keyed_person)
    # The token is spent: the same link sets nothing again.
    again = set_password(link, "another-password-77")
    assert again.status_code == 200 and "This link does not work" in text(again)
    assert logs_in(keyed_person) and not logs_in(keyed_person, "another-password-77")


def test_a_person_with_a_password_resets_it(analyst: User) -> None:
    forgot(analyst.email)
    [message] = mail.outbox
    assert "Reset your Consortium Exchange password" in message.subject
    set_password(link_in(message))
    assert logs_in(analyst)


def test_a_mismatched_new_password_is_refused_and_the_link_stays_usable(analyst: User) -> None:
    forgot(analyst.email)
    link = link_in(mail.outbox[0])
    client = Client()
    form_url = client.get(link)["Location"]
    refused = client.post(form_url, {"new_password1": NEW_PASSWORD, "new_password2": "something-else-3"})
    assert refused.status_code == 200 and "password fields didn" in text(refused)
    assert set_password(link).status_code == 302 and logs_in(analyst)


def _inactive(member: Any) -> User:
    return UserFactory(username="gone", member=member, member_role=MemberRole.ANALYST, is_active=False)


def _suspended_member() -> User:
    person = UserFactory(username="suspended-analyst", member_role=MemberRole.ANALYST)
    person.member.status = MemberStatus.SUSPENDED
    person.member.save()
    return person


def _system_user(member_admin: User) -> User:
    from tests.factories import make_api_key

    key, _raw = make_api_key(admin=member_admin, scopes=["read"])
    key.system_user.email = "erp@firm.example"
    key.system_user.save()
    return key.system_user


def _officer(member: Any) -> User:
    return StaffFactory(username="an-officer")


def _superuser(member: Any) -> User:
    return User.objects.create_superuser("root", "root@consortium.example", "root-password-1234")


@pytest.mark.parametrize(
    "make",
    [
        pytest.param(lambda member, admin: None, id="unknown"),
        pytest.param(lambda member, admin: _inactive(member), id="inactive"),
        pytest.param(lambda member, admin: _suspended_member(), id="suspended-member"),
        pytest.param(lambda member, admin: _system_user(admin), id="api-key-system-user"),
        pytest.param(lambda member, admin: _officer(member), id="consortium-staff"),
        pytest.param(lambda member, admin: _superuser(member), id="superuser"),
    ],
)
def test_no_link_for_who_may_not_set_a_password_and_the_same_answer(
    make: Any, member: Any, member_admin: User, analyst: User
) -> None:
    user = make(member, member_admin)
    email = user.email if user is not None else "nobody@firm.example"
    known = forgot(analyst.email)
    assert len(mail.outbox) == 1
    mail.outbox.clear()

    response = forgot(email)

    assert mail.outbox == []
    assert (response.status_code, response["Location"]) == (known.status_code, known["Location"])
    assert response.content == known.content


def test_links_to_one_address_are_limited_and_the_answer_does_not_change(analyst: User) -> None:
    answers = {(r.status_code, r["Location"]) for r in (forgot(analyst.email) for _ in range(5))}
    assert answers == {(302, SENT)}
    assert len(mail.outbox) == 3  # password_link_address: 3/hour


def test_one_client_asking_too_often_is_slowed_down() -> None:
    client = Client()
    for number in range(10):  # password_reset: 10/hour
        assert forgot(f"someone{number}@firm.example", client).status_code == 302
    refused = forgot("one-more@firm.example", client)
    assert refused.status_code == 429 and "Too many requests from here" in text(refused)


def test_a_link_stops_working_when_its_person_is_deactivated(analyst: User) -> None:
    forgot(analyst.email)
    link = link_in(mail.outbox[0])
    analyst.is_active = False
    analyst.save()
    response = set_password(link)
    assert response.status_code == 200 and "This link does not work" in text(response)


def test_a_forged_token_is_refused(analyst: User) -> None:
    forgot(analyst.email)
    link = link_in(mail.outbox[0])
    forged = link.rstrip("/").rsplit("/", 1)[0] + "/abc123-0123456789abcdef0123/"
    response = set_password(forged)
    assert response.status_code == 200 and "This link does not work" in text(response)


# --- The member admin's button --------------------------------------------------------------------------


def _send(client: Client, person: User, django_capture_on_commit_callbacks: Any) -> Any:
    with django_capture_on_commit_callbacks(execute=True):
        return client.post(reverse("portal:person-password-link", args=[person.pk]))


def test_member_admin_sends_a_person_added_by_a_key_a_link(
    member_admin: User, keyed_person: User, django_capture_on_commit_callbacks: Any
) -> None:
    client = Client()
    client.force_login(member_admin)
    detail = reverse("portal:person-detail", args=[keyed_person.pk])
    page = text(client.get(detail))
    assert "none yet: cannot log in" in page and "Send a link to set a password" in page

    response = _send(client, keyed_person, django_capture_on_commit_callbacks)

    assert (response.status_code, response["Location"]) == (302, detail)
    sent = "on its way to <bdi>keyed</bdi> at <bdi>Keyed.Person@firm.example</bdi>."
    assert f"A link to set a password is {sent}" in text(client.get(detail))
    [message] = mail.outbox
    assert message.to == ["Keyed.Person@firm.example"]
    assert (
        f"{FSI}{member_admin.username}{PDI}, an admin of {FSI}{member_admin.member.legal_name}{PDI}, asked"
        in message.body
    )
    link = link_in(message)
    entry = LedgerEntry.objects.get(kind=LINK_SENT)
    assert (entry.actor_user_id, entry.actor_member_id) == (member_admin.pk, member_admin.member_id)
    assert (entry.subject_type, entry.subject_id) == ("user", str(keyed_person.pk))
    document = bytes(entry.canonical).decode()
    assert json.loads(document)["payload"] == {"username": "keyed"}
    token = link.rstrip("/").rsplit("/", 1)[1]
    assert token not in document  # never the link or its token

    assert set_password(link).status_code == 302 and logs_in(keyed_person)
    assert "<dt>Password</dt><dd>set</dd>" in text(client.get(detail))


def test_right_to_left_names_in_the_link_mail_are_isolated_and_the_username_is_left_to_copy(
    member_admin: User, keyed_person: User, django_capture_on_commit_callbacks: Any
) -> None:
    """The names sit inside sentences, between U+2068 FSI and U+2069 PDI (consortium.text), so that their
    direction cannot reorder them; the username stands alone after its label and is left as it is typed at
    login, since an isolate copied with it would not match."""
    member = member_admin.member
    member.legal_name = "شركة المثال"
    member.save(update_fields=["legal_name"])
    member_admin.first_name, member_admin.last_name = "سارة", "أحمد"
    member_admin.save(update_fields=["first_name", "last_name"])
    keyed_person.first_name, keyed_person.last_name = "דנה", "לוי"
    keyed_person.save(update_fields=["first_name", "last_name"])
    client = Client()
    client.force_login(member_admin)

    assert _send(client, keyed_person, django_capture_on_commit_callbacks).status_code == 302

    [message] = mail.outbox
    assert message.subject == "Set your Consortium Exchange password"
    assert message.body.startswith(f"Hello {FSI}דנה לוי{PDI},\n\n")
    assert (
        f"\n{FSI}سارة أحمد{PDI}, an admin of {FSI}شركة المثال{PDI}, asked us to send you a link to set your "
        "password for the Consortium Exchange portal.\n"
    ) in message.body
    assert "\nYour username: keyed\n" in message.body
    assert _unisolated(message.body) == []


def test_the_admins_button_shares_the_addresss_budget_and_its_refusal_is_shown(
    member_admin: User, analyst: User, django_capture_on_commit_callbacks: Any
) -> None:
    """Links asked for on the login page and by the admin's button count against one budget per address;
    once it is spent the button sends nothing, records nothing and says why on the person's page."""
    for _ in range(3):  # password_link_address: 3/hour
        forgot(analyst.email)
    assert len(mail.outbox) == 3
    client = Client()
    client.force_login(member_admin)
    detail = reverse("portal:person-detail", args=[analyst.pk])

    response = _send(client, analyst, django_capture_on_commit_callbacks)

    assert (response.status_code, response["Location"]) == (302, detail)
    assert f"Several links went to {analyst.username}'s address recently; try again later." in text(
        client.get(detail)
    )
    assert len(mail.outbox) == 3 and not LedgerEntry.objects.filter(kind=LINK_SENT).exists()


def test_member_admin_may_not_send_links_to_another_members_people(
    member_admin: User, other_analyst: User, django_capture_on_commit_callbacks: Any
) -> None:
    client = Client()
    client.force_login(member_admin)
    assert _send(client, other_analyst, django_capture_on_commit_callbacks).status_code == 404
    assert (
        mail.outbox == [] and not LedgerEntry.objects.filter(kind="member.user_password_link_sent").exists()
    )


def test_only_a_member_admin_sends_links(
    analyst: User, data_steward: User, django_capture_on_commit_callbacks: Any
) -> None:
    client = Client()
    client.force_login(analyst)
    assert _send(client, data_steward, django_capture_on_commit_callbacks).status_code == 404
    assert client.get(reverse("portal:person-password-link", args=[data_steward.pk])).status_code == 405
    assert mail.outbox == []


def test_a_consortium_officer_sends_a_members_person_a_link_as_the_service_allows(
    officer: User, keyed_person: User, django_capture_on_commit_callbacks: Any
) -> None:
    """services.user_send_password_link lets an officer send a link to any member's person (the API's rule
    for every people change); the portal offers the button and sends it, instead of refusing (403)."""
    client = Client()
    client.force_login(officer)
    detail = reverse("portal:person-detail", args=[keyed_person.pk])
    page = text(client.get(detail))
    assert "Send a link to set a password" in page

    response = _send(client, keyed_person, django_capture_on_commit_callbacks)

    assert (response.status_code, response["Location"]) == (302, detail)
    [message] = mail.outbox
    assert message.to == ["Keyed.Person@firm.example"]
    assert f"{FSI}{officer.username}{PDI}, a Consortium Exchange officer, asked" in message.body
    assert "an admin of" not in message.body
    entry = LedgerEntry.objects.get(kind=LINK_SENT)
    assert (entry.actor_user_id, entry.subject_id) == (officer.pk, str(keyed_person.pk))


@pytest.mark.parametrize("who", ["security_officer", "auditor"])
def test_other_consortium_staff_send_no_links(
    who: str, request: Any, analyst: User, django_capture_on_commit_callbacks: Any
) -> None:
    client = Client()
    client.force_login(request.getfixturevalue(who))
    assert _send(client, analyst, django_capture_on_commit_callbacks).status_code == 404
    assert (
        mail.outbox == [] and not LedgerEntry.objects.filter(kind="member.user_password_link_sent").exists()
    )


@pytest.mark.parametrize("who", ["system", "inactive", "no-email"])
def test_the_officer_gets_no_button_where_the_service_would_refuse(
    who: str, member: Any, member_admin: User, officer: User
) -> None:
    if who == "system":
        person = _system_user(member_admin)
    elif who == "inactive":
        person = _inactive(member)
    else:
        person = UserFactory(username="no-address", member=member, member_role=MemberRole.ANALYST, email="")
    client = Client()
    client.force_login(officer)
    page = text(client.get(reverse("portal:person-detail", args=[person.pk])))
    assert "Send a link to set a password" not in page


def test_the_link_button_needs_a_login_and_csrf(member_admin: User, analyst: User) -> None:
    url = reverse("portal:person-password-link", args=[analyst.pk])
    assert Client().post(url)["Location"].startswith(reverse("portal:login"))
    client = Client(enforce_csrf_checks=True)
    client.force_login(member_admin)
    assert client.post(url).status_code == 403
    assert mail.outbox == []


@pytest.mark.parametrize("who", ["system", "inactive"])
def test_no_link_for_the_members_system_user_or_deactivated_people(
    who: str, member: Any, member_admin: User, django_capture_on_commit_callbacks: Any
) -> None:
    person = _system_user(member_admin) if who == "system" else _inactive(member)
    client = Client()
    client.force_login(member_admin)
    detail = reverse("portal:person-detail", args=[person.pk])
    assert "Send a link to set a password" not in text(client.get(detail))

    response = _send(client, person, django_capture_on_commit_callbacks)

    assert (response.status_code, response["Location"]) == (302, detail)
    assert (
        mail.outbox == [] and not LedgerEntry.objects.filter(kind="member.user_password_link_sent").exists()
    )
    expected = "not managed here" if who == "system" else "is deactivated"
    assert expected in text(client.get(detail))


# --- The message after adding a person ------------------------------------------------------------------


@pytest.mark.parametrize("password", ["", "an-initial-password-55"])
def test_adding_a_person_says_whether_they_can_log_in(member_admin: User, password: str) -> None:
    client = Client()
    client.force_login(member_admin)
    body = {"username": "newbie", "email": "newbie@firm.example", "role": MemberRole.ANALYST}
    response = client.post(reverse("portal:person-create"), {**body, "password": password}, follow=True)
    page = text(response)
    if password:
        assert "<bdi>newbie</bdi> can now log in." in page and "no password yet" not in page
    else:
        assert "can now log in" not in page
        assert "<bdi>newbie</bdi> has no password yet and cannot log in: send them a link to set one" in page
        assert "Send a link to set a password" in page


def test_links_are_queued_for_a_worker_not_sent_in_the_request(
    member_admin: User, analyst: User, monkeypatch, django_capture_on_commit_callbacks: Any
) -> None:
    """A mail server that is down must not fail the page (the worker retries), and the login page must
    answer as fast for a known address as for an unknown one: the request only queues the mail."""
    from consortium import tasks

    queued: list[tuple[Any, ...]] = []
    monkeypatch.setattr(tasks.send_password_link_task, "delay", lambda *args: queued.append(args))
    assert forgot(analyst.email).status_code == 302
    client = Client()
    client.force_login(member_admin)
    assert _send(client, analyst, django_capture_on_commit_callbacks).status_code == 302
    assert queued == [(analyst.pk,), (analyst.pk, member_admin.pk)] and mail.outbox == []

    assert tasks.send_password_link_task(analyst.pk, member_admin.pk) == 1
    assert mail.outbox[0].to == [analyst.email] and member_admin.username in mail.outbox[0].body
    analyst.is_active = False
    analyst.save(update_fields=["is_active"])
    assert tasks.send_password_link_task(analyst.pk) == 0  # who may is decided again when it is sent
    assert len(mail.outbox) == 1


def test_setting_a_password_through_a_link_lifts_a_login_lockout(analyst: User) -> None:
    """A person locked out by failed logins (theirs or someone guessing) who proves they hold the mailbox
    and sets a new password gets in with it at once, instead of waiting out the cool-off."""
    for _ in range(5):
        Client().post(reverse("portal:login"), {"username": analyst.username, "password": "wrong"})
    locked = Client().post(reverse("portal:login"), {"username": analyst.username, "password": "wrong"})
    assert locked.status_code == 429
    assert forgot(analyst.email).status_code == 302
    assert set_password(link_in(mail.outbox[-1])).status_code == 302
    assert logs_in(analyst)
