"""The range of a row id, for every interface that takes ids from outside (API fields and filters, forms)."""

from __future__ import annotations

# The largest value of a 64-bit signed integer: every primary key (BigAutoField) is at most this. A larger
# Python int cannot even be bound as a query parameter on SQLite (OverflowError), and on PostgreSQL it
# overflows the bigint column it is stored in.
MAX_ID = 2**63 - 1


def is_row_id(number: int) -> bool:
    """Whether an integer could be a row's id: 1 to MAX_ID."""
    return 1 <= number <= MAX_ID
