"""The web portal as its users see it: each page per role, applications, decisions, people, API keys."""

from __future__ import annotations

import html
import json
from collections.abc import Callable
from datetime import UTC, datetime, time, timedelta
from typing import Any

import pytest
from django.db import connection
from django.test import Client
from django.test.utils import CaptureQueriesContext
from django.urls import reverse
from django.utils import timezone

from consortium import services
from consortium.credit_code import check_character
from consortium.models import (
    Cluster,
    ConsortiumRole,
    Member,
    MemberAPIKey,
    MemberRole,
    MemberStatus,
    MemberStatusChange,
    User,
)
from ledger.models import LedgerEntry
from tests.factories import make_api_key

pytestmark = pytest.mark.django_db

PASSWORD = "correct-horse-battery-staple-42"


def credit_code(serial: int) -> str:
    """A valid unified social credit code: a market-regulation enterprise registered in Shanghai."""
    first17 = f"91310000{serial:09d}"
    return first17 + check_character(first17)


def text(response: Any) -> str:
    """The page as a reader sees it: entities decoded, so messages compare as written."""
    return html.unescape(response.content.decode())


def rows(response: Any) -> str:
    """Only the table body of a list page: the header names the user's own member on every page."""
    return text(response).split("<tbody>", 1)[1].split("</tbody>", 1)[0]


@pytest.fixture
def clusters() -> list[Cluster]:
    return [
        Cluster.objects.create(slug="yangtze-auto", name="Yangtze Delta Automotive", region="Shanghai"),
        Cluster.objects.create(slug="pearl-electronics", name="Pearl River Electronics", region="Guangdong"),
    ]


@pytest.fixture
def officer() -> User:
    return User.objects.create_user(
        username="officer", password=PASSWORD, consortium_role=ConsortiumRole.OFFICER, email="o@example.com"
    )


def _apply(serial: int, name: str, **overrides: Any) -> Member:
    fields: dict[str, Any] = {
        "legal_name": name,
        "credit_code": credit_code(serial),
        "size_class": "medium",
        "sector": "C",
        "region": "Shanghai",
        "contact_name": "Li Wei",
        "contact_email": f"contact{serial}@example.com",
        **overrides,
    }
    return services.member_apply(**fields)


@pytest.fixture
def make_member(officer: User) -> Callable[..., Member]:
    def make(serial: int, name: str, *, admit: bool = True, **overrides: Any) -> Member:
        member = _apply(serial, name, **overrides)
        if admit:
            services.member_admit(member=member, actor=officer, reason="Meets the criteria")
            member.refresh_from_db()
        return member

    return make


@pytest.fixture
def make_user(officer: User) -> Callable[..., User]:
    def make(member: Member, username: str, role: str = MemberRole.ADMIN) -> User:
        actor = member.users.filter(member_role=MemberRole.ADMIN, is_active=True).first() or officer
        return services.user_create(
            actor=actor,
            member=member,
            username=username,
            email=f"{username}@example.com",
            role=role,
            password=PASSWORD,
        )

    return make


@pytest.fixture
def acme(make_member: Callable[..., Member], clusters: list[Cluster]) -> Member:
    return make_member(1, "Acme Precision Machinery Co., Ltd.", cluster_slugs=["yangtze-auto"])


@pytest.fixture
def globex(make_member: Callable[..., Member]) -> Member:
    return make_member(2, "Globex Logistics Co., Ltd.", sector="G", size_class="large")


@pytest.fixture
def acme_admin(acme: Member, make_user: Callable[..., User]) -> User:
    return make_user(acme, "acme-admin")


@pytest.fixture
def acme_analyst(acme: Member, acme_admin: User, make_user: Callable[..., User]) -> User:
    return make_user(acme, "acme-analyst", MemberRole.ANALYST)


@pytest.fixture
def globex_admin(globex: Member, make_user: Callable[..., User]) -> User:
    return make_user(globex, "globex-admin")


def login(client: Client, user: User) -> Client:
    client.force_login(user)
    return client


# --- Access: who may open what --------------------------------------------------------------------------

LOGIN_REQUIRED = ["portal:home", "portal:member-list", "portal:people-list", "portal:api-key-list"]


@pytest.mark.parametrize("name", [*LOGIN_REQUIRED, "portal:person-create", "portal:api-key-create"])
def test_anonymous_visitor_is_sent_to_login(client: Client, name: str) -> None:
    response = client.get(reverse(name))
    assert response.status_code == 302
    assert response["Location"].startswith(reverse("portal:login"))


def test_login_and_apply_pages_are_public(client: Client) -> None:
    assert client.get(reverse("portal:login")).status_code == 200
    response = client.get(reverse("portal:apply"))
    assert response.status_code == 200
    assert "Apply for membership" in text(response)


