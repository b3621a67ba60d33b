"""The headers a grantee's download carries, through the portal and the API alike.

A version's file is another member's content served from the exchange's own origin: it must always arrive
as an attachment, never as a page the browser renders (and runs) in the grantee's session. Its name may be
Chinese: Django encodes a header value outside Latin-1 as one RFC 2047 word, which hid the `attachment`
disposition type inside `=?utf-8?b?...?=`, so browsers that find no disposition type render inline.
"""

from __future__ import annotations

import base64
import hashlib
import json

import pytest
from django.core.files.base import ContentFile
from django.urls import reverse
from drf_spectacular.generators import SchemaGenerator
from rest_framework.test import APIClient

from consortium.errors import ValidationFailed
from exchange import services
from exchange.models import Grant
from ledger.models import LedgerEntry
from tests.api.test_problems import assert_problem
from tests.exchange.support import as_user, published, register, request_access, set_policy
from tests.factories import MemberFactory, UserFactory

pytestmark = pytest.mark.django_db

PAGE = b"<!doctype html><script>fetch('/api/v1/api-keys/', {method: 'POST'})</script>"


def _grant_on_a_file(steward, requester, *, content: bytes, filename: str, media_type: str) -> Grant:
    """An open grant of `requester` on a dataset whose only version is `content`, named and typed so."""
    dataset = register(steward)
    set_policy(steward, dataset, tier="open")
    services.dataset_version_add(
        actor=steward,
        dataset=dataset,
        file=ContentFile(content, name=filename),
        filename=filename,
        media_type=media_type,
    )
    return Grant.objects.get(request=request_access(requester, dataset))


def _grant_on_a_page(steward, requester, filename: str) -> Grant:
    """An open grant of `requester` on a dataset whose only version is an HTML page named `filename`."""
    return _grant_on_a_file(steward, requester, content=PAGE, filename=filename, media_type="text/html")


def _portal(user, grant):
    return as_user(user).post(reverse("portal:grant-download", args=[grant.pk]))


def _api(user, grant):
    client = APIClient()
    client.force_login(user)
    return client.post(f"/api/v1/grants/{grant.pk}/download/")


@pytest.mark.parametrize("download", [_portal, _api], ids=["portal", "api"])
@pytest.mark.parametrize(
    ("filename", "disposition"),
    [
        ("page.html", 'attachment; filename="page.html"'),
        ("数据报告.html", "attachment; filename*=utf-8''%E6%95%B0%E6%8D%AE%E6%8A%A5%E5%91%8A.html"),
        ("quality report 2025.html", 'attachment; filename="quality report 2025.html"'),
        (
            "2026年 振动数据\uff08第1批\uff09.html",
            "attachment; filename*=utf-8''2026%E5%B9%B4%20%E6%8C%AF%E5%8A%A8%E6%95%B0%E6%8D%AE"
            "%EF%BC%88%E7%AC%AC1%E6%89%B9%EF%BC%89.html",
        ),
        # Chromium reads filename="a%E6%95%B0.html" as "a数.html": a "%" goes encoded, in filename*
        ("100% yield a%E6%95%B0.html", "attachment; filename*=utf-8''100%25%20yield%20a%25E6%2595%25B0.html"),
    ],
    ids=["ascii", "chinese", "ascii-with-spaces", "chinese-with-spaces-and-full-width-brackets", "percent"],
)
def test_a_download_is_an_attachment_that_never_runs_as_a_page(
    data_steward, other_analyst, download, filename, disposition
) -> None:
    grant = _grant_on_a_page(data_steward, other_analyst, filename)
    response = download(other_analyst, grant)
    assert response.status_code == 200
    assert response["Content-Disposition"] == disposition
    assert response["Content-Type"] == "text/html"
    assert response["X-Content-Type-Options"] == "nosniff"
    # Should a browser render it anyway, the page gets a sandbox: no script, no same-origin requests.
    assert response["Content-Security-Policy"] == "default-src 'none'; sandbox"
    assert response["Cache-Control"] == "no-store"
    assert b"".join(response.streaming_content) == PAGE


@pytest.mark.parametrize("media_type", ["text/数据", "\uff54ext/html", "application/vnd.数据+json"])
def test_a_media_type_outside_ascii_is_refused_at_upload(data_steward, media_type) -> None:
    # It would be the download's Content-Type, sent as an RFC 2047 word that no browser reads as a type.
    dataset = register(data_steward)
    with pytest.raises(ValidationFailed) as refused:
        services.dataset_version_add(
            actor=data_steward,
            dataset=dataset,
            file=ContentFile(PAGE, name="page.html"),
            filename="page.html",
            media_type=media_type,
        )
    assert refused.value.code == "invalid_media_type"
    assert not dataset.versions.exists()


# --- What the API's download tells a partner besides the file ---------------------------------------------

API_HEADERS = {
    "Repr-Digest",
    "X-Ledger-Leaf-Hash",
    "X-Downloads-Remaining",
    "Ledger-Receipts",
    "Content-Disposition",
}


def test_an_api_download_carries_its_digest_quota_and_receipt(data_steward, other_analyst) -> None:
    dataset = published(data_steward, tier="open")
    grant = Grant.objects.get(request=request_access(other_analyst, dataset))
    response = _api(other_analyst, grant)
    assert response.status_code == 200
    body = b"".join(response.streaming_content)
    assert response["Content-Type"] == "text/csv"
    # RFC 9530: a structured-field byte sequence, base64 between colons; the old hex `Digest` is gone.
    digest = base64.b64encode(hashlib.sha256(body).digest()).decode()
    assert response["Repr-Digest"] == f"sha-256=:{digest}:"
    assert "Digest" not in response
    entry = LedgerEntry.objects.get(kind="data.downloaded", subject_id=grant.pk)
    assert response["X-Ledger-Leaf-Hash"] == bytes(entry.leaf_hash).hex()
    assert response["X-Downloads-Remaining"] == str(grant.download_quota - 1)
    receipts = json.loads(response["Ledger-Receipts"])
    assert [receipt["leaf_hash"] for receipt in receipts] == [response["X-Ledger-Leaf-Hash"]]


