"""PATCH /api/v1/members/{id}/: a member's admin (or a key of it with the `manage` scope, or an officer)
changes its contact details; the ledger names the fields that changed, never their values."""

from __future__ import annotations

import json

import pytest
from drf_spectacular.generators import SchemaGenerator

from consortium import services
from consortium.models import Member
from ledger.models import LedgerEntry
from tests.api.test_problems import assert_problem
from tests.api.test_schema_conformance import assert_documented
from tests.factories import MemberFactory, UserFactory

pytestmark = pytest.mark.django_db

KIND = "member.contact_changed"
NEW = {"contact_name": "王小明", "contact_email": "wang.xm@own.example", "contact_phone": "+86 21 5555 0101"}


def _contact(member: Member) -> tuple[str, str, str]:
    member.refresh_from_db()
    return member.contact_name, member.contact_email, member.contact_phone


def _payload(entry: LedgerEntry) -> dict:
    return json.loads(bytes(entry.canonical).decode())["payload"]


def test_the_members_admin_changes_its_contact_details(client_for, member_admin, member) -> None:
    response = client_for(member_admin).patch(f"/api/v1/members/{member.pk}/", NEW, format="json")
    assert response.status_code == 200, response.content
    assert_documented(
        SchemaGenerator().get_schema(request=None, public=True), response, "patch", "/api/v1/members/{id}/"
    )
    assert {field: response.json()[field] for field in NEW} == NEW
    assert _contact(member) == tuple(NEW.values())

    entry = LedgerEntry.objects.get(kind=KIND)
    assert (entry.actor_user_id, entry.actor_member_id) == (member_admin.pk, member.pk)
    assert (entry.subject_type, entry.subject_id) == ("member", str(member.pk))
    payload = _payload(entry)
    assert payload["fields"] == ["contact_email", "contact_name", "contact_phone"]
    document = bytes(entry.canonical).decode()
    for value in ("王小明", "wang.xm@own.example", "5555", "Li Wei"):  # neither the new values nor the old
        assert value not in document and json.dumps(value)[1:-1] not in document


def test_only_the_fields_sent_change_and_only_changed_ones_are_named(
    client_for, member_admin, member
) -> None:
    name, _, phone = _contact(member)
    response = client_for(member_admin).patch(
        f"/api/v1/members/{member.pk}/",
        {"contact_email": "new@own.example", "contact_name": name},
        format="json",
    )
    assert response.status_code == 200, response.content
    assert _contact(member) == (name, "new@own.example", phone)
    assert _payload(LedgerEntry.objects.get(kind=KIND))["fields"] == ["contact_email"]


@pytest.mark.parametrize("body", [{}, "same"], ids=["empty", "same-values"])
def test_no_change_records_nothing(client_for, member_admin, member, body) -> None:
    name, email, phone = _contact(member)
    if body == "same":
        body = {"contact_name": f"  {name} ", "contact_email": email, "contact_phone": phone}
    entries = LedgerEntry.objects.count()
    response = client_for(member_admin).patch(f"/api/v1/members/{member.pk}/", body, format="json")
    assert response.status_code == 200, response.content
    assert LedgerEntry.objects.count() == entries
    assert _contact(member) == (name, email, phone)


@pytest.mark.parametrize(
    ("body", "code", "field"),
    [
        ({"contact_email": "not-an-address"}, "invalid_email", "contact_email"),
        ({"contact_email": ""}, "required", "contact_email"),
        ({"contact_name": "   "}, "required", "contact_name"),
        ({"contact_name": "Li\u202eWei"}, "hidden_character", "contact_name"),
        ({"contact_phone": "021\u200e5555"}, "hidden_character", "contact_phone"),
        ({"contact_name": "x" * 101}, "too_long", "contact_name"),
        ({"legal_name": "Renamed Co."}, "validation_error", "legal_name"),
        ({"contact_name": "Zhang San", "sector": "I"}, "validation_error", "sector"),
        # Named with a contact field's own error, not only once that one is corrected.
        ({"contact_name": ["Zhang San"], "sector": "I"}, "validation_error", "sector"),
    ],
)
def test_bad_input_is_refused_and_nothing_is_written(
    client_for, member_admin, member, body, code, field
) -> None:
    before = _contact(member), (member.legal_name, member.sector), LedgerEntry.objects.count()
    response = client_for(member_admin).patch(f"/api/v1/members/{member.pk}/", body, format="json")
    problem = assert_problem(response, 400, code)
    assert field in problem["errors"]
    member.refresh_from_db()
    assert (_contact(member), (member.legal_name, member.sector), LedgerEntry.objects.count()) == before


def test_blanking_both_required_contact_details_names_both(client_for, member_admin, member) -> None:
    before = _contact(member), LedgerEntry.objects.count()
    body = {"contact_name": "", "contact_email": "  "}
    response = client_for(member_admin).patch(f"/api/v1/members/{member.pk}/", body, format="json")
    assert set(assert_problem(response, 400, "required")["errors"]) == {"contact_name", "contact_email"}
    member.refresh_from_db()
    assert (_contact(member), LedgerEntry.objects.count()) == before


def test_put_is_not_allowed(client_for, member_admin, member) -> None:
    response = client_for(member_admin).put(f"/api/v1/members/{member.pk}/", NEW, format="json")
    assert response.status_code == 405