def test_home_shows_member_role_capabilities_and_api_docs(client: Client, acme_admin: User) -> None:
    response = login(client, acme_admin).get(reverse("portal:home"))
    page = text(response)
    assert response.status_code == 200
    assert "Acme Precision Machinery Co., Ltd." in page
    assert "Active" in page and "Medium" in page and "Yangtze Delta Automotive" in page
    assert "Member admin" in page
    assert "Manage API keys" in page
    assert 'href="/api/docs/"' in page and 'href="/api/redoc/"' in page
    assert "Membership applications" not in page  # the officer's queue


def test_officer_home_counts_pending_applications(client: Client, officer: User, acme: Member) -> None:
    _apply(10, "Initech Software Co., Ltd.", sector="I")
    _apply(11, "Umbrella Biotech Co., Ltd.", sector="M")
    response = login(client, officer).get(reverse("portal:home"))
    page = text(response)
    assert "Consortium officer" in page
    assert "<strong>2</strong> applications waiting for a decision" in page
    assert f"{reverse('portal:member-list')}?status=applied" in page


@pytest.mark.parametrize(
    ("who", "visible"),
    [
        ("acme_admin", {"Members", "People", "API keys"}),
        ("acme_analyst", {"Members"}),
        ("officer", {"Members", "People"}),
        ("auditor", {"Members"}),
    ],
)
def test_nav_offers_only_the_sections_the_role_may_use(
    client: Client, request: pytest.FixtureRequest, who: str, visible: set[str]
) -> None:
    page = text(login(client, request.getfixturevalue(who)).get(reverse("portal:home")))
    nav = page.split('<nav aria-label="Main">', 1)[1].split("</nav>", 1)[0]
    for section in {"Members", "People", "API keys"}:
        assert (f">{section}</a>" in nav) == (section in visible), section


@pytest.mark.parametrize(
    "name", ["portal:people-list", "portal:person-create", "portal:api-key-list", "portal:api-key-create"]
)
def test_analyst_gets_404_on_admin_pages(client: Client, acme_analyst: User, name: str) -> None:
    assert login(client, acme_analyst).get(reverse(name)).status_code == 404


def test_officer_gets_404_on_member_admin_pages(client: Client, officer: User) -> None:
    login(client, officer)
    for name in ["portal:person-create", "portal:api-key-list", "portal:api-key-create"]:
        assert client.get(reverse(name)).status_code == 404, name


def test_auditor_reads_the_directory_but_decides_nothing_and_sees_no_people(
    client: Client, auditor: User, acme: Member, acme_admin: User
) -> None:
    login(client, auditor)
    assert 'name="status"' in text(client.get(reverse("portal:member-list")))
    url = reverse("portal:member-detail", args=[acme.pk])
    assert 'value="suspend"' not in text(client.get(url))
    assert client.post(url, {"action": "suspend", "reason": "audit"}).status_code == 403
    assert client.get(reverse("portal:people-list")).status_code == 404
    assert client.get(reverse("portal:person-detail", args=[acme_admin.pk])).status_code == 404


def test_user_of_an_applied_member_sees_home_but_not_the_directory(
    client: Client, make_member: Callable[..., Member], make_user: Callable[..., User]
) -> None:
    pending = make_member(20, "Pending Works Co., Ltd.", admit=False)
    user = make_user(pending, "pending-admin")
    login(client, user)
    page = text(client.get(reverse("portal:home")))
    assert "Applied" in page and "no capabilities" in page
    assert client.get(reverse("portal:member-list")).status_code == 404
    assert client.get(reverse("portal:api-key-list")).status_code == 404


# --- Membership application -----------------------------------------------------------------------------


def application(**overrides: Any) -> dict[str, Any]:
    return {
        "legal_name": "Initech Software Co., Ltd.",
        "credit_code": credit_code(30),
        "size_class": "small",
        "sector": "I",
        "region": "Jiangsu",
        "clusters": ["yangtze-auto", "pearl-electronics"],
        "contact_name": "Zhang Min",
        "contact_email": "zhang.min@initech.example",
        "contact_phone": "+86 21 5555 0101",
        **overrides,
    }


def test_application_creates_an_applied_member_and_thanks_once(
    client: Client, clusters: list[Cluster]
) -> None:
    response = client.post(reverse("portal:apply"), application())
    assert response.status_code == 302
    assert response["Location"] == reverse("portal:apply-thanks")
    member = Member.objects.get(credit_code=credit_code(30))
    assert member.status == MemberStatus.APPLIED
    assert {c.slug for c in member.clusters.all()} == {"yangtze-auto", "pearl-electronics"}
    assert member.contact_phone == "+86 21 5555 0101"

    thanks = text(client.get(response["Location"]))
    assert "Initech Software Co., Ltd." in thanks and "Applied" in thanks and credit_code(30) in thanks
    # The thank-you page belongs to that one submission.
    assert client.get(reverse("portal:apply-thanks"))["Location"] == reverse("portal:apply")