def test_the_schema_documents_the_download_as_a_file_with_its_headers() -> None:
    schema = SchemaGenerator().get_schema(request=None, public=True)
    ok = schema["paths"]["/api/v1/grants/{id}/download/"]["post"]["responses"]["200"]
    # The file's type is the version's media type: anything, never the JSON the schema used to claim.
    assert ok["content"] == {"*/*": {"schema": {"type": "string", "format": "binary"}}}
    assert set(ok["headers"]) == API_HEADERS
    assert all(header["required"] for header in ok["headers"].values())
    assert "RFC 9530" in ok["headers"]["Repr-Digest"]["description"]
    assert ok["headers"]["X-Downloads-Remaining"]["schema"] == {"type": "integer"}


# --- What a partner's client accepts does not stop the file ----------------------------------------------
# A partner's HTTP client commonly sends the file's media type (`Accept: text/csv`) or
# application/octet-stream. The download's answer is the version's file, whose type is what it is: the API
# used to pick a JSON renderer for it first and answered 406 to anything but */*, JSON or HTML.

PARQUET = b"PAR1" + bytes(range(256)) * 8 + b"PAR1"


def _grant_on(steward, requester, *, media_type: str) -> Grant:
    """An open grant of `requester` on a dataset whose only version is of `media_type`."""
    if media_type == "text/csv":
        return Grant.objects.get(request=request_access(requester, published(steward, tier="open")))
    return _grant_on_a_file(
        steward, requester, content=PARQUET, filename="readings.parquet", media_type=media_type
    )


def _api_accepting(user, grant: Grant, accept: str | None, query: str = ""):
    client = APIClient()
    if user is not None:
        client.force_login(user)
    headers = {} if accept is None else {"Accept": accept}
    return client.post(f"/api/v1/grants/{grant.pk}/download/{query}", headers=headers)


@pytest.mark.parametrize("media_type", ["text/csv", "application/vnd.apache.parquet"])
@pytest.mark.parametrize(
    "accept",
    [
        "text/csv",
        "application/octet-stream",
        "application/vnd.apache.parquet",
        "text/csv, application/octet-stream;q=0.5",
        "image/png",
        "application/json",
        "*/*",
        None,
    ],
)
def test_the_download_is_the_file_whatever_the_client_accepts(
    data_steward, other_analyst, media_type, accept
) -> None:
    grant = _grant_on(data_steward, other_analyst, media_type=media_type)
    version = grant.dataset.versions.get()
    response = _api_accepting(other_analyst, grant, accept)
    assert response.status_code == 200, response.content
    assert response["Content-Type"] == media_type
    assert b"".join(response.streaming_content) == version.file.open("rb").read()
    assert response["Content-Disposition"].startswith("attachment")
    assert LedgerEntry.objects.filter(kind="data.downloaded", subject_id=grant.pk).count() == 1


@pytest.mark.parametrize("query", ["?format=csv", "?format=parquet", "?format=json", "?version=1&format=x"])
def test_the_download_is_the_file_whatever_format_the_query_names(data_steward, other_analyst, query) -> None:
    # DRF answers a ?format= that names none of the view's renderers with 404, as if the grant were unknown.
    grant = _grant_on(data_steward, other_analyst, media_type="text/csv")
    response = _api_accepting(other_analyst, grant, None, query)
    assert response.status_code == 200, response.content
    assert response["Content-Type"] == "text/csv"
    assert LedgerEntry.objects.filter(kind="data.downloaded", subject_id=grant.pk).count() == 1


@pytest.mark.parametrize(
    ("case", "status", "code"),
    [
        ("anonymous", 401, "not_authenticated"),
        ("not_the_grantee", 403, "permission_denied"),
        ("unseen", 404, "not_found"),
        ("bad_version", 400, "invalid"),
        ("no_version", 404, "no_version"),
        ("quota_exhausted", 409, "quota_exhausted"),
    ],
)
@pytest.mark.parametrize("accept", ["text/csv", "application/octet-stream", "text/html"])
def test_a_refused_download_is_a_problem_whatever_the_client_accepts(
    data_steward, other_analyst, case, status, code, accept
) -> None:
    # The file's type is no answer to a refusal: the body is a problem, as every other error of the API.
    grant = _grant_on(data_steward, other_analyst, media_type="text/csv")
    user, query = other_analyst, ""
    if case == "anonymous":
        user = None
    elif case == "not_the_grantee":
        user = data_steward  # the owner sees the grant, but downloads nothing under it
    elif case == "unseen":
        user = UserFactory(username="third-analyst", member=MemberFactory(), member_role="analyst")
    elif case == "bad_version":
        query = "?version=abc"
    elif case == "no_version":
        query = "?version=99"
    elif case == "quota_exhausted":
        Grant.objects.filter(pk=grant.pk).update(downloads_remaining=0)
    response = _api_accepting(user, grant, accept, query)
    assert_problem(response, status, code)
    assert not LedgerEntry.objects.filter(kind="data.downloaded", subject_id=grant.pk).exists()
