"""Health: /health/ (and /api/v1/health/) is readiness for a load balancer: the database answers and is
migrated, the broker answers, the ledger's signing key loads; else 503 not_ready, a problem body that names
the failing check and nothing an outsider should read. /health/live/ is liveness: it asks nothing."""

from __future__ import annotations

import json
import logging

import pytest
from django.conf import settings
from django.db import connection
from django.test import Client

from tests.fresh_process import answers

pytestmark = pytest.mark.django_db


@pytest.mark.parametrize("path", ["/health/", "/api/v1/health/"])
def test_health_reports_database_and_broker(api_client, path) -> None:
    response = api_client.get(path)
    body = response.json()
    assert response.status_code == 200, body
    assert body["status"] == "ok"
    assert body["database"] == {"ok": True, "vendor": connection.vendor}
    assert body["migrations"] == {"ok": True}
    assert body["signing_key"] == {"ok": True}
    if settings.CELERY_BROKER_URL:  # CI's second pass: the real Redis must answer
        assert body["broker"]["mode"] == "broker" and body["broker"]["ok"] is True
    else:
        assert body["broker"] == {"ok": True, "mode": "eager"}
    assert response["Cache-Control"] == "no-store"


def not_ready(response) -> dict:
    assert response.status_code == 503
    assert response["Content-Type"] == "application/problem+json"
    body = response.json()
    assert body["code"] == "not_ready" and body["status"] == 503
    return body


def test_health_is_503_when_the_broker_is_unreachable(api_client, settings) -> None:
    settings.CELERY_BROKER_URL = "redis://127.0.0.1:1/0"  # nothing listens on port 1
    response = api_client.get("/health/")
    body = not_ready(response)
    assert body["broker"]["ok"] is False
    assert body["detail"] == "Not ready: broker failing."
    assert "127.0.0.1" not in response.content.decode()


@pytest.mark.parametrize("key", ["missing", "malformed", "environment"])
def test_readiness_fails_when_the_signing_key_cannot_be_loaded(
    api_client, settings, tmp_path, caplog, key
) -> None:
    path = tmp_path / "ledger-key.pem"
    if key == "malformed":
        path.write_text("-----BEGIN PRIVATE KEY-----\nnot a key\n-----END PRIVATE KEY-----\n")
    settings.LEDGER = {
        **settings.LEDGER,
        "SIGNING_KEY_PATH": str(path),
        "SIGNING_KEY_PEM": "not a PEM" if key == "environment" else "",
        "GENERATE_DEV_KEY": False,
    }
    with caplog.at_level(logging.WARNING, logger="consortium.health"):
        response = api_client.get("/health/")
    body = not_ready(response)
    assert body["signing_key"] == {"ok": False, "error": "unavailable"}
    assert body["database"]["ok"] is True
    assert body["detail"] == "Not ready: signing_key failing."
    assert str(tmp_path) not in response.content.decode()  # no file named to anyone
    # ...but the operator's log says which and why.
    logged = " ".join(record.getMessage() for record in caplog.records)
    assert "signing_key" in logged
    assert ("LEDGER_SIGNING_KEY" if key == "environment" else str(path)) in logged
    assert not path.exists() or key == "malformed"  # nothing generated


def test_readiness_fails_while_the_origin_is_not_the_ledgers(api_client, settings, caplog) -> None:
    """Every append refuses (503) under an origin other than the one the ledger's keys were made under
    (ledger.keys.origin_mismatch), so the process is not ready to take writes."""
    from ledger import keys
    from ledger.services import ledger_append

    # publishes the key under the origin the ledger begins with
    ledger_append(kind="test.fact", actor=None, subject_type="x", subject_id=1, payload={})
    began_with = settings.LEDGER["ORIGIN"]
    settings.LEDGER = {**settings.LEDGER, "ORIGIN": "other.example/ledger"}
    keys.forget_cached_signer()
    with caplog.at_level(logging.WARNING, logger="consortium.health"):
        body = not_ready(api_client.get("/health/"))
    assert body["signing_key"] == {"ok": False, "error": "origin_mismatch"}
    assert body["detail"] == "Not ready: signing_key failing."
    assert "LEDGER_ORIGIN is 'other.example/ledger'" in " ".join(r.getMessage() for r in caplog.records)

    settings.LEDGER = {**settings.LEDGER, "ORIGIN": began_with}
    keys.forget_cached_signer()
    assert api_client.get("/health/").json()["signing_key"] == {"ok": True}


def test_readiness_does_not_generate_or_publish_a_key(api_client, settings, tmp_path) -> None:
    from ledger.models import SigningKey

    path = tmp_path / "dev-key.pem"
    settings.LEDGER = {**settings.LEDGER, "SIGNING_KEY_PATH": str(path), "GENERATE_DEV_KEY": True}
    keys_before = SigningKey.objects.count()
    response = api_client.get("/health/")
    assert response.status_code == 200, response.content
    assert not path.exists()  # generated on first use by a write, not by a probe
    assert SigningKey.objects.count() == keys_before


def test_liveness_asks_nothing_of_the_database(api_client, django_assert_num_queries, settings) -> None:
    settings.CELERY_BROKER_URL = "redis://127.0.0.1:1/0"  # down: liveness does not care
    with django_assert_num_queries(0):
        response = api_client.get("/health/live/")
    assert response.status_code == 200
    assert response.json() == {"status": "ok"}
    assert response["Cache-Control"] == "no-store"


def test_probes_over_plain_http_are_answered_not_redirected(settings) -> None:
    # A load balancer probes a web process over plain HTTP inside the network; SSL redirect is on in
    # production (DEBUG off), and a 301 is a failed probe.
    settings.SECURE_SSL_REDIRECT = True
    client = Client()
    assert client.get("/health/").status_code == 200
    assert client.get("/health/live/").status_code == 200
    assert client.get("/api/v1/clusters/").status_code == 301  # everything else still goes to HTTPS


def test_readiness_fails_when_the_database_does_not_answer(tmp_path) -> None:
    ready, live = answers(
        [("get", "/health/", {}), ("get", "/health/live/", {})],
        tmp_path,
        DATABASE_URL="postgres://exchange:hunter2@127.0.0.1:1/exchange",  # nothing listens on port 1
    )
    assert ready["status"] == 503 and ready["content_type"] == "application/problem+json"
    body = json.loads(ready["body"])
    assert body["code"] == "not_ready"
    assert body["database"] == {"ok": False, "vendor": "postgresql", "error": "OperationalError"}
    assert body["migrations"]["ok"] is False
    assert body["signing_key"]["ok"] is True and body["broker"]["ok"] is True
    assert "127.0.0.1" not in ready["body"] and "hunter2" not in ready["body"]
    assert live["status"] == 200


def test_readiness_fails_when_the_database_is_not_migrated(tmp_path) -> None:
    (ready,) = answers(
        [("get", "/health/", {})], tmp_path, DATABASE_URL=f"sqlite:///{tmp_path / 'never-migrated.sqlite3'}"
    )
    assert ready["status"] == 503
    body = json.loads(ready["body"])
    assert body["database"]["ok"] is True
    assert body["migrations"]["ok"] is False and body["migrations"]["error"] == "not_applied"
    assert body["migrations"]["missing"] > 10
    assert body["detail"] == "Not ready: migrations failing."
