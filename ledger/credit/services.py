"""Writes to credit: publish rules, open, release and settle epochs, resolve held mints, adjust, affiliate.

Every one is a ledger entry whose transfers `ledger_append` posts in the same transaction (see
`ledger.credit.engine`). The services check who may act and what state allows before appending, so the
rules engine only ever refuses what a race let through.
"""

from __future__ import annotations

import json
import re
from datetime import UTC, datetime

from django.db import IntegrityError, transaction
from django.utils import timezone

from consortium.errors import Conflict, NotFound, NotPermitted, ValidationFailed
from consortium.models import Member, User
from consortium.roles import Capability, can
from consortium.text import refuse_hidden_characters_in_text
from ledger.canonical import MAX_SAFE_INTEGER
from ledger.credit import engine, rules
from ledger.credit.models import (
    AffiliationClaim,
    CreditAdjustment,
    CreditEpoch,
    CreditMember,
    CreditRules,
)
from ledger.credit.store import DatabaseState, lock_all_credit
from ledger.models import LedgerEntry
from ledger.services import ledger_append


def _require(actor: User | None, capability: Capability, message: str, *, system_may: bool = True) -> None:
    """NotPermitted(message) unless `actor` holds `capability`; actor None is the system (beat, commands,
    the demo), allowed only where `system_may`."""
    if actor is None:
        if system_may:
            return
        raise NotPermitted(message)
    if not can(actor, capability):
        raise NotPermitted(message)


def credit_rules_publish(
    *, actor: User | None, params: object = None, version: int | None = None
) -> LedgerEntry:
    """Publish a rules document (`credit.rules_changed`); it takes effect from the next epoch (the first
    rules at once). Officers or the system (actor None). ValidationFailed(bad_rules) naming the parameter
    for a missing, unknown, float or negative one; Conflict(rules_unchanged) for the rules in force."""
    _require(actor, Capability.DECIDE_MEMBERSHIP, "Only a consortium officer may change the credit rules.")
    try:
        checked = rules.validate_params(rules.RULES_V1 if params is None else params)
    except rules.RulesError as exc:
        raise ValidationFailed(str(exc), code="bad_rules", errors={"params": [str(exc)]}) from exc
    with transaction.atomic():
        lock_all_credit()
        latest = CreditRules.objects.order_by("-order").first()
        number = version if version is not None else (latest.version + 1 if latest else rules.RULES_VERSION)
        document = rules.rules_document(number, checked)
        if latest is not None and latest.hash == document["hash"]:
            raise Conflict("These rules are already published.", code="rules_unchanged")
        return ledger_append(
            kind="credit.rules_changed",
            actor=actor,
            subject_type="credit_rules",
            subject_id=document["hash"][:16],
            payload=document,
        )


def credit_epoch_open(
    *, actor: User | None = None, epoch: str | None = None, now: datetime | None = None
) -> LedgerEntry:
    """Open `epoch` (default: the calendar month of `now`): `epoch.opened`, the budget moves from issuance
    to the pool. ValidationFailed(no_rules) before any rules; Conflict(epoch_open) while another epoch is
    open; Conflict(epoch_exists) for an epoch opened before."""
    _require(actor, Capability.DECIDE_MEMBERSHIP, "Only a consortium officer may open an epoch.")
    name = epoch or engine.epoch_of(engine.to_us(now or timezone.now()))
    _check_epoch_name(name)
    with transaction.atomic():
        lock_all_credit()
        newest = CreditRules.objects.order_by("-order").first()
        if newest is None:
            raise ValidationFailed("No credit rules are published yet.", code="no_rules")
        if CreditEpoch.objects.filter(epoch=name).exists():
            raise Conflict(f"Epoch {name} was opened before.", code="epoch_exists", epoch=name)
        current = CreditEpoch.objects.filter(settled_order=-1).first()
        if current is not None:
            raise Conflict(
                f"Epoch {current.epoch} is still open; settle it first.",
                code="epoch_open",
                epoch=current.epoch,
            )
        return ledger_append(
            kind="epoch.opened",
            actor=actor,
            subject_type="epoch",
            subject_id=name,
            payload={"epoch": name, "budget": newest.params["epoch_budget_mcr"], "rules": newest.hash},
        )


