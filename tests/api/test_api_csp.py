"""Every answer under /api/v1/ carries a Content-Security-Policy: data (JSON, problem+json, CSV) one that lets
nothing load or run, the browsable API's page one that admits exactly what the page references, and a file
download keeps its own sandbox (consortium/api/content_security.py says why each is what it is)."""

from __future__ import annotations

import base64
import hashlib
import re
from html.parser import HTMLParser
from pathlib import Path
from urllib.parse import urljoin, urlsplit

import pytest
import rest_framework
from django.contrib.staticfiles import finders

from consortium.api.content_security import DRF_STYLE_ATTRIBUTES
from exchange.models import Grant
from tests.api.test_problems import assert_problem
from tests.exchange.support import published, request_access
from tests.factories import MemberFactory
from tests.portal_pages import content_policy

pytestmark = pytest.mark.django_db

DATA_POLICY = {"default-src": ["'none'"], "frame-ancestors": ["'none'"], "sandbox": []}
PAGE = "http://testserver/"
CSS_URL = re.compile(r"""url\(\s*["']?([^"')\s]+)""")
FONT = re.compile(r"\.(?:eot|woff2?|ttf|otf|svg)(?:[?#].*)?$")
# What runs no script: a <script> of another type is a data block the browser only parses.
SCRIPT_TYPES = {"", "text/javascript", "application/javascript", "module"}


def _sha256(text: str) -> str:
    return "'sha256-" + base64.b64encode(hashlib.sha256(text.encode()).digest()).decode() + "'"


def _same_origin(url: str, base: str) -> bool:
    target, origin = urlsplit(urljoin(base, url)), urlsplit(base)
    return (target.scheme, target.netloc) == (origin.scheme, origin.netloc)


class _Page(HTMLParser):
    """What a page makes the browser load, run, apply or send, as (directive, what, source or URL)."""

    def __init__(self) -> None:
        super().__init__()
        self.needs: list[tuple[str, str, str]] = []
        self._inline: str | None = None  # "script" or "style" while inside one without src
        self._text = ""

    def handle_starttag(self, tag: str, attrs: list[tuple[str, str | None]]) -> None:
        attr = {name: value or "" for name, value in attrs}
        assert not [name for name in attr if name.startswith("on")], f"inline event handler on <{tag}>"
        assert tag not in ("iframe", "object", "embed", "base", "img"), f"<{tag}> on the page"
        if "style" in attr:
            self.needs.append(("style-src-attr", f"<{tag} style>", attr["style"]))
        if tag == "script" and "src" in attr:
            self.needs.append(("script-src", "<script src>", attr["src"]))
        elif tag == "script":
            if attr.get("type", "").lower() in SCRIPT_TYPES:
                self._inline, self._text = "script", ""
        elif tag == "style":
            self._inline, self._text = "style", ""
        elif tag == "link":
            assert attr.get("rel") == "stylesheet", f"a <link rel={attr.get('rel')}> this test does not know"
            self.needs.append(("style-src", "<link href>", attr["href"]))
        elif tag == "form":
            self.needs.append(("form-action", "<form action>", attr.get("action") or PAGE))

    def handle_data(self, data: str) -> None:
        if self._inline:
            self._text += data

    def handle_endtag(self, tag: str) -> None:
        if tag == self._inline:
            self.needs.append((f"{tag}-src", f"inline <{tag}>", self._text))
            self._inline = None


def _refused(html: str, policy: dict[str, list[str]]) -> list[str]:
    """What on the page `policy` would refuse, each named; every stylesheet's url() is followed too."""
    parser = _Page()
    parser.feed(html)
    assert {directive for directive, _, _ in parser.needs} >= {"script-src", "style-src"}
    refused = []
    for directive, what, value in parser.needs:
        # An absent directive falls back as CSP says: *-attr to its element's, then default-src.
        fallback = policy.get(directive.removesuffix("-attr")) or policy["default-src"]
        sources = policy.get(directive) or fallback
        if what.startswith("inline") or directive == "style-src-attr":
            unsafe_hashes = directive != "style-src-attr" or "'unsafe-hashes'" in sources
            if not (unsafe_hashes and _sha256(value) in sources):
                refused.append(f"{what} {value[:60]!r}")
            continue
        if not ("'self'" in sources and _same_origin(value, PAGE)):
            refused.append(f"{what} {value}")
        if directive == "style-src":
            found = finders.find(urlsplit(value).path.removeprefix("/static/"))
            assert isinstance(found, str), f"{value} is not a static file"
            stylesheet_url = urljoin(PAGE, value)
            for url in CSS_URL.findall(Path(found).read_text(encoding="utf-8")):
                wanted = policy.get("font-src" if FONT.search(url) else "img-src") or policy["default-src"]
                if not ("'self'" in wanted and _same_origin(url, stylesheet_url)):
                    refused.append(f"{value}: url({url})")
    return refused


def _page(client, path: str):
    response = client.get(path, HTTP_ACCEPT="text/html")
    assert response.status_code == 200 and response["Content-Type"].startswith("text/html"), response.content
    return response


