"""The demo seed (complete, valid, idempotent, through the services) and the admin's pages (its lifecycle
actions: test_admin_decisions)."""

from __future__ import annotations

from io import StringIO

import pytest
from django.core.management import CommandError, call_command

from consortium import credit_code, services
from consortium.models import Cluster, Member, MemberAPIKey, MemberStatusChange, User
from ledger.models import LedgerEntry

pytestmark = pytest.mark.django_db


def _snapshot() -> tuple[int, ...]:
    return tuple(
        model.objects.count()
        for model in (Member, User, Cluster, MemberAPIKey, MemberStatusChange, LedgerEntry)
    )


def test_seed_demo_is_complete_and_idempotent(settings) -> None:
    settings.DEBUG = True  # a developer's machine
    out = StringIO()
    call_command("seed_demo", "--print-logins", "--site-url", "http://example.test:8000", stdout=out)
    text = out.getvalue()
    assert "http://example.test:8000/" in text
    assert "http://example.test:8000/api/docs/" in text
    assert "Demo API key for" in text
    for login in ("officer", "security", "auditor", "huaxin-admin", "huaxin-steward", "huaxin-analyst"):
        assert login in text
    members = list(Member.objects.all())
    assert len(members) >= 8
    assert {m.size_class for m in members} == {"large", "medium", "small", "micro"}
    assert len({m.sector for m in members}) >= 4
    assert Cluster.objects.count() >= 2
    assert all(credit_code.validate(m.credit_code) == m.credit_code for m in members)
    statuses = [m.status for m in members]
    assert statuses.count("applied") == 1 and statuses.count("suspended") == 1
    assert statuses.count("active") >= 6
    roles = set(User.objects.values_list("member_role", flat=True)) | set(
        User.objects.values_list("consortium_role", flat=True)
    )
    assert {"member_admin", "data_steward", "analyst", "officer", "security_officer", "auditor"} <= roles
    assert User.objects.get(username="huaxin-analyst").check_password("demo-pass-2026")
    assert LedgerEntry.objects.filter(kind="member.admitted").count() == statuses.count("active") + 1
    assert LedgerEntry.objects.filter(kind="member.suspended").count() == 1

    before = _snapshot()
    out = StringIO()
    call_command("seed_demo", stdout=out)
    assert _snapshot() == before
    assert "Demo API key" not in out.getvalue()


def test_seed_demo_refuses_with_debug_off(settings) -> None:
    settings.DEBUG = False
    with pytest.raises(CommandError, match=r"DEBUG off.*--allow-production"):
        call_command("seed_demo", stdout=StringIO())
    assert _snapshot() == (0, 0, 0, 0, 0, 0)


def test_seed_demo_with_debug_off_runs_when_production_is_allowed(settings) -> None:
    settings.DEBUG = False
    out = StringIO()
    call_command("seed_demo", "--allow-production", stdout=out)
    assert "Demo consortium: " in out.getvalue()
    assert User.objects.filter(username="huaxin-admin").exists()


def test_seed_demo_failing_half_way_leaves_no_consortium_behind(settings, monkeypatch) -> None:
    settings.DEBUG = True

    def broken(**kwargs):
        raise RuntimeError("disk full")

    monkeypatch.setattr(services, "api_key_create", broken)  # the last step of the consortium seeding
    with pytest.raises(RuntimeError, match="disk full"):
        call_command("seed_demo", stdout=StringIO())
    assert _snapshot() == (0, 0, 0, 0, 0, 0)


def test_admin_pages_render(client, officer, member_admin) -> None:
    from tests.factories import make_api_key

    key, _ = make_api_key(admin=member_admin, scopes=["read"])
    client.force_login(officer)
    for path in (
        "/admin/consortium/member/",
        f"/admin/consortium/member/{member_admin.member_id}/change/",
        "/admin/consortium/cluster/",
        "/admin/consortium/user/",
        "/admin/consortium/memberapikey/",
        f"/admin/consortium/memberapikey/{key.pk}/change/",
    ):
        assert client.get(path).status_code == 200, path


def test_the_admin_offers_only_the_api_keys_that_authenticate(client) -> None:
    """drf-api-key's own APIKey model authenticates nothing here (partners' keys are MemberAPIKey), so its
    admin, which the library registers, is taken away: a key made there would look like a working one."""
    from tests.factories import StaffFactory

    client.force_login(StaffFactory(username="root", is_superuser=True))
    assert client.get("/admin/rest_framework_api_key/apikey/add/").status_code == 404
    index = client.get("/admin/").content.decode()
    assert "/admin/consortium/memberapikey/" in index
    assert "/admin/rest_framework_api_key/" not in index


def _printed_logins(settings) -> list[str]:
    settings.DEBUG = True
    out = StringIO()
    call_command("seed_demo", "--print-logins", stdout=out)
    lines = out.getvalue().splitlines()
    start = next(i for i, line in enumerate(lines) if line.startswith("Demo logins"))
    return lines[start:]


def test_printed_logins_name_every_role_and_each_firms_admin_and_steward_as_seeded(settings) -> None:
    block = _printed_logins(settings)
    assert "demo-pass-2026" in block[0]  # once, for all
    assert len(block) <= 14, "short enough to read at a glance"
    assert sum("demo-pass-2026" in line for line in block) == 1
    header_at = next(i for i, line in enumerate(block) if line.split()[:1] == ["admin"])
    staff, header, firms = block[1:header_at], block[header_at], block[header_at + 1 :]
    for line in staff:  # "  <username>  <role label> [(also Django admin)]"
        user = User.objects.get(username=line.split()[0], is_active=True)
        assert user.get_consortium_role_display() in line
        assert ("Django admin" in line) == user.is_staff
    assert {User.objects.get(username=line.split()[0]).consortium_role for line in staff} == {
        "officer",
        "security_officer",
        "auditor",
    }
    roles = ["member_admin", "data_steward", "analyst"]
    assert header.split() == ["admin", "data", "steward", "analyst", "member", "firm"]
    printed_firms = set()
    for line in firms:
        logins, legal_name = line.split()[:3], " ".join(line.split()[3:]).removesuffix(" (suspended)")
        member = Member.objects.get(legal_name=legal_name)
        printed_firms.add(member.pk)
        assert line.endswith("(suspended)") == (member.status == "suspended")
        for role, username in zip(roles, logins, strict=True):
            if username == "-":  # the firm has nobody active in that role
                assert not member.users.filter(member_role=role, is_active=True).exists()
                continue
            user = User.objects.get(username=username)
            assert (user.member_id, user.member_role, user.is_active) == (member.pk, role, True)
            assert user.check_password("demo-pass-2026")
    # Every firm with people is there, each with its admin, and every steward of the demo has a line.
    assert printed_firms == set(User.objects.filter(member__isnull=False).values_list("member", flat=True))
    printed = " ".join(block).split()
    for steward in User.objects.filter(member_role="data_steward"):
        assert steward.username in printed
    assert {"haitong-steward", "xinpeng-steward", "yuxing-steward"} <= set(printed)
