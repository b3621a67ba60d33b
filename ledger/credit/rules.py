"""The credit rules as data: the v1 parameters, their validation and their hash (pure, standard library only).

Every parameter is an integer: amounts in milli-credits (mCR) or milli-points (mPT), multipliers in basis
points (10000 = 1.0), windows in days or seconds. A rules document is published in a `credit.rules_changed`
ledger entry as ``{"version": n, "params": {...}, "hash": hex}`` where the hash is SHA-256 of the RFC 8785
bytes of ``{"version": n, "params": {...}}``; it takes effect from the next epoch.
"""

from __future__ import annotations

import hashlib
from collections.abc import Mapping
from typing import Any

from ledger.canonical import encode_canonical_stdlib

MCR = 1000  # milli-credits per credit (and milli-points per point)

RULES_V1: dict[str, int] = {
    # grant fees (zero-sum, consumer -> provider less the consortium fee)
    "fee_period_days": 30,
    "fee_open_mcr": 0,
    "fee_restricted_mcr": 20 * MCR,
    "fee_confidential_mcr": 50 * MCR,
    "consortium_fee_bps": 1000,
    "dispute_window_days": 7,
    "refund_on_revoke_days": 7,
    # allowance for new members
    "admission_allowance_mcr": 500 * MCR,
    "allowance_valid_days": 365,
    # usage points u = BASE x T x Q x D_k x R
    "base_use_mcr": 10 * MCR,
    "tier_open_bps": 10000,
    "tier_restricted_bps": 20000,
    "tier_confidential_bps": 30000,
    "quality_base_bps": 5000,  # Q = 0.5 + s/100: quality_base_bps + s * quality_step_bps
    "quality_step_bps": 100,
    "repeat_use_1_bps": 10000,
    "repeat_use_2_bps": 5000,
    "repeat_use_3_bps": 2500,
    "repeat_use_4_bps": 1250,  # the fifth and later uses count 0
    "trust_ramp_days": 90,
    # settlement
    "epoch_budget_mcr": 100_000 * MCR,
    "damping_m_mcr": 200 * MCR,
    "pair_cap_mcr": 300 * MCR,
    "member_mint_cap_bps": 500,
    # anti-gaming
    "reciprocity_window_days": 90,
    "reciprocity_min_mcr": 100 * MCR,
    "reciprocity_ratio_bps": 5000,
    "ring_edge_min_mcr": 50 * MCR,
    "ring_min_size": 3,
    "ring_inside_share_bps": 6000,
    "ring_outside_consumers_below": 3,
    "fresh_group_age_days": 90,
    "fresh_share_bps": 5000,
    "fresh_min_mcr": 200 * MCR,
    "concentration_share_bps": 6000,
    "concentration_min_mcr": 200 * MCR,
    "rubber_stamp_grants": 3,
    "rubber_stamp_window_seconds": 86400,
    "rubber_stamp_fast_seconds": 60,
}
RULES_VERSION = 1
MAX_PARAM = 2**53 - 1


class RulesError(ValueError):
    """A rules document is not acceptable; the message names the parameter."""


def validate_params(params: Any) -> dict[str, int]:
    """Return `params` as a plain dict if it has exactly the v1 parameters, each a non-negative integer.

    Raises RulesError naming the first missing, unknown, float or out-of-range parameter.
    """
    if not isinstance(params, Mapping):
        raise RulesError("The rules parameters must be a JSON object.")
    missing = sorted(set(RULES_V1) - set(params))
    if missing:
        raise RulesError(f"Missing rules parameter: {', '.join(missing)}.")
    unknown = sorted(set(params) - set(RULES_V1))
    if unknown:
        raise RulesError(f"Unknown rules parameter: {', '.join(unknown)}.")
    for name in sorted(params):
        value = params[name]
        if isinstance(value, bool) or not isinstance(value, int):
            raise RulesError(f"Rules parameter {name} must be an integer, not {type(value).__name__}.")
        if not 0 <= value <= MAX_PARAM:
            raise RulesError(f"Rules parameter {name} must be between 0 and {MAX_PARAM}.")
    if params["ring_min_size"] < 2 or params["fee_period_days"] < 1:
        raise RulesError("ring_min_size must be at least 2 and fee_period_days at least 1.")
    return dict(params)


def rules_hash(version: int, params: Mapping[str, int]) -> str:
    """Hex SHA-256 of the RFC 8785 bytes of {"version", "params"}: what transfers cite as their rules."""
    return hashlib.sha256(encode_canonical_stdlib({"version": version, "params": dict(params)})).hexdigest()


def rules_document(version: int = RULES_VERSION, params: Mapping[str, int] = RULES_V1) -> dict[str, Any]:
    """The payload of a `credit.rules_changed` entry for these parameters (validated)."""
    checked = validate_params(params)
    return {"version": version, "params": checked, "hash": rules_hash(version, checked)}


DEMO_RULES: dict[str, int] = {
    **RULES_V1,
    # The demo consortium was founded today and has tens of downloads, not thousands: trust every founder
    # from day one, and lower the anti-gaming minimums to 10 CR each (v1: 100, 50, 200 and 200 CR) so its
    # flags show on demo volumes.
    "trust_ramp_days": 0,
    "reciprocity_min_mcr": 10 * MCR,
    "ring_edge_min_mcr": 10 * MCR,
    "fresh_min_mcr": 10 * MCR,
    "concentration_min_mcr": 10 * MCR,
}
