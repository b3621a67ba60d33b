"""Query counts that stay the same however many rows a page shows: one world built at two sizes, and what
each request costs in both.

`at_scale(units, measure)` builds the world with `units` of everything a list shows (members, people, API
keys, datasets, versions, requests in every state, grants, downloads, status changes, checkpoints, credit
adjustments, affiliation claims, held mints), settles its credit epoch, runs `measure(world)` and rolls it
all back, so the same world can be built again at another size inside one test. `visit` makes one GET and
keeps the SQL it ran (after a first, unmeasured GET that fills per-process caches); `assert_same_costs`
compares the visits of both sizes and names, for each that ran more queries in the larger world, the
statements that ran more often: the one run for every row is the N+1.
"""

from __future__ import annotations

import json
import re
from collections import Counter
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any, TypeVar

from django.core.cache import cache
from django.db import connection, transaction
from django.test import Client
from django.test.utils import CaptureQueriesContext
from rest_framework.test import APIClient

from consortium.models import Member, User
from consortium.services import api_key_revoke, member_reinstate, member_suspend
from exchange import services as exchange
from exchange.models import AccessRequest, Dataset
from ledger import keys, tree
from ledger.credit import services as credit
from ledger.credit.models import CreditEpoch
from ledger.services import checkpoint_issue
from tests.exchange.support import add_version, register, request_access, set_policy
from tests.factories import ClusterFactory, MemberFactory, StaffFactory, UserFactory, make_api_key
from tests.ledger.credit.statement_support import use_of
from tests.ledger.credit.support import activate, admit

T = TypeVar("T")

SMALL, LARGE = 2, 6  # units of everything: n and 3n

# Uses that earn a provider 210 CR, all from members younger than 90 days that list nothing: settlement
# holds its mint (the fresh-cluster rule), so each unit adds a held mint and a flag.
HELD_MINT_USES = 14


@dataclass
class World:
    """What the pages are asked about. `users` by role name; `api_keys` (raw keys) by role name."""

    own: Member
    other: Member
    users: dict[str, User]
    api_keys: dict[str, str]
    dataset: Dataset  # the own member's dataset whose versions and derived datasets grow
    access_request: AccessRequest  # the other member's granted request whose receipts grow
    epoch: str  # settled, with every unit's uses, fees, mints and flags
    tree_size: int


def at_scale(units: int, measure: Callable[[World], T]) -> T:
    """Build the world with `units` of everything, return `measure(world)`, and roll the world back."""
    # The signing key is published outside the rollback: the process keeps signing with the key it has
    # seen published, and a rollback must not take its row away.
    keys.active_signer()
    with transaction.atomic():
        result = measure(_world(units))
        transaction.set_rollback(True)
    return result


def _listed(
    steward: User, title: str, *, tier: str, sources: tuple[Dataset, ...] = (), **policy: Any
) -> Dataset:
    """A listed dataset of `steward`'s member under a policy of `tier`, with one version of its own bytes
    (the same bytes twice would be a duplicate listing, which earns nothing)."""
    grade = 2 if tier == "confidential" else None if sources else 1
    dataset = register(steward, title=title, grade=grade, source_ids=[source.pk for source in sources])
    set_policy(steward, dataset, tier=tier, **policy)
    add_version(steward, dataset, f"sensor,value\n{title},1\n".encode())
    return Dataset.objects.get(pk=dataset.pk)


def _granted(steward: User, requester: User, dataset: Dataset) -> Any:
    """`requester`'s request for `dataset`, approved by `steward` (an open dataset's is granted at once);
    returns the grant."""
    access_request = request_access(requester, dataset, accepted_terms_version=dataset.policy.terms_version)
    if access_request.state != "granted":
        exchange.access_request_approve(actor=steward, request=access_request)
    return AccessRequest.objects.get(pk=access_request.pk).grant


def _download(requester: User, grant: Any) -> None:
    exchange.grant_download(actor=requester, grant=grant)[3].close()


