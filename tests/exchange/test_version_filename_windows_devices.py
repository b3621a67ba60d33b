"""A version's name that Windows reserves for a device (CON, NUL, COM1, LPT¹ ...) is renamed, so that its
download can be saved there under the name it is offered with (exchange.services.versions.version_filename);
names that only look like one stay as their owner wrote them."""

from __future__ import annotations

import pytest
from django.core.files.base import ContentFile
from django.urls import reverse

from exchange import services
from exchange.models import DatasetVersion, Grant
from exchange.services.versions import VERSION_FILENAME_MAX_CHARS, version_filename
from tests.exchange.support import as_user, register, request_access, set_policy


@pytest.mark.parametrize(
    ("uploaded", "kept"),
    [
        ("CON.csv", "_CON.csv"),
        ("con.csv", "_con.csv"),
        ("nul", "_nul"),
        ("NUL.", "_NUL"),  # the trailing dot goes first, as Windows drops it
        ("Com1.txt", "_Com1.txt"),
        ("com0.csv", "_com0.csv"),
        ("LPT9.tar.gz", "_LPT9.tar.gz"),  # the part before the first dot, not before the extension
        ("aux .csv", "_aux .csv"),  # spaces before the dot are dropped by Windows
        ("aux  .csv", "_aux .csv"),
        ("prn.txt ", "_prn.txt"),
        ("COM\u00b9.csv", "_COM\u00b9.csv"),  # superscript digits count as COM and LPT numbers
        ("lpt\u00b3", "_lpt\u00b3"),
        ("CONIN$.log", "_CONIN$.log"),
        ("conout$", "_conout$"),
        ("C:\\Users\\li\\CON.csv", "_CON.csv"),  # the directory part goes before the check
        ("CO\u200bN.csv", "_CON.csv"),  # and invisible characters do too
        ("CON:stream.csv", "CON_stream.csv"),  # ":" is replaced already, which makes another name
        # Near misses: not device names, kept as they are.
        ("CONSOLE.csv", "CONSOLE.csv"),
        ("com10.csv", "com10.csv"),
        ("nul_data.csv", "nul_data.csv"),
        ("LPT.csv", "LPT.csv"),
        ("COM.csv", "COM.csv"),
        ("xCON.csv", "xCON.csv"),
        ("data.CON", "data.CON"),
        ("my nul.csv", "my nul.csv"),
        ("COM\u2074.csv", "COM\u2074.csv"),  # only 1 to 3 have superscripts Windows counts
        ("COM\uff11.csv", "COM\uff11.csv"),  # a full-width digit is another character
        ("_CON.csv", "_CON.csv"),  # a renamed name stays as it is when uploaded again
    ],
)
def test_a_windows_device_name_is_renamed_and_near_misses_stay(uploaded, kept) -> None:
    assert version_filename(uploaded) == kept


def test_a_renamed_device_name_stays_within_the_length_limit() -> None:
    longest = "CON." + "x" * (VERSION_FILENAME_MAX_CHARS - 8) + ".csv"
    assert len(longest) == VERSION_FILENAME_MAX_CHARS
    renamed = version_filename(longest)
    assert renamed == "_" + longest[:-1]
    assert len(renamed) == VERSION_FILENAME_MAX_CHARS


def test_a_name_cut_to_the_limit_that_leaves_a_device_name_is_renamed_too() -> None:
    # The cut keeps the end of a long name; here that end starts with "nul.".
    uploaded = "y" * 20 + "nul." + "z" * (VERSION_FILENAME_MAX_CHARS - 4)
    assert version_filename(uploaded) == "_" + uploaded[-VERSION_FILENAME_MAX_CHARS:][:-1]


@pytest.mark.django_db
def test_an_upload_named_con_is_downloaded_under_the_renamed_name(data_steward, other_analyst) -> None:
    dataset = register(data_steward)
    set_policy(data_steward, dataset, tier="open")
    services.dataset_version_add(
        actor=data_steward,
        dataset=dataset,
        file=ContentFile(b"a,b\n1,2\n", name="CON.csv"),
        filename="CON.csv",
        media_type="text/csv",
    )
    grant = Grant.objects.get(request=request_access(other_analyst, dataset))
    response = as_user(other_analyst).post(reverse("portal:grant-download", args=[grant.pk]))
    assert response.status_code == 200
    assert response["Content-Disposition"] == 'attachment; filename="_CON.csv"'


@pytest.mark.django_db
@pytest.mark.parametrize(
    ("stored", "offered"),
    [
        ("CON.csv", 'attachment; filename="_CON.csv"'),
        ("lpt1.tar.gz", 'attachment; filename="_lpt1.tar.gz"'),
        # Any rule the name predates: an override, with which this .exe reads "reportexe.csv".
        ("report\u202evsc.exe", 'attachment; filename="reportvsc.exe"'),
    ],
)
def test_a_version_stored_before_the_rename_is_downloaded_under_the_renamed_name(
    data_steward, other_analyst, client_for, stored, offered
) -> None:
    dataset = register(data_steward)
    set_policy(data_steward, dataset, tier="open", download_quota=2)
    version = services.dataset_version_add(
        actor=data_steward,
        dataset=dataset,
        file=ContentFile(b"a,b\n1,2\n", name="readings.csv"),
        filename="readings.csv",
        media_type="text/csv",
    )
    DatasetVersion.objects.filter(pk=version.pk).update(filename=stored)  # as stored before the rule
    grant = Grant.objects.get(request=request_access(other_analyst, dataset))
    portal = as_user(other_analyst).post(reverse("portal:grant-download", args=[grant.pk]))
    api = client_for(other_analyst).post(f"/api/v1/grants/{grant.pk}/download/")
    assert (portal.status_code, api.status_code) == (200, 200)
    assert portal["Content-Disposition"] == api["Content-Disposition"] == offered
    assert DatasetVersion.objects.get(pk=version.pk).filename == stored  # the record is not rewritten
