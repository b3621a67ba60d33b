"""ledger_verify's worker processes: a worker that fails."""

from __future__ import annotations

import os
import time

import pytest

from ledger import verification
from ledger.verification import verify_database
from tests.ledger.test_ledger_db import append

pytestmark = [pytest.mark.postgres, pytest.mark.django_db(transaction=True)]


def test_a_failing_verification_worker_raises_instead_of_passing(monkeypatch: pytest.MonkeyPatch) -> None:
    """A worker that cannot check its ranges makes verification fail loudly, not hang or pass."""
    monkeypatch.setattr(verification, "RANGE", 4)
    monkeypatch.setattr(verification, "MIN_RANGE", 2)
    append(30)
    parent = os.getpid()
    check = verification._RangeChecker.check

    def check_or_fail(self, start: int, end: int, sizes: list[int]) -> verification._RangeResult:
        if os.getpid() != parent:
            raise ConnectionError("the worker lost its database")
        time.sleep(0.02)  # this process is slow: the worker takes ranges too
        return check(self, start, end, sizes)

    monkeypatch.setattr(verification._RangeChecker, "check", check_or_fail)
    with pytest.raises(RuntimeError, match="the worker lost its database"):
        verify_database(full=True, workers=2)
    assert verify_database(full=True, workers=1).ok  # this process alone