@dataclass
class _Cast:
    """Who acts while the world is built, and what every unit adds to."""

    own: Member
    other: Member
    fresh: list[Member]  # members that list nothing
    shared: Any  # the cluster of every member
    users: dict[str, User]
    other_steward: User
    other_analyst: User
    dataset: Dataset
    watched: Any  # the other member's grant on `dataset`


def _world(units: int) -> World:
    activate()
    shared = ClusterFactory(slug="shared-cluster")
    own = MemberFactory(legal_name="Own Firm Co., Ltd.")
    other = MemberFactory(legal_name="Other Firm Co., Ltd.")
    own.clusters.add(shared)
    other.clusters.add(shared)
    # members that list nothing: their uses of a provider in their first 90 days are a fresh cluster
    fresh = MemberFactory.create_batch(2)
    admit(own, other, *fresh)
    users = {
        "member_admin": UserFactory(username="own-admin", member=own, member_role="member_admin"),
        "data_steward": UserFactory(username="own-steward", member=own, member_role="data_steward"),
        "analyst": UserFactory(username="own-analyst", member=own, member_role="analyst"),
        "officer": StaffFactory(username="officer", consortium_role="officer"),
        "security_officer": StaffFactory(username="security", consortium_role="security_officer"),
        "auditor": StaffFactory(username="auditor", consortium_role="auditor"),
    }
    admin, steward = users["member_admin"], users["data_steward"]
    other_analyst = UserFactory(username="other-analyst", member=other, member_role="analyst")
    api_keys = {
        "api_key_read": make_api_key(admin=admin, scopes=["read"], name="partner read")[1],
        "api_key_full": make_api_key(admin=admin, scopes=["read", "request", "manage"], name="partner")[1],
    }
    dataset = _listed(steward, "Spindle vibration", tier="restricted", download_quota=1000)
    cast = _Cast(
        own=own,
        other=other,
        fresh=fresh,
        shared=shared,
        users=users,
        other_steward=UserFactory(username="other-steward", member=other, member_role="data_steward"),
        other_analyst=other_analyst,
        dataset=dataset,
        watched=_granted(steward, other_analyst, dataset),
    )
    for unit in range(units):
        _add_unit(cast, unit)
    epoch = CreditEpoch.objects.get().epoch
    credit.credit_epoch_settle(epoch=epoch, early=True)
    checkpoint_issue()
    return World(
        own=own,
        other=other,
        users=users,
        api_keys=api_keys,
        dataset=dataset,
        access_request=cast.watched.request,
        epoch=epoch,
        tree_size=tree.tree_size(),
    )


