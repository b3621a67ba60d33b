"""Writes of the exchange: datasets, versions, policies, access requests, grants and downloads.

Each service is one transaction that changes state and appends its ledger entry together (no change
without its entry, no entry without its change). Entries concern the owner and, where there is one, the
requesting member (`members=[owner, requester]`), so both can fetch the signed receipts. Payloads hold
integers and strings only and bind what a receipt must prove: the request and grant ids, the hash of the
policy in force, the version's checksum, the grade, the purpose and the approvers.

Requests move pending -> steward_approved (confidential only) -> granted, or to rejected / withdrawn /
expired from either undecided state; anything else is Conflict(code="illegal_transition",
current_state=...). Rows are locked (select_for_update) before their state is read, so two deciders
acting at once queue up and the second one sees the first one's result.
"""

from __future__ import annotations

import hashlib
import re
from collections.abc import Iterable
from datetime import date, datetime, timedelta
from typing import IO, Any

from django.conf import settings
from django.contrib.auth.models import Group
from django.core.exceptions import ValidationError as DjangoValidationError
from django.core.validators import validate_email
from django.db import IntegrityError, transaction
from django.db.models import Max, Q
from django.utils import timezone
from guardian.core import ObjectPermissionChecker
from guardian.shortcuts import assign_perm, get_perms, remove_perm

from consortium.errors import Conflict, NotFound, NotPermitted, ServiceError, ValidationFailed
from consortium.models import Cluster, Member, MemberRole, Sector, User
from consortium.roles import Capability, can
from exchange import policies
from exchange.models import (
    UNDECIDED_STATES,
    AccessPolicy,
    AccessRequest,
    DataDomain,
    Dataset,
    DatasetStatus,
    DatasetVersion,
    Grade,
    Grant,
    RequestState,
    Rights,
    Tier,
    UpdateFrequency,
)
from ledger.canonical import format_time
from ledger.models import LedgerEntry
from ledger.services import ledger_append

DEFAULTS = {
    "MAX_UPLOAD_BYTES": 5 * 1024**3,
    "UPLOAD_CHUNK_BYTES": 1024 * 1024,
    "REQUEST_EXPIRY_DAYS": 30,
    "GRANT_EXPIRY_NOTICE_DAYS": 7,
}
_SHA256 = re.compile(r"^[0-9a-f]{64}$")
_MEDIA_TYPE = re.compile(r"^[\w.+-]+/[\w.+-]+$")
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
_CONFLICT = {"dataset_withdrawn", "core_data_not_offered", "no_policy"}


def exchange_setting(name: str) -> Any:
    """settings.EXCHANGE[name], falling back to DEFAULTS."""
    return {**DEFAULTS, **getattr(settings, "EXCHANGE", {})}[name]


class UploadTooLarge(ServiceError):
    status = 413
    code = "upload_too_large"
    title = "The upload is too large"


def _api_key(actor: User) -> Any:
    return getattr(actor, "api_key", None) if actor.member_role == MemberRole.SYSTEM else None


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


def _invalid(field: str, code: str, message: str) -> ValidationFailed:
    return ValidationFailed(message, code=code, errors={field: [message]})


def _choice(field: str, value: Any, choices: Iterable[Any], code: str) -> None:
    allowed = list(choices)
    if value not in allowed:
        raise _invalid(field, code, f"'{value}' is not allowed; use one of {', '.join(map(str, allowed))}.")


def _own_manager(actor: User, dataset: Dataset) -> bool:
    return actor.member_id == dataset.owner_id and can(actor, Capability.MANAGE_DATASETS, _api_key(actor))


def _own_dataset_manager(actor: User, dataset: Dataset) -> None:
    """Raise unless `actor` manages datasets for `dataset`'s owner (NotPermitted: callers found it first)."""
    if not _own_manager(actor, dataset):
        raise NotPermitted("Only the owner's data stewards may manage this dataset.")


def _steward_of_owner(actor: User, dataset: Dataset) -> bool:
    return actor.member_id == dataset.owner_id and can(actor, Capability.DECIDE_REQUESTS, _api_key(actor))


# --- Datasets -------------------------------------------------------------------------------------------


