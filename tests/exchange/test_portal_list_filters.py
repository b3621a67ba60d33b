"""A list page whose search or filter cannot be applied lists nothing, says so and answers 400, as the API
does; it used to say what was wrong above the full, unfiltered list, counted as if it matched."""

from __future__ import annotations

import html
import re
from typing import Any

import pytest
from django.urls import reverse

from tests.exchange.support import as_user, published, request_access

pytestmark = pytest.mark.django_db


def _caption(page: str) -> str:
    return re.findall(r"<caption>([^<]*)</caption>", page)[0]


@pytest.mark.parametrize(
    ("query", "api_status"),
    [({"search": "x" * 101}, 200), ({"grade": "9"}, 400), ({"sector": "ZZ"}, 400)],
    ids=["keyword too long", "no such grade", "no such sector"],
)
def test_a_catalog_search_that_cannot_be_applied_lists_no_dataset(
    client_for: Any, data_steward: Any, other_analyst: Any, query: dict[str, str], api_status: int
) -> None:
    dataset = published(data_steward, tier="open")
    response = as_user(other_analyst).get(reverse("portal:catalog"), query)
    page = html.unescape(response.content.decode())
    assert response.status_code == 400
    assert "There is a problem" in page
    assert _caption(page) == "0 datasets"
    assert reverse("portal:dataset-detail", args=[dataset.pk]) not in page
    assert "Nothing is searched until the search above is corrected." in page
    # the API lists no dataset either: it refuses the filter, and its search (no length limit) finds none
    api = client_for(other_analyst).get("/api/v1/datasets/", query)
    assert api.status_code == api_status
    assert api_status == 400 or api.json()["count"] == 0


@pytest.mark.parametrize("query", [{"q": "x" * 101}, {"size_class": "huge"}, {"status": "nobody"}])
def test_a_member_filter_that_cannot_be_applied_lists_no_member(
    officer: Any, member: Any, other_member: Any, query: dict[str, str]
) -> None:
    response = as_user(officer).get(reverse("portal:member-list"), query)
    page = html.unescape(response.content.decode())
    assert response.status_code == 400
    assert _caption(page) == "0 members"
    assert member.legal_name not in page and other_member.legal_name not in page
    assert "Nothing is listed until the filters above are corrected." in page


@pytest.mark.parametrize(
    ("who", "page_name"), [("other_analyst", "my-requests"), ("data_steward", "incoming-requests")]
)
def test_a_request_filter_that_cannot_be_applied_lists_no_request(
    request: Any, data_steward: Any, other_analyst: Any, who: str, page_name: str
) -> None:
    access_request = request_access(other_analyst, published(data_steward, tier="restricted"))
    response = as_user(request.getfixturevalue(who)).get(reverse(f"portal:{page_name}"), {"state": "nobody"})
    page = html.unescape(response.content.decode())
    assert response.status_code == 400
    assert _caption(page) == "0 requests"
    assert reverse("portal:request-detail", args=[access_request.pk]) not in page
    assert "Nothing is listed until the filter above is corrected." in page