def test_application_with_a_bad_check_character_says_exactly_what_is_wrong(
    client: Client, clusters: list[Cluster]
) -> None:
    good = credit_code(31)
    bad = good[:17] + ("0" if good[17] != "0" else "1")
    response = client.post(reverse("portal:apply"), application(credit_code=bad))
    assert response.status_code == 400
    assert (
        f"The check character (character 18) is '{bad[17]}' but the first 17 characters require '{good[17]}'."
        in text(response)
    )
    assert not Member.objects.exists()


def test_application_with_a_short_code_and_missing_fields_creates_nothing(
    client: Client, clusters: list[Cluster]
) -> None:
    response = client.post(reverse("portal:apply"), application(credit_code="91310000123", contact_email=""))
    assert response.status_code == 400
    # As the API answers (member_apply judges both): first every field missing, in the service's words.
    assert "A contact e-mail is required." in text(response)
    response = client.post(reverse("portal:apply"), application(credit_code="91310000123"))
    assert response.status_code == 400
    assert "A unified social credit code has 18 characters; this one has 11." in text(response)
    assert not Member.objects.exists()


def test_application_with_a_taken_credit_code_is_refused_on_the_form(client: Client, acme: Member) -> None:
    response = client.post(reverse("portal:apply"), application(credit_code=acme.credit_code, clusters=[]))
    assert response.status_code == 400
    assert f"A member with credit code {acme.credit_code} already exists or has applied." in text(response)
    assert Member.objects.count() == 1


def test_applications_share_the_api_s_rate_limit(
    client: Client, clusters: list[Cluster], monkeypatch: pytest.MonkeyPatch
) -> None:
    from consortium.views import ApplicationThrottle

    monkeypatch.setattr(ApplicationThrottle, "rate", "2/hour", raising=False)
    for serial in (32, 33):
        response = client.post(reverse("portal:apply"), application(credit_code=credit_code(serial)))
        assert response.status_code == 302
    response = client.post(reverse("portal:apply"), application(credit_code=credit_code(34)))
    assert response.status_code == 429
    assert "Too many applications from here" in text(response)
    assert not Member.objects.filter(credit_code=credit_code(34)).exists()


def test_login_locks_out_after_five_failures(client: Client, acme_admin: User) -> None:
    for attempt in range(1, 6):
        response = client.post(reverse("portal:login"), {"username": "acme-admin", "password": "wrong"})
        # The fifth failure is the one that locks.
        assert response.status_code == (429 if attempt == 5 else 200), attempt
    # Locked out: even the right password is refused now.
    response = client.post(reverse("portal:login"), {"username": "acme-admin", "password": PASSWORD})
    assert response.status_code == 429
    assert "_auth_user_id" not in client.session
    # a page that says what happened and what to do (django-axes' default is one bare sentence)
    page = text(response)
    assert "Sign-in paused" in page
    assert "After 5 failed attempts, signing in as <strong>acme-admin</strong>" in page
    assert "for 0:15:00" in page and f'href="{reverse("portal:password-reset")}"' in page


def test_login_with_the_right_password_reaches_home(client: Client, acme_admin: User) -> None:
    response = client.post(reverse("portal:login"), {"username": "acme-admin", "password": PASSWORD})
    assert response.status_code == 302 and response["Location"] == reverse("portal:home")
    assert client.get(reverse("portal:login"))["Location"] == reverse("portal:home")


# --- Members --------------------------------------------------------------------------------------------


def test_directory_lists_visible_members_with_filters_and_search(
    client: Client, acme_admin: User, globex: Member
) -> None:
    login(client, acme_admin)
    response = client.get(reverse("portal:member-list"))
    assert "Acme Precision" in rows(response) and "Globex Logistics" in rows(response)
    assert 'name="status"' not in text(response)  # the status filter is for consortium staff

    by_sector = rows(client.get(reverse("portal:member-list"), {"sector": "G"}))
    assert "Globex Logistics" in by_sector and "Acme Precision" not in by_sector
    by_size = rows(client.get(reverse("portal:member-list"), {"size_class": "medium"}))
    assert "Acme Precision" in by_size and "Globex Logistics" not in by_size
    by_search = rows(client.get(reverse("portal:member-list"), {"q": "globex"}))
    assert "Globex Logistics" in by_search and "Acme Precision" not in by_search


def test_officer_filters_the_directory_by_status(
    client: Client, officer: User, acme: Member, make_member: Callable[..., Member]
) -> None:
    make_member(40, "Hooli Robotics Co., Ltd.", admit=False)
    login(client, officer)
    response = client.get(reverse("portal:member-list"), {"status": "applied"})
    assert 'name="status"' in text(response)
    assert "Hooli Robotics" in rows(response) and "Acme Precision" not in rows(response)


