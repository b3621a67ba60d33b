"""With a broker configured (CI's second pass: the real Redis), a task crosses it to a Celery worker."""

from __future__ import annotations

import time

import pytest
from django.conf import settings

from ledger.models import LedgerLeaf
from ledger.services import ledger_append

pytestmark = [
    pytest.mark.django_db(transaction=True),
    pytest.mark.skipif(not settings.CELERY_BROKER_URL, reason="needs CELERY_BROKER_URL (CI's broker pass)"),
]


def test_a_sequencing_task_sent_through_the_broker_is_run_by_a_worker(settings) -> None:
    from celery.contrib.testing.worker import start_worker

    from consortium.celery import app
    from ledger.tasks import sequence_ledger_task

    settings.LEDGER = {**settings.LEDGER, "SEQUENCE_AFTER_COMMIT": "off"}
    app.conf.task_always_eager = False
    for i in range(3):
        ledger_append(kind="test.broker", actor=None, subject_type="x", subject_id=i, payload={})
    assert LedgerLeaf.objects.count() == 0
    with start_worker(app, perform_ping_check=False, pool="solo", loglevel="WARNING"):
        sequence_ledger_task.delay()
        deadline = time.monotonic() + 20
        while LedgerLeaf.objects.count() < 3 and time.monotonic() < deadline:
            time.sleep(0.2)
    assert LedgerLeaf.objects.count() == 3
