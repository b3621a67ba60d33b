"""No REST list costs more queries for more rows. Every list operation of the OpenAPI schema (each GET
without path parameters, and each GET under one object whose answer is a list: a dataset's versions, a
request's receipts, a statement's lines) is called by every role, in the same world built with 2 and with 6
units of everything (tests/query_counts.py); each role that may see it must run as many queries at both
sizes. A new endpoint is in the schema, so it is checked without being named here; one under an object
fails until OBJECT_LISTS says which object to ask about.
"""

from __future__ import annotations

from collections.abc import Callable
from datetime import timedelta
from typing import Any
from urllib.parse import urlencode

import pytest
from drf_spectacular.generators import SchemaGenerator

from consortium.api import authentication
from tests.query_counts import (
    LARGE,
    SMALL,
    Visit,
    Visits,
    World,
    api_client_as,
    assert_same_costs,
    at_scale,
    visit,
)

pytestmark = pytest.mark.django_db

# The browsable API is on: staff read lists in it, with its filter forms.
FACES = {"json": "application/json", "browsable": "text/html"}
ROLES = (
    "member_admin",
    "data_steward",
    "analyst",
    "api_key_read",
    "api_key_full",
    "officer",
    "security_officer",
    "auditor",
    "anonymous",
)
# Which object each list under one object is asked about: the one whose list grows with the units.
OBJECT_LISTS: dict[str, Callable[[World], dict[str, Any]]] = {
    "/api/v1/members/{id}/history/": lambda world: {"id": world.own.pk},
    "/api/v1/datasets/{id}/versions/": lambda world: {"id": world.dataset.pk},
    "/api/v1/access-requests/{id}/receipts/": lambda world: {"id": world.access_request.pk},
    "/api/v1/credit/statements/{epoch}/": lambda world: {"epoch": world.epoch},
    "/api/v1/credit/statements/{epoch}/csv/": lambda world: {"epoch": world.epoch},
    "/api/v1/credit/leaderboard/{epoch}/": lambda world: {"epoch": world.epoch},
}
# Query parameters besides the largest page: those an operation requires, and the member whose statement
# an auditor reads (the own member's people may name their own).
QUERIES: dict[str, Callable[[World], dict[str, Any]]] = {
    "/api/v1/ledger/proofs/inclusion/": lambda world: {"tree_size": world.tree_size, "seq": 0},
    "/api/v1/ledger/proofs/consistency/": lambda world: {"first": 1, "second": world.tree_size},
    "/api/v1/credit/statements/{epoch}/": lambda world: {"member": world.own.pk},
    "/api/v1/credit/statements/{epoch}/csv/": lambda world: {"member": world.own.pk},
}
# Answers that show no more of the world when it grows (one object, totals, the signing key): their cost
# is compared all the same.
NOT_LISTS = {
    "/health/",
    "/api/v1/health/",
    "/api/v1/me/",
    "/api/v1/credit/totals/",
    "/api/v1/credit/epochs/",  # a list, but both worlds hold one epoch (a month's); its cost is measured
    "/api/v1/ledger/status/",
    "/api/v1/ledger/keys/",
    "/api/v1/ledger/checkpoints/latest/",
    "/api/v1/ledger/proofs/inclusion/",
    "/api/v1/ledger/proofs/consistency/",
}


@pytest.fixture(scope="module")
def openapi() -> dict[str, Any]:
    return SchemaGenerator().get_schema(request=None, public=True)


def _resolve(openapi: dict[str, Any], schema: dict[str, Any]) -> dict[str, Any]:
    while "$ref" in schema:
        schema = openapi["components"]["schemas"][schema["$ref"].rsplit("/", 1)[1]]
    return schema


def _is_list(openapi: dict[str, Any], operation: dict[str, Any]) -> bool:
    """Whether the operation answers with rows: CSV, a JSON array, or an object holding an array of
    objects (a page of results, a statement's lines)."""
    content = operation["responses"].get("200", {}).get("content", {})
    if "text/csv" in content:
        return True
    schema = _resolve(openapi, content.get("application/json", {}).get("schema", {}))
    shapes = [_resolve(openapi, shape) for shape in schema.get("oneOf", [schema])]
    for shape in shapes:
        if shape.get("type") == "array":
            return True
        for field in shape.get("properties", {}).values():
            field = _resolve(openapi, field)
            if field.get("type") == "array" and "properties" in _resolve(openapi, field.get("items", {})):
                return True
    return False


