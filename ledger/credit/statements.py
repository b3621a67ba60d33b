"""Contribution statements assembled from transfer rows (pure, standard library only: no Django, no database).

The selectors read rows; this module folds them into balances, statement sections, the sum-tree leaves
of a settlement and a leaderboard. Every number is an integer (mCR for CR, mPT for PT).

Balances follow the engine (`ledger.credit.engine`): a ``pending`` row adds to the pending debits of its
debit account and the pending credits of its credit account; a ``post_pending`` row moves its amount from
pending to posted on both sides; a ``void_pending`` row takes it out of pending; a ``posted`` row is posted.
``posted`` is credits minus debits, ``available`` is posted minus pending debits (what may be spent).

Accounts: ``CR:issuance``, ``CR:pool``, ``CR:fees``, ``CR:escrow:<challenge>``,
``CR:member:<id>:available``, ``CR:member:<id>:allowance``, ``PT:source``, ``PT:member:<id>``.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from typing import Any

PENDING, POSTED, POST_PENDING, VOID_PENDING = "pending", "posted", "post_pending", "void_pending"
MEMBER_PREFIX = "CR:member:"


@dataclass
class Totals:
    """One account's sums: posted credits minus debits, and what is pending on each side."""

    posted: int = 0
    pending_debits: int = 0
    pending_credits: int = 0

    @property
    def available(self) -> int:
        return self.posted - self.pending_debits

    def as_dict(self) -> dict[str, int]:
        return {
            "posted": self.posted,
            "pending_debits": self.pending_debits,
            "pending_credits": self.pending_credits,
            "available": self.available,
        }


def fold_balances(
    debit_sums: Iterable[tuple[str, str, int]], credit_sums: Iterable[tuple[str, str, int]]
) -> dict[str, Totals]:
    """Balances from ``(account, flag, sum of amounts)`` rows grouped by the debit and the credit side."""
    totals: dict[str, Totals] = {}
    for sign, rows in ((-1, debit_sums), (1, credit_sums)):
        for account, flag, amount in rows:
            balance = totals.setdefault(account, Totals())
            if flag in (POSTED, POST_PENDING):
                balance.posted += sign * amount
            pending_change = amount if flag == PENDING else (-amount if flag != POSTED else 0)
            if sign < 0:
                balance.pending_debits += pending_change
            else:
                balance.pending_credits += pending_change
    return totals


def account_parts(account: str) -> tuple[int | None, str, str]:
    """``(member id or None, kind, unit)`` of an account: kind is available, allowance, points, issuance,
    pool, fees, escrow or source."""
    unit, _, rest = account.partition(":")
    parts = rest.split(":")
    if parts[0] == "member" and len(parts) >= 2 and parts[1].isdigit():
        kind = parts[2] if unit == "CR" and len(parts) > 2 else "points"
        return int(parts[1]), kind, unit
    return None, parts[0], unit


def member_accounts(member: int) -> tuple[str, str, str]:
    """The member's accounts: available, allowance (CR) and points (PT)."""
    return f"CR:member:{member}:available", f"CR:member:{member}:allowance", f"PT:member:{member}"


def sum_tree_leaves(
    *, touched_before: Iterable[str], posted_mint_accounts: Iterable[str], posted_at: Mapping[str, Totals]
) -> list[tuple[str, int]]:
    """The leaves `epoch.settled` committed to: sorted ``(account, posted balance)`` of every ``CR:member:``
    account that existed before the settlement (any transfer with a lower order touched it) or that an
    unheld mint credited, at the balances after the settlement's own transfers."""
    accounts = {a for a in touched_before if a.startswith(MEMBER_PREFIX)}
    accounts |= {a for a in posted_mint_accounts if a.startswith(MEMBER_PREFIX)}
    return [
        (account, posted_at[account].posted if account in posted_at else 0) for account in sorted(accounts)
    ]


