"""One rule for the query parameters of every list, walked over the OpenAPI schema so that a new list or a new
filter is checked without being named here (found by fuzzing /api/v1/ against its schema with schemathesis):

- an empty value (`?epoch=`) is the parameter not given, as django-filter and DRF's serializers read it;
  `?code=` on the credit transfers was a 400 while every other filter, `?page=` and `?cursor=` read it so;
- an integer filter refuses what is not a whole number, or is past the bounds the schema shows, with a 400
  naming it (`?order_min=2.5` was read as 2.5 and answered a 200, as `?member=2.5` was before 0198d48);
- a cursor is the empty value (the first page) or one the API handed out: DRF read text that decodes to
  nothing (`?cursor=%20`, `?cursor=YQ==`) as the first page;
- every operation whose answer is negotiated documents the 406 it gives to an Accept it cannot meet.
"""

from __future__ import annotations

import base64
import json
from typing import Any
from urllib.parse import urlencode

import pytest
from drf_spectacular.generators import SchemaGenerator
from rest_framework.test import APIClient

from tests.api.test_problems import assert_problem
from tests.api.test_query_counts import OBJECT_LISTS, QUERIES, list_operations
from tests.query_counts import SMALL, World, api_client_as, at_scale

pytestmark = pytest.mark.django_db

# Whose answer a parameter is compared in: the first of these that reads the list with rows. Staff first:
# they see the most (an auditor every credit and ledger row, an officer every member and person).
READERS = (
    "auditor",
    "officer",
    "member_admin",
    "data_steward",
    "analyst",
    "api_key_full",
    "security_officer",
)
# The paginators' own parameters refuse what is not a page size or page with their own codes
# (invalid_page_size, invalid_page), and take a page size above the maximum as the maximum, which
# tests/api/test_list_parameters.py checks.
PAGINATION = {"page", "page_size"}


@pytest.fixture(scope="module")
def openapi() -> dict[str, Any]:
    return SchemaGenerator().get_schema(request=None, public=True)


def _query_parameters(operation: dict[str, Any]) -> list[dict[str, Any]]:
    return [parameter for parameter in operation.get("parameters", []) if parameter["in"] == "query"]


def _get(client: APIClient, world: World, path: str, **query: Any) -> Any:
    """GET `path` (its path parameters from OBJECT_LISTS) with QUERIES' parameters updated by `query`; a
    parameter given as None is left out."""
    arguments = OBJECT_LISTS[path](world) if "{" in path else {}
    asked = {**(QUERIES[path](world) if path in QUERIES else {}), **query}
    encoded = urlencode({name: value for name, value in asked.items() if value is not None}, doseq=True)
    return client.get(f"{path.format(**arguments)}?{encoded}")


def _answer(response: Any) -> tuple[int, Any]:
    """What an answer says, for comparing two: its status and, for a problem, its code; for a page, all
    but the links to the next and previous pages (they repeat the query), and whether there are any."""
    body = b"".join(response.streaming_content) if response.streaming else response.content
    if "json" not in response.get("Content-Type", ""):
        return response.status_code, body
    data = json.loads(body)
    if response.status_code >= 400:
        return response.status_code, data["code"]
    if isinstance(data, dict):
        for link in ("next", "previous"):
            if link in data:
                data[link] = data[link] is not None
    return response.status_code, data


def _rows(answer: tuple[int, Any]) -> int:
    status, data = answer
    if status != 200:
        return 0
    if isinstance(data, bytes):
        return data.count(b"\n") - 1  # CSV: the lines after the header
    if isinstance(data, dict):
        data = data.get("results", data.get("lines", [data]))
    return len(data)


def _readers(world: World, operations: dict[str, dict[str, Any]]) -> dict[str, tuple[APIClient, int]]:
    """For each path, the client of the first of READERS that reads it (a 200), with the rows it sees."""
    clients = {role: api_client_as(world, role) for role in READERS}
    found = {}
    for path in operations:
        for role in READERS:
            answer = _answer(_get(clients[role], world, path))
            if answer[0] == 200 and (_rows(answer) > 0 or role == READERS[-1]):
                found[path] = (clients[role], _rows(answer))
                break
    return found


def test_an_empty_query_parameter_is_the_parameter_not_given(openapi) -> None:
    operations = list_operations(openapi)

    def measure(world: World) -> list[str]:
        readers = _readers(world, operations)
        # Every operation was read, every list with rows: an empty value that matched nothing would differ.
        assert set(readers) == set(operations)
        empty_lists = {path for path, (_, rows) in readers.items() if rows == 0}
        assert empty_lists <= {"/api/v1/me/", "/api/v1/credit/totals/", "/api/v1/ledger/status/"}, empty_lists
        differing = []
        for path, operation in operations.items():
            client, _ = readers[path]
            for parameter in _query_parameters(operation):
                name = parameter["name"]
                without = _answer(_get(client, world, path, **{name: None}))
                empty = _answer(_get(client, world, path, **{name: ""}))
                if empty != without:
                    differing.append(f"{path}?{name}= answered {empty[0]}, without it {without[0]}")
        return differing

    assert at_scale(SMALL, measure) == []


