"""The name a version keeps and is downloaded under: its owner's own, cleaned only of what would break or
spoof a name (exchange.services.versions.version_filename); the file on disk is named as storage allows."""

from __future__ import annotations

from pathlib import Path

import pytest
from django.conf import settings
from django.core.files.base import ContentFile

from exchange import services
from exchange.services.versions import version_filename
from tests.exchange.support import register

pytestmark = pytest.mark.django_db


@pytest.mark.parametrize(
    ("uploaded", "kept"),
    [
        ("2026年 振动数据\uff08第1批\uff09.csv", "2026年 振动数据\uff08第1批\uff09.csv"),
        ("quality report.csv", "quality report.csv"),
        ("C:\\Users\\li\\report.csv", "report.csv"),
        ("../../etc/passwd", "passwd"),
        # U+202E would show "evil\u202egpj.exe" as "evilexe.jpg"
        ("evil\u202egpj.exe", "evilgpj.exe"),
        ("zero\u200bwidth.csv", "zerowidth.csv"),
        (
            "\u0645\u06cc\u200c\u062e\u0648\u0627\u0647\u0645.csv",
            "\u0645\u06cc\u200c\u062e\u0648\u0627\u0647\u0645.csv",
        ),  # ZWNJ kept
        ("\ue000\U00031350.csv", "\ue000\U00031350.csv"),  # private use; CJK Extension H (Unicode 15)
        ('a<b>:c"d|e?f*.csv', "a_b__c_d_e_f_.csv"),
        ("line\r\nbreak.csv", "line break.csv"),
        ("tabs\t\u3000and   spaces.csv", "tabs and spaces.csv"),
        ("  .hidden. ", "hidden"),
        ("e\u0301.csv", "\u00e9.csv"),  # NFC: one character, as the owner typed it on another system
        ("...", "data.bin"),
        ("", "data.bin"),
        (None, "data.bin"),
        ("数" * 200 + ".csv", "数" * 146 + ".csv"),
    ],
)
def test_a_version_keeps_its_owners_name_without_what_breaks_or_spoofs_one(uploaded, kept) -> None:
    assert version_filename(uploaded) == kept


@pytest.mark.parametrize(
    ("name", "stored"),
    [
        ("2026年 振动数据\uff08第1批\uff09.csv", "2026年_振动数据第1批.csv"),
        # Storage keeps word characters, dots and hyphens: of these names nothing, or only the extension
        ("\uff08\uff09", "data.bin"),
        ("\uff01\uff01\uff01", "data.bin"),
        ("#..#", "data.bin"),
        ("\uff08\uff09.csv", "data.csv"),
    ],
)
def test_the_version_keeps_the_name_and_the_file_on_disk_is_named_as_storage_allows(
    data_steward, name, stored
) -> None:
    dataset = register(data_steward)
    version = services.dataset_version_add(
        actor=data_steward,
        dataset=dataset,
        file=ContentFile(b"a,b\n1,2\n", name=name),
        filename=name,
        media_type="text/csv",
    )
    assert version.filename == name
    assert Path(version.file.name).name == stored
    assert (Path(settings.MEDIA_ROOT) / version.file.name).read_bytes() == b"a,b\n1,2\n"
