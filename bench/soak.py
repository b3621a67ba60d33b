"""Soak run of the production processes (gunicorn, Celery worker, beat, PostgreSQL, Redis) under API clients.

    .venv/bin/python bench/soak.py [--seconds 60] [--clients 8] [--web-workers 3] [--seed 1] [--keep]

Builds its own database (SOAK_DATABASE_URL, default consortium_soak on 127.0.0.1: dropped and created anew),
Redis databases (the broker SOAK_BROKER, default /13, or a RabbitMQ URL such as
amqp://guest:guest@127.0.0.1:5672//; the cache SOAK_REDIS_CACHE, default /12: flushed) and a throwaway
VAR_DIR under /tmp; migrates, seeds the demo consortium and gives every active demo member an API key
(read, request, manage). Then starts gunicorn, one Celery worker and beat as README's production section
does (DEBUG off, over plain HTTP) and drives them with `--clients` processes, each with its own seeded RNG,
through /api/v1/: browsing, requests (valid and not), decisions, downloads past quota, uploads, withdrawals,
revocations, people added, re-roled and deactivated, members suspended and reinstated, ledger reads and
proofs, credit statements and deliberately bad input; halfway through, the signing key is rotated
(`manage.py ledger_rotate_key`) and due credit released while the clients go on. Staff (consortium
officer, security officer, auditor) use a portal session, sent back by hand since its cookies are Secure.

Fails (exit 1, naming each) on any 5xx, any 4xx without a well-formed problem body, bad input not refused
with a 4xx, a write path that never succeeded (MUST_SUCCEED), a client that died, an error or traceback in
a process's log, entries left unsequenced, a gap or duplicate in the sequence numbers, or a failing
`manage.py ledger_verify --full` or `manage.py credit_audit`. Every process it starts is stopped at the end,
also on failure or Ctrl-C; `--keep` keeps the throwaway directory (logs) for reading.
"""

from __future__ import annotations

import argparse
import base64
import contextlib
import hashlib
import json
import os
import random
import re
import secrets
import shutil
import signal
import socket
import statistics
import subprocess
import sys
import tempfile
import threading
import time
import traceback
import urllib.error
import urllib.request
from collections import Counter, defaultdict
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

from support import recreate_database, run_in_processes

ROOT = Path(__file__).resolve().parent.parent
VENV_BIN = ROOT / ".venv" / "bin"
DATABASE_URL = os.environ.get("SOAK_DATABASE_URL", "postgres://postgres@127.0.0.1:5432/consortium_soak")
# Redis by default; RabbitMQ too (SOAK_BROKER=amqp://guest:guest@127.0.0.1:5672//), as production allows.
BROKER = os.environ.get("SOAK_BROKER", "redis://127.0.0.1:6379/13")
REDIS_CACHE = os.environ.get("SOAK_REDIS_CACHE", "redis://127.0.0.1:6379/12")
PROBLEM_FIELDS = {"type", "title", "status", "detail", "instance", "code"}
PURPOSES = [
    "research",
    "product_development",
    "ai_training",
    "quality_benchmarking",
    "operations_optimisation",
]
# What the actions must answer (a 5xx always fails the run). Bad input, an invalid request, a wrong checksum
# and a download of a version that does not exist must be refused with a 4xx: a 2xx there is a validation
# hole or an authentication bypass. The one exception: DRF clamps an oversized page_size to the view's
# max_page_size (API_MAX_PAGE_SIZE) and answers 200. The write paths the soak exists for must each succeed
# at least once (60 s runs at 8 clients saw 5 to 13 of the rarest, member.suspend).
MUST_REFUSE = ("bad.", "request.submit_invalid", "upload_bad_checksum", "download.unknown_version")
ALSO_ALLOWED = {"bad.page_size": {200}}
MUST_SUCCEED = (
    "upload",
    "decide.approve",
    "download",
    "request.submit",
    "member.suspend",
    "member.reinstate",
    "people.create",
    "member.contact",
    "register",
    "revoke",
)
LOG_ERROR = re.compile(r"Traceback|\bERROR\b|\bCRITICAL\b|WORKER TIMEOUT")
EXPECTED_LOG = re.compile(r"django\.security\.(RequestDataTooBig|TooManyFieldsSent)")

# Run in the soak's environment by `manage.py shell`: one API key per active demo member, made by its admin
# through the service, printed as JSON.
MAKE_KEYS = """
import json
from consortium import services
from consortium.models import Member, MemberRole, MemberStatus, User
keys = []
for member in Member.objects.filter(status=MemberStatus.ACTIVE).order_by("pk"):
    admin = User.objects.filter(member=member, member_role=MemberRole.ADMIN, is_active=True).first()
    if admin is not None:
        _, raw = services.api_key_create(actor=admin, name="soak", scopes=["read", "request", "manage"])
        keys.append({"member": member.pk, "name": member.legal_name, "key": raw})
print("KEYS " + json.dumps(keys))
"""


# --- the client side ----------------------------------------------------------------------------------


