"""Hand each actor the receipts of the entries its request appended (`Ledger-Receipts` response header).

Services return their entries to their callers; interfaces that cannot thread them through (every API
action) collect them here for the span of one request and return them in a header as a JSON array.
"""

from __future__ import annotations

import json
from collections.abc import Callable
from contextvars import ContextVar
from typing import TYPE_CHECKING

from django.http import HttpRequest, HttpResponse

if TYPE_CHECKING:
    from ledger.models import LedgerEntry

HEADER = "Ledger-Receipts"
_collected: ContextVar[list[LedgerEntry] | None] = ContextVar("ledger_receipts", default=None)


def note_appended(entry: LedgerEntry) -> None:
    """Called by ledger_append: remember the entry if a request is collecting receipts."""
    collected = _collected.get()
    if collected is not None:
        collected.append(entry)


class LedgerReceiptsMiddleware:
    """On a successful API request that appended entries, add their signed receipts as a header."""

    def __init__(self, get_response: Callable[[HttpRequest], HttpResponse]) -> None:
        self.get_response = get_response

    def __call__(self, request: HttpRequest) -> HttpResponse:
        token = _collected.set([])
        try:
            response = self.get_response(request)
            entries = _collected.get() or []
        finally:
            _collected.reset(token)
        if entries and response.status_code < 400:
            from ledger.services import receipt_of

            response[HEADER] = json.dumps(
                [receipt_of(entry).as_dict() for entry in entries], separators=(",", ":")
            )
            response["Access-Control-Expose-Headers"] = HEADER
        return response
