"""Writing one entry's transfers through a CreditState, checking I3 (pure, standard library only)."""

from __future__ import annotations

from dataclasses import replace

from ledger.credit.engine.state import (
    PENDING,
    POST_PENDING,
    POSTED,
    VOID_PENDING,
    CreditState,
    Entry,
    InsufficientCredit,
    Rules,
    Transfer,
    is_constrained,
    transfer_id,
)


class Poster:
    """Builds one entry's transfers and writes them through the state as it goes."""

    def __init__(self, state: CreditState, entry: Entry, rules: Rules) -> None:
        self.state, self.entry, self.rules = state, entry, rules
        self.written: list[Transfer] = []

    def transfer(
        self,
        leg: str,
        *,
        debit: str,
        credit: str,
        amount: int,
        code: str,
        ref: str,
        pending: bool = False,
        unit: str = "CR",
        role: str = "",
    ) -> Transfer | None:
        if amount <= 0:
            return None
        if is_constrained(debit):
            available = self.state.balance(debit).spendable
            if available < amount:
                raise InsufficientCredit(debit, amount - available)
        transfer = Transfer(
            id=transfer_id(self.entry.leaf, self.rules.hash, leg),
            entry=self.entry.leaf,
            order=self.entry.order,
            leg=leg,
            flag=PENDING if pending else POSTED,
            debit=debit,
            credit=credit,
            amount=amount,
            unit=unit,
            code=code,
            ref=ref,
            rules=self.rules.hash,
            role=role,
        )
        self.state.add_transfer(transfer)
        self.written.append(transfer)
        return transfer

    def resolve(self, pending: Transfer, *, post: bool, code: str) -> Transfer:
        flag = POST_PENDING if post else VOID_PENDING
        transfer = replace(
            pending,
            id=transfer_id(self.entry.leaf, self.rules.hash, f"{flag}:{pending.id}"),
            entry=self.entry.leaf,
            order=self.entry.order,
            leg=f"{flag}:{pending.id}",
            flag=flag,
            code=code,
            rules=self.rules.hash,
            pending_id=pending.id,
        )
        self.state.add_transfer(transfer)
        self.written.append(transfer)
        return transfer
