"""Every boolean query filter of the API refuses what is not a boolean, as the grants' ?revoked= does.

django-filter's BooleanFilter reads its value through NullBooleanField and a Select widget, which turn any
unknown value into "no filter": `GET /api/v1/users/?is_active=maybe` listed everyone with a 200, and so did
`/api/v1/api-keys/?revoked=maybe` (a filter django-filter made for the model's `revoked` field).
"""

from __future__ import annotations

import django_filters
import pytest
from django_filters.rest_framework import DjangoFilterBackend
from drf_spectacular.generators import EndpointEnumerator

from consortium.api.filters import StrictBooleanFilter
from consortium.services import api_key_revoke
from tests.api.test_problems import assert_problem
from tests.factories import UserFactory, make_api_key

pytestmark = pytest.mark.django_db

NOT_BOOLEANS = ["maybe", "yes", "no", "2", "truee", "none", "on"]


@pytest.fixture
def people(member, member_admin, analyst) -> dict[str, set[str]]:
    UserFactory(member=member, member_role="analyst", username="gone", is_active=False)
    return {"active": {"own-admin", "own-analyst"}, "inactive": {"gone"}}


@pytest.fixture
def keys(member_admin) -> dict[str, set[str]]:
    make_api_key(admin=member_admin, scopes=["read"], name="live key")
    revoked, _ = make_api_key(admin=member_admin, scopes=["read"], name="old key")
    api_key_revoke(actor=member_admin, key=revoked)
    return {"live": {"live key"}, "revoked": {"old key"}}


def _usernames(response) -> set[str]:
    assert response.status_code == 200, response.content
    return {user["username"] for user in response.json()["results"]}


def _key_names(response) -> set[str]:
    assert response.status_code == 200, response.content
    return {key["name"] for key in response.json()["results"]}


@pytest.mark.parametrize("value", NOT_BOOLEANS)
@pytest.mark.parametrize(
    ("path", "field"), [("/api/v1/users/", "is_active"), ("/api/v1/api-keys/", "revoked")]
)
def test_a_boolean_filter_that_is_not_a_boolean_is_a_400(
    client_for, member_admin, people, keys, path, field, value
) -> None:
    body = assert_problem(client_for(member_admin).get(f"{path}?{field}={value}"), 400, "validation_error")
    assert field in body["errors"]


@pytest.mark.parametrize("value", ["50%", "%s", "%(value)s", "100%%"])
@pytest.mark.parametrize(
    ("path", "field"),
    [("/api/v1/users/", "is_active"), ("/api/v1/api-keys/", "revoked"), ("/api/v1/grants/", "revoked")],
)
def test_a_non_boolean_with_a_percent_sign_is_a_400_that_quotes_it(
    client_for, member_admin, path, field, value
) -> None:
    """django-filter formats each message with `message % params`: a `%` in the value was a 500."""
    body = assert_problem(client_for(member_admin).get(path, {field: value}), 400, "validation_error")
    assert body["errors"][field] == [f"'{value}' is not a boolean; use true or false."]


@pytest.mark.parametrize(
    ("value", "active"), [("true", True), ("TRUE", True), ("1", True), ("false", False), ("0", False)]
)
def test_the_user_is_active_filter_takes_booleans(client_for, member_admin, people, value, active) -> None:
    listed = _usernames(client_for(member_admin).get(f"/api/v1/users/?is_active={value}"))
    assert listed == people["active" if active else "inactive"]


def test_an_empty_is_active_filter_filters_nothing(client_for, member_admin, people) -> None:
    listed = _usernames(client_for(member_admin).get("/api/v1/users/?is_active="))
    assert listed == people["active"] | people["inactive"]


@pytest.mark.parametrize(("value", "revoked"), [("true", True), ("False", False), ("1", True), ("0", False)])
def test_the_api_key_revoked_filter_takes_booleans(client_for, member_admin, keys, value, revoked) -> None:
    listed = _key_names(client_for(member_admin).get(f"/api/v1/api-keys/?revoked={value}"))
    assert listed == keys["revoked" if revoked else "live"]


def test_every_boolean_filter_of_the_api_is_strict() -> None:
    # Declared or made by django-filter from a model's BooleanField (filterset_fields): each must refuse.
    checked, lenient = set(), []
    for path, _regex, method, callback in EndpointEnumerator().get_api_endpoints():
        view = callback.cls(**getattr(callback, "initkwargs", {}))
        if DjangoFilterBackend not in getattr(view, "filter_backends", []):
            continue
        filterset = DjangoFilterBackend().get_filterset_class(view, getattr(view, "queryset", None))
        for name, each in (filterset.base_filters if filterset else {}).items():
            if isinstance(each, django_filters.BooleanFilter):
                checked.add(f"{path} {name}")
                if not isinstance(each, StrictBooleanFilter):
                    lenient.append(f"{method} {path} ?{name}=")
    assert not lenient
    # The walk finds the boolean filters there are (it would pass vacuously if it found none).
    assert {
        "/api/v1/users/ is_active",
        "/api/v1/api-keys/ revoked",
        "/api/v1/grants/ revoked",
    } <= checked
