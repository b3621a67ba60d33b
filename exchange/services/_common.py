"""Shared pieces of the exchange's services: settings, refusals, actor checks and after-commit notices."""

from __future__ import annotations

import re
from collections.abc import Iterable
from typing import Any, cast

from django.conf import settings
from django.db import transaction

from consortium.actors import acting_api_key
from consortium.errors import Conflict, NotPermitted, ServiceError, ValidationFailed
from consortium.models import User
from consortium.roles import Capability, can, require
from exchange import policies
from exchange.models import AccessPolicy, Dataset, DatasetStatus, DatasetVersion

DEFAULTS = {
    "MAX_UPLOAD_BYTES": 5 * 1024**3,
    "UPLOAD_CHUNK_BYTES": 1024 * 1024,
    "REQUEST_EXPIRY_DAYS": 30,
    "GRANT_EXPIRY_NOTICE_DAYS": 7,
}
_SHA256 = re.compile(r"^[0-9a-f]{64}$")
# ASCII only, as RFC 6838 names are: the type goes out as the download's Content-Type, and Django sends a
# header outside Latin-1 as an RFC 2047 word no browser reads as a media type.
_MEDIA_TYPE = re.compile(r"^[\w.+-]+/[\w.+-]+$", re.ASCII)
_MEDIA_TYPE_MAX_LENGTH = cast(int, DatasetVersion._meta.get_field("media_type").max_length)
# Reasons the engine gives, by the HTTP meaning of refusing for them.
_NOT_PERMITTED = {
    "member_not_active",
    "member_denied",
    "not_on_allow_list",
    "size_class_ineligible",
    "sector_ineligible",
    "cluster_ineligible",
    "no_raw_download",
}
_CONFLICT = {"dataset_withdrawn", "requests_paused", "core_data_not_offered", "no_policy"}


def exchange_setting(name: str) -> Any:
    """settings.EXCHANGE[name], falling back to DEFAULTS."""
    return {**DEFAULTS, **getattr(settings, "EXCHANGE", {})}[name]


class UploadTooLarge(ServiceError):
    status = 413
    code = "upload_too_large"
    title = "The upload is too large"


def _refuse(decision: policies.Decision) -> None:
    """Raise the error that fits the first reason of a negative decision, listing every reason."""
    if decision.allowed:
        return
    first = decision.reasons[0]
    reasons = [{"code": reason.code, "message": reason.message} for reason in decision.reasons]
    if first.code in _NOT_PERMITTED:
        raise NotPermitted(first.message, code=first.code, reasons=reasons)
    if first.code in _CONFLICT:
        raise Conflict(first.message, code=first.code, reasons=reasons)
    raise ValidationFailed(first.message, code=first.code, reasons=reasons)


def _refuse_made_under_earlier_policy(decision: policies.Decision, *, made: str, current_state: str) -> None:
    """As _refuse, for a request or grant `made` under the policy then in force and judged again now.

    A reason the engine gives as bad input (a purpose or duration the policy in force no longer allows)
    was not bad when the requester chose it, and the caller now (a decider, a downloader) sent none:
    Conflict(policy_changed), with `current_state` and every reason. The other reasons raise as _refuse.
    """
    if decision.allowed:
        return
    first = decision.reasons[0]
    if first.code in _NOT_PERMITTED or first.code in _CONFLICT:
        _refuse(decision)
    raise Conflict(
        f"The dataset's policy changed since this {made} was made and no longer admits it: {first.message}",
        code="policy_changed",
        current_state=current_state,
        reasons=[{"code": reason.code, "message": reason.message} for reason in decision.reasons],
    )


def _invalid(field: str, code: str, message: str) -> ValidationFailed:
    return ValidationFailed(message, code=code, errors={field: [message]})


def _choice(field: str, value: Any, choices: Iterable[Any], code: str) -> None:
    allowed = list(choices)
    if value not in allowed:
        raise _invalid(field, code, f"'{value}' is not allowed; use one of {', '.join(map(str, allowed))}.")


def _of_member_with(actor: User, member_id: int | None, capability: Capability) -> bool:
    """Whether `actor` is of member `member_id` and holds `capability` (narrowed by its API key's scopes):
    the rule `_require_of_member` enforces, asked without raising, for interfaces deciding what to offer."""
    return (
        member_id is not None
        and actor.member_id == member_id
        and can(actor, capability, acting_api_key(actor))
    )


def _require_of_member(actor: User, member_id: int | None, capability: Capability, refusal: str) -> None:
    """Raise unless `_of_member_with`: NotPermitted(refusal), or, when the actor is of that member and only
    its API key's scopes withhold the capability, roles.require's NotPermitted(insufficient_scope). Another
    member's key gets the refusal: no scope would let it act for a member it is not of."""
    if member_id is None or actor.member_id != member_id:
        raise NotPermitted(refusal)
    require(actor, capability, acting_api_key(actor), refusal=refusal)


