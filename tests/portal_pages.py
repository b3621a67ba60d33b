"""The portal's pages on the demo consortium, as its people open them, and the Content-Security-Policy a
response carries: shared by the portal's CSP and accessibility tests and the API docs' CSP test. The demo
itself is the `demo` fixture (tests/conftest.py)."""

from __future__ import annotations

from django.contrib.auth.tokens import default_token_generator
from django.test import Client
from django.urls import reverse
from django.utils.encoding import force_bytes
from django.utils.http import urlsafe_base64_encode

from consortium.models import User
from exchange.models import AccessRequest, Dataset, Grant
from tests.exchange.support import as_user

# Every page of the portal namespace is either opened with GET below or only answers POST.
POST_ONLY = {
    "logout",
    "person-password-link",
    "api-key-revoke",
    "dataset-policy",
    "dataset-version-upload",
    "dataset-version-withdraw",
    "dataset-withdraw",
    "grant-revoke",
    "grant-download",
    "credit-held-mint-resolve",
}


def content_policy(response) -> dict[str, list[str]]:
    header = response.headers.get("Content-Security-Policy")
    assert header, f"{response.request['PATH_INFO']} has no Content-Security-Policy"
    return {name: sources for name, *sources in (part.split() for part in header.split(";") if part.strip())}


def with_nonce(expected: dict[str, list[str]], nonce: str) -> dict[str, list[str]]:
    return {
        name: [f"'nonce-{nonce}'" if source == "NONCE" else source for source in sources]
        for name, sources in expected.items()
    }


def demo_client(username: str | None) -> Client:
    return as_user(User.objects.get(username=username)) if username else Client()


def pages_answering_get() -> dict[str, list[tuple[str | None, str]]]:
    """(user or anonymous, URL) by URL name, for each page of the portal namespace that answers GET, on the
    demo's records."""
    huaxin = User.objects.get(username="huaxin-admin").member
    analyst = User.objects.get(username="huaxin-analyst")
    dataset = Dataset.objects.filter(owner=huaxin).exclude(policy=None).first()
    incoming = AccessRequest.objects.filter(dataset__owner=huaxin, state="pending").first()
    grant = Grant.objects.filter(grantee=huaxin).first()
    assert dataset and incoming and grant
    token = default_token_generator.make_token(analyst)
    uid = urlsafe_base64_encode(force_bytes(analyst.pk))
    return {
        "home": [(None, reverse("portal:home")), ("huaxin-admin", reverse("portal:home"))],
        "login": [(None, reverse("portal:login"))],
        "password-reset": [(None, reverse("portal:password-reset"))],
        "password-reset-done": [(None, reverse("portal:password-reset-done"))],
        "password-reset-confirm": [(None, reverse("portal:password-reset-confirm", args=[uid, token]))],
        "password-reset-complete": [(None, reverse("portal:password-reset-complete"))],
        "apply": [(None, reverse("portal:apply"))],
        "apply-thanks": [(None, reverse("portal:apply-thanks"))],
        "member-list": [("officer", reverse("portal:member-list"))],
        "member-detail": [("officer", reverse("portal:member-detail", args=[huaxin.pk]))],
        "member-person-create": [("officer", reverse("portal:member-person-create", args=[huaxin.pk]))],
        "member-contact-edit": [("huaxin-admin", reverse("portal:member-contact-edit", args=[huaxin.pk]))],
        "people-list": [("huaxin-admin", reverse("portal:people-list"))],
        "person-create": [("huaxin-admin", reverse("portal:person-create"))],
        "person-detail": [("huaxin-admin", reverse("portal:person-detail", args=[analyst.pk]))],
        "person-deactivate": [("huaxin-admin", reverse("portal:person-deactivate", args=[analyst.pk]))],
        "api-key-list": [("huaxin-admin", reverse("portal:api-key-list"))],
        "api-key-create": [("huaxin-admin", reverse("portal:api-key-create"))],
        "catalog": [("huaxin-analyst", reverse("portal:catalog"))],
        "dataset-detail": [
            ("huaxin-steward", reverse("portal:dataset-detail", args=[dataset.pk])),
            ("jinglan-analyst", reverse("portal:dataset-detail", args=[dataset.pk])),
        ],
        "my-datasets": [("huaxin-steward", reverse("portal:my-datasets"))],
        "requests": [("huaxin-admin", reverse("portal:requests"))],
        "my-requests": [("huaxin-analyst", reverse("portal:my-requests"))],
        "incoming-requests": [("huaxin-steward", reverse("portal:incoming-requests"))],
        "request-detail": [("huaxin-steward", reverse("portal:request-detail", args=[incoming.pk]))],
        "grant-list": [("huaxin-admin", reverse("portal:grant-list"))],
        "grant-detail": [("huaxin-analyst", reverse("portal:grant-detail", args=[grant.pk]))],
        "credit-statement": [("huaxin-admin", reverse("portal:credit-statement"))],
        "credit-leaderboard": [("auditor", reverse("portal:credit-leaderboard"))],
        "credit-flags": [("auditor", reverse("portal:credit-flags"))],
        "credit-held-mints": [("auditor", reverse("portal:credit-held-mints"))],
        "ledger-integrity": [
            ("auditor", reverse("portal:ledger-integrity")),
            ("huaxin-analyst", reverse("portal:ledger-integrity")),
        ],
    }
