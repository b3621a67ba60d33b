"""A list's own parameters are strict and its pages are cut from a total order (consortium.api.pagination,
consortium.api.filters.OrderingFilter):

- `page_size` that is not a whole number from 1 is a 400 invalid_page_size naming it (DRF read `abc`, `0`
  and `-1` as the default size); one above API_MAX_PAGE_SIZE is the maximum;
- `page` that is not a whole number from 1 (or `last`) is a 400 invalid_page naming it (DRF answered 404
  "Invalid page." as for a page past the last, which stays a 404);
- `ordering` naming a field the list does not take is a 400 invalid_ordering listing those it takes (DRF
  dropped it and answered in the default order);
- rows equal on every key of the order come in the order of their id, in the direction of the last key, so
  walking a list one row per page gives every row once; a cursor list orders by a unique column.
"""

from __future__ import annotations

from datetime import timedelta
from typing import Any

import pytest
from django.conf import settings
from django.core.exceptions import ImproperlyConfigured
from django.urls import resolve
from django.utils import timezone
from drf_spectacular.generators import SchemaGenerator
from rest_framework import generics, serializers
from rest_framework.permissions import AllowAny
from rest_framework.test import APIRequestFactory

from consortium.api.pagination import CursorPagination
from consortium.models import Member
from exchange.models import AccessRequest, Dataset, Grant
from tests.api.test_problems import assert_problem
from tests.exchange.support import published, register, request_access
from tests.factories import MemberFactory, UserFactory

pytestmark = pytest.mark.django_db

NOT_POSITIVE_WHOLE_NUMBERS = ["abc", "0", "-1", "1.5", "1e1", " 2", "2 ", "+2", "٢", "0x10", "00"]


@pytest.fixture
def three_datasets(data_steward) -> list[Dataset]:
    return [register(data_steward, title=f"Dataset {n}") for n in range(3)]


# --- page_size --------------------------------------------------------------------------------------------


@pytest.mark.parametrize("value", NOT_POSITIVE_WHOLE_NUMBERS)
def test_a_page_size_that_is_not_a_whole_number_from_1_is_a_400_naming_it(
    client_for, data_steward, auditor, three_datasets, value
) -> None:
    for client, path in [
        (client_for(data_steward), "/api/v1/datasets/"),  # pages by number
        (client_for(auditor), "/api/v1/ledger/entries/"),  # pages by cursor
    ]:
        body = assert_problem(client.get(path, {"page_size": value}), 400, "invalid_page_size")
        assert list(body["errors"]) == ["page_size"], path
        assert str(settings.API_MAX_PAGE_SIZE) in body["errors"]["page_size"][0]


@pytest.mark.parametrize(("value", "rows"), [("", 3), ("2", 2), ("02", 2), ("100000", 3), ("9" * 40, 3)])
def test_a_page_size_from_1_is_taken_up_to_the_maximum_and_an_empty_one_is_the_default(
    client_for, data_steward, three_datasets, value, rows
) -> None:
    response = client_for(data_steward).get("/api/v1/datasets/", {"page_size": value})
    assert response.status_code == 200
    assert len(response.json()["results"]) == rows


def test_a_page_size_above_the_maximum_gives_the_maximum(client_for, officer) -> None:
    MemberFactory.create_batch(settings.API_MAX_PAGE_SIZE + 1)
    body = client_for(officer).get("/api/v1/members/", {"page_size": settings.API_MAX_PAGE_SIZE + 1}).json()
    assert len(body["results"]) == settings.API_MAX_PAGE_SIZE and body["next"]


# --- page -------------------------------------------------------------------------------------------------


@pytest.mark.parametrize("value", NOT_POSITIVE_WHOLE_NUMBERS)
def test_a_page_that_is_not_a_whole_number_from_1_is_a_400_naming_it(
    client_for, data_steward, three_datasets, value
) -> None:
    response = client_for(data_steward).get("/api/v1/datasets/", {"page": value})
    body = assert_problem(response, 400, "invalid_page")
    assert list(body["errors"]) == ["page"]


def test_a_page_past_the_last_stays_a_404_and_last_and_empty_stay_pages(
    client_for, data_steward, three_datasets
) -> None:
    client = client_for(data_steward)

    def ids(**query: Any) -> list[int]:
        response = client.get("/api/v1/datasets/", {"page_size": 2, **query})
        assert response.status_code == 200, response.content
        return [row["id"] for row in response.json()["results"]]

    past = assert_problem(client.get("/api/v1/datasets/", {"page_size": 2, "page": 3}), 404, "not_found")
    assert past["detail"] == "There is no page 3: this list has 2 pages of 2 rows. `page=last` is the last."
    far = assert_problem(client.get("/api/v1/datasets/", {"page": "9" * 40}), 404, "not_found")
    assert (
        far["detail"]
        == f"There is no page {'9' * 40}: this list has 1 page of 20 rows. `page=last` is the last."
    )
    assert ids(page="") == ids(page="1") == ids()
    assert ids(page="last") == ids(page="2") == [three_datasets[0].pk]