class Client:
    """One client process: a seeded RNG, the identities it acts as, and what it saw."""

    def __init__(self, base: str, members: list[dict], staff: dict[str, dict], seed: int) -> None:
        self.base, self.members, self.staff = base, members, staff
        self.rng = random.Random(seed)
        self.statuses: dict[str, Counter] = defaultdict(Counter)
        self.latencies: dict[str, list[float]] = defaultdict(list)
        self.codes: Counter = Counter()
        self.failures: list[str] = []
        self.datasets: list[dict] = []

    def call(
        self,
        label: str,
        method: str,
        path: str,
        who: dict | None,
        body: Any = None,
        *,
        raw: bytes | None = None,
        content_type: str = "application/json",
        headers: dict[str, str] | None = None,
    ) -> tuple[int, Any]:
        """Send one request; record its status and latency, and check every error body. Returns the status
        and the parsed JSON (None for anything else)."""
        data = raw if raw is not None else (None if body is None else json.dumps(body).encode())
        request = urllib.request.Request(self.base + path, data=data, method=method)  # noqa: S310
        if data is not None:
            request.add_header("Content-Type", content_type)
        for name, value in _auth_headers(who, method).items():
            request.add_header(name, value)
        for name, value in (headers or {}).items():
            request.add_header(name, value)
        started = time.perf_counter()
        try:
            with urllib.request.urlopen(request, timeout=60) as response:  # noqa: S310 - our own server
                status, reply_headers, payload = response.status, response.headers, response.read()
        except urllib.error.HTTPError as error:
            status, reply_headers, payload = error.code, error.headers, error.read()
        except (OSError, urllib.error.URLError) as error:
            status, reply_headers, payload = 599, {}, repr(error).encode()
        self.latencies[label].append(time.perf_counter() - started)
        self.statuses[label][status] += 1
        fault = _problem_fault(status, reply_headers, payload)
        if fault:
            self.failures.append(f"{label}: {method} {path} -> {status}: {fault}")
        ctype = reply_headers.get("Content-Type", "") if reply_headers else ""
        parsed = None
        if "json" in ctype:
            try:
                parsed = json.loads(payload)
            except ValueError:
                self.failures.append(f"{label}: {method} {path} -> {status}: JSON body does not parse")
        if status >= 400 and isinstance(parsed, dict):
            self.codes[f"{status} {parsed.get('code')}"] += 1
        return status, parsed

    def member(self) -> dict:
        return self.rng.choice(self.members)

    def refresh_catalog(self) -> None:
        status, page = self.call("catalog.refresh", "GET", "/api/v1/datasets/?page_size=100", self.member())
        if status == 200:
            self.datasets = [d for d in page["results"] if d["status"] == "listed"]

    def dataset_not_of(self, member: dict) -> dict | None:
        choices = [d for d in self.datasets if d["owner"]["id"] != member["member"] and d["tier"]]
        return self.rng.choice(choices) if choices else None

    def dataset_of(self, member: dict) -> dict | None:
        choices = [d for d in self.datasets if d["owner"]["id"] == member["member"] and d["grade"] < 3]
        return self.rng.choice(choices) if choices else None


def _auth_headers(who: dict | None, method: str) -> dict[str, str]:
    if who is None:
        return {}
    if "key" in who:
        return {"Authorization": f"Api-Key {who['key']}"}
    headers = {"Cookie": who["cookie"]}
    if method not in ("GET", "HEAD"):
        headers["X-CSRFToken"] = who["csrf"]
    return headers


def _problem_fault(status: int, headers: Any, payload: bytes) -> str:
    """What is wrong with this response as the API promises it ('' if nothing)."""
    if status >= 500:
        return "server error " + payload[:300].decode("utf-8", "replace")
    if status < 400:
        return ""
    ctype = headers.get("Content-Type", "")
    if not ctype.startswith("application/problem+json"):
        return f"4xx with Content-Type {ctype!r}: {payload[:200]!r}"
    try:
        problem = json.loads(payload)
    except ValueError:
        return f"problem body is not JSON: {payload[:200]!r}"
    if not isinstance(problem, dict) or PROBLEM_FIELDS - problem.keys():
        return f"problem body lacks {sorted(PROBLEM_FIELDS - set(problem))}: {payload[:200]!r}"
    if problem["status"] != status or problem["type"] != f"urn:consortium-exchange:problem:{problem['code']}":
        return f"problem body disagrees with itself or the status: {payload[:200]!r}"
    return ""


def act_browse(c: Client) -> None:
    who = c.member()
    query = c.rng.choice(
        [
            "",
            "?tier=open",
            "?tier=restricted",
            "?grade=2",
            "?sector=C",
            "?search=data",
            "?ordering=-created_at",
            "?status=withdrawn",
            "?page_size=5&page=2",
            "?owner_size_class=large",
            "?data_domain=production",
        ]
    )
    c.call("datasets.list", "GET", "/api/v1/datasets/" + query, who)
    if c.datasets:
        dataset = c.rng.choice(c.datasets)
        c.call("datasets.get", "GET", f"/api/v1/datasets/{dataset['id']}/", who)
        c.call("datasets.policy", "GET", f"/api/v1/datasets/{dataset['id']}/policy/", who)
        c.call("datasets.versions", "GET", f"/api/v1/datasets/{dataset['id']}/versions/", who)


