"""Portal views: home, membership application, member directory and decisions, people, API keys.

The views live in home_page (the home page and the CSRF failure page; not `home`, the view's own name),
membership, people, password_reset and api_keys (shared pieces in _common); this package re-exports them,
so the URL conf writes `from consortium import views; views.member_detail` and settings name
`consortium.views.csrf_failure`.
"""

from __future__ import annotations

from consortium.views._common import CAPABILITY_LABELS, ApplicationThrottle
from consortium.views.api_keys import api_key_create, api_key_list, api_key_revoke
from consortium.views.home_page import csrf_failure, home
from consortium.views.membership import (
    APPLICATION_SESSION_KEY,
    OFFERED_DECISIONS,
    apply,
    apply_thanks,
    member_contact_edit,
    member_detail,
    member_list,
)
from consortium.views.password_reset import PasswordResetConfirmView, PasswordResetThrottle, PasswordResetView
from consortium.views.people import (
    people_list,
    person_create,
    person_deactivate,
    person_detail,
    person_send_password_link,
)

__all__ = [
    "APPLICATION_SESSION_KEY",
    "CAPABILITY_LABELS",
    "OFFERED_DECISIONS",
    "ApplicationThrottle",
    "PasswordResetConfirmView",
    "PasswordResetThrottle",
    "PasswordResetView",
    "api_key_create",
    "api_key_list",
    "api_key_revoke",
    "apply",
    "apply_thanks",
    "csrf_failure",
    "home",
    "member_contact_edit",
    "member_detail",
    "member_list",
    "people_list",
    "person_create",
    "person_deactivate",
    "person_detail",
    "person_send_password_link",
]