def test_every_optional_query_parameter_is_documented_as_one_that_may_be_empty(openapi) -> None:
    """OpenAPI 3.0 reads an empty value as refused unless the parameter allows it (`allowEmptyValue`); a
    fuzzer then sent `?epoch=` expecting a 400. A required one may not be empty: it is then missing."""
    seen = set()
    for path, operations in openapi["paths"].items():
        for method, operation in operations.items():
            for parameter in _query_parameters(operation):
                required = parameter.get("required", False)
                assert parameter.get("allowEmptyValue", False) is not required, (method, path, parameter)
                seen.add(required)
    assert seen == {True, False}


def test_an_empty_value_among_others_is_dropped(client_for, auditor) -> None:
    """`?code=&code=mint` is `?code=mint` (the empty one refused the whole list, as `?code=` did)."""
    client = client_for(auditor)
    alone = client.get("/api/v1/credit/transfers/", {"code": "mint"})
    with_empty = client.get("/api/v1/credit/transfers/", {"code": ["", "mint"]})
    assert with_empty.status_code == alone.status_code == 200
    assert with_empty.json() == alone.json()


NOT_WHOLE_NUMBERS = ["2.5", "2e0", "1.5e1", "0x10", "abc"]


def _integer_filters(operations: dict[str, dict[str, Any]]) -> dict[str, list[dict[str, Any]]]:
    found: dict[str, list[dict[str, Any]]] = {}
    for path, operation in operations.items():
        for parameter in _query_parameters(operation):
            if parameter["schema"].get("type") == "integer" and parameter["name"] not in PAGINATION:
                found.setdefault(path, []).append(parameter)
    return found


def test_an_integer_filter_refuses_what_is_not_a_whole_number_in_its_bounds(openapi) -> None:
    filters = _integer_filters(list_operations(openapi))
    names = {
        f"{path} {parameter['name']}" for path, parameters in filters.items() for parameter in parameters
    }
    # The walk finds the integer filters there are (it would pass vacuously if it found none).
    assert {
        "/api/v1/credit/transfers/ order_min",
        "/api/v1/credit/transfers/ order_max",
        "/api/v1/credit/transfers/ member",
        "/api/v1/ledger/entries/ member",
        "/api/v1/datasets/ owner",
    } <= names

    def measure(world: World) -> list[str]:
        readers = _readers(world, {path: {} for path in filters})
        accepted = []
        for path, parameters in filters.items():
            client, _ = readers[path]
            for parameter in parameters:
                name, schema = parameter["name"], parameter["schema"]
                refused = list(NOT_WHOLE_NUMBERS)
                if "maximum" in schema:
                    refused.append(str(schema["maximum"] + 1))
                if "minimum" in schema:
                    refused.append(str(schema["minimum"] - 1))
                for value in refused:
                    response = _get(client, world, path, **{name: value})
                    if response.status_code != 400:
                        accepted.append(f"{path}?{name}={value} answered {response.status_code}")
                    else:
                        body = assert_problem(response, 400, "validation_error")
                        assert name in body["errors"], (path, name, value, body)
        return accepted

    assert at_scale(SMALL, measure) == []


def test_the_credit_order_filters_take_whole_numbers_and_show_their_bounds(
    openapi, client_for, auditor
) -> None:
    parameters = {
        parameter["name"]: parameter["schema"]
        for parameter in openapi["paths"]["/api/v1/credit/transfers/"]["get"]["parameters"]
    }
    for name in ("order_min", "order_max"):
        assert parameters[name] == {
            "type": "integer",
            "format": "int64",
            "minimum": -(2**63),
            "maximum": 2**63 - 1,
        }
        assert client_for(auditor).get("/api/v1/credit/transfers/", {name: "-3"}).status_code == 200
        body = assert_problem(
            client_for(auditor).get("/api/v1/credit/transfers/", {name: "2.5"}), 400, "validation_error"
        )
        assert body["errors"] == {name: ["Enter a whole number."]}


def test_the_credit_order_and_epoch_filters_select_what_they_name() -> None:
    def measure(world: World) -> None:
        client = api_client_as(world, "auditor")
        listed = client.get("/api/v1/credit/transfers/", {"page_size": 100}).json()["results"]
        orders = sorted({row["order"] for row in listed})
        low, high = orders[1], orders[-2]
        between = client.get(
            "/api/v1/credit/transfers/", {"order_min": low, "order_max": high, "page_size": 100}
        ).json()["results"]
        assert sorted({row["order"] for row in between}) == [
            order for order in orders if low <= order <= high
        ]
        for path in ("/api/v1/credit/transfers/", "/api/v1/credit/flags/"):
            assert client.get(path, {"epoch": world.epoch}).json()["count"] > 0, path
            assert client.get(path, {"epoch": "1999-01"}).json()["count"] == 0, path

    at_scale(SMALL, measure)