def test_officer_admits_an_applicant_from_its_page(
    client: Client, officer: User, make_member: Callable[..., Member]
) -> None:
    applicant = make_member(41, "Hooli Robotics Co., Ltd.", admit=False)
    login(client, officer)
    url = reverse("portal:member-detail", args=[applicant.pk])
    page = text(client.get(url))
    assert 'value="admit"' in page and 'value="decline"' in page and 'value="suspend"' not in page

    response = client.post(url, {"action": "admit", "reason": "Verified licence and references"})
    assert response.status_code == 302 and response["Location"] == url
    applicant.refresh_from_db()
    assert applicant.status == MemberStatus.ACTIVE
    change = MemberStatusChange.objects.filter(member=applicant).last()
    assert (change.from_status, change.to_status, change.actor) == ("applied", "active", officer)
    page = text(client.get(url))
    assert "Verified licence and references" in page
    # In words, not "admit"; the name isolated from them.
    assert f"<bdi>{applicant.legal_name}</bdi> is admitted; its status is now Active." in page
    assert 'value="suspend"' in page and 'value="admit"' not in page


def test_officer_suspends_with_a_reason_and_the_history_shows_it(
    client: Client, officer: User, acme: Member
) -> None:
    login(client, officer)
    url = reverse("portal:member-detail", args=[acme.pk])
    client.post(url, {"action": "suspend", "reason": "Unpaid dues for 2026"})
    acme.refresh_from_db()
    assert acme.status == MemberStatus.SUSPENDED
    assert "Unpaid dues for 2026" in text(client.get(url))


def test_a_decision_that_does_not_fit_the_state_is_shown_not_a_500(
    client: Client, officer: User, acme: Member
) -> None:
    response = login(client, officer).post(
        reverse("portal:member-detail", args=[acme.pk]), {"action": "admit", "reason": "again"}
    )
    assert response.status_code == 400
    assert 'class="errorlist' in text(response)
    acme.refresh_from_db()
    assert acme.status == MemberStatus.ACTIVE


def test_member_admin_may_not_decide_on_membership(client: Client, acme_admin: User, globex: Member) -> None:
    login(client, acme_admin)
    url = reverse("portal:member-detail", args=[globex.pk])
    assert 'value="suspend"' not in text(client.get(url))
    assert client.post(url, {"action": "suspend", "reason": "rival"}).status_code == 403
    globex.refresh_from_db()
    assert globex.status == MemberStatus.ACTIVE


def test_another_firm_s_application_is_404_to_members(
    client: Client, acme_admin: User, make_member: Callable[..., Member]
) -> None:
    applicant = make_member(42, "Hooli Robotics Co., Ltd.", admit=False)
    login(client, acme_admin)
    assert client.get(reverse("portal:member-detail", args=[applicant.pk])).status_code == 404
    assert client.get(reverse("portal:member-detail", args=[999999])).status_code == 404
    assert "Hooli Robotics" not in rows(client.get(reverse("portal:member-list")))


def test_directory_queries_do_not_grow_with_the_rows(
    client: Client, officer: User, acme: Member, make_member: Callable[..., Member]
) -> None:
    login(client, officer)

    def queries() -> int:
        with CaptureQueriesContext(connection) as captured:
            assert client.get(reverse("portal:member-list")).status_code == 200
        return len(captured)

    few = queries()
    for serial in range(60, 65):
        make_member(serial, f"Firm {serial} Co., Ltd.", cluster_slugs=["yangtze-auto"])
    assert queries() == few


def test_people_list_queries_do_not_grow_with_the_rows(
    client: Client, acme_admin: User, make_user: Callable[..., User]
) -> None:
    login(client, acme_admin)

    def queries() -> int:
        with CaptureQueriesContext(connection) as captured:
            assert client.get(reverse("portal:people-list")).status_code == 200
        return len(captured)

    few = queries()
    for n in range(5):
        make_user(acme_admin.member, f"person-{n}", MemberRole.ANALYST)
    assert queries() == few


# --- People ---------------------------------------------------------------------------------------------


def test_member_admin_adds_a_person_who_can_log_in(client: Client, acme_admin: User, acme: Member) -> None:
    login(client, acme_admin)
    assert client.get(reverse("portal:person-create")).status_code == 200
    response = client.post(
        reverse("portal:person-create"),
        {
            "username": "wang.fang",
            "email": "wang.fang@acme.example",
            "first_name": "Fang",
            "last_name": "Wang",
            "role": MemberRole.STEWARD,
            "password": "a-long-enough-initial-password",
        },
    )
    person = User.objects.get(username="wang.fang")
    assert response.status_code == 302
    assert response["Location"] == reverse("portal:person-detail", args=[person.pk])
    assert (person.member, person.member_role) == (acme, MemberRole.STEWARD)
    assert person.check_password("a-long-enough-initial-password")
    assert "wang.fang" in text(client.get(reverse("portal:people-list")))


