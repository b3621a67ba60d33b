"""A credit or ledger read refuses a caller without the right before it reads the query: whatever the
parameters, such a caller gets the 404 it gets without them, never a 400 about a value it may not ask
with anyway (authorization first, then parameters).

The flags answered `?epoch=` that is no epoch with 400 validation_error to a member's people, who may not
see flags at all; the leaderboard's `?by=`, a statement's `?member=` and `?bom=`, and the ledger proofs'
tree sizes did the same. The transfers read their filters after the selector's refusal already: a control.
Lists that answer those without the right with an empty page (balances, ledger entries, epochs) refuse
nobody, so they are not here.
"""

from __future__ import annotations

import pytest

from consortium import services as members
from tests.api.test_problems import assert_problem

pytestmark = pytest.mark.django_db

EPOCH = "2026-01"

# path, a query no one may send, and who may not read the path at all
READS = [
    ("/api/v1/credit/flags/", "?epoch=not-an-epoch", "data_steward"),
    (f"/api/v1/credit/leaderboard/{EPOCH}/", "?by=nonsense", "data_steward"),
    (f"/api/v1/credit/statements/{EPOCH}/", "?member=abc", "security_officer"),
    (f"/api/v1/credit/statements/{EPOCH}/csv/", "?bom=maybe&member=abc", "security_officer"),
    ("/api/v1/credit/transfers/", "?epoch=not-an-epoch", "data_steward"),
    ("/api/v1/ledger/proofs/inclusion/", "?tree_size=x&seq=y", "suspended_analyst"),
    ("/api/v1/ledger/proofs/consistency/", "?first=x&second=0", "suspended_analyst"),
]


@pytest.fixture
def suspended_analyst(analyst, member, officer):
    """A person of a suspended member: the ledger's proofs are for active members' people and staff."""
    members.member_suspend(member=member, actor=officer, reason="Audit pending.")
    return analyst


@pytest.mark.parametrize(("path", "query", "who"), READS, ids=[f"{path}{query}" for path, query, _ in READS])
def test_a_caller_without_the_right_is_refused_whatever_the_query(
    request: pytest.FixtureRequest, client_for, path: str, query: str, who: str
) -> None:
    client = client_for(request.getfixturevalue(who))
    without_query = assert_problem(client.get(path), 404, "not_found")
    assert assert_problem(client.get(path + query), 404, "not_found")["detail"] == without_query["detail"]