def act_request(c: Client) -> None:
    who = c.member()
    dataset = c.dataset_not_of(who)
    if dataset is None:
        return
    status, policy = c.call("request.policy", "GET", f"/api/v1/datasets/{dataset['id']}/policy/", who)
    if status != 200 or not policy.get("purposes"):
        return
    body = {
        "dataset": dataset["id"],
        "purpose": c.rng.choice(policy["purposes"]),
        "justification": "Soak run: line-side quality model for the next quarter.",
        "duration_days": c.rng.randint(1, policy["max_duration_days"] or 1),
        "accepted_terms_version": policy["terms_version"],
    }
    label = "request.submit"
    if c.rng.random() < 0.25:  # an invalid one
        field, value = c.rng.choice(
            [
                ("purpose", "telepathy"),
                ("duration_days", 0),
                ("duration_days", (policy["max_duration_days"] or 1) + 1),
                ("duration_days", "ten"),
                ("accepted_terms_version", None),
                ("justification", ""),
                ("justification", "x" * 4001),
                ("dataset", 10**12),
                ("dataset", "abc"),
                ("purpose", ["research"]),
            ]
        )
        body[field], label = value, "request.submit_invalid"
    status, result = c.call(label, "POST", "/api/v1/access-requests/", who, body)
    if status == 201 and c.rng.random() < 0.3:  # its entry's proof at once: most likely not sequenced yet
        leaf, size = result["receipts"][0]["receipt"]["leaf_hash"], c.rng.randint(1, 1000)
        c.call(
            "request.proof_now",
            "GET",
            f"/api/v1/ledger/proofs/inclusion/?leaf_hash={leaf}&tree_size={size}",
            who,
        )


def act_decide(c: Client) -> None:
    """An owner (member key) decides a pending request, or the security officer a steward-approved one."""
    if c.rng.random() < 0.3:
        who, query = c.staff["security"], "?state=steward_approved&page_size=20"
    else:
        who, query = c.member(), "?state=pending&role=owner&page_size=20"
    status, page = c.call("decide.list", "GET", "/api/v1/access-requests/" + query, who)
    if status != 200 or not page["results"]:
        return
    pending = c.rng.choice(page["results"])
    verb = "approve" if c.rng.random() < 0.7 else "reject"
    reason = "" if verb == "approve" else "Soak run: purpose not covered by our agreement."
    if c.rng.random() < 0.05:
        reason = "r" * 2001  # oversized
    c.call(
        f"decide.{verb}", "POST", f"/api/v1/access-requests/{pending['id']}/{verb}/", who, {"reason": reason}
    )


def act_withdraw_request(c: Client) -> None:
    who = c.member()
    status, page = c.call(
        "withdraw_request.list", "GET", "/api/v1/access-requests/?role=requester&state=pending", who
    )
    if status == 200 and page["results"]:
        pending = c.rng.choice(page["results"])
        c.call(
            "withdraw_request",
            "POST",
            f"/api/v1/access-requests/{pending['id']}/withdraw/",
            who,
            {"reason": "No longer needed."},
        )


def act_download(c: Client) -> None:
    who = c.member()
    status, page = c.call("download.grants", "GET", "/api/v1/grants/?state=active&page_size=50", who)
    if status != 200:
        return
    mine = [g for g in page["results"] if g["grantee"] == who["member"]]
    if mine:
        grant = c.rng.choice(mine)
        # several at once now and then: past the quota
        for _ in range(1 if c.rng.random() < 0.7 else grant["download_quota"] + 1):
            query = c.rng.choice(["", "", "?version=1", "?version=999", "?version=x"])
            c.call(
                "download.unknown_version" if query in ("?version=999", "?version=x") else "download",
                "POST",
                f"/api/v1/grants/{grant['id']}/download/{query}",
                who,
                headers={"Accept": "*/*"},
            )


def act_upload(c: Client) -> None:
    who = c.member()
    dataset = c.dataset_of(who)
    if dataset is None:
        return
    content = f"ts,value\n{time.time()},{c.rng.random()}\n".encode()
    digest = hashlib.sha256(content).hexdigest()
    label = "upload"
    if c.rng.random() < 0.15:
        digest, label = "0" * 64, "upload_bad_checksum"
    boundary = "soak" + secrets.token_hex(8)
    parts = [
        ("media_type", None, b"text/csv"),
        ("sha256", None, digest.encode()),
        ("file", "readings 读数.csv", content),
    ]
    body = b""
    for name, filename, value in parts:
        disposition = f'form-data; name="{name}"' + (f'; filename="{filename}"' if filename else "")
        body += f"--{boundary}\r\nContent-Disposition: {disposition}\r\n\r\n".encode() + value + b"\r\n"
    body += f"--{boundary}--\r\n".encode()
    c.call(
        label,
        "POST",
        f"/api/v1/datasets/{dataset['id']}/versions/",
        who,
        raw=body,
        content_type=f"multipart/form-data; boundary={boundary}",
    )


def act_withdraw_dataset(c: Client) -> None:
    who = c.member()
    dataset = c.dataset_of(who)
    if dataset is not None:
        c.call(
            "withdraw_dataset",
            "POST",
            f"/api/v1/datasets/{dataset['id']}/withdraw/",
            who,
            {"reason": "Soak: superseded."},
        )
        c.refresh_catalog()


