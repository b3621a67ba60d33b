"""A version's stored file lives exactly as long as its row: kept once the row committed, whatever happens
after the commit; never overwritten or lost when uploads to one dataset race."""

from __future__ import annotations

import hashlib
import threading
from datetime import timedelta

import pytest
from django.core.files.base import ContentFile
from django.core.files.storage import default_storage
from django.db import connections

import ledger.services.after_commit
from consortium.errors import ServiceError
from exchange import services
from exchange.models import DatasetVersion
from ledger import keys
from ledger.models import LedgerEntry
from tests.exchange.support import add_version, published


class WorkerTimeout(BaseException):
    """What a web worker's timeout raises in whatever frame runs (gunicorn: SystemExit from SIGABRT)."""


@pytest.mark.django_db(transaction=True)
def test_an_interrupt_after_the_commit_keeps_the_committed_versions_file(data_steward, monkeypatch) -> None:
    """The sequencer runs in the upload's after-commit hook (inline, the default), inside the atomic block's
    exit: an interrupt there reached the upload's clean-up, which deleted the file of a committed row."""
    dataset = published(data_steward, tier="open")

    def interrupted() -> None:
        raise WorkerTimeout

    monkeypatch.setattr(ledger.services.after_commit, "_sequencing_due", lambda now: True)
    monkeypatch.setattr(ledger.services.after_commit, "request_sequencing", interrupted)
    with pytest.raises(WorkerTimeout):
        add_version(data_steward, dataset, b"kept,1\n")
    monkeypatch.undo()

    version = DatasetVersion.objects.get(dataset=dataset, number=2)  # committed before the interrupt
    assert LedgerEntry.objects.filter(kind="dataset.version_added").count() == 2
    assert default_storage.exists(version.file.name)
    with version.file.open("rb") as handle:
        assert handle.read() == b"kept,1\n"


@pytest.mark.postgres
@pytest.mark.django_db(transaction=True)
def test_uploads_racing_on_one_dataset_each_keep_their_own_file(data_steward) -> None:
    """Four uploads of the same name at once (two of the same bytes): numbered one after another, each
    with its own file holding its own bytes, nothing stored without a row; of the two with the same bytes
    one is refused as duplicate_version (the dataset's row lock orders them)."""
    dataset = published(data_steward, tier="open")
    contents = [b"same,1\n", b"same,1\n", b"other,2\n", b"third,3\n"]
    keys.active_signer()
    barrier, outcomes = threading.Barrier(len(contents)), []

    def upload(content: bytes) -> None:
        try:
            barrier.wait(timeout=30)
            services.dataset_version_add(
                actor=data_steward,
                dataset=dataset,
                file=ContentFile(content, name="readings.csv"),
                filename="readings.csv",
                media_type="text/csv",
                declared_sha256=hashlib.sha256(content).hexdigest(),
            )
            outcomes.append("ok")
        except ServiceError as exc:
            outcomes.append(exc.code)
        except Exception as exc:
            outcomes.append(repr(exc))
        finally:
            connections.close_all()

    connections.close_all()
    threads = [threading.Thread(target=upload, args=(content,)) for content in contents]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(timeout=120)
    assert sorted(outcomes) == ["duplicate_version", "ok", "ok", "ok"]

    versions = list(DatasetVersion.objects.filter(dataset=dataset).order_by("number"))
    assert [v.number for v in versions] == [1, 2, 3, 4]
    assert LedgerEntry.objects.filter(kind="dataset.version_added").count() == 4
    assert len({v.file.name for v in versions}) == 4
    for version in versions:
        with version.file.open("rb") as handle:
            assert hashlib.sha256(handle.read()).hexdigest() == version.sha256
    assert services.dataset_files_sweep(older_than=timedelta(0)) == []
