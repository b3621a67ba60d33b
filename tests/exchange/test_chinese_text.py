"""Chinese text on the exchange's paths, where it is measured or matched differently from ASCII.

Member firms name their files and datasets in Chinese: a character is three bytes in UTF-8 (four outside the
Basic Multilingual Plane, e.g. 𠮷), and SQLite keeps JSON text with non-ASCII characters escaped.
"""

from __future__ import annotations

from pathlib import Path
from urllib.parse import quote

import pytest
from django.conf import settings
from django.core.files.uploadedfile import SimpleUploadedFile
from django.urls import reverse

from exchange.models import Dataset, DatasetVersion, Grant
from tests.exchange.support import REGISTRATION_FORM, as_user, register, request_access, set_policy

pytestmark = pytest.mark.django_db

CONTENT = b"sensor,value\n1,2\n"


@pytest.mark.parametrize(
    "filename",
    ["数" * 146 + ".csv", "𠮷" * 146 + ".csv", "振动数据" * 50],
    ids=["bmp-characters", "astral-characters", "no-extension"],
)
def test_a_version_named_in_150_chinese_characters_is_stored_and_downloads_under_its_name(
    data_steward, other_analyst, client_for, filename
) -> None:
    # 150 characters are 450 bytes or more in UTF-8, past the 255 bytes a file system allows one name.
    dataset = register(data_steward)
    set_policy(data_steward, dataset, tier="open")
    upload = SimpleUploadedFile(filename, CONTENT, content_type="text/csv")
    response = client_for(data_steward).post(
        f"/api/v1/datasets/{dataset.pk}/versions/", {"file": upload}, format="multipart"
    )
    assert response.status_code == 201, response.content
    kept = filename[-150:]
    assert response.json()["filename"] == kept

    version = DatasetVersion.objects.get(dataset=dataset)
    stored = Path(version.file.name).name
    assert len(stored.encode()) <= 240
    assert stored.endswith(".csv") == filename.endswith(".csv")
    assert kept.startswith(stored.removesuffix(".csv"))
    assert (Path(settings.MEDIA_ROOT) / version.file.name).read_bytes() == CONTENT

    grant = Grant.objects.get(request=request_access(other_analyst, dataset))
    download = client_for(other_analyst).post(f"/api/v1/grants/{grant.pk}/download/")
    assert download.status_code == 200
    assert download["Content-Disposition"] == f"attachment; filename*=utf-8''{quote(kept)}"
    assert b"".join(download.streaming_content) == CONTENT


# Each dataset has its words in one place only: the search must look in title, description and keywords.
CATALOG = {
    "Spindle vibration": {"keywords": ["振动", "CNC主轴"]},
    "Coolant temperatures": {"keywords": ["热处理", "𠮷野"]},
    "主轴振动数据 2025": {"keywords": ["ascii"]},
    "Bearing wear": {"description": "每秒一行的轴承磨损读数。"},
}


@pytest.fixture
def catalog(data_steward) -> None:
    for title, fields in CATALOG.items():
        dataset = register(
            data_steward,
            title=title,
            keywords=fields.get("keywords", []),
            **{key: value for key, value in fields.items() if key != "keywords"},
        )
        set_policy(data_steward, dataset, tier="open")


@pytest.mark.parametrize(
    ("search", "titles"),
    [
        ("热处理", ["Coolant temperatures"]),
        ("𠮷", ["Coolant temperatures"]),
        ("c主轴", ["Spindle vibration"]),
        ("主轴", ["Spindle vibration", "主轴振动数据 2025"]),
        ("振动", ["Spindle vibration", "主轴振动数据 2025"]),
        ("轴承磨损", ["Bearing wear"]),
    ],
)
def test_the_catalog_finds_a_chinese_substring_of_a_keyword_on_every_database(
    catalog, analyst, client_for, search, titles
) -> None:
    response = client_for(analyst).get("/api/v1/datasets/", {"search": search, "ordering": "title"})
    assert response.status_code == 200
    assert [dataset["title"] for dataset in response.json()["results"]] == sorted(titles)
    page = as_user(analyst).get(reverse("portal:catalog"), {"search": search}).content.decode()
    assert all(title in page for title in titles)
    assert not any(title in page for title in set(CATALOG) - set(titles))


def test_portal_keywords_typed_with_chinese_commas_are_separate_keywords(data_steward) -> None:
    # A Chinese input method types the full-width comma and the enumeration comma where English has ",".
    keywords = "振动\uff0c数控\u3001CNC主轴, 热处理\uff0c"
    form = {**REGISTRATION_FORM, "title": "主轴振动", "keywords": keywords}
    response = as_user(data_steward).post(reverse("portal:my-datasets"), form)
    assert response.status_code == 302
    assert sorted(Dataset.objects.get(title="主轴振动").keywords) == sorted(
        ["振动", "数控", "CNC主轴", "热处理"]
    )