def dataset_register(
    *,
    actor: User,
    title: str,
    description: str,
    sector: str,
    data_domain: str,
    licence: str,
    contact_name: str,
    contact_email: str,
    grade: int | None = None,
    keywords: Iterable[str] = (),
    spatial_coverage: str = "",
    temporal_start: date | None = None,
    temporal_end: date | None = None,
    update_frequency: str = UpdateFrequency.IRREGULAR,
    personal_information: bool = False,
    source_ids: Iterable[int] = (),
    rights: str = Rights.USE,
) -> Dataset:
    """Register a dataset of the actor's member, listed at once, and append `dataset.registered`.

    A derived dataset takes the highest grade of its sources: without `grade` it gets that one, and a
    lower declared grade is refused (`grade_below_sources`). Sources must be datasets the actor can see
    (`unknown_source`). Raises NotPermitted unless the actor is a data steward (or a key with the manage
    scope) of an active member; ValidationFailed naming the field for bad values. Nothing is written then.
    """
    if actor.member_id is None or not can(actor, Capability.MANAGE_DATASETS, _api_key(actor)):
        raise NotPermitted("Only a data steward of an active member may register datasets.")
    title = (title or "").strip()
    description = (description or "").strip()
    for field, value in (("title", title), ("description", description), ("licence", licence)):
        if not (value or "").strip():
            raise _invalid(field, "required", f"The {field} is required.")
    _choice("sector", sector, Sector.values, "unknown_sector")
    _choice("data_domain", data_domain, DataDomain.values, "unknown_data_domain")
    _choice("update_frequency", update_frequency, UpdateFrequency.values, "unknown_update_frequency")
    _choice("rights", rights, Rights.values, "unknown_rights")
    if grade is not None:
        _choice("grade", grade, Grade.values, "unknown_grade")
    try:
        validate_email(contact_email)
    except DjangoValidationError:
        raise _invalid(
            "contact_email", "invalid_email", f"'{contact_email}' is not a valid e-mail address."
        ) from None
    if temporal_start and temporal_end and temporal_end < temporal_start:
        raise _invalid("temporal_end", "invalid_period", "The coverage ends before it starts.")
    keyword_list = sorted({str(k).strip() for k in keywords if str(k).strip()})
    wanted = sorted({int(pk) for pk in source_ids})
    # Sources the actor could not see are as unknown as missing ones.
    sources = list(
        Dataset.objects.filter(pk__in=wanted).filter(
            Q(status=DatasetStatus.LISTED) | Q(owner_id=actor.member_id)
        )
    )
    missing = sorted(set(wanted) - {source.pk for source in sources})
    if missing:
        raise _invalid(
            "sources", "unknown_source", f"Unknown source dataset: {', '.join(map(str, missing))}."
        )
    floor = policies.effective_grade(None, [source.grade for source in sources])
    if grade is not None and grade < floor:
        raise _invalid(
            "grade",
            "grade_below_sources",
            f"A dataset derived from Level {floor} data is at least Level {floor}.",
        )
    final_grade = policies.effective_grade(grade, [source.grade for source in sources])
    with transaction.atomic():
        now = timezone.now()
        dataset = Dataset.objects.create(
            owner_id=actor.member_id,
            title=title,
            description=description,
            keywords=keyword_list,
            sector=sector,
            data_domain=data_domain,
            spatial_coverage=(spatial_coverage or "").strip(),
            temporal_start=temporal_start,
            temporal_end=temporal_end,
            update_frequency=update_frequency,
            licence=licence.strip(),
            contact_name=(contact_name or "").strip(),
            contact_email=contact_email,
            grade=final_grade,
            personal_information=bool(personal_information),
            rights=rights,
            status=DatasetStatus.LISTED,
            status_changed_at=now,
            created_by=actor,
            created_at=now,
        )
        dataset.sources.set(sources)
        ledger_append(
            kind="dataset.registered",
            actor=actor,
            subject_type="dataset",
            subject_id=dataset.pk,
            members=[dataset.owner_id],
            payload={
                "dataset": dataset.pk,
                "title": dataset.title,
                "grade": dataset.grade,
                "sector": dataset.sector,
                "data_domain": dataset.data_domain,
                "personal_information": int(dataset.personal_information),
                "rights": dataset.rights,
                "sources": [source.pk for source in sorted(sources, key=lambda s: s.pk)],
            },
            api_key=_api_key(actor),
        )
    return dataset


def dataset_withdraw(*, actor: User, dataset: Dataset, reason: str) -> Dataset:
    """listed -> withdrawn, with a reason; the record and its versions stay. Its grants stop working at
    once (the engine refuses a withdrawn dataset). Conflict(illegal_transition) if already withdrawn."""
    _own_dataset_manager(actor, dataset)
    reason = (reason or "").strip()
    if not reason:
        raise _invalid("reason", "reason_required", "A reason is required to withdraw a dataset.")
    with transaction.atomic():
        locked = Dataset.objects.select_for_update().get(pk=dataset.pk)
        if locked.status != DatasetStatus.LISTED:
            raise Conflict(
                "The dataset is already withdrawn.", code="illegal_transition", current_state=locked.status
            )
        locked.status = DatasetStatus.WITHDRAWN
        locked.status_changed_at = timezone.now()
        locked.withdrawn_reason = reason
        locked.save(update_fields=["status", "status_changed_at", "withdrawn_reason"])
        ledger_append(
            kind="dataset.withdrawn",
            actor=actor,
            subject_type="dataset",
            subject_id=locked.pk,
            members=[locked.owner_id],
            payload={"dataset": locked.pk, "grade": locked.grade, "reason": reason},
            api_key=_api_key(actor),
        )
    return locked


# --- Versions -------------------------------------------------------------------------------------------


def _chunks(file: Any, size: int) -> Iterable[bytes]:
    if hasattr(file, "chunks"):
        yield from file.chunks(size)
        return
    while chunk := file.read(size):
        yield chunk


