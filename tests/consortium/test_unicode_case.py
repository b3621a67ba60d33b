"""Case-insensitive search and usernames fold every script's case, on SQLite as on PostgreSQL."""

from __future__ import annotations

import sqlite3

import pytest
from django.db import IntegrityError, transaction
from hypothesis import given, settings
from hypothesis import strategies as st

from consortium.models import User
from consortium.services import people
from consortium.sqlite_unicode import like, lower, upper
from tests.api.test_problems import assert_problem
from tests.factories import MemberFactory, UserFactory


@pytest.mark.django_db
def test_dataset_search_ignores_case_beyond_ascii(client_for, other_steward, other_analyst) -> None:
    from tests.exchange.support import register

    german = register(other_steward, title="Überwachung der Spindeln", keywords=["Ölstand", "50% Last"])
    russian = register(other_steward, title="Датчики вибрации")
    client = client_for(other_analyst)

    def found(search: str) -> list[int]:
        response = client.get("/api/v1/datasets/", {"search": search})
        assert response.status_code == 200, response.content
        return [d["id"] for d in response.json()["results"]]

    assert found("ÜBERWACHUNG") == [german.pk]
    assert found("ölSTAND") == [german.pk]
    assert found("ДАТЧИКИ") == [russian.pk]
    # Each keyword is searched by itself, not the list's JSON text, and % is the character.
    assert found('", "') == []
    assert found("50% LAST") == [german.pk]
    assert found("0%") == [german.pk] and found("500") == []


@pytest.mark.django_db
def test_member_search_ignores_case_beyond_ascii(client_for, officer) -> None:
    MemberFactory(legal_name="Österreichische Stahlwerke")
    MemberFactory(legal_name="Alpha Robotics")
    response = client_for(officer).get("/api/v1/members/", {"search": "österreichische STAHLWERKE"})
    assert response.status_code == 200, response.content
    assert [m["legal_name"] for m in response.json()["results"]] == ["Österreichische Stahlwerke"]


@pytest.mark.django_db
def test_a_username_differing_only_in_case_beyond_ascii_is_taken(client_for, member_admin) -> None:
    UserFactory(username="émile", member=member_admin.member)
    body = {"username": "ÉMILE", "email": "emile@firm.example", "role": "analyst"}
    response = client_for(member_admin).post("/api/v1/users/", body, format="json")
    assert_problem(response, 400, "duplicate_username")


@pytest.mark.django_db
def test_the_database_refuses_such_a_username_when_the_check_is_passed(
    client_for, member_admin, monkeypatch
) -> None:
    UserFactory(username="émile", member=member_admin.member)
    monkeypatch.setattr(people, "_username_taken", lambda username: False)
    body = {"username": "ÉMILE", "email": "emile@firm.example", "role": "analyst"}
    response = client_for(member_admin).post("/api/v1/users/", body, format="json")
    assert_problem(response, 400, "duplicate_username")
    with pytest.raises(IntegrityError), transaction.atomic():
        User.objects.create(username="ÉMILE")
    assert list(User.objects.filter(username__iexact="Émile").values_list("username", flat=True)) == ["émile"]


# The functions themselves, against SQLite's own LIKE, lower() and upper(), which they replace and which
# fold ASCII only: on ASCII text they must answer exactly as SQLite does.
_builtin = sqlite3.connect(":memory:")
_ascii = st.text(st.sampled_from("aAbB_%\\z\n"), max_size=8)


@settings(max_examples=300, deadline=None)
@given(pattern=_ascii, value=_ascii, escape=st.sampled_from([None, "\\", "z"]))
def test_like_answers_as_sqlite_does_on_ascii(pattern: str, value: str, escape: str | None) -> None:
    if escape is None:
        (expected,) = _builtin.execute("SELECT ? LIKE ?", (value, pattern)).fetchone()
        assert like(pattern, value) == expected
    else:
        (expected,) = _builtin.execute("SELECT ? LIKE ? ESCAPE ?", (value, pattern, escape)).fetchone()
        assert like(pattern, value, escape) == expected


@settings(max_examples=100, deadline=None)
@given(value=st.text(st.characters(max_codepoint=127), max_size=12))
def test_lower_and_upper_answer_as_sqlite_does_on_ascii(value: str) -> None:
    assert lower(value) == _builtin.execute("SELECT lower(?)", (value,)).fetchone()[0]
    assert upper(value) == _builtin.execute("SELECT upper(?)", (value,)).fetchone()[0]


def test_like_folds_every_script_and_keeps_sqlite_null_and_escape_rules() -> None:
    assert like("%straße%", "HAUPTSTRASSE") == 0  # simple case folding, as PostgreSQL's ILIKE
    assert like("%ÉMILE%", "chez émile") == 1
    assert like("λ_λ", "ΛΑΛ") == 1
    assert like("100\\%", "100%", "\\") == 1
    assert like("100\\%", "1000", "\\") == 0
    assert like("ab\\", "ab\\", "\\") == 0  # an escape with nothing after it matches nothing
    assert like(None, "x") is None
    assert like("x", None) is None
    assert like("1_", 12) == 1  # numbers compare as their text
    assert lower(None) is None and upper("émile") == "ÉMILE" and lower(5) == "5"
