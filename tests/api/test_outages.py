"""When something the exchange depends on goes away while it runs (the database, the broker, the ledger's
signing key), a request gets 503 service_unavailable with Retry-After, a problem body on the API and a plain
page on the portal, rather than a 500; and the write it was making is not half-done: a state change and its
ledger entry commit together or not at all."""

from __future__ import annotations

import json
import logging

import psycopg
import pytest
from django.contrib.auth.models import Group
from django.db import InterfaceError, OperationalError, connection
from kombu.exceptions import OperationalError as BrokerOperationalError

from consortium.models import Member
from ledger.keys import SigningKeyUnavailable
from ledger.models import LedgerEntry
from tests.api.test_problems import APPLICATION
from tests.fresh_process import answers


def counts() -> tuple[int, int, int]:
    return Member.objects.count(), Group.objects.count(), LedgerEntry.objects.count()


def assert_unavailable(response) -> dict:
    assert response.status_code == 503, response.content
    assert response["Content-Type"] == "application/problem+json"
    assert response["Retry-After"] == "30"
    body = response.json()
    assert body["code"] == "service_unavailable" and body["retry_after_seconds"] == 30
    return body


@pytest.mark.django_db
@pytest.mark.parametrize(
    "failure",
    [
        OperationalError("terminating connection due to administrator command\nSSL connection closed"),
        InterfaceError("connection already closed"),
        BrokerOperationalError("Error 111 connecting to redis.internal:6379. Connection refused."),
    ],
    ids=["database-lost", "database-closed", "broker-down"],
)
def test_an_outage_during_an_api_write_is_503_and_writes_nothing(api_client, monkeypatch, caplog, failure):
    from consortium.services import membership

    real_append = membership.ledger_append

    def append_then_fail(**kwargs):
        real_append(**kwargs)  # the member row and its entry are written, then the dependency fails
        raise failure

    monkeypatch.setattr(membership, "ledger_append", append_then_fail)
    before = counts()
    with caplog.at_level(logging.ERROR, logger="django.request"):
        response = api_client.post("/api/v1/members/", APPLICATION, format="json")
    body = assert_unavailable(response)
    assert "redis.internal" not in json.dumps(body) and "administrator" not in json.dumps(body)
    assert counts() == before  # neither the member nor its entry
    # Logged once, with the cause, for the operator.
    logged = [record for record in caplog.records if record.name == "django.request"]
    assert len(logged) == 1 and logged[0].exc_info is not None and logged[0].levelname == "ERROR"
    assert logged[0].getMessage() == "Service Unavailable: /api/v1/members/"


@pytest.mark.django_db
def test_a_signing_key_gone_while_running_is_503_and_writes_nothing(api_client, settings, tmp_path) -> None:
    from ledger import keys

    settings.LEDGER = {
        **settings.LEDGER,
        "SIGNING_KEY_PATH": str(tmp_path / "removed.pem"),
        "GENERATE_DEV_KEY": False,
    }
    keys.forget_cached_signer()
    before = counts()
    response = api_client.post("/api/v1/members/", APPLICATION, format="json")
    body = assert_unavailable(response)
    assert str(tmp_path) not in json.dumps(body)
    assert counts() == before


@pytest.mark.django_db
def test_other_errors_stay_500(api_client, monkeypatch) -> None:
    from consortium.api.problems import is_outage
    from consortium.services import membership

    assert is_outage(SigningKeyUnavailable("x")) and is_outage(OperationalError("x"))
    assert not is_outage(RuntimeError("x")) and not is_outage(None)

    def append_then_fail(**kwargs):
        raise RuntimeError("a bug, not an outage")

    monkeypatch.setattr(membership, "ledger_append", append_then_fail)
    api_client.raise_request_exception = False  # answered as a server answers it, not raised into the test
    before = counts()
    response = api_client.post("/api/v1/members/", APPLICATION, format="json")
    assert response.status_code == 500, response.content
    assert response["Content-Type"] == "application/problem+json"
    assert response.json()["code"] == "server_error" and not response.has_header("Retry-After")
    assert counts() == before


def test_requests_while_the_database_is_unreachable(tmp_path) -> None:
    """A web process whose database does not answer: API and portal answer 503, liveness 200."""
    api, portal_login, live = answers(
        [
            ("get", "/api/v1/datasets/", {"HTTP_AUTHORIZATION": "Api-Key abcdefgh.not-a-secret"}),
            ("post", "/login/", {"data": {"username": "someone", "password": "not-the-password"}}),
            ("get", "/health/live/", {}),
        ],
        tmp_path,
        DATABASE_URL="postgres://exchange:hunter2@127.0.0.1:1/exchange",
    )
    assert (api["status"], api["content_type"], api["retry_after"]) == (503, "application/problem+json", "30")
    assert json.loads(api["body"])["code"] == "service_unavailable"
    assert (portal_login["status"], portal_login["retry_after"]) == (503, "30")
    assert portal_login["content_type"].startswith("text/html")
    assert "Unavailable for a moment" in portal_login["body"]
    for answer in (api, portal_login):
        assert "127.0.0.1" not in answer["body"] and "hunter2" not in answer["body"]
    assert live["status"] == 200


@pytest.mark.postgres
@pytest.mark.django_db(transaction=True)
def test_a_connection_killed_mid_write_leaves_nothing_and_the_next_request_recovers(
    api_client, monkeypatch
) -> None:
    """The server ends the web process's connection while a member's application is half-written (its row
    inserted, its ledger entry not yet): 503, nothing of it in the database; once the process drops the dead
    connection, as it does after every request, the next request is served."""
    from consortium.services import membership

    settings_dict = connection.settings_dict
    real_append = membership.ledger_append

    def append_after_the_connection_is_killed(**kwargs):
        with connection.cursor() as cursor:
            cursor.execute("SELECT pg_backend_pid()")
            (pid,) = cursor.fetchone()
        with psycopg.connect(
            host=settings_dict["HOST"] or "127.0.0.1",
            port=settings_dict["PORT"] or 5432,
            user=settings_dict["USER"],
            password=settings_dict["PASSWORD"] or None,
            dbname=settings_dict["NAME"],
            autocommit=True,
        ) as admin:
            admin.execute("SELECT pg_terminate_backend(%s)", [pid])
        return real_append(**kwargs)

    before = counts()
    monkeypatch.setattr(membership, "ledger_append", append_after_the_connection_is_killed)
    assert_unavailable(api_client.post("/api/v1/members/", APPLICATION, format="json"))
    monkeypatch.setattr(membership, "ledger_append", real_append)
    connection.close_if_unusable_or_obsolete()  # Django's request_finished handler, in a real server
    assert counts() == before
    response = api_client.post("/api/v1/members/", APPLICATION, format="json")
    assert response.status_code == 201, response.content
    assert counts() == (before[0] + 1, before[1] + 1, before[2] + 1)