def dataset_version_add(
    *,
    actor: User,
    dataset: Dataset,
    file: IO[bytes] | Any,
    filename: str,
    media_type: str,
    declared_sha256: str | None = None,
) -> DatasetVersion:
    """Add the next immutable version of `dataset` from `file`, streamed in chunks, and append
    `dataset.version_added` with its SHA-256 and size.

    The file is read twice in chunks (once to hash and measure, once by the storage backend), never whole
    into memory; it reaches storage only after it passed every check. Raises UploadTooLarge (413) past
    EXCHANGE["MAX_UPLOAD_BYTES"], ValidationFailed(checksum_mismatch) when `declared_sha256` differs,
    `empty_file`, `invalid_media_type`; Conflict(dataset_withdrawn). Nothing is stored or written then.
    """
    _own_dataset_manager(actor, dataset)
    if dataset.status != DatasetStatus.LISTED:
        raise Conflict("The dataset is withdrawn.", code="dataset_withdrawn", current_state=dataset.status)
    media_type = (media_type or "application/octet-stream").strip().lower()
    if not _MEDIA_TYPE.match(media_type):
        raise _invalid("media_type", "invalid_media_type", f"'{media_type}' is not a media type.")
    filename = re.sub(r"[^\w.\-]+", "_", (filename or "").rsplit("/", 1)[-1]).strip("._") or "data.bin"
    filename = filename[-150:]
    limit = exchange_setting("MAX_UPLOAD_BYTES")
    hasher, size = hashlib.sha256(), 0
    for chunk in _chunks(file, exchange_setting("UPLOAD_CHUNK_BYTES")):
        size += len(chunk)
        if size > limit:
            raise UploadTooLarge(f"The file is larger than the limit of {limit} bytes.", limit_bytes=limit)
        hasher.update(chunk)
    if size == 0:
        raise _invalid("file", "empty_file", "The file is empty.")
    digest = hasher.hexdigest()
    if declared_sha256 is not None:
        declared = declared_sha256.strip().lower()
        if not _SHA256.match(declared) or declared != digest:
            raise _invalid(
                "sha256", "checksum_mismatch", f"The declared SHA-256 does not match the file's ({digest})."
            )
    file.seek(0)
    with transaction.atomic():
        # The dataset row lock numbers versions one at a time; the unique constraint backs it up.
        Dataset.objects.select_for_update().get(pk=dataset.pk)
        number = (dataset.versions.aggregate(last=Max("number"))["last"] or 0) + 1
        version = DatasetVersion(
            dataset=dataset,
            number=number,
            filename=filename,
            sha256=digest,
            size=size,
            media_type=media_type,
            created_by=actor,
            created_at=timezone.now(),
        )
        version.file.save(filename, file, save=False)
        try:
            version.save()
            ledger_append(
                kind="dataset.version_added",
                actor=actor,
                subject_type="dataset",
                subject_id=dataset.pk,
                members=[dataset.owner_id],
                payload={
                    "dataset": dataset.pk,
                    "version": number,
                    "sha256": digest,
                    "size": size,
                    "media_type": media_type,
                    "grade": dataset.grade,
                },
                api_key=_api_key(actor),
            )
        except BaseException:
            version.file.storage.delete(version.file.name)
            raise
    return version


def dataset_version_withdraw(*, actor: User, version: DatasetVersion, reason: str) -> DatasetVersion:
    """Mark `version` withdrawn, with a reason, and append `dataset.version_withdrawn` in the same
    transaction. The row and its file stay (nothing is deleted); grants no longer download it and fall
    back to the latest version not withdrawn (grant_download).

    By the owner's data steward or a consortium officer. Raises NotPermitted for anyone else,
    ValidationFailed(reason_required), Conflict(illegal_transition, current_state="withdrawn") when it
    is already withdrawn. Nothing is written then.
    """
    dataset = version.dataset
    if not (_own_manager(actor, dataset) or can(actor, Capability.REVOKE_ANY_GRANT)):
        raise NotPermitted("Only the owner's data stewards or a consortium officer may withdraw a version.")
    reason = (reason or "").strip()
    if not reason:
        raise _invalid("reason", "reason_required", "A reason is required to withdraw a version.")
    with transaction.atomic():
        locked = DatasetVersion.objects.select_for_update().get(pk=version.pk)
        if locked.withdrawn_at is not None:
            raise Conflict(
                f"Version {locked.number} is already withdrawn.",
                code="illegal_transition",
                current_state="withdrawn",
            )
        locked.withdrawn_at, locked.withdrawn_by, locked.withdrawn_reason = timezone.now(), actor, reason
        locked.save(update_fields=["withdrawn_at", "withdrawn_by", "withdrawn_reason"])
        ledger_append(
            kind="dataset.version_withdrawn",
            actor=actor,
            subject_type="dataset",
            subject_id=dataset.pk,
            members=[dataset.owner_id],
            payload={
                "dataset": dataset.pk,
                "version": locked.number,
                "sha256": locked.sha256,
                "grade": dataset.grade,
                "reason": reason,
            },
            api_key=_api_key(actor),
        )
    return locked