def act_register(c: Client) -> None:
    """A member lists a new dataset and sets its policy (open or restricted), so the catalog keeps growing."""
    who = c.member()
    tier = c.rng.choice(["open", "restricted"])
    body = {
        "title": f"Soak line readings {c.rng.randrange(10**6)}",
        "description": "Spindle load per minute.",
        "keywords": ["soak", "振动"],
        "sector": "C",
        "data_domain": "production",
        "licence": "Consortium terms v1",
        "contact_name": "Soak",
        "contact_email": "soak@example.cn",
        "grade": 1,
    }
    status, dataset = c.call("register", "POST", "/api/v1/datasets/", who, body)
    if status != 201:
        return
    policy = {
        "tier": tier,
        "purposes": c.rng.sample(PURPOSES, 3),
        "terms": "Use within the consortium only.",
        "max_duration_days": 90,
        "download_quota": c.rng.randint(1, 3),
    }
    c.call("register.policy", "PUT", f"/api/v1/datasets/{dataset['id']}/policy/", who, policy)
    c.refresh_catalog()


def act_revoke(c: Client) -> None:
    who = c.member()
    status, page = c.call("revoke.grants", "GET", "/api/v1/grants/?state=active&page_size=50", who)
    if status == 200:
        theirs = [g for g in page["results"] if g["grantee"] != who["member"]]
        if theirs:
            grant = c.rng.choice(theirs)
            c.call(
                "revoke",
                "POST",
                f"/api/v1/grants/{grant['id']}/revoke/",
                who,
                {"reason": "Soak: terms breached."},
            )


def act_member_status(c: Client) -> None:
    """An officer suspends a member and reinstates it: its people's requests meanwhile get 401/403."""
    member = c.member()["member"]
    reason = {"reason": "Soak: a short suspension."}
    status, _ = c.call(
        "member.suspend", "POST", f"/api/v1/members/{member}/suspend/", c.staff["officer"], reason
    )
    if status == 200:
        c.call("member.reinstate", "POST", f"/api/v1/members/{member}/reinstate/", c.staff["officer"], reason)


def act_people(c: Client) -> None:
    """A member's key adds a person, changes the role and deactivates them."""
    who = c.member()
    name = f"soak-{c.rng.getrandbits(48):012x}"
    person = {
        "username": name,
        "email": f"{name}@example.com",
        "first_name": "测试",
        "last_name": "王",
        "role": "analyst",
    }
    status, created = c.call("people.create", "POST", "/api/v1/users/", who, person)
    if status == 201:
        c.call("people.role", "PATCH", f"/api/v1/users/{created['id']}/", who, {"role": "data_steward"})
        c.call("people.deactivate", "POST", f"/api/v1/users/{created['id']}/deactivate/", who, {})


def act_member_contact(c: Client) -> None:
    """A member's key, or an officer, changes the member's contact details (a suspended member's key is
    refused); now and then the same details again, which records nothing."""
    who = c.member()
    actor = c.rng.choice([who, who, c.staff["officer"]])
    phone = c.rng.choice(["+86 400 800 0000", f"+86 21 {c.rng.randrange(10**7, 10**8)}"])
    details = {"contact_name": c.rng.choice(["联系人 王", "Soak contact"]), "contact_phone": phone}
    c.call("member.contact", "PATCH", f"/api/v1/members/{who['member']}/", actor, details)


def act_ledger(c: Client) -> None:
    who = c.rng.choice([c.member(), c.staff["auditor"]])
    c.call("ledger.status", "GET", "/api/v1/ledger/status/", who)
    status, page = c.call(
        "ledger.entries", "GET", f"/api/v1/ledger/entries/?page_size={c.rng.choice([10, 100, 500])}", who
    )
    for _ in range(3):  # follow the cursor while entries are appended
        if status != 200 or not page["next"]:
            break
        status, page = c.call(
            "ledger.entries_next", "GET", page["next"].split(":" + c.base.rsplit(":", 1)[1], 1)[-1], who
        )
    status, latest = c.call("ledger.checkpoint", "GET", "/api/v1/ledger/checkpoints/latest/", who)
    c.call("ledger.checkpoints", "GET", "/api/v1/ledger/checkpoints/?page_size=10", who)
    if status != 200:
        return
    size = latest["tree_size"]
    seq = c.rng.randrange(size)
    c.call("ledger.entry", "GET", f"/api/v1/ledger/entries/{seq}/", who)  # 404 if not the member's
    c.call("ledger.inclusion", "GET", f"/api/v1/ledger/proofs/inclusion/?seq={seq}&tree_size={size}", who)
    first = c.rng.randint(1, size)
    c.call(
        "ledger.consistency", "GET", f"/api/v1/ledger/proofs/consistency/?first={first}&second={size}", who
    )
    status, entries = c.call(
        "ledger.mine", "GET", "/api/v1/ledger/entries/?page_size=20&kind_prefix=access.", who
    )
    if status == 200 and entries["results"]:
        entry = c.rng.choice(entries["results"])
        leaf = hashlib.sha256(b"\x00" + base64.b64decode(entry["canonical"])).hexdigest()
        c.call(
            "ledger.inclusion_by_leaf",
            "GET",
            f"/api/v1/ledger/proofs/inclusion/?leaf_hash={leaf}&tree_size={size}",
            who,
        )
    c.call("ledger.keys", "GET", "/api/v1/ledger/keys/", who)


def act_credit(c: Client) -> None:
    epoch = datetime.now(UTC).strftime("%Y-%m")
    who = c.member()
    c.call("credit.statement", "GET", f"/api/v1/credit/statements/{epoch}/", who)
    c.call(
        "credit.statement_csv",
        "GET",
        f"/api/v1/credit/statements/{epoch}/csv/",
        who,
        headers={"Accept": "*/*"},
    )
    c.call("credit.balances", "GET", "/api/v1/credit/balances/", who)
    auditor = c.staff["auditor"]
    c.call("credit.leaderboard", "GET", f"/api/v1/credit/leaderboard/{epoch}/", auditor)
    c.call("credit.transfers", "GET", "/api/v1/credit/transfers/?page_size=50", auditor)
    c.call("credit.totals", "GET", "/api/v1/credit/totals/", auditor)