def _add_unit(cast: _Cast, unit: int) -> None:
    """One more of everything a list shows."""
    admin, steward, analyst = (cast.users[role] for role in ("member_admin", "data_steward", "analyst"))
    officer, security, auditor = (cast.users[role] for role in ("officer", "security_officer", "auditor"))
    other_steward, other_analyst = cast.other_steward, cast.other_analyst
    # a member in a cluster of its own too, whose admin declares the own member its parent
    member = MemberFactory(legal_name=f"Unit {unit} Co., Ltd.")
    member.clusters.add(cast.shared, ClusterFactory(slug=f"unit-{unit}"))
    admit(member)
    newcomer = UserFactory(username=f"unit-{unit}-admin", member=member, member_role="member_admin")
    credit.affiliation_declare(actor=newcomer, parent=cast.own)
    # a person of the own member, and two API keys, one of them revoked
    UserFactory(username=f"own-analyst-{unit}", member=cast.own, member_role="analyst")
    api_key_revoke(actor=admin, key=make_api_key(admin=admin, scopes=["read"], name=f"old {unit}")[0])
    make_api_key(admin=admin, scopes=["read", "request"], name=f"new {unit}")
    # a version of the watched dataset, a download under its grant (a receipt), a dataset derived from it
    add_version(steward, cast.dataset, f"sensor,value\nversion {unit},1\n".encode())
    _download(other_analyst, cast.watched)
    derived = _listed(steward, f"Derived {unit}", tier="restricted", sources=(cast.dataset,))
    _download(other_analyst, _granted(steward, other_analyst, derived))
    request_access(newcomer, derived)  # pending
    # a rejected request, a revoked grant, a confidential request waiting for the security officer and one
    # it granted
    declined = _listed(steward, f"Declined {unit}", tier="restricted")
    exchange.access_request_reject(
        actor=steward, request=request_access(other_analyst, declined), reason="Not for this purpose."
    )
    exchange.grant_revoke(actor=steward, grant=_granted(steward, newcomer, declined), reason="Ended.")
    confidential = _listed(steward, f"Confidential {unit}", tier="confidential")
    exchange.access_request_approve(actor=steward, request=request_access(other_analyst, confidential))
    approved, _ = exchange.access_request_approve(
        actor=steward, request=request_access(newcomer, confidential)
    )
    exchange.access_request_approve(actor=security, request=approved)
    # the own member uses the other member's open data, and withdraws a request for its restricted data
    _download(
        analyst, _granted(other_steward, analyst, _listed(other_steward, f"Theirs {unit}", tier="open"))
    )
    restricted = _listed(other_steward, f"Theirs restricted {unit}", tier="restricted")
    exchange.access_request_withdraw(actor=analyst, request=request_access(analyst, restricted), reason="")
    # credit: an approved, a withdrawn and an undecided adjustment; a provider whose mint is held
    proposed = credit.credit_adjustment_propose(
        actor=auditor, member=cast.other, amount_mcr=100_000, reason="+"
    )
    credit.credit_adjustment_approve(actor=officer, adjustment=proposed)
    mistaken = credit.credit_adjustment_propose(actor=auditor, member=member, amount_mcr=1, reason="typo")
    credit.credit_adjustment_withdraw(actor=officer, adjustment=mistaken)
    credit.credit_adjustment_propose(actor=auditor, member=cast.own, amount_mcr=5_000, reason="waiting")
    for use in range(HELD_MINT_USES):
        consumer = cast.fresh[use % 2].pk
        use_of(provider=member.pk, consumer=consumer, dataset=10_000 * (unit + 1) + use, tier="confidential")
    # two steps of the own member's history, and a checkpoint
    member_suspend(member=cast.own, actor=officer, reason="Unpaid fees.")
    member_reinstate(member=cast.own, actor=officer, reason="Paid.")
    checkpoint_issue()


# --- one visit and what it cost -----------------------------------------------------------------------------


@dataclass(frozen=True)
class Visit:
    """One GET: its status, the SQL it ran, and how many rows of the world its answer shows (`rows`)."""

    status: int
    queries: tuple[str, ...]
    rows: int


Visits = dict[tuple[str, ...], Visit]  # by (page, role, ...)


def api_client_as(world: World, role: str) -> APIClient:
    """An API client as `role`: by its API key where the world has one of that name, else by its session
    (none for `anonymous`)."""
    client = APIClient()
    if role in world.api_keys:
        client.credentials(HTTP_AUTHORIZATION=f"Api-Key {world.api_keys[role]}")
    elif role != "anonymous":
        client.force_login(world.users[role])
    return client


def portal_client_as(world: World, role: str) -> Client:
    """A portal client logged in as `role` (none for `anonymous`)."""
    client = Client()
    if role != "anonymous":
        client.force_login(world.users[role])
    return client


def visit(client: Client, url: str, **headers: Any) -> Visit:
    """GET `url` twice and measure the second time: the first fills what a process caches once (content
    types, the signing key) and stamps an API key's last use, which the second does not repeat. Throttle
    counts live in the cache, cleared before each so no visit is refused for the ones before it."""
    cache.clear()
    _body(client.get(url, **headers))
    cache.clear()
    with CaptureQueriesContext(connection) as captured:
        response = client.get(url, **headers)
        body = _body(response)  # a streamed answer runs its queries while it is read
    return Visit(
        response.status_code, tuple(q["sql"] for q in captured.captured_queries), _rows(response, body)
    )


def _body(response: Any) -> bytes:
    return b"".join(response.streaming_content) if response.streaming else response.content


