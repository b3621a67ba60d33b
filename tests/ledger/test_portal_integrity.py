"""The portal's Ledger integrity page: what the API's status, latest checkpoint and keys say, to who the API
shows them (active members' people and consortium staff; 404 for anyone else), with how to verify offline,
and no verification run by the request."""

from __future__ import annotations

import re
from unittest import mock

import pytest

from ledger import keys
from ledger.services import checkpoint_issue, ledger_append, ledger_sequence, signing_key_rotate
from tests.exchange.support import as_user

pytestmark = pytest.mark.django_db

PAGE = "/ledger/"


def _append(user, member, count: int) -> None:
    for i in range(count):
        ledger_append(
            kind="test.fact", actor=user, subject_type="thing", subject_id=i, members=[member.pk], payload={}
        )


def _field(html: str, name: str) -> str:
    (value,) = re.findall(rf'data-field="{name}">([^<]*)<', html)
    return value


def test_the_page_shows_what_the_api_says(auditor, analyst, member) -> None:
    _append(analyst, member, 5)
    ledger_sequence()
    checkpoint_issue()
    _append(analyst, member, 2)  # sequenced, past the checkpoint
    ledger_sequence()
    _append(analyst, member, 3)  # accepted, waiting for the sequencer
    signing_key_rotate()
    for user in (auditor, analyst):
        client = as_user(user)
        status = client.get("/api/v1/ledger/status/").json()
        latest = client.get("/api/v1/ledger/checkpoints/latest/").json()
        published = client.get("/api/v1/ledger/keys/").json()
        with mock.patch("ledger.verification.verify_database", side_effect=AssertionError("no run")) as run:
            page = client.get(PAGE)
        assert page.status_code == 200 and not run.called
        html = page.content.decode()
        assert int(_field(html, "tree-size")) == status["tree_size"]
        assert int(_field(html, "pending")) == status["pending_entries"] >= 3
        assert int(_field(html, "checkpoint-size")) == latest["tree_size"] == 5
        assert _field(html, "checkpoint-root") == latest["root_hash"]
        assert _field(html, "checkpoint-key") == latest["key_id"]
        assert int(_field(html, "unsigned")) == status["tree_size"] - latest["tree_size"]
        rows = re.findall(r'data-key-id="([^"]+)"', html)
        assert rows == [key["key_id"] for key in published] and len(rows) == 2
        assert html.count('<span class="badge active">current</span>') == 1  # the old key's window ends
        for key in published:
            assert key["public_key"] in html and key["verifier_key"] in html
        for command in ("manage.py ledger_verify", "manage.py ledger_export PATH", "python -m ledger.verify"):
            assert command in html
        for api in ("/api/v1/ledger/status/", "/api/v1/ledger/checkpoints/latest/", "/api/v1/ledger/keys/"):
            assert f'href="{api}"' in html
        assert f'href="{PAGE}" aria-current="page">Ledger</a>' in html


def test_before_any_checkpoint_the_page_says_when_the_first_is_signed(auditor) -> None:
    html = as_user(auditor).get(PAGE).content.decode()
    assert "No checkpoint has been signed yet" in html and 'data-field="checkpoint-size"' not in html


def test_the_page_is_for_who_may_read_the_log_as_in_the_api(
    client_for, analyst, officer, security_officer, auditor, member
) -> None:
    from consortium.models import User

    nobody = User.objects.create_user("nobody")  # no member, no consortium role
    keys.active_signer()
    for user, opens in (
        (analyst, True),
        (officer, True),
        (security_officer, True),
        (auditor, True),
        (nobody, False),
    ):
        client = as_user(user)
        api = client_for(user).get("/api/v1/ledger/status/").status_code
        assert (client.get(PAGE).status_code, api) == ((200, 200) if opens else (404, 404)), user.username
        assert (f'href="{PAGE}"' in client.get("/").content.decode()) is opens, user.username
    member.status = "suspended"
    member.save(update_fields=["status"])
    assert as_user(analyst).get(PAGE).status_code == 404
    assert client_for(analyst).get("/api/v1/ledger/status/").status_code == 404
    assert f'href="{PAGE}"' not in as_user(analyst).get("/").content.decode()
    assert client_for(None).get(PAGE).status_code == 302  # to the login page
