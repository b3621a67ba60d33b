"""Members, people, keys and clusters lists: filters, the `me` endpoint, flat query counts, login lockout."""

from __future__ import annotations

import html

import pytest
from django.urls import reverse

from consortium import selectors
from consortium.errors import ValidationFailed
from consortium.models import User
from tests.factories import ClusterFactory, MemberFactory, UserFactory, make_api_key

pytestmark = pytest.mark.django_db


@pytest.fixture
def directory(db):
    yrd = ClusterFactory(slug="yrd-manufacturing", name="Yangtze River Delta advanced manufacturing")
    prd = ClusterFactory(slug="prd-electronics", name="Pearl River Delta electronics")
    a = MemberFactory(legal_name="Alpha Robotics", sector="C", size_class="large", region="Jiangsu")
    a.clusters.add(yrd)
    b = MemberFactory(legal_name="Beta Chips", sector="C", size_class="small", region="Guangdong")
    b.clusters.add(prd)
    c = MemberFactory(legal_name="Gamma Software", sector="I", size_class="micro", region="Guangdong")
    c.clusters.add(prd, yrd)
    MemberFactory(legal_name="Delta Applied", status="applied", region="Sichuan")
    return {"alpha": a, "beta": b, "gamma": c}


def _names(response) -> list[str]:
    assert response.status_code == 200, response.content
    return [m["legal_name"] for m in response.json()["results"]]


@pytest.mark.parametrize(
    ("query", "expected"),
    [
        ("sector=I", ["Gamma Software"]),
        ("size_class=large", ["Alpha Robotics"]),
        ("cluster=prd-electronics", ["Beta Chips", "Gamma Software"]),
        ("region=guangdong", ["Beta Chips", "Gamma Software"]),
        ("search=chip", ["Beta Chips"]),
        ("status=applied", ["Delta Applied"]),
        ("cluster=yrd-manufacturing&sector=C", ["Alpha Robotics"]),
    ],
)
def test_member_filters(client_for, officer, directory, query, expected) -> None:
    assert _names(client_for(officer).get(f"/api/v1/members/?{query}")) == expected


def test_search_by_credit_code(client_for, officer, directory) -> None:
    code = directory["beta"].credit_code
    assert _names(client_for(officer).get(f"/api/v1/members/?search={code[-6:]}")) == ["Beta Chips"]


def test_search_finds_a_member_by_its_region(client_for, officer, directory) -> None:
    client = client_for(officer)
    found = _names(client.get("/api/v1/members/", {"search": "guangd"}))
    assert found == ["Beta Chips", "Gamma Software"]
    assert _names(client.get("/api/v1/members/", {"search": " JIANGSU "})) == ["Alpha Robotics"]


DIRECTORY_NAMES = {"Alpha Robotics", "Beta Chips", "Gamma Software", "Delta Applied"}


@pytest.mark.parametrize(
    "text", ["chip", "ALPHA", "guangd", " sichuan ", "oft", "gamma's code", "no such firm"]
)
def test_the_api_and_the_portal_search_the_directory_alike(client_for, officer, directory, text) -> None:
    text = directory["gamma"].credit_code[-5:] if text == "gamma's code" else text
    found = _names(client_for(officer).get("/api/v1/members/", {"search": text}))
    page = client_for(officer).get(reverse("portal:member-list"), {"q": text})
    listed = html.unescape(page.content.decode()).split("<tbody>", 1)[1].split("</tbody>", 1)[0]
    assert {name for name in DIRECTORY_NAMES if name in listed} == set(found)


def test_members_see_active_directory_not_applications(client_for, directory) -> None:
    user = UserFactory(member=directory["alpha"], member_role="analyst")
    assert _names(client_for(user).get("/api/v1/members/")) == [
        "Alpha Robotics",
        "Beta Chips",
        "Gamma Software",
    ]


def test_user_filters(client_for, member, member_admin, analyst, data_steward) -> None:
    UserFactory(member=member, member_role="analyst", username="gone", is_active=False)
    client = client_for(member_admin)
    names = {u["username"] for u in client.get("/api/v1/users/?role=analyst").json()["results"]}
    assert names == {"own-analyst", "gone"}
    names = {
        u["username"] for u in client.get("/api/v1/users/?role=analyst&is_active=false").json()["results"]
    }
    assert names == {"gone"}


def test_clusters_are_public(api_client, directory) -> None:
    slugs = [c["slug"] for c in api_client.get("/api/v1/clusters/").json()["results"]]
    assert slugs == ["prd-electronics", "yrd-manufacturing"]


def test_me(client_for, member_admin, officer) -> None:
    me = client_for(member_admin).get("/api/v1/me/").json()
    assert me["user"]["username"] == "own-admin"
    assert me["member"]["legal_name"] == "Own Firm Co., Ltd."
    assert me["role"] == "member_admin"
    assert "member.manage_api_keys" in me["capabilities"]
    staff = client_for(officer).get("/api/v1/me/").json()
    assert (staff["member"], staff["role"]) == (None, "officer")
    assert "consortium.decide_membership" in staff["capabilities"]


def test_page_size_is_capped(client_for, officer) -> None:
    MemberFactory.create_batch(3)
    response = client_for(officer).get("/api/v1/members/?page_size=100000")
    assert response.status_code == 200
    assert len(response.json()["results"]) == 3


