"""Celery tasks of credit: the daily release and the monthly epoch roll (both scheduled by beat)."""

from __future__ import annotations

from celery import shared_task

from ledger.credit import services


@shared_task(name="credit.release_credit_task", ignore_result=True, soft_time_limit=120, time_limit=180)
def release_credit_task() -> int:
    """Today's `credit.released` (idempotent: once per UTC day); returns 1 if it was written now."""
    return int(services.credit_release() is not None)


@shared_task(name="credit.roll_epoch_task", ignore_result=True, soft_time_limit=300, time_limit=360)
def roll_epoch_task() -> int:
    """Settle the ended epoch and open the current one (idempotent); returns the entries written."""
    return len(services.credit_epoch_roll())