def signed_amount(row: Mapping[str, Any], accounts: Iterable[str]) -> int:
    """What a transfer row moves into (+) or out of (-) the given accounts."""
    owned = set(accounts)
    return (row["amount"] if row["credit"] in owned else 0) - (row["amount"] if row["debit"] in owned else 0)


def state_of(row: Mapping[str, Any], resolutions: Mapping[str, Mapping[str, Any]]) -> str:
    """pending, posted or void: a pending row takes the state of the row that resolved it, if any."""
    if row["flag"] != PENDING:
        return {POSTED: "posted", POST_PENDING: "posted", VOID_PENDING: "void"}[row["flag"]]
    resolution = resolutions.get(row["id"])
    if resolution is None:
        return "pending"
    return "posted" if resolution["flag"] == POST_PENDING else "void"


def chain_text(chain: Mapping[str, int], points: int) -> str:
    """The point chain as printed: ``BASE x T x Q x D_k x R`` with its inputs, floored once."""
    return (
        f"{chain['base_mcr']} mCR x {chain['tier_bps']} bps x {chain['quality_bps']} bps x "
        f"{chain['repeat_bps']} bps (k={chain['k']}) x {chain['age_days']}/{chain['ramp_days']} days "
        f"= {points} mPT"
    )


def ranked(rows: Iterable[dict[str, Any]]) -> list[dict[str, Any]]:
    """Leaderboard rows sorted by minted, then damped points (both descending), then key; with ``rank``
    1, 2, 3, ... (equal minted and damped points share a rank)."""
    ordered = sorted(rows, key=lambda row: (-row["minted"], -row["damped_points"], str(row["key"])))
    previous: tuple[int, int] | None = None
    rank = 0
    for position, row in enumerate(ordered, start=1):
        score = (row["minted"], row["damped_points"])
        if score != previous:
            rank, previous = position, score
        row["rank"] = rank
    return ordered


_FORMULA_STARTS = ("=", "+", "-", "@", "\t", "\r")


def csv_cell(value: Any) -> Any:
    """One CSV cell, safe to open in a spreadsheet: None is empty; text that a spreadsheet would read as a
    formula (starting with =, +, -, @, tab or carriage return) gets a leading apostrophe, whatever follows.
    Numbers pass unchanged: amounts reach the exports as integers, so a negative amount stays a number."""
    if value is None:
        return ""
    if isinstance(value, str) and value.startswith(_FORMULA_STARTS):
        return "'" + value
    return value


CSV_HEADER = (
    "epoch",
    "member",
    "section",
    "seq",
    "order",
    "code",
    "ref",
    "account",
    "amount",
    "unit",
    "state",
    "resolved_seq",
    "dataset",
    "k",
    "chain",
    "later_state",
    "later_seq",
)


def statement_csv_rows(statement: Mapping[str, Any]) -> Iterable[tuple[Any, ...]]:
    """The statement's lines, one CSV row each: every transfer touching the member's accounts in the epoch
    with its state at the end of the period (and, last, a post or void after it), then every use with its
    point chain (uses earn through the PT lines; a use that earns 0 has no transfer, so it is listed here
    only)."""
    epoch, member = statement["epoch"], statement["member"]["id"]
    for line in statement["lines"]:
        yield (
            epoch,
            member,
            line["section"],
            line["seq"],
            line["order"],
            line["code"],
            line["ref"],
            line["account"],
            line["amount"],
            line["unit"],
            line["state"],
            line["resolved_seq"],
            "",
            "",
            "",
            line["later_state"],
            line["later_seq"],
        )
    for dataset in statement["earned"]:
        for use in dataset["uses"]:
            yield (
                epoch,
                member,
                "use",
                use["seq"],
                use["order"],
                "use" if use["credited"] else use["reason"],
                f"dataset:{dataset['dataset']}",
                "",
                use["points"],
                "PT",
                "credited" if use["credited"] else "not_credited",
                "",
                dataset["dataset"],
                use["k"],
                use["chain_text"],
                "",
                "",
            )
