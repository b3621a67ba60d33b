"""A withdrawal that commits first wins over an upload or a policy change that read the dataset before it,
and a stored version file never outlives a transaction that failed after storing it."""

from __future__ import annotations

import pytest
from django.db import DatabaseError, connection

from consortium.errors import Conflict
from exchange import services
from exchange.models import AccessPolicy, Dataset, DatasetVersion
from ledger.models import LedgerEntry
from tests.exchange.support import add_version, published, set_policy


def _files(tmp_path) -> list:
    return sorted(path for path in (tmp_path / "media").rglob("*") if path.is_file())


def _withdrawn_behind(steward, dataset: Dataset) -> Dataset:
    """`dataset` as read before a withdrawal that then committed: it still says listed."""
    stale = Dataset.objects.get(pk=dataset.pk)
    services.dataset_withdraw(actor=steward, dataset=dataset, reason="Retired.")
    assert stale.status == "listed"
    return stale


@pytest.mark.django_db
def test_an_upload_that_read_the_dataset_before_its_withdrawal_is_refused(data_steward, tmp_path) -> None:
    dataset = published(data_steward, tier="open")
    stale = _withdrawn_behind(data_steward, dataset)
    files, entries = _files(tmp_path), LedgerEntry.objects.count()
    with pytest.raises(Conflict) as refused:
        add_version(data_steward, stale, b"late,1\n")
    assert refused.value.code == "dataset_withdrawn"
    assert DatasetVersion.objects.filter(dataset=dataset).count() == 1
    assert LedgerEntry.objects.count() == entries and _files(tmp_path) == files


@pytest.mark.django_db
def test_a_policy_change_that_read_the_dataset_before_its_withdrawal_is_refused(data_steward) -> None:
    dataset = published(data_steward, tier="open")
    revision = AccessPolicy.objects.get(dataset=dataset).revision
    stale = _withdrawn_behind(data_steward, dataset)
    entries = LedgerEntry.objects.count()
    with pytest.raises(Conflict) as refused:
        set_policy(data_steward, stale, tier="restricted")
    assert refused.value.code == "dataset_withdrawn"
    assert AccessPolicy.objects.get(dataset=dataset).revision == revision
    assert LedgerEntry.objects.count() == entries


@pytest.mark.django_db(transaction=True)
def test_a_failed_commit_leaves_no_stored_file(data_steward, tmp_path, monkeypatch) -> None:
    dataset = published(data_steward, tier="open")
    files = _files(tmp_path)

    def fail(*args, **kwargs):
        raise DatabaseError("the commit failed")

    monkeypatch.setattr(connection, "commit", fail)
    with pytest.raises(DatabaseError):
        add_version(data_steward, dataset, b"lost,1\n")
    monkeypatch.undo()
    assert DatasetVersion.objects.filter(dataset=dataset).count() == 1
    assert _files(tmp_path) == files
