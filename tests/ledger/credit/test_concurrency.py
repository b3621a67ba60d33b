"""Many processes posting credit at once on PostgreSQL: one credit order, no overspending, and the auditor's
replay matches every stored transfer."""

from __future__ import annotations

import json
import multiprocessing

import pytest
from django.db import connections, transaction

from consortium.errors import Conflict
from ledger import keys
from ledger.credit import engine, services
from ledger.credit.audit import credit_audit
from ledger.credit.models import CreditAccount, CreditTransfer
from ledger.models import LedgerEntry
from ledger.services import ledger_sequence
from tests.ledger.credit.support import TRUSTED_RULES, record

pytestmark = [pytest.mark.postgres, pytest.mark.django_db(transaction=True)]

PROCESSES = 8
PROVIDER, SHARED_CONSUMER = 500, 600
CONSUMERS = [601 + n for n in range(PROCESSES)]
DOWNLOADS = 12
GRANTS_PER_PROCESS = 4
FEE = 20_000  # restricted, 30 days
ALLOWANCE = 500_000


def _request_payload(request: int, consumer: int, **extra) -> dict:
    return {
        "request": request,
        "dataset": 1,
        "grade": 1,
        "tier": "restricted",
        "purpose": "research",
        "duration_days": 30,
        "requester_member": consumer,
        "owner_member": PROVIDER,
        **extra,
    }


def _grant(request: int, consumer: int) -> None:
    with transaction.atomic():
        record(
            "access.requested",
            "access_request",
            request,
            [PROVIDER, consumer],
            _request_payload(request, consumer),
        )
        record(
            "access.granted",
            "access_request",
            request,
            [PROVIDER, consumer],
            _request_payload(request, consumer, grant=request),
        )


def _download(grant: int, consumer: int) -> None:
    payload = {
        "grant": grant,
        "request": grant,
        "dataset": 1,
        "grade": 1,
        "tier": "restricted",
        "grantee_member": consumer,
        "owner_member": PROVIDER,
        "version_sha256": "cd" * 32,
    }
    with transaction.atomic():
        record("data.downloaded", "grant", grant, [PROVIDER, consumer], payload)


def _worker(index: int, results: multiprocessing.Queue) -> None:
    connections.close_all()  # never share the parent's socket
    consumer = CONSUMERS[index]
    refused = 0
    try:
        _grant(1000 + index, consumer)
        for _ in range(DOWNLOADS):
            _download(1000 + index, consumer)
        for n in range(GRANTS_PER_PROCESS):  # every process spends the one shared consumer's allowance
            try:
                _grant(2000 + index * 100 + n, SHARED_CONSUMER)
            except Conflict as exc:
                assert exc.code == "insufficient_credit", exc.code
                refused += 1
        results.put((index, "ok", refused))
    except Exception as exc:  # report to the parent instead of dying silently
        results.put((index, repr(exc), refused))
    finally:
        connections.close_all()