# --- ordering ---------------------------------------------------------------------------------------------


@pytest.mark.parametrize(
    "value", ["bogus", "title,bogus", "--title", "+title", "title,", ",title", "-", "id"]
)
def test_an_ordering_the_list_does_not_take_is_a_400_naming_the_fields_it_takes(
    client_for, data_steward, three_datasets, value
) -> None:
    response = client_for(data_steward).get("/api/v1/datasets/", {"ordering": value})
    body = assert_problem(response, 400, "invalid_ordering")
    assert list(body["errors"]) == ["ordering"]
    for field in ("created_at", "title", "grade"):
        assert field in body["errors"]["ordering"][0]


@pytest.mark.parametrize(
    "path",
    [
        "/api/v1/members/",
        "/api/v1/users/",
        "/api/v1/api-keys/",
        "/api/v1/clusters/",
        "/api/v1/access-requests/",
        "/api/v1/grants/",
        "/api/v1/ledger/checkpoints/",
        "/api/v1/credit/affiliation-claims/",
    ],
)
def test_every_list_that_takes_an_ordering_refuses_an_unknown_field(client_for, officer, path) -> None:
    assert_problem(client_for(officer).get(path, {"ordering": "bogus"}), 400, "invalid_ordering")


def test_every_ordering_a_list_offers_orders_it(client_for, officer) -> None:
    """Each key the schema offers a list (its ordering_fields, either way) is one the list can order by: a
    name that is not a column of the list's rows (the affiliation claims offered `state`, a serializer
    field) was a FieldError, a 500."""
    schema = SchemaGenerator().get_schema(request=None, public=True)
    offered = {
        path: parameter["schema"]["items"]["enum"]
        for path, operations in schema["paths"].items()
        for parameter in operations.get("get", {}).get("parameters", [])
        if parameter["name"] == "ordering"
    }
    assert "/api/v1/credit/affiliation-claims/" in offered
    client = client_for(officer)
    answers = {
        (path, key): client.get(path, {"ordering": key}).status_code
        for path, keys in offered.items()
        for key in keys
    }
    assert {answer for answer in answers.values()} == {200}, answers


def test_descending_fields_and_lists_of_fields_order_the_list(client_for, data_steward) -> None:
    b = register(data_steward, title="B", grade=2)
    a = register(data_steward, title="A", grade=2)
    c = register(data_steward, title="C", grade=1)
    client = client_for(data_steward)

    def ids(ordering: str) -> list[int]:
        response = client.get("/api/v1/datasets/", {"ordering": ordering})
        assert response.status_code == 200, response.content
        return [row["id"] for row in response.json()["results"]]

    assert ids("title") == [a.pk, b.pk, c.pk]
    assert ids("-title") == [c.pk, b.pk, a.pk]
    assert ids("-grade,title") == ids(" -grade , title ") == [a.pk, b.pk, c.pk]
    assert ids("") == ids("-created_at") == [c.pk, a.pk, b.pk]


def test_the_schema_gives_the_orderings_and_the_bounds_of_the_page_parameters() -> None:
    schema = SchemaGenerator().get_schema(request=None, public=True)
    parameters = {p["name"]: p for p in schema["paths"]["/api/v1/datasets/"]["get"]["parameters"]}
    ordering = parameters["ordering"]
    assert (ordering["style"], ordering["explode"]) == ("form", False)
    assert ordering["schema"]["items"]["enum"] == [
        "created_at",
        "-created_at",
        "title",
        "-title",
        "grade",
        "-grade",
    ]
    assert parameters["page"]["schema"]["minimum"] == parameters["page_size"]["schema"]["minimum"] == 1
    assert "invalid_page_size" in parameters["page_size"]["description"]
    entries = {p["name"]: p for p in schema["paths"]["/api/v1/ledger/entries/"]["get"]["parameters"]}
    assert entries["page_size"]["schema"]["minimum"] == 1
    # An action under one object orders nothing: it documents no ordering.
    versions = schema["paths"]["/api/v1/datasets/{id}/versions/"]["get"]["parameters"]
    assert "ordering" not in {p["name"] for p in versions}


# --- total orders -----------------------------------------------------------------------------------------


def _one_row_per_page(client: Any, path: str, **query: Any) -> list[int]:
    """The ids of the list walked one row per page, by page number."""
    ids, page = [], 1
    while True:
        response = client.get(path, {**query, "page_size": 1, "page": page})
        assert response.status_code == 200, response.content
        ids += [row["id"] for row in response.json()["results"]]
        if not response.json()["next"]:
            return ids
        page += 1


