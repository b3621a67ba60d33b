"""Replay credit from ledger entries alone, in memory (pure, standard library only).

:class:`MemoryState` is the in-memory :class:`~ledger.credit.engine.CreditState`; :func:`replay` walks
entry documents in credit order through the same rules the service posts with and returns every transfer
and balance. The auditor (`manage.py credit_audit`) and the offline verifier (`python -m ledger.verify
--rules-replay`) diff that result against what the database or the export says.

memory_state holds `MemoryState`; replaying the walk (`replay`, `credit_entries`, `ReplayResult`);
comparison the diff with stored or exported credit (`diff`, `Divergence`); overdue
the provider legs left pending past their dispute window (I7). Like the engine, no submodule imports
Django: the offline verifier imports this package where Django is not installed. This package re-exports
the public names, so `from ledger.credit import replay; replay.replay(...)` keeps working. A test that
replaces a name the code looks up patches the submodule that looks it up, not this package.
"""

from __future__ import annotations

from ledger.credit.replay.comparison import Divergence, diff
from ledger.credit.replay.memory_state import MemoryState
from ledger.credit.replay.overdue import (
    RELEASE_GRACE_US,
    OverdueLeg,
    overdue_provider_legs,
    overdue_report,
    time_text,
)
from ledger.credit.replay.replaying import ReplayResult, credit_entries, replay

__all__ = [
    "RELEASE_GRACE_US",
    "Divergence",
    "MemoryState",
    "OverdueLeg",
    "ReplayResult",
    "credit_entries",
    "diff",
    "overdue_provider_legs",
    "overdue_report",
    "replay",
    "time_text",
]
