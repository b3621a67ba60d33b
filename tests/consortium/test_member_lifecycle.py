"""The member lifecycle through the API: every legal step, illegal ones refused (409), history, ledger."""

from __future__ import annotations

import pytest
from django.contrib.auth.models import Group

from consortium.models import Member, MemberStatus, MemberStatusChange
from ledger.models import LedgerEntry
from tests.factories import ClusterFactory, MemberFactory

pytestmark = pytest.mark.django_db

APPLICATION = {
    "legal_name": "Shenzhen Example Electronics Co., Ltd.",
    "credit_code": "9144030071526726XG",
    "size_class": "large",
    "sector": "C",
    "region": "Guangdong",
    "contact_name": "Chen Jing",
    "contact_email": "chen.jing@example.cn",
}


def _apply(client, **overrides):
    return client.post("/api/v1/members/", {**APPLICATION, **overrides}, format="json")


def _act(client, member_id, action, reason=""):
    return client.post(f"/api/v1/members/{member_id}/{action}/", {"reason": reason}, format="json")


def test_anonymous_application_creates_applied_member_group_history_and_ledger_entry(api_client) -> None:
    ClusterFactory(slug="prd-electronics")
    response = _apply(api_client, clusters=["prd-electronics"])
    assert response.status_code == 201, response.content
    body = response.json()
    assert body["status"] == "applied"
    assert body["clusters"] == ["prd-electronics"]
    member = Member.objects.get(pk=body["id"])
    assert member.group == Group.objects.get(name="member:9144030071526726XG")
    change = MemberStatusChange.objects.get(member=member)
    assert (change.from_status, change.to_status, change.actor) == ("", "applied", None)
    entry = LedgerEntry.objects.get(kind="member.applied")
    assert entry.subject_id == str(member.pk)


def test_lower_case_code_is_normalised(api_client) -> None:
    response = _apply(api_client, credit_code=" 9144030071526726xg")
    assert response.json()["credit_code"] == "9144030071526726XG"


def test_a_code_typed_in_full_width_characters_is_read_as_ascii(api_client) -> None:
    # A Chinese input method in its full-width mode types each ASCII character at U+FEE0 above it, and
    # U+3000 for a space.
    full_width = "".join(chr(ord(char) + 0xFEE0) for char in "9144030071526726xg")
    response = _apply(api_client, credit_code="\u3000" + full_width)
    assert response.status_code == 201, response.content
    assert response.json()["credit_code"] == "9144030071526726XG"


def test_full_lifecycle_with_history(api_client, client_for, officer) -> None:
    member_id = _apply(api_client).json()["id"]
    staff = client_for(officer)
    steps = [
        ("admit", "", "active"),
        ("suspend", "Unpaid dues", "suspended"),
        ("reinstate", "Dues paid", "active"),
        ("suspend", "Data leak investigation", "suspended"),
        ("withdraw", "Firm dissolved", "withdrawn"),
    ]
    for action, reason, status in steps:
        response = _act(staff, member_id, action, reason)
        assert response.status_code == 200, (action, response.content)
        assert response.json()["status"] == status
    history = staff.get(f"/api/v1/members/{member_id}/history/").json()
    assert [(h["from_status"], h["to_status"]) for h in history] == [
        ("", "applied"),
        ("applied", "active"),
        ("active", "suspended"),
        ("suspended", "active"),
        ("active", "suspended"),
        ("suspended", "withdrawn"),
    ]
    assert [h["actor"] for h in history[1:]] == ["officer"] * 5
    assert [h["reason"] for h in history[1:]] == [reason for _, reason, _ in steps]
    kinds = list(
        LedgerEntry.objects.filter(subject_type="member").order_by("pk").values_list("kind", flat=True)
    )
    assert kinds == [
        "member.applied",
        "member.admitted",
        "member.suspended",
        "member.reinstated",
        "member.suspended",
        "member.withdrawn",
    ]


def test_decline(api_client, client_for, officer) -> None:
    member_id = _apply(api_client).json()["id"]
    response = _act(client_for(officer), member_id, "decline", "Not an industrial firm")
    assert response.status_code == 200
    assert response.json()["status"] == "declined"
    assert LedgerEntry.objects.filter(kind="member.declined").count() == 1


def test_active_member_withdraws_directly(client_for, officer) -> None:
    member = MemberFactory()
    response = _act(client_for(officer), member.pk, "withdraw", "Leaving")
    assert response.json()["status"] == "withdrawn"