def test_datasets_of_one_title_come_in_the_order_of_their_ids_page_after_page(
    client_for, data_steward
) -> None:
    same = [register(data_steward, title="Same title").pk for _ in range(4)]
    first = register(data_steward, title="A first").pk
    client = client_for(data_steward)
    assert _one_row_per_page(client, "/api/v1/datasets/", ordering="title") == [first, *same]
    assert _one_row_per_page(client, "/api/v1/datasets/", ordering="-title") == [*reversed(same), first]
    # The tiebreaker follows the last field given.
    assert _one_row_per_page(client, "/api/v1/datasets/", ordering="-title,grade") == [*same, first]


def test_access_requests_of_one_state_come_in_the_order_of_their_ids(client_for, data_steward) -> None:
    dataset = published(data_steward, tier="open")
    requests = [
        request_access(UserFactory(member=MemberFactory(), member_role="analyst"), dataset).pk
        for _ in range(4)
    ]
    assert len(set(AccessRequest.objects.values_list("state", flat=True))) == 1
    client = client_for(data_steward)
    assert _one_row_per_page(client, "/api/v1/access-requests/", ordering="state") == sorted(requests)
    assert _one_row_per_page(client, "/api/v1/access-requests/", ordering="-state") == sorted(requests)[::-1]


def test_grants_from_one_time_come_in_the_order_of_their_ids(client_for, data_steward) -> None:
    dataset = published(data_steward, tier="open")
    for _ in range(4):
        request_access(UserFactory(member=MemberFactory(), member_role="analyst"), dataset)
    Grant.objects.update(valid_from=timezone.now() - timedelta(hours=1))
    grants = sorted(Grant.objects.values_list("pk", flat=True))
    assert len(grants) == 4
    client = client_for(data_steward)
    assert _one_row_per_page(client, "/api/v1/grants/", ordering="valid_from") == grants
    assert _one_row_per_page(client, "/api/v1/grants/", ordering="-valid_from") == grants[::-1]


def test_a_lists_own_order_is_total_too(client_for, officer) -> None:
    """Members are listed by legal name when the client asks no order: those of one name by id. The first
    one is changed after the others, which moves its row after theirs in PostgreSQL's table: read in that
    order, it came last."""
    same = [MemberFactory(legal_name="Same Name Co., Ltd.").pk for _ in range(3)]
    MemberFactory(legal_name="A First Co., Ltd.")
    Member.objects.filter(pk=same[0]).update(region="Beijing")
    walked = _one_row_per_page(client_for(officer), "/api/v1/members/")
    assert [pk for pk in walked if pk in same] == same


# --- cursors ----------------------------------------------------------------------------------------------


class _TitleSerializer(serializers.ModelSerializer):
    class Meta:
        model = Dataset
        fields = ["id", "title"]


class _ByTitle(CursorPagination):
    ordering = "title"


class _DatasetsByTitle(generics.ListAPIView):
    queryset = Dataset.objects.all()
    serializer_class = _TitleSerializer
    pagination_class = _ByTitle
    permission_classes = [AllowAny]
    authentication_classes: list[Any] = []


def test_a_cursor_over_a_column_rows_share_is_refused(data_steward) -> None:
    """DRF positions a cursor on the ordering's first key alone: over titles two datasets share it skips or
    repeats rows as rows come and go. Such a paginator is a programming error, refused at once."""
    register(data_steward, title="Same")
    register(data_steward, title="Same")
    with pytest.raises(ImproperlyConfigured, match="'title'"):
        _DatasetsByTitle.as_view()(APIRequestFactory().get("/", {"page_size": 1}))


def test_every_cursor_list_orders_by_a_unique_column(auditor, client_for) -> None:
    schema = SchemaGenerator().get_schema(request=None, public=True)
    cursor_lists = [
        path
        for path, operations in schema["paths"].items()
        if any(p["name"] == "cursor" for p in operations.get("get", {}).get("parameters", []))
    ]
    assert cursor_lists == ["/api/v1/ledger/entries/"]
    for path in cursor_lists:
        view = resolve(path).func.cls
        assert issubclass(view.pagination_class, CursorPagination)
        assert client_for(auditor).get(path).status_code == 200  # the paginator checks its ordering


def test_only_the_lists_that_search_document_a_search() -> None:
    """DRF's SearchFilter was a default backend with no view naming fields to search: it put a `search`
    parameter it ignored on every list (`?search=x` on the grants listed every grant). The catalog and the
    member directory search with their own filters."""
    schema = SchemaGenerator().get_schema(request=None, public=True)
    searching = {
        path
        for path, operations in schema["paths"].items()
        if any(p["name"] == "search" for p in operations.get("get", {}).get("parameters", []))
    }
    assert searching == {"/api/v1/datasets/", "/api/v1/members/"}