def test_a_refused_new_person_is_shown_on_the_form(
    client: Client, acme_admin: User, acme_analyst: User
) -> None:
    response = login(client, acme_admin).post(
        reverse("portal:person-create"),
        {"username": "acme-analyst", "email": "dup@example.com", "role": MemberRole.ANALYST},
    )
    assert response.status_code == 400
    assert 'class="errorlist' in text(response)
    assert User.objects.filter(username="acme-analyst").count() == 1


def test_another_members_admin_can_neither_see_nor_edit_my_people(
    client: Client, acme_analyst: User, globex_admin: User
) -> None:
    login(client, globex_admin)
    assert "acme-analyst" not in rows(client.get(reverse("portal:people-list")))
    detail = reverse("portal:person-detail", args=[acme_analyst.pk])
    assert client.get(detail).status_code == 404
    assert client.post(detail, {"role": MemberRole.ADMIN}).status_code == 404
    assert client.post(reverse("portal:person-deactivate", args=[acme_analyst.pk])).status_code == 404
    acme_analyst.refresh_from_db()
    assert acme_analyst.member_role == MemberRole.ANALYST and acme_analyst.is_active


def test_member_admin_changes_a_role_and_deactivates(
    client: Client, acme_admin: User, acme_analyst: User
) -> None:
    login(client, acme_admin)
    detail = reverse("portal:person-detail", args=[acme_analyst.pk])
    assert client.post(detail, {"role": MemberRole.STEWARD}).status_code == 302
    acme_analyst.refresh_from_db()
    assert acme_analyst.member_role == MemberRole.STEWARD
    page = text(client.get(detail))
    assert "<bdi>acme-analyst</bdi>'s role is now Data steward." in page and "data_steward." not in page

    assert client.post(reverse("portal:person-deactivate", args=[acme_analyst.pk])).status_code == 302
    acme_analyst.refresh_from_db()
    assert not acme_analyst.is_active
    assert "deactivated" in text(client.get(detail))


NEWCOMER = {"username": "newcomer", "email": "newcomer@example.com", "role": MemberRole.STEWARD}


def test_an_officer_adds_a_person_to_a_member_from_its_page_as_through_the_api(
    client: Client, client_for: Any, officer: User, acme: Member
) -> None:
    """user_create lets a consortium officer add a person to any member, as the API does; the member's page
    offers it and the person joins that member, recorded as the API records it."""
    login(client, officer)
    assert "To add a person to a member, open" in text(client.get(reverse("portal:people-list")))
    add = reverse("portal:member-person-create", args=[acme.pk])
    assert add in text(client.get(reverse("portal:member-detail", args=[acme.pk])))
    assert f"Add a person to <bdi>{acme.legal_name}</bdi>" in text(client.get(add))

    response = client.post(add, NEWCOMER)
    api = client_for(officer).post(
        "/api/v1/users/", {**NEWCOMER, "username": "newcomer-2", "member": acme.pk}, format="json"
    )

    person = User.objects.get(username="newcomer")
    assert (response.status_code, response["Location"]) == (
        302,
        reverse("portal:person-detail", args=[person.pk]),
    )
    assert api.status_code == 201
    through_api = User.objects.get(username="newcomer-2")
    assert (
        (person.member, person.member_role)
        == (through_api.member, through_api.member_role)
        == (acme, "data_steward")
    )
    recorded = _recorded("member.user_added", person)
    assert recorded == _recorded("member.user_added", through_api)
    assert recorded["actor"] == {"user": officer.pk, "member": None, "api_key": None}
    assert recorded["members"] == [acme.pk]


def test_adding_a_person_is_offered_only_where_the_service_would_add(
    client: Client,
    officer: User,
    security_officer: User,
    auditor: User,
    acme: Member,
    acme_admin: User,
    globex: Member,
    globex_admin: User,
) -> None:
    """The page to add a person to a member exists for whom user_create lets add people to it: officers
    (from the member's page) and the member's admin, for a member that takes people. Anyone else gets no
    button and a 404, and adds nobody by posting."""
    services.member_withdraw(member=globex, actor=officer, reason="Left the consortium")
    people = User.objects.count()

    def offered(who: User, member: Member) -> bool:
        login(client, who)
        add = reverse("portal:member-person-create", args=[member.pk])
        shown = add in text(client.get(reverse("portal:member-detail", args=[member.pk])))
        assert client.get(add).status_code == (200 if shown else 404), who.username
        if not shown:
            assert client.post(add, NEWCOMER).status_code == 404, who.username
        return shown

    assert offered(officer, acme)
    assert not offered(officer, globex)  # withdrawn
    for who in (security_officer, auditor, globex_admin):
        assert not offered(who, acme), who.username
    assert User.objects.count() == people
    # A member admin adds to their own member from People, as before.
    login(client, acme_admin)
    assert reverse("portal:person-create") in text(client.get(reverse("portal:people-list")))
    assert client.get(reverse("portal:person-create")).status_code == 200


