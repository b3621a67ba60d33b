"""Settings read from the environment, strictly: consortium/settings.py reads every value through these.

A value that does not parse is refused at start-up with ImproperlyConfigured, whose message names the
variable and says what it takes, instead of a ValueError or KeyError from deep inside a library (or, worse,
a value quietly read as something else: django-environ reads DEBUG=maybe as false and a DRF rate "fast"
fails only on the first request). A variable that is not set takes its default; one set to an empty string
is a value like any other, refused where empty means nothing.

Messages never repeat a URL's value: a database, broker or cache URL may hold a password.
"""

from __future__ import annotations

import logging
import os
from collections.abc import Collection
from pathlib import Path
from typing import Any
from urllib.parse import urlsplit

import environ
from django.core.exceptions import ImproperlyConfigured

from consortium.numbers import MAX_INTEGER, MIN_INTEGER, whole_number

TRUE = frozenset({"true", "yes", "on", "1"})
FALSE = frozenset({"false", "no", "off", "0"})
# The engines the exchange runs on (the ledger's triggers exist for these two) and their URL schemes.
DATABASE_SCHEMES = {
    "postgres": "django.db.backends.postgresql",
    "postgresql": "django.db.backends.postgresql",
    "pgsql": "django.db.backends.postgresql",
    "sqlite": "django.db.backends.sqlite3",
}
# DRF's rate periods (SimpleRateThrottle.parse_rate reads the first letter).
RATE_PERIODS = frozenset("smhd")


def _raw(name: str) -> str | None:
    return os.environ.get(name)


def boolean(name: str, default: bool) -> bool:
    """true/yes/on/1 or false/no/off/0 (any case); anything else is refused, not read as false."""
    raw = _raw(name)
    if raw is None:
        return default
    value = raw.strip().lower()
    if value in TRUE:
        return True
    if value in FALSE:
        return False
    raise ImproperlyConfigured(f"{name} must be true or false (or 1/0, yes/no, on/off), not {raw!r}.")


def integer(name: str, default: int, *, minimum: int | None = None) -> int:
    """A whole number written in decimal digits, at least `minimum` if given."""
    raw = _raw(name)
    if raw is None:
        return default
    # ASCII digits (consortium.numbers): int() also read "+5", "5_0" and other scripts' digits; within 64
    # bits, as whole_number gives any longer number as one value past every range.
    value = whole_number(raw.strip(), signed=True)
    if value is None or not MIN_INTEGER <= value <= MAX_INTEGER:
        raise ImproperlyConfigured(f"{name} must be a whole number, not {raw!r}.")
    if minimum is not None and value < minimum:
        raise ImproperlyConfigured(f"{name} must be {minimum} or more, not {value}.")
    return value


def number(name: str, default: float, *, minimum: float | None = None) -> float:
    """A decimal number (1, 0.25), at least `minimum` if given."""
    raw = _raw(name)
    if raw is None:
        return default
    try:
        value = float(raw.strip())
    except ValueError:
        raise ImproperlyConfigured(f"{name} must be a number, not {raw!r}.") from None
    if value != value or value in (float("inf"), float("-inf")):  # nan, inf
        raise ImproperlyConfigured(f"{name} must be a finite number, not {raw!r}.")
    if minimum is not None and value < minimum:
        raise ImproperlyConfigured(f"{name} must be {minimum} or more, not {raw!r}.")
    return value


def choice(name: str, default: str, choices: Collection[str]) -> str:
    """One of `choices`, exactly."""
    raw = _raw(name)
    if raw is None:
        return default
    if raw not in choices:
        raise ImproperlyConfigured(f"{name} must be one of {', '.join(choices)}, not {raw!r}.")
    return raw


def text(name: str, default: str, *, required_non_empty: bool = False) -> str:
    """Any string; with `required_non_empty`, an empty (or blank) value is refused."""
    raw = _raw(name)
    if raw is None:
        return default
    if required_non_empty and not raw.strip():
        raise ImproperlyConfigured(f"{name} is set but empty.")
    return raw