def test_json_answers_let_nothing_load_or_run(key_client) -> None:
    client, _, _ = key_client(["read"])
    response = client.get("/api/v1/me/")
    assert response.status_code == 200 and response["Content-Type"] == "application/json"
    assert content_policy(response) == DATA_POLICY


@pytest.mark.parametrize("accept", ["application/json", "text/html"])
def test_problems_carry_the_data_policy_whatever_was_asked(client_for, key_client, officer, accept) -> None:
    client, _, _ = key_client(["read"])
    refusals = [
        (client.get("/api/v1/members/999999/", HTTP_ACCEPT=accept), 404, "not_found"),
        (client.get("/api/v1/no-such-endpoint/", HTTP_ACCEPT=accept), 404, "not_found"),  # the catch-all
        (client_for(officer).post("/api/v1/clusters/", {}, HTTP_ACCEPT=accept), 405, "method_not_allowed"),
        (client_for(None).get("/api/v1/me/", HTTP_ACCEPT=accept), 401, "not_authenticated"),
        (client_for(None).post("/api/v1/members/", {}, HTTP_ACCEPT=accept), 400, "required"),
    ]
    for response, status, code in refusals:
        assert_problem(response, status, code)
        assert content_policy(response) == DATA_POLICY, response.request["PATH_INFO"]


def test_a_csv_export_carries_the_data_policy(client_for, auditor) -> None:
    response = client_for(auditor).get("/api/v1/credit/transfers/csv/", HTTP_ACCEPT="text/csv")
    assert response.status_code == 200 and response["Content-Type"].startswith("text/csv")
    assert content_policy(response) == DATA_POLICY


def test_a_download_keeps_its_own_sandbox(client_for, data_steward, other_analyst) -> None:
    grant = Grant.objects.get(request=request_access(other_analyst, published(data_steward, tier="open")))
    response = client_for(other_analyst).post(f"/api/v1/grants/{grant.pk}/download/")
    assert response.status_code == 200 and response["Content-Type"] == "text/csv"
    assert response["Content-Security-Policy"] == "default-src 'none'; sandbox"


def test_the_browsable_page_gets_a_policy_without_unsafe_inline_eval_or_framing(client_for, officer) -> None:
    policy = content_policy(_page(client_for(officer), "/api/v1/members/"))
    assert policy["default-src"] == ["'none'"]
    assert policy["frame-ancestors"] == policy["base-uri"] == ["'none'"]
    sources = {source for directive in policy.values() for source in directive}
    assert not {"'unsafe-inline'", "'unsafe-eval'", "*", "data:", "blob:"} & sources
    assert not [source for source in sources if source.startswith("'nonce-")]  # hashes: see the module


def test_each_browsable_page_holds_only_what_its_policy_admits(client_for, officer, member_admin) -> None:
    own = member_admin.member
    pages = [
        (officer, "/api/v1/"),
        (officer, "/api/v1/members/?ordering=legal_name"),  # filters, ordering with its check mark
        (officer, f"/api/v1/members/{own.pk}/"),  # extra actions
        (member_admin, f"/api/v1/users/{member_admin.pk}/"),  # PATCH form
        (member_admin, "/api/v1/api-keys/"),  # POST form
    ]
    MemberFactory()  # a second member on the list
    kinds = set()
    for user, path in pages:
        response = _page(client_for(user), path)
        html = response.content.decode()
        assert not _refused(html, content_policy(response)), path
        kinds |= {kind for kind in ("style=", "<style", "<form", "<script src") if kind in html}
    assert kinds == {"style=", "<style", "<form", "<script src"}  # each kind was checked somewhere


def test_the_page_checks_see_what_the_policy_refuses(client_for, officer) -> None:
    """The checks above can fail: a style value, a stylesheet or a script the policy does not name."""
    policy = content_policy(_page(client_for(officer), "/api/v1/members/"))
    html = (
        '<script src="/static/a.js"></script><style>x</style><b style="color: red"></b>'
        '<script src="https://cdn.example/x.js"></script><form action="https://elsewhere.example/"></form>'
    )
    assert _refused(html, policy) == [
        "inline <style> 'x'",
        "<b style> 'color: red'",
        "<script src> https://cdn.example/x.js",
        "<form action> https://elsewhere.example/",
    ]


def test_every_style_attribute_in_drf_browsable_templates_is_admitted() -> None:
    """A DRF upgrade that adds or changes a style="" the browsable API renders fails here, not in browsers."""
    root = Path(rest_framework.__file__).parent / "templates" / "rest_framework"
    templates = [root / "base.html", *root.glob("filters/*.html"), *root.glob("horizontal/*.html")]
    values = {
        value
        for template in templates
        for value in re.findall(r'style="([^"{}]*)"', template.read_text(encoding="utf-8"))
    }
    assert values and values <= set(DRF_STYLE_ATTRIBUTES)
    assert (root / "api.html").read_text().startswith('{% extends "rest_framework/base.html" %}')
