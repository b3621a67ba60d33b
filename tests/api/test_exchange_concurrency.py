"""Races on PostgreSQL: deciders and downloaders in separate processes, started together by a barrier.

Two stewards approving one request at the same moment yield exactly one grant and one `access.granted`;
two security officers approving and rejecting one request decide it once; a withdrawal racing an approval
charges the grant fee only if the approval won;
ten downloads against a quota of 3 yield exactly 3 downloads and 3 `data.downloaded` entries; a
revocation and an open request of the grantee member, each step held until the other has taken its first
lock, both commit; a dataset writer (a version upload, a withdrawal) and an approval on the dataset held
before its commit both commit too.
"""

from __future__ import annotations

import multiprocessing
import threading
from collections.abc import Callable
from typing import Any

import pytest
from django.db import connection, connections, transaction

from consortium.errors import ServiceError
from exchange import services
from exchange.models import AccessRequest, Dataset, DatasetVersion, Grant
from exchange.services import access_requests as access_request_services
from exchange.services import grants as grant_services
from ledger import keys
from ledger.credit.audit import credit_audit
from ledger.credit.models import CreditTransfer
from ledger.models import LedgerEntry
from tests.exchange.support import add_version, published, request_access
from tests.factories import StaffFactory, UserFactory
from tests.ledger.credit.support import activate, admit

pytestmark = [pytest.mark.postgres, pytest.mark.django_db(transaction=True)]


def _race(jobs: list[Callable[[], Any]]) -> list[str]:
    """Run each job in its own forked process, all released at once; return 'ok' or the error code each."""
    keys.active_signer()  # register the signing key before the children start
    connections.close_all()
    context = multiprocessing.get_context("fork")
    barrier, results = context.Barrier(len(jobs)), context.Queue()

    def run(index: int, job: Callable[[], Any]) -> None:
        connections.close_all()  # never share the parent's socket
        try:
            barrier.wait(timeout=30)
            job()
            results.put((index, "ok"))
        except ServiceError as exc:
            results.put((index, exc.code))
        except Exception as exc:  # report to the parent instead of dying silently
            results.put((index, repr(exc)))
        finally:
            connections.close_all()

    processes = [context.Process(target=run, args=(n, job)) for n, job in enumerate(jobs)]
    for process in processes:
        process.start()
    outcomes = dict(results.get(timeout=120) for _ in processes)
    for process in processes:
        process.join(timeout=30)
    return [outcomes[n] for n in range(len(jobs))]


def _submitted(data_steward, other_analyst, **policy: Any) -> AccessRequest:
    dataset = published(data_steward, tier="restricted", **policy)
    request = request_access(other_analyst, dataset)
    return request


def test_two_stewards_approving_at_once_make_one_grant(data_steward, other_analyst) -> None:
    second = UserFactory(username="second-steward", member=data_steward.member, member_role="data_steward")
    request = _submitted(data_steward, other_analyst)

    def approve(actor: Any) -> Callable[[], Any]:
        return lambda: services.access_request_approve(actor=actor, request=request)

    outcomes = _race([approve(data_steward), approve(second)])
    assert sorted(outcomes) == ["illegal_transition", "ok"]
    assert Grant.objects.filter(request=request).count() == 1
    assert LedgerEntry.objects.filter(kind="access.granted").count() == 1
    assert AccessRequest.objects.get(pk=request.pk).state == "granted"


def test_ten_downloads_against_a_quota_of_three(data_steward, other_analyst) -> None:
    request = _submitted(data_steward, other_analyst, download_quota=3)
    _, _ = services.access_request_approve(actor=data_steward, request=request)
    grant = Grant.objects.get(request=request)

    outcomes = _race(
        [lambda: services.grant_download(actor=other_analyst, grant=grant)[3].close() for _ in range(10)]
    )
    assert outcomes.count("ok") == 3
    assert outcomes.count("quota_exhausted") == 7
    assert LedgerEntry.objects.filter(kind="data.downloaded").count() == 3
    assert Grant.objects.get(pk=grant.pk).downloads_remaining == 0


