"""What DRF's throttles miss because it checks them after authentication and permissions: failed API-key
authentication (per client address, before a key is checked) and requests the permission checks refuse
(against the caller's own rates, as if they had got through)."""

from __future__ import annotations

import math
from typing import TYPE_CHECKING

from rest_framework import exceptions
from rest_framework.settings import api_settings
from rest_framework.throttling import BaseThrottle, SimpleRateThrottle

if TYPE_CHECKING:
    from django.http import HttpRequest
    from rest_framework.request import Request
    from rest_framework.views import APIView


def client_address(request: HttpRequest) -> str | None:
    """The client's address as every throttle and the portal's login lockout (django-axes) count it:
    REMOTE_ADDR, or behind BEHIND_PROXY / NUM_PROXIES the X-Forwarded-For entry the trusted proxies added.
    Axes alone would see the proxy's address, so five wrong passwords from anyone would lock a username out
    for everyone behind the proxy."""
    return BaseThrottle().get_ident(request)  # type: ignore[arg-type]  # reads only META


# How long an address remembers a key it has used successfully (see AuthenticationFailureThrottle).
KNOWN_KEY_SECONDS = 7 * 24 * 3600


class AuthenticationFailureThrottle(SimpleRateThrottle):
    """Failed API-key authentication (a key that names no key, a wrong secret, a revoked or expired key, a
    key of an inactive member, a malformed `Api-Key` header) counted per client address at the rate
    `auth_failures` (API_THROTTLE_AUTH_FAILURES). Once an address has spent it, a key is refused with 429
    `authentication_throttled` and Retry-After before it is checked, unless it is a key this address has
    used successfully before and that has not failed from it since.

    Why before the check: an address over its budget that still had its keys checked, and was let in
    when one was right, could go on guessing at full speed; only a refusal that does not depend on the key
    stops that. Why the exception: refusing every key from the address would let anyone behind the same
    NAT or proxy as a partner lock the partner out, for as long as they keep failing. The keys the address
    has used successfully are remembered (KNOWN_KEY_SECONDS) by their prefix, which is not secret; a
    guesser never made them succeed, and one that knows a partner's prefix and guesses its secret from
    the partner's address makes that prefix fail, which withdraws the exception for it from that address
    for one period of the rate. So guessing from one address is bounded by the rate whatever it aims at,
    while a partner that shares the address keeps working unless its own key is under attack from there.
    A key first used from an address that is over its budget waits for the period to end.

    The address is REMOTE_ADDR, or the entry the trusted proxies added to X-Forwarded-For
    (REST_FRAMEWORK["NUM_PROXIES"], from BEHIND_PROXY / NUM_PROXIES): a forged X-Forwarded-For does not
    give a client a fresh budget. The counts live in the shared cache (Redis with REDIS_URL), in fixed
    windows of the rate's period counted with the cache's atomic increment, so concurrent failures are
    all counted; requests already being checked when the budget runs out can still fail, once each. The
    rate is read when the throttle is made, so override_settings applies.
    """

    scope = "auth_failures"

    def __init__(self, request: Request, *, prefix: str) -> None:
        super().__init__()
        limit, period = self.parse_rate(self.rate)  # (None, None) when the rate is None: no throttle
        self.limit: int | None = limit
        self.period: int | None = period
        self.ident = self.get_ident(request)
        # Key prefixes are ASCII letters and digits; anything else names no key, and is never remembered.
        self.prefix = prefix if prefix.isascii() and prefix.isalnum() else ""
        self._known_prefix = False

    def get_rate(self) -> str | None:
        rate = api_settings.DEFAULT_THROTTLE_RATES.get(self.scope)
        return None if rate is None else str(rate)

    def _key(self, what: str) -> str:
        return self.cache_format % {"scope": f"{self.scope}_{what}", "ident": self.ident}

    def _window(self) -> tuple[str, float]:
        """The cache key of the current window's count, and the seconds until the window ends."""
        assert self.period is not None
        now = self.timer()
        window = int(now // self.period)
        return self._key(f"count_{window}"), (window + 1) * self.period - now

    def refuse_if_spent(self) -> None:
        """Raise Throttled (429 `authentication_throttled`, with its wait) if the address has spent its
        budget of failures in this window and the key is not one it may still try."""
        if self.limit is None:
            return
        count_key, remaining = self._window()
        known, failed = self._key(f"known_{self.prefix}"), self._key(f"failed_{self.prefix}")
        found = self.cache.get_many([count_key, known, failed] if self.prefix else [count_key])
        self._known_prefix = known in found
        if found.get(count_key, 0) < self.limit or (self._known_prefix and failed not in found):
            return
        raise exceptions.Throttled(
            wait=max(1, math.ceil(remaining)),
            detail="Too many failed API-key attempts from this address; keys are not checked from it "
            "until the wait is over, except keys used successfully from it before.",
            code="authentication_throttled",
        )

    def failed(self) -> None:
        """Count a failed authentication against the address, and mark the key's prefix as failing."""
        if self.period is None:
            return
        count_key, _ = self._window()
        if not self.cache.add(count_key, 1, self.period):
            try:
                self.cache.incr(count_key)
            except ValueError:  # expired between the two calls
                self.cache.add(count_key, 1, self.period)
        if self.prefix:
            self.cache.set(self._key(f"failed_{self.prefix}"), True, self.period)

    def succeeded(self) -> None:
        """Remember the key's prefix as one this address has used successfully (if it did not know it)."""
        if self.limit is not None and self.prefix and not self._known_prefix:
            self.cache.set(self._key(f"known_{self.prefix}"), True, KNOWN_KEY_SECONDS)


def count_refusal(request: Request, view: APIView) -> exceptions.Throttled | None:
    """Count a request that the view's permission checks refused against the view's throttles, as DRF
    counts a request it lets through: it checks permissions before throttles, so a caller refused again
    and again was never slowed down. Returns the Throttled to answer with instead if the caller is over
    one of its rates (the answer it would get for any other request), else None."""
    try:
        view.check_throttles(request)
    except exceptions.Throttled as throttled:
        return throttled
    return None
