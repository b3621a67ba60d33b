"""Celery tasks of the ledger: sequence pending entries and issue checkpoints (both scheduled by beat)."""

from __future__ import annotations

from celery import shared_task

from ledger import services


@shared_task(name="ledger.sequence_ledger_task", ignore_result=True, soft_time_limit=60, time_limit=90)
def sequence_ledger_task() -> int:
    """Integrate pending entries into the tree; a no-op when another process is already sequencing."""
    return services.ledger_sequence()


@shared_task(name="ledger.issue_checkpoint_task", ignore_result=True, soft_time_limit=120, time_limit=180)
def issue_checkpoint_task() -> int:
    """Sign a checkpoint of the current tree (idempotent: an unchanged tree keeps its checkpoint)."""
    return services.checkpoint_issue().tree_size
