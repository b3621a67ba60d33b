"""Every operation whose answer is negotiated answers an Accept header it cannot meet with 406 and the problem
body, and documents it; an operation that answers with a file disregards Accept and documents no 406 (the
schema had none at all)."""

from __future__ import annotations

from typing import Any

import pytest
from drf_spectacular.generators import SchemaGenerator

from tests.api.test_problems import assert_problem
from tests.api.test_schema_conformance import assert_documented

pytestmark = pytest.mark.django_db

# A value each path parameter's pattern takes (a route exists for it; the object need not).
PATH_VALUES = {
    r"^[0-9]+$": "1",
    r"^[0-9]{4}-[0-9]{2}$": "2026-01",
    r"^[0-9]{4}-[0-9]{2}:[0-9]+$": "2026-01:1",
    r"^[A-Za-z0-9]+$": "abc123",
}


@pytest.fixture(scope="module")
def openapi() -> dict[str, Any]:
    return SchemaGenerator().get_schema(request=None, public=True)


def _url(path: str, operation: dict[str, Any]) -> str:
    values = {}
    for parameter in operation.get("parameters", []):
        if parameter["in"] == "path":
            schema = parameter["schema"]
            values[parameter["name"]] = "1" if schema["type"] == "integer" else PATH_VALUES[schema["pattern"]]
    return path.format(**values)


def test_every_operation_documents_the_406_it_gives(openapi, api_client) -> None:
    refusing, disregarding = set(), set()
    for path, operations in openapi["paths"].items():
        for method, operation in operations.items():
            response = getattr(api_client, method)(_url(path, operation), HTTP_ACCEPT="application/xml")
            if response.status_code == 406:
                assert_problem(response, 406, "not_acceptable")
                assert_documented(openapi, response, method, path)
                refusing.add((method, path))
            else:
                assert "406" not in operation["responses"], (method, path, response.status_code)
                disregarding.add((method, path))
    # Both kinds are found: the lists and the actions refuse, the file downloads disregard Accept.
    assert {
        ("get", "/api/v1/datasets/"),
        ("post", "/api/v1/members/"),
        ("get", "/api/v1/health/"),
    } <= refusing
    assert {
        ("get", "/api/v1/credit/transfers/csv/"),
        ("get", "/api/v1/credit/statements/{epoch}/csv/"),
    } <= disregarding
