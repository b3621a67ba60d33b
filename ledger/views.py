"""Portal view of the ledger's integrity: the latest signed checkpoint, the tree and what waits for the
sequencer, the published keys with their validity windows, and how to verify it all offline.

Thin, like the API (ledger.api.views): the same selectors, so the page shows what `/api/v1/ledger/status/`,
`/checkpoints/latest/` and `/keys/` answer, to the same people (ledger.selectors.may_read_log: an active
member's people and consortium staff; anyone else gets 404). Read-only: verifying the whole log costs
time proportional to it, so the page runs none and says how to."""

from __future__ import annotations

from django.contrib.auth.decorators import login_required
from django.http import Http404, HttpRequest, HttpResponse
from django.shortcuts import render

from consortium.errors import NotFound
from ledger import keys, selectors
from ledger.api.serializers import signing_key_data


@login_required
def integrity(request: HttpRequest) -> HttpResponse:
    """The ledger's status, its latest checkpoint (None before the first) and its published keys."""
    try:
        status = selectors.ledger_status_for(user=request.user)
    except NotFound as exc:
        raise Http404 from exc
    try:
        checkpoint = selectors.checkpoint_get_for(user=request.user)
    except NotFound:  # none signed yet: the page says when the first is
        checkpoint = None
    context = {
        "status": status,
        "checkpoint": checkpoint,
        "root_hash": bytes(checkpoint.root_hash).hex() if checkpoint else "",
        "unsigned": status["tree_size"] - (checkpoint.tree_size if checkpoint else 0),
        "keys": [signing_key_data(key, until) for key, until in keys.validity_windows()],
        "origin": keys.origin(),
    }
    return render(request, "ledger/integrity.html", context)
