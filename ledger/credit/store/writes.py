"""The SQL the database state writes with: one row's plain INSERT, and the changes to account balances."""

from __future__ import annotations

import functools
from typing import Any

from django.db import connection, models

from ledger.credit import engine
from ledger.credit.engine import Balance
from ledger.db import hot_rows

_BALANCES = ("debits_posted", "credits_posted", "debits_pending", "credits_pending")


def _column(model: type[models.Model], name: str) -> models.Field[Any, Any]:
    field = model._meta.get_field(name)
    if not isinstance(field, models.Field):
        raise TypeError(f"{model.__name__}.{name} is a relation, not a column")
    return field


def _insert_statement(model: type[models.Model], values: dict[str, Any]) -> tuple[str, list[Any]]:
    """A plain INSERT of one row, as SQL and parameters (the ORM's save machinery costs as much as the
    statement on the hot path)."""
    sql, prepare = _insert_sql(model, tuple(values))
    return sql, [
        value if preparer is None else preparer(value, connection)
        for preparer, value in zip(prepare, values.values(), strict=True)
    ]


@functools.cache
def _insert_sql(model: type[models.Model], names: tuple[str, ...]) -> tuple[str, list[Any]]:
    """The INSERT of `names` into `model`'s table, and how each value is prepared: as the field would,
    where the field changes it (JSON), else as given (numbers, text, booleans bind as they are)."""
    fields = [_column(model, name) for name in names]
    columns = ", ".join(connection.ops.quote_name(str(field.column)) for field in fields)
    sql = (
        f"INSERT INTO {model._meta.db_table} ({columns}) "  # noqa: S608 - model names only
        f"VALUES ({', '.join(['%s'] * len(fields))})"
    )
    return sql, [field.get_db_prep_save if isinstance(field, models.JSONField) else None for field in fields]


def _passes_alone(account: str, change: list[int]) -> bool:
    """Whether a new account holding just `change` would pass the CHECK, which is the rules' own I3 (see
    `_add_to_accounts`)."""
    return not engine.is_constrained(account) or Balance(*change).spendable >= 0


def _add_to_accounts(changes: dict[str, list[int]]) -> tuple[str, list[Any]]:
    """Add `changes` (account -> change of each balance column, in account order) to the accounts,
    creating missing ones, in one upsert, which locks the rows in the order given (two entries touching
    the same accounts queue instead of deadlocking). The database checks the CHECK constraint on the
    proposed new row before it finds the conflict, so every change must pass it alone (`_passes_alone`)."""
    columns = ", ".join(_BALANCES)
    added = ", ".join(f"{name} = credit_creditaccount.{name} + EXCLUDED.{name}" for name in _BALANCES)
    return (
        f"INSERT INTO credit_creditaccount (account, constrained, {columns}) "  # noqa: S608 - constant names
        f"VALUES {', '.join(['(%s, %s, %s, %s, %s, %s)'] * len(changes))} "
        f"ON CONFLICT (account) DO UPDATE SET {added}",
        [
            value
            for account, change in changes.items()
            for value in (account, engine.is_constrained(account), *change)
        ],
    )


def _create_accounts(accounts: list[str]) -> tuple[str, list[Any]]:
    columns = ", ".join(_BALANCES)
    return (
        f"INSERT INTO credit_creditaccount (account, constrained, {columns}) "  # noqa: S608 - constant names
        f"VALUES {', '.join(['(%s, %s, 0, 0, 0, 0)'] * len(accounts))} ON CONFLICT (account) DO NOTHING",
        [value for account in accounts for value in (account, engine.is_constrained(account))],
    )


def _update_accounts(changes: dict[str, list[int]]) -> None:
    """Add `changes` to existing accounts: lock the rows in account order, then one UPDATE (the CHECK
    refuses a negative constrained balance)."""
    accounts = list(changes)
    if connection.vendor == "postgresql":
        hot_rows(
            "SELECT account FROM credit_creditaccount WHERE account = ANY(%s) "
            "ORDER BY account FOR NO KEY UPDATE",
            [accounts],
        )
    cases = []
    params: list[Any] = []
    for column, name in enumerate(_BALANCES):
        whens = " ".join("WHEN %s THEN %s" for _ in accounts)
        cases.append(f"{name} = {name} + (CASE account {whens} ELSE 0 END)")
        params.extend(value for account in accounts for value in (account, changes[account][column]))
    hot_rows(
        f"UPDATE credit_creditaccount SET {', '.join(cases)} "  # noqa: S608 - constant names only
        f"WHERE account IN ({', '.join(['%s'] * len(accounts))})",
        [*params, *accounts],
    )
