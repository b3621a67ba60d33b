"""Replays: the offline verifier replays credit from an export; the stored transfers are byte-identical on
SQLite and PostgreSQL for the same entries."""

from __future__ import annotations

import base64
import hashlib
import io
import json
import subprocess
import uuid
from datetime import timedelta
from pathlib import Path
from unittest import mock

import pytest
from django.db import connection

from ledger import keys, signing
from ledger.credit import replay, services
from ledger.credit.audit import credit_audit
from ledger.export import write_export
from ledger.services import checkpoint_issue, ledger_sequence
from tests.fresh_process import python_without_django
from tests.ledger.credit.support import TRUSTED_RULES, clock, record, utc

pytestmark = pytest.mark.django_db
PROVIDER, CONSUMER, THIRD = 101, 102, 103


def _request_payload(request: int, tier: str, **extra):
    return {
        "request": request,
        "dataset": 7,
        "grade": 1,
        "tier": tier,
        "purpose": "research",
        "duration_days": 30,
        "requester_member": CONSUMER,
        "owner_member": PROVIDER,
        **extra,
    }


def scripted_ledger() -> None:
    """A fixed month of credit: rules, epoch, admissions, a listing, two grants, downloads, settlement."""
    counter = iter(range(10_000))
    if connection.vendor == "postgresql":  # orders start at 0 as in a fresh database (a sequence is not
        with connection.cursor() as cursor:  # rolled back with the tests before this one)
            cursor.execute("SELECT setval('credit_order_seq', 0, false)")
    with (
        mock.patch("ledger.services.appending.uuid.uuid4", lambda: uuid.UUID(int=next(counter))),
        clock(utc(2026, 10, 1, 8)) as now,
    ):
        services.credit_rules_publish(actor=None, params=TRUSTED_RULES)
        services.credit_epoch_open(epoch="2026-10")
        for member in (PROVIDER, CONSUMER, THIRD):
            record("member.admitted", "member", member, [member], {"credit_code": f"c{member}"})
        record("dataset.registered", "dataset", 7, [PROVIDER], {"dataset": 7, "grade": 1})
        record(
            "dataset.version_added", "dataset", 7, [PROVIDER], {"dataset": 7, "grade": 1, "sha256": "ab" * 32}
        )
        for request, tier in ((1, "restricted"), (2, "open")):
            now[0] += timedelta(hours=1)
            record(
                "access.requested",
                "access_request",
                request,
                [PROVIDER, CONSUMER],
                _request_payload(request, tier),
            )
            record(
                "access.granted",
                "access_request",
                request,
                [PROVIDER, CONSUMER],
                _request_payload(request, tier, grant=request),
            )
            for _ in range(3):
                payload = {
                    "grant": request,
                    "request": request,
                    "dataset": 7,
                    "grade": 1,
                    "tier": tier,
                    "grantee_member": CONSUMER,
                    "owner_member": PROVIDER,
                    "version_sha256": "ab" * 32,
                }
                record("data.downloaded", "grant", request, [PROVIDER, CONSUMER], payload)
        now[0] = utc(2026, 10, 9)
        services.credit_release()
        services.credit_epoch_settle(epoch="2026-10", now=utc(2026, 11, 1))


# sha256 of the export's credit_transfer lines (`manage.py ledger_export`), each with the leaf hash of the
# entry it cites: the scripted ledger fixes every entry's id and time, so the lines are the same bytes on
# SQLite and PostgreSQL (CI runs both).
EXPECTED_EXPORT_SHA256 = "a2d181ad7b68a8cb7e86863733946fd3cfb267da47715e0003472298d0858a72"


def test_the_transfer_export_and_its_replay_are_byte_identical_on_every_database():
    scripted_ledger()
    assert credit_audit().ok
    ledger_sequence()
    buffer = io.StringIO()
    write_export(buffer)
    lines = buffer.getvalue().splitlines()
    exported = [line for line in lines if json.loads(line)["type"] == "credit_transfer"]
    assert len(exported) == 14
    assert hashlib.sha256(("\n".join(exported) + "\n").encode()).hexdigest() == EXPECTED_EXPORT_SHA256
    # the offline replay of the exported entries makes exactly these transfers, field for field (the export
    # lists them by credit order and id)
    replayed = replay.replay(_exported_entries(lines))
    assert replayed.divergence is None
    made = sorted((t.as_dict() for t in replayed.transfers), key=lambda t: (t["order"], t["id"]))
    assert made == [
        {name: value for name, value in json.loads(line).items() if name != "type"} for line in exported
    ]


