"""Services for grants: their object permissions, revocation and downloads."""

from __future__ import annotations

from datetime import datetime
from typing import Any

from django.contrib.auth.models import Group
from django.core.files import File
from django.db import transaction
from django.utils import timezone
from guardian.core import ObjectPermissionChecker
from guardian.shortcuts import assign_perm, get_perms, remove_perm

from consortium.actors import acting_api_key
from consortium.errors import Conflict, NotFound, NotPermitted
from consortium.models import User
from consortium.roles import Capability, can
from consortium.text import refuse_hidden_characters_in_text
from exchange import policies
from exchange.models import Dataset, DatasetVersion, Grant, GrantState
from exchange.services._common import (
    _decision_binding,
    _invalid,
    _latest_version,
    _notify_after_commit,
    _of_member_with,
    _policy_of,
    _refuse_made_under_earlier_policy,
    _require_of_member,
    _steward_of_owner,
)
from ledger.canonical import format_time
from ledger.credit.store import lock_credit_consumers
from ledger.models import LedgerEntry
from ledger.services import ledger_append


def _grant_permissions_sync(*, grant: Grant, now: datetime) -> None:
    """Make the grantee member group's object permissions on the grant's dataset match its active grants:
    `use_dataset` while it holds any, `download_dataset` while one of them allows downloads. Call it in the
    transaction that creates, revokes or expires `grant`. The group row is locked first (NO KEY UPDATE, so
    joining the group is not blocked): a grant created while another one of the same member and dataset
    is revoked cannot leave the permissions out of step.

    Before the group row, the grantee's credit lock (ledger.credit.store): the caller's entry for the grant
    (`access.granted`, `.revoked`, `.expired`) takes it anyway, and an open-tier request of the same member
    holds it from its `access.requested` on when it reaches this row for its grant. Taken after the row, a
    revocation or an approval and such a request each waited for what the other held: a deadlock, which
    PostgreSQL broke by failing one of them."""
    lock_credit_consumers([grant.grantee_id])
    group = Group.objects.select_for_update(no_key=True).get(member__pk=grant.grantee_id)
    active = Grant.objects.filter(
        Grant.in_state(GrantState.ACTIVE, now), grantee_id=grant.grantee_id, dataset_id=grant.dataset_id
    )
    wanted = {
        "use_dataset": active.exists(),
        "download_dataset": active.filter(download_quota__gt=0).exists(),
    }
    dataset = Dataset(pk=grant.dataset_id)
    held = set(get_perms(group, dataset))
    for codename, want in wanted.items():
        if want and codename not in held:
            assign_perm(codename, group, dataset)
        elif not want and codename in held:
            remove_perm(codename, group, dataset)


def _grant_payload(grant: Grant, dataset: Dataset, /, **extra: Any) -> dict[str, Any]:
    return {
        "grant": grant.pk,
        "request": grant.request_id,
        "dataset": dataset.pk,
        "grade": dataset.grade,
        "tier": grant.tier,
        "purpose": grant.purpose,
        "policy_hash": grant.policy_hash,
        "grantee_member": grant.grantee_id,
        "owner_member": dataset.owner_id,
        **extra,
    }


# A grant in one of these states is over: nothing more can happen to it.
_ENDED_STATES = (GrantState.REVOKED, GrantState.EXPIRED)


def _may_revoke(actor: User, dataset: Dataset) -> bool:
    return _steward_of_owner(actor, dataset) or can(actor, Capability.REVOKE_ANY_GRANT)


def _may_download(actor: User, grant: Grant) -> bool:
    return _of_member_with(actor, grant.grantee_id, Capability.REQUEST_ACCESS)


def grant_revocable_by(*, actor: User, grant: Grant, now: datetime) -> bool:
    """Whether grant_revoke would accept `actor` revoking `grant` at `now` (given a reason): the same
    actor and state rules, asked without writing anything. For interfaces deciding what to offer."""
    return grant.state_at(now) not in _ENDED_STATES and _may_revoke(actor, grant.dataset)


def grant_downloadable_by(*, actor: User, grant: Grant, now: datetime) -> bool:
    """Whether a download by `actor` under `grant` is worth offering at `now`: the grant is active, its
    tier allows raw downloads, downloads remain and `actor` is of the grantee member and may request
    access (grant_download's own checks). grant_download still decides, with the policy engine and the
    dataset's state at that moment; this writes nothing."""
    return (
        grant.state_at(now) == GrantState.ACTIVE
        and policies.allows_raw_download(grant.tier)
        and grant.downloads_remaining > 0
        and _may_download(actor, grant)
    )


def grant_version_unavailable(*, grant: Grant) -> str | None:
    """What grant_download refuses a download of the latest version for when `grant`'s dataset has none
    that may be downloaded (none yet, or every one withdrawn: `no_version_available`), None when it has
    one. Lets a page that offers the download say so instead; writes nothing."""
    try:
        _downloadable_version(grant.dataset, None)
    except Conflict as error:
        return str(error.detail)
    return None


