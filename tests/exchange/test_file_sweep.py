"""Version files left behind by a caller's rolled-back transaction are swept; files with rows never are."""

from __future__ import annotations

import os
import time
from datetime import timedelta

import pytest
from django.core.files.storage import default_storage
from django.db import transaction

from exchange import services, tasks
from exchange.models import DatasetVersion
from exchange.services.versions import ORPHAN_GRACE
from tests.exchange.support import add_version, published


@pytest.fixture(autouse=True)
def _own_media(settings, tmp_path) -> None:
    settings.MEDIA_ROOT = tmp_path / "media"


class _RolledBack(Exception):
    pass


def _orphan(steward, dataset) -> str:
    """Store a version inside an enclosing transaction that then rolls back; the stored file's name."""
    with pytest.raises(_RolledBack), transaction.atomic():
        version = add_version(steward, dataset, content=b"rolled,back\n1,2\n")
        name = version.file.name
        raise _RolledBack
    return name


def test_a_file_left_by_a_rolled_back_caller_is_swept_and_kept_files_stay(data_steward):
    dataset = published(data_steward, tier="open")
    kept = dataset.versions.get()
    orphan = _orphan(data_steward, dataset)
    assert default_storage.exists(orphan) and not DatasetVersion.objects.filter(file=orphan).exists()

    assert services.dataset_files_sweep() == []  # within the grace period an upload may still commit
    assert default_storage.exists(orphan)

    assert services.dataset_files_sweep(older_than=timedelta(0)) == [orphan]
    assert not default_storage.exists(orphan)
    assert default_storage.exists(kept.file.name)
    with kept.file.open("rb") as handle:
        assert handle.read()


def test_the_beat_task_sweeps_orphans_past_the_grace_period(data_steward):
    dataset = published(data_steward, tier="open")
    orphan = _orphan(data_steward, dataset)
    assert tasks.sweep_dataset_files_task() == 0
    past = time.time() - ORPHAN_GRACE.total_seconds() - 60
    os.utime(default_storage.path(orphan), (past, past))
    assert tasks.sweep_dataset_files_task() == 1
    assert not default_storage.exists(orphan)
    assert all(default_storage.exists(version.file.name) for version in DatasetVersion.objects.all())


def test_a_sweep_with_no_files_stored_is_empty():
    assert services.dataset_files_sweep(older_than=timedelta(0)) == []