def _own_manager(actor: User, dataset: Dataset) -> bool:
    return _of_member_with(actor, dataset.owner_id, Capability.MANAGE_DATASETS)


def dataset_manage_check(actor: User, dataset: Dataset) -> None:
    """Raise unless `actor` manages datasets for `dataset`'s owner (NotPermitted, `insufficient_scope` for
    the owner's API key without the manage scope; callers found the dataset first): who may withdraw it,
    set its policy or add a version. Whether the dataset's state allows that is the service's to check."""
    _require_of_member(
        actor,
        dataset.owner_id,
        Capability.MANAGE_DATASETS,
        "Only the owner's data stewards may manage this dataset.",
    )


def _refuse_unless_listed(dataset: Dataset) -> None:
    """Conflict(dataset_withdrawn) unless `dataset` is listed (read under its row lock by the caller, or
    checked ahead of the locked check)."""
    if dataset.status != DatasetStatus.LISTED:
        raise Conflict("The dataset is withdrawn.", code="dataset_withdrawn", current_state=dataset.status)


def dataset_offer_check(actor: User, dataset: Dataset) -> None:
    """Raise unless `actor` may add to what `dataset` offers (a policy, a version's file), before any input
    is read: dataset_manage_check's refusal, Conflict(`dataset_withdrawn`), then Conflict(
    `core_data_not_offered`, in the engine's words and reasons) for Level 3 data, offered as metadata only
    whatever the input says: its grade refuses, as it refuses a request for it, so the owner is not sent to
    correct a body first."""
    dataset_manage_check(actor, dataset)
    _refuse_unless_listed(dataset)
    if policies.metadata_only(dataset.grade):
        _refuse(policies.Decision([policies.CORE_DATA_NOT_OFFERED]))


def _steward_of_owner(actor: User, dataset: Dataset) -> bool:
    return _of_member_with(actor, dataset.owner_id, Capability.DECIDE_REQUESTS)


def _lock_dataset(dataset: Dataset) -> Dataset:
    """Inside a transaction: `dataset`'s row, read again under a lock held to commit, which orders the
    dataset's writers (uploads, withdrawals, policy changes, requests) one at a time.

    FOR NO KEY UPDATE, not FOR UPDATE: a transaction that added a row referring to the dataset (a grant, a
    request, an object permission) checks that foreign key at COMMIT with FOR KEY SHARE on this row, which
    FOR UPDATE refuses. Such a transaction holds the credit lock; a writer holding this row and waiting
    for the credit lock (an upload's `dataset.version_added`) or for that transaction's rows (a withdrawal
    closing its requests) then deadlocked with it, and PostgreSQL failed one of them."""
    return Dataset.objects.select_for_update(no_key=True).get(pk=dataset.pk)


def _policy_of(dataset: Dataset) -> AccessPolicy | None:
    return AccessPolicy.objects.filter(dataset_id=dataset.pk).first()


def _latest_version(dataset: Dataset) -> DatasetVersion | None:
    return dataset.versions.filter(withdrawn_at__isnull=True).order_by("-number").first()


def _decision_binding(
    *,
    dataset: Dataset,
    policy_hash: str,
    purpose: str,
    approvers: Iterable[int | None],
    decided_by: User | None,
    grant_id: int | None = None,
) -> dict[str, Any]:
    """The fields every decision receipt binds (access.granted, access.approved, access.rejected,
    access.withdrawn, access.revoked), so each one proves the same facts: the grant id where one exists,
    the hash of the policy in force ("" when the dataset has none), the checksum of the dataset's latest
    version not withdrawn ("" when there is none), the grade, the purpose, the user ids of the approvals
    given so far (in the order given, none skipped) and the user id of who made this decision (0 for
    none). Integers, strings and lists of integers only, as the ledger's canonical encoding requires."""
    latest = _latest_version(dataset)
    binding: dict[str, Any] = {
        "policy_hash": policy_hash,
        "version_sha256": latest.sha256 if latest else "",
        "grade": dataset.grade,
        "purpose": purpose,
        "approvers": [pk for pk in approvers if pk],
        "decided_by": decided_by.pk if decided_by is not None else 0,
    }
    if grant_id is not None:
        binding["grant"] = grant_id
    return binding


def _policy_hash_in_force(dataset: Dataset) -> str:
    """The hash of `dataset`'s current policy, "" when it has none."""
    policy = _policy_of(dataset)
    return policies.policy_hash(policy, dataset_id=dataset.pk) if policy is not None else ""


def _notify_after_commit(task_name: str, *args: int | str) -> None:
    """Queue the notice task `task_name` of exchange.tasks with `args` once the current transaction
    commits; never if it rolls back. A failure to queue (broker down) is logged, not raised: the change
    is committed by then and a notice must not undo or hide it."""
    from exchange import tasks  # tasks import the services: import at call time

    task = getattr(tasks, task_name)
    transaction.on_commit(lambda: task.delay(*args), robust=True)