def _recorded(kind: str, person: User) -> dict[str, Any]:
    """The ledger entry of `kind` about `person`, as the ledger holds it, without what differs between any
    two entries (id, time) or names the person (subject id, username)."""
    document = json.loads(bytes(LedgerEntry.objects.get(kind=kind, subject_id=str(person.pk)).canonical))
    del document["id"], document["time"], document["subject"]["id"], document["payload"]["username"]
    return document


@pytest.mark.parametrize("change", ["role", "deactivate"])
def test_an_officer_manages_a_members_person_in_the_portal_as_through_the_api(
    client: Client,
    client_for: Any,
    officer: User,
    acme: Member,
    acme_analyst: User,
    make_user: Callable[..., User],
    change: str,
) -> None:
    """user_set_role and user_deactivate let a consortium officer change any member's person, as the API
    does; the portal offers the controls, makes the change and records it as the API records it."""
    through_api = make_user(acme, "acme-analyst-2", MemberRole.ANALYST)
    login(client, officer)
    [row] = [
        row for row in rows(client.get(reverse("portal:people-list"))).split("<tr>") if "acme-analyst<" in row
    ]
    assert acme.legal_name in row  # whose person it is
    detail = reverse("portal:person-detail", args=[acme_analyst.pk])
    page = text(client.get(detail))
    assert acme.legal_name in page and "Change role" in page and "Deactivate <bdi>acme-analyst</bdi>" in page

    if change == "role":
        response = client.post(detail, {"role": MemberRole.STEWARD}, follow=True)
        api = client_for(officer).patch(
            f"/api/v1/users/{through_api.pk}/", {"role": MemberRole.STEWARD}, format="json"
        )
        done = "<bdi>acme-analyst</bdi>'s role is now Data steward."
        kind, state = "member.user_role_changed", "role"
    else:
        response = client.post(reverse("portal:person-deactivate", args=[acme_analyst.pk]), follow=True)
        api = client_for(officer).post(f"/api/v1/users/{through_api.pk}/deactivate/")
        done = "<bdi>acme-analyst</bdi> is deactivated."
        kind, state = "member.user_deactivated", "active"

    assert response.redirect_chain == [(detail, 302)] and done in text(response)
    assert api.status_code == 200
    acme_analyst.refresh_from_db()
    through_api.refresh_from_db()
    changed = {"role": (MemberRole.STEWARD, True), "active": (MemberRole.ANALYST, False)}[state]
    assert (acme_analyst.member_role, acme_analyst.is_active) == changed
    assert (through_api.member_role, through_api.is_active) == changed
    recorded = _recorded(kind, acme_analyst)
    assert recorded == _recorded(kind, through_api)
    assert recorded["actor"] == {"user": officer.pk, "member": None, "api_key": None}
    assert recorded["members"] == [acme.pk]


@pytest.mark.parametrize("change", ["role", "deactivate"])
def test_the_last_admin_rule_refuses_an_officer_too(
    client: Client, officer: User, acme_admin: User, change: str
) -> None:
    login(client, officer)
    detail = reverse("portal:person-detail", args=[acme_admin.pk])
    entries = LedgerEntry.objects.count()
    if change == "role":
        response = client.post(detail, {"role": MemberRole.ANALYST})
        assert response.status_code == 400
    else:
        response = client.post(reverse("portal:person-deactivate", args=[acme_admin.pk]), follow=True)
        assert response.redirect_chain == [(detail, 302)]
    assert "This is the member's last active admin; appoint another admin first." in text(response)
    acme_admin.refresh_from_db()
    assert (acme_admin.member_role, acme_admin.is_active) == (MemberRole.ADMIN, True)
    assert LedgerEntry.objects.count() == entries


