"""Every query filter of the API answers a value holding `%` with a 200 or a 400, never a 500.

django-filter turns a filter's validation errors into the 400 with `message % params`, so a message that
carried the client's value in its text (rather than in `params`) failed on the value's own `%`: schema fuzzing
found `GET /api/v1/api-keys/?revoked=a%` answered 500 (TypeError: not enough arguments for format string).
"""

from __future__ import annotations

import pytest
from django_filters.rest_framework import DjangoFilterBackend
from drf_spectacular.generators import EndpointEnumerator

pytestmark = pytest.mark.django_db

PERCENT_VALUES = ["50%", "%s", "%(value)s", "%d%%"]


def _filtered_lists() -> dict[str, list[str]]:
    """The API's list paths (no path parameter) with a django-filter filter set, and their filters."""
    found = {}
    for path, _regex, method, callback in EndpointEnumerator().get_api_endpoints():
        view = callback.cls(**getattr(callback, "initkwargs", {}))
        if method != "GET" or "{" in path or DjangoFilterBackend not in getattr(view, "filter_backends", []):
            continue
        filterset = DjangoFilterBackend().get_filterset_class(view, getattr(view, "queryset", None))
        if filterset is not None and filterset.base_filters:
            found[path] = sorted(filterset.base_filters)
    return found


def test_a_filter_value_with_a_percent_sign_is_never_a_server_error(
    client_for, member_admin, auditor
) -> None:
    lists = _filtered_lists()
    # The walk finds the filtered lists there are (it would pass vacuously if it found none).
    assert {"/api/v1/users/", "/api/v1/grants/", "/api/v1/credit/transfers/"} <= set(lists)
    clients = [client_for(member_admin), client_for(auditor)]
    reached = set()
    for path, names in lists.items():
        for name in names:
            for value in PERCENT_VALUES:
                for client in clients:
                    response = client.get(path, {name: value})
                    assert response.status_code < 500, (path, name, value, response.content)
                    if response.status_code in (200, 400):
                        reached.add(path)
    # Each list was read by one of the two (a member's lists by its admin, the credit ones by the auditor).
    assert reached == set(lists)
