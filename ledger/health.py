"""The ledger's readiness check (consortium.health): its signing key loads and the ledger's origin is the
configured one, so entries can be signed."""

from __future__ import annotations

from django.db import DatabaseError

from consortium.health import Check, readiness_check
from ledger.keys import origin_mismatch, signing_key_unavailable


@readiness_check("signing_key")
def signing_key() -> Check:
    """The configured signing key loads (or will be generated on first use, where that is allowed), and
    LEDGER_ORIGIN is the origin the ledger's published keys were made under (every append refuses, 503,
    while it is not)."""
    problem = signing_key_unavailable()
    if problem is not None:
        return Check(False, {"error": "unavailable"}, problem)
    try:
        mismatch = origin_mismatch()
    except DatabaseError:  # the database's own check reports it; the key itself loads
        return Check(True)
    if mismatch is not None:
        return Check(False, {"error": "origin_mismatch"}, mismatch)
    return Check(True)