# --- Policies -------------------------------------------------------------------------------------------


def policy_set(
    *,
    actor: User,
    dataset: Dataset,
    tier: str | None = None,
    purposes: Iterable[str] = (),
    terms: str,
    max_duration_days: int | None = None,
    download_quota: int | None = None,
    eligible_size_classes: Iterable[str] = (),
    eligible_sectors: Iterable[str] = (),
    eligible_clusters: Iterable[str] = (),
    allow_list: Iterable[int] = (),
    deny_list: Iterable[int] = (),
    price_credits: int = 0,
) -> AccessPolicy:
    """Create or replace the dataset's policy and append `dataset.policy_set` with the policy's hash.

    Omitted tier, duration and quota take the grade's defaults. Every inconsistency with the grade and the
    vocabularies (see policies.check_policy_consistency) is refused as ValidationFailed whose `code` is the
    first reason's and whose `reasons` lists them all; unknown clusters or members likewise. The revision
    counts changes; the terms version goes up whenever the terms text changes. Requests already undecided
    are judged against the policy in force when decided.
    """
    _own_dataset_manager(actor, dataset)
    if dataset.status != DatasetStatus.LISTED:
        raise Conflict("The dataset is withdrawn.", code="dataset_withdrawn", current_state=dataset.status)
    defaults = policies.default_policy_values(dataset.grade)
    terms = (terms or "").strip()
    if not terms:
        raise _invalid("terms", "required", "The terms a requester accepts are required.")
    candidate = AccessPolicy(
        tier=tier or defaults.get("tier", Tier.CONFIDENTIAL),
        purposes=sorted(set(purposes)),
        max_duration_days=max_duration_days
        if max_duration_days is not None
        else defaults.get("max_duration_days", 1),
        download_quota=download_quota
        if download_quota is not None
        else (
            0 if (tier or defaults.get("tier")) == Tier.CONFIDENTIAL else defaults.get("download_quota", 0)
        ),
        eligible_size_classes=sorted(set(eligible_size_classes)),
        eligible_sectors=sorted(set(eligible_sectors)),
        eligible_clusters=sorted(set(eligible_clusters)),
        allow_list=sorted({int(m) for m in allow_list}),
        deny_list=sorted({int(m) for m in deny_list}),
        price_credits=price_credits,
        terms=terms,
    )
    reasons = policies.check_policy_consistency(dataset, candidate)
    if candidate.price_credits < 0:
        reasons.append(policies.Reason("negative_price", "The price cannot be negative."))
    known = set(Cluster.objects.filter(slug__in=candidate.eligible_clusters).values_list("slug", flat=True))
    if set(candidate.eligible_clusters) - known:
        missing = ", ".join(sorted(set(candidate.eligible_clusters) - known))
        reasons.append(policies.Reason("unknown_cluster", f"Unknown cluster: {missing}."))
    named = set(candidate.allow_list) | set(candidate.deny_list)
    known_members = set(Member.objects.filter(pk__in=named).values_list("pk", flat=True))
    if named - known_members:
        missing = ", ".join(map(str, sorted(named - known_members)))
        reasons.append(policies.Reason("unknown_member", f"Unknown member: {missing}."))
    if reasons:
        raise ValidationFailed(
            reasons[0].message,
            code=reasons[0].code,
            reasons=[{"code": reason.code, "message": reason.message} for reason in reasons],
        )
    with transaction.atomic():
        Dataset.objects.select_for_update().get(pk=dataset.pk)
        current = AccessPolicy.objects.filter(dataset=dataset).first()
        now = timezone.now()
        if current is None:
            policy = candidate
            policy.dataset = dataset
            policy.revision = 1
            policy.terms_version = 1
        else:
            policy = current
            for name in (
                "tier", "purposes", "max_duration_days", "download_quota", "eligible_size_classes",
                "eligible_sectors", "eligible_clusters", "allow_list", "deny_list", "price_credits",
            ):  # fmt: skip
                setattr(policy, name, getattr(candidate, name))
            if policy.terms != candidate.terms:
                policy.terms = candidate.terms
                policy.terms_version += 1
            policy.revision += 1
        policy.updated_by = actor
        policy.updated_at = now
        policy.save()
        document = policies.policy_document(policy, dataset_id=dataset.pk)
        ledger_append(
            kind="dataset.policy_set",
            actor=actor,
            subject_type="dataset",
            subject_id=dataset.pk,
            members=[dataset.owner_id],
            payload={
                **document,
                "grade": dataset.grade,
                "policy_hash": policies.policy_hash(policy, dataset_id=dataset.pk),
            },
            api_key=_api_key(actor),
        )
    dataset.policy = policy
    return policy


# --- Requests -------------------------------------------------------------------------------------------


def _policy_of(dataset: Dataset) -> AccessPolicy | None:
    return AccessPolicy.objects.filter(dataset_id=dataset.pk).first()