def _rows(response: Any, body: bytes) -> int:
    """A measure of how much of the world an answer shows: objects in JSON, lines of CSV, table rows, list
    items and options of HTML."""
    kind = response.get("Content-Type", "")
    if "json" in kind:
        return _objects(json.loads(body or b"null"))
    if "csv" in kind:
        return body.count(b"\n")
    return sum(body.count(tag) for tag in (b"<tr", b"<li", b"<option"))


def _objects(value: Any) -> int:
    if isinstance(value, dict):
        return 1 + sum(_objects(item) for item in value.values())
    if isinstance(value, list):
        return sum(_objects(item) for item in value)
    return 0


# Literals, IN lists and savepoint names change with the rows; the statement's shape does not.
_SAVEPOINT = re.compile(r'"?s\d+_x\d+"?')
_LITERAL = re.compile(r"'(?:[^']|'')*'|\b\d+(?:\.\d+)?\b")
_IN_LIST = re.compile(r"IN \((?:[^()]|\([^()]*\))*\)")
_COLUMNS = re.compile(r"^SELECT .*? FROM", re.DOTALL)  # an example is shown without its columns


def _shape(sql: str) -> str:
    """`sql` with its values, IN lists and savepoint names replaced: equal for the same statement run for
    another row."""
    return _IN_LIST.sub("IN (...)", _LITERAL.sub("?", _SAVEPOINT.sub("<savepoint>", sql)))


def cost_divergence(small: Visit, large: Visit) -> str:
    """Where `large` ran more (or fewer) statements than `small`: each statement shape whose count differs,
    with the counts and one example of the SQL. Empty when both ran as many statements."""
    if len(small.queries) == len(large.queries):
        return ""
    before = Counter(_shape(sql) for sql in small.queries)
    after = Counter(_shape(sql) for sql in large.queries)
    both = (*small.queries, *large.queries)
    examples = {_shape(sql): _COLUMNS.sub("SELECT ... FROM", sql, count=1) for sql in both}
    lines = [
        f"    {before[shape]} -> {after[shape]} times: {examples[shape][:300]}"
        for shape in sorted(before.keys() | after.keys(), key=lambda shape: before[shape] - after[shape])
        if before[shape] != after[shape]
    ]
    return "\n".join(lines)


def cost_failures(small: Visits, large: Visits) -> list[str]:
    """What went wrong between the SMALL and the LARGE world, one message per visit: its status changed, or
    it ran another number of queries (with the statements that diverge)."""
    failures = []
    for key, before in small.items():
        after, what = large[key], f"{key[0]} as {key[1]}" + "".join(f", {more}" for more in key[2:])
        if before.status != after.status:
            failures.append(f"{what}: {before.status} with {SMALL} units, {after.status} with {LARGE}")
        elif before.status == 200 and (divergence := cost_divergence(before, after)):
            failures.append(
                f"{what}: {len(before.queries)} queries with {SMALL} units ({before.rows} rows), "
                f"{len(after.queries)} with {LARGE} ({after.rows} rows). Statements run another number of "
                f"times:\n{divergence}"
            )
    return failures


def assert_same_costs(
    small: Visits, large: Visits, *, not_lists: set[str], growing_in: Visits | None = None
) -> None:
    """Every visit ran as many queries in the SMALL world as in the LARGE one, with the same status; every
    page was seen by some role; and every page but `not_lists` showed some role more rows in the LARGE
    world (a page that shows no more rows proves nothing), counted on the visits `growing_in` holds (all of
    them by default)."""
    failures = cost_failures(small, large)
    assert not failures, "\n".join(failures)
    pages = {key[0] for key in small}
    seen = {key[0] for key, visited in large.items() if visited.status == 200}
    assert seen == pages, f"no role may see {pages - seen}: nothing was measured there"
    counted = large.keys() if growing_in is None else growing_in.keys()
    same_size = pages - {key[0] for key in counted if large[key].rows > small[key].rows}
    assert same_size <= not_lists, (
        f"{same_size - not_lists} show no more rows in a larger world: that proves nothing"
    )
    assert not_lists <= same_size, f"{not_lists - same_size} show more rows in a larger world: they are lists"
