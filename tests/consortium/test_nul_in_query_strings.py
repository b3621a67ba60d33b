"""A NUL in a query string is refused before any view reads it (consortium.query_strings): PostgreSQL's text
can neither hold nor be compared with it, so the admin's change lists (which filter on any field the query
names) and the portal's credit pages (which look up `?epoch=` as given) answered 500 there. Found by sending
`%00` in every parameter of every page and endpoint against PostgreSQL."""

from __future__ import annotations

import html

import pytest

from tests.api.test_problems import assert_problem
from tests.exchange.support import as_user
from tests.ledger.credit.statement_support import settled_epoch

pytestmark = pytest.mark.django_db


@pytest.mark.parametrize(
    ("who", "address"),
    [
        ("auditor", "/credit/?epoch=%00"),
        ("auditor", "/credit/leaderboard/?epoch=%00"),
        ("officer", "/admin/consortium/member/?region=%00"),
        ("officer", "/admin/consortium/member/?status__exact=%00"),
        ("officer", "/admin/consortium/cluster/?region=%00"),
        ("officer", "/admin/consortium/user/?username=a%00b"),
    ],
)
def test_a_page_asked_with_a_nul_in_its_query_says_so(
    request, who, address, data_steward, other_analyst, member, other_member
) -> None:
    settled_epoch(provider=data_steward, consumer=other_analyst, members=[member, other_member])
    response = as_user(request.getfixturevalue(who)).get(address)
    assert response.status_code == 400
    page = html.unescape(response.content.decode())
    assert "U+0000" in page and "Nothing was looked up or changed." in page
    assert response["Content-Security-Policy"] and response["X-Frame-Options"] == "DENY"


def test_an_api_search_with_a_nul_is_hidden_character_naming_the_parameter(client_for, analyst) -> None:
    response = client_for(analyst).get("/api/v1/datasets/", {"search": "vib\x00", "sector": "C"})
    body = assert_problem(response, 400, "hidden_character")
    assert list(body["errors"]) == ["search"] and "U+0000" in body["errors"]["search"][0]


def test_a_query_without_a_nul_is_answered_as_before(client_for, analyst) -> None:
    assert client_for(analyst).get("/api/v1/datasets/", {"search": "vib\u202e"}).status_code == 200