EPOCH_NAME = re.compile(r"[0-9]{4}-(0[1-9]|1[0-2])")


def _check_epoch_name(name: str) -> None:
    """A calendar month as YYYY-MM, 01 to 12: the engine's arithmetic read 2026-13 as February 2027 and
    2026-00 as December 2025, so an epoch of either could be opened and written to the ledger."""
    try:
        valid = EPOCH_NAME.fullmatch(name) is not None
        engine.epoch_end_day(name)
    except ValueError:  # a month whose end is past the calendar (9999-12)
        valid = False
    if not valid:
        raise ValidationFailed(f"'{name}' is not an epoch; use YYYY-MM.", code="bad_epoch")


def credit_release(*, actor: User | None = None, now: datetime | None = None) -> LedgerEntry | None:
    """The daily `credit.released`: post provider fee legs past their dispute window and expire old
    allowances. Once per UTC day: returns None when today's release exists or no rules are published."""
    now = now or timezone.now()
    day = now.date().isoformat()
    with transaction.atomic():
        lock_all_credit()
        if not CreditRules.objects.exists():
            return None
        if LedgerEntry.objects.filter(kind="credit.released", subject_type="day", subject_id=day).exists():
            return None
        return ledger_append(
            kind="credit.released", actor=actor, subject_type="day", subject_id=day, payload={"day": day}
        )


def credit_epoch_settle(
    *, epoch: str, actor: User | None = None, now: datetime | None = None, early: bool = False
) -> LedgerEntry:
    """Settle the open `epoch`: mints from the pool (held ones pending), points closed, the flags and the
    balance sum-tree root in `epoch.settled`. Conflict(epoch_not_open) for an epoch not open (never
    opened, or settled already); Conflict(epoch_not_ended) before the month is over unless `early`
    (the embedded default's on-demand settlement)."""
    _require(actor, Capability.DECIDE_MEMBERSHIP, "Only a consortium officer may settle an epoch.")
    _check_epoch_name(epoch)
    now = now or timezone.now()
    with transaction.atomic():
        lock_all_credit()
        fact = CreditEpoch.objects.filter(epoch=epoch).first()
        if fact is None or fact.settled_order >= 0:
            state = "settled" if fact is not None else "not_opened"
            raise Conflict(
                f"Epoch {epoch} is not open ({state}).", code="epoch_not_open", current_state=state
            )
        if not early and engine.to_us(now) // engine.US_PER_DAY <= engine.epoch_end_day(epoch):
            raise Conflict(f"Epoch {epoch} has not ended yet.", code="epoch_not_ended")
        _, summary = engine.compute_settlement(DatabaseState(), epoch)
        return ledger_append(
            kind="epoch.settled",
            actor=actor,
            subject_type="epoch",
            subject_id=epoch,
            payload={"epoch": epoch, **summary},
        )


def held_mint_resolve(*, actor: User, epoch: str, member: int, decision: str, reason: str) -> LedgerEntry:
    """An auditor releases or forfeits a held mint (`audit.resolved`). NotPermitted for anyone else,
    officers included (CREDIT.md: only an auditor forfeits); ValidationFailed for another decision or no
    reason; NotFound when no such mint is held, saying who resolved it and when if it was held once."""
    _require(
        actor, Capability.RESOLVE_HELD_MINTS, "Only an auditor may resolve a held mint.", system_may=False
    )
    if decision not in {"release", "forfeit"}:
        raise ValidationFailed(
            "Decide 'release' or 'forfeit'.", code="bad_decision", errors={"decision": ["release or forfeit"]}
        )
    reason = (reason or "").strip()
    if not reason:
        raise ValidationFailed("Say why.", code="reason_required", errors={"reason": ["required"]})
    refuse_hidden_characters_in_text(reason=reason)
    ref = f"{epoch}:{member}"
    with transaction.atomic():
        lock_all_credit()
        if not DatabaseState().unresolved(f"mint:{ref}"):
            raise NotFound(_no_held_mint_detail(epoch=epoch, member=member), code="no_held_mint")
        return ledger_append(
            kind="audit.resolved",
            actor=actor,
            subject_type="mint",
            subject_id=ref,
            members=[member],
            payload={"mint": ref, "epoch": epoch, "member": member, "decision": decision, "reason": reason},
        )