def _request_payload(request: AccessRequest, dataset: Dataset, **extra: Any) -> dict[str, Any]:
    return {
        "request": request.pk,
        "dataset": dataset.pk,
        "grade": dataset.grade,
        "tier": request.tier,
        "purpose": request.purpose,
        "duration_days": request.duration_days,
        "requester_member": request.requester_member_id,
        "owner_member": dataset.owner_id,
        **extra,
    }


def _append_request_entry(
    kind: str, actor: User, request: AccessRequest, dataset: Dataset, **extra: Any
) -> LedgerEntry:
    return ledger_append(
        kind=kind,
        actor=actor,
        subject_type="access_request",
        subject_id=request.pk,
        members=[dataset.owner_id, request.requester_member_id],
        payload=_request_payload(request, dataset, **extra),
        api_key=_api_key(actor),
    )


def _latest_version(dataset: Dataset) -> DatasetVersion | None:
    return dataset.versions.filter(withdrawn_at__isnull=True).order_by("-number").first()


def _grant_permissions_sync(*, grant: Grant, now: datetime) -> None:
    """Make the grantee member group's object permissions on the grant's dataset match its active grants:
    `use_dataset` while it holds any, `download_dataset` while one of them allows downloads. Call it in the
    transaction that creates, revokes or expires `grant`. The group row is locked first (NO KEY UPDATE, so
    joining the group is not blocked): a grant created while another one of the same member and dataset
    is revoked cannot leave the permissions out of step."""
    group = Group.objects.select_for_update(no_key=True).get(member__pk=grant.grantee_id)
    active = Grant.objects.filter(
        grantee_id=grant.grantee_id,
        dataset_id=grant.dataset_id,
        revoked_at__isnull=True,
        expired_at__isnull=True,
        valid_from__lte=now,
        valid_until__gt=now,
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


def _grant_create(
    *,
    actor: User,
    request: AccessRequest,
    dataset: Dataset,
    policy: AccessPolicy,
    approvers: list[int],
    now: datetime,
) -> tuple[Grant, LedgerEntry]:
    latest = _latest_version(dataset)
    quota = policy.download_quota if policy.tier != Tier.CONFIDENTIAL else 0
    digest = policies.policy_hash(policy, dataset_id=dataset.pk)
    grant = Grant.objects.create(
        request=request,
        dataset=dataset,
        grantee_id=request.requester_member_id,
        tier=policy.tier,
        purpose=request.purpose,
        policy_hash=digest,
        version_sha256=latest.sha256 if latest else "",
        valid_from=now,
        valid_until=now + timedelta(days=request.duration_days),
        download_quota=quota,
        downloads_remaining=quota,
    )
    _grant_permissions_sync(grant=grant, now=now)
    request.state = RequestState.GRANTED
    request.closed_at = now
    entry = _append_request_entry(
        "access.granted",
        actor,
        request,
        dataset,
        grant=grant.pk,
        policy_hash=digest,
        policy_revision=policy.revision,
        version_sha256=grant.version_sha256,
        valid_from=format_time(grant.valid_from),
        valid_until=format_time(grant.valid_until),
        download_quota=quota,
        price_credits=policy.price_credits,
        approvers=approvers,
    )
    return grant, entry


def access_request_submit(
    *,
    actor: User,
    dataset: Dataset,
    purpose: str,
    justification: str,
    duration_days: int,
    accepted_terms_version: int | None,
) -> tuple[AccessRequest, list[LedgerEntry]]:
    """Ask for `dataset` for `purpose` during `duration_days`, accepting the policy's current terms.

    Appends `access.requested`; for an open-tier dataset the grant follows at once (`access.granted`,
    approvers empty). Returns the request and its entries. Refusals, with nothing written: the engine's
    reasons (ValidationFailed for purpose and duration, NotPermitted for eligibility, Conflict for a
    withdrawn, core or unpoliced dataset; `reasons` lists every one), ValidationFailed(terms_not_accepted),
    Conflict(duplicate_request) when the member already has an undecided request for the dataset.
    """
    if actor.member_id is None or not can(actor, Capability.REQUEST_ACCESS, _api_key(actor)):
        raise NotPermitted("Only people of an active member may request access.")
    justification = (justification or "").strip()
    if not justification:
        raise _invalid("justification", "required", "Say why your member needs the data.")
    policy = _policy_of(dataset)
    now = timezone.now()
    _refuse(
        policies.evaluate(
            member=actor.member,
            dataset=dataset,
            policy=policy,
            purpose=purpose,
            duration_days=duration_days,
            now=now,
        )
    )
    assert policy is not None  # the engine refuses a dataset without a policy
    if accepted_terms_version != policy.terms_version:
        raise ValidationFailed(
            f"Accept version {policy.terms_version} of the dataset's terms to request it.",
            code="terms_not_accepted",
            errors={"accepted_terms_version": [f"Must be {policy.terms_version}."]},
            terms_version=policy.terms_version,
        )
    duplicate = Conflict(
        "Your member already has an undecided request for this dataset.",
        code="duplicate_request",
        current_state=RequestState.PENDING,
    )
    with transaction.atomic():
        if AccessRequest.objects.filter(
            dataset=dataset, requester_member_id=actor.member_id, state__in=UNDECIDED_STATES
        ).exists():
            raise duplicate
        digest = policies.policy_hash(policy, dataset_id=dataset.pk)
        try:
            with transaction.atomic():
                request = AccessRequest.objects.create(
                    dataset=dataset,
                    requester_member_id=actor.member_id,
                    requester=actor,
                    purpose=purpose,
                    justification=justification,
                    duration_days=duration_days,
                    tier=policy.tier,
                    policy_hash=digest,
                    accepted_terms_version=policy.terms_version,
                    created_at=now,
                )
        except IntegrityError:
            raise duplicate from None  # a concurrent submit won the partial unique constraint
        entries = [
            _append_request_entry(
                "access.requested",
                actor,
                request,
                dataset,
                policy_hash=digest,
                terms_version=policy.terms_version,
                justification=justification,
            )
        ]
        if policy.tier == Tier.OPEN:
            _, entry = _grant_create(
                actor=actor, request=request, dataset=dataset, policy=policy, approvers=[], now=now
            )
            request.save(update_fields=["state", "closed_at"])
            entries.append(entry)
            _notify_after_commit("send_decision_notice_task", request.pk, request.state)
        _notify_after_commit("send_request_notice_task", request.pk)
    return request, entries


def _lock_request(request: AccessRequest) -> AccessRequest:
    return AccessRequest.objects.select_for_update(of=("self",)).select_related("dataset").get(pk=request.pk)


def _illegal(action: str, state: str) -> Conflict:
    return Conflict(
        f"Cannot {action} a request that is {state}.", code="illegal_transition", current_state=state
    )


def access_request_approve(
    *, actor: User, request: AccessRequest, reason: str = ""
) -> tuple[AccessRequest, LedgerEntry]:
    """The decider of the request's current stage approves it.

    pending: the owner's data steward. Restricted -> granted (a Grant, `access.granted`); confidential ->
    steward_approved (`access.approved`, stage "steward"). steward_approved: a consortium security officer
    -> granted. The policy in force is evaluated again first (its reasons refuse the approval). Raises
    NotPermitted for anyone else, Conflict(illegal_transition) when the state is not the actor's stage.
    """
    is_steward = _steward_of_owner(actor, request.dataset)
    is_security = can(actor, Capability.DECIDE_CONFIDENTIAL)
    if not (is_steward or is_security):
        raise NotPermitted("Only the owner's data steward or a security officer may decide this request.")
    with transaction.atomic():
        locked = _lock_request(request)
        dataset = locked.dataset
        state = locked.state
        if not (
            (state == RequestState.PENDING and is_steward)
            or (state == RequestState.STEWARD_APPROVED and is_security)
        ):
            raise _illegal("approve", state)
        policy = _policy_of(dataset)
        now = timezone.now()
        _refuse(
            policies.evaluate(
                member=locked.requester_member,
                dataset=dataset,
                policy=policy,
                purpose=locked.purpose,
                duration_days=locked.duration_days,
                now=now,
            )
        )
        assert policy is not None
        reason = (reason or "").strip()
        if state == RequestState.PENDING:
            locked.steward_decided_by, locked.steward_decided_at = actor, now
        else:
            locked.officer_decided_by, locked.officer_decided_at = actor, now
        locked.decision_reason = reason
        if state == RequestState.PENDING and policy.tier == Tier.CONFIDENTIAL:
            locked.state = RequestState.STEWARD_APPROVED
            entry = _append_request_entry(
                "access.approved",
                actor,
                locked,
                dataset,
                stage="steward",
                policy_hash=policies.policy_hash(policy, dataset_id=dataset.pk),
                approvers=[actor.pk],
                reason=reason,
            )
        else:
            approvers = [pk for pk in (locked.steward_decided_by_id, locked.officer_decided_by_id) if pk]
            _, entry = _grant_create(
                actor=actor, request=locked, dataset=dataset, policy=policy, approvers=approvers, now=now
            )
        locked.save()
        _notify_after_commit("send_decision_notice_task", locked.pk, locked.state)
    return locked, entry


def access_request_reject(
    *, actor: User, request: AccessRequest, reason: str
) -> tuple[AccessRequest, LedgerEntry]:
    """An undecided request is rejected, with a reason: by the owner's steward at either stage, or by a
    security officer once the steward approved. `access.rejected`. NotPermitted / Conflict as approve."""
    is_steward = _steward_of_owner(actor, request.dataset)
    is_security = can(actor, Capability.DECIDE_CONFIDENTIAL)
    if not (is_steward or is_security):
        raise NotPermitted("Only the owner's data steward or a security officer may decide this request.")
    reason = (reason or "").strip()
    if not reason:
        raise _invalid("reason", "reason_required", "A reason is required to reject a request.")
    with transaction.atomic():
        locked = _lock_request(request)
        state = locked.state
        if state not in UNDECIDED_STATES or (state == RequestState.PENDING and not is_steward):
            raise _illegal("reject", state)
        now = timezone.now()
        if state == RequestState.PENDING or not is_security:
            locked.steward_decided_by, locked.steward_decided_at = actor, now
        else:
            locked.officer_decided_by, locked.officer_decided_at = actor, now
        locked.state = RequestState.REJECTED
        locked.decision_reason = reason
        locked.closed_at = now
        locked.save()
        entry = _append_request_entry(
            "access.rejected", actor, locked, locked.dataset, stage=state, reason=reason
        )
        _notify_after_commit("send_decision_notice_task", locked.pk, locked.state)
    return locked, entry


def access_request_withdraw(
    *, actor: User, request: AccessRequest, reason: str = ""
) -> tuple[AccessRequest, LedgerEntry]:
    """The requesting member's people withdraw an undecided request (`access.withdrawn`).

    NotPermitted for anyone else; Conflict(illegal_transition) once it is decided.
    """
    if actor.member_id != request.requester_member_id or not can(
        actor, Capability.REQUEST_ACCESS, _api_key(actor)
    ):
        raise NotPermitted("Only the requesting member may withdraw its request.")
    with transaction.atomic():
        locked = _lock_request(request)
        if locked.state not in UNDECIDED_STATES:
            raise _illegal("withdraw", locked.state)
        previous = locked.state
        locked.state = RequestState.WITHDRAWN
        locked.closed_at = timezone.now()
        locked.decision_reason = (reason or "").strip()
        locked.save()
        entry = _append_request_entry(
            "access.withdrawn", actor, locked, locked.dataset, stage=previous, reason=locked.decision_reason
        )
    return locked, entry


def access_request_expire_due(*, now: datetime | None = None) -> int:
    """Expire every request undecided for EXCHANGE["REQUEST_EXPIRY_DAYS"] (`access.expired` each, actor
    none); returns how many. Idempotent: a request already decided is skipped. For the beat task."""
    now = now or timezone.now()
    cutoff = now - timedelta(days=exchange_setting("REQUEST_EXPIRY_DAYS"))
    count = 0
    for pk in AccessRequest.objects.filter(state__in=UNDECIDED_STATES, created_at__lte=cutoff).values_list(
        "pk", flat=True
    ):
        with transaction.atomic():
            locked = _lock_request(AccessRequest(pk=pk))
            if locked.state not in UNDECIDED_STATES:
                continue
            previous = locked.state
            locked.state = RequestState.EXPIRED
            locked.closed_at = now
            locked.save(update_fields=["state", "closed_at"])
            ledger_append(
                kind="access.expired",
                actor=None,
                subject_type="access_request",
                subject_id=locked.pk,
                members=[locked.dataset.owner_id, locked.requester_member_id],
                payload=_request_payload(locked, locked.dataset, stage=previous),
            )
            _notify_after_commit("send_decision_notice_task", locked.pk, locked.state)
            count += 1
    return count


# --- Grants ---------------------------------------------------------------------------------------------


def _grant_payload(grant: Grant, dataset: Dataset, **extra: Any) -> dict[str, Any]:
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


def grant_revoke(*, actor: User, grant: Grant, reason: str) -> tuple[Grant, LedgerEntry]:
    """Revoke a grant at once, with a reason (`access.revoked`): the owner's steward or a consortium
    officer. A download already streaming stops at its next check. Conflict(illegal_transition) when the
    grant is already revoked or expired."""
    dataset = grant.dataset
    if not (_steward_of_owner(actor, dataset) or can(actor, Capability.REVOKE_ANY_GRANT)):
        raise NotPermitted("Only the owner's data steward or a consortium officer may revoke a grant.")
    reason = (reason or "").strip()
    if not reason:
        raise _invalid("reason", "reason_required", "A reason is required to revoke a grant.")
    with transaction.atomic():
        locked = Grant.objects.select_for_update().get(pk=grant.pk)
        now = timezone.now()
        state = locked.state_at(now)
        if state in ("revoked", "expired"):
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
            payload=_grant_payload(locked, dataset, reason=reason),
            api_key=_api_key(actor),
        )
        _notify_after_commit("send_revocation_notice_task", locked.pk)
    return locked, entry


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


