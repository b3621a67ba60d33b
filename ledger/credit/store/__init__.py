"""The credit state in the database, and the step of `ledger_append` that posts an entry's transfers.

locks takes a credit entry's locks and its credit order (`begin_credit_entry`, and the locks a dataset
withdrawal or a settlement takes first); database_state holds `DatabaseState`, the rules' `CreditState`
over the credit tables, and `post_entry`; writes holds the SQL it writes rows and account balances with.
This package re-exports the names callers use, so `from ledger.credit import store;
store.post_entry(...)` and `from ledger.credit.store import DatabaseState` keep working. A test that
replaces a name the code looks up patches the submodule that looks it up, not this package.
"""

from __future__ import annotations

from ledger.credit.store.database_state import DatabaseState, post_entry
from ledger.credit.store.locks import (
    begin_credit_entry,
    lock_all_credit,
    lock_credit_consumers,
    take_credit_order,
)

__all__ = [
    "DatabaseState",
    "begin_credit_entry",
    "lock_all_credit",
    "lock_credit_consumers",
    "post_entry",
    "take_credit_order",
]