@pytest.mark.parametrize("who", ["member_admin", "analyst"])
def test_another_member_in_the_directory_is_refused_not_hidden(
    request, client_for, other_member, who
) -> None:
    client = client_for(request.getfixturevalue(who))
    before = _contact(other_member), LedgerEntry.objects.count()
    # The other member is in the directory (active): the caller sees it, so it is told it may not change
    # it (403), as for an officer's lifecycle actions, before its body is read.
    assert client.get(f"/api/v1/members/{other_member.pk}/").status_code == 200
    for body in (NEW, {"contact_name": ["not", "text"]}):
        response = client.patch(f"/api/v1/members/{other_member.pk}/", body, format="json")
        assert_problem(response, 403, "permission_denied")
    assert (_contact(other_member), LedgerEntry.objects.count()) == before


def test_a_member_the_caller_may_not_see_is_not_found(
    client_for, member_admin, other_member, officer
) -> None:
    client = client_for(member_admin)
    assert_problem(client.patch("/api/v1/members/999999/", NEW, format="json"), 404, "not_found")
    # a suspended member leaves the directory: its record is not there for other members, nor to change
    services.member_suspend(member=other_member, actor=officer, reason="Audit pending.")
    before = _contact(other_member)
    assert_problem(client.get(f"/api/v1/members/{other_member.pk}/"), 404, "not_found")
    assert_problem(client.patch(f"/api/v1/members/{other_member.pk}/", NEW, format="json"), 404, "not_found")
    assert _contact(other_member) == before


@pytest.mark.parametrize("who", ["analyst", "data_steward", "security_officer", "auditor"])
def test_others_are_refused(request, client_for, member, who) -> None:
    before = _contact(member), LedgerEntry.objects.count()
    response = client_for(request.getfixturevalue(who)).patch(
        f"/api/v1/members/{member.pk}/", {"contact_name": ["not", "text"]}, format="json"
    )
    assert_problem(response, 403, "permission_denied")  # before the bad body is looked at
    assert (_contact(member), LedgerEntry.objects.count()) == before


@pytest.mark.parametrize("status", ["suspended", "withdrawn"])
def test_a_member_that_is_not_active_is_refused(client_for, status) -> None:
    member = MemberFactory(status=status)
    admin = UserFactory(member=member, member_role="member_admin", username="suspended-admin")
    before = _contact(member), LedgerEntry.objects.count()
    response = client_for(admin).patch(f"/api/v1/members/{member.pk}/", NEW, format="json")
    assert assert_problem(response, 403, "member_not_active")["current_state"] == status
    assert (_contact(member), LedgerEntry.objects.count()) == before


@pytest.mark.parametrize("status", ["active", "suspended", "applied"])
def test_an_officer_changes_any_members_contact(client_for, officer, status) -> None:
    member = MemberFactory(status=status)
    response = client_for(officer).patch(
        f"/api/v1/members/{member.pk}/", {"contact_phone": "021"}, format="json"
    )
    assert response.status_code == 200, response.content
    assert _contact(member)[2] == "021"
    entry = LedgerEntry.objects.get(kind=KIND)
    assert (entry.actor_user_id, entry.actor_member_id, _payload(entry)["fields"]) == (
        officer.pk,
        None,
        ["contact_phone"],
    )


@pytest.mark.parametrize("scopes", [["read"], ["request"], ["read", "request"]])
@pytest.mark.parametrize("body", [NEW, {"contact_email": ["bad"]}], ids=["good", "bad"])
def test_a_key_without_the_manage_scope_is_told_it_needs_it(key_client, member, scopes, body) -> None:
    client, _, _ = key_client(scopes)
    before = _contact(member), LedgerEntry.objects.count()
    problem = assert_problem(
        client.patch(f"/api/v1/members/{member.pk}/", body, format="json"), 403, "insufficient_scope"
    )
    assert (problem["required_scope"], problem["key_scopes"]) == ("manage", sorted(scopes))
    assert (_contact(member), LedgerEntry.objects.count()) == before


def test_a_key_with_the_manage_scope_changes_its_members_contact(key_client, member, other_member) -> None:
    client, key, _ = key_client(["manage"])
    response = client.patch(f"/api/v1/members/{member.pk}/", {"contact_name": "Zhang San"}, format="json")
    assert response.status_code == 200, response.content
    assert _contact(member)[0] == "Zhang San"
    entry = LedgerEntry.objects.get(kind=KIND)
    assert entry.actor_user_id == key.system_user_id
    # another member, seen in the directory: refused, not hidden
    response = client.patch(f"/api/v1/members/{other_member.pk}/", NEW, format="json")
    assert_problem(response, 403, "permission_denied")


def test_a_manage_key_still_declares_no_affiliation(key_client, other_member) -> None:
    # A key may edit its member's contact details (EDIT_OWN_CONTACT); declaring a parent (EDIT_OWN_MEMBER)
    # stays with the member's admins in person.
    client, _, _ = key_client(["read", "request", "manage"])
    response = client.post("/api/v1/credit/affiliations/declare/", {"parent": other_member.pk}, format="json")
    assert_problem(response, 403, "permission_denied")