def grant_download(
    *, actor: User, grant: Grant, version_number: int | None = None
) -> tuple[Grant, DatasetVersion, LedgerEntry]:
    """Take one download of the grant: re-check the policy engine, decrement the quota and append
    `data.downloaded` (binding the version's checksum), all in one transaction on the locked grant row.

    Defaults to the latest version not withdrawn; a withdrawn version is never served. Raises NotPermitted
    unless the actor is of the grantee member and may request access; Conflict with code grant_revoked,
    grant_expired, grant_not_started or quota_exhausted (and current_state); the engine's reasons
    (NotPermitted(no_raw_download) for confidential data, Conflict(dataset_withdrawn), ...);
    NotFound(no_version) for an unknown version number, Conflict(version_withdrawn) for a withdrawn one,
    Conflict(no_version_available) when no version may be downloaded. Nothing changes then.
    """
    if actor.member_id != grant.grantee_id or not can(actor, Capability.REQUEST_ACCESS, _api_key(actor)):
        raise NotPermitted("Only the grantee member's people may download under this grant.")
    with transaction.atomic():
        # Lock the grant row only ("self"): other grants of the dataset download in parallel.
        locked = (
            Grant.objects.select_for_update(of=("self",))
            .select_related("dataset", "request", "grantee")
            .get(pk=grant.pk)
        )
        now = timezone.now()
        state = locked.state_at(now)
        if state != "active":
            code = {"revoked": "grant_revoked", "expired": "grant_expired"}.get(state, "grant_not_started")
            raise Conflict(f"The grant is {state}.", code=code, current_state=state)
        dataset = locked.dataset
        _refuse(
            policies.evaluate(
                member=locked.grantee,
                dataset=dataset,
                policy=_policy_of(dataset),
                purpose=locked.purpose,
                duration_days=locked.request.duration_days,
                now=now,
                for_download=True,
            )
        )
        # The engine decides; guardian stores who holds access now. Both must agree (the actor is in the
        # grantee member's group, which holds the permission exactly while a grant allows downloads).
        if not ObjectPermissionChecker(actor).has_perm("download_dataset", dataset):
            raise NotPermitted(
                "Your member does not hold the download permission on this dataset.",
                code="download_permission_not_held",
            )
        if locked.downloads_remaining < 1:
            raise Conflict(
                f"All {locked.download_quota} downloads of this grant are used.",
                code="quota_exhausted",
                current_state="exhausted",
            )
        version = _downloadable_version(dataset, version_number)
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
            api_key=_api_key(actor),
        )
    return locked, version, entry


