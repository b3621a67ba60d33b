"""What a grant will cost, read before anyone asks for one: the fee the credit rules in force charge.

The rules fix the fee by tier, per started fee period of the requested duration (docs/credit.md, "Fee"),
and charge nothing between members of one affiliation group. A policy's own `price_credits` is not what is
charged. These are the rules' public terms, not anyone's balance: no permission check is needed to read
them, and none of a member's figures is returned.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass

from ledger.credit import engine
from ledger.credit.store import DatabaseState


@dataclass(frozen=True)
class GrantFeeTerms:
    """The fee of a grant of `tier` under rules `params`: engine.grant_fee's per started fee period, or
    nothing at all when both members are one affiliation group (`same_group`)."""

    tier: str
    params: Mapping[str, int]
    same_group: bool

    @property
    def period_days(self) -> int:
        return int(self.params["fee_period_days"])

    @property
    def per_period_mcr(self) -> int:
        """The fee of one period (0 when the tier costs nothing or both members are one group)."""
        return self.fee_mcr(self.period_days)

    def fee_mcr(self, duration_days: int) -> int:
        """The fee of a grant of `duration_days`, as the rules charge it (at least one period)."""
        return 0 if self.same_group else engine.grant_fee(dict(self.params), self.tier, duration_days)


def grant_fee_terms(*, consumer_member_id: int, provider_member_id: int, tier: str) -> GrantFeeTerms | None:
    """The fee terms a grant of `tier` from the provider to the consumer would be charged under the rules
    in force (the open epoch's, between epochs the newest published); None while no rules are published
    (credit is inactive and nothing is charged). Reads without the credit lock: the fee is charged, and
    the consumer's credit checked, when the request is approved (ledger.credit.services.grant_fee_check).
    Never raises for members unknown to credit: they are their own group."""
    state = DatabaseState()
    rules_now = engine.rules_in_force(state)
    if rules_now is None:
        return None
    same_group = engine.group_of(state, consumer_member_id) == engine.group_of(state, provider_member_id)
    return GrantFeeTerms(tier=tier, params=rules_now.params, same_group=same_group)
