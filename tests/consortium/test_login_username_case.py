"""Signing in takes the username in any case, as usernames are told apart (one person per name whatever
its case: the unique index on lower(username)); failed attempts count against the person whatever case
they were typed in, so varying the case does not buy more guesses."""

from __future__ import annotations

from typing import Any

import pytest
from django.conf import settings
from django.test import Client
from django.urls import reverse

from tests.factories import DEMO_PASSWORD, UserFactory

pytestmark = pytest.mark.django_db

LOGIN = reverse("portal:login")


@pytest.mark.parametrize("typed", ["WANG-MIN", "Wang-Min", "wang-min", "  Wang-min "])
def test_a_person_signs_in_with_their_username_in_any_case(member: Any, typed: str) -> None:
    person = UserFactory(username="wang-min", member=member)
    client = Client()
    response = client.post(LOGIN, {"username": typed, "password": DEMO_PASSWORD})
    assert (response.status_code, response["Location"]) == (302, reverse("portal:home"))
    assert client.session["_auth_user_id"] == str(person.pk)


def test_a_wrong_password_is_refused_in_any_case(member: Any) -> None:
    UserFactory(username="wang-min", member=member)
    client = Client()
    response = client.post(LOGIN, {"username": "WANG-MIN", "password": "wrong"})
    assert response.status_code == 200 and "_auth_user_id" not in client.session


def test_failures_in_other_cases_count_towards_the_same_lockout(member: Any) -> None:
    UserFactory(username="wang-min", member=member)
    client = Client()
    for attempt in range(settings.AXES_FAILURE_LIMIT):
        typed = "wang-min".upper() if attempt % 2 else f"Wang-Min{' ' * attempt}"
        client.post(LOGIN, {"username": typed, "password": "wrong"})
    response = client.post(LOGIN, {"username": "wang-min", "password": DEMO_PASSWORD})
    assert response.status_code == 429
    assert "_auth_user_id" not in client.session


def test_every_refused_sign_in_runs_the_password_hasher_as_often(member: Any, monkeypatch) -> None:
    # What a refusal costs must not tell whether the name exists, in this case or another: each hashes the
    # password as often as the others (a sign-in's time is mostly its hashing).
    from django.contrib.auth.hashers import get_hasher

    UserFactory(username="wang-min", member=member)
    hasher = type(get_hasher())
    encode = hasher.encode
    calls: list[str] = []

    def counted(self, password, salt, *args, **kwargs):
        calls.append(password)
        return encode(self, password, salt, *args, **kwargs)

    monkeypatch.setattr(hasher, "encode", counted)

    def hashings(typed: str) -> int:
        calls.clear()
        response = Client().post(LOGIN, {"username": typed, "password": "wrong"})
        assert response.status_code == 200
        return len(calls)

    assert hashings("nobody-here") == hashings("wang-min") == hashings("WANG-MIN") > 0