def test_a_members_person_is_managed_by_its_admin_and_officers_and_nobody_else(
    client: Client,
    officer: User,
    security_officer: User,
    auditor: User,
    acme_admin: User,
    acme_analyst: User,
    globex_admin: User,
) -> None:
    """The people the service lets change a person get the controls; other consortium staff and another
    member's admin do not even see the person (404), whatever they post."""
    detail = reverse("portal:person-detail", args=[acme_analyst.pk])
    deactivate = reverse("portal:person-deactivate", args=[acme_analyst.pk])
    for who in (acme_admin, officer):
        page = text(login(client, who).get(detail))
        assert "Change role" in page and "Deactivate <bdi>acme-analyst</bdi>" in page, who.username
    for who in (security_officer, auditor, globex_admin):
        login(client, who)
        assert client.get(detail).status_code == 404, who.username
        assert client.post(detail, {"role": MemberRole.STEWARD}).status_code == 404, who.username
        assert client.post(deactivate).status_code == 404, who.username
    acme_analyst.refresh_from_db()
    assert (acme_analyst.member_role, acme_analyst.is_active) == (MemberRole.ANALYST, True)
    assert (
        not LedgerEntry.objects.filter(subject_id=str(acme_analyst.pk))
        .exclude(kind="member.user_added")
        .exists()
    )


def test_no_role_or_deactivation_controls_where_the_service_would_refuse(
    client: Client, officer: User, auditor: User, acme_admin: User
) -> None:
    """A partner system's user follows its key and a staff account is managed in the admin: the services
    refuse to change either, so no page offers it; a change posted anyway gets the service's refusal."""
    key, _raw = make_api_key(admin=acme_admin, scopes=["read"])
    system_user = key.system_user
    for viewer, person in [(acme_admin, system_user), (officer, system_user), (officer, auditor)]:
        page = text(login(client, viewer).get(reverse("portal:person-detail", args=[person.pk])))
        deactivate = reverse("portal:person-deactivate", args=[person.pk])
        assert "Change role" not in page and f'action="{deactivate}"' not in page, viewer.username

    login(client, acme_admin)
    detail = reverse("portal:person-detail", args=[system_user.pk])
    response = client.post(detail, {"role": MemberRole.ANALYST})
    assert response.status_code == 400 and "This account is not managed here." in text(response)
    # the refused form stays to show why; no other control appears with it
    assert f'action="{reverse("portal:person-deactivate", args=[system_user.pk])}"' not in text(response)
    response = client.post(reverse("portal:person-deactivate", args=[system_user.pk]), follow=True)
    assert "This account is not managed here." in text(response)
    system_user.refresh_from_db()
    assert (system_user.member_role, system_user.is_active) == (MemberRole.SYSTEM, True)


# --- API keys -------------------------------------------------------------------------------------------


def test_api_key_is_shown_once_then_only_its_prefix(client: Client, acme_admin: User) -> None:
    login(client, acme_admin)
    assert client.get(reverse("portal:api-key-create")).status_code == 200
    valid_until = timezone.now().date() + timedelta(days=60)
    response = client.post(
        reverse("portal:api-key-create"),
        {"name": "ERP nightly sync", "scopes": ["read", "request"], "expires_on": valid_until.isoformat()},
    )
    assert response.status_code == 200
    assert "no-store" in response["Cache-Control"]
    key = MemberAPIKey.objects.get(name="ERP nightly sync")
    raw_key = response.context["raw_key"]
    page = text(response)
    assert raw_key in page and "It will not be shown again" in page
    assert raw_key.startswith(key.prefix + ".")
    assert raw_key not in key.hashed_key and raw_key != key.id
    assert sorted(key.scopes) == ["read", "request"]
    # Valid through the chosen day: it expires at the following midnight UTC.
    assert key.expiry_date == datetime.combine(valid_until + timedelta(days=1), time.min, tzinfo=UTC)

    listing = text(client.get(reverse("portal:api-key-list")))
    assert key.prefix in listing and "ERP nightly sync" in listing
    assert raw_key not in listing
    assert raw_key not in text(client.get(reverse("portal:home")))


def test_api_key_without_a_scope_or_too_far_ahead_is_refused(client: Client, acme_admin: User) -> None:
    login(client, acme_admin)
    response = client.post(reverse("portal:api-key-create"), {"name": "nothing"})
    assert response.status_code == 400
    too_far = (timezone.now() + timedelta(days=400)).date().isoformat()
    response = client.post(
        reverse("portal:api-key-create"), {"name": "forever", "scopes": ["read"], "expires_on": too_far}
    )
    assert response.status_code == 400
    assert "at most one year ahead" in text(response)
    assert not MemberAPIKey.objects.exists()


def test_api_key_revoked_from_the_list(client: Client, acme_admin: User, globex_admin: User) -> None:
    key, _raw = services.api_key_create(actor=acme_admin, name="Old integration", scopes=["read"])
    revoke = reverse("portal:api-key-revoke", args=[key.prefix])

    # Another member's admin neither sees nor revokes it.
    login(client, globex_admin)
    assert key.prefix not in rows(client.get(reverse("portal:api-key-list")))
    assert client.post(revoke).status_code == 404
    key.refresh_from_db()
    assert not key.revoked

    login(client, acme_admin)
    assert client.get(revoke).status_code == 405
    response = client.post(revoke)
    assert response.status_code == 302
    key.refresh_from_db()
    assert key.revoked
    listing = text(client.get(reverse("portal:api-key-list")))
    assert "is revoked" in listing and "revoked " in listing
    assert f'action="{revoke}"' not in listing