@pytest.mark.parametrize(
    "path", ["/api/v1/credit/statements/2026-01/", "/api/v1/credit/statements/2026-01/csv/"]
)
@pytest.mark.parametrize("value", ["0", "-1", str(2**63)])
def test_a_statements_member_is_a_row_id_like_every_other_member_filter(
    client_for, auditor, path, value
) -> None:
    """`?member=` is a row id (1 to 2**63-1) on the balances, transfers and ledger entries: a 400 naming it
    otherwise. The statements read any integer and answered 404 "No such member"."""
    body = assert_problem(client_for(auditor).get(path, {"member": value}), 400, "validation_error")
    assert list(body["errors"]) == ["member"]


# --- the epoch: one parameter, checked alike on both credit lists that take it ----------------------------

EPOCH_LISTS = ["/api/v1/credit/transfers/", "/api/v1/credit/flags/"]


@pytest.mark.parametrize("path", EPOCH_LISTS)
@pytest.mark.parametrize("value", ["abc", "2026-1", "2026-011", "202611", "2026-11:3", "%"])
def test_an_epoch_that_is_not_yyyy_mm_is_a_400_on_every_list_that_takes_one(
    client_for, auditor, path, value
) -> None:
    """The transfers read any text as an epoch that does not exist and answered 200 with no rows, where the
    flags refused it: now both refuse it, naming the parameter."""
    body = assert_problem(client_for(auditor).get(path, {"epoch": value}), 400, "validation_error")
    assert list(body["errors"]) == ["epoch"]


@pytest.mark.parametrize(("value", "status"), [("", 200), (" ", 400)])
def test_an_empty_epoch_is_no_epoch_and_spaces_are_not_an_epoch_on_both_lists(
    client_for, auditor, value, status
) -> None:
    """The flags refused spaces (blank) and the transfers took them for an epoch that does not exist."""
    for path in EPOCH_LISTS:
        assert client_for(auditor).get(path, {"epoch": value}).status_code == status, path


def test_both_lists_show_the_same_epoch_parameter(openapi) -> None:
    shown = [
        next(p["schema"] for p in openapi["paths"][path]["get"]["parameters"] if p["name"] == "epoch")
        for path in EPOCH_LISTS
    ]
    assert shown[0]["pattern"] == shown[1]["pattern"] == r"^[0-9]{4}-[0-9]{2}$"


# --- cursors ---------------------------------------------------------------------------------------------


def _cursor(text: str) -> str:
    return base64.b64encode(text.encode()).decode()


# Each decoded by DRF as a cursor (some as the first page), none one the API hands out.
NOT_CURSORS = [
    " ",  # decodes to nothing: read as the first page
    "!!!!",  # the same
    "YQ==",  # "a": no position, read as the first page
    _cursor("o=1"),  # an offset without a position
    _cursor("r=1"),
    _cursor("p=3&x=1"),  # a token no cursor has
    _cursor("p=3&p=4"),  # a position given twice
    "cD0z!",  # "p=3" with a character base64 has not (DRF dropped it)
    "cD0z\n",
    "c D0z",
]


def _cursor_lists(openapi: dict[str, Any]) -> list[str]:
    return [
        path
        for path, operation in list_operations(openapi).items()
        if any(parameter["name"] == "cursor" for parameter in _query_parameters(operation))
    ]


@pytest.mark.parametrize("cursor", NOT_CURSORS)
def test_a_cursor_the_api_did_not_hand_out_is_a_400_on_every_cursor_list(
    openapi, client_for, auditor, cursor
) -> None:
    paths = _cursor_lists(openapi)
    assert "/api/v1/ledger/entries/" in paths  # the walk finds the cursor lists there are
    for path in paths:
        response = client_for(auditor).get(path, {"cursor": cursor})
        body = assert_problem(response, 400, "invalid_cursor")
        assert list(body["errors"]) == ["cursor"]


def test_the_cursors_the_api_hands_out_lead_forward_and_back() -> None:
    """Every `next` and `previous` link is followed as given, to the last page and back to the first; an
    empty cursor is the first page, as the cursor not given (and as every other empty parameter)."""

    def measure(world: World) -> None:
        client = api_client_as(world, "auditor")
        first = client.get("/api/v1/ledger/entries/", {"page_size": 40}).json()
        assert client.get("/api/v1/ledger/entries/", {"page_size": 40, "cursor": ""}).json() == first
        pages, page = [first], first
        while page["next"]:
            page = client.get(page["next"]).json()
            pages.append(page)
        assert len(pages) >= 3
        seqs = [row["seq"] for each in pages for row in each["results"]]
        assert seqs == list(range(world.tree_size))
        back = [page]
        while page["previous"]:
            page = client.get(page["previous"]).json()
            back.append(page)
        assert [row["seq"] for each in reversed(back) for row in each["results"]] == seqs

    at_scale(SMALL, measure)