def act_bad_input(c: Client) -> None:
    who = c.member()
    size = 10**30
    cases: list[tuple[str, str, str, Any, dict]] = [
        ("bad.malformed_json", "POST", "/api/v1/access-requests/", None, {"raw": b'{"dataset": 1,'}),
        ("bad.not_utf8", "POST", "/api/v1/access-requests/", None, {"raw": b'{"purpose": "\xff\xfe"}'}),
        (
            "bad.lone_surrogate",
            "POST",
            "/api/v1/access-requests/",
            None,
            {"raw": b'{"justification": "\\ud800"}'},
        ),
        (
            "bad.wrong_types",
            "POST",
            "/api/v1/access-requests/",
            {"dataset": [1], "purpose": 5, "duration_days": {}},
            {},
        ),
        ("bad.array_body", "POST", "/api/v1/access-requests/", [1, 2, 3], {}),
        ("bad.unknown_dataset", "GET", "/api/v1/datasets/999999999/", None, {}),
        ("bad.huge_id", "GET", "/api/v1/datasets/99999999999999999999999/", None, {}),
        ("bad.unknown_grant", "POST", "/api/v1/grants/999999999/download/", None, {}),
        ("bad.unknown_request", "POST", "/api/v1/access-requests/999999999/approve/", {}, {}),
        ("bad.proof_size", "GET", f"/api/v1/ledger/proofs/inclusion/?seq=0&tree_size={size}", None, {}),
        ("bad.proof_negative", "GET", "/api/v1/ledger/proofs/inclusion/?seq=-1&tree_size=0", None, {}),
        ("bad.proof_text", "GET", "/api/v1/ledger/proofs/consistency/?first=abc&second=2", None, {}),
        ("bad.proof_reversed", "GET", "/api/v1/ledger/proofs/consistency/?first=5&second=2", None, {}),
        ("bad.proof_huge", "GET", f"/api/v1/ledger/proofs/consistency/?first=1&second={size}", None, {}),
        ("bad.leaf_hash", "GET", "/api/v1/ledger/proofs/inclusion/?leaf_hash=zz&tree_size=1", None, {}),
        ("bad.entry_huge", "GET", f"/api/v1/ledger/entries/{size}/", None, {}),
        ("bad.checkpoint_huge", "GET", f"/api/v1/ledger/checkpoints/{size}/", None, {}),
        ("bad.cursor", "GET", "/api/v1/ledger/entries/?cursor=%00garbage", None, {}),
        ("bad.since", "GET", "/api/v1/ledger/entries/?since=yesterday", None, {}),
        ("bad.filter", "GET", "/api/v1/datasets/?grade=seven&tier=gold&page=-1", None, {}),
        ("bad.page_size", "GET", "/api/v1/grants/?page_size=100000000000000000000", None, {}),
        ("bad.epoch", "GET", "/api/v1/credit/statements/2026-13/", None, {}),
        (
            "bad.oversized",
            "POST",
            "/api/v1/datasets/",
            {"title": "t" * 5000, "description": "d" * 100000},
            {},
        ),
        (
            "bad.too_large_body",
            "POST",
            "/api/v1/access-requests/",
            None,
            {"raw": b'{"justification": "' + b"x" * 3_000_000 + b'"}'},
        ),
        (
            "bad.form_body",
            "POST",
            "/api/v1/access-requests/",
            None,
            {"raw": b"dataset=1&purpose=research", "content_type": "application/x-www-form-urlencoded"},
        ),
        (
            "bad.media_type",
            "POST",
            "/api/v1/access-requests/",
            None,
            {"raw": b"<xml/>", "content_type": "application/xml"},
        ),
        ("bad.method", "DELETE", "/api/v1/datasets/", None, {}),
        ("bad.path", "GET", "/api/v1/no-such-thing/", None, {}),
        ("bad.no_auth", "POST", "/api/v1/access-requests/", {}, {"who": None}),
        ("bad.wrong_key", "GET", "/api/v1/grants/", None, {"who": {"key": "abcd1234.notthekey"}}),
        ("bad.odd_key", "GET", "/api/v1/grants/", None, {"who": {"key": "ab%cd.x"}}),
        ("bad.accept", "GET", "/api/v1/datasets/", None, {"headers": {"Accept": "text/xml"}}),
        ("bad.nested", "POST", "/api/v1/access-requests/", None, {"raw": b"[" * 10000 + b"]" * 10000}),
    ]
    label, method, path, body, options = c.rng.choice(cases)
    c.call(label, method, path, options.pop("who", who), body, **options)


ACTIONS = [
    (act_browse, 20),
    (act_request, 18),
    (act_decide, 12),
    (act_download, 14),
    (act_upload, 5),
    (act_withdraw_request, 2),
    (act_withdraw_dataset, 0.3),
    (act_register, 1.5),
    (act_revoke, 2),
    (act_member_status, 0.4),
    (act_people, 1.5),
    (act_member_contact, 1),
    (act_ledger, 8),
    (act_credit, 4),
    (act_bad_input, 10),
]


