"""Services for datasets, their immutable versions and their access policies."""

from __future__ import annotations

import hashlib
import secrets
import unicodedata
from collections.abc import Iterable
from datetime import date, timedelta
from typing import Any

from django.core.exceptions import SuspiciousFileOperation
from django.core.exceptions import ValidationError as DjangoValidationError
from django.core.files import File
from django.core.validators import validate_email
from django.db import transaction
from django.db.models import Max, Q
from django.utils import timezone
from django.utils.text import get_valid_filename

from consortium.actors import acting_api_key
from consortium.errors import Conflict, ValidationFailed
from consortium.models import Cluster, Sector, User
from consortium.roles import Capability, can
from consortium.text import refuse_hidden_characters
from consortium.transactions import CommitWatch
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
    RequestState,
    Rights,
    Tier,
    UpdateFrequency,
)
from exchange.selectors import policy_member_choices_for
from exchange.services._common import (
    _MEDIA_TYPE,
    _MEDIA_TYPE_MAX_LENGTH,
    _SHA256,
    UploadTooLarge,
    _choice,
    _decision_binding,
    _invalid,
    _lock_dataset,
    _notify_after_commit,
    _own_manager,
    _policy_hash_in_force,
    _require_of_member,
    dataset_manage_check,
    exchange_setting,
)
from exchange.services.access_requests import _append_request_entry
from ledger.credit.store import lock_credit_consumers
from ledger.services import ledger_append


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
    scope) of an active member; ValidationFailed naming the field for bad values, `hidden_character` for a
    name, title or keyword holding a control or bidi character (consortium.text). Nothing is written then.
    """
    dataset_register_check(actor)
    assert actor.member_id is not None  # refused above otherwise
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
    refuse_hidden_characters(
        title=title,
        licence=licence,
        contact_name=contact_name or "",
        contact_email=contact_email or "",
        spatial_coverage=spatial_coverage or "",
        keywords=keyword_list,
    )
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
        _record_dataset_fact(
            "dataset.registered",
            actor=actor,
            dataset=dataset,
            facts={
                "title": dataset.title,
                "sector": dataset.sector,
                "data_domain": dataset.data_domain,
                "personal_information": int(dataset.personal_information),
                "rights": dataset.rights,
                "sources": [source.pk for source in sorted(sources, key=lambda s: s.pk)],
            },
        )
    return dataset


def dataset_register_check(actor: User) -> None:
    """Raise unless `actor` may register datasets (dataset_register's refusal of the actor, before it
    reads any field): NotPermitted, `insufficient_scope` for an API key without the manage scope."""
    _require_of_member(
        actor,
        actor.member_id,
        Capability.MANAGE_DATASETS,
        "Only a data steward of an active member may register datasets.",
    )


def dataset_withdraw(*, actor: User, dataset: Dataset, reason: str) -> Dataset:
    """listed -> withdrawn, with a reason; the record and its versions stay. Its grants stop working at
    once (the engine refuses a withdrawn dataset). Every undecided request for it (pending or
    steward_approved) becomes withdrawn with its own `access.withdrawn` entry (bound like every decision)
    in the same transaction, and its requester is told after commit. Conflict(illegal_transition) if
    already withdrawn; nothing is written then."""
    dataset_manage_check(actor, dataset)
    reason = (reason or "").strip()
    if not reason:
        raise _invalid("reason", "reason_required", "A reason is required to withdraw a dataset.")
    with transaction.atomic():
        locked = _lock_dataset(dataset)
        if locked.status != DatasetStatus.LISTED:
            raise Conflict(
                "The dataset is already withdrawn.", code="illegal_transition", current_state=locked.status
            )
        locked.status = DatasetStatus.WITHDRAWN
        locked.status_changed_at = timezone.now()
        locked.withdrawn_reason = reason
        locked.save(update_fields=["status", "status_changed_at", "withdrawn_reason"])
        _record_dataset_fact("dataset.withdrawn", actor=actor, dataset=locked, facts={"reason": reason})
        _close_undecided_requests(actor=actor, dataset=locked, reason=reason)
    return locked


def _close_undecided_requests(*, actor: User, dataset: Dataset, reason: str) -> None:
    """Withdraw every undecided request for `dataset` (locked, in the caller's transaction) on behalf of
    its withdrawal: one `access.withdrawn` entry each, and a decision notice to each requester after
    commit. A request decided meanwhile is no longer undecided once its lock is taken, so it is skipped."""
    policy_hash = _policy_hash_in_force(dataset)
    now = timezone.now()
    note = f"The owner withdrew the dataset: {reason}"
    undecided = (
        AccessRequest.objects.select_for_update(no_key=True, of=("self",))
        .filter(dataset_id=dataset.pk, state__in=UNDECIDED_STATES)
        .order_by("requester_member_id", "pk")
    )
    requests = list(undecided)
    lock_credit_consumers([request.requester_member_id for request in requests])
    for request in requests:
        previous = request.state
        request.state = RequestState.WITHDRAWN
        request.closed_at = now
        request.decision_reason = note
        request.save(update_fields=["state", "closed_at", "decision_reason"])
        _append_request_entry(
            "access.withdrawn",
            actor,
            request,
            dataset,
            stage=previous,
            reason=note,
            cause="dataset_withdrawn",
            **_decision_binding(
                dataset=dataset,
                policy_hash=policy_hash,
                purpose=request.purpose,
                approvers=[request.steward_decided_by_id]
                if previous == RequestState.STEWARD_APPROVED
                else [],
                decided_by=actor,
            ),
        )
        _notify_after_commit("send_decision_notice_task", request.pk, request.state)


def _chunks(file: Any, size: int) -> Iterable[bytes]:
    if hasattr(file, "chunks"):
        yield from file.chunks(size)
        return
    while chunk := file.read(size):
        yield chunk


def dataset_manageable_by(*, actor: User, dataset: Dataset) -> bool:
    """Whether `actor` may change `dataset` now (its policy, versions, withdrawal): one of the owner's
    data stewards (or a key with the manage scope) while the dataset is listed. The services check the
    same; interfaces ask this to decide which forms to offer."""
    return _own_manager(actor, dataset) and dataset.status == DatasetStatus.LISTED


def dataset_version_addable_by(*, actor: User, dataset: Dataset) -> bool:
    """Whether dataset_version_add would take a file from `actor` for `dataset` as it stands: as
    dataset_manageable_by, and never for Level 3 (core) data, which is offered as metadata only."""
    return dataset_manageable_by(actor=actor, dataset=dataset) and not policies.metadata_only(dataset.grade)


def dataset_versions_withdrawable_by(*, actor: User, dataset: Dataset) -> bool:
    """Whether dataset_version_withdraw accepts `actor` for versions of `dataset`: the owner's data
    stewards or a consortium officer (the version's own state is the service's to check)."""
    return _own_manager(actor, dataset) or can(actor, Capability.REVOKE_ANY_GRANT)


def dataset_version_add(
    *,
    actor: User,
    dataset: Dataset,
    file: File,
    filename: str,
    media_type: str,
    declared_sha256: str | None = None,
) -> DatasetVersion:
    """Add the next immutable version of `dataset` from `file`, streamed in chunks, and append
    `dataset.version_added` with its SHA-256 and size.

    The file is read twice in chunks (once to hash and measure, once by the storage backend), never whole
    into memory; it reaches storage only after it passed every check, and is deleted again when anything
    after that fails, the commit included, but never once the row committed (whatever an after-commit hook
    raises then). A caller's enclosing transaction that rolls back later leaves the file without a row:
    `dataset_files_sweep` (beat, daily) deletes it. The dataset's status is checked again on its locked
    row, so a withdrawal that commits first wins.
    The version keeps the file's own name as `version_filename` cleans it; the file on disk is named within
    STORED_NAME_MAX_BYTES of UTF-8 (`_stored_name`) and as the storage backend allows.

    Raises UploadTooLarge (413) past EXCHANGE["MAX_UPLOAD_BYTES"], ValidationFailed(checksum_mismatch)
    when `declared_sha256` differs, `empty_file`, `invalid_media_type`, `core_data_not_offered` (a
    Level 3 dataset is offered as metadata only: it never holds a file); Conflict(dataset_withdrawn).
    Nothing is stored or written then.
    """
    dataset_manage_check(actor, dataset)
    if policies.metadata_only(dataset.grade):
        raise _invalid(
            "file", "core_data_not_offered", "Level 3 (core) data is offered as metadata only: no files."
        )
    if dataset.status != DatasetStatus.LISTED:
        raise Conflict("The dataset is withdrawn.", code="dataset_withdrawn", current_state=dataset.status)
    media_type = (media_type or "application/octet-stream").strip().lower()
    # The length counts too: a part's own Content-Type reaches here unchecked by the API's serializer, and
    # PostgreSQL refused one past the column (a 500) where SQLite stored it whole.
    if not _MEDIA_TYPE.match(media_type) or len(media_type) > _MEDIA_TYPE_MAX_LENGTH:
        raise _invalid("media_type", "invalid_media_type", f"'{media_type}' is not a media type.")
    filename = version_filename(filename)
    stored_name = _stored_name(filename)
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
    stored: DatasetVersion | None = None
    commit = CommitWatch()
    try:
        with transaction.atomic():
            # The dataset row lock numbers versions one at a time (the unique constraint backs it up) and
            # orders this upload with a withdrawal: the status read under the lock is the one that counts.
            locked = _lock_dataset(dataset)
            _refuse_unless_listed(locked)
            number = (locked.versions.aggregate(last=Max("number"))["last"] or 0) + 1
            version = DatasetVersion(
                dataset=locked,
                number=number,
                filename=filename,
                sha256=digest,
                size=size,
                media_type=media_type,
                created_by=actor,
                created_at=timezone.now(),
            )
            version.file.save(stored_name, file, save=False)
            stored = version
            # The first of this block's after-commit hooks: those run inside the block's exit, and one that
            # raises later (an interrupt while the inline sequencer runs) must not take the file of a
            # committed row with it.
            commit.start()
            version.save()
            _record_dataset_fact(
                "dataset.version_added",
                actor=actor,
                dataset=locked,
                facts={"version": number, "sha256": digest, "size": size, "media_type": media_type},
            )
    except BaseException:
        # Whatever failed before the commit, or the commit itself: no row points at the stored file.
        if stored is not None and stored.file.name and not commit.happened:
            stored.file.storage.delete(stored.file.name)
        raise
    return version


# Characters Windows refuses in a file name; a download named with one would be renamed or refused there.
_RESERVED_IN_NAMES = str.maketrans(dict.fromkeys('<>:"/\\|?*', "_"))
# Control and format characters (a right-to-left override before "gpj.exe" makes the name read "exe.jpg")
# and lone surrogates: nothing a reader should see in a name, and some spoof one. The zero-width joiner and
# non-joiner stay (Persian, Indic scripts and emoji need them), as do private-use characters (legacy GB 18030
# mappings) and code points newer than Python's Unicode tables (CJK Extension H).
_INVISIBLE_CATEGORIES = frozenset({"Cc", "Cf", "Cs"})
_JOINERS = frozenset({"\u200c", "\u200d"})
VERSION_FILENAME_MAX_CHARS = 150
# DOS device names, which Windows will not save a file under whatever its extension ("nul.csv", "Com1.txt"):
# COM and LPT with a digit, superscripts included, as Microsoft's naming rules list them. CONIN$ and CONOUT$
# are the console's, refused the same way.
_WINDOWS_DEVICE_NAMES = frozenset(
    {"CON", "PRN", "AUX", "NUL", "CONIN$", "CONOUT$"}
    | {f"{port}{digit}" for port in ("COM", "LPT") for digit in "0123456789\u00b9\u00b2\u00b3"}
)


def version_filename(uploaded: str | None) -> str:
    """The name a version keeps, shows and is downloaded under: the upload's own name as its owner wrote
    it (Chinese, spaces and full-width punctuation included, in NFC), without any directory part, with
    whitespace runs as one space, invisible characters dropped, characters Windows refuses in a name as "_",
    no leading or trailing dots or spaces, its last VERSION_FILENAME_MAX_CHARS characters; "data.bin" if
    nothing is left. A name Windows reserves for a device gets "_" in front ("CON.csv" -> "_CON.csv",
    "aux .txt" -> "_aux .txt"): that is, in any case, CON, PRN, AUX, NUL, CONIN$, CONOUT$, or COM or LPT with
    one digit 0-9, ¹, ² or ³, as the whole part before the first dot once trailing spaces are dropped, as
    Windows reads it ("CONSOLE.csv", "com10.csv", "nul_data.csv" and "LPT.csv" stay). Still at most
    VERSION_FILENAME_MAX_CHARS characters: such a name loses its last one. Downloads send it in RFC 6266
    `filename*` (exchange.downloads)."""
    name = unicodedata.normalize("NFC", uploaded or "").replace("\\", "/").rsplit("/", 1)[-1]
    name = "".join(
        " " if character.isspace() else character
        for character in name
        if character.isspace()
        or character in _JOINERS
        or unicodedata.category(character) not in _INVISIBLE_CATEGORIES
    )
    name = " ".join(name.translate(_RESERVED_IN_NAMES).split())
    name = name[-VERSION_FILENAME_MAX_CHARS:].strip(". ") or "data.bin"
    if _names_windows_device(name):
        name = "_" + name[: VERSION_FILENAME_MAX_CHARS - 1].rstrip(". ")
    return name


def _names_windows_device(name: str) -> bool:
    """Whether Windows takes `name` (trailing dots and spaces already gone) for a device: its part before
    the first dot, trailing spaces dropped, is a device name in any case."""
    return name.partition(".")[0].rstrip(" ").upper() in _WINDOWS_DEVICE_NAMES


# File systems limit one name to 255 bytes (ext4, XFS, APFS), not characters: a version's name may be 150
# Chinese characters, 450 bytes in UTF-8. The storage may add "_" and 7 characters to a name it finds taken.
STORED_NAME_MAX_BYTES = 240


def _stored_name(filename: str) -> str:
    """The name the version's file is stored under: `filename` (a `version_filename`) reduced as Django's
    storage reduces names (word characters, dots and hyphens; a name of full-width punctuation alone keeps
    nothing), "data" for a stem left empty ("data.bin" when nothing is left), and cut to
    STORED_NAME_MAX_BYTES of UTF-8 at a character boundary, the extension kept. The version keeps
    `filename` whole; only the file on disk is named differently."""
    try:
        reduced = get_valid_filename(filename)
    except SuspiciousFileOperation:  # nothing left but "", "." or ".."
        reduced = ""
    if not reduced.strip("."):
        return "data.bin"
    stem, dot, extension = reduced.rpartition(".")
    if not dot or len(extension.encode()) > 16:
        stem, extension = reduced, ""
    stem = stem.lstrip(".") or "data"
    suffix = f".{extension}" if extension else ""
    budget = STORED_NAME_MAX_BYTES - len(suffix.encode())
    return stem.encode()[:budget].decode(errors="ignore") + suffix


# An upload's file is stored before its row commits: a file younger than this may still get its row.
ORPHAN_GRACE = timedelta(hours=6)


def dataset_files_sweep(*, older_than: timedelta = ORPHAN_GRACE) -> list[str]:
    """Delete stored version files that no version row names and that are older than `older_than`; return
    their names.

    Such a file is left when the transaction around `dataset_version_add` rolls back after the file was
    stored (the service cleans up its own failures, not an enclosing caller's). One directory per dataset
    under `datasets/`, each compared with that dataset's rows, so memory stays bounded by one dataset.
    Directories emptied are left (storage backends have no directory removal; a new version makes its own).
    """
    root = "datasets"
    storage = DatasetVersion._meta.get_field("file").storage
    if not storage.exists(root):
        return []
    cutoff = timezone.now() - older_than
    deleted: list[str] = []
    for dataset_dir in storage.listdir(root)[0]:
        rows = DatasetVersion.objects.filter(file__startswith=f"{root}/{dataset_dir}/")
        known = set(rows.values_list("file", flat=True))
        for name in _stored_files(storage, f"{root}/{dataset_dir}"):
            if name not in known and storage.get_modified_time(name) < cutoff:
                storage.delete(name)
                deleted.append(name)
    return deleted


def _stored_files(storage: Any, directory: str) -> Iterable[str]:
    directories, files = storage.listdir(directory)
    for name in files:
        yield f"{directory}/{name}"
    for name in directories:
        yield from _stored_files(storage, f"{directory}/{name}")


def _refuse_unless_listed(dataset: Dataset) -> None:
    """Conflict(dataset_withdrawn) unless `dataset` (read under its row lock by the caller) is listed."""
    if dataset.status != DatasetStatus.LISTED:
        raise Conflict("The dataset is withdrawn.", code="dataset_withdrawn", current_state=dataset.status)


def dataset_version_withdraw_check(actor: User, dataset: Dataset) -> None:
    """Raise unless `actor` may withdraw versions of `dataset` (dataset_versions_withdrawable_by):
    NotPermitted, `insufficient_scope` for the owner's API key without the manage scope."""
    if not dataset_versions_withdrawable_by(actor=actor, dataset=dataset):
        _require_of_member(
            actor,
            dataset.owner_id,
            Capability.MANAGE_DATASETS,
            "Only the owner's data stewards or a consortium officer may withdraw a version.",
        )


def dataset_version_withdraw(*, actor: User, version: DatasetVersion, reason: str) -> DatasetVersion:
    """Mark `version` withdrawn, with a reason, and append `dataset.version_withdrawn` in the same
    transaction. The row and its file stay (nothing is deleted); grants no longer download it and fall
    back to the latest version not withdrawn (grant_download).

    By the owner's data steward or a consortium officer. Raises NotPermitted for anyone else,
    ValidationFailed(reason_required), Conflict(illegal_transition, current_state="withdrawn") when it
    is already withdrawn. Nothing is written then.
    """
    dataset = version.dataset
    dataset_version_withdraw_check(actor, dataset)
    reason = (reason or "").strip()
    if not reason:
        raise _invalid("reason", "reason_required", "A reason is required to withdraw a version.")
    with transaction.atomic():
        locked = DatasetVersion.objects.select_for_update(no_key=True).get(pk=version.pk)
        if locked.withdrawn_at is not None:
            raise Conflict(
                f"Version {locked.number} is already withdrawn.",
                code="illegal_transition",
                current_state="withdrawn",
            )
        locked.withdrawn_at, locked.withdrawn_by, locked.withdrawn_reason = timezone.now(), actor, reason
        locked.save(update_fields=["withdrawn_at", "withdrawn_by", "withdrawn_reason"])
        _record_dataset_fact(
            "dataset.version_withdrawn",
            actor=actor,
            dataset=dataset,
            facts={"version": locked.number, "sha256": locked.sha256, "reason": reason},
        )
    return locked


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
    dataset_manage_check(actor, dataset)
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
    # Only members the owner may name (as the portal's form offers them): one it may not see is as
    # unknown as an id that names none. The owner itself is the consistency check's (owner_on_allow_list).
    named = (set(candidate.allow_list) | set(candidate.deny_list)) - {dataset.owner_id}
    nameable = policy_member_choices_for(user=actor, dataset=dataset).filter(pk__in=named)
    unknown = named - set(nameable.values_list("pk", flat=True))
    if unknown:
        missing = ", ".join(map(str, sorted(unknown)))
        reasons.append(policies.Reason("unknown_member", f"Unknown member: {missing}."))
    if reasons:
        raise ValidationFailed(
            reasons[0].message,
            code=reasons[0].code,
            reasons=[{"code": reason.code, "message": reason.message} for reason in reasons],
        )
    with transaction.atomic():
        # A withdrawal that committed after the check above wins: re-check under the row lock.
        _refuse_unless_listed(_lock_dataset(dataset))
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
        policy.salt = secrets.token_hex(16)
        policy.updated_by = actor
        policy.updated_at = now
        policy.save()
        document = policies.policy_document(policy, dataset_id=dataset.pk)
        _record_dataset_fact(
            "dataset.policy_set",
            actor=actor,
            dataset=dataset,
            facts={**document, "policy_hash": policies.policy_hash(policy, dataset_id=dataset.pk)},
        )
    dataset.policy = policy
    return policy


def _record_dataset_fact(kind: str, *, actor: User, dataset: Dataset, facts: dict[str, Any]) -> None:
    """Append a fact about `dataset` (its owner is the party; dataset id and grade always in the payload)."""
    ledger_append(
        kind=kind,
        actor=actor,
        subject_type="dataset",
        subject_id=dataset.pk,
        members=[dataset.owner_id],
        payload={"dataset": dataset.pk, "grade": dataset.grade, **facts},
        api_key=acting_api_key(actor),
    )
