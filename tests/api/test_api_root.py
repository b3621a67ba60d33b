"""The API root links to the whole API, so that a partner who starts at /api/v1/ finds every collection."""

from __future__ import annotations

from typing import Any
from urllib.parse import urlsplit

import pytest
from drf_spectacular.generators import SchemaGenerator

from consortium.api.urls import API_ROOT, AUDIT_ONLY


@pytest.fixture(scope="module")
def paths() -> dict[str, Any]:
    return SchemaGenerator().get_schema(request=None, public=True)["paths"]


def _collections(paths: dict[str, Any]) -> set[str]:
    """The schema's paths under /api/v1/ that take no path parameter, less the actions below another such
    path (a collection's CSV, the latest checkpoint): those are found from their collection."""
    fixed = {path for path in paths if path.startswith("/api/v1/") and "{" not in path}
    return {path for path in fixed if path.rstrip("/").rsplit("/", 1)[0] + "/" not in fixed}


def _root(client: Any) -> dict[str, str]:
    response = client.get("/api/v1/", HTTP_ACCEPT="application/json")
    assert response.status_code == 200
    return response.json()


def test_the_root_links_to_every_collection_of_the_schema(client_for, officer, paths) -> None:
    links = _root(client_for(officer))
    assert {urlsplit(url).path for url in links.values()} == _collections(paths)
    # each link is named by its path below /api/v1/
    assert all(urlsplit(url).path == f"/api/v1/{name}/" for name, url in links.items())


def test_every_link_of_the_root_answers_as_its_schema_says(client_for, officer, paths) -> None:
    client = client_for(officer)
    for url in _root(client).values():
        path = urlsplit(url).path
        status = client.get(path, HTTP_ACCEPT="application/json").status_code
        if "get" not in paths[path]:
            assert status == 405, path  # a collection one only adds to (affiliation links)
        elif any(parameter.get("required") for parameter in paths[path]["get"].get("parameters", [])):
            assert status == 400, path  # the proofs, whose query parameters a link cannot carry
        else:
            assert status == 200, path


def test_the_root_asks_who_is_calling(api_client) -> None:
    assert api_client.get("/api/v1/", HTTP_ACCEPT="application/json").status_code == 401


def test_the_root_names_only_collections_that_exist(client_for, auditor) -> None:
    # DRF's root leaves out, without a word, a name it cannot reverse: statements and the leaderboard,
    # which are read by epoch only, were listed and never linked.
    assert set(_root(client_for(auditor))) == set(API_ROOT)


@pytest.mark.parametrize(
    "caller", ["member_admin", "analyst", "data_steward", "security_officer", "officer", "auditor", "key"]
)
def test_each_caller_is_linked_only_to_what_answers_them(request, client_for, key_client, caller) -> None:
    """Every link of the root answers the caller (neither 404 nor 500): the credit oversight collections,
    404 to all but auditors and officers, were linked for everyone."""
    client = key_client(["read", "request", "manage"])[0] if caller == "key" else None
    client = client or client_for(request.getfixturevalue(caller))
    links = _root(client)
    audits = caller in ("officer", "auditor")
    assert set(links) == (set(API_ROOT) if audits else set(API_ROOT) - AUDIT_ONLY)
    answers = {
        name: client.get(urlsplit(url).path, HTTP_ACCEPT="application/json") for name, url in links.items()
    }
    assert {
        name: answer.status_code for name, answer in answers.items() if answer.status_code in (404, 500)
    } == {}
