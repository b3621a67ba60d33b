"""Logging filters, named in settings.LOGGING."""

from __future__ import annotations

import logging


class ClientError(logging.Filter):
    """Logs each record of its logger as a client's mistake: at WARNING, as Django logs every 4xx answer
    (django.request), and without the traceback, which would point at a fault of the server.

    For a logger Django writes at ERROR for what is the client's doing: django.security.RequestDataTooBig, a
    body past DATA_UPLOAD_MAX_MEMORY_SIZE, answered 413 payload_too_large. Django logs it so where it answers
    the request itself (a portal form, which the CSRF check reads before any view) and the API's problem
    handler logs it as Django would (consortium.api.problems), so the level is set here, once, for both.
    The record keeps its logger's name, so an operator can still follow it."""

    def filter(self, record: logging.LogRecord) -> bool:
        if record.levelno > logging.WARNING:
            record.levelno, record.levelname = logging.WARNING, logging.getLevelName(logging.WARNING)
            record.exc_info, record.exc_text, record.stack_info = None, None, None
        return True
