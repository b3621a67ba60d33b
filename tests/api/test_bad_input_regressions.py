"""Bad input found by fuzzing the API: each once crashed with a 500 (on SQLite, PostgreSQL or both). Each is
now a 400 problem body with a stable code, and leaves nothing written."""

from __future__ import annotations

import json

import pytest

from consortium.models import Member, User
from exchange.models import Dataset
from ledger.models import LedgerEntry
from tests.api.test_problems import APPLICATION, assert_problem

pytestmark = pytest.mark.django_db


def _state() -> tuple[int, int, int, int]:
    return Member.objects.count(), User.objects.count(), Dataset.objects.count(), LedgerEntry.objects.count()


# --- JSON bodies ----------------------------------------------------------------------------------------


@pytest.mark.parametrize("opening", ["[", '{"a":'])
def test_a_body_nested_past_the_recursion_limit_is_malformed_not_a_crash(api_client, opening) -> None:
    before = _state()
    response = api_client.post("/api/v1/members/", data=opening * 10_000, content_type="application/json")
    body = assert_problem(response, 400, "malformed_request")
    assert "nested too deeply" in body["detail"]
    assert _state() == before


def test_the_catalog_parses_json_with_the_same_parser(client_for, data_steward) -> None:
    # DatasetViewSet names its own parsers (for uploads); its JSON parser must be the API's.
    before = _state()
    response = client_for(data_steward).post(
        "/api/v1/datasets/", data="[" * 10_000, content_type="application/json"
    )
    assert_problem(response, 400, "malformed_request")
    assert _state() == before


def test_a_lone_surrogate_is_malformed_json(client_for, member_admin) -> None:
    # Once a 500: the choice field's error message echoed the string, which the renderer cannot encode.
    before = _state()
    raw = '{"username": "new-person", "email": "new@own.example", "role": "\\ud800"}'
    response = client_for(member_admin).post("/api/v1/users/", data=raw, content_type="application/json")
    body = assert_problem(response, 400, "malformed_request")
    assert "lone surrogate" in body["detail"]
    assert _state() == before


@pytest.mark.parametrize("where", ["key", "nested value"])
def test_a_lone_surrogate_anywhere_in_the_body_is_refused(client_for, member_admin, where) -> None:
    inner = '{"\\udc00": 1}' if where == "key" else '[[{"x": ["\\udbff"]}]]'
    raw = f'{{"username": "p", "email": "p@own.example", "role": "analyst", "extra": {inner}}}'
    response = client_for(member_admin).post("/api/v1/users/", data=raw, content_type="application/json")
    assert_problem(response, 400, "malformed_request")
    assert not User.objects.filter(username="p").exists()


def test_an_escaped_surrogate_pair_is_one_character_and_accepted(api_client) -> None:
    # "\ud83d\ude00" is one emoji: the check must not refuse well-formed pairs.
    raw = json.dumps({**APPLICATION, "contact_name": "Wang Fang \U0001f600"}, ensure_ascii=True)
    assert "\\ud83d\\ude00" in raw
    response = api_client.post("/api/v1/members/", data=raw, content_type="application/json")
    assert response.status_code == 201, response.content
    assert Member.objects.get().contact_name == "Wang Fang \U0001f600"