def client_main(
    base: str, members: list, staff: dict, seed: int, seconds: float, start_at: float, results: Any
) -> None:
    signal.signal(signal.SIGTERM, signal.SIG_DFL)  # not the parent's handler: terminate() ends it at once
    client = Client(base, members, staff, seed)
    while time.time() < start_at:
        time.sleep(0.01)
    deadline = start_at + seconds
    actions, weights = zip(*ACTIONS, strict=True)
    try:
        client.refresh_catalog()
        while time.time() < deadline:
            if client.rng.random() < 0.05:
                client.refresh_catalog()
            client.rng.choices(actions, weights)[0](client)
    except Exception:  # a bug in an action: reported now, not as the parent's queue timeout
        client.failures.append(f"client {seed} died: {traceback.format_exc(limit=-3)}")
    results.put((dict(client.statuses), dict(client.latencies), client.codes, client.failures))


# --- the server side ----------------------------------------------------------------------------------


class Topology:
    """The soak's environment and the processes it started; stop() ends every one of them."""

    def __init__(self, scratch: Path) -> None:
        self.scratch = scratch
        self.processes: dict[str, subprocess.Popen] = {}
        self.logs: list[Any] = []
        self.env = {
            **os.environ,
            "DATABASE_URL": DATABASE_URL,
            "CELERY_BROKER_URL": BROKER,
            "REDIS_URL": REDIS_CACHE,
            "VAR_DIR": str(scratch / "var"),
            "MEDIA_ROOT": str(scratch / "media"),
            "STATIC_ROOT": str(scratch / "static"),
            "DEBUG": "false",
            "SECRET_KEY": secrets.token_urlsafe(50),
            "LEDGER_GENERATE_DEV_KEY": "true",
            "ALLOWED_HOSTS": "127.0.0.1",
            "SECURE_SSL_REDIRECT": "false",
            "LEDGER_SEQUENCER_INTERVAL_SECONDS": "2",
            "LEDGER_CHECKPOINT_INTERVAL_SECONDS": "10",
            "API_THROTTLE_USER": "100000/min",  # a few keys shared by every client: not the limit measured
            "LOG_LEVEL": "WARNING",
            "PYTHONUNBUFFERED": "1",
        }

    def manage(self, *args: str) -> subprocess.CompletedProcess:
        return subprocess.run(
            [str(VENV_BIN / "python"), "manage.py", *args],
            cwd=ROOT,
            env=self.env,
            capture_output=True,
            text=True,
        )

    def start(self, name: str, *argv: str) -> None:
        log = open(self.scratch / f"{name}.log", "wb")  # noqa: SIM115 - closed by stop()
        self.logs.append(log)
        self.processes[name] = subprocess.Popen(
            argv, cwd=ROOT, env=self.env, stdout=log, stderr=subprocess.STDOUT, start_new_session=True
        )

    def stop(self) -> None:
        """SIGTERM to each process group (its leader may have exited, its children not), then SIGKILL to
        whatever is left of the group."""
        for process in self.processes.values():
            _killpg(process.pid, signal.SIGTERM)
        for name, process in self.processes.items():
            try:
                process.wait(timeout=20)
            except subprocess.TimeoutExpired:
                print(f"{name} did not stop on SIGTERM: killed")
            _killpg(process.pid, signal.SIGKILL)
            process.wait()
        for log in self.logs:
            log.close()

    def log_errors(self) -> list[str]:
        """Each logged error or traceback (a record: a line with a time stamp and the lines after it), but for
        the refusals the bad input provokes on purpose, which Django logs at ERROR under django.security."""
        found = []
        for name in self.processes:
            record: list[str] = []
            for line in [*(self.scratch / f"{name}.log").read_text(errors="replace").splitlines(), "2000"]:
                if line.startswith(("20", "[20")):
                    text = " | ".join(record)
                    if record and LOG_ERROR.search(text) and not EXPECTED_LOG.search(record[0]):
                        found.append(f"{name}.log: {text[:1500]}")
                    record = []
                record.append(line)
        return found


def _killpg(pgid: int, sig: signal.Signals) -> None:
    with contextlib.suppress(ProcessLookupError):  # the whole group has gone already
        os.killpg(pgid, sig)


def _free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


def _must(result: subprocess.CompletedProcess, what: str) -> str:
    if result.returncode != 0:
        raise SystemExit(f"{what} failed:\n{result.stdout[-3000:]}\n{result.stderr[-3000:]}")
    return result.stdout


def _login(base: str, username: str) -> dict:
    """A portal session for a staff user, its Secure cookies kept by hand (urllib's jar would not send them
    over plain HTTP)."""

    class NoRedirect(urllib.request.HTTPRedirectHandler):
        def redirect_request(self, *args: Any) -> None:
            return None

    opener = urllib.request.build_opener(NoRedirect)
    cookies: dict[str, str] = {}

    def keep(headers: Any) -> None:
        for header in headers.get_all("Set-Cookie") or []:
            name, _, rest = header.partition("=")
            cookies[name] = rest.split(";", 1)[0]

    with opener.open(base + "/login/") as response:
        keep(response.headers)
        token = re.search(rb'name="csrfmiddlewaretoken" value="([^"]+)"', response.read()).group(1).decode()
    form = f"username={username}&password=demo-pass-2026&csrfmiddlewaretoken={token}".encode()
    request = urllib.request.Request(base + "/login/", data=form, method="POST")  # noqa: S310
    request.add_header("Cookie", "; ".join(f"{k}={v}" for k, v in cookies.items()))
    try:
        opener.open(request)
        raise SystemExit(f"login as {username} did not redirect")
    except urllib.error.HTTPError as error:  # 302 to the home page: signed in
        keep(error.headers)
    if "sessionid" not in cookies:
        raise SystemExit(f"login as {username} gave no session")
    return {"cookie": "; ".join(f"{k}={v}" for k, v in cookies.items()), "csrf": cookies["csrftoken"]}


