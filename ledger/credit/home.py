"""What waits for a user in credit, for the portal's home page (registered with
consortium.navigation.register_waiting in CreditConfig.ready): the held mints waiting for an auditor's
release or forfeit. Counted through the selector the API lists them with, in one query."""

from __future__ import annotations

from typing import Any

from django.urls import reverse

from consortium.navigation import Waiting
from consortium.roles import Capability, can
from ledger.credit import selectors


def waiting_for(user: Any) -> list[Waiting]:
    """Held mints, for auditors (who alone may resolve them); nothing for anyone else."""
    if not can(user, Capability.RESOLVE_HELD_MINTS):
        return []
    held = selectors.held_mint_list_for(user=user).count()
    return [
        Waiting(
            f"held mint{'' if held == 1 else 's'} waiting for an audit (release or forfeit)",
            held,
            reverse("portal:credit-held-mints"),
        )
    ]