# --- Expiry and notices ---------------------------------------------------------------------------------


def _notify_after_commit(task_name: str, *args: int | str) -> None:
    """Queue the notice task `task_name` of exchange.tasks with `args` once the current transaction
    commits; never if it rolls back. A failure to queue (broker down) is logged, not raised: the change
    is committed by then and a notice must not undo or hide it."""
    from exchange import tasks  # tasks import the services: import at call time

    task = getattr(tasks, task_name)
    transaction.on_commit(lambda: task.delay(*args), robust=True)


def grant_expire_due(*, now: datetime | None = None) -> int:
    """Record the expiry of every grant whose window ended (valid_until <= now), not revoked and not yet
    recorded: `expired_at` is set and `access.expired` appended (actor none, both members), in one
    transaction per grant on its locked row. Returns how many. Idempotent: a grant already recorded,
    revoked, or extended meanwhile is skipped, so a second run writes nothing. For the beat task; every
    access checks the window itself (Grant.state_at), so nothing waits for this to refuse a download."""
    now = now or timezone.now()
    count = 0
    due = Grant.objects.filter(expired_at__isnull=True, revoked_at__isnull=True, valid_until__lte=now)
    for pk in due.order_by("pk").values_list("pk", flat=True):
        with transaction.atomic():
            locked = Grant.objects.select_for_update(of=("self",)).select_related("dataset").get(pk=pk)
            if locked.expired_at is not None or locked.revoked_at is not None or locked.valid_until > now:
                continue
            locked.expired_at = now
            locked.save(update_fields=["expired_at"])
            _grant_permissions_sync(grant=locked, now=now)
            ledger_append(
                kind="access.expired",
                actor=None,
                subject_type="grant",
                subject_id=locked.pk,
                members=[locked.dataset.owner_id, locked.grantee_id],
                payload=_grant_payload(
                    locked,
                    locked.dataset,
                    valid_until=format_time(locked.valid_until),
                    downloads_remaining=locked.downloads_remaining,
                ),
            )
            count += 1
    return count


