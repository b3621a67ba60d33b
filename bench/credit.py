"""Credit benchmarks on PostgreSQL, each printed as a ratio against a baseline measured in the same run.

    .venv/bin/python bench/credit.py [--entries 1000000] [--seconds 5] [--skip audit append]
        [--profile]

1. Audit: `ledger.credit.audit.credit_audit()` (stream every credit entry from the database, replay it
   through the rules in memory, diff every transfer and account balance) over N ledger entries, against a
   plain SQL aggregate over the same rows (entries by kind with their byte sizes, transfer sums by unit).
   The audit must report ok. Target: audit time <= 5x the aggregate.
2. Append: entries/s of `ledger_append` from 4 writer processes, a credit-bearing `data.downloaded` (its
   credit locks and order, its CreditUse row and usage-point transfer, the provider's points account)
   against the same append of a non-credit kind with a payload of the same size. Target: credit/plain
   >= 0.77 (the credit path adds at most 30%).

Population (not timed against anything): a realistic ledger of N entries, all of credit-relevant kinds, over
six calendar months ending now: rules, epochs opened and settled by the rules, daily `credit.released`, 200
members admitted (a few affiliated), datasets registered with versions (1% duplicate listings), access
requested and granted (open, restricted with fees from allowances, confidential through a steward's approval
first), and downloads under active grants (about 3/4 of all entries). Each entry document is run through the
pure engine (`ledger.credit.replay.MemoryState` + `engine.apply_entry`), exactly as the service would run
it, and the rows are COPYed: entries (RFC 8785 bytes, leaf hash; the receipt signature is one fixed 64-byte
value, not a real signature: verification is not part of this bench), their leaves and Merkle subtrees (so
the sequencer carries on from there), transfers, account balances, the credit clock and every credit fact
table. Part 2 appends on top of that database.

Uses its own database (BENCH_CREDIT_DATABASE_URL, default bench_credit on 127.0.0.1), dropped and created
anew.
"""

from __future__ import annotations

import argparse
import cProfile
import heapq
import json
import os
import pstats
import random
import statistics
import sys
import time
import uuid
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

from support import cpu_seconds, recreate_database, run_in_processes, setup_django

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))
BENCH_DB = os.environ.get("BENCH_CREDIT_DATABASE_URL", "postgres://postgres@127.0.0.1:5432/bench_credit")
os.environ["DATABASE_URL"] = BENCH_DB
os.environ.setdefault("DJANGO_SETTINGS_MODULE", "consortium.settings")
os.environ.setdefault("VAR_DIR", "/tmp/consortium-bench-credit-var")  # noqa: S108 - a throwaway key
os.environ.setdefault("DEBUG", "false")
os.environ.setdefault("SECRET_KEY", "bench-only-secret-0123456789abcdefghijklmnopqrstuvwxyz")
os.environ.setdefault("LEDGER_GENERATE_DEV_KEY", "true")
os.environ["LOG_LEVEL"] = "WARNING"
# As in production, where beat signs checkpoints: no commit signs one (the embedded default's way, on
# without a broker, would put a signature into some append every minute).
os.environ["LEDGER_CHECKPOINT_AFTER_COMMIT"] = "false"

US_PER_DAY = 86_400_000_000
US_PER_HOUR = 3_600_000_000
MEMBERS = 200
OFFICER_USER = 1
FIXED_SIGNATURE = bytes(range(64))  # not a real receipt: verification is not measured here


def canonical_fast(document: dict[str, Any]) -> bytes:
    """RFC 8785 bytes for our documents (ASCII keys and strings, integers only): json.dumps with sorted keys
    gives the same bytes; a sample is checked against ledger.canonical.canonical_bytes."""
    return json.dumps(document, sort_keys=True, separators=(",", ":"), ensure_ascii=False).encode()


def us_to_datetime(time_us: int) -> datetime:
    return datetime(1970, 1, 1, tzinfo=UTC) + timedelta(microseconds=time_us)


