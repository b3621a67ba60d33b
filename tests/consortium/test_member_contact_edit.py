"""The portal's "Edit contact details" page of a member: its admin keeps the contact details up to date (an
officer any member's), through the same service as the API; the home page links to it."""

from __future__ import annotations

import json

import pytest
from django.urls import reverse

from consortium import services
from consortium.errors import NotPermitted, ValidationFailed
from consortium.models import Member
from ledger.models import LedgerEntry
from tests.consortium.test_portal import text
from tests.exchange.support import as_user
from tests.factories import MemberFactory, UserFactory

pytestmark = pytest.mark.django_db

KIND = "member.contact_changed"
FORM = {"contact_name": "王小明", "contact_email": "wang.xm@own.example", "contact_phone": "+86 21 5555 0101"}


def _edit(member: Member) -> str:
    return reverse("portal:member-contact-edit", args=[member.pk])


def _contact(member: Member) -> tuple[str, str, str]:
    member.refresh_from_db()
    return member.contact_name, member.contact_email, member.contact_phone


def test_the_admin_edits_from_the_member_page(member_admin, member) -> None:
    client = as_user(member_admin)
    detail = reverse("portal:member-detail", args=[member.pk])
    assert f'href="{_edit(member)}">Edit contact details' in text(client.get(detail))
    page = client.get(_edit(member))
    assert page.status_code == 200
    assert 'name="csrfmiddlewaretoken"' in text(page) and 'value="Li Wei"' in text(page)

    response = client.post(_edit(member), FORM)
    assert (response.status_code, response["Location"]) == (302, detail)
    assert _contact(member) == tuple(FORM.values())
    shown = text(client.get(detail))
    assert "The contact details of <bdi>Own Firm Co., Ltd.</bdi> are saved." in shown
    assert "<bdi>王小明</bdi>" in shown and "<bdi>wang.xm@own.example</bdi>" in shown

    entry = LedgerEntry.objects.get(kind=KIND)
    assert (entry.actor_user_id, entry.subject_id) == (member_admin.pk, str(member.pk))
    document = bytes(entry.canonical).decode()
    assert json.loads(document)["payload"]["fields"] == ["contact_email", "contact_name", "contact_phone"]
    assert not any(value in document for value in ("王小明", "\\u738b", "wang.xm", "5555", "Li Wei"))


def test_the_home_page_links_the_capability_to_the_page(member_admin, member) -> None:
    page = text(as_user(member_admin).get(reverse("portal:home")))
    assert f'<a href="{_edit(member)}">Edit your member\'s contact details</a>' in page
    # Declaring a parent is the one thing of the member's record left to the API.
    assert page.count("(through the API)") == 1
    assert "Declare your member's parent or controlling entity <span" in page


def test_saving_the_same_details_records_nothing(member_admin, member) -> None:
    name, email, phone = _contact(member)
    entries = LedgerEntry.objects.count()
    response = as_user(member_admin).post(_edit(member), {"contact_name": name, "contact_email": email})
    assert response.status_code == 302
    assert (_contact(member), LedgerEntry.objects.count()) == ((name, email, phone), entries)


@pytest.mark.parametrize(
    ("field", "value", "error"),
    [
        ("contact_email", "not-an-address", "'not-an-address' is not a valid e-mail address."),
        ("contact_email", "", "A contact e-mail is required."),
        ("contact_name", "", "A contact person is required."),
        ("contact_name", "Li\u202eWei", "U+202E RIGHT-TO-LEFT OVERRIDE"),
        ("contact_phone", "021\t5555", "U+0009"),
    ],
)
def test_bad_input_is_shown_on_the_form_and_nothing_is_written(
    member_admin, member, field, value, error
) -> None:
    before = _contact(member), LedgerEntry.objects.count()
    response = as_user(member_admin).post(_edit(member), {**FORM, field: value})
    assert response.status_code == 400
    page = text(response)
    assert "There is a problem" in page and error in page and f'href="#id_{field}"' in page
    assert (_contact(member), LedgerEntry.objects.count()) == before


def test_another_members_admin_finds_no_page(member_admin, other_member) -> None:
    client = as_user(member_admin)
    detail = text(client.get(reverse("portal:member-detail", args=[other_member.pk])))
    assert "Edit contact details" not in detail
    before = _contact(other_member)
    assert client.get(_edit(other_member)).status_code == 404
    assert client.post(_edit(other_member), FORM).status_code == 404
    assert _contact(other_member) == before


@pytest.mark.parametrize("who", ["analyst", "data_steward", "auditor", "security_officer"])
def test_others_find_no_page(request, member, who) -> None:
    client = as_user(request.getfixturevalue(who))
    assert "Edit contact details" not in text(client.get(reverse("portal:member-detail", args=[member.pk])))
    before = _contact(member), LedgerEntry.objects.count()
    assert client.post(_edit(member), FORM).status_code == 404
    assert (_contact(member), LedgerEntry.objects.count()) == before


def test_a_suspended_members_admin_finds_no_page(member_admin, member) -> None:
    Member.objects.filter(pk=member.pk).update(status="suspended")
    client = as_user(member_admin)
    assert client.get(reverse("portal:member-detail", args=[member.pk])).status_code == 200
    before = _contact(member), LedgerEntry.objects.count()
    assert client.post(_edit(member), FORM).status_code == 404
    assert (_contact(member), LedgerEntry.objects.count()) == before


def test_an_officer_edits_any_member(officer) -> None:
    member = MemberFactory(status="applied")
    client = as_user(officer)
    assert "Edit contact details" in text(client.get(reverse("portal:member-detail", args=[member.pk])))
    assert client.post(_edit(member), FORM).status_code == 302
    assert _contact(member) == tuple(FORM.values())


def test_the_login_page_guards_it(member) -> None:
    from django.test import Client

    response = Client().get(_edit(member))
    assert response.status_code == 302 and response["Location"].startswith(reverse("portal:login"))


# --- The service, as other callers (commands, the shell) use it ---------------------------------------------


def test_the_service_refuses_as_the_api_does(member_admin, analyst, member, other_member) -> None:
    with pytest.raises(NotPermitted):  # the caller found it among those it may see (the directory)
        services.member_contact_change(actor=member_admin, member=other_member, contact_name="X")
    with pytest.raises(NotPermitted):
        services.member_contact_change(actor=analyst, member=member, contact_name="X")
    with pytest.raises(ValidationFailed) as refusal:
        services.member_contact_change(actor=member_admin, member=member, contact_email="x@")
    assert refusal.value.code == "invalid_email"
    suspended = MemberFactory(status="suspended")
    admin = UserFactory(member=suspended, member_role="member_admin", username="s-admin")
    with pytest.raises(NotPermitted) as refusal:
        services.member_contact_change(actor=admin, member=suspended, contact_name="X")
    assert refusal.value.code == "member_not_active"
    assert not LedgerEntry.objects.filter(kind=KIND).exists()
