"""Replaying credit entries in credit order through the rules, and the result: transfers, balances, epochs."""

from __future__ import annotations

import gc
import traceback
from collections.abc import Iterable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from ledger.credit import engine
from ledger.credit.engine import (
    CreditError,
    Entry,
    Transfer,
)
from ledger.credit.replay.memory_state import MemoryState


@dataclass
class ReplayResult:
    """What the rules make of the entries: the transfers in order, the final balances, the epochs."""

    state: MemoryState
    entries: int = 0
    # (credit order, why) of the first entry the rules refuse; the order is None for an entry whose credit
    # members cannot be read at all
    divergence: tuple[int | None, str] | None = None
    by_order: dict[int, int] = field(default_factory=dict)  # credit order -> ledger seq, where known

    @property
    def transfers(self) -> list[Transfer]:
        return self.state.transfers

    def balances(self) -> dict[str, dict[str, int]]:
        return {
            account: {
                "debits_posted": balance.debits_posted,
                "credits_posted": balance.credits_posted,
                "debits_pending": balance.debits_pending,
                "credits_pending": balance.credits_pending,
            }
            for account, balance in sorted(self.state.balances.items())
        }


def credit_entries(documents: Iterable[tuple[int, str, dict[str, Any]]]) -> list[tuple[int, Entry]]:
    """(seq, Entry) of the credit-relevant documents among (seq, leaf hash hex, document), in credit order.

    Raises CreditError naming the entry's seq when a credit-relevant entry's credit order, time, actor,
    subject or members cannot be read."""
    found: list[tuple[int, Entry]] = []
    for seq, leaf, document in documents:
        kind, payload = document.get("kind"), document.get("payload")
        if (
            isinstance(kind, str)
            and kind in engine.CREDIT_KINDS
            and isinstance(payload, dict)
            and "credit" in payload
        ):
            try:
                found.append((seq, Entry.from_document(document, leaf)))
            except ValueError as exc:  # CreditError, or CanonicalError for a time not in the entry format
                raise CreditError(f"seq {seq}: {exc}") from None
    found.sort(key=lambda pair: pair[1].order)
    return found


def replay(documents: Iterable[tuple[int, str, dict[str, Any]]]) -> ReplayResult:
    """Replay the credit-relevant entries of a ledger (any order; sorted here by credit order).

    Stops at the first entry the rules refuse or that repeats a credit order, and names it in
    `divergence`. Gaps in the order are expected on PostgreSQL (a rolled-back transaction's number is not
    reused); a deleted entry is the log's to catch (its Merkle tree and checkpoints).
    """
    with _gc_paused():
        return _replay(documents)


@contextmanager
def _gc_paused() -> Iterator[None]:
    """The cyclic garbage collector would scan the ever larger state again and again while replay and diff
    allocate (a third of the time of a large audit); nothing they build needs it, so it pauses meanwhile."""
    enabled = gc.isenabled()
    gc.disable()
    try:
        yield
    finally:
        if enabled:
            gc.enable()


def _replay(documents: Iterable[tuple[int, str, dict[str, Any]]]) -> ReplayResult:
    result = ReplayResult(state=MemoryState())
    previous: int | None = None
    try:
        entries = credit_entries(documents)
    except CreditError as exc:
        result.divergence = (None, str(exc))
        return result
    for seq, entry in entries:
        if entry.order == previous:
            result.divergence = (entry.order, f"seq {seq} repeats credit order {entry.order}")
            return result
        previous = entry.order
        result.by_order[entry.order] = seq
        state = result.state
        try:
            engine.apply_entry(state, entry)
        except CreditError as exc:
            result.divergence = (entry.order, f"seq {seq}: {exc}")
            return result
        except (KeyError, TypeError, AttributeError, IndexError, ValueError) as exc:
            # The rules read a payload member the entry lacks or has with another type. The exchange never
            # writes such an entry, but an export may carry one: it diverges, it must not end the replay.
            result.divergence = (
                entry.order,
                f"seq {seq}: the rules cannot read this entry's payload ({_why(exc)})",
            )
            return result
        result.entries += 1
    return result


def _why(exc: Exception) -> str:
    """An exception as a short phrase: its type, its message cut short, and where it was raised (the rules'
    line that could not read the entry; should the fault be the rules' own, that is where to look)."""
    text = str(exc)
    frames = traceback.extract_tb(exc.__traceback__)
    where = f" at {Path(frames[-1].filename).name}:{frames[-1].lineno}" if frames else ""
    return type(exc).__name__ + (f": {text[:80]}" if text else "") + where


def _seq(result: ReplayResult, order: int) -> int | None:
    seq = result.by_order.get(order)
    return seq if seq is not None and seq >= 0 else None
