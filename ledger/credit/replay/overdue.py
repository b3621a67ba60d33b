"""Provider fee legs left pending more than a day past their dispute window (I7), found in a replay."""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass

from ledger.canonical import format_time
from ledger.credit import engine
from ledger.credit.replay.replaying import ReplayResult, _seq

# The daily release (beat, 00:05 UTC) posts a leg at its first run after the window ends: up to a day later.
RELEASE_GRACE_US = engine.US_PER_DAY


@dataclass(frozen=True)
class OverdueLeg:
    """A provider fee leg still pending more than a day (the release's cadence) after its dispute window
    ended (I7): the daily `credit.released` did not run."""

    transfer: str
    seq: int | None  # ledger sequence number of the entry that made the leg, where known
    order: int  # that entry's credit order
    ref: str  # "request:<id>"
    window_end_us: int

    def __str__(self) -> str:
        made = f"seq {self.seq}" if self.seq is not None else f"credit order {self.order} (unsequenced)"
        return (
            f"provider leg {self.transfer} ({self.ref}, made by {made}) is still pending; its dispute "
            f"window ended {time_text(self.window_end_us)}"
        )


def time_text(time_us: int) -> str:
    """Microseconds since the epoch in the entries' time format."""
    return format_time(engine.from_us(time_us))


def overdue_provider_legs(result: ReplayResult, clock_us: int) -> list[OverdueLeg]:
    """Every provider leg of a granted request still pending at `clock_us` although its dispute window
    (the `dispute_window_days` of the rules it was posted under) ended more than RELEASE_GRACE_US before,
    in credit order. A leg whose request is not granted yet has no window running. Pure: the clock is the
    caller's (the audit and the offline verifier use the latest entry's time, so any auditor reproduces
    the finding from the ledger alone)."""
    state = result.state
    windows = {rules.hash: rules.params["dispute_window_days"] * engine.US_PER_DAY for rules in state.rules}
    # by the ref the legs were written with (an export's request id need not be an integer to replay)
    requests = {f"request:{fact.request}": fact for fact in state.requests.values()}
    found = []
    for leg in state.unresolved_provider_legs():
        fact = requests.get(leg.ref)
        if fact is None or not fact.granted_us or leg.rules not in windows:
            continue
        window_end = fact.granted_us + windows[leg.rules]
        if clock_us - window_end > RELEASE_GRACE_US:
            found.append(OverdueLeg(leg.id, _seq(result, leg.order), leg.order, leg.ref, window_end))
    return sorted(found, key=lambda leg: (leg.order, leg.transfer))


def overdue_report(overdue: Iterable[OverdueLeg], clock_us: int) -> str:
    """The I7 finding as text: a header with the clock, then one line per overdue leg."""
    legs = list(overdue)
    lines = [
        f"OVERDUE (I7): {len(legs)} provider fee leg(s) pending more than a day past their dispute window "
        f"at the latest ledger entry ({time_text(clock_us)}); the daily credit.released has not posted them:"
    ]
    lines.extend(f"  {leg}" for leg in legs)
    return "\n".join(lines)
