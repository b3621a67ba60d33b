"""A writer that locks a dataset's row and then waits for the credit lock must not deadlock with a decision
on the same dataset that holds the credit lock (shared) and commits a row referring to the dataset.

Found by bench/soak.py: an upload of a new version locked the dataset row FOR UPDATE and waited for the
exclusive credit lock for `dataset.version_added`, while an approval of a request for that dataset held the
credit lock (shared, for `access.granted`) and, at COMMIT, checked its new grant's foreign key to the
dataset, which takes FOR KEY SHARE on the dataset row: a lock FOR UPDATE refuses it. PostgreSQL failed one
of them (a 500). A lock FOR NO KEY UPDATE orders the dataset's writers all the same and lets the key check
through.
"""

from __future__ import annotations

import threading
from collections.abc import Callable
from typing import Any

import pytest
from django.db import connection, connections, transaction

from exchange import services
from exchange.models import Dataset, DatasetVersion, Grant
from ledger import keys
from ledger.models import LedgerEntry
from tests.exchange.support import add_version, published, request_access

pytestmark = [pytest.mark.postgres, pytest.mark.django_db(transaction=True)]

WRITERS: dict[str, Callable[[Any, Dataset], Any]] = {
    "version upload": lambda steward, dataset: add_version(steward, dataset, b"ts,value\n2,3\n"),
    "withdrawal": lambda steward, dataset: services.dataset_withdraw(
        actor=steward, dataset=dataset, reason="Superseded."
    ),
}


def _in_thread(job: Callable[[], Any], outcomes: dict[str, str], name: str) -> threading.Thread:
    def run() -> None:
        try:
            job()
            outcomes[name] = "ok"
        except Exception as exc:  # the deadlock is an OperationalError: report it
            outcomes[name] = repr(exc)
        finally:
            connections.close_all()

    thread = threading.Thread(target=run)
    thread.start()
    return thread


def _some_backend_waits_for_a_lock() -> bool:
    with connection.cursor() as cursor:
        cursor.execute("SELECT count(*) FROM pg_locks WHERE NOT granted")
        return cursor.fetchone()[0] > 0


@pytest.mark.parametrize("writer", list(WRITERS))
def test_a_dataset_writer_and_an_approval_on_the_dataset_do_not_deadlock(
    writer: str, data_steward, other_analyst
) -> None:
    dataset = published(data_steward, tier="restricted")
    request = request_access(other_analyst, dataset)
    keys.active_signer()
    approved, writer_waits = threading.Event(), threading.Event()

    def approve() -> None:
        with transaction.atomic():  # the approval's commit is held until the writer waits for the credit lock
            services.access_request_approve(actor=data_steward, request=request)
            approved.set()
            writer_waits.wait(timeout=30)

    def write() -> None:
        assert approved.wait(timeout=30)
        WRITERS[writer](data_steward, Dataset.objects.get(pk=dataset.pk))

    outcomes: dict[str, str] = {}
    connections.close_all()
    threads = [_in_thread(approve, outcomes, "approve"), _in_thread(write, outcomes, "write")]
    assert approved.wait(timeout=30)
    for _ in range(3000):  # the writer holds the dataset row and waits (credit lock, the request's row)
        if _some_backend_waits_for_a_lock():
            break
        threading.Event().wait(0.01)
    writer_waits.set()
    for thread in threads:
        thread.join(timeout=60)
    assert outcomes == {"approve": "ok", "write": "ok"}
    assert Grant.objects.filter(request=request).count() == 1
    assert LedgerEntry.objects.filter(kind="access.granted").count() == 1
    if writer == "version upload":
        assert DatasetVersion.objects.filter(dataset=dataset).count() == 2
