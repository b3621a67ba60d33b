"""Refused requests count against a rate, though DRF checks its throttles only after authentication and the
permissions: failed API-key authentication per client address (`auth_failures`, then 429
`authentication_throttled` before any key is checked, but for keys the address has used), and writes the
permission checks refuse against the caller's own rate. Nothing a refused request sends is written."""

from __future__ import annotations

import pytest
from rest_framework.test import APIClient
from rest_framework.throttling import UserRateThrottle

from consortium.api.throttling import AuthenticationFailureThrottle
from consortium.models import MemberAPIKey
from exchange.models import Dataset
from ledger.models import LedgerEntry
from tests.api.test_problems import assert_problem
from tests.factories import make_api_key

pytestmark = pytest.mark.django_db

CLIENT, NEIGHBOUR = "203.0.113.7", "198.51.100.20"
BUDGET = 3


@pytest.fixture(autouse=True)
def _small_budget(settings) -> None:
    rest = settings.REST_FRAMEWORK
    settings.REST_FRAMEWORK = {
        **rest,
        "DEFAULT_THROTTLE_RATES": {**rest["DEFAULT_THROTTLE_RATES"], "auth_failures": f"{BUDGET}/min"},
    }


def _get(header: str, address: str = CLIENT, **extra: str):
    return APIClient().get("/api/v1/me/", HTTP_AUTHORIZATION=header, REMOTE_ADDR=address, **extra)


def _fail_budget(address: str = CLIENT, **extra: str) -> None:
    """Spend `address`'s budget with keys that name no key."""
    for attempt in range(BUDGET):
        assert_problem(_get(f"Api-Key nokey{attempt}.secret", address, **extra), 401, "api_key_invalid")


def _assert_throttled(response) -> None:
    body = assert_problem(response, 429, "authentication_throttled")
    assert 1 <= int(response["Retry-After"]) <= 60
    assert body["retry_after_seconds"] == int(response["Retry-After"])


def test_every_kind_of_failure_counts_and_then_keys_are_not_checked(member_admin) -> None:
    real, raw = make_api_key(admin=member_admin, scopes=["read"])
    revoked, revoked_raw = make_api_key(admin=member_admin, scopes=["read"], name="old")
    MemberAPIKey.objects.filter(pk=revoked.pk).update(revoked=True)
    entries = LedgerEntry.objects.count()
    assert_problem(_get(f"Api-Key {real.prefix}.not-its-secret"), 401, "api_key_invalid")
    assert_problem(_get(f"Api-Key {revoked_raw}"), 401, "api_key_revoked")
    assert_problem(_get("Api-Key"), 401, "api_key_invalid")  # a malformed header: no key at all
    _assert_throttled(_get("Api-Key nokey.secret"))
    # A valid key this address has never used is refused too, unchecked: its use is not recorded.
    _assert_throttled(_get(f"Api-Key {raw}"))
    real.refresh_from_db()
    assert real.last_used_at is None
    assert LedgerEntry.objects.count() == entries


def test_another_address_keeps_its_own_budget(member_admin) -> None:
    _, raw = make_api_key(admin=member_admin, scopes=["read"])
    _fail_budget()
    _assert_throttled(_get("Api-Key nokey.secret"))
    assert_problem(_get("Api-Key nokey.secret", NEIGHBOUR), 401, "api_key_invalid")
    assert _get(f"Api-Key {raw}", NEIGHBOUR).status_code == 200


def test_a_forged_x_forwarded_for_gets_no_fresh_budget(settings) -> None:
    # No proxy (NUM_PROXIES 0): the header is the client's to write, and is not read.
    _fail_budget()
    _assert_throttled(_get("Api-Key nokey.secret", HTTP_X_FORWARDED_FOR="192.0.2.99"))
    # Behind one proxy: the address it appended counts, whatever the client put before it.
    settings.REST_FRAMEWORK = {**settings.REST_FRAMEWORK, "NUM_PROXIES": 1}
    proxy = "10.0.0.2"
    _fail_budget(proxy, HTTP_X_FORWARDED_FOR=f"192.0.2.1, {NEIGHBOUR}")
    _assert_throttled(_get("Api-Key x.y", proxy, HTTP_X_FORWARDED_FOR=f"192.0.2.2, {NEIGHBOUR}"))
    assert_problem(_get("Api-Key x.y", proxy, HTTP_X_FORWARDED_FOR="192.0.2.50"), 401, "api_key_invalid")


def test_a_partner_behind_the_same_address_keeps_working_until_its_own_key_is_guessed(member_admin) -> None:
    partner, raw = make_api_key(admin=member_admin, scopes=["read"])
    assert _get(f"Api-Key {raw}").status_code == 200  # before the attack
    _fail_budget()
    _assert_throttled(_get("Api-Key nokey.secret"))
    assert _get(f"Api-Key {raw}").status_code == 200
    # Guessing the partner's secret: one guess is checked, then the prefix is refused unchecked.
    assert_problem(_get(f"Api-Key {partner.prefix}.guess1"), 401, "api_key_invalid")
    _assert_throttled(_get(f"Api-Key {partner.prefix}.guess2"))
    _assert_throttled(_get(f"Api-Key {raw}"))


def test_the_budget_comes_back_when_the_period_ends(monkeypatch) -> None:
    now = [6_000_000.0]  # the start of a minute
    monkeypatch.setattr(AuthenticationFailureThrottle, "timer", staticmethod(lambda: now[0]))
    _fail_budget()
    now[0] += 45
    response = _get("Api-Key nokey.secret")
    _assert_throttled(response)
    assert response["Retry-After"] == "15"
    now[0] += 15
    assert_problem(_get("Api-Key nokey.secret"), 401, "api_key_invalid")


def test_another_scheme_is_no_key_and_spends_nothing() -> None:
    for _ in range(BUDGET + 1):
        assert_problem(_get("Bearer something"), 401, "not_authenticated")
    assert_problem(_get("Api-Key nokey.secret"), 401, "api_key_invalid")


def test_writes_refused_by_the_permissions_count_against_the_callers_rate(key_client, monkeypatch) -> None:
    monkeypatch.setattr(UserRateThrottle, "rate", "3/min", raising=False)  # DRF reads rates at import
    client, _, _ = key_client(["read"])
    before = Dataset.objects.count(), LedgerEntry.objects.count()
    for _ in range(2):
        response = client.post("/api/v1/datasets/", {"title": "Not mine to register"})
        assert_problem(response, 403, "insufficient_scope")
    # The third request of the minute is within the rate; a fourth refusal is not.
    assert client.get("/api/v1/me/").status_code == 200
    body = assert_problem(client.post("/api/v1/datasets/", {"title": "Again"}), 429, "throttled")
    assert body["retry_after_seconds"] >= 1
    assert_problem(client.get("/api/v1/me/"), 429, "throttled")
    assert (Dataset.objects.count(), LedgerEntry.objects.count()) == before
    assert APIClient().get("/api/v1/clusters/").status_code == 200  # another caller's rate is its own
