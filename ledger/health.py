"""The ledger's readiness check (consortium.health): its signing key loads, so entries can be signed."""

from __future__ import annotations

from consortium.health import Check, readiness_check
from ledger.keys import signing_key_unavailable


@readiness_check("signing_key")
def signing_key() -> Check:
    """The configured signing key loads (or will be generated on first use, where that is allowed)."""
    problem = signing_key_unavailable()
    if problem is not None:
        return Check(False, {"error": "unavailable"}, problem)
    return Check(True)
