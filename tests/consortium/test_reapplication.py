"""A firm whose application was declined may apply again, in the API and the portal: its member record goes
back to `applied` with the details given now, the declined decision staying in the history and the ledger;
officers decide the new application afresh. A code held by a member, or by an application waiting for its
decision, is still refused."""

from __future__ import annotations

import json

import pytest
from django.test import Client
from django.urls import reverse

from consortium import services
from consortium.models import Member, MemberRole, MemberStatus
from consortium.roles import Capability, can
from consortium.text import FSI, PDI
from ledger.models import LedgerEntry
from tests.consortium.test_member_lifecycle import APPLICATION, _act, _apply

pytestmark = pytest.mark.django_db


@pytest.fixture
def declined(api_client, client_for, officer) -> Member:
    member_id = _apply(api_client).json()["id"]
    assert _act(client_for(officer), member_id, "decline", "Not an industrial firm").status_code == 200
    return Member.objects.get(pk=member_id)


def member_time(member_id: int) -> str:
    """The member's status_changed_at as the API writes it."""
    changed = Member.objects.get(pk=member_id).status_changed_at
    return changed.isoformat().replace("+00:00", "Z")


def _entries(member: Member) -> list[tuple[str, dict]]:
    entries = LedgerEntry.objects.filter(subject_type="member", subject_id=str(member.pk)).order_by("id")
    return [(entry.kind, json.loads(bytes(entry.canonical))["payload"]) for entry in entries]


def test_a_declined_firm_applies_again_through_the_api(api_client, client_for, officer, declined) -> None:
    response = _apply(api_client, legal_name="Shenzhen Example Machinery Co., Ltd.", contact_name="Li Lei")
    assert response.status_code == 201, response.content
    body = response.json()
    assert body["id"] == declined.pk
    assert body["status"] == "applied"
    # nothing in the answer tells the applicant the firm applied before (its record's creation time)
    assert "created_at" not in body and body["status_changed_at"] == member_time(declined.pk)
    member = Member.objects.get(pk=declined.pk)
    assert (member.legal_name, member.contact_name) == ("Shenzhen Example Machinery Co., Ltd.", "Li Lei")

    history = list(
        member.status_changes.order_by("at", "id").values_list("from_status", "to_status", "reason")
    )
    assert history == [
        ("", "applied", ""),
        ("applied", "declined", "Not an industrial firm"),
        ("declined", "applied", ""),
    ]
    entries = _entries(member)
    assert [kind for kind, _ in entries] == ["member.applied", "member.declined", "member.applied"]
    assert entries[1][1]["reason"] == "Not an industrial firm"
    assert entries[2][1]["from"] == "declined" and entries[2][1]["to"] == "applied"
    assert entries[2][1]["legal_name"] == "Shenzhen Example Machinery Co., Ltd."
    assert "from" not in entries[0][1]

    # decided afresh
    admitted = _act(client_for(officer), member.pk, "admit")
    assert admitted.status_code == 200 and admitted.json()["status"] == "active"


def test_a_second_application_while_the_new_one_waits_is_refused(api_client, declined) -> None:
    assert _apply(api_client).status_code == 201
    again = _apply(api_client)
    assert again.status_code == 400
    assert again.json()["code"] == "duplicate_credit_code"
    assert _entries(declined)[-1][0] == "member.applied"
    assert len(_entries(declined)) == 3


@pytest.mark.parametrize("status", [MemberStatus.ACTIVE, MemberStatus.SUSPENDED, MemberStatus.WITHDRAWN])
def test_a_member_that_was_admitted_cannot_apply_again(api_client, declined, status) -> None:
    Member.objects.filter(pk=declined.pk).update(status=status)
    response = _apply(api_client)
    assert response.status_code == 400
    assert response.json()["code"] == "duplicate_credit_code"
    assert Member.objects.get(pk=declined.pk).status == status


def test_a_declined_firm_applies_again_in_the_portal(declined) -> None:
    client = Client()
    form = {
        **{key: APPLICATION[key] for key in ("legal_name", "size_class", "sector", "region", "contact_name")},
        "credit_code": declined.credit_code,
        "contact_email": "new.contact@example.cn",
    }
    response = client.post(reverse("portal:apply"), form)
    assert response.status_code == 302, response.content.decode()
    assert response["Location"] == reverse("portal:apply-thanks")
    member = Member.objects.get(pk=declined.pk)
    assert member.status == MemberStatus.APPLIED
    assert member.contact_email == "new.contact@example.cn"
    assert "Applied" in client.get(response["Location"]).content.decode()


