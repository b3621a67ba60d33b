"""The session engine: Django's database sessions, refusing a session key Django never makes.

Django makes keys of lowercase ASCII letters and digits but accepts any cookie value of 8 characters or
more as a key and looks it up. A cookie can carry a NUL byte (`sessionid="abcdefgh\\000..."`: Django
unquotes the octal escape), and PostgreSQL refuses NUL in a text parameter: DataError, a 500 on every page
and API call. A key with a character Django never uses names no session, so it is treated as none.
"""

from __future__ import annotations

from typing import Any

from django.contrib.sessions.backends import db
from django.contrib.sessions.backends.base import VALID_KEY_CHARS

_VALID = frozenset(VALID_KEY_CHARS)


class SessionStore(db.SessionStore):
    def _validate_session_key(self, key: Any) -> bool:
        # Django's own rule (truthy, at least 8 characters) plus: only the characters Django makes keys of.
        return bool(key) and len(key) >= 8 and set(key) <= _VALID
