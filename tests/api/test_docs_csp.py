"""The API docs pages go out under a Content-Security-Policy that allows what each page loads, and no more."""

from __future__ import annotations

import json
import re
from html.parser import HTMLParser
from urllib.parse import urljoin, urlsplit

import pytest
from django.contrib.staticfiles import finders
from django.test import Client

from tests.portal_pages import content_policy, with_nonce

pytestmark = pytest.mark.django_db

DOCS_PAGES = ["/api/docs/", "/api/redoc/"]
REFUSE_THE_REST = {"base-uri": ["'none'"], "form-action": ["'none'"], "frame-ancestors": ["'none'"]}
# What each page was seen to need in headless Chromium (consortium/api/docs.py says why); NONCE is the
# response's nonce.
EXPECTED = {
    "/api/docs/": {
        "default-src": ["'none'"],
        "script-src": ["'self'", "NONCE"],
        "style-src": ["'self'", "NONCE"],
        "img-src": ["'self'", "data:"],
        "connect-src": ["'self'"],
        **REFUSE_THE_REST,
    },
    "/api/redoc/": {
        "default-src": ["'none'"],
        "script-src": ["'self'", "NONCE"],
        "style-src": ["NONCE"],
        "img-src": ["data:"],
        "connect-src": ["'self'"],
        "worker-src": ["blob:"],
        **REFUSE_THE_REST,
    },
}
PAGE_URL = "http://testserver{path}"
CSS_URL = re.compile(r"""url\(\s*["']?([^"')\s]+)""")


class _Resources(HTMLParser):
    """Every element of a page that makes the browser load or run something, as (directive, url, nonce):
    url None for an inline script or style."""

    def __init__(self) -> None:
        super().__init__()
        self.found: list[tuple[str, str | None, str | None]] = []
        self._inline: str | None = None

    def handle_starttag(self, tag: str, attrs: list[tuple[str, str | None]]) -> None:
        attr = dict(attrs)
        rel = (attr.get("rel") or "").split()
        if tag == "script":
            self.found.append(("script-src", attr.get("src"), attr.get("nonce")))
        elif tag == "style":
            self.found.append(("style-src", None, attr.get("nonce")))
        elif tag == "link" and "stylesheet" in rel:
            self.found.append(("style-src", attr["href"], None))
        elif tag == "link" and "icon" in rel:
            self.found.append(("img-src", attr["href"], None))
        elif tag == "link":
            raise AssertionError(f"a <link rel={rel}> this test does not know the directive of")
        elif tag == "img":
            self.found.append(("img-src", attr["src"], None))
        elif tag in ("iframe", "object", "embed", "base", "form"):
            raise AssertionError(f"<{tag}> on a docs page")
        assert "style" not in attr, f"inline style attribute on <{tag}>"
        assert not any(name.startswith("on") for name in attr), f"inline event handler on <{tag}>"


def _nonce(policy: dict[str, list[str]]) -> str:
    nonces = {source for source in policy["script-src"] if source.startswith("'nonce-")}
    assert len(nonces) == 1, policy["script-src"]
    return nonces.pop().removeprefix("'nonce-").removesuffix("'")


def _allows(sources: list[str], url: str, *, page: str) -> bool:
    """Whether a CSP source list admits `url` loaded by `page`: only the kinds of source these policies use
    ('self' and scheme sources) are understood, so any other source allows nothing here."""
    target, origin = urlsplit(urljoin(page, url)), urlsplit(page)
    for source in sources:
        if source == "'self'" and (target.scheme, target.netloc) == (origin.scheme, origin.netloc):
            return True
        if re.fullmatch(r"[a-z][a-z0-9+.-]*:", source) and target.scheme == source[:-1]:
            return True
    return False


def _get(client: Client, path: str):
    response = client.get(path, HTTP_ACCEPT="text/html")
    assert response.status_code == 200
    return response


@pytest.mark.parametrize("path", DOCS_PAGES)
def test_docs_page_is_sent_with_its_strict_policy(client: Client, path: str) -> None:
    policy = content_policy(_get(client, path))
    nonce = _nonce(policy)
    assert policy == with_nonce(EXPECTED[path], nonce)
    assert not {"'unsafe-inline'", "'unsafe-eval'", "*"} & {s for sources in policy.values() for s in sources}


@pytest.mark.parametrize("path", DOCS_PAGES)
def test_every_script_style_and_image_of_a_docs_page_is_allowed(client: Client, path: str) -> None:
    response = _get(client, path)
    policy, page = content_policy(response), PAGE_URL.format(path=path)
    nonce = _nonce(policy)
    parser = _Resources()
    parser.feed(response.content.decode())
    assert {directive for directive, _, _ in parser.found} >= {"script-src", "style-src"}
    for directive, url, element_nonce in parser.found:
        sources = policy[directive]
        if url is None:
            assert element_nonce == nonce and f"'nonce-{nonce}'" in sources, f"inline {directive} not allowed"
        else:
            assert _allows(sources, url, page=page), f"{directive} {sources} refuses {url}"
        if directive == "style-src" and url is not None:
            found = finders.find(url.removeprefix("/static/"))
            assert isinstance(found, str), f"{url} is not a static file of the project"
            with open(found, encoding="utf-8") as stylesheet:
                for image in CSS_URL.findall(stylesheet.read()):
                    assert _allows(policy["img-src"], image, page=urljoin(page, url)), image[:60]


@pytest.mark.parametrize("path", DOCS_PAGES)
def test_each_docs_response_has_its_own_nonce(client: Client, path: str) -> None:
    assert _nonce(content_policy(_get(client, path))) != _nonce(content_policy(_get(client, path)))


def test_redoc_is_handed_the_nonce_for_the_styles_it_inserts(client: Client) -> None:
    response = _get(client, "/api/redoc/")
    options = re.search(r"const redocSettings = (\{.*?\});\n", response.content.decode())
    assert options is not None
    options = json.loads(options.group(1))
    assert options["nonce"] == _nonce(content_policy(response))
    # perfect-scrollbar's stylesheet comes without the nonce and is refused: Redoc must not need it.
    assert options["nativeScrollbars"] is True


def test_docs_pages_stay_out_of_the_schema(client: Client) -> None:
    schema = client.get("/api/schema/?format=json").json()
    assert not [path for path in schema["paths"] if path in DOCS_PAGES]
