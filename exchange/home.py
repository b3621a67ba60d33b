"""What waits for a user in the exchange, for the portal's home page (registered with
consortium.navigation.register_waiting in ExchangeConfig.ready): the requests waiting for their decision,
and their member's own requests waiting for someone else's. Counts through the selectors, one query each."""

from __future__ import annotations

from typing import Any

from django.urls import reverse

from consortium.navigation import Waiting
from exchange import selectors


def waiting_for(user: Any) -> list[Waiting]:
    """Requests to decide (linked to the incoming requests, which list the waiting ones by default) and the
    member's undecided requests (linked to its requests filtered to the waiting ones)."""
    to_decide = selectors.access_request_awaiting_decision_for(user=user).count()
    mine = selectors.access_request_undecided_mine_for(user=user).count()
    return [
        Waiting(
            f"access request{'' if to_decide == 1 else 's'} waiting for your decision",
            to_decide,
            reverse("portal:incoming-requests"),
        ),
        Waiting(
            f"request{'' if mine == 1 else 's'} of your member waiting for a decision",
            mine,
            reverse("portal:my-requests") + "?state=waiting",
        ),
    ]