def grant_revoke_check(actor: User, grant: Grant) -> None:
    """Raise unless `actor` may revoke `grant`: the dataset owner's data steward or a consortium officer
    (NotPermitted, `insufficient_scope` for the owner's API key without the manage scope)."""
    if not _may_revoke(actor, grant.dataset):
        _require_of_member(
            actor,
            grant.dataset.owner_id,
            Capability.DECIDE_REQUESTS,
            "Only the owner's data steward or a consortium officer may revoke a grant.",
        )


def grant_revoke(*, actor: User, grant: Grant, reason: str) -> tuple[Grant, LedgerEntry]:
    """Revoke a grant at once, with a reason (`access.revoked`): the owner's steward or a consortium
    officer. A download already streaming stops at its next check. Conflict(illegal_transition) when the
    grant is already revoked or expired. NotPermitted for anyone else (grant_revoke_check)."""
    grant_revoke_check(actor, grant)
    dataset = grant.dataset
    reason = (reason or "").strip()
    if not reason:
        raise _invalid("reason", "reason_required", "A reason is required to revoke a grant.")
    refuse_hidden_characters_in_text(reason=reason)
    with transaction.atomic():
        locked = (
            Grant.objects.select_for_update(no_key=True, of=("self",))
            .select_related("request")
            .get(pk=grant.pk)
        )
        now = timezone.now()
        state = locked.state_at(now)
        if state in _ENDED_STATES:
            raise Conflict(f"The grant is already {state}.", code="illegal_transition", current_state=state)
        locked.revoked_at, locked.revoked_by, locked.revoked_reason = now, actor, reason
        locked.save(update_fields=["revoked_at", "revoked_by", "revoked_reason"])
        _grant_permissions_sync(grant=locked, now=now)
        entry = ledger_append(
            kind="access.revoked",
            actor=actor,
            subject_type="grant",
            subject_id=locked.pk,
            members=[dataset.owner_id, locked.grantee_id],
            payload=_grant_payload(
                locked,
                dataset,
                reason=reason,
                # The policy in force for a grant is the one it was given under.
                **_decision_binding(
                    dataset=dataset,
                    policy_hash=locked.policy_hash,
                    purpose=locked.purpose,
                    approvers=[locked.request.steward_decided_by_id, locked.request.officer_decided_by_id],
                    decided_by=actor,
                    grant_id=locked.pk,
                ),
            ),
            api_key=acting_api_key(actor),
        )
        _notify_after_commit("send_revocation_notice_task", locked.pk)
    return locked, entry


def _sentence(text: str) -> str:
    """Free text as a sentence of a longer message: a full stop added where it ends without one."""
    text = text.strip()
    return text if text.endswith((".", "!", "?")) else f"{text}."


def _not_active(grant: Grant, state: str) -> Conflict:
    """Why `grant` (in `state`, not active) gives no download, and what the grantee can do next. The
    grantee reads the revocation's time and reason on the grant itself, so the refusal may repeat them."""
    if state == GrantState.REVOKED:
        assert grant.revoked_at is not None
        at = format_time(grant.revoked_at)
        return Conflict(
            f"The grant was revoked at {at}, for this reason: {_sentence(grant.revoked_reason)} Your member "
            "may request access to the dataset again.",
            code="grant_revoked",
            current_state=state,
            revoked_at=at,
            revoked_reason=grant.revoked_reason,
        )
    if state == GrantState.EXPIRED:
        until = format_time(grant.valid_until)
        return Conflict(
            f"The grant expired at {until}. Request access to the dataset again to use it.",
            code="grant_expired",
            current_state=state,
            valid_until=until,
        )
    start = format_time(grant.valid_from)
    return Conflict(
        f"The grant starts at {start}; download from then on.",
        code="grant_not_started",
        current_state=state,
        valid_from=start,
    )


def _downloadable_version(dataset: Dataset, number: int | None) -> DatasetVersion:
    """The version `number` of `dataset`, or its latest one not withdrawn; never a withdrawn one."""
    if number is not None:
        version = dataset.versions.filter(number=number).first()
        if version is None:
            raise NotFound("No such version of this dataset.", code="no_version")
        if version.withdrawn_at is not None:
            raise Conflict(
                f"Version {number} is withdrawn: download the latest version instead.",
                code="version_withdrawn",
                current_state="withdrawn",
            )
        return version
    version = _latest_version(dataset)
    if version is None:
        raise Conflict(
            "This dataset has no version that may be downloaded (none yet, or every one is withdrawn).",
            code="no_version_available",
            current_state="no_version",
        )
    return version


