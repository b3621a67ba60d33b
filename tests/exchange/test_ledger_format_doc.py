"""docs/ledger-format.md section 10 lists every exchange entry kind with its payload: the entries a whole
walk through the exchange writes match it member for member and type for type, and every kind the
services can write is listed."""

from __future__ import annotations

import hashlib
import json
import re
from datetime import timedelta
from pathlib import Path
from typing import Any

import pytest
from django.utils import timezone

from exchange import services
from exchange.models import AccessRequest, Grant
from ledger.canonical import canonical_bytes
from ledger.models import LedgerEntry
from tests.exchange.support import add_version, published, request_access
from tests.factories import MemberFactory, UserFactory

pytestmark = pytest.mark.django_db

ROOT = Path(__file__).resolve().parents[2]
TYPES = {
    "integer": lambda v: isinstance(v, int) and not isinstance(v, bool),
    "string": lambda v: isinstance(v, str),
    "array of integers": lambda v: isinstance(v, list) and all(isinstance(i, int) for i in v),
    "array of strings": lambda v: isinstance(v, list) and all(isinstance(i, str) for i in v),
}


def _section() -> str:
    text = (ROOT / "docs" / "ledger-format.md").read_text()
    return text.split("## 10. Exchange entry kinds", 1)[1].split("\n## ", 1)[0]


def _rows(table_heading: str) -> list[list[str]]:
    body = _section().split(table_heading, 1)[1].split("\n### ", 1)[0]
    rows = [
        [cell.strip() for cell in line.strip().strip("|").split("|")]
        for line in body.splitlines()
        if line.startswith("|")
    ]
    return rows[2:]  # less the header and the rule


def _names(cell: str) -> list[str]:
    return re.findall(r"`([a-z_0-9]+\??)`", cell)


def documented() -> tuple[dict[tuple[str, str], tuple[set[str], set[str]]], dict[str, str]]:
    """{(kind, subject type): (required members, optional members)}, {member: type}."""
    groups = {row[0]: _names(row[1]) for row in _rows("### 10.1 Payload groups")}
    kinds: dict[tuple[str, str], tuple[set[str], set[str]]] = {}
    for kind, subject, _members, payload in _rows("### 10.2 Kinds"):
        names: list[str] = []
        for part in payload.split(" + "):
            names += groups[part.strip()] if part.strip() in groups else _names(part)
        required = {n for n in names if not n.endswith("?")}
        optional = {n.rstrip("?") for n in names if n.endswith("?")} - required
        kinds[(kind.strip("`"), subject.strip("`"))] = (required, optional)
    types = {row[0].strip("`"): row[1] for row in _rows("### 10.3 Payload members")}
    return kinds, types


def _walk(steward: Any, security_officer: Any) -> None:
    """Every exchange transition once, through the services."""
    analysts = [
        UserFactory(username=f"a{n}", member=MemberFactory(legal_name=f"A{n}"), member_role="analyst")
        for n in range(4)
    ]
    restricted = published(steward, tier="restricted")
    asked = request_access(analysts[0], restricted)
    grant = Grant.objects.get(request=services.access_request_approve(actor=steward, request=asked)[0])
    services.grant_download(actor=analysts[0], grant=grant)[3].close()
    now = timezone.now()
    Grant.objects.filter(pk=grant.pk).update(valid_from=now - timedelta(days=31), valid_until=now)
    assert services.grant_expire_due() == 1
    add_version(steward, restricted, b"corrected\n" * 200)
    services.dataset_version_withdraw(actor=steward, version=restricted.versions.get(number=1), reason="Bad.")

    confidential = published(steward, tier="confidential")
    request = request_access(analysts[0], confidential)
    services.access_request_approve(actor=steward, request=request, reason="Fits.")
    services.access_request_reject(actor=security_officer, request=request, reason="Too sensitive.")

    open_grant = Grant.objects.get(request=request_access(analysts[1], published(steward, tier="open")))
    services.grant_revoke(actor=steward, grant=open_grant, reason="Ended.")

    closing = published(steward, tier="restricted")
    services.access_request_withdraw(actor=analysts[0], request=request_access(analysts[0], closing))
    old = request_access(analysts[1], closing)
    AccessRequest.objects.filter(pk=old.pk).update(created_at=now - timedelta(days=400))
    assert services.access_request_expire_due() == 1
    request_access(analysts[2], closing)
    services.dataset_withdraw(actor=steward, dataset=closing, reason="Retired.")


def test_every_exchange_entry_matches_its_documented_payload(data_steward, security_officer) -> None:
    kinds, types = documented()
    _walk(data_steward, security_officer)
    seen: set[tuple[str, str]] = set()
    entries = LedgerEntry.objects.filter(subject_type__in=["dataset", "access_request", "grant"])
    for entry in entries:
        payload = json.loads(bytes(entry.canonical))["payload"]
        payload.pop("credit", None)  # the credit accounting's member, documented with it, not here
        key = (entry.kind, entry.subject_type)
        assert key in kinds, f"{key} is not documented"
        required, optional = kinds[key]
        assert required <= payload.keys() <= required | optional, (key, sorted(payload), sorted(required))
        for name, value in payload.items():
            assert TYPES[types[name]](value), (key, name, value, types[name])
        if entry.kind == "dataset.policy_set":  # the documented recomputation of the policy hash
            document = {k: v for k, v in payload.items() if k not in ("grade", "policy_hash")}
            assert hashlib.sha256(canonical_bytes(document)).hexdigest() == payload["policy_hash"]
        seen.add(key)
    assert seen == set(kinds), set(kinds) - seen
    withdrawn_by_dataset = [e for e in entries if e.kind == "access.withdrawn"]
    causes = {json.loads(bytes(e.canonical))["payload"].get("cause") for e in withdrawn_by_dataset}
    assert causes == {None, "dataset_withdrawn"}


def test_every_kind_the_exchange_writes_is_documented() -> None:
    kinds, _ = documented()
    source = "".join(path.read_text() for path in (ROOT / "exchange").rglob("*.py"))
    # Kinds are written as ledger_append(kind=...) or through the request and dataset helpers.
    calls = r'(?:kind=|_append_request_entry\(\s*|_record_dataset_fact\(\s*)"([a-z_]+\.[a-z_.]+)"'
    written = set(re.findall(calls, source))
    assert written and written == {kind for kind, _ in kinds}
