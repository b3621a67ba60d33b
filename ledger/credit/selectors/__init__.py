"""Permission-checked reads of credit: balances, statements, the leaderboard, flags, totals, transfers.

What the actor may not see is NotFound (404), never forbidden (see
:mod:`~ledger.credit.selectors.common`). The reads live in :mod:`~ledger.credit.selectors.balances`
(balances, statements), :mod:`~ledger.credit.selectors.oversight` (leaderboard, flags, totals),
:mod:`~ledger.credit.selectors.transfers` (transfers, held mints, adjustments) and
:mod:`~ledger.credit.selectors.fees` (what a grant would cost); this package re-exports them.
"""

from ledger.credit.selectors.balances import SECTIONS, balance_list_for, statement_for, sum_tree_leaves
from ledger.credit.selectors.common import (
    epoch_list_for,
    epoch_names,
    epoch_rules_params,
    epochs_rules_params,
    is_auditor,
    latest_settled_epoch,
    member_account_q,
    own_member,
    require_auditor,
    require_statement_reader,
    seqs_of_orders,
)
from ledger.credit.selectors.fees import GrantFeeTerms, grant_fee_terms
from ledger.credit.selectors.oversight import (
    GROUPING_WORDS,
    LEADERBOARD_GROUPINGS,
    flag_list_for,
    group_members_for,
    leaderboard_for,
    totals_for,
)
from ledger.credit.selectors.transfers import (
    adjustment_get_for,
    adjustment_list_for,
    affiliation_claim_get_for,
    affiliation_claim_list_for,
    epoch_order_range,
    held_mint_list_for,
    transfer_list_for,
)

__all__ = [
    "GROUPING_WORDS",
    "LEADERBOARD_GROUPINGS",
    "SECTIONS",
    "GrantFeeTerms",
    "adjustment_get_for",
    "adjustment_list_for",
    "affiliation_claim_get_for",
    "affiliation_claim_list_for",
    "balance_list_for",
    "epoch_list_for",
    "epoch_names",
    "epoch_order_range",
    "epoch_rules_params",
    "epochs_rules_params",
    "flag_list_for",
    "grant_fee_terms",
    "group_members_for",
    "held_mint_list_for",
    "is_auditor",
    "latest_settled_epoch",
    "leaderboard_for",
    "member_account_q",
    "own_member",
    "require_auditor",
    "require_statement_reader",
    "seqs_of_orders",
    "statement_for",
    "sum_tree_leaves",
    "totals_for",
    "transfer_list_for",
]