def _open_version_file(version: DatasetVersion) -> File:
    """The stored file of `version`, opened for reading; Conflict(file_unavailable) if storage lost it."""
    name = version.file.name
    try:
        if not name:  # never stored: as unavailable as a file the storage lost
            raise FileNotFoundError(version.pk)
        return version.file.storage.open(name, "rb")
    except OSError:
        raise Conflict(
            f"The file of version {version.number} is unavailable; nothing was counted. Tell the owner.",
            code="file_unavailable",
            current_state="unavailable",
        ) from None


def grant_download_check(actor: User, grant: Grant) -> None:
    """Raise unless `actor` is of `grant`'s grantee member and may request access (NotPermitted,
    `insufficient_scope` for its API key without the request scope): who may download under the grant,
    whatever its state."""
    _require_of_member(
        actor,
        grant.grantee_id,
        Capability.REQUEST_ACCESS,
        "Only the grantee member's people may download under this grant.",
    )


def grant_download(
    *, actor: User, grant: Grant, version_number: int | None = None
) -> tuple[Grant, DatasetVersion, LedgerEntry, File]:
    """Take one download of the grant: re-check the policy engine, open the version's stored file, then
    decrement the quota and append `data.downloaded` (binding the version's checksum), all in one
    transaction on the locked grant row. Returns the grant, the version, the entry and the open file,
    which the caller streams and closes (selectors.version_stream does both).

    Defaults to the latest version not withdrawn; a withdrawn version is never served. Raises NotPermitted
    unless the actor is of the grantee member and may request access (insufficient_scope when only its API
    key's scopes are missing); Conflict with code grant_revoked (with `revoked_at`, `revoked_reason`),
    grant_expired (`valid_until`), grant_not_started (`valid_from`) or quota_exhausted (`valid_until`: no
    new request until then), each with current_state and what to do next; the engine's reasons
    (NotPermitted(no_raw_download) for confidential data, Conflict(dataset_withdrawn), ...), and
    Conflict(policy_changed) when the policy in force no longer allows the grant's purpose or duration;
    NotFound(no_version) for an unknown version number, Conflict(version_withdrawn) for a withdrawn one,
    Conflict(no_version_available) when no version may be downloaded, Conflict(file_unavailable) when the
    stored file cannot be opened. Nothing changes then: a download is counted only once its file is open.
    """
    grant_download_check(actor, grant)
    handle: File | None = None
    try:
        with transaction.atomic():
            # Lock the grant row only ("self"): other grants of the dataset download in parallel.
            locked = (
                Grant.objects.select_for_update(no_key=True, of=("self",))
                .select_related("dataset", "request", "grantee")
                .get(pk=grant.pk)
            )
            now = timezone.now()
            state = locked.state_at(now)
            if state != GrantState.ACTIVE:
                raise _not_active(locked, state)
            dataset = locked.dataset
            _refuse_made_under_earlier_policy(
                policies.evaluate(
                    member=locked.grantee,
                    dataset=dataset,
                    policy=_policy_of(dataset),
                    purpose=locked.purpose,
                    duration_days=locked.request.duration_days,
                    now=now,
                    for_download=True,
                ),
                made="grant",
                current_state=state,
            )
            # The engine decides; guardian stores who holds access now. Both must agree (the actor is in
            # the grantee member's group, which holds the permission exactly while a grant allows downloads).
            if not ObjectPermissionChecker(actor).has_perm("download_dataset", dataset):
                raise NotPermitted(
                    "Your member does not hold the download permission on this dataset.",
                    code="download_permission_not_held",
                )
            if locked.downloads_remaining < 1:
                until = format_time(locked.valid_until)
                # access_request_submit refuses a new request (already_granted) while this grant lasts,
                # used up or not: a fresh grant would bring a fresh quota.
                raise Conflict(
                    f"All {locked.download_quota} downloads of this grant are used. Your member cannot "
                    f"request this dataset again while the grant lasts: until {until}, unless it is "
                    "revoked before.",
                    code="quota_exhausted",
                    current_state="exhausted",
                    grant=locked.pk,
                    valid_until=until,
                )
            version = _downloadable_version(dataset, version_number)
            handle = _open_version_file(version)
            locked.downloads_remaining -= 1
            locked.save(update_fields=["downloads_remaining"])
            entry = ledger_append(
                kind="data.downloaded",
                actor=actor,
                subject_type="grant",
                subject_id=locked.pk,
                members=[dataset.owner_id, locked.grantee_id],
                payload=_grant_payload(
                    locked,
                    dataset,
                    version=version.number,
                    version_sha256=version.sha256,
                    size=version.size,
                    downloads_remaining=locked.downloads_remaining,
                ),
                api_key=acting_api_key(actor),
            )
    except BaseException:
        if handle is not None:
            handle.close()  # nothing was counted: the file is not served either
        raise
    return locked, version, entry, handle
