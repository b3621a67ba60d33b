"""The portal's pages go out under one strict Content-Security-Policy (settings.CONTENT_SECURITY_POLICY, set
by django-csp's middleware), and nothing on them needs more: no style="" or on*= attribute, and every inline
<script> or <style> carries the response's nonce. The admin gets the same policy plus its static images; the
API docs, the REST API and file downloads keep their own (tests/api/test_docs_csp.py,
tests/api/test_api_csp.py and tests/exchange/test_download_headers.py).
"""

from __future__ import annotations

import re
from html.parser import HTMLParser
from pathlib import Path
from urllib.parse import urlsplit

import pytest
from django.conf import settings
from django.test import Client
from django.urls import get_resolver, reverse

from consortium.models import User
from exchange.models import Dataset
from tests.portal_pages import POST_ONLY, content_policy, demo_client, pages_answering_get, with_nonce

pytestmark = pytest.mark.django_db

# NONCE stands for the response's own nonce.
PORTAL_POLICY = {
    "default-src": ["'none'"],
    "script-src": ["'self'", "NONCE"],
    "style-src": ["'self'", "NONCE"],
    "form-action": ["'self'"],
    "base-uri": ["'none'"],
    "frame-ancestors": ["'none'"],
}
TAG = re.compile(r"<([a-zA-Z][a-zA-Z0-9-]*)((?:[^>\"']|\"[^\"]*\"|'[^']*')*)>")
TEMPLATE_CODE = re.compile(r"\{[{%].*?[%}]\}")
ATTRIBUTE_NAMES = re.compile(r"(?:^|\s)([a-zA-Z_:][-a-zA-Z0-9_:.]*)\s*=")
TEMPLATE_NONCE = 'nonce="{{ request.csp_nonce }}"'


def _nonce(policy: dict[str, list[str]]) -> str:
    (source,) = [source for source in policy["style-src"] if source.startswith("'nonce-")]
    return source.removeprefix("'nonce-").removesuffix("'")


class _PageCheck(HTMLParser):
    """What a page holds that the portal's policy would refuse: inline style or handler attributes, inline
    script or style without the response's nonce, and anything loaded from another origin or that the policy
    has no source for (images, frames, objects)."""

    def __init__(self, nonce: str) -> None:
        super().__init__()
        self.nonce = nonce
        self.refused: list[str] = []

    def handle_starttag(self, tag: str, attrs: list[tuple[str, str | None]]) -> None:
        attr = dict(attrs)
        if "style" in attr:
            self.refused.append(f'<{tag} style="{attr["style"]}">')
        self.refused += [f"<{tag} {name}=...>" for name in attr if name.startswith("on")]
        if tag in ("script", "style") and not attr.get("src") and attr.get("nonce") != self.nonce:
            self.refused.append(f"inline <{tag}> without the response's nonce")
        url = attr.get("src") or (attr.get("href") if tag == "link" else None)
        if tag in ("script", "link") and url and urlsplit(url).netloc not in ("", "testserver"):
            self.refused.append(f"<{tag}> from {url}")
        if tag in ("img", "iframe", "object", "embed", "base"):
            self.refused.append(f"<{tag}>")


def _check_page(response) -> None:
    """The response is an HTML page under PORTAL_POLICY, with its own nonce, holding nothing it refuses."""
    path = response.request["PATH_INFO"]
    assert response["Content-Type"].startswith("text/html"), path
    policy = content_policy(response)
    nonce = _nonce(policy)
    assert policy == with_nonce(PORTAL_POLICY, nonce), path
    page = _PageCheck(nonce)
    page.feed(response.content.decode())
    assert not page.refused, (path, page.refused)


def test_every_portal_page_is_sent_with_the_strict_policy_and_needs_nothing_it_refuses(demo) -> None:
    pages = pages_answering_get()
    _prefix, portal = get_resolver().namespace_dict["portal"]
    portal_names = {name for name in portal.reverse_dict if isinstance(name, str)}
    assert portal_names == set(pages) | POST_ONLY, "a portal page this test does not open"
    for name, visits in pages.items():
        for username, url in visits:
            response = demo_client(username).get(url, follow=True)
            assert response.status_code == 200, (name, username, url, response.status_code)
            _check_page(response)


def test_error_pages_and_forms_sent_back_with_errors_carry_the_policy(demo) -> None:
    officer, auditor = demo_client("officer"), demo_client("auditor")
    _check_page(officer.get("/no-such-page/"))  # 404
    huaxin = User.objects.get(username="huaxin-admin").member
    refused = auditor.post(reverse("portal:member-detail", args=[huaxin.pk]), {"action": "suspend"})
    assert refused.status_code == 403
    _check_page(refused)
    dataset = Dataset.objects.filter(owner=huaxin).exclude(policy=None).first()
    invalid = demo_client("huaxin-steward").post(reverse("portal:dataset-policy", args=[dataset.pk]), {})
    assert invalid.status_code == 400
    _check_page(invalid)


def test_a_form_sent_without_its_csrf_token_gets_the_portal_page_under_the_policy(demo) -> None:
    browser = Client(enforce_csrf_checks=True)
    refused = browser.post(reverse("portal:login"), {"username": "officer", "password": "x"})
    assert refused.status_code == 403
    assert b"This form has expired" in refused.content  # not Django's page, whose inline style is refused
    _check_page(refused)


def test_each_response_has_its_own_nonce_on_its_stylesheet(client) -> None:
    first, second = client.get("/login/"), client.get("/login/")
    nonces = [_nonce(content_policy(first)), _nonce(content_policy(second))]
    assert nonces[0] != nonces[1]
    for response, nonce in zip([first, second], nonces, strict=True):
        assert f'<style nonce="{nonce}">' in response.content.decode()
        assert content_policy(response)["script-src"] == ["'self'", f"'nonce-{nonce}'"]


def test_admin_pages_add_only_their_static_images_to_the_policy(client, officer) -> None:
    # The admin uses no inline script or style, so its responses carry no nonce.
    admin_policy = {name: [s for s in sources if s != "NONCE"] for name, sources in PORTAL_POLICY.items()}
    admin_policy["img-src"] = ["'self'"]
    assert content_policy(client.get("/admin/login/")) == admin_policy
    client.force_login(officer)
    response = client.get(reverse("admin:consortium_member_changelist"))
    assert response.status_code == 200
    assert content_policy(response) == admin_policy


def _templates() -> list[Path]:
    found = [
        path
        for app in ("consortium", "exchange", "ledger")
        for path in Path(settings.BASE_DIR, app).rglob("*.html")
        if "templates" in path.parts
    ]
    assert len(found) > 30
    return found


@pytest.mark.parametrize("path", _templates(), ids=lambda path: str(path.relative_to(settings.BASE_DIR)))
def test_no_template_has_what_the_policy_refuses(path: Path) -> None:
    text = path.read_text(encoding="utf-8")
    for match in TAG.finditer(text):
        tag, attributes = match.group(1).lower(), match.group(2)
        names = {name.lower() for name in ATTRIBUTE_NAMES.findall(TEMPLATE_CODE.sub(" ", attributes))}
        assert "style" not in names, f"{match.group(0)}: move the style into a class of base.html"
        assert not [name for name in names if name.startswith("on")], f"{match.group(0)}: no inline handlers"
        if tag in ("script", "style") and "src" not in names:
            assert TEMPLATE_NONCE in attributes, f"{match.group(0)}: an inline <{tag}> needs the nonce"
