"""Services for datasets: registration and withdrawal, and whether an actor may manage one.

Versions are in versions, policies in policies; both append their facts through `_record_dataset_fact`,
here, and refuse a withdrawn dataset through `_common._refuse_unless_listed`.
"""

from __future__ import annotations

from collections.abc import Iterable
from datetime import date
from typing import Any

from django.core.exceptions import ValidationError as DjangoValidationError
from django.core.validators import validate_email
from django.db import transaction
from django.db.models import Q
from django.utils import timezone

from consortium.actors import acting_api_key
from consortium.errors import Conflict
from consortium.models import Sector, User
from consortium.roles import Capability
from consortium.text import refuse_hidden_characters, refuse_hidden_characters_in_text
from exchange import policies
from exchange.models import (
    UNDECIDED_STATES,
    AccessRequest,
    DataDomain,
    Dataset,
    DatasetStatus,
    Grade,
    RequestState,
    Rights,
    UpdateFrequency,
)
from exchange.services._common import (
    _choice,
    _decision_binding,
    _invalid,
    _lock_dataset,
    _notify_after_commit,
    _own_manager,
    _policy_hash_in_force,
    _require_of_member,
    dataset_manage_check,
)
from exchange.services.access_requests import _append_request_entry
from ledger.credit.store import lock_credit_consumers
from ledger.services import ledger_append

# The most distinct keywords a dataset may have: enough to describe it (DCAT catalogues rarely use more than
# a dozen), few enough that a client cannot make a catalogue record of any size (each keyword may have 50
# characters through the API, and the whole list 500 through the portal).
MAX_KEYWORDS = 32


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
    scope) of an active member; ValidationFailed naming the field for bad values (`too_many_keywords` for
    more than MAX_KEYWORDS distinct keywords, repeats counted once), `hidden_character` for a
    name, title or keyword holding a control or bidi character, or a description holding a control other
    than tab and line breaks or a bidi override, embedding or isolate (consortium.text). Nothing is written
    then.
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
    if len(keyword_list) > MAX_KEYWORDS:
        raise _invalid(
            "keywords",
            "too_many_keywords",
            f"At most {MAX_KEYWORDS} distinct keywords: this dataset has {len(keyword_list)}.",
        )
    refuse_hidden_characters(
        title=title,
        licence=licence,
        contact_name=contact_name or "",
        contact_email=contact_email or "",
        spatial_coverage=spatial_coverage or "",
        keywords=keyword_list,
    )
    refuse_hidden_characters_in_text(description=description)
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
    refuse_hidden_characters_in_text(reason=reason)
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


def dataset_manageable_by(*, actor: User, dataset: Dataset) -> bool:
    """Whether `actor` may change `dataset` now (its policy, versions, withdrawal): one of the owner's
    data stewards (or a key with the manage scope) while the dataset is listed. The services check the
    same; interfaces ask this to decide which forms to offer."""
    return _own_manager(actor, dataset) and dataset.status == DatasetStatus.LISTED


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
