"""A pure credit simulation for property and attack tests: ledger entry documents shaped exactly as the
services write them, applied through `engine.apply_entry` to a `MemoryState`, no database.

`Sim` keeps its own small model of the exchange (members, groups, datasets, requests, grants) to decide
which events are plausible next, builds the entry documents (payloads as in exchange/services and
ledger/credit/services.py), and submits them in atomic groups: a group the rules refuse (CreditError,
InsufficientCredit) is dropped like a rolled-back transaction, and takes no credit order.

MemoryState is not transactional: a handler that raises midway leaves what it wrote before (e.g.
`_approved` records the first approval before `_charge_fee` refuses). So every group is applied to a
snapshot and the snapshot replaces the state only when the whole group is accepted.
"""

from __future__ import annotations

import copy
import hashlib
import uuid
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from typing import Any

from ledger.canonical import encode_canonical_stdlib, format_time
from ledger.credit import engine
from ledger.credit import rules as rules_module
from ledger.credit.engine import CreditError, Entry, Transfer
from ledger.credit.replay import MemoryState

CR = 1000
TIERS = ("open", "restricted", "confidential")
UNDECIDED = ("pending", "steward_approved")
OFFICER_USER = 9_000  # a consortium officer (no member)
SECURITY_USER = 9_001
AUDITOR_USERS = (9_100, 9_101)
DOWNLOAD_QUOTA = 6


def snapshot(state: MemoryState) -> MemoryState:
    """A deep copy of `state` sharing only the immutable records (transfers, uses and facts are frozen
    dataclasses): what a refused group is applied to and thrown away with."""
    memo: dict[int, Any] = {}
    for transfer in state.transfers:
        memo[id(transfer)] = transfer
    for use in state.uses:
        memo[id(use)] = use
    return copy.deepcopy(state, memo)


def leaf_of(document: dict[str, Any]) -> str:
    return hashlib.sha256(b"\x00" + encode_canonical_stdlib(document)).hexdigest()


@dataclass
class Step:
    """One accepted entry: its document, its Entry and the transfers it wrote."""

    seq: int
    leaf: str
    document: dict[str, Any]
    entry: Entry
    transfers: list[Transfer]
    note: dict[str, Any] = field(default_factory=dict)  # what the model expected of it
    balances_after: dict[str, tuple[int, int, int, int]] = field(default_factory=dict)  # accounts it touched


@dataclass
class Request:
    request: int
    dataset: int
    requester: int
    owner: int
    tier: str
    duration: int
    created: datetime
    state: str = "pending"
    grant: int = 0
    granted: datetime | None = None
    valid_until: datetime | None = None
    grant_state: str = ""  # active | revoked | expired
    downloads_left: int = 0
    approvers: list[int] = field(default_factory=list)