def rate(name: str, default: str) -> str:
    """A DRF throttle rate: <requests>/<period>, the period second, minute, hour or day (10/min, 3/hour)."""
    raw = _raw(name)
    if raw is None:
        return default
    # DRF splits on the one '/' and reads the count with int(): a second '/' or a digit int() refuses
    # ('²', or more than 4,300 digits) would fail every request instead.
    count, _, period = raw.partition("/")
    requests = whole_number(count)
    if requests is None or requests > MAX_INTEGER or "/" in period or period[:1] not in RATE_PERIODS:
        raise ImproperlyConfigured(
            f"{name} must be a rate such as 60/min: a number of requests, '/', and s, min, hour or day; "
            f"not {raw!r}."
        )
    return raw


def log_level(name: str, default: str) -> str:
    """A logging level name (DEBUG, INFO, WARNING, ERROR, CRITICAL), in any case."""
    raw = _raw(name)
    if raw is None:
        return default
    level = raw.strip().upper()
    if not isinstance(logging.getLevelName(level), int):
        raise ImproperlyConfigured(f"{name} must be DEBUG, INFO, WARNING, ERROR or CRITICAL, not {raw!r}.")
    return level


def directory(name: str, default: Path) -> Path:
    """A directory, created if missing; refused with the reason if it cannot be."""
    path = Path(_raw(name) or default)
    try:
        path.mkdir(parents=True, exist_ok=True)
    except OSError as exc:
        raise ImproperlyConfigured(f"{name}: cannot create the directory {path}: {exc.strerror}.") from None
    return path


def _check_port(name: str, url: str) -> None:
    try:
        urlsplit(url).port  # noqa: B018 - parsing it is the check
    except ValueError:
        raise ImproperlyConfigured(f"{name} has a port that is not a number.") from None


def database(name: str, default: str) -> dict[str, Any]:
    """Django's DATABASES entry for a postgres:// or sqlite:// URL (dj-database-url's form)."""
    raw = _raw(name)
    url = default if raw is None else raw
    expected = "postgres://user:password@host:5432/name or sqlite:///path/to/file.sqlite3"
    scheme = urlsplit(url).scheme if "://" in url else ""
    if scheme not in DATABASE_SCHEMES:
        got = f"the scheme {scheme!r}" if scheme else "no scheme"
        raise ImproperlyConfigured(f"{name} must be a database URL such as {expected}; it has {got}.")
    _check_port(name, url)
    try:
        config = environ.Env.db_url_config(url)
    except ValueError:
        raise ImproperlyConfigured(f"{name} is not a valid database URL; expected {expected}.") from None
    if config.get("ENGINE") != DATABASE_SCHEMES[scheme] or not config.get("NAME"):
        raise ImproperlyConfigured(f"{name} names no database; expected {expected}.")
    return config


def broker_url(name: str) -> str:
    """A Celery broker URL (redis://, amqp://, ...; several separated by ';' for failover) or "" for none."""
    from kombu.transport import TRANSPORT_ALIASES

    url = _raw(name) or ""
    for part in filter(None, (each.strip() for each in url.split(";"))):
        scheme = urlsplit(part).scheme if "://" in part else ""
        if scheme not in TRANSPORT_ALIASES:
            got = f"the scheme {scheme!r}" if scheme else "no scheme"
            raise ImproperlyConfigured(
                f"{name} must be a broker URL such as redis://host:6379/0 or amqp://user:password@host:5672//;"
                f" it has {got}."
            )
        _check_port(name, part)
    return url


def redis_url(name: str) -> str:
    """A Redis URL (redis://, rediss://, unix://; several separated by ',' or ';') or "" for none."""
    from redis.connection import parse_url

    url = _raw(name) or ""
    for part in filter(None, (each.strip() for each in url.replace(";", ",").split(","))):
        try:
            parse_url(part)
        except ValueError:
            raise ImproperlyConfigured(
                f"{name} must be a Redis URL such as redis://host:6379/1 (redis://, rediss:// or unix://, "
                "with a numeric port)."
            ) from None
    return url


def email_url(name: str, default: str) -> dict[str, Any]:
    """Django's EMAIL_* settings from an e-mail URL (smtp://, smtp+tls://, consolemail://, ...). Set but
    empty is refused: read as the default, every mail would go to the console, not sent."""
    raw = _raw(name)
    url = default if raw is None else raw
    try:
        return environ.Env.email_url_config(url)
    except (ImproperlyConfigured, ValueError):
        raise ImproperlyConfigured(
            f"{name} must be an e-mail URL such as smtp+tls://user:password@smtp.example.com:587 or "
            "consolemail://."
        ) from None
