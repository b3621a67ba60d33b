"""Services for a dataset's immutable versions: adding one from an upload, withdrawing one, the names a
version keeps and is stored under, and the sweep of stored files left without their row."""

from __future__ import annotations

import hashlib
import unicodedata
from collections.abc import Iterable
from datetime import timedelta
from typing import Any

from django.core.exceptions import SuspiciousFileOperation
from django.core.files import File
from django.db import transaction
from django.db.models import Max
from django.utils import timezone
from django.utils.text import get_valid_filename

from consortium.errors import Conflict
from consortium.models import User
from consortium.roles import Capability, can
from consortium.text import refuse_hidden_characters_in_text
from consortium.transactions import CommitWatch
from exchange import policies
from exchange.models import Dataset, DatasetVersion
from exchange.services._common import (
    _MEDIA_TYPE,
    _MEDIA_TYPE_MAX_LENGTH,
    _SHA256,
    UploadTooLarge,
    _invalid,
    _lock_dataset,
    _own_manager,
    _refuse_unless_listed,
    _require_of_member,
    dataset_offer_check,
    exchange_setting,
)
from exchange.services.datasets import _record_dataset_fact, dataset_manageable_by


def _chunks(file: Any, size: int) -> Iterable[bytes]:
    if hasattr(file, "chunks"):
        yield from file.chunks(size)
        return
    while chunk := file.read(size):
        yield chunk


def dataset_version_addable_by(*, actor: User, dataset: Dataset) -> bool:
    """Whether dataset_version_add would take a file from `actor` for `dataset` as it stands: as
    dataset_manageable_by, and never for Level 3 (core) data, which is offered as metadata only."""
    return dataset_manageable_by(actor=actor, dataset=dataset) and not policies.metadata_only(dataset.grade)


def dataset_version_add_check(actor: User, dataset: Dataset) -> None:
    """Raise unless `actor` may add a version of `dataset` and the dataset can take a file, before the
    upload is read: as dataset_offer_check (a withdrawn dataset, or Level 3 data, which never holds a
    file, are Conflicts)."""
    dataset_offer_check(actor, dataset)


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

    Raises UploadTooLarge (413) past EXCHANGE["MAX_UPLOAD_BYTES"], ValidationFailed(invalid_sha256)
    when `declared_sha256` is not 64 hex digits, `checksum_mismatch` when it differs, `empty_file`,
    `invalid_media_type`; first as dataset_version_add_check (Conflict `dataset_withdrawn`, or
    `core_data_not_offered`: a Level 3 dataset is offered as metadata only and never holds a file);
    Conflict(duplicate_version, version=n) when a version of the dataset not withdrawn has the same SHA-256.
    Nothing is stored or written then.
    """
    dataset_version_add_check(actor, dataset)
    media_type = (media_type or "application/octet-stream").strip().lower()
    # The length counts too: a part's own Content-Type reaches here unchecked by the API's serializer, and
    # PostgreSQL refused one past the column (a 500) where SQLite stored it whole.
    if not _MEDIA_TYPE.match(media_type) or len(media_type) > _MEDIA_TYPE_MAX_LENGTH:
        raise _invalid("media_type", "invalid_media_type", f"'{media_type}' is not a media type.")
    declared = None if declared_sha256 is None else declared_sha256.strip().lower()
    if declared is not None and not _SHA256.match(declared):
        # before reading the file: a digest that is not one is a typo, not a file that differs
        raise _invalid("sha256", "invalid_sha256", "The declared SHA-256 is not 64 hexadecimal digits.")
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
    if declared is not None and declared != digest:
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
            _refuse_same_content(locked, digest)
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


def _refuse_same_content(dataset: Dataset, digest: str) -> None:
    """Conflict(duplicate_version) when a version of `dataset` (read under its row lock) not withdrawn has
    the content `digest`: the same bytes again add nothing a consumer could use, only a second listing of
    them. A withdrawn version's bytes may come back, as the only way to offer them again."""
    same = dataset.versions.filter(sha256=digest, withdrawn_at__isnull=True).order_by("number").first()
    if same is not None:
        raise Conflict(
            f"Version {same.number} of this dataset already has this content (SHA-256 {digest}); "
            "nothing was stored.",
            code="duplicate_version",
            version=same.number,
        )


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
    refuse_hidden_characters_in_text(reason=reason)
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