def _populate(n: int) -> tuple:
    cluster = ClusterFactory(slug="load")
    members = MemberFactory.create_batch(n)
    for m in members:
        m.clusters.add(cluster)
    admin = UserFactory(member=members[0], member_role="member_admin")
    UserFactory.create_batch(n, member=members[0], member_role="analyst")
    for i in range(n):
        make_api_key(admin=admin, scopes=["read"], name=f"k{i}")
    return admin


@pytest.mark.parametrize(
    "path", ["/api/v1/members/", "/api/v1/users/", "/api/v1/api-keys/", "/api/v1/clusters/"]
)
def test_list_query_count_does_not_grow_with_page_size(
    client_for, officer, path, django_assert_max_num_queries
):
    _populate(105)
    client = client_for(officer)
    counts = []
    for size in (10, 100):
        from django.db import connection
        from django.test.utils import CaptureQueriesContext

        with CaptureQueriesContext(connection) as ctx:
            response = client.get(f"{path}?page_size={size}")
        assert response.status_code == 200
        assert len(response.json()["results"]) == (size if path != "/api/v1/clusters/" else 1)
        counts.append(len(ctx.captured_queries))
    assert counts[0] == counts[1], counts
    with django_assert_max_num_queries(counts[0]):
        client.get(f"{path}?page_size=100")


def test_member_admin_lists_are_flat_too(client_for, django_assert_max_num_queries) -> None:
    admin = _populate(105)
    client = client_for(admin)
    for path in ("/api/v1/users/", "/api/v1/api-keys/", "/api/v1/members/"):
        with django_assert_max_num_queries(8):
            assert len(client.get(f"{path}?page_size=10").json()["results"]) == 10
        with django_assert_max_num_queries(8):
            assert len(client.get(f"{path}?page_size=100").json()["results"]) == 100


def test_login_is_locked_after_five_failures(client, member_admin) -> None:
    for attempt in range(1, 6):
        response = client.post("/login/", {"username": "own-admin", "password": "wrong"})
        # The form again with an error; the fifth failure itself already trips the lock.
        assert response.status_code == (429 if attempt == 5 else 200)
        assert "_auth_user_id" not in client.session
    response = client.post("/login/", {"username": "own-admin", "password": "demo-pass-2026"})
    assert response.status_code == 429
    assert "_auth_user_id" not in client.session


def test_behind_a_proxy_the_lockout_is_of_the_client_not_of_everyone_behind_the_proxy(
    client, member_admin, settings
) -> None:
    settings.REST_FRAMEWORK = {**settings.REST_FRAMEWORK, "NUM_PROXIES": 1}
    proxy = {"REMOTE_ADDR": "10.0.0.2"}
    guesser = {**proxy, "HTTP_X_FORWARDED_FOR": "203.0.113.9"}
    for _ in range(5):
        client.post("/login/", {"username": "own-admin", "password": "wrong"}, **guesser)
    locked = client.post("/login/", {"username": "own-admin", "password": "demo-pass-2026"}, **guesser)
    assert locked.status_code == 429
    # The member admin, through the same proxy from their own address, still logs in.
    owner = {**proxy, "HTTP_X_FORWARDED_FOR": "198.51.100.7"}
    response = client.post("/login/", {"username": "own-admin", "password": "demo-pass-2026"}, **owner)
    assert response.status_code == 302
    assert client.session["_auth_user_id"] == str(member_admin.pk)


def test_right_password_logs_in_before_lockout(client, member_admin) -> None:
    response = client.post("/login/", {"username": "own-admin", "password": "demo-pass-2026"})
    assert response.status_code == 302
    assert client.session["_auth_user_id"] == str(member_admin.pk)


def test_member_zero_is_invalid_not_my_own_member(client_for, member_admin) -> None:
    body = {"member": 0, "username": "zero", "email": "zero@firm.example", "role": "analyst"}
    response = client_for(member_admin).post("/api/v1/users/", body, format="json")
    assert response.status_code == 400, response.content
    assert response["Content-Type"] == "application/problem+json"
    assert "member" in response.json()["errors"]
    assert not User.objects.filter(username="zero").exists()


def test_selector_refuses_member_zero(member_admin) -> None:
    with pytest.raises(ValidationFailed) as refused:
        selectors.member_for_new_person(user=member_admin, member_id=0)
    assert refused.value.code == "invalid"
    assert selectors.member_for_new_person(user=member_admin).pk == member_admin.member_id


def test_adding_a_person_to_an_invisible_member_is_not_found(client_for, member_admin) -> None:
    applied = MemberFactory(status="applied", legal_name="Secret Applicant")
    client = client_for(member_admin)
    answers = []
    for member_id in (applied.pk, applied.pk + 1000):  # unseen and nonexistent look the same
        body = {"member": member_id, "username": "sneak", "email": "s@firm.example", "role": "analyst"}
        response = client.post("/api/v1/users/", body, format="json")
        assert response.status_code == 404, response.content
        answers.append((response.json()["code"], response.json()["detail"]))
    assert answers[0] == answers[1]
    assert "Secret Applicant" not in response.content.decode()
    assert not User.objects.filter(username="sneak").exists()