def grant_expiry_notices_due(*, now: datetime | None = None) -> int:
    """Queue the notice before expiry, once per grant, for every active grant whose window ends within
    EXCHANGE["GRANT_EXPIRY_NOTICE_DAYS"]: `expiry_notice_sent_at` is set on the locked row and the notice
    task queued after commit. Returns how many. Idempotent: a grant already noticed is skipped. No
    ledger entry: a reminder changes no right."""
    now = now or timezone.now()
    horizon = now + timedelta(days=exchange_setting("GRANT_EXPIRY_NOTICE_DAYS"))
    due = Grant.objects.filter(
        expiry_notice_sent_at__isnull=True,
        expired_at__isnull=True,
        revoked_at__isnull=True,
        valid_from__lte=now,
        valid_until__gt=now,
        valid_until__lte=horizon,
    )
    count = 0
    for pk in due.order_by("pk").values_list("pk", flat=True):
        with transaction.atomic():
            locked = Grant.objects.select_for_update().get(pk=pk)
            if locked.expiry_notice_sent_at is not None or locked.state_at(now) != "active":
                continue
            locked.expiry_notice_sent_at = now
            locked.save(update_fields=["expiry_notice_sent_at"])
            _notify_after_commit("send_expiry_notice_task", locked.pk)
            count += 1
    return count