def test_eight_processes_post_credit_in_one_order_without_overspending() -> None:
    keys.active_signer()
    services.credit_rules_publish(actor=None, params=TRUSTED_RULES)
    services.credit_epoch_open(epoch="2026-11")
    for member in (PROVIDER, SHARED_CONSUMER, *CONSUMERS):
        record("member.admitted", "member", member, [member], {"credit_code": f"c{member}"})
    record("dataset.version_added", "dataset", 1, [PROVIDER], {"dataset": 1, "grade": 1, "sha256": "cd" * 32})
    connections.close_all()

    context = multiprocessing.get_context("fork")
    results = context.Queue()
    workers = [context.Process(target=_worker, args=(n, results)) for n in range(PROCESSES)]
    for process in workers:
        process.start()
    outcomes = [results.get(timeout=180) for _ in workers]
    for process in workers:
        process.join(timeout=30)
    assert sorted(outcome[:2] for outcome in outcomes) == [(n, "ok") for n in range(PROCESSES)]

    # The shared consumer's 500 CR allowance pays exactly 25 fees of 20 CR; the rest were refused.
    affordable = ALLOWANCE // FEE
    attempts = PROCESSES * GRANTS_PER_PROCESS
    assert sum(outcome[2] for outcome in outcomes) == attempts - affordable
    shared = CreditAccount.objects.get(account=engine.member_allowance(SHARED_CONSUMER))
    assert shared.credits_posted - shared.debits_posted - shared.debits_pending == 0

    ledger_sequence()
    orders = sorted(
        json.loads(bytes(data))["payload"]["credit"]["order"]
        for data in LedgerEntry.objects.filter(kind__in=engine.CREDIT_KINDS).values_list(
            "canonical", flat=True
        )
    )
    # one credit order across every process: no number twice (refused fees left gaps: rolled back)
    assert len(set(orders)) == len(orders) == LedgerEntry.objects.filter(kind__in=engine.CREDIT_KINDS).count()
    # 12 downloads per consumer: 10 + 5 + 2.5 + 1.25 CR, then nothing (D_k within the epoch)
    assert CreditTransfer.objects.filter(code="use").count() == PROCESSES * 4
    report = credit_audit()
    assert report.ok, report.divergence


def test_a_dataset_withdrawal_closing_two_consumers_requests_does_not_deadlock_with_a_fee(
    data_steward, other_analyst, security_officer
) -> None:
    """The withdrawal voids consumer A's held fee (locking the fees account row) and then B's; meanwhile
    B's own fee-bearing approval holds B's lock and waits for that row. The withdrawal takes both consumers'
    locks before writing anything, so the two queue instead of deadlocking."""
    import threading
    import time
    from unittest import mock

    from exchange import services as exchange
    from exchange.services import datasets as dataset_services
    from tests.exchange.support import published, request_access
    from tests.factories import MemberFactory, UserFactory
    from tests.ledger.credit.support import activate, admit

    keys.active_signer()
    third = UserFactory(username="third-analyst", member=MemberFactory(), member_role="analyst")
    activate()
    admit(data_steward.member, other_analyst.member, third.member)
    dataset = published(data_steward, tier="confidential")
    for analyst in (other_analyst, third):
        request = request_access(analyst, dataset)
        exchange.access_request_approve(actor=data_steward, request=request)  # the fee is held
    connections.close_all()

    first_closed, errors = threading.Event(), {}
    original = dataset_services._append_request_entry

    def slow_append(*args, **kwargs):
        entry = original(*args, **kwargs)
        if not first_closed.is_set():
            first_closed.set()
            time.sleep(1.5)  # the other transaction takes B's lock and queues on the fees account
        return entry

    def withdraw() -> None:
        try:
            with mock.patch.object(dataset_services, "_append_request_entry", slow_append):
                exchange.dataset_withdraw(actor=data_steward, dataset=dataset, reason="Superseded.")
        except Exception as exc:
            errors["withdraw"] = repr(exc)
        finally:
            connections.close_all()

    def approve_for_b() -> None:
        try:
            first_closed.wait(timeout=30)
            payload = _request_payload(9_999, third.member_id) | {
                "tier": "confidential",
                "owner_member": data_steward.member_id,
            }
            with transaction.atomic():
                members = [data_steward.member_id, third.member_id]
                record("access.requested", "access_request", 9_999, members, payload)
                record("access.approved", "access_request", 9_999, members, payload)
        except Exception as exc:
            errors["approve"] = repr(exc)
        finally:
            connections.close_all()

    threads = [threading.Thread(target=withdraw), threading.Thread(target=approve_for_b)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(timeout=60)
    assert errors == {}
    assert LedgerEntry.objects.filter(kind="access.withdrawn").count() == 2
    assert CreditTransfer.objects.filter(code="fee_void").count() == 4
    report = credit_audit()
    assert report.ok, report.divergence
