"""Building blocks for credit tests: rules in force, an open epoch, admitted members, a controllable clock."""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager
from datetime import UTC, datetime, timedelta
from typing import Any
from unittest import mock

from ledger.credit import rules, services
from ledger.credit.models import CreditAccount
from ledger.services import ledger_append

TRUSTED_RULES = {**rules.RULES_V1, "trust_ramp_days": 0}  # every member trusted from day one
# A rules change that moves every share, count and window the flags' words state off v1's
CHANGED_RULES = {
    **TRUSTED_RULES,
    "reciprocity_window_days": 30,
    "reciprocity_ratio_bps": 7500,
    "ring_min_size": 4,
    "ring_inside_share_bps": 7050,
    "ring_outside_consumers_below": 1,
    "fresh_share_bps": 6000,
    "fresh_group_age_days": 1,
    "concentration_share_bps": 5000,
    "rubber_stamp_grants": 12,
    "rubber_stamp_window_seconds": 3600,
    "rubber_stamp_fast_seconds": 300,
}


def activate(*, params: dict[str, int] | None = None, epoch: str | None = None) -> None:
    """Publish rules (v1 with no trust ramp unless `params`) and open the current epoch."""
    services.credit_rules_publish(actor=None, params=params or TRUSTED_RULES)
    services.credit_epoch_open(actor=None, epoch=epoch)


def admit(*members: Any) -> None:
    """Record the admission of members made by factories (their allowance comes from the pool)."""
    for member in members:
        ledger_append(
            kind="member.admitted",
            actor=None,
            subject_type="member",
            subject_id=member.pk,
            members=[member.pk],
            payload={"credit_code": member.credit_code, "legal_name": member.legal_name},
        )


def record(kind: str, subject_type: str, subject_id: object, members: list[int], payload: dict) -> None:
    """Append an entry as the system (no actor), as a service would record it."""
    ledger_append(
        kind=kind,
        actor=None,
        subject_type=subject_type,
        subject_id=subject_id,
        members=members,
        payload=payload,
    )


def balance(account: str) -> int:
    """Posted balance (credits - debits) of an account, 0 when it has none."""
    row = CreditAccount.objects.filter(account=account).first()
    return row.credits_posted - row.debits_posted if row else 0


def pending(account: str) -> tuple[int, int]:
    """(debits pending, credits pending) of an account."""
    row = CreditAccount.objects.filter(account=account).first()
    return (row.debits_pending, row.credits_pending) if row else (0, 0)


@contextmanager
def clock(start: datetime) -> Iterator[list[datetime]]:
    """Entries are stamped with now[0]; move time with `now[0] += timedelta(...)`."""
    now = [start]
    with mock.patch("ledger.services.appending.timezone.now", lambda: now[0]):
        yield now


def days(n: float) -> timedelta:
    return timedelta(days=n)


def utc(*parts: int) -> datetime:
    return datetime(*parts, tzinfo=UTC)