def _no_held_mint_detail(*, epoch: str, member: int) -> str:
    """Why the mint `<epoch>:<member>` cannot be resolved: not held, and, when an auditor resolved it
    already (a second tab, a colleague), who, how and when, so the second decision does not look like a
    wrong address."""
    detail = f"No mint of member {member} is held in epoch {epoch}"
    resolution = (
        LedgerEntry.objects.filter(kind="audit.resolved", subject_type="mint", subject_id=f"{epoch}:{member}")
        .order_by("-id")
        .first()
    )
    if resolution is None:
        return f"{detail}."
    decision = json.loads(bytes(resolution.canonical))["payload"]["decision"]
    auditor = None
    if resolution.actor_user_id is not None:
        auditor = User.objects.filter(pk=resolution.actor_user_id).values_list("username", flat=True).first()
    return (
        f"{detail}: {auditor or 'an auditor'} {'released' if decision == 'release' else 'forfeited'} it on "
        f"{resolution.accepted_at.astimezone(UTC):%Y-%m-%d %H:%M} UTC "
        f"(audit.resolved, leaf {bytes(resolution.leaf_hash).hex()[:16]})."
    )


def credit_adjustment_propose(
    *, actor: User, member: Member, amount_mcr: int, reason: str
) -> CreditAdjustment:
    """Propose a correcting transfer (positive: pool to the member; negative: back). Nothing is posted
    until a second auditor or officer approves. ValidationFailed for a zero amount or no reason;
    Conflict(member_not_admitted) for a member never admitted, which holds no credit
    (`_refuse_unless_admitted`)."""
    _require(
        actor, Capability.AUDIT, "Only auditors and officers may propose an adjustment.", system_may=False
    )
    if (
        isinstance(amount_mcr, bool)
        or not isinstance(amount_mcr, int)
        or amount_mcr == 0
        or abs(amount_mcr) > MAX_SAFE_INTEGER  # what a ledger entry can hold
    ):
        raise ValidationFailed(
            f"The amount is a non-zero integer of mCR, at most {MAX_SAFE_INTEGER} either way.",
            code="bad_amount",
            errors={"amount_mcr": ["non-zero integer"]},
        )
    reason = (reason or "").strip()
    if not reason:
        raise ValidationFailed(
            "An adjustment needs a reason.", code="reason_required", errors={"reason": ["required"]}
        )
    refuse_hidden_characters_in_text(reason=reason)
    _refuse_unless_admitted(member.pk)
    return CreditAdjustment.objects.create(
        member=member.pk, amount_mcr=amount_mcr, reason=reason, proposed_by=actor, proposed_at=timezone.now()
    )


def _refuse_unless_admitted(member_id: int) -> None:
    """Conflict(member_not_admitted) for a member never admitted: it holds no credit to adjust. A service
    rule, not one of the credit rules: those replay every entry ever written as it was posted (CREDIT.md:
    no retroactive change), and ledgers written before this check may hold such adjustments."""
    if not CreditMember.objects.filter(member=member_id, admitted_us__gt=0).exists():
        member = Member.objects.filter(pk=member_id).first()
        raise Conflict(
            f"{member or f'Member {member_id}'} was never admitted, so it holds no credit to adjust.",
            code="member_not_admitted",
            current_state=member.status if member is not None else None,
        )


def credit_adjustment_withdraw(*, actor: User, adjustment: CreditAdjustment) -> CreditAdjustment:
    """Withdraw a proposal nobody has approved (a mistaken amount or member): it can no longer be approved.
    Any auditor or officer may, the proposer included; nothing was posted, so no entry is written.
    Conflict(already_approved) once approved (correct it with a new adjustment);
    Conflict(adjustment_withdrawn) when withdrawn already."""
    _require(
        actor, Capability.AUDIT, "Only auditors and officers may withdraw an adjustment.", system_may=False
    )
    with transaction.atomic():
        locked = _lock_undecided(adjustment)
        locked.withdrawn_by = actor
        locked.withdrawn_at = timezone.now()
        locked.save(update_fields=["withdrawn_by", "withdrawn_at"])
        return locked


