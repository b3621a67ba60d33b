"""Whether a transaction committed, for a service that undoes what lives outside the database (a stored
file, a key file, a cache counter) when its transaction fails.

Django runs a block's after-commit hooks inside the block's exit, so an error can reach the service's
clean-up after the commit happened (an interrupt while a later hook runs): the rows are committed then,
and what they point at must stay. A watch started before any other hook of the block is set by the first
of them, so it tells the two cases apart:

    commit = CommitWatch()
    try:
        with transaction.atomic():
            commit.start()
            ...
    except BaseException:
        if not commit.happened:
            undo()
        raise
"""

from __future__ import annotations

from django.db import transaction


class CommitWatch:
    """`happened` is False until the transaction that was current at `start()` commits (never on its
    rollback, nor if `start` was not reached)."""

    __slots__ = ("happened",)

    def __init__(self) -> None:
        self.happened = False

    def start(self) -> None:
        """Register the after-commit hook that sets `happened`: call it inside the atomic block, before the
        block registers any other hook."""
        transaction.on_commit(self._mark)

    def _mark(self) -> None:
        self.happened = True