def list_operations(openapi: dict[str, Any]) -> dict[str, dict[str, Any]]:
    """The GET operations checked, by path: every one without path parameters, and the lists under one
    object."""
    found = {}
    for path, operations in openapi["paths"].items():
        operation = operations.get("get")
        if operation is None:
            continue
        under_an_object = any(parameter["in"] == "path" for parameter in operation.get("parameters", []))
        if not under_an_object or _is_list(openapi, operation):
            found[path] = operation
    return found


def _url(world: World, path: str) -> str:
    arguments = OBJECT_LISTS[path](world) if "{" in path else {}
    query = {"page_size": 100, **(QUERIES[path](world) if path in QUERIES else {})}
    return f"{path.format(**arguments)}?{urlencode(query)}"


def test_every_list_operation_is_checked(openapi) -> None:
    operations = list_operations(openapi)
    under_objects = {path for path in operations if "{" in path}
    assert under_objects == set(OBJECT_LISTS), "say in OBJECT_LISTS which object a new list is asked about"
    assert set(operations) >= NOT_LISTS | {"/api/v1/datasets/", "/api/v1/credit/transfers/csv/"}


def _required_query(operation: dict[str, Any]) -> set[str]:
    return {p["name"] for p in operation.get("parameters", []) if p["in"] == "query" and p.get("required")}


def test_no_list_costs_more_queries_for_more_rows(openapi, monkeypatch) -> None:
    # A key's last use is stamped again once a minute: a slow run would count that UPDATE in one world
    # and not the other. Each world's keys are then stamped once, on the same first visit in both.
    monkeypatch.setattr(authentication, "LAST_USED_RESOLUTION", timedelta(days=1))
    operations = list_operations(openapi)
    paths = sorted(operations)

    def measure(world: World) -> Visits:
        for path in paths:
            missing = _required_query(operations[path]) - set(QUERIES[path](world) if path in QUERIES else {})
            assert not missing, f"{path} requires {missing}: give them in QUERIES"
        clients = {role: api_client_as(world, role) for role in ROLES}
        return {
            (path, role, face): visit(clients[role], _url(world, path), HTTP_ACCEPT=accept)
            for path in paths
            for role in ROLES
            for face, accept in FACES.items()
        }

    small, large = at_scale(SMALL, measure), at_scale(LARGE, measure)
    # Rows are counted in the JSON: the browsable page shows the same rows, as text.
    in_json = {key: visited for key, visited in large.items() if key[2] == "json"}
    assert_same_costs(small, large, not_lists=NOT_LISTS, growing_in=in_json)


def test_the_comparison_catches_a_query_per_row_and_a_list_that_does_not_grow() -> None:
    # The guard above is only as good as this comparison: a synthetic N+1 and a list that shows no more rows.
    one = 'SELECT "exchange_dataset"."id", "exchange_dataset"."title" FROM "exchange_dataset"'
    per_row = 'SELECT "consortium_member"."id" FROM "consortium_member" WHERE "consortium_member"."id" = {}'
    small: Visits = {("datasets", "steward"): Visit(200, (one, *(per_row.format(n) for n in range(2))), 2)}
    large: Visits = {("datasets", "steward"): Visit(200, (one, *(per_row.format(n) for n in range(6))), 6)}
    with pytest.raises(AssertionError, match=r"2 -> 6 times: SELECT \.\.\. FROM \"consortium_member\""):
        assert_same_costs(small, large, not_lists=set())
    flat: Visits = {("datasets", "steward"): Visit(200, (one,), 2)}
    with pytest.raises(AssertionError, match="show no more rows"):
        assert_same_costs(flat, flat, not_lists=set())
    assert_same_costs(flat, {("datasets", "steward"): Visit(200, (one,), 6)}, not_lists=set())
