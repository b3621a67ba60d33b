"""An oversize version file is refused while it arrives (413 problem body), never spooled whole, and
leaves nothing behind: no version row, no file in storage, no ledger entry."""

from __future__ import annotations

import io

import pytest
from django.core.files.uploadedfile import SimpleUploadedFile
from django.core.files.uploadhandler import FileUploadHandler, MemoryFileUploadHandler
from django.http.multipartparser import MultiPartParser
from django.test import Client
from django.test.client import BOUNDARY, MULTIPART_CONTENT, encode_multipart
from django.urls import reverse

from exchange import services
from exchange.models import DatasetVersion
from exchange.uploads import MaxUploadSizeHandler
from ledger.models import LedgerEntry
from tests.api.test_problems import assert_problem
from tests.exchange.support import published

pytestmark = pytest.mark.django_db

LIMIT = 1000
SMALL = b"a,b\n1,2\n"


@pytest.fixture(autouse=True)
def _limit(settings) -> None:
    settings.EXCHANGE = {**settings.EXCHANGE, "MAX_UPLOAD_BYTES": LIMIT}


@pytest.fixture
def block_the_service(monkeypatch):
    """Call once the dataset is set up: from then on the service must not be reached."""

    def refuse(**kwargs):
        raise AssertionError("an oversize upload reached the service")

    return lambda: monkeypatch.setattr(services, "dataset_version_add", refuse)


def _state(tmp_path) -> tuple[int, int, list]:
    return (
        DatasetVersion.objects.count(),
        LedgerEntry.objects.count(),
        sorted((tmp_path / "media").rglob("*")),
    )


def test_oversize_upload_is_a_413_and_stores_nothing(
    client_for, data_steward, tmp_path, block_the_service
) -> None:
    dataset = published(data_steward, tier="open", content=SMALL)
    before = _state(tmp_path)
    block_the_service()
    upload = SimpleUploadedFile("big.csv", b"x" * (200 * 1024), content_type="text/csv")
    response = client_for(data_steward).post(
        f"/api/v1/datasets/{dataset.pk}/versions/", {"file": upload}, format="multipart"
    )
    body = assert_problem(response, 413, "upload_too_large")
    assert body["limit_bytes"] == LIMIT
    assert _state(tmp_path) == before


def test_upload_within_the_limit_is_stored(client_for, data_steward, tmp_path) -> None:
    dataset = published(data_steward, tier="open", content=SMALL)
    upload = SimpleUploadedFile("ok.csv", b"y" * LIMIT, content_type="text/csv")
    response = client_for(data_steward).post(
        f"/api/v1/datasets/{dataset.pk}/versions/", {"file": upload}, format="multipart"
    )
    assert response.status_code == 201, response.content
    assert response.json()["size"] == LIMIT


def _csrf_client(user, dataset) -> tuple[Client, str]:
    """A session client that enforces CSRF, holding the cookie a portal page sets, and its token."""
    client = Client(enforce_csrf_checks=True)
    client.force_login(user)
    assert client.get(reverse("portal:dataset-detail", args=[dataset.pk])).status_code == 200
    return client, client.cookies["csrftoken"].value


def test_session_upload_with_csrf_checks_is_refused_as_it_arrives(
    data_steward, tmp_path, block_the_service
) -> None:
    dataset = published(data_steward, tier="open", content=SMALL)
    before = _state(tmp_path)
    block_the_service()
    client, token = _csrf_client(data_steward, dataset)
    upload = SimpleUploadedFile("big.csv", b"x" * (200 * 1024), content_type="text/csv")
    # The token is in the header, so the CSRF check leaves the body to the view, which applies the limit.
    response = client.post(
        f"/api/v1/datasets/{dataset.pk}/versions/", {"file": upload}, headers={"X-CSRFToken": token}
    )
    assert_problem(response, 413, "upload_too_large")
    assert _state(tmp_path) == before


def test_portal_upload_is_refused_as_it_arrives(data_steward, tmp_path, block_the_service) -> None:
    dataset = published(data_steward, tier="open", content=SMALL)
    before = _state(tmp_path)
    block_the_service()
    client = Client()
    client.force_login(data_steward)
    upload = SimpleUploadedFile("big.csv", b"x" * (200 * 1024), content_type="text/csv")
    response = client.post(reverse("portal:dataset-version-upload", args=[dataset.pk]), {"file": upload})
    assert response.status_code == 413
    assert f"larger than the limit of {LIMIT} bytes" in response.content.decode()
    assert _state(tmp_path) == before


