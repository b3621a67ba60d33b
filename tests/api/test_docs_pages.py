"""The API docs pages (Swagger UI, Redoc) come wholly from the site: no CDN, no web fonts, no validator."""

from __future__ import annotations

import json
import re
from urllib.parse import urlsplit

import pytest
from django.contrib.staticfiles import finders
from django.test import Client

pytestmark = pytest.mark.django_db

DOCS_PAGES = ["/api/docs/", "/api/redoc/"]
# Any absolute URL a page or its assets could make a browser fetch (protocol-relative ones too).
ABSOLUTE_URL = re.compile(r"""(?:https?:)?//[a-z0-9.-]+\.[a-z]{2,}[^\s"'<>)]*""", re.IGNORECASE)
ASSET = re.compile(r"""(?:src|href)="([^"]+)\"""")
EXTERNAL_FONT_HOSTS = ("fonts.googleapis.com", "fonts.gstatic.com")


def _page(client: Client, path: str) -> str:
    response = client.get(path, HTTP_ACCEPT="text/html")
    assert response.status_code == 200
    return response.content.decode()


@pytest.mark.parametrize("path", DOCS_PAGES)
def test_docs_page_references_no_external_url(client: Client, path: str) -> None:
    page = _page(client, path)
    external = [
        url for url in ABSOLUTE_URL.findall(page) if urlsplit(url).hostname not in (None, "testserver")
    ]
    assert external == []


@pytest.mark.parametrize("path", DOCS_PAGES)
def test_docs_page_assets_are_local_static_files_that_load_no_web_fonts(client: Client, path: str) -> None:
    assets = [url for url in ASSET.findall(_page(client, path)) if not url.startswith("/api/")]
    assert assets, "the page loads its UI from somewhere"
    for url in assets:
        assert url.startswith("/static/"), url
        found = finders.find(url.removeprefix("/static/"))
        assert found, f"{url} is not a static file of the project"
        if url.endswith((".js", ".css")):
            with open(found, encoding="utf-8") as asset:
                body = asset.read()
            assert not any(host in body for host in EXTERNAL_FONT_HOSTS), url


def test_swagger_ui_does_not_call_the_public_validator(client: Client) -> None:
    """Swagger UI's default validatorUrl is validator.swagger.io, which would be sent the schema's URL."""
    page = _page(client, "/api/docs/")
    settings = re.search(r"const swaggerSettings = (\{.*?\});", page, re.DOTALL)
    assert settings is not None
    assert json.loads(settings.group(1)).get("validatorUrl", "unset") is None
