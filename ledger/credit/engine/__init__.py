"""Credit rules v1 applied to ledger entries (pure, standard library only); the names the code imports.

* :mod:`~ledger.credit.engine.state`: transfers, balances, rules, facts, the :class:`CreditState` protocol,
  entries, accounts and time helpers (pins the transfer id and the account names);
* :mod:`~ledger.credit.engine.posting`: writing an entry's transfers (the I3 check);
* :mod:`~ledger.credit.engine.entries`: :func:`apply_entry`, what each credit-relevant entry causes, and
  the handlers of rules, members, listings, held mints and adjustments;
* :mod:`~ledger.credit.engine.fees`: access requests' fees (:func:`fee_due`, :func:`grant_fee`) and the
  daily release;
* :mod:`~ledger.credit.engine.epochs`: an epoch's opening, each download's points (:func:`use_points`)
  and the settlement entry;
* :mod:`~ledger.credit.engine.settling`: an epoch's settlement and the summary `epoch.settled` states.
"""

from ledger.credit.engine.entries import apply_entry
from ledger.credit.engine.epochs import use_points
from ledger.credit.engine.fees import fee_due, grant_fee
from ledger.credit.engine.settling import (
    compute_settlement,
    duplicate_listing_flags,
    settlement_input,
    settlement_summary,
    settles,
)
from ledger.credit.engine.state import (
    CODE_KINDS,
    CREDIT_KINDS,
    FEES,
    ISSUANCE,
    PENDING,
    POINTS_SOURCE,
    POOL,
    POST_PENDING,
    POSTED,
    US_PER_DAY,
    VOID_PENDING,
    Balance,
    CreditError,
    CreditState,
    Entry,
    EpochFact,
    InsufficientCredit,
    MemberFact,
    RequestFact,
    Rules,
    Transfer,
    UseFact,
    default_group,
    epoch_end_day,
    epoch_of,
    from_us,
    group_of,
    is_constrained,
    member_allowance,
    member_available,
    member_points,
    rules_in_force,
    time_us_of,
    to_us,
    transfer_id,
)

__all__ = [
    "CODE_KINDS",
    "CREDIT_KINDS",
    "FEES",
    "ISSUANCE",
    "PENDING",
    "POINTS_SOURCE",
    "POOL",
    "POSTED",
    "POST_PENDING",
    "US_PER_DAY",
    "VOID_PENDING",
    "Balance",
    "CreditError",
    "CreditState",
    "Entry",
    "EpochFact",
    "InsufficientCredit",
    "MemberFact",
    "RequestFact",
    "Rules",
    "Transfer",
    "UseFact",
    "apply_entry",
    "compute_settlement",
    "default_group",
    "duplicate_listing_flags",
    "epoch_end_day",
    "epoch_of",
    "fee_due",
    "from_us",
    "grant_fee",
    "group_of",
    "is_constrained",
    "member_allowance",
    "member_available",
    "member_points",
    "rules_in_force",
    "settlement_input",
    "settlement_summary",
    "settles",
    "time_us_of",
    "to_us",
    "transfer_id",
    "use_points",
]