def _lock_undecided(adjustment: CreditAdjustment) -> CreditAdjustment:
    """The adjustment's row, locked, if nobody has approved or withdrawn it yet; else Conflict
    (already_approved: a posted one is corrected by a new adjustment; adjustment_withdrawn)."""
    locked = CreditAdjustment.objects.select_for_update(no_key=True).get(pk=adjustment.pk)
    if locked.approved_by_id is not None:
        raise Conflict(
            "This adjustment is approved and posted: correct it with a new adjustment.",
            code="already_approved",
        )
    if locked.withdrawn_at is not None:
        raise Conflict("This adjustment was withdrawn.", code="adjustment_withdrawn")
    return locked


def credit_adjustment_approve(*, actor: User, adjustment: CreditAdjustment) -> LedgerEntry:
    """The second approval: `credit.adjusted` with both approvers, and its transfer. NotPermitted when the
    proposer approves (two people, always); Conflict(already_approved); Conflict(adjustment_withdrawn);
    Conflict(member_not_admitted) for a proposal naming a member never admitted (one made before proposals
    were checked); Conflict(insufficient_credit) when a negative adjustment exceeds the member's balance."""
    _require(
        actor, Capability.AUDIT, "Only auditors and officers may approve an adjustment.", system_may=False
    )
    with transaction.atomic():
        locked = _lock_undecided(adjustment)
        if locked.proposed_by_id == actor.pk:
            raise NotPermitted("A second person must approve an adjustment.", code="second_approver_required")
        _refuse_unless_admitted(locked.member)
        locked.approved_by = actor
        locked.approved_at = timezone.now()
        locked.save(update_fields=["approved_by", "approved_at"])
        return ledger_append(
            kind="credit.adjusted",
            actor=actor,
            subject_type="credit_adjustment",
            subject_id=locked.pk,
            members=[locked.member],
            payload={
                "adjustment": locked.pk,
                "member": locked.member,
                "amount_mcr": locked.amount_mcr,
                "reason": locked.reason,
                "approvers": [locked.proposed_by_id, actor.pk],
            },
        )


def affiliation_declare_check(actor: User) -> None:
    """Raise NotPermitted unless `actor` may declare its member's parent: the member's administrators."""
    if actor.member_id is None or not can(actor, Capability.EDIT_OWN_MEMBER):
        raise NotPermitted("Only a member's administrators may declare its affiliation.")


def affiliation_declare(*, actor: User, parent: Member) -> AffiliationClaim:
    """A member's admin declares a parent or controlling member: a claim, which takes effect (the member
    joins the parent's group) when the parent's admins accept it. NotPermitted for anyone but a member's
    admins; ValidationFailed(self_affiliation); Conflict(claim_open) while the member has an undecided
    claim; Conflict(already_affiliated) when the member is in the parent's group already (a claim
    accepting it would change nothing, and would block the member's next declaration until answered)."""
    affiliation_declare_check(actor)
    assert actor.member_id is not None  # refused above otherwise
    if parent.pk == actor.member_id:
        raise ValidationFailed("A member cannot be its own parent.", code="self_affiliation")
    if _group_to_join(actor.member_id, parent) is None:
        raise _already_affiliated()
    try:
        with transaction.atomic():
            return AffiliationClaim.objects.create(
                member=actor.member_id, parent=parent.pk, declared_by=actor, declared_at=timezone.now()
            )
    except IntegrityError:
        raise Conflict(
            "Your member already has a declaration waiting for its parent's answer.", code="claim_open"
        ) from None


def affiliation_claim_decide(*, actor: User, claim: AffiliationClaim, accept: bool) -> LedgerEntry | None:
    """The parent's admins accept (`member.affiliated`: the declaring member joins the parent's group) or
    decline a declaration. NotPermitted for anyone else; Conflict(already_decided). Accepting a member that
    joined the group meanwhile (an officer linked it) closes the claim as accepted and writes nothing:
    None, as for a decline."""
    if actor.member_id != claim.parent or not can(actor, Capability.EDIT_OWN_MEMBER):
        raise NotPermitted("Only the parent member's administrators may answer this declaration.")
    with transaction.atomic():
        locked = AffiliationClaim.objects.select_for_update(no_key=True).get(pk=claim.pk)
        if locked.decided_at is not None:
            raise Conflict("This declaration has been answered already.", code="already_decided")
        locked.decided_by, locked.decided_at, locked.accepted = actor, timezone.now(), accept
        locked.save(update_fields=["decided_by", "decided_at", "accepted"])
        if not accept:
            return None
        lock_all_credit()
        parent = Member.objects.get(pk=locked.parent)
        group = _group_to_join(locked.member, parent)
        if group is None:
            return None
        return _append_affiliation(
            actor=actor, member_id=locked.member, parent=parent, group=group, declared_by="member"
        )