def test_a_decline_is_told_to_the_contact_of_the_application_declined_not_to_a_later_applicant(
    api_client, client_for, officer, mailoutbox, django_capture_on_commit_callbacks
) -> None:
    """The notice is queued after the decision commits and a worker sends it later (retried for hours when
    the mail server is down); anyone may apply again under the declined firm's code meanwhile. The decline,
    with the reason the officer gave about the firm, still goes to the contact of the application declined,
    under its names, and nothing of it to the new applicant."""
    member_id = _apply(api_client).json()["id"]
    with django_capture_on_commit_callbacks() as queued:  # the worker has not run yet
        response = _act(client_for(officer), member_id, "decline", "Under investigation by the regulator")
    assert response.status_code == 200
    other = {"legal_name": "Someone Else Trading Co.", "contact_name": "Mallory"}
    assert _apply(api_client, contact_email="mallory@elsewhere.example", **other).status_code == 201
    for callback in queued:  # the worker runs now
        callback()
    (notice,) = mailoutbox
    assert notice.to == [APPLICATION["contact_email"]]
    assert f"Hello {FSI}{APPLICATION['contact_name']}{PDI}," in notice.body
    assert f"The application of {FSI}{APPLICATION['legal_name']}{PDI} " in notice.body
    assert f"Reason: {FSI}Under investigation by the regulator{PDI}\n" in notice.body
    assert "Mallory" not in notice.body and "Someone Else" not in notice.body


def test_the_people_of_the_declined_application_do_not_carry_over_to_the_new_one(
    api_client, client_for, officer
) -> None:
    """Anyone may apply under any credit code, and an officer may add a firm's people before admitting it.
    Such people stay with the member once it is declined (none of them can be deactivated there: the last
    admin never can, and nobody can be added to a declined member to take over). Reopened for the firm's
    own new application, its record must not hand the people of the declined one its membership on
    admission: they are deactivated with the reopening, each with its ledger entry."""
    squatter = _apply(api_client, contact_email="mallory@elsewhere.example").json()["id"]
    member = Member.objects.get(pk=squatter)
    mallory = services.user_create(
        actor=officer,
        member=member,
        username="mallory",
        email="mallory@elsewhere.example",
        role=MemberRole.ADMIN,
        password="a-long-enough-password-1",
    )
    assert _act(client_for(officer), squatter, "decline", "Not the firm it claims to be").status_code == 200

    assert _apply(api_client).status_code == 201  # the firm itself
    assert _act(client_for(officer), squatter, "admit").status_code == 200

    mallory.refresh_from_db()
    assert not mallory.is_active
    assert not can(mallory, Capability.MANAGE_OWN_USERS)
    assert client_for(mallory).get(f"/api/v1/members/{squatter}/").status_code in (401, 403)
    kinds = [kind for kind, _ in _entries(member)]
    assert kinds == ["member.applied", "member.declined", "member.applied", "member.admitted"]
    (deactivated,) = LedgerEntry.objects.filter(kind="member.user_deactivated", subject_id=str(mallory.pk))
    assert deactivated.member_refs == f"|{member.pk}|"


def test_whoever_applied_under_a_declined_code_does_not_see_the_next_application(
    api_client, client_for, officer, member, analyst
) -> None:
    """An applicant follows its own application (consortium.selectors.member_list_for); once the record is
    reopened by someone else's application, the earlier applicant is no longer the one who applied: it
    must not read the new applicant's details, nor follow the firm later (suspended, withdrawn)."""
    squatter = client_for(analyst)  # a member's person, signed in, applying under another firm's code
    member_id = _apply(squatter, contact_email="mallory@elsewhere.example").json()["id"]
    assert squatter.get(f"/api/v1/members/{member_id}/").status_code == 200  # follows its application
    assert _act(client_for(officer), member_id, "decline", "Not the firm it claims to be").status_code == 200

    assert _apply(api_client, contact_phone="+86 755 1234 5678").status_code == 201  # the firm itself
    assert squatter.get(f"/api/v1/members/{member_id}/").status_code == 404
    listed = squatter.get("/api/v1/members/", {"page_size": 100}).json()["results"]
    assert member_id not in {row["id"] for row in listed}
    page = client_for(analyst).get(reverse("portal:member-detail", args=[member_id]))
    assert page.status_code == 404
    assert "1234 5678" not in page.content.decode()
