"""Epoch settlement and anti-gaming flags, CREDIT.md rules v1 (pure, standard library only, no Django).

:func:`settle` is the entry point; each part's module docstring pins its format:

* :mod:`~ledger.credit.settlement.records`: the input and output records, units, rounding and notation;
* :mod:`~ledger.credit.settlement.mint`: pair damping, members' mints, the rate, the input contract, settle();
* :mod:`~ledger.credit.settlement.flags`: the anti-gaming flags and their order.
"""

from ledger.credit.settlement.flags import (
    APPROVAL_TIERS,
    FLAG_RULES,
    strongly_connected_components,
)
from ledger.credit.settlement.mint import damped_pair_points, mint_amount, rate_bps, settle
from ledger.credit.settlement.records import (
    CreditedUse,
    Flag,
    GrantFact,
    GroupFact,
    MemberMint,
    Settlement,
    SettlementError,
    SettlementInput,
)

__all__ = [
    "APPROVAL_TIERS",
    "FLAG_RULES",
    "CreditedUse",
    "Flag",
    "GrantFact",
    "GroupFact",
    "MemberMint",
    "Settlement",
    "SettlementError",
    "SettlementInput",
    "damped_pair_points",
    "mint_amount",
    "rate_bps",
    "settle",
    "strongly_connected_components",
]