def test_portal_upload_with_csrf_is_refused_as_it_arrives(data_steward, tmp_path, block_the_service) -> None:
    dataset = published(data_steward, tier="open", content=SMALL)
    before = _state(tmp_path)
    client, token = _csrf_client(data_steward, dataset)
    block_the_service()
    upload = SimpleUploadedFile("big.csv", b"x" * (200 * 1024), content_type="text/csv")
    response = client.post(
        reverse("portal:dataset-version-upload", args=[dataset.pk]),
        {"file": upload, "csrfmiddlewaretoken": token},
    )
    assert response.status_code == 413
    assert _state(tmp_path) == before


def test_portal_upload_with_csrf_within_the_limit_is_stored(data_steward) -> None:
    dataset = published(data_steward, tier="open", content=SMALL)
    client, token = _csrf_client(data_steward, dataset)
    upload = SimpleUploadedFile("ok.csv", b"z" * LIMIT, content_type="text/csv")
    response = client.post(
        reverse("portal:dataset-version-upload", args=[dataset.pk]),
        {"file": upload, "csrfmiddlewaretoken": token},
    )
    assert response.status_code == 302
    assert dataset.versions.count() == 2


def test_portal_upload_still_checks_csrf(data_steward, tmp_path) -> None:
    dataset = published(data_steward, tier="open", content=SMALL)
    before = _state(tmp_path)
    client = Client(enforce_csrf_checks=True)
    client.force_login(data_steward)
    upload = SimpleUploadedFile("ok.csv", b"z" * 10, content_type="text/csv")
    response = client.post(reverse("portal:dataset-version-upload", args=[dataset.pk]), {"file": upload})
    assert response.status_code == 403
    assert _state(tmp_path) == before


class _Spy(FileUploadHandler):
    """Counts what reaches the handlers after the size limit."""

    received = 0

    def receive_data_chunk(self, raw_data: bytes, start: int) -> bytes:
        _Spy.received += len(raw_data)
        return raw_data

    def file_complete(self, file_size: int) -> None:
        return None


def test_handlers_after_the_limit_never_receive_the_whole_file() -> None:
    _Spy.received = 0
    body = encode_multipart(BOUNDARY, {"file": SimpleUploadedFile("big.bin", b"x" * (1024 * 1024))})
    meta = {"CONTENT_TYPE": MULTIPART_CONTENT, "CONTENT_LENGTH": str(len(body))}
    handlers = [MaxUploadSizeHandler(), _Spy(), MemoryFileUploadHandler()]
    with pytest.raises(services.UploadTooLarge):
        MultiPartParser(meta, io.BytesIO(body), handlers).parse()
    assert _Spy.received <= LIMIT


def test_many_files_each_under_the_limit_are_refused_once_together_they_pass_it() -> None:
    # Django parses up to DATA_UPLOAD_MAX_NUMBER_FILES (100) files per body: counted per file, a body of
    # 100 files each just under the limit would be spooled whole (100 times the limit) before the view
    # refuses more than one file.
    _Spy.received = 0
    files = {f"file{n}": SimpleUploadedFile(f"part{n}.bin", b"x" * LIMIT) for n in range(10)}
    body = encode_multipart(BOUNDARY, files)
    meta = {"CONTENT_TYPE": MULTIPART_CONTENT, "CONTENT_LENGTH": str(len(body))}
    handlers = [MaxUploadSizeHandler(), _Spy(), MemoryFileUploadHandler()]
    with pytest.raises(services.UploadTooLarge):
        MultiPartParser(meta, io.BytesIO(body), handlers).parse()
    assert _Spy.received <= LIMIT


@pytest.mark.parametrize("face", ["api", "portal"])
def test_two_files_together_over_the_limit_are_a_413(
    client_for, data_steward, tmp_path, block_the_service, face
) -> None:
    dataset = published(data_steward, tier="open", content=SMALL)
    before = _state(tmp_path)
    block_the_service()
    parts = {
        "file": SimpleUploadedFile("a.csv", b"a" * 800, content_type="text/csv"),
        "other": SimpleUploadedFile("b.csv", b"b" * 800, content_type="text/csv"),
    }
    if face == "api":
        response = client_for(data_steward).post(
            f"/api/v1/datasets/{dataset.pk}/versions/", parts, format="multipart"
        )
        assert_problem(response, 413, "upload_too_large")
    else:
        client = Client()
        client.force_login(data_steward)
        response = client.post(reverse("portal:dataset-version-upload", args=[dataset.pk]), parts)
        assert response.status_code == 413
    assert _state(tmp_path) == before