def test_two_open_requests_at_once_by_one_member_make_one_grant(data_steward, other_analyst) -> None:
    dataset = published(data_steward, tier="open")

    def submit() -> None:
        request_access(other_analyst, dataset)

    outcomes = _race([submit, submit])
    assert sorted(outcomes) == ["already_granted", "ok"]
    assert Grant.objects.filter(dataset=dataset, grantee_id=other_analyst.member_id).count() == 1
    assert LedgerEntry.objects.filter(kind="access.granted").count() == 1


def test_two_security_officers_approving_and_rejecting_at_once_decide_once(
    data_steward, other_analyst, security_officer
) -> None:
    second = StaffFactory(username="second-security", consortium_role="security_officer")
    dataset = published(data_steward, tier="confidential")
    request = request_access(other_analyst, dataset)
    services.access_request_approve(actor=data_steward, request=request)

    outcomes = _race(
        [
            lambda: services.access_request_approve(actor=security_officer, request=request),
            lambda: services.access_request_reject(actor=second, request=request, reason="Not for AI."),
        ]
    )
    assert sorted(outcomes) == ["illegal_transition", "ok"]
    decided = LedgerEntry.objects.filter(
        kind__in=["access.granted", "access.rejected"], subject_id=str(request.pk)
    )
    assert decided.count() == 1
    state = AccessRequest.objects.get(pk=request.pk).state
    assert state == ("granted" if outcomes[0] == "ok" else "rejected")
    assert Grant.objects.filter(request=request).count() == (1 if state == "granted" else 0)


def test_a_withdrawal_racing_an_approval_with_credit_active_charges_the_fee_only_if_granted(
    data_steward, other_analyst
) -> None:
    activate()
    admit(data_steward.member, other_analyst.member)
    request = _submitted(data_steward, other_analyst)

    outcomes = _race(
        [
            lambda: services.access_request_approve(actor=data_steward, request=request),
            lambda: services.access_request_withdraw(actor=other_analyst, request=request),
        ]
    )
    assert sorted(outcomes) == ["illegal_transition", "ok"]
    fees = CreditTransfer.objects.filter(ref=f"request:{request.pk}", code="fee")
    if AccessRequest.objects.get(pk=request.pk).state == "granted":
        assert sum(fees.values_list("amount", flat=True)) == 20_000
    else:
        assert not fees.exists()
    assert credit_audit().ok


def _in_thread(job: Callable[[], Any], outcomes: dict[str, str], name: str) -> threading.Thread:
    def run() -> None:
        try:
            job()
            outcomes[name] = "ok"
        except Exception as exc:  # the deadlock is an OperationalError: report it, not a thread traceback
            outcomes[name] = repr(exc)
        finally:
            connections.close_all()

    thread = threading.Thread(target=run)
    thread.start()
    return thread


def test_a_revocation_and_an_open_request_of_the_grantee_do_not_deadlock(
    data_steward, other_analyst, monkeypatch
) -> None:
    """Found running the production processes: the revocation locked the grantee's group row (its object
    permissions) and then waited for the member's credit lock for `access.revoked`, while an open request
    of the same member held that lock (its `access.requested`) and waited for the group row for its grant.
    PostgreSQL failed one of them (a 500). Here the revocation waits, holding what it has, until the
    request has taken the credit lock, or for two seconds if the request cannot take it."""
    request = _submitted(data_steward, other_analyst)
    services.access_request_approve(actor=data_steward, request=request)
    grant = Grant.objects.get(request=request)
    open_dataset = published(data_steward, tier="open")
    keys.active_signer()
    revoking, request_locked = threading.Event(), threading.Event()
    append = grant_services.ledger_append

    def revocation_append(**entry: Any) -> Any:
        revoking.set()  # after the revocation's own locks (the grant's row, the permissions)
        request_locked.wait(timeout=2)
        return append(**entry)

    def request_append(**entry: Any) -> Any:
        appended = append(**entry)
        if entry["kind"] == "access.requested":
            request_locked.set()
        return appended

    monkeypatch.setattr(grant_services, "ledger_append", revocation_append)
    monkeypatch.setattr(access_request_services, "ledger_append", request_append)

    def submit() -> None:
        assert revoking.wait(timeout=30)
        request_access(other_analyst, open_dataset)

    outcomes: dict[str, str] = {}
    connections.close_all()
    threads = [
        _in_thread(
            lambda: services.grant_revoke(actor=data_steward, grant=grant, reason="Ended."),
            outcomes,
            "revoke",
        ),
        _in_thread(submit, outcomes, "submit"),
    ]
    for thread in threads:
        thread.join(timeout=60)
    assert outcomes == {"revoke": "ok", "submit": "ok"}
    assert Grant.objects.get(pk=grant.pk).revoked_at is not None
    assert Grant.objects.get(dataset=open_dataset, grantee_id=other_analyst.member_id).revoked_at is None
    assert LedgerEntry.objects.filter(kind__in=["access.revoked", "access.granted"]).count() == 3