def affiliation_link_check(actor: User) -> None:
    """Raise NotPermitted unless `actor` may link members to affiliation groups: a consortium officer."""
    _require(
        actor, Capability.DECIDE_MEMBERSHIP, "Only a consortium officer may link members.", system_may=False
    )


def affiliation_link(*, actor: User, member: Member, parent: Member) -> LedgerEntry:
    """An officer links `member` to `parent`'s affiliation group (NotPermitted for anyone else)."""
    affiliation_link_check(actor)
    return _affiliate(actor=actor, member_id=member.pk, parent=parent, declared_by="officer")


def _affiliate(*, actor: User, member_id: int, parent: Member, declared_by: str) -> LedgerEntry:
    if parent.pk == member_id:
        raise ValidationFailed("A member cannot be its own parent.", code="self_affiliation")
    with transaction.atomic():
        lock_all_credit()
        group = _group_to_join(member_id, parent)
        if group is None:
            raise _already_affiliated()
        return _append_affiliation(
            actor=actor, member_id=member_id, parent=parent, group=group, declared_by=declared_by
        )


def _group_to_join(member_id: int, parent: Member) -> str | None:
    """The affiliation group `member_id` joins under `parent`; None when it is in that group already."""
    parent_state = DatabaseState().member(parent.pk)
    group = parent_state.group if parent_state is not None else engine.default_group(parent.pk)
    current = CreditMember.objects.filter(member=member_id).values_list("group", flat=True).first()
    return None if current == group else group


def _already_affiliated() -> Conflict:
    return Conflict("The member is in that group already.", code="already_affiliated")


def _append_affiliation(
    *, actor: User, member_id: int, parent: Member, group: str, declared_by: str
) -> LedgerEntry:
    return ledger_append(
        kind="member.affiliated",
        actor=actor,
        subject_type="member",
        subject_id=member_id,
        members=[member_id, parent.pk],
        payload={"member": member_id, "parent": parent.pk, "group": group, "declared_by": declared_by},
    )


def credit_epoch_roll(*, now: datetime | None = None) -> list[LedgerEntry]:
    """Beat's monthly step: settle the open epoch once its month has ended, then open the current month.

    Idempotent, and safe to run twice at once (the second waits for the credit lock and sees the first's
    work): returns the entries written (none when nothing is due or no rules are published)."""
    now = now or timezone.now()
    written: list[LedgerEntry] = []
    with transaction.atomic():
        lock_all_credit()
        current = CreditEpoch.objects.filter(settled_order=-1).first()
        this_month = engine.epoch_of(engine.to_us(now))
        if current is not None and current.epoch < this_month:
            written.append(credit_epoch_settle(epoch=current.epoch, now=now))
            current = None
        if (
            current is None
            and CreditRules.objects.exists()
            and not CreditEpoch.objects.filter(epoch=this_month).exists()
        ):
            written.append(credit_epoch_open(epoch=this_month, now=now))
    return written


def grant_fee_check(
    *, consumer_member_id: int, provider_member_id: int, tier: str, duration_days: int
) -> int:
    """The fee a grant of `tier` for `duration_days` would cost the consumer under the rules in force
    (0 when credit is inactive or both are one affiliation group); Conflict(insufficient_credit) with
    `shortfall_mcr` when the consumer cannot pay it now. A check before a request is written: the fee
    itself is charged, under the credit lock, when the request is approved."""
    state = DatabaseState()
    rules_now = engine.rules_in_force(state)
    if rules_now is None:
        return 0
    try:
        fee, _ = engine.fee_due(
            state,
            rules_now.params,
            consumer=consumer_member_id,
            provider=provider_member_id,
            tier=tier,
            duration_days=duration_days,
        )
    except engine.InsufficientCredit as short:
        raise Conflict(
            f"This grant costs {short.required} mCR; your member is {short.shortfall} mCR short.",
            code="insufficient_credit",
            fee_mcr=short.required,
            shortfall_mcr=short.shortfall,
        ) from None
    return fee