class Sim:
    def __init__(
        self, start: datetime = datetime(2026, 1, 5, 9, 0, tzinfo=UTC), *, strict: bool = False
    ) -> None:
        # strict: apply in place (no snapshot, for long attack runs) and fail on any refusal
        self.strict = strict
        self.state = MemoryState()
        self.now = start
        self.order = 0
        self.serial = 0
        self.steps: list[Step] = []
        self.refused: list[tuple[str, str]] = []
        # the model
        self.rules: list[dict[str, Any]] = []  # published rules documents
        self.epochs_opened: set[str] = set()
        self.open_epoch: str | None = None
        self.members: list[int] = []
        self.admitted_at: dict[int, datetime] = {}
        self.groups: dict[int, str] = {}
        self.datasets: dict[int, dict[str, Any]] = {}
        self.first_sha_group: dict[str, str] = {}
        self.requests: dict[int, Request] = {}
        self.released_days: set[str] = set()
        self.use_counts: dict[tuple[str, int, str], int] = {}
        self._ids = {"member": 0, "dataset": 0, "request": 0, "grant": 0, "adjustment": 0, "sha": 0}

    # --- plumbing -------------------------------------------------------------------------------------

    def next_id(self, what: str) -> int:
        self._ids[what] += 1
        return self._ids[what]

    def advance(self, delta: timedelta) -> None:
        self.now += delta

    def group(self, member: int) -> str:
        return self.groups.get(member, engine.default_group(member))

    def document(
        self,
        kind: str,
        *,
        subject: tuple[str, Any],
        members: list[int],
        payload: dict[str, Any],
        user: int | None = None,
        member: int | None = None,
    ) -> dict[str, Any]:
        self.serial += 1
        return {
            "v": 1,
            "id": str(uuid.UUID(int=self.serial)),
            "kind": kind,
            "time": format_time(self.now),
            "actor": {"user": user, "member": member, "api_key": None},
            "subject": {"type": subject[0], "id": str(subject[1])},
            "members": sorted(set(members)),
            "payload": payload,
        }

    def submit(self, *documents: dict[str, Any], note: dict[str, Any] | None = None) -> list[Step] | None:
        """Apply `documents` as one transaction: all accepted (returns their steps) or none (None)."""
        trial = self.state if self.strict else snapshot(self.state)
        steps = []
        try:
            for index, document in enumerate(documents):
                document["payload"] = {**document["payload"], "credit": {"order": self.order + index}}
                leaf = leaf_of(document)
                entry = Entry.from_document(document, leaf)
                written = engine.apply_entry(trial, entry)
                steps.append(
                    Step(len(self.steps) + index + 1, leaf, document, entry, written, dict(note or {}))
                )
        except CreditError as exc:
            if self.strict:
                raise AssertionError(f"{documents[-1]['kind']} refused: {exc}") from exc
            self.refused.append((documents[-1]["kind"], str(exc)))
            return None
        self.state = trial
        self.order += len(documents)
        self.steps.extend(steps)
        return steps

    # --- rules and epochs -----------------------------------------------------------------------------

    def publish_rules(self, params: dict[str, int] | None = None) -> bool:
        checked = dict(params or rules_module.RULES_V1)
        version = self.rules[-1]["version"] + 1 if self.rules else rules_module.RULES_VERSION
        document = rules_module.rules_document(version, checked)
        if self.rules and self.rules[-1]["hash"] == document["hash"]:
            return False
        entry = self.document(
            "credit.rules_changed",
            subject=("credit_rules", document["hash"][:16]),
            members=[],
            payload=document,
            user=OFFICER_USER,
        )
        if self.submit(entry) is None:
            return False
        self.rules.append(document)
        return True

    def open_epoch_now(self) -> bool:
        name = engine.epoch_of(engine.to_us(self.now))
        if not self.rules or self.open_epoch is not None or name in self.epochs_opened:
            return False
        newest = self.rules[-1]
        entry = self.document(
            "epoch.opened",
            subject=("epoch", name),
            members=[],
            payload={"epoch": name, "budget": newest["params"]["epoch_budget_mcr"], "rules": newest["hash"]},
        )
        if self.submit(entry, note={"budget": newest["params"]["epoch_budget_mcr"]}) is None:
            return False
        self.epochs_opened.add(name)
        self.open_epoch = name
        return True

    def settle(self) -> Step | None:
        if self.open_epoch is None:
            return None
        epoch = self.open_epoch
        probe = self.state if self.strict else snapshot(self.state)  # computing only reads the state
        try:
            _, summary = engine.compute_settlement(probe, epoch)
        except CreditError as exc:
            self.refused.append(("epoch.settled", str(exc)))
            return None
        entry = self.document(
            "epoch.settled", subject=("epoch", epoch), members=[], payload={"epoch": epoch, **summary}
        )
        steps = self.submit(entry)
        if steps is None:
            return None
        self.open_epoch = None
        return steps[0]

    def release(self) -> Step | None:
        day = self.now.date().isoformat()
        if not self.rules or day in self.released_days:
            return None
        entry = self.document("credit.released", subject=("day", day), members=[], payload={"day": day})
        steps = self.submit(entry)
        if steps is None:
            return None
        self.released_days.add(day)
        return steps[0]

    def held_mints(self) -> list[str]:
        refs = sorted({t.ref for t in self.state.transfers if t.code == "mint" and t.flag == engine.PENDING})
        return [ref for ref in refs if self.state.unresolved(ref)]

    def resolve_mint(self, ref: str, decision: str) -> Step | None:
        _, epoch, member = ref.split(":")
        mint = f"{epoch}:{member}"
        entry = self.document(
            "audit.resolved",
            subject=("mint", mint),
            members=[int(member)],
            payload={
                "mint": mint,
                "epoch": epoch,
                "member": int(member),
                "decision": decision,
                "reason": "Looked at the evidence.",
            },
            user=AUDITOR_USERS[0],
        )
        steps = self.submit(entry)
        return steps[0] if steps else None

    def adjust(
        self, member: int, amount: int, approvers: list[Any], reason: object = "Correction."
    ) -> Step | None:
        adjustment = self.next_id("adjustment")
        entry = self.document(
            "credit.adjusted",
            subject=("credit_adjustment", adjustment),
            members=[member],
            payload={
                "adjustment": adjustment,
                "member": member,
                "amount_mcr": amount,
                "reason": reason,
                "approvers": approvers,
            },
            user=approvers[-1],
        )
        steps = self.submit(entry)
        return steps[0] if steps else None

    # --- members --------------------------------------------------------------------------------------

    def admit(self, member: int | None = None) -> int | None:
        member = member if member is not None else self.next_id("member")
        self._ids["member"] = max(self._ids["member"], member)
        if member in self.admitted_at:
            return None
        entry = self.document(
            "member.admitted",
            subject=("member", member),
            members=[member],
            payload={"credit_code": f"91310000MA{member:08d}", "legal_name": f"Member {member} Ltd"},
        )
        if self.submit(entry) is None:
            return None
        self.members.append(member)
        self.admitted_at[member] = self.now
        return member

    def affiliate(self, member: int, parent: int, *, by_officer: bool = False) -> bool:
        group = self.group(parent)
        if member == parent or self.group(member) == group:
            return False
        entry = self.document(
            "member.affiliated",
            subject=("member", member),
            members=[member, parent],
            payload={
                "member": member,
                "parent": parent,
                "group": group,
                "declared_by": "officer" if by_officer else "member",
            },
            user=OFFICER_USER if by_officer else member * 100,
            member=None if by_officer else member,
        )
        if self.submit(entry) is None:
            return False
        old = self.group(member)
        self.groups[member] = group
        if old == engine.default_group(member):  # it headed its own group: its affiliates follow it
            for other in [m for m, g in self.groups.items() if g == old]:
                self.groups[other] = group
        return True

    # --- datasets -------------------------------------------------------------------------------------

    def register_dataset(self, owner: int, tier: str) -> int | None:
        dataset = self.next_id("dataset")
        entry = self.document(
            "dataset.registered",
            subject=("dataset", dataset),
            members=[owner],
            payload={
                "dataset": dataset,
                "grade": "internal",
                "title": f"Dataset {dataset}",
                "sector": "manufacturing",
                "data_domain": "process",
                "personal_information": 0,
                "rights": "own",
                "sources": [],
            },
            user=owner * 100,
            member=owner,
        )
        if self.submit(entry) is None:
            return None
        self.datasets[dataset] = {"owner": owner, "tier": tier, "versions": []}
        return dataset

    def fresh_sha(self) -> str:
        return hashlib.sha256(f"file {self.next_id('sha')}".encode()).hexdigest()

    def add_version(self, dataset: int, sha: str | None = None) -> str | None:
        info = self.datasets[dataset]
        sha = sha or self.fresh_sha()
        number = len(info["versions"]) + 1
        entry = self.document(
            "dataset.version_added",
            subject=("dataset", dataset),
            members=[info["owner"]],
            payload={
                "dataset": dataset,
                "grade": "internal",
                "version": number,
                "sha256": sha,
                "size": 1024 * number,
                "media_type": "text/csv",
            },
            user=info["owner"] * 100,
            member=info["owner"],
        )
        if self.submit(entry) is None:
            return None
        info["versions"].append(sha)
        self.first_sha_group.setdefault(sha, self.group(info["owner"]))
        return sha

    # --- requests and grants --------------------------------------------------------------------------

    def _request_payload(self, request: Request, **extra: Any) -> dict[str, Any]:
        return {
            "request": request.request,
            "dataset": request.dataset,
            "grade": "internal",
            "tier": request.tier,
            "purpose": "research",
            "duration_days": request.duration,
            "requester_member": request.requester,
            "owner_member": request.owner,
            **extra,
        }

    def _binding(self, request: Request, approvers: list[int], decided_by: int, grant: int | None) -> dict:
        versions = self.datasets[request.dataset]["versions"]
        binding: dict[str, Any] = {
            "policy_hash": f"policy-{request.dataset}",
            "version_sha256": versions[-1] if versions else "",
            "grade": "internal",
            "purpose": "research",
            "approvers": approvers,
            "decided_by": decided_by,
        }
        if grant is not None:
            binding["grant"] = grant
        return binding

    def _grant_payload(self, request: Request, **extra: Any) -> dict[str, Any]:
        return {
            "grant": request.grant,
            "request": request.request,
            "dataset": request.dataset,
            "grade": "internal",
            "tier": request.tier,
            "purpose": "research",
            "policy_hash": f"policy-{request.dataset}",
            "grantee_member": request.requester,
            "owner_member": request.owner,
            **extra,
        }

    def _request_entry(
        self, kind: str, request: Request, payload: dict[str, Any], user: int | None, member: int | None
    ):
        return self.document(
            kind,
            subject=("access_request", request.request),
            members=[request.owner, request.requester],
            payload=payload,
            user=user,
            member=member,
        )

    def _granted_entry(
        self, request: Request, grant: int, approvers: list[int], user: int | None, member: int | None
    ):
        valid_until = self.now + timedelta(days=request.duration)
        quota = DOWNLOAD_QUOTA if request.tier != "confidential" else 0
        payload = self._request_payload(
            request,
            policy_revision=1,
            valid_from=format_time(self.now),
            valid_until=format_time(valid_until),
            download_quota=quota,
            price_credits=0,
            **self._binding(request, approvers, user or 0, grant),
        )
        return self._request_entry("access.granted", request, payload, user, member), valid_until, quota

    def _mark_granted(self, request: Request, grant: int, valid_until: datetime, quota: int) -> None:
        request.state, request.grant, request.granted = "granted", grant, self.now
        request.valid_until, request.grant_state, request.downloads_left = valid_until, "active", quota

    def request_access(self, requester: int, dataset: int, duration: int) -> Request | None:
        info = self.datasets[dataset]
        if requester == info["owner"]:
            return None
        for other in self.requests.values():
            same = other.dataset == dataset and other.requester == requester
            if same and (other.state in UNDECIDED or (other.state == "granted" and self.grant_active(other))):
                return None  # the service refuses a second open request or one under an active grant
        request = Request(
            request=self.next_id("request"),
            dataset=dataset,
            requester=requester,
            owner=info["owner"],
            tier=info["tier"],
            duration=duration,
            created=self.now,
        )
        requested = self._request_entry(
            "access.requested",
            request,
            self._request_payload(
                request,
                policy_hash=f"policy-{dataset}",
                terms_version=1,
                price_credits=0,
                justification="Benchmark our spindles.",
            ),
            requester * 100,
            requester,
        )
        note = self._fee_note(request)
        if request.tier == "open":
            grant = self.next_id("grant")
            granted, valid_until, quota = self._granted_entry(request, grant, [], requester * 100, requester)
            if self.submit(requested, granted, note=note) is None:
                return None
            self._mark_granted(request, grant, valid_until, quota)
        else:
            if self.submit(requested, note=note) is None:
                return None
        self.requests[request.request] = request
        return request

    def _fee_note(self, request: Request) -> dict[str, Any]:
        """What the model expects a fee-charging entry about `request` to hold (I5)."""
        periods = -(-max(request.duration, 1) // 30)
        per_period = {"open": 0, "restricted": 20 * CR, "confidential": 50 * CR}[request.tier]
        same_group = self.group(request.requester) == self.group(request.owner)
        return {"fee": 0 if same_group else per_period * periods, "request": request.request}

    def approve(self, request: Request) -> bool:
        """The steward's decision (restricted: granted; confidential: approved), then the officer's."""
        if request.state not in UNDECIDED:
            return False
        steward = request.owner * 100
        if request.tier == "confidential" and request.state == "pending":
            entry = self._request_entry(
                "access.approved",
                request,
                self._request_payload(
                    request, stage="steward", reason="", **self._binding(request, [steward], steward, None)
                ),
                steward,
                request.owner,
            )
            if self.submit(entry, note={**self._fee_note(request), "charges": True}) is None:
                return False
            request.state, request.approvers = "steward_approved", [steward]
            return True
        user, member = (steward, request.owner) if request.state == "pending" else (OFFICER_USER, None)
        approvers = [*request.approvers, user]
        grant = self.next_id("grant")
        entry, valid_until, quota = self._granted_entry(request, grant, approvers, user, member)
        charges = request.state == "pending"
        if self.submit(entry, note={**self._fee_note(request), "charges": charges}) is None:
            return False
        self._mark_granted(request, grant, valid_until, quota)
        return True

    def close(self, request: Request, kind: str) -> bool:
        """access.rejected / access.withdrawn / access.expired of an undecided request."""
        if request.state not in UNDECIDED:
            return False
        stage = request.state
        binding = self._binding(request, list(request.approvers), 0, None)
        if kind == "access.rejected":
            user, member = (
                (request.owner * 100, request.owner) if stage == "pending" else (SECURITY_USER, None)
            )
            binding["decided_by"] = user
            payload = self._request_payload(request, stage=stage, reason="Not now.", **binding)
        elif kind == "access.withdrawn":
            user, member = request.requester * 100, request.requester
            binding["decided_by"] = user
            payload = self._request_payload(request, stage=stage, reason="", **binding)
        else:
            user, member = None, None
            payload = self._request_payload(request, stage=stage, **binding)
        entry = self._request_entry(kind, request, payload, user, member)
        if self.submit(entry, note={"closes": request.request}) is None:
            return False
        request.state = {"access.rejected": "rejected", "access.withdrawn": "withdrawn"}.get(kind, "expired")
        return True

    def grant_active(self, request: Request) -> bool:
        return (
            request.grant_state == "active"
            and request.valid_until is not None
            and self.now < request.valid_until
        )

    def revoke(self, request: Request, *, by_owner: bool) -> bool:
        if not self.grant_active(request):
            return False
        user, member = (request.owner * 100, request.owner) if by_owner else (OFFICER_USER, None)
        payload = self._grant_payload(
            request,
            reason="Shared by mistake.",
            **self._binding(request, request.approvers, user, request.grant),
        )
        entry = self.document(
            "access.revoked",
            subject=("grant", request.grant),
            members=[request.owner, request.requester],
            payload=payload,
            user=user,
            member=member,
        )
        assert request.granted is not None
        within = self.now - request.granted <= timedelta(days=7)
        if self.submit(entry, note={"revokes": request.request, "refund": by_owner and within}) is None:
            return False
        request.grant_state = "revoked"
        return True

    def expire_grant(self, request: Request) -> bool:
        if request.grant_state != "active" or request.valid_until is None or request.valid_until > self.now:
            return False
        payload = self._grant_payload(
            request,
            valid_until=format_time(request.valid_until),
            downloads_remaining=request.downloads_left,
            **self._binding(request, request.approvers, 0, request.grant),
        )
        entry = self.document(
            "access.expired",
            subject=("grant", request.grant),
            members=[request.owner, request.requester],
            payload=payload,
        )
        if self.submit(entry) is None:
            return False
        request.grant_state = "expired"
        return True

    def download(self, request: Request) -> Step | None:
        versions = self.datasets[request.dataset]["versions"]
        if not self.grant_active(request) or request.tier == "confidential" or request.downloads_left < 1:
            return None
        if not versions:
            return None
        sha = versions[-1]
        request.downloads_left -= 1
        payload = self._grant_payload(
            request,
            version=len(versions),
            version_sha256=sha,
            size=1024 * len(versions),
            downloads_remaining=request.downloads_left,
        )
        entry = self.document(
            "data.downloaded",
            subject=("grant", request.grant),
            members=[request.owner, request.requester],
            payload=payload,
            user=request.requester * 100,
            member=request.requester,
        )
        note = self._points_note(request, sha)
        steps = self.submit(entry, note=note)
        if steps is None:
            request.downloads_left += 1
            return None
        if note["credited"]:
            key = (self.open_epoch or "", request.dataset, self.group(request.requester))
            self.use_counts[key] = self.use_counts.get(key, 0) + 1
        return steps[0]

    def _points_note(self, request: Request, sha: str) -> dict[str, Any]:
        """The points the model expects, computed apart from the engine: BASE x T x Q x D_k x R."""
        provider, consumer = self.group(request.owner), self.group(request.requester)
        credited = (
            provider != consumer
            and self.first_sha_group.get(sha, provider) == provider
            and self.open_epoch is not None
        )
        if not credited:
            return {"credited": False, "points": 0}
        params = self._params_in_force()
        k = self.use_counts.get((self.open_epoch or "", request.dataset, consumer), 0) + 1
        repeat = {1: 10000, 2: 5000, 3: 2500, 4: 1250}.get(k, 0)
        tier = {"open": 10000, "restricted": 20000, "confidential": 30000}[request.tier]
        admitted = [at for m, at in self.admitted_at.items() if self.group(m) == consumer]
        age = (engine.to_us(self.now) - engine.to_us(min(admitted))) // engine.US_PER_DAY if admitted else 0
        ramp = params["trust_ramp_days"]
        age, ramp = (min(age, ramp), ramp) if ramp else (1, 1)
        points = 10 * CR * tier * 5000 * repeat * age // (10000**3 * ramp)
        return {"credited": True, "points": points}

    def _params_in_force(self) -> dict[str, int]:
        current = self.state.current_epoch()
        if current is None:
            return self.rules[-1]["params"]
        return next(doc["params"] for doc in self.rules if doc["hash"] == current.rules)