class Population:
    """Generates the ledger in time order, applies each entry to a MemoryState, COPYs the entry rows."""

    def __init__(self, entries: int, key_id: str, copy: Any, seed: int = 5) -> None:
        from ledger.credit import engine, replay

        self.engine = engine
        self.target = entries
        self.key_id = key_id
        self.copy = copy
        self.rng = random.Random(seed)
        self.state = replay.MemoryState()
        self.order = 0
        self.last_us = 0
        self.leaves: list[bytes] = []
        self.kinds: dict[str, int] = {}
        self.checked = 0
        # exchange facts the generator needs (the real services read them from their own tables)
        self.admitted: list[int] = []
        self.datasets: list[dict[str, Any]] = []
        self.listed_by_tier: dict[str, list[dict[str, Any]]] = {
            "open": [],
            "restricted": [],
            "confidential": [],
        }
        self.grants: list[dict[str, Any]] = []  # active, downloadable
        self.decisions: list[tuple[int, int, dict[str, Any]]] = []  # heap of (due, request, request info)
        self.next_request = 1
        self.next_grant = 1
        self.shas: list[str] = []

    # -- writing one entry -------------------------------------------------------------------------------
    def emit(
        self,
        kind: str,
        time_us: int,
        *,
        user: int | None,
        member: int | None,
        subject_type: str,
        subject_id: str | int,
        members: list[int],
        payload: dict[str, Any],
    ) -> None:
        from ledger import canonical

        engine = self.engine
        time_us = max(time_us, self.last_us + 1)
        self.last_us = time_us
        member_ids = sorted(set(members))
        payload = {**payload, "credit": {"order": self.order}}
        document = {
            "v": 1,
            "id": str(uuid.UUID(int=self.rng.getrandbits(128), version=4)),
            "kind": kind,
            "time": canonical.format_time(us_to_datetime(time_us)),
            "actor": {"user": user, "member": member, "api_key": None},
            "subject": {"type": subject_type, "id": str(subject_id)},
            "members": member_ids,
            "payload": payload,
        }
        data = canonical_fast(document)
        if self.order % 997 == 0:
            assert data == canonical.canonical_bytes(document), "the fast encoder differs from RFC 8785"
            self.checked += 1
        leaf = canonical.leaf_hash(data)
        entry = engine.Entry(
            leaf=leaf.hex(),
            order=self.order,
            kind=kind,
            time_us=time_us,
            actor_member=member,
            subject_type=subject_type,
            subject_id=str(subject_id),
            members=tuple(member_ids),
            payload=payload,
        )
        engine.apply_entry(self.state, entry)  # raises if the rules refuse: the generator is wrong then
        self.copy.write_row(
            (
                self.order + 1,
                document["id"],
                kind,
                us_to_datetime(time_us),
                user,
                member,
                subject_type,
                str(subject_id),
                "".join(f"|{m}" for m in member_ids) + ("|" if member_ids else ""),
                data,
                leaf,
                self.key_id,
                FIXED_SIGNATURE,
            )
        )
        self.leaves.append(leaf)
        self.kinds[kind] = self.kinds.get(kind, 0) + 1
        self.order += 1

    @property
    def full(self) -> bool:
        return self.order >= self.target

    # -- the exchange's facts --------------------------------------------------------------------------------
    def admit(self, member: int, time_us: int) -> None:
        rng = self.rng
        self.emit(
            "member.admitted",
            time_us,
            user=OFFICER_USER,
            member=None,
            subject_type="member",
            subject_id=member,
            members=[member],
            payload={
                "credit_code": f"91310000{member:010d}",
                "legal_name": f"Member {member} Manufacturing Co., Ltd.",
                "size_class": rng.choice(["small", "medium", "large"]),
                "sector": rng.choice(["automotive", "electronics", "machinery", "chemicals"]),
                "to": "admitted",
            },
        )
        self.admitted.append(member)
        if member > 20 and member % 13 == 0:  # a subsidiary declares its parent
            parent = member - 7
            group = self.engine.group_of(self.state, parent)
            self.emit(
                "member.affiliated",
                time_us + 60_000_000,
                user=OFFICER_USER,
                member=None,
                subject_type="member",
                subject_id=member,
                members=[member, parent],
                payload={"member": member, "parent": parent, "group": group, "declared_by": "officer"},
            )

    def register_dataset(self, time_us: int) -> None:
        rng = self.rng
        owner = rng.choice(self.admitted)
        dataset = {
            "id": len(self.datasets) + 1,
            "owner": owner,
            "grade": rng.choice(["public", "internal", "restricted", "confidential"]),
            "tier": rng.choices(["open", "restricted", "confidential"], weights=[45, 40, 15])[0],
            "versions": [],
        }
        self.datasets.append(dataset)
        self.emit(
            "dataset.registered",
            time_us,
            user=owner * 10 + 1,
            member=owner,
            subject_type="dataset",
            subject_id=dataset["id"],
            members=[owner],
            payload={
                "dataset": dataset["id"],
                "grade": dataset["grade"],
                "title": f"Spindle vibration logs, line {dataset['id']}",
                "sector": "machinery",
                "data_domain": "sensor",
                "personal_information": False,
                "rights": "owned",
                "sources": ["plc", "historian"],
            },
        )
        self.add_version(dataset, time_us + 30_000_000)
        self.listed_by_tier[dataset["tier"]].append(dataset)

    def add_version(self, dataset: dict[str, Any], time_us: int) -> None:
        rng = self.rng
        if self.shas and rng.random() < 0.01:  # a file another member listed before: duplicate listing
            sha = rng.choice(self.shas)
        else:
            sha = f"{rng.getrandbits(256):064x}"
            self.shas.append(sha)
        number = len(dataset["versions"]) + 1
        size = rng.randrange(10_000, 5_000_000_000)
        dataset["versions"].append((number, sha, size))
        owner = dataset["owner"]
        self.emit(
            "dataset.version_added",
            time_us,
            user=owner * 10 + 1,
            member=owner,
            subject_type="dataset",
            subject_id=dataset["id"],
            members=[owner],
            payload={
                "dataset": dataset["id"],
                "grade": dataset["grade"],
                "version": number,
                "sha256": sha,
                "size": size,
                "media_type": "text/csv",
            },
        )

    def _request_payload(self, request: dict[str, Any]) -> dict[str, Any]:
        dataset = request["dataset"]
        return {
            "request": request["id"],
            "dataset": dataset["id"],
            "grade": dataset["grade"],
            "tier": dataset["tier"],
            "purpose": request["purpose"],
            "duration_days": request["days"],
            "requester_member": request["consumer"],
            "owner_member": dataset["owner"],
        }

    def request_access(self, time_us: int) -> None:
        rng, engine, state = self.rng, self.engine, self.state
        consumer = rng.choice(self.admitted)
        days = rng.choice([30, 30, 30, 60, 90])
        tier = rng.choices(["open", "restricted", "confidential"], weights=[45, 40, 15])[0]
        fee = engine.grant_fee(state.rules[-1].params, tier, days) if state.rules else 0
        spendable = (
            state.balance(engine.member_allowance(consumer)).spendable
            + state.balance(engine.member_available(consumer)).spendable
        )
        if fee > spendable:
            tier = "open"  # the member cannot afford it (the service would refuse with the shortfall)
        listed = [d for d in self.listed_by_tier[tier][-400:] if d["owner"] != consumer] or [
            d for d in self.listed_by_tier["open"] if d["owner"] != consumer
        ]
        if not listed:
            return
        # popularity: newer and a few favourite datasets are requested more
        dataset = listed[int(len(listed) * rng.random() ** 1.5)]
        request = {
            "id": self.next_request,
            "dataset": dataset,
            "consumer": consumer,
            "days": days,
            "purpose": rng.choice(["research", "ai_model_training", "benchmarking"]),
        }
        self.next_request += 1
        payload = self._request_payload(request) | {
            "policy_hash": f"{dataset['id']:064x}",
            "terms_version": 3,
            "price_credits": fee // 1000,
            "justification": "Benchmark our spindles against the consortium's.",
        }
        self.emit(
            "access.requested",
            time_us,
            user=consumer * 10 + 2,
            member=consumer,
            subject_type="access_request",
            subject_id=request["id"],
            members=[dataset["owner"], consumer],
            payload=payload,
        )
        delay = {"open": 1000, "restricted": rng.randrange(2, 30) * US_PER_HOUR // 2}.get(
            dataset["tier"], rng.randrange(2, 20) * US_PER_HOUR
        )
        heapq.heappush(self.decisions, (time_us + delay, request["id"], request))

    def affordable(self, request: dict[str, Any]) -> bool:
        """Whether the fee the rules would charge now (none once held, or within a group) can be paid."""
        engine, state = self.engine, self.state
        dataset, consumer = request["dataset"], request["consumer"]
        if request.get("approved") or engine.group_of(state, consumer) == engine.group_of(
            state, dataset["owner"]
        ):
            return True
        fee = engine.grant_fee(state.rules[-1].params, dataset["tier"], request["days"])
        spendable = (
            state.balance(engine.member_allowance(consumer)).spendable
            + state.balance(engine.member_available(consumer)).spendable
        )
        return fee <= spendable

    def withdraw(self, due: int, request: dict[str, Any], owner: int) -> None:
        """Refused with the shortfall (the fee was spent meanwhile): the requester withdraws."""
        self.emit(
            "access.withdrawn",
            due,
            user=request["consumer"] * 10 + 2,
            member=request["consumer"],
            subject_type="access_request",
            subject_id=request["id"],
            members=[owner, request["consumer"]],
            payload=self._request_payload(request) | {"cause": "requester"},
        )

    def decide(self, due: int, request: dict[str, Any]) -> None:
        dataset = request["dataset"]
        owner = dataset["owner"]
        binding = {
            "policy_hash": f"{dataset['id']:064x}",
            "approvers": [owner * 10 + 1],
            "decided_by": owner * 10 + 1,
        }
        if dataset["tier"] == "confidential" and not request.get("approved"):
            if not self.affordable(request):
                self.withdraw(due, request, owner)
                return
            request["approved"] = True
            self.emit(
                "access.approved",
                due,
                user=owner * 10 + 1,
                member=owner,
                subject_type="access_request",
                subject_id=request["id"],
                members=[owner, request["consumer"]],
                payload=self._request_payload(request) | binding | {"stage": "steward", "reason": "Fits."},
            )
            heapq.heappush(self.decisions, (due + 4 * US_PER_HOUR, request["id"], request))
            return
        if not self.affordable(request):
            self.withdraw(due, request, owner)
            return
        grant = self.next_grant
        self.next_grant += 1
        quota = 0 if dataset["tier"] == "confidential" else self.rng.randrange(2, 16)
        until = due + request["days"] * US_PER_DAY
        self.emit(
            "access.granted",
            due,
            user=OFFICER_USER if dataset["tier"] == "confidential" else owner * 10 + 1,
            member=None if dataset["tier"] == "confidential" else owner,
            subject_type="access_request",
            subject_id=request["id"],
            members=[owner, request["consumer"]],
            payload=self._request_payload(request)
            | binding
            | {
                "grant": grant,
                "policy_revision": 1,
                "valid_from": self.engine.epoch_of(due),
                "valid_until": self.engine.epoch_of(until),
                "download_quota": quota,
                "price_credits": 0,
            },
        )
        if quota:
            self.grants.append({"id": grant, "request": request, "left": quota, "until": until})

    def download(self, time_us: int) -> bool:
        rng = self.rng
        while self.grants:
            index = rng.randrange(len(self.grants))
            grant = self.grants[index]
            if grant["until"] <= time_us or grant["left"] <= 0:
                self.grants[index] = self.grants[-1]
                self.grants.pop()
                continue
            grant["left"] -= 1
            request = grant["request"]
            dataset = request["dataset"]
            number, sha, size = dataset["versions"][-1]
            self.emit(
                "data.downloaded",
                time_us,
                user=request["consumer"] * 10 + 2,
                member=request["consumer"],
                subject_type="grant",
                subject_id=grant["id"],
                members=[dataset["owner"], request["consumer"]],
                payload=download_payload(
                    grant["id"], request["id"], dataset, request["consumer"], number, sha
                )
                | {"size": size, "downloads_remaining": grant["left"]},
            )
            return True
        return False

    # -- the calendar ----------------------------------------------------------------------------------------
    def run(self, end_us: int, months: int = 6) -> None:
        from ledger.credit import rules

        engine, rng = self.engine, self.rng
        end = us_to_datetime(end_us)
        year, month = end.year, end.month - (months - 1)
        while month < 1:
            year, month = year - 1, month + 12
        start_us = engine.to_us(datetime(year, month, 1, tzinfo=UTC))
        days = (end_us - start_us) // US_PER_DAY + 1
        late_members = MEMBERS - 150
        fixed = 1 + 2 * months + days + MEMBERS + MEMBERS // 13
        per_day = max((self.target - fixed) // days, 5)
        document = rules.rules_document()
        self.emit(
            "credit.rules_changed",
            start_us,
            user=OFFICER_USER,
            member=None,
            subject_type="credit_rules",
            subject_id=document["hash"][:16],
            members=[],
            payload=document,
        )
        next_member = 1
        for day in range(days):
            day_us = start_us + day * US_PER_DAY
            moment = us_to_datetime(day_us)
            if self.full:
                break
            if day > 0:
                self.emit(
                    "credit.released",
                    day_us + 5 * 60_000_000,
                    user=None,
                    member=None,
                    subject_type="day",
                    subject_id=moment.date().isoformat(),
                    members=[],
                    payload={"day": moment.date().isoformat()},
                )
            if moment.day == 1:
                current = self.state.current_epoch()
                if current is not None:
                    _, summary = engine.compute_settlement(self.state, current.epoch)
                    self.emit(
                        "epoch.settled",
                        day_us + 10 * 60_000_000,
                        user=None,
                        member=None,
                        subject_type="epoch",
                        subject_id=current.epoch,
                        members=[],
                        payload={"epoch": current.epoch, **summary},
                    )
                epoch = engine.epoch_of(day_us)
                newest = self.state.rules[-1]
                self.emit(
                    "epoch.opened",
                    day_us + 11 * 60_000_000,
                    user=None,
                    member=None,
                    subject_type="epoch",
                    subject_id=epoch,
                    members=[],
                    payload={
                        "epoch": epoch,
                        "budget": newest.params["epoch_budget_mcr"],
                        "rules": newest.hash,
                    },
                )
            # members: 150 in the first ten days, the others spread over the rest
            due = 15 if day < 10 else (1 if rng.random() < late_members / max(days - 10, 1) else 0)
            for _ in range(due):
                if next_member <= MEMBERS:
                    self.admit(next_member, day_us + rng.randrange(US_PER_HOUR, 8 * US_PER_HOUR))
                    next_member += 1
            last = end_us if day == days - 1 else day_us + US_PER_DAY - 1
            budget = per_day if day < days - 1 else self.target  # the last day tops up to N
            moments = sorted(rng.randrange(self.last_us + 1, last) for _ in range(per_day))
            written = 0
            cursor = 0
            while written < budget and not self.full:
                if cursor < len(moments):
                    now = moments[cursor]
                    cursor += 1
                else:
                    now = min(self.last_us + rng.randrange(1, 1000), end_us)
                before = self.order
                while self.decisions and self.decisions[0][0] <= now and not self.full:
                    due_us, _, request = heapq.heappop(self.decisions)
                    self.decide(max(due_us, self.last_us + 1), request)
                if self.full:
                    break
                roll = rng.random()
                if len(self.datasets) < 30 or roll < 0.006:
                    self.register_dataset(now)
                elif roll < 0.012 and self.datasets:
                    self.add_version(rng.choice(self.datasets), now)
                elif roll < 0.11 or len(self.grants) < 40 or not self.download(now):
                    self.request_access(now)
                written += self.order - before


def download_payload(
    grant: int, request: int, dataset: dict[str, Any], consumer: int, number: int, sha: str
) -> dict[str, Any]:
    """What grant_download writes (`_grant_payload` + the version)."""
    return {
        "grant": grant,
        "request": request,
        "dataset": dataset["id"],
        "grade": dataset["grade"],
        "tier": dataset["tier"],
        "purpose": "research",
        "policy_hash": f"{dataset['id']:064x}",
        "grantee_member": consumer,
        "owner_member": dataset["owner"],
        "version": number,
        "version_sha256": sha,
    }


def _copy_rows(conn: Any, table: str, columns: tuple[str, ...], rows: Any) -> int:
    count = 0
    with conn.cursor() as cursor, cursor.copy(f"COPY {table} ({', '.join(columns)}) FROM STDIN") as copy:
        for row in rows:
            copy.write_row(row)
            count += 1
    return count


def populate(entries: int) -> tuple[Population, dict[str, float]]:
    """Build the ledger and the credit tables for `entries` entries; return the generator and timings."""
    import psycopg
    from django.db import connection

    from ledger import keys, merkle
    from ledger.credit import engine
    from ledger.credit.models import TRANSFER_FIELDS
    from ledger.models import LedgerEntry
    from ledger.services import ledger_sequence

    signer = keys.active_signer()
    timings: dict[str, float] = {}
    started = time.perf_counter()
    end_us = engine.to_us(datetime.now(UTC) - timedelta(hours=1))
    columns = tuple(field.attname for field in LedgerEntry._meta.concrete_fields)
    with psycopg.connect(BENCH_DB) as conn:
        with (
            conn.cursor() as cursor,
            cursor.copy(f"COPY ledger_ledgerentry ({', '.join(columns)}) FROM STDIN") as copy,
        ):
            population = Population(entries, signer.key_id, copy)
            population.run(end_us)
        timings["generate, apply and COPY entries"] = time.perf_counter() - started
        state = population.state
        started = time.perf_counter()
        n = population.order
        _copy_rows(
            conn,
            "ledger_ledgerleaf",
            ("seq", "entry_id", "previous_seq"),
            ((seq, seq + 1, seq - 1 if seq else None) for seq in range(n)),
        )
        growing = merkle.CompactRange()
        _copy_rows(
            conn,
            "ledger_ledgernode",
            ("level", '"index"', "hash"),
            (node for leaf in population.leaves for node in growing.append(leaf)),
        )
        timings["COPY leaves and Merkle subtrees"] = time.perf_counter() - started
        started = time.perf_counter()
        # each transfer's entry is the (order + 1)-th row inserted: one entry per credit order, from id 1
        _copy_rows(
            conn,
            "credit_credittransfer",
            ("entry_id", *(f'"{name}"' if name == "order" else name for name in TRANSFER_FIELDS)),
            ((t.order + 1, *(getattr(t, name) for name in TRANSFER_FIELDS)) for t in state.transfers),
        )
        _copy_rows(
            conn,
            "credit_creditaccount",
            (
                "account",
                "constrained",
                "debits_posted",
                "credits_posted",
                "debits_pending",
                "credits_pending",
            ),
            (
                (
                    account,
                    engine.is_constrained(account),
                    b.debits_posted,
                    b.credits_posted,
                    b.debits_pending,
                    b.credits_pending,
                )
                for account, b in state.balances.items()
            ),
        )
        _copy_rows(
            conn,
            "credit_creditrules",
            ("hash", "version", "params", '"order"'),
            [(rules.hash, rules.version, json.dumps(rules.params), 0) for rules in state.rules],
        )
        _copy_rows(
            conn,
            "credit_creditepoch",
            ("epoch", "budget", "rules", "opened_order", "settled_order", "settlement"),
            [
                (e.epoch, e.budget, e.rules, e.opened_order, e.settled_order, json.dumps(e.settlement))
                for e in state.epochs.values()
            ],
        )
        _copy_rows(
            conn,
            "credit_creditmember",
            ("member", '"group"', "admitted_us"),
            [(m.member, m.group, m.admitted_us) for m in state.members.values()],
        )
        _copy_rows(conn, "credit_creditversion", ("sha256", '"group"'), list(state.versions.items()))
        _copy_rows(conn, "credit_creditlisting", ('"group"',), [(g,) for g in state.listings])
        _copy_rows(
            conn,
            "credit_creditrequest",
            (
                "request",
                "provider_member",
                "consumer_member",
                "tier",
                "requested_us",
                "first_approval_us",
                "granted_us",
                '"grant"',
                "granted_order",
                "granted_epoch",
            ),
            (
                (
                    r.request,
                    r.provider_member,
                    r.consumer_member,
                    r.tier,
                    r.requested_us,
                    r.first_approval_us,
                    r.granted_us,
                    r.grant,
                    r.granted_order,
                    engine.epoch_of(r.granted_us) if r.granted_us else "",
                )
                for r in state.requests.values()
            ),
        )
        _copy_rows(
            conn,
            "credit_credituse",
            (
                '"order"',
                "entry_leaf",
                "epoch",
                "day",
                "dataset",
                "version_sha256",
                "provider_member",
                "provider_group",
                "consumer_member",
                "consumer_group",
                "k",
                "chain",
                "points",
                "credited",
                "reason",
            ),
            (
                (
                    u.order,
                    u.entry,
                    u.epoch,
                    u.day,
                    u.dataset,
                    u.version_sha256,
                    u.provider_member,
                    u.provider_group,
                    u.consumer_member,
                    u.consumer_group,
                    u.k,
                    json.dumps(u.chain),
                    u.points,
                    u.credited,
                    u.reason,
                )
                for u in state.uses
            ),
        )
        conn.execute(
            "INSERT INTO credit_creditclock (id, next_order) VALUES (1, %s) "
            "ON CONFLICT (id) DO UPDATE SET next_order = EXCLUDED.next_order",
            [n],
        )
        conn.execute("SELECT setval('credit_order_seq', %s, false)", [n])  # PostgreSQL's credit orders
        conn.execute("SELECT setval(pg_get_serial_sequence('ledger_ledgerentry', 'id'), %s)", [n])
        conn.commit()
        timings["COPY transfers, balances and facts"] = time.perf_counter() - started
    started = time.perf_counter()
    with connection.cursor() as cursor:
        cursor.execute("VACUUM ANALYZE")
    ledger_sequence()  # finds nothing pending and moves its bookmark past the bulk load
    timings["VACUUM ANALYZE"] = time.perf_counter() - started
    return population, timings


def sql_aggregate() -> list[Any]:
    from django.db import connection

    with connection.cursor() as cursor:
        cursor.execute(
            "SELECT kind, count(*), sum(length(canonical)) FROM ledger_ledgerentry "
            "GROUP BY kind ORDER BY kind"
        )
        by_kind = cursor.fetchall()
        cursor.execute(
            "SELECT unit, count(*), sum(amount) FROM credit_credittransfer GROUP BY unit ORDER BY unit"
        )
        return [by_kind, cursor.fetchall()]


def bench_audit(profile: bool) -> dict[str, Any]:
    from ledger.credit.audit import credit_audit

    sql_aggregate()  # warm: both read the same rows from the same cache
    sql_times = []
    for _ in range(3):
        started = time.perf_counter()
        sql_aggregate()
        sql_times.append(time.perf_counter() - started)
    profiler = cProfile.Profile() if profile else None
    started = time.perf_counter()
    if profiler is not None:
        profiler.enable()
    report = credit_audit()
    if profiler is not None:
        profiler.disable()
    audit_time = time.perf_counter() - started
    if profiler is not None:
        stats = pstats.Stats(profiler)
        stats.sort_stats("cumulative").print_stats(30)
        stats.sort_stats("tottime").print_stats(25)
    return {
        "sql": statistics.median(sql_times),
        "audit": audit_time,
        "report": report,
    }


# -- 2. appends --------------------------------------------------------------------------------
def _append_worker(
    mode: str, seconds: float, payloads: list[dict[str, Any]], start_at: float, results: Any
) -> None:
    from django.db import connection, connections, transaction

    from ledger.services import ledger_append

    connections.close_all()
    with connection.cursor() as cursor:
        cursor.execute("SELECT pg_backend_pid()")
        backend = cursor.fetchone()[0]
    count = 0
    while time.time() < start_at:
        time.sleep(0.001)
    deadline = start_at + seconds
    cpu = cpu_seconds() + cpu_seconds(backend)
    while time.time() < deadline:
        payload = payloads[count % len(payloads)]
        members = [payload["owner_member"], payload["grantee_member"]]
        if mode == "plain":
            with transaction.atomic():
                ledger_append(
                    kind="bench.plain",
                    actor=None,
                    subject_type="grant",
                    subject_id=payload["grant"],
                    members=members,
                    # the same payload, padded like the credit order the credit path adds
                    payload={**payload, "padding": {"order": 1_000_000 + count}},
                )
        else:
            with transaction.atomic():
                ledger_append(
                    kind="data.downloaded",
                    actor=None,
                    subject_type="grant",
                    subject_id=payload["grant"],
                    members=members,
                    payload=payload,
                )
        count += 1
    cpu = cpu_seconds() + cpu_seconds(backend) - cpu
    connections.close_all()
    results.put((count, count > len(payloads), cpu))


def measure_appends(
    mode: str, processes: int, seconds: float, slices: list[list[dict[str, Any]]]
) -> tuple[float, float]:
    """Entries per second, and CPU seconds per entry of the appending processes and their PostgreSQL
    backends (the inline sequencer runs in them)."""
    from django.db import connections

    connections.close_all()
    outcomes = run_in_processes(
        _append_worker, [(mode, seconds, slices[i]) for i in range(processes)], timeout=seconds + 120
    )
    if mode == "credit" and any(wrapped for _, wrapped, _ in outcomes):
        print("   warning: a credit writer ran out of fresh downloads (later ones earned 0 points)")
    count = sum(count for count, _, _ in outcomes)
    return count / seconds, sum(cpu for _, _, cpu in outcomes) / max(count, 1)


def download_slices(population: Population, slices: int, per_slice: int) -> list[list[dict[str, Any]]]:
    """Payloads of credited downloads: each (dataset, consumer group) unused in the open epoch, used at most
    4 times (k = 1..4 all earn points), disjoint between slices, so every credit append writes its CreditUse
    row and one usage-point transfer."""
    engine, state, rng = population.engine, population.state, random.Random(11)
    epoch = state.current_epoch().epoch
    now_us = engine.to_us(datetime.now(UTC))
    trusted = [
        m
        for m in population.admitted
        if min(
            (f.admitted_us for f in state.group_members(engine.group_of(state, m)) if f.admitted_us),
            default=now_us,
        )
        < now_us - 91 * US_PER_DAY
    ]
    combos = []
    for dataset in population.datasets:
        if dataset["tier"] == "confidential" or not dataset["versions"]:
            continue
        number, sha, _ = dataset["versions"][-1]
        provider_group = engine.group_of(state, dataset["owner"])
        if state.versions.get(sha) != provider_group:
            continue
        for consumer in trusted:
            group = engine.group_of(state, consumer)
            if group != provider_group and state.use_counts.get((epoch, dataset["id"], group), 0) == 0:
                combos.append((dataset, consumer, number, sha))
    rng.shuffle(combos)
    seen_groups: set[tuple[int, str]] = set()
    unique = []
    for dataset, consumer, number, sha in combos:
        key = (dataset["id"], engine.group_of(state, consumer))
        if key not in seen_groups:
            seen_groups.add(key)
            unique.append((dataset, consumer, number, sha))
    needed = -(-per_slice // 4)
    if len(unique) < slices * needed:
        needed = len(unique) // slices
    result = []
    for index in range(slices):
        payloads = []
        for dataset, consumer, number, sha in unique[index * needed : (index + 1) * needed]:
            base = download_payload(900_000 + index, 900_000 + index, dataset, consumer, number, sha)
            for k in range(4):
                payloads.append(base | {"size": 123_456_789, "downloads_remaining": 3 - k})
        # k-th use of each combination in turn: all first uses, then all second uses, ...
        step = len(payloads) // 4
        result.append([payloads[(i % step) * 4 + i // step] for i in range(len(payloads))])
    return result


def bench_append(
    seconds: float, processes: int, slices: list[list[dict[str, Any]]]
) -> tuple[list[tuple[float, float]], list[tuple[float, float]]]:
    """(rate, CPU seconds per entry) of each round, plain and credit."""
    from ledger.services import ledger_sequence

    plain, credit = [], []
    for round_ in range(2):  # interleave to share the machine's noise fairly
        plain.append(measure_appends("plain", processes, seconds, slices[0:processes]))
        mine = slices[processes * (round_ + 1) : processes * (round_ + 2)]
        credit.append(measure_appends("credit", processes, seconds, mine))
        ledger_sequence()
    return plain, credit


def main() -> None:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--entries", type=int, default=1_000_000, help="ledger entries to populate")
    parser.add_argument("--seconds", type=float, default=5.0, help="duration of each append measurement")
    parser.add_argument("--processes", type=int, default=4, help="writer processes for the append bench")
    parser.add_argument("--skip", nargs="*", default=[], choices=["audit", "append"])
    parser.add_argument("--profile", action="store_true", help="cProfile the audit and print the top")
    args = parser.parse_args()
    recreate_database(BENCH_DB)
    setup_django()
    print(f"machine: {os.cpu_count()} cores; database {BENCH_DB}")
    population, timings = populate(args.entries)
    state = population.state
    downloads = population.kinds.get("data.downloaded", 0)
    print(
        f"\npopulated {population.order} entries ({len(state.transfers)} transfers, {len(state.balances)} "
        f"accounts, {len(state.uses)} uses, {len(state.epochs)} epochs; fast encoder checked against "
        "RFC 8785 "
        f"on {population.checked} entries)"
    )
    print("   " + ", ".join(f"{kind} {count}" for kind, count in sorted(population.kinds.items())))
    print("   " + "; ".join(f"{name} {seconds:.0f} s" for name, seconds in timings.items()))
    print(f"   downloads {downloads / population.order:.0%} of entries")
    slices = []
    if "append" not in args.skip:
        slices = download_slices(population, 3 * args.processes, per_slice=int(args.seconds * 2000))
    del population, state
    import gc

    gc.collect()

    rows = []
    if "audit" not in args.skip:
        result = bench_audit(args.profile)
        report = result["report"]
        assert report.ok, f"the audit of the bench's own ledger diverges: {report.divergence}"
        ratio = result["audit"] / result["sql"]
        rows.append(
            (
                f"1. audit of {args.entries:,} entries",
                f"SQL aggregate {result['sql']:.2f} s",
                f"credit_audit {result['audit']:.1f} s (ok: {report.entries:,} entries, "
                f"{report.transfers:,} transfers, {report.accounts:,} accounts)",
                f"{ratio:.1f}x",
                "<= 5x " + ("met" if ratio <= 5 else "NOT MET"),
            )
        )
    if "append" not in args.skip:
        plains, credits = bench_append(args.seconds, args.processes, slices)
        plain, credit = statistics.mean(r for r, _ in plains), statistics.mean(r for r, _ in credits)
        plain_cpu, credit_cpu = statistics.mean(c for _, c in plains), statistics.mean(c for _, c in credits)
        ratio = credit / plain
        rows.append(
            (
                f"2. append, {args.processes} processes",
                f"ledger_append bench.plain {plain:.0f}/s ({', '.join(f'{r:.0f}' for r, _ in plains)}); "
                f"CPU {plain_cpu * 1e6:.0f} us/entry",
                f"data.downloaded with credit {credit:.0f}/s ({', '.join(f'{r:.0f}' for r, _ in credits)}); "
                f"CPU {credit_cpu * 1e6:.0f} us/entry",
                f"{ratio:.2f} (CPU {plain_cpu / credit_cpu:.2f})",
                ">= 0.77 " + ("met" if ratio >= 0.77 else "NOT MET"),
            )
        )
    print("\n| measure | baseline | credit | ratio | target |\n|---|---|---|---|---|")
    for row in rows:
        print("| " + " | ".join(row) + " |")


if __name__ == "__main__":
    main()