def _operator_steps(topology: Topology, problems: list[str], stopping: threading.Event) -> None:
    for args in (("ledger_rotate_key",), ("credit_epoch", "release")):
        if stopping.is_set():  # the run ended early: no operator steps on the way out
            return
        result = topology.manage(*args)
        print(
            f"mid-run, manage.py {' '.join(args)}: {(result.stdout.strip() or result.stderr.strip())[-300:]}"
        )
        if result.returncode != 0:
            problems.append(f"manage.py {' '.join(args)} failed mid-run: {result.stderr.strip()[-1000:]}")


def _wait_until(what: str, check: Any, timeout: float) -> None:
    deadline = time.time() + timeout
    while time.time() < deadline:
        try:
            if check():
                return
        except OSError:
            pass
        time.sleep(0.5)
    raise SystemExit(f"timed out waiting for {what}")


def _ledger_status(base: str, who: dict) -> dict:
    request = urllib.request.Request(base + "/api/v1/ledger/status/", headers=_auth_headers(who, "GET"))  # noqa: S310
    with urllib.request.urlopen(request, timeout=30) as response:  # noqa: S310 - our own server
        return json.loads(response.read())


def _sequence_check(url: str) -> str:
    """'' if every entry has exactly one leaf and the leaves are numbered 0..n-1; else what is wrong."""
    import psycopg

    with psycopg.connect(url) as conn:
        entries, leaves, distinct, low, high, unsequenced = conn.execute(
            "SELECT (SELECT count(*) FROM ledger_ledgerentry), count(*), count(DISTINCT entry_id), min(seq),"
            " max(seq), (SELECT count(*) FROM ledger_ledgerentry e WHERE NOT EXISTS"
            " (SELECT 1 FROM ledger_ledgerleaf l WHERE l.entry_id = e.id)) FROM ledger_ledgerleaf"
        ).fetchone()
    if unsequenced or entries != leaves or distinct != leaves or (leaves and (low, high) != (0, leaves - 1)):
        return (
            f"sequence: {entries} entries, {leaves} leaves ({distinct} distinct entries), seq {low}..{high}, "
            f"{unsequenced} unsequenced"
        )
    return ""


def expectation_faults(statuses: dict[str, Counter]) -> list[str]:
    """Each action answered other than MUST_REFUSE, ALSO_ALLOWED and MUST_SUCCEED allow."""
    faults = []
    for label, counter in sorted(statuses.items()):
        if label.startswith(MUST_REFUSE):
            wrong = {s: n for s, n in counter.items() if s < 400 and s not in ALSO_ALLOWED.get(label, ())}
            if wrong:
                faults.append(f"{label}: must be refused with a 4xx, answered {wrong}")
    for label in MUST_SUCCEED:
        if not any(200 <= s < 300 for s in statuses.get(label, ())):
            faults.append(f"{label}: never succeeded (2xx) in the run: {dict(statuses.get(label, {}))}")
    return faults