def _verify(path: Path, *options: str) -> subprocess.CompletedProcess[str]:
    blocked = (
        "import runpy, sys\n"
        "for name in ('django', 'rfc8785'):\n    sys.modules[name] = None\n"
        f"sys.argv = ['ledger.verify', {str(path)!r}, *{list(options or ['--rules-replay'])!r}]\n"
        "runpy.run_module('ledger.verify', run_name='__main__')\n"
    )
    return python_without_django("-c", blocked, timeout=60)


def test_the_offline_verifier_replays_credit_and_finds_a_changed_transfer(tmp_path):
    scripted_ledger()
    good = tmp_path / "good.jsonl"
    exported = _export_to(good)
    result = _verify(good)
    assert result.returncode == 0, result.stdout + result.stderr
    assert "CREDIT OK: 19 credit entries replayed; 14 transfers match" in result.stdout
    assert "not checked" not in result.stderr
    # without the replay the log's OK must not pass for the credit lines' too: the verifier says so
    signer = keys.active_signer()
    plain = _verify(good, "--trusted-key", signing.verifier_key(keys.origin(), signer.public_key))
    assert plain.returncode == 0 and plain.stdout.startswith("OK: ")
    assert "the 14 credit_transfer lines were not checked; --rules-replay" in plain.stderr

    lines = exported.splitlines()
    index = next(i for i, line in enumerate(lines) if '"code":"use"' in line)
    changed = json.loads(lines[index])
    changed["amount"] += 1
    lines[index] = json.dumps(changed, sort_keys=True, separators=(",", ":"))
    seq = next(
        json.loads(line)["seq"]
        for line in lines
        if '"type":"entry"' in line and json.loads(line)["leaf_hash"] == _leaf_of(changed, lines)
    )
    bad = tmp_path / "bad.jsonl"
    bad.write_text("\n".join(lines) + "\n")
    result = _verify(bad)
    assert result.returncode == 1
    assert result.stdout.splitlines()[-1].startswith(f"DIVERGES at seq {seq} ")
    assert f"transfer {changed['id']} has amount" in result.stdout


def _export_to(path: Path) -> str:
    """Checkpoint the ledger and write its export (`manage.py ledger_export`) to `path`; the export."""
    checkpoint_issue()
    buffer = io.StringIO()
    write_export(buffer)
    path.write_text(buffer.getvalue())
    return buffer.getvalue()


def _leaf_of(transfer: dict, lines: list[str]) -> str:
    """The leaf hash of the entry a transfer came from, found by replaying the export's entries."""
    result = replay.replay(_exported_entries(lines))
    return next(t.entry for t in result.transfers if t.id == transfer["id"])


def _exported_entries(lines: list[str]) -> list[tuple[int, str, dict]]:
    """(seq, leaf hash hex, document) of the entry lines of an export, as replay reads them."""
    documents = []
    for line in lines:
        obj = json.loads(line)
        if obj["type"] == "entry":
            documents.append((obj["seq"], obj["leaf_hash"], json.loads(base64.b64decode(obj["canonical"]))))
    return documents


def test_the_offline_verifier_names_a_provider_leg_left_pending_past_its_window(tmp_path):
    # I7 offline, as credit_audit: the clock is the export's latest entry time, so any auditor finds the same
    with clock(utc(2026, 10, 1, 8)) as now:
        services.credit_rules_publish(actor=None, params=TRUSTED_RULES)
        services.credit_epoch_open(epoch="2026-10")
        for member in (PROVIDER, CONSUMER):
            record("member.admitted", "member", member, [member], {"credit_code": f"c{member}"})
        record(
            "access.requested", "access_request", 1, [PROVIDER, CONSUMER], _request_payload(1, "restricted")
        )
        granted = _request_payload(1, "restricted", grant=1)
        record("access.granted", "access_request", 1, [PROVIDER, CONSUMER], granted)
        now[0] = utc(2026, 10, 9, 8, 1)  # a day and a minute past the 7-day window, no release
        record("dataset.registered", "dataset", 8, [THIRD], {"dataset": 8, "grade": 1})
        path = tmp_path / "overdue.jsonl"
        _export_to(path)
        overdue = credit_audit().overdue
        assert len(overdue) == 1 and overdue[0].seq is not None
        result = _verify(path)
        assert result.returncode == 1, result.stdout + result.stderr
        assert "OVERDUE (I7): 1 provider fee leg(s)" in result.stdout
        assert str(overdue[0]) in result.stdout  # the same leg, seq and window end as the database audit
        assert "window ended 2026-10-08T08:00:00.000000Z" in result.stdout

        services.credit_release()
        _export_to(path)
        result = _verify(path)
        assert result.returncode == 0, result.stdout + result.stderr
        assert "CREDIT OK" in result.stdout
