"""Officers cannot bypass the services and the ledger through the Django admin's change forms."""

from __future__ import annotations

import pytest

from consortium.models import User
from tests.factories import ClusterFactory, MemberFactory, StaffFactory, UserFactory

pytestmark = pytest.mark.django_db


def test_officer_cannot_change_a_persons_member_role_or_privileges(client, officer, member, analyst) -> None:
    other = MemberFactory()
    original_email = analyst.email
    client.force_login(officer)
    response = client.post(
        f"/admin/consortium/user/{analyst.pk}/change/",
        {
            "username": analyst.username,
            "first_name": "Renamed",
            "last_name": "",
            "email": "officer-mailbox@consortium.example",
            "date_joined_0": "2026-01-01",
            "date_joined_1": "00:00:00",
            "member": other.pk,
            "member_role": "member_admin",
            "consortium_role": "officer",
            # is_active left out: an unchecked box, i.e. deactivate
            "is_staff": "on",
            "is_superuser": "on",
        },
    )
    assert response.status_code == 302, response.content.decode()[:2000]
    analyst.refresh_from_db()
    assert analyst.first_name == "Renamed"  # the form was saved; only the guarded fields stayed put
    assert analyst.email == original_email  # where password links go: not the officer's to redirect
    assert (analyst.member_id, analyst.member_role, analyst.consortium_role) == (member.pk, "analyst", "")
    assert (analyst.is_active, analyst.is_staff, analyst.is_superuser) == (True, False, False)


def test_officer_cannot_set_a_members_persons_password(client, officer, analyst) -> None:
    client.force_login(officer)
    page = client.get(f"/admin/consortium/user/{analyst.pk}/change/")
    assert page.status_code == 200
    assert "../password/" not in page.content.decode()
    url = f"/admin/consortium/user/{analyst.pk}/password/"
    assert client.get(url).status_code == 403
    response = client.post(url, {"password1": "a-New-pass-77", "password2": "a-New-pass-77"})
    assert response.status_code == 403
    analyst.refresh_from_db()
    assert analyst.check_password("demo-pass-2026")


def test_superuser_keeps_the_full_user_form(client, analyst) -> None:
    root = UserFactory(member=None, member_role="", username="root", is_staff=True, is_superuser=True)
    client.force_login(root)
    page = client.get(f"/admin/consortium/user/{analyst.pk}/change/").content.decode()
    assert "../password/" in page and 'name="member_role"' in page
    assert User.objects.get(pk=analyst.pk).member_role == "analyst"


def test_officer_cannot_change_a_members_identity_status_or_contact(client, officer) -> None:
    cluster = ClusterFactory()
    member = MemberFactory(status="applied", legal_name="Original Co., Ltd.", region="Guangdong")
    before = (member.legal_name, member.credit_code, member.sector, member.size_class, member.region)
    client.force_login(officer)
    response = client.post(
        f"/admin/consortium/member/{member.pk}/change/",
        {
            "legal_name": "Renamed Co., Ltd.",
            "credit_code": "91440300MA5EU2W8K6",
            "sector": "I",
            "size_class": "large",
            "region": "Tibet",
            "clusters": [cluster.pk],
            "status": "active",
            "contact_name": "New Contact",
            "contact_email": "new@firm.example",
            "contact_phone": "",
            "status_changes-TOTAL_FORMS": "0",
            "status_changes-INITIAL_FORMS": "0",
            "status_changes-MIN_NUM_FORMS": "0",
            "status_changes-MAX_NUM_FORMS": "1000",
        },
    )
    assert response.status_code == 302, response.content.decode()[:2000]
    member.refresh_from_db()
    # Contact details too change only through services.member_contact_change (checked, on the ledger).
    assert (member.contact_name, member.contact_email) != ("New Contact", "new@firm.example")
    assert (member.legal_name, member.credit_code, member.sector, member.size_class, member.region) == before
    assert member.status == "applied"
    assert not member.clusters.exists()


@pytest.mark.parametrize("holder", ["security_officer", "auditor", "other_officer", "superuser"])
def test_officer_cannot_set_another_staff_accounts_password(client, officer, holder, request) -> None:
    # Setting a password is logging in as its holder: a security officer's confidential decisions, another
    # officer's name on the ledger, a superuser's everything.
    account = (
        UserFactory(member=None, member_role="", username="root", is_staff=True, is_superuser=True)
        if holder == "superuser"
        else StaffFactory(username="officer-2")
        if holder == "other_officer"
        else request.getfixturevalue(holder)
    )
    client.force_login(officer)
    assert "../password/" not in client.get(f"/admin/consortium/user/{account.pk}/change/").content.decode()
    url = f"/admin/consortium/user/{account.pk}/password/"
    assert client.get(url).status_code == 403
    response = client.post(
        url, {"password1": "a-New-pass-77", "password2": "a-New-pass-77", "usable_password": "true"}
    )
    assert response.status_code == 403
    account.refresh_from_db()
    assert account.check_password("demo-pass-2026")


def test_officer_changes_their_own_password_only_with_the_old_one(client, officer) -> None:
    client.force_login(officer)
    assert client.get(f"/admin/consortium/user/{officer.pk}/password/").status_code == 403
    response = client.post(
        "/admin/password_change/",
        {
            "old_password": "demo-pass-2026",
            "new_password1": "a-New-pass-77",
            "new_password2": "a-New-pass-77",
        },
    )
    assert response.status_code == 302, response.content.decode()[:2000]
    officer.refresh_from_db()
    assert officer.check_password("a-New-pass-77")