def summarise(outcomes: list, seconds: float) -> list[str]:
    statuses: dict[str, Counter] = defaultdict(Counter)
    latencies: dict[str, list[float]] = defaultdict(list)
    failures: list[str] = []
    codes: Counter = Counter()
    for client_statuses, client_latencies, client_codes, client_failures in outcomes:
        codes.update(client_codes)
        for label, counter in client_statuses.items():
            statuses[label].update(counter)
        for label, values in client_latencies.items():
            latencies[label] += values
        failures += client_failures
    everything = [value for values in latencies.values() for value in values]
    if not everything:
        return [*failures, "no requests were made", *expectation_faults(statuses)]
    print(f"\n{'action':32} {'n':>6} {'p50 ms':>8} {'p95 ms':>8}  statuses")
    for label in sorted(statuses):
        values = sorted(latencies[label])
        p95 = values[int(0.95 * (len(values) - 1))]
        seen = " ".join(f"{code}:{n}" for code, n in sorted(statuses[label].items()))
        print(f"{label:32} {len(values):6} {statistics.median(values) * 1000:8.1f} {p95 * 1000:8.1f}  {seen}")
    total = Counter()
    for counter in statuses.values():
        total.update(counter)
    everything.sort()
    p50, p95 = statistics.median(everything) * 1000, everything[int(0.95 * (len(everything) - 1))] * 1000
    print("\nerror codes: " + ", ".join(f"{code} x{n}" for code, n in sorted(codes.items())))
    server_errors = sum(n for code, n in total.items() if code >= 500)
    print(
        f"\n{len(everything)} requests in {seconds:.0f} s ({len(everything) / seconds:.1f}/s); "
        f"p50 {p50:.1f} ms, p95 {p95:.1f} ms; "
        f"statuses {dict(sorted(total.items()))}; 5xx: {server_errors}"
    )
    return failures + expectation_faults(statuses)


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--seconds", type=float, default=60)
    parser.add_argument("--clients", type=int, default=8)
    parser.add_argument("--web-workers", type=int, default=3)
    parser.add_argument("--seed", type=int, default=1)
    parser.add_argument("--keep", action="store_true", help="keep the throwaway directory (logs)")
    options = parser.parse_args()

    scratch = Path(tempfile.mkdtemp(prefix="consortium-soak-"))
    topology = Topology(scratch)
    signal.signal(signal.SIGTERM, lambda *_: sys.exit(143))  # run the finally clause
    problems: list[str] = []
    halfway: threading.Timer | None = None
    stopping = threading.Event()
    failed = 1
    try:
        import redis

        for url in (BROKER, REDIS_CACHE):
            if url.startswith("redis"):
                redis.Redis.from_url(url).flushdb()
        recreate_database(DATABASE_URL)
        print(f"database {DATABASE_URL}, broker {BROKER}, cache {REDIS_CACHE}, files {scratch}")
        _must(topology.manage("migrate", "--no-input"), "migrate")
        _must(topology.manage("collectstatic", "--no-input"), "collectstatic")
        _must(topology.manage("seed_demo", "--allow-production"), "seed_demo")
        keys_line = _must(topology.manage("shell", "-c", MAKE_KEYS), "API keys").split("KEYS ", 1)[1]
        members = json.loads(keys_line)

        port = _free_port()
        base = f"http://127.0.0.1:{port}"
        bin_ = str(VENV_BIN)
        topology.start(
            "gunicorn",
            f"{bin_}/gunicorn",
            "consortium.wsgi",
            "--workers",
            str(options.web_workers),
            "--bind",
            f"127.0.0.1:{port}",
            "--timeout",
            "60",
        )
        topology.start(
            "worker",
            f"{bin_}/celery",
            "-A",
            "consortium",
            "worker",
            "--loglevel",
            "WARNING",
            "--concurrency",
            "2",
        )
        topology.start(
            "beat",
            f"{bin_}/celery",
            "-A",
            "consortium",
            "beat",
            "--loglevel",
            "WARNING",
            "-s",
            str(scratch / "celerybeat-schedule"),
        )
        health = base + "/health/"
        _wait_until("gunicorn", lambda: urllib.request.urlopen(health, timeout=5).status == 200, 60)  # noqa: S310
        staff = {name: _login(base, name) for name in ("security", "auditor", "officer")}
        print(
            f"serving on {base}: {options.web_workers} gunicorn workers, a Celery worker, beat; "
            f"{options.clients} clients for {options.seconds:.0f} s as {len(members)} member keys and 2 staff"
        )

        arguments = [
            (base, members, staff, options.seed * 1000 + n, options.seconds) for n in range(options.clients)
        ]
        # Halfway through, the operator's steps that touch every process: the signing key is rotated (web
        # and worker processes notice the new key file while they append) and due credit is released.
        halfway = threading.Timer(options.seconds / 2, _operator_steps, (topology, problems, stopping))
        halfway.daemon = True
        halfway.start()
        outcomes = run_in_processes(client_main, arguments, timeout=options.seconds + 600)
        halfway.join()
        problems += summarise(outcomes, options.seconds)

        for name, process in topology.processes.items():
            if process.poll() is not None:
                problems.append(f"{name} exited with {process.returncode} during the run")
        auditor = staff["auditor"]
        _wait_until("the sequencer", lambda: _ledger_status(base, auditor)["pending_entries"] == 0, 120)
        status = _ledger_status(base, auditor)
        print(
            f"\nledger: tree size {status['tree_size']}, latest checkpoint {status['latest_checkpoint_size']}"
        )
        for args in (("ledger_verify", "--full", "--no-progress"), ("credit_audit",)):
            result = topology.manage(*args)
            print(f"manage.py {' '.join(args)}: {(result.stdout.strip() or result.stderr.strip())[-500:]}")
            if result.returncode != 0:
                problems.append(f"manage.py {args[0]} failed: {result.stderr.strip()[-1000:]}")
        if fault := _sequence_check(DATABASE_URL):
            problems.append(fault)
        else:
            print("sequence numbers: gap-free, one leaf per entry")
    except SystemExit as stop:  # _must, _wait_until, a login, or SIGTERM: reported with the problems so far
        problems.append(f"stopped early: {'SIGTERM' if stop.code == 143 else stop.code}")
        failed = 143 if stop.code == 143 else 1
    except Exception as error:  # a results timeout, a bug: its traceback, then the problems so far
        traceback.print_exc()
        problems.append(f"stopped early: {error!r}")
    finally:
        signal.signal(signal.SIGTERM, signal.SIG_IGN)  # a second SIGTERM must not cut the cleanup short
        stopping.set()
        if halfway is not None:
            halfway.cancel()  # no key rotation after the teardown; wait for a step under way
            if halfway.is_alive():
                halfway.join(timeout=60)
        topology.stop()
        problems += topology.log_errors()
        if options.keep or problems:
            print(f"logs kept in {scratch}")
        else:
            shutil.rmtree(scratch, ignore_errors=True)
    if problems:
        print(f"\nFAILED ({len(problems)}):")
        for problem in problems[:60]:
            print("  " + problem)
        return failed
    print("\nOK: no 5xx, every error a problem body, ledger verified, credit audited, sequence gap-free")
    return 0


if __name__ == "__main__":
    sys.exit(main())