# A writer that locks a dataset's row and then waits for the credit lock must not deadlock with a decision on
# the same dataset that holds the credit lock (shared) and commits a row referring to the dataset. Found by
# bench/soak.py: an upload locked the dataset row FOR UPDATE and waited for the exclusive credit lock for
# `dataset.version_added`, while an approval held the credit lock (shared, for `access.granted`) and, at
# COMMIT, checked its new grant's foreign key to the dataset with FOR KEY SHARE, which FOR UPDATE refuses.
# PostgreSQL failed one of them (a 500). FOR NO KEY UPDATE orders the writers as well and lets the check by.
DATASET_WRITERS: dict[str, Callable[[Any, Dataset], Any]] = {
    "version upload": lambda steward, dataset: add_version(steward, dataset, b"ts,value\n2,3\n"),
    "withdrawal": lambda steward, dataset: services.dataset_withdraw(
        actor=steward, dataset=dataset, reason="Superseded."
    ),
}


def _waits_for_a_lock(backend: int) -> bool:
    """Whether PostgreSQL backend `backend` waits for a lock now (its own only: tests share the server)."""
    with connection.cursor() as cursor:
        cursor.execute("SELECT count(*) FROM pg_locks WHERE pid = %s AND NOT granted", [backend])
        return cursor.fetchone()[0] > 0


@pytest.mark.parametrize("writer", list(DATASET_WRITERS))
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

    writer_backend: list[int] = []

    def write() -> None:
        with connection.cursor() as cursor:
            cursor.execute("SELECT pg_backend_pid()")
            writer_backend.append(cursor.fetchone()[0])
        assert approved.wait(timeout=30)
        DATASET_WRITERS[writer](data_steward, Dataset.objects.get(pk=dataset.pk))

    outcomes: dict[str, str] = {}
    connections.close_all()
    threads = [_in_thread(approve, outcomes, "approve"), _in_thread(write, outcomes, "write")]
    assert approved.wait(timeout=30)
    # The race is reached only once the writer holds the dataset row and waits (the credit lock, the
    # request's row) while the approval has not committed.
    waited = False
    for _ in range(3000):
        if writer_backend and _waits_for_a_lock(writer_backend[0]):
            waited = True
            break
        threading.Event().wait(0.01)
    writer_waits.set()
    for thread in threads:
        thread.join(timeout=60)
    assert waited, "the writer never waited for the approval: the race was not reached"
    assert outcomes == {"approve": "ok", "write": "ok"}
    assert Grant.objects.filter(request=request).count() == 1
    assert LedgerEntry.objects.filter(kind="access.granted").count() == 1
    if writer == "version upload":
        assert DatasetVersion.objects.filter(dataset=dataset).count() == 2
        assert LedgerEntry.objects.filter(kind="dataset.version_added").count() == 2
    else:
        assert Dataset.objects.get(pk=dataset.pk).status == "withdrawn"
        assert LedgerEntry.objects.filter(kind="dataset.withdrawn").count() == 1
