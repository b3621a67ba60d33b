"""The API root links to the whole API, so that a partner who starts at /api/v1/ finds every collection."""

from __future__ import annotations

from typing import Any
from urllib.parse import urlsplit

import pytest
from drf_spectacular.generators import SchemaGenerator


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