def test_api_keys_are_listed_newest_first_a_page_at_a_time(
    client: Client, acme_admin: User, globex_admin: User, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr("consortium.paging.PAGE_SIZE", 3)
    for number in range(7):
        services.api_key_create(actor=acme_admin, name=f"Line {number}", scopes=["read"])
    services.api_key_create(actor=globex_admin, name="Globex key", scopes=["read"])
    login(client, acme_admin)
    listing = reverse("portal:api-key-list")

    first = client.get(listing)
    assert [f"Line {n}" in rows(first) for n in (6, 5, 4, 3)] == [True, True, True, False]
    on_first = rows(first)
    assert on_first.index("Line 6") < on_first.index("Line 5") < on_first.index("Line 4")  # newest first
    assert "7 keys" in text(first) and "Page 1 of 3" in text(first)
    assert 'href="?page=2" rel="next"' in text(first)
    last = client.get(listing, {"page": 3})
    assert "Line 0" in rows(last) and "Line 1" not in rows(last) and "Globex key" not in rows(last)
    assert "Globex key" not in rows(first) and "Globex key" not in rows(client.get(listing, {"page": 2}))
    past_the_end = client.get(listing, {"page": 99})
    assert "Page 3 of 3" in text(past_the_end) and "Line 0" in rows(past_the_end)


@pytest.mark.parametrize(
    ("name", "who"),
    [("portal:apply", None), ("portal:person-create", "acme_admin"), ("portal:api-key-create", "acme_admin")],
)
def test_an_empty_post_shows_what_is_missing_instead_of_a_blank_form(
    client: Client, request: pytest.FixtureRequest, name: str, who: str | None
) -> None:
    # A form sent with no fields at all (its token in a header, or a script's request) is a submission too.
    if who:
        login(client, request.getfixturevalue(who))
    response = client.post(reverse(name), {})
    assert response.status_code == 400
    # The application and a new person in their services' words, as the API says them.
    said = {"portal:apply": "The legal name is required.", "portal:person-create": "A username is required."}
    assert said.get(name, "This field is required.") in text(response)


def _login_form_with_token() -> tuple[Client, dict[str, str]]:
    browser = Client(enforce_csrf_checks=True)
    page = browser.get(reverse("portal:login"))
    token = page.context["csrf_token"]
    return browser, {"csrfmiddlewaretoken": str(token), "username": "nobody", "password": "x"}


def test_a_form_from_an_untrusted_address_is_refused_as_such_not_as_expired(client: Client) -> None:
    browser, form = _login_form_with_token()
    assert browser.post(reverse("portal:login"), form).status_code == 200  # the control: the token is good
    refused = browser.post(reverse("portal:login"), form, HTTP_ORIGIN="https://elsewhere.example")
    assert refused.status_code == 403
    assert b"an address the site does not trust" in refused.content
    assert b"has expired" not in refused.content
    assert b"Origin checking failed" not in refused.content  # the check's own words only with DEBUG


def test_with_debug_the_csrf_page_names_the_checks_reason(settings) -> None:
    settings.DEBUG = True
    browser = Client(enforce_csrf_checks=True)
    refused = browser.post(reverse("portal:login"), {"username": "nobody", "password": "x"})
    assert refused.status_code == 403
    assert b"has expired" in refused.content
    assert b"CSRF cookie not set." in refused.content


def test_a_chinese_name_reads_family_name_first_and_others_first_name_first(
    client: Client, acme: Member, acme_admin: User, make_user: Callable[..., User]
) -> None:
    han = make_user(acme, "wang.xiaoming", MemberRole.ANALYST)
    han.first_name, han.last_name = "小明", "王"
    han.save(update_fields=["first_name", "last_name"])
    latin = make_user(acme, "fang.wang", MemberRole.ANALYST)
    latin.first_name, latin.last_name = "Fang", "Wang"
    latin.save(update_fields=["first_name", "last_name"])
    people = text(login(client, acme_admin).get(reverse("portal:people-list")))
    assert "王小明" in people and "小明 王" not in people
    assert "Fang Wang" in people
    assert "<h1><bdi>王小明</bdi>" in text(client.get(reverse("portal:person-detail", args=[han.pk])))
    mixed = make_user(acme, "ming.wang", MemberRole.ANALYST)
    mixed.first_name, mixed.last_name = "Ming", "王"
    assert mixed.get_full_name() == "Ming 王"  # not all Han: Django's order
