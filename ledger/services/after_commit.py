"""After a commit: have the pending entries sequenced, and a checkpoint signed once one is due."""

from __future__ import annotations

import time
from datetime import timedelta
from typing import Any

from django.conf import settings
from django.utils import timezone

from ledger.models import Checkpoint
from ledger.services.checkpoints import checkpoint_issue
from ledger.services.sequencing import ledger_sequence


def _sequence_after_commit(conn: Any) -> None:
    """Have the sequencer run after this transaction commits: one hook per transaction, not per append,
    and none while this process's requests are off or not due (`request_sequencing` would return at once;
    beat integrates the entry, or the next due commit's request does).

    A hook already registered counts only if it was registered outside every savepoint we are in now or in
    one of them (then a rollback that drops it drops this entry too). robust: the change is committed; a
    failing sequencer must not turn its response into an error (beat integrates the entry later).
    """
    if not _sequencing_due(time.monotonic()):
        return
    # Django 5's on-commit queue: (savepoint ids, callable, robust) per hook (tests pin it).
    for savepoints, hook, _ in conn.run_on_commit:
        if hook is request_sequencing and savepoints.issubset(conn.savepoint_ids):
            return
    conn.on_commit(request_sequencing, robust=True)


def _sequencing_due(now: float) -> bool:
    """Whether this process may ask for sequencing now (requests on, and its wait is over)."""
    return settings.LEDGER["SEQUENCE_AFTER_COMMIT"] != "off" and now >= _sequencing_clock[0]


def request_sequencing() -> None:
    """After a commit: have the pending entries integrated soon, and a checkpoint signed when one is due.

    At most once per LEDGER["SEQUENCE_AFTER_COMMIT_EVERY_MS"] per process, so a busy process hands the
    sequencer batches instead of single entries. Inline, a process whose last call integrated fewer than
    WORTHWHILE_BATCH entries (or found another process sequencing) waits twice as long before its next
    call, up to SEQUENCE_BACKOFF times the interval; a full enough batch brings it back to the interval.
    With many busy processes each call then integrates a batch, instead of each process paying a call's
    fixed cost for a few entries every interval. Beat's periodic run (LEDGER["SEQUENCER_INTERVAL_SECONDS"],
    the bound the API reports) integrates whatever is left. Then `_checkpoint_if_due`.
    """
    now = time.monotonic()
    if not _sequencing_due(now):
        return
    mode = settings.LEDGER["SEQUENCE_AFTER_COMMIT"]
    every = settings.LEDGER["SEQUENCE_AFTER_COMMIT_EVERY_MS"] / 1000
    if mode != "inline":
        _sequencing_clock[0] = now + every
        from ledger.tasks import sequence_ledger_task

        sequence_ledger_task.delay()
    else:
        wait = _sequencing_clock[1]
        _sequencing_clock[0] = now + wait  # a failing call waits too
        if ledger_sequence() >= WORTHWHILE_BATCH:
            _sequencing_clock[1] = every
        else:
            _sequencing_clock[1] = min(max(wait, every) * 2, every * SEQUENCE_BACKOFF)
        _sequencing_clock[0] = now + _sequencing_clock[1]
    _checkpoint_if_due(now)


def checkpoints_signed_after_commit() -> bool:
    """Whether commits sign a checkpoint once one is due (`_checkpoint_if_due`): asked for by
    LEDGER["CHECKPOINT_AFTER_COMMIT"], done by the after-commit request, which LEDGER["SEQUENCE_AFTER_COMMIT"]
    = "off" turns off too (then only beat signs them)."""
    return (
        bool(settings.LEDGER["CHECKPOINT_AFTER_COMMIT"]) and settings.LEDGER["SEQUENCE_AFTER_COMMIT"] != "off"
    )


def _checkpoint_if_due(now: float) -> None:
    """Where nothing runs beat (LEDGER["CHECKPOINT_AFTER_COMMIT"], on by default without a broker: the
    embedded default), sign a checkpoint after a commit once the latest one is
    LEDGER["CHECKPOINT_INTERVAL_SECONDS"] old, so new entries become provable without any command.

    Runs after the commit (an on-commit hook, robust: a failure is logged, never the response's), at most
    one database read per interval per process (`_checkpoint_clock`); `checkpoint_issue` checks the age
    again under the sequencer lock, so processes that find it due together sign once.
    """
    if not checkpoints_signed_after_commit() or now < _checkpoint_clock[0]:
        return
    interval = settings.LEDGER["CHECKPOINT_INTERVAL_SECONDS"]
    _checkpoint_clock[0] = now + interval  # a failing call waits too
    cutoff = timezone.now() - timedelta(seconds=interval)
    latest = Checkpoint.objects.order_by("-tree_size").values_list("issued_at", flat=True).first()
    if latest is None or latest <= cutoff:
        latest = checkpoint_issue(unless_issued_after=cutoff).issued_at
    _checkpoint_clock[0] = now + max((latest - cutoff).total_seconds(), 0.0)


# A sequencer call costs about 1.4 ms of CPU (client and PostgreSQL) plus about 30 us per entry: at 100
# entries the fixed part is a third of the total, at 10 it is 80%.
WORTHWHILE_BATCH = 100
SEQUENCE_BACKOFF = 10
_sequencing_clock = [0.0, 0.0]  # this process: no request before [0]; the current wait [1]
_checkpoint_clock = [0.0]  # this process: no checkpoint check before [0]