@pytest.mark.parametrize(
    ("status", "action"),
    [
        ("applied", "suspend"),
        ("applied", "reinstate"),
        ("applied", "withdraw"),
        ("active", "admit"),
        ("active", "decline"),
        ("active", "reinstate"),
        ("suspended", "admit"),
        ("suspended", "suspend"),
        ("declined", "admit"),
        ("declined", "withdraw"),
        ("withdrawn", "reinstate"),
        ("withdrawn", "admit"),
        ("withdrawn", "withdraw"),
    ],
)
def test_illegal_transitions_are_409_with_current_state(client_for, officer, status, action) -> None:
    member = MemberFactory(status=status)
    changes, entries = MemberStatusChange.objects.count(), LedgerEntry.objects.count()
    response = _act(client_for(officer), member.pk, action, "some reason")
    assert response.status_code == 409
    body = response.json()
    assert response["Content-Type"] == "application/problem+json"
    assert body["code"] == "illegal_transition"
    assert body["current_state"] == status
    member.refresh_from_db()
    assert member.status == status
    assert (MemberStatusChange.objects.count(), LedgerEntry.objects.count()) == (changes, entries)


@pytest.mark.parametrize("action", ["decline", "suspend", "withdraw", "reinstate"])
def test_reason_is_required(client_for, officer, action) -> None:
    member = MemberFactory(
        status="applied" if action == "decline" else "suspended" if action == "reinstate" else "active"
    )
    response = _act(client_for(officer), member.pk, action, "   ")
    assert response.status_code == 400
    assert response.json()["code"] == "reason_required"
    assert "reason" in response.json()["errors"]


@pytest.mark.parametrize("role", ["security_officer", "auditor"])
def test_other_staff_cannot_decide(client_for, role, request) -> None:
    member = MemberFactory(status="applied")
    response = _act(client_for(request.getfixturevalue(role)), member.pk, "admit")
    assert response.status_code == 403
    assert response.json()["code"] == "permission_denied"


def test_member_admin_cannot_suspend_another_member(client_for, member_admin, other_member) -> None:
    response = _act(client_for(member_admin), other_member.pk, "suspend", "rival")
    assert response.status_code == 403
    other_member.refresh_from_db()
    assert other_member.status == MemberStatus.ACTIVE


def test_member_admin_cannot_see_or_admit_an_application(client_for, member_admin) -> None:
    applied = MemberFactory(status="applied")
    assert _act(client_for(member_admin), applied.pk, "admit").status_code == 404


def test_member_admin_withdraws_own_member(client_for, member_admin, member) -> None:
    response = _act(client_for(member_admin), member.pk, "withdraw", "We are leaving")
    assert response.status_code == 200
    assert response.json()["status"] == "withdrawn"


@pytest.mark.parametrize("role", ["data_steward", "analyst"])
def test_other_member_roles_cannot_withdraw_own_member(client_for, member, role, request) -> None:
    response = _act(client_for(request.getfixturevalue(role)), member.pk, "withdraw", "x")
    assert response.status_code == 403


def test_applicant_sees_own_application_and_others_do_not(client_for, member_admin, other_admin) -> None:
    client = client_for(member_admin)
    member_id = _apply(client).json()["id"]
    assert client.get(f"/api/v1/members/{member_id}/").status_code == 200
    assert client_for(other_admin).get(f"/api/v1/members/{member_id}/").status_code == 404
    change = MemberStatusChange.objects.get(member_id=member_id)
    assert change.actor == member_admin


def test_suspended_members_users_lose_capabilities(client_for, officer, member, analyst) -> None:
    _act(client_for(officer), member.pk, "suspend", "Audit")
    me = client_for(analyst).get("/api/v1/me/").json()
    assert me["capabilities"] == []
    assert me["member"]["status"] == "suspended"


def test_history_is_for_staff_and_the_member_itself(client_for, officer) -> None:
    """Why a firm was suspended is not another firm's business: its history is 404 to other members."""
    from tests.factories import MemberFactory, UserFactory

    member, other = MemberFactory(), MemberFactory()
    own_user = UserFactory(member=member, member_role="analyst")
    other_user = UserFactory(member=other, member_role="member_admin")
    path = f"/api/v1/members/{member.pk}/history/"
    assert client_for(officer).get(path).status_code == 200
    assert client_for(own_user).get(path).status_code == 200
    assert client_for(other_user).get(f"/api/v1/members/{member.pk}/").status_code == 200
    assert client_for(other_user).get(path).status_code == 404
