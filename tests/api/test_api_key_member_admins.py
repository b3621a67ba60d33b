"""No API key changes or deactivates a member admin. The role manages the member's API keys, which no scope
allows: no key may give it (test_api_key_scope_bounds), and none may take it away or deactivate its holder
either, or a partner system's key (one leaked, say) could demote or lock out, for good, every admin but the
last, the people who would revoke it. A key with the manage scope still manages the member's other people,
and a member admin in person still manages the other admins."""

from __future__ import annotations

import pytest

from consortium.models import MemberRole, User
from ledger.models import LedgerEntry
from tests.api.test_problems import assert_problem
from tests.factories import UserFactory

pytestmark = pytest.mark.django_db

KEY_SCOPES = [["manage"], ["request", "manage"], ["read", "request", "manage"]]


def _state(person: User) -> tuple[str, bool, int]:
    person.refresh_from_db()
    return person.member_role, person.is_active, LedgerEntry.objects.count()


@pytest.fixture
def second_admin(member, member_admin) -> User:
    return UserFactory(username="second-admin", member=member, member_role=MemberRole.ADMIN)


@pytest.mark.parametrize("scopes", KEY_SCOPES, ids="+".join)
@pytest.mark.parametrize("change", ["demote", "deactivate"])
def test_no_key_demotes_or_deactivates_a_member_admin(key_client, second_admin, scopes, change) -> None:
    client, _, _ = key_client(scopes)
    before = _state(second_admin)
    if change == "demote":
        response = client.patch(f"/api/v1/users/{second_admin.pk}/", {"role": "analyst"}, format="json")
    else:
        response = client.post(f"/api/v1/users/{second_admin.pk}/deactivate/")
    body = assert_problem(response, 403, "role_beyond_key_scopes")
    assert "member_admin" in body["detail"]
    assert _state(second_admin) == before


def test_a_manage_key_still_manages_the_members_other_people(key_client, member) -> None:
    steward = UserFactory(username="steward-2", member=member, member_role=MemberRole.STEWARD)
    analyst = UserFactory(username="analyst-2", member=member, member_role=MemberRole.ANALYST)
    client, _, _ = key_client(["request", "manage"])
    response = client.patch(f"/api/v1/users/{steward.pk}/", {"role": "analyst"}, format="json")
    assert response.status_code == 200, response.content
    response = client.post(f"/api/v1/users/{analyst.pk}/deactivate/")
    assert response.status_code == 200, response.content
    assert _state(steward)[:2] == (MemberRole.ANALYST, True)
    assert _state(analyst)[:2] == (MemberRole.ANALYST, False)


def test_a_member_admin_in_person_still_manages_the_other_admins(
    client_for, member_admin, second_admin
) -> None:
    client = client_for(member_admin)
    response = client.patch(f"/api/v1/users/{second_admin.pk}/", {"role": "data_steward"}, format="json")
    assert response.status_code == 200, response.content
    second_admin.member_role = MemberRole.ADMIN
    second_admin.save(update_fields=["member_role"])
    assert client.post(f"/api/v1/users/{second_admin.pk}/deactivate/").status_code == 200
    assert _state(second_admin)[:2] == (MemberRole.ADMIN, False)
