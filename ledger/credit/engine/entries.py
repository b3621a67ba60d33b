"""Credit rules v1 applied to ledger entries: which transfers each entry causes (pure, standard library only).

One function, :func:`apply_entry`, turns one credit-relevant ledger entry into transfers and fact updates
against a :class:`CreditState`. The service runs it inside the appending transaction against the database
(`ledger.credit.store.DatabaseState`); the auditor and the offline verifier run it over the whole ledger
against :class:`MemoryState`. Same code, same order, so replay gives exactly the stored transfers (I8).

Order: every credit-relevant entry carries ``payload["credit"]["order"]``, a gap-free counter taken under
one database lock by the appending transaction. Transactions that touch credit therefore run one at a
time, in that order, and replay walks entries in that order, so every balance, diminishing-returns count
and allowance split it sees is the one the service saw.
"""

from __future__ import annotations

from ledger.credit import rules as rules_module
from ledger.credit.engine.epochs import _downloaded, _epoch_opened, _settled
from ledger.credit.engine.fees import (
    _approved,
    _closed_before_grant,
    _granted,
    _released,
    _requested,
    _revoked,
)
from ledger.credit.engine.posting import Poster
from ledger.credit.engine.state import (
    POOL,
    CreditError,
    CreditState,
    Entry,
    MemberFact,
    Rules,
    Transfer,
    default_group,
    group_of,
    member_allowance,
    member_available,
    rules_in_force,
)


def apply_entry(state: CreditState, entry: Entry) -> list[Transfer]:
    """Apply one credit-relevant entry: record the facts it states and write the transfers it causes.

    Returns the transfers written (in leg order). Raises InsufficientCredit or CreditError when the
    rules refuse the entry; the caller's transaction must then roll back (the service refuses the action).
    """
    handler = _HANDLERS.get(entry.kind)
    if handler is None:
        raise CreditError(f"Entries of kind {entry.kind} carry no credit.")
    if entry.kind == "credit.rules_changed":
        _rules_changed(state, entry)
        return []
    rules = rules_in_force(state)
    if rules is None:
        _record_facts_only(state, entry)
        return []
    poster = Poster(state, entry, rules)
    handler(poster)
    return poster.written


def _record_facts_only(state: CreditState, entry: Entry) -> None:
    """Before any rules exist credit is inactive, but the facts the rules will read still count."""
    if entry.kind in {"member.admitted", "member.affiliated", "dataset.registered", "dataset.version_added"}:
        _HANDLERS[entry.kind](Poster(state, entry, Rules(0, "", dict(rules_module.RULES_V1))))
    elif entry.kind == "access.requested":
        _requested(Poster(state, entry, Rules(0, "", dict(rules_module.RULES_V1))))


def _rules_changed(state: CreditState, entry: Entry) -> None:
    payload = entry.payload
    try:
        params = rules_module.validate_params(payload.get("params"))
    except rules_module.RulesError as exc:
        raise CreditError(str(exc)) from exc
    version = payload.get("version")
    if not isinstance(version, int) or rules_module.rules_hash(version, params) != payload.get("hash"):
        raise CreditError("The rules hash does not match the rules.")
    state.add_rules(Rules(version, payload["hash"], params))


def _member_admitted(poster: Poster) -> None:
    state, entry = poster.state, poster.entry
    member = int(entry.subject_id)
    known = state.member(member)
    if known is not None and known.admitted_us:
        return  # one allowance per member, ever
    group = known.group if known is not None else default_group(member)
    state.put_member(MemberFact(member=member, group=group, admitted_us=entry.time_us))
    if not poster.rules.hash:
        return
    # The pool pays allowances; when it cannot, the member gets what is left (never a negative pool).
    amount = min(poster.rules.params["admission_allowance_mcr"], max(state.balance(POOL).spendable, 0))
    poster.transfer(
        "allowance",
        debit=POOL,
        credit=member_allowance(member),
        amount=amount,
        code="allowance",
        ref=f"member:{member}",
    )


def _member_affiliated(poster: Poster) -> None:
    state, entry = poster.state, poster.entry
    member, group = entry.payload.get("member"), entry.payload.get("group")
    if not isinstance(member, int) or not isinstance(group, str) or not group:
        raise CreditError("An affiliation names a member and a group.")
    known = state.member(member)
    old = known.group if known is not None else default_group(member)
    movers = [member]
    if old == default_group(member):  # it heads its own group: the members affiliated to it follow it
        movers += sorted(fact.member for fact in state.group_members(old) if fact.member != member)
    for mover in movers:
        fact = state.member(mover)
        state.put_member(MemberFact(member=mover, group=group, admitted_us=fact.admitted_us if fact else 0))
    if state.lists_anything(old):
        state.add_listing(group)


def _dataset_registered(poster: Poster) -> None:
    owner = poster.entry.members[0] if poster.entry.members else poster.entry.actor_member
    if owner is not None:
        poster.state.add_listing(group_of(poster.state, owner))


def _version_added(poster: Poster) -> None:
    owner = poster.entry.members[0] if poster.entry.members else poster.entry.actor_member
    sha = poster.entry.payload.get("sha256")
    if owner is not None and isinstance(sha, str) and poster.state.first_registrant(sha) is None:
        poster.state.register_version(sha, group_of(poster.state, owner))


def _audit_resolved(poster: Poster) -> None:
    payload = poster.entry.payload
    ref, decision = payload.get("mint"), payload.get("decision")
    if decision not in {"release", "forfeit"}:
        raise CreditError("An audit resolution releases or forfeits a held mint.")
    held = poster.state.unresolved(f"mint:{ref}")
    if not held:
        raise CreditError(f"No held mint {ref}.")
    for leg in held:
        poster.resolve(leg, post=decision == "release", code="mint_resolved")


def _adjusted(poster: Poster) -> None:
    payload = poster.entry.payload
    approvers, reason = payload.get("approvers"), payload.get("reason")
    # users are named by id: [7, "7"] or [7, None] is one approver, not two
    if (
        not isinstance(approvers, list)
        or any(type(approver) is not int for approver in approvers)
        or len(set(approvers)) < 2
    ):
        raise CreditError("An adjustment needs two different approvers.")
    if not isinstance(reason, str) or not reason.strip():
        raise CreditError("An adjustment needs a reason.")
    member, amount = payload.get("member"), payload.get("amount_mcr")
    if not isinstance(member, int) or not isinstance(amount, int) or amount == 0:
        raise CreditError("An adjustment names a member and a non-zero amount.")
    debit, credit = (POOL, member_available(member)) if amount > 0 else (member_available(member), POOL)
    poster.transfer(
        "adjustment",
        debit=debit,
        credit=credit,
        amount=abs(amount),
        code="adjustment",
        ref=f"member:{member}",
    )


_HANDLERS = {
    "credit.rules_changed": lambda poster: None,
    "epoch.opened": _epoch_opened,
    "epoch.settled": _settled,
    "credit.released": _released,
    "audit.resolved": _audit_resolved,
    "credit.adjusted": _adjusted,
    "member.admitted": _member_admitted,
    "member.affiliated": _member_affiliated,
    "dataset.registered": _dataset_registered,
    "dataset.version_added": _version_added,
    "access.requested": _requested,
    "access.approved": _approved,
    "access.granted": _granted,
    "access.rejected": _closed_before_grant,
    "access.withdrawn": _closed_before_grant,
    "access.expired": _closed_before_grant,
    "access.revoked": _revoked,
    "data.downloaded": _downloaded,
}
