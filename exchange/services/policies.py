"""Services for a dataset's access policy: setting (or replacing) it. What a policy decides, and its hash,
are exchange.policies'."""

from __future__ import annotations

import secrets
from collections.abc import Iterable

from django.db import transaction
from django.utils import timezone

from consortium.errors import ValidationFailed
from consortium.models import Cluster, User
from consortium.text import refuse_hidden_characters_in_text
from exchange import policies
from exchange.models import AccessPolicy, Dataset, Tier
from exchange.selectors import policy_member_choices_for
from exchange.services._common import _invalid, _lock_dataset, _refuse_unless_listed, dataset_offer_check
from exchange.services.datasets import _record_dataset_fact


def policy_set_check(actor: User, dataset: Dataset) -> None:
    """Raise unless `actor` may set a policy of `dataset` and the dataset can take one, before any input is
    read: as dataset_offer_check (a withdrawn dataset, or Level 3 data, whose grade admits no policy
    whatever the body says, are Conflicts)."""
    dataset_offer_check(actor, dataset)


# What policy_set replaces in the policy in force; the terms take a new terms version besides.
_REPLACED = (
    "tier", "purposes", "max_duration_days", "download_quota", "eligible_size_classes",
    "eligible_sectors", "eligible_clusters", "allow_list", "deny_list", "price_credits",
)  # fmt: skip


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
    counts changes; the terms version goes up whenever the terms text changes. The policy in force
    set again unchanged writes nothing (no revision, salt or ledger entry) and is returned as it is.
    Requests already undecided are judged against the policy in force when decided. Refused first as
    policy_set_check says.
    """
    policy_set_check(actor, dataset)
    defaults = policies.default_policy_values(dataset.grade)
    terms = (terms or "").strip()
    if not terms:
        raise _invalid("terms", "required", "The terms a requester accepts are required.")
    refuse_hidden_characters_in_text(terms=terms)
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
            if all(getattr(policy, name) == getattr(candidate, name) for name in (*_REPLACED, "terms")):
                # PUT is idempotent: the policy in force sent again (a partner's sync) is no new
                # revision, salt, hash or ledger entry.
                dataset.policy = policy
                return policy
            for name in _REPLACED:
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
