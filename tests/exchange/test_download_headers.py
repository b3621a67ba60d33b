"""The headers a grantee's download carries, through the portal and the API alike.

A version's file is another member's content served from the exchange's own origin: it must always arrive
as an attachment, never as a page the browser renders (and runs) in the grantee's session. Its name may be
Chinese: Django encodes a header value outside Latin-1 as one RFC 2047 word, which hid the `attachment`
disposition type inside `=?utf-8?b?...?=`, so browsers that find no disposition type render inline.
"""

from __future__ import annotations

import pytest
from django.core.files.base import ContentFile
from django.urls import reverse
from rest_framework.test import APIClient

from consortium.errors import ValidationFailed
from exchange import services
from exchange.models import Grant
from tests.exchange.support import as_user, register, request_access, set_policy

pytestmark = pytest.mark.django_db

PAGE = b"<!doctype html><script>fetch('/api/v1/api-keys/', {method: 'POST'})</script>"


def _grant_on_a_page(steward, requester, filename: str) -> Grant:
    """An open grant of `requester` on a dataset whose only version is an HTML page named `filename`."""
    dataset = register(steward)
    set_policy(steward, dataset, tier="open")
    services.dataset_version_add(
        actor=steward,
        dataset=dataset,
        file=ContentFile(PAGE, name=filename),
        filename=filename,
        media_type="text/html",
    )
    return Grant.objects.get(request=request_access(requester, dataset))


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
    ],
    ids=["ascii", "chinese"],
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
