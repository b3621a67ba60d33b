"""The policy engine: may this member use that dataset, for this purpose, for this long? And is a policy
consistent with its dataset's grade? Pure functions over plain attributes: no queries, no writes.

A policy is ODRL-shaped: one permission whose constraints are all conjunctive (every one must hold):

* **purpose** is one of the policy's purposes, which come from the fixed `Purpose` vocabulary;
* **duration** (days) is at least 1 and at most the policy's `max_duration_days`;
* **member attributes**: the member's size class is in `eligible_size_classes`, its sector in
  `eligible_sectors`, and it belongs to at least one of `eligible_clusters` (each list empty = any);
* **allow list** (member ids): if not empty, only the listed members are eligible;
* **deny list** (member ids): listed members are never eligible, whatever else holds.

Grades set defaults and limits (`GRADE_RULES`): Level 3 (core) data is never offered beyond its metadata,
Level 2 (important) is never open, and a derived dataset takes the highest grade of its sources. Tiers set
delivery: confidential never allows a raw download; open admits every active member after the terms.

A decision lists every failing constraint as a `Reason(code, message)`, most fundamental first; `code`
values are stable and clients may rely on them. The policy's identity for receipts is `policy_hash`: the
hex SHA-256 of the RFC 8785 canonical bytes of `policy_document`.
"""

from __future__ import annotations

import hashlib
from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any

from consortium.member_status import not_active_detail
from consortium.models import MemberStatus, Sector, SizeClass
from exchange.models import DatasetStatus, Grade, Purpose, Tier
from ledger.canonical import canonical_bytes


@dataclass(frozen=True)
class Reason:
    code: str
    message: str


@dataclass(frozen=True)
class Decision:
    reasons: list[Reason] = field(default_factory=list)

    @property
    def allowed(self) -> bool:
        return not self.reasons

    @property
    def codes(self) -> list[str]:
        return [reason.code for reason in self.reasons]


@dataclass(frozen=True)
class GradeRule:
    """What a grade permits (`tiers`) and suggests (`default_*`), and the longest grant it tolerates."""

    tiers: frozenset[str]
    default_tier: str | None
    max_duration_days: int
    default_duration_days: int
    default_download_quota: int


GRADE_RULES: dict[int, GradeRule] = {
    Grade.LEVEL_1: GradeRule(
        tiers=frozenset(Tier.values),
        default_tier=Tier.OPEN,
        max_duration_days=1825,
        default_duration_days=365,
        default_download_quota=10,
    ),
    Grade.LEVEL_2: GradeRule(
        tiers=frozenset({Tier.RESTRICTED, Tier.CONFIDENTIAL}),
        default_tier=Tier.RESTRICTED,
        max_duration_days=365,
        default_duration_days=90,
        default_download_quota=3,
    ),
    # Core data: metadata only. No tier, so no policy and no request can exist for it.
    Grade.LEVEL_3: GradeRule(
        tiers=frozenset(),
        default_tier=None,
        max_duration_days=0,
        default_duration_days=0,
        default_download_quota=0,
    ),
}


# A grant lasts at least a day, and no grade tolerates one longer than the longest of GRADE_RULES: the
# bounds of a policy's `max_duration_days`, and so of every request's duration.
MIN_DURATION_DAYS = 1
MAX_DURATION_DAYS = max(rule.max_duration_days for rule in GRADE_RULES.values())


@dataclass(frozen=True)
class MemberFacts:
    """The requesting member's attributes the engine looks at."""

    pk: int
    status: str
    size_class: str
    sector: str
    cluster_slugs: frozenset[str] = frozenset()


def member_facts(member: Any) -> MemberFacts:
    """Facts of a Member (its clusters read through `member.clusters.all()`, so prefetch them for lists)."""
    if isinstance(member, MemberFacts):
        return member
    return MemberFacts(
        pk=member.pk,
        status=member.status,
        size_class=member.size_class,
        sector=member.sector,
        cluster_slugs=frozenset(cluster.slug for cluster in member.clusters.all()),
    )


def metadata_only(grade: int) -> bool:
    """Whether data of `grade` is offered as metadata only (Level 3, core): no policy, request or file."""
    return not GRADE_RULES[int(grade)].tiers


# Why a dataset has no policy to read or to request under, as every face says it: the API's policy read,
# the portal's dataset page and the engine's decision.
CORE_DATA_NOT_OFFERED = Reason(
    "core_data_not_offered", "Level 3 (core) data is offered as metadata only: no policy, request or file."
)
NO_POLICY = Reason("no_policy", "The owner has not yet set an access policy for this dataset.")


def policy_absence(*, grade: int, policy: Any | None) -> Reason | None:
    """Why a dataset of `grade` has no policy to read or to request under, or None when `policy` is its
    policy: CORE_DATA_NOT_OFFERED for core data (whatever is stored: its grade never admits one), then
    NO_POLICY while its owner has set none. Core comes first: an owner who has not written a policy is
    not the reason a core dataset offers nothing."""
    if metadata_only(grade):
        return CORE_DATA_NOT_OFFERED
    if policy is None:
        return NO_POLICY
    return None


def allows_raw_download(tier: str) -> bool:
    """Whether a grant of `tier` may take raw downloads: every tier but confidential (on-platform use)."""
    return tier != Tier.CONFIDENTIAL


def effective_grade(declared: int | None, source_grades: Iterable[int]) -> int:
    """The grade a dataset must have: at least the highest of its sources (Level 1 if none is known)."""
    floor = max(source_grades, default=Grade.LEVEL_1)
    return max(floor, declared) if declared is not None else floor


def policy_document(policy: Any, *, dataset_id: int) -> dict[str, Any]:
    """The policy as the ledger binds it: integers, strings and sorted lists only.

    With the policy's `salt` when it has one: everything else in it but the allow and deny lists is shown to
    requesters, and member ids are small integers, so without a secret the hash they see would give the
    lists away to anyone hashing guesses. A policy set before salts were kept hashes as it always did.
    """
    document = {
        "dataset": int(dataset_id),
        "revision": int(policy.revision),
        "tier": str(policy.tier),
        "purposes": sorted(str(p) for p in policy.purposes),
        "max_duration_days": int(policy.max_duration_days),
        "download_quota": int(policy.download_quota),
        "eligible_size_classes": sorted(str(s) for s in policy.eligible_size_classes),
        "eligible_sectors": sorted(str(s) for s in policy.eligible_sectors),
        "eligible_clusters": sorted(str(s) for s in policy.eligible_clusters),
        "allow_list": sorted(int(m) for m in policy.allow_list),
        "deny_list": sorted(int(m) for m in policy.deny_list),
        "price_credits": int(policy.price_credits),
        "terms_version": int(policy.terms_version),
        "terms_sha256": hashlib.sha256((policy.terms or "").encode()).hexdigest(),
    }
    salt = getattr(policy, "salt", "")
    if salt:
        document["salt"] = str(salt)
    return document


def policy_hash(policy: Any, *, dataset_id: int) -> str:
    """Hex SHA-256 of the RFC 8785 bytes of `policy_document`: the same policy always hashes the same."""
    return hashlib.sha256(canonical_bytes(policy_document(policy, dataset_id=dataset_id))).hexdigest()


# Bounds that keep every amount far inside the database's integers and the ledger's safe JSON integers.
MAX_DOWNLOAD_QUOTA = 10_000
MAX_PRICE_CREDITS = 1_000_000


def check_policy_consistency(dataset: Any, policy: Any) -> list[Reason]:
    """Every way `policy` breaks the rules of `dataset`'s grade, its tier or the vocabularies; [] if none."""
    reasons: list[Reason] = []
    grade = int(dataset.grade)
    rule = GRADE_RULES[grade]
    tier = policy.tier
    if metadata_only(grade):
        return [CORE_DATA_NOT_OFFERED]
    if tier not in Tier.values:
        reasons.append(
            Reason("unknown_tier", f"'{tier}' is not a tier; use one of {', '.join(Tier.values)}.")
        )
    elif tier not in rule.tiers:
        reasons.append(
            Reason(
                "tier_not_allowed_for_grade",
                f"Level {grade} data may not be {tier}; allowed: {', '.join(sorted(rule.tiers))}.",
            )
        )
    if tier == Tier.OPEN and getattr(dataset, "personal_information", False):
        reasons.append(
            Reason("personal_information_not_open", "Data with personal information is never open.")
        )
    purposes = list(policy.purposes)
    unknown = sorted(set(purposes) - set(Purpose.values))
    if unknown:
        reasons.append(Reason("unknown_purpose", f"Unknown purpose: {', '.join(unknown)}."))
    if not purposes:
        reasons.append(Reason("no_purpose", "Allow at least one purpose."))
    if policy.max_duration_days < MIN_DURATION_DAYS:
        reasons.append(Reason("duration_invalid", "The maximum duration must be at least one day."))
    elif policy.max_duration_days > rule.max_duration_days:
        reasons.append(
            Reason(
                "duration_over_grade_limit",
                f"Level {grade} data may be granted for at most {rule.max_duration_days} days.",
            )
        )
    if tier == Tier.CONFIDENTIAL and policy.download_quota != 0:
        reasons.append(
            Reason(
                "confidential_no_download", "Confidential data allows no raw download: the quota must be 0."
            )
        )
    if tier in (Tier.OPEN, Tier.RESTRICTED) and policy.download_quota < 1:
        article = "An" if tier == Tier.OPEN else "A"
        reasons.append(Reason("quota_required", f"{article} {tier} policy must allow at least one download."))
    if policy.download_quota > MAX_DOWNLOAD_QUOTA:
        reasons.append(Reason("quota_too_large", f"A grant allows at most {MAX_DOWNLOAD_QUOTA} downloads."))
    if policy.price_credits < 0:
        reasons.append(Reason("negative_price", "The price cannot be negative."))
    elif policy.price_credits > MAX_PRICE_CREDITS:
        reasons.append(
            Reason("price_out_of_range", f"The credit price must be between 0 and {MAX_PRICE_CREDITS}.")
        )
    bad_sizes = sorted(set(policy.eligible_size_classes) - set(SizeClass.values))
    if bad_sizes:
        reasons.append(Reason("unknown_size_class", f"Unknown size class: {', '.join(bad_sizes)}."))
    bad_sectors = sorted(set(policy.eligible_sectors) - set(Sector.values))
    if bad_sectors:
        reasons.append(Reason("unknown_sector", f"Unknown sector: {', '.join(bad_sectors)}."))
    restricts = any(
        (policy.eligible_size_classes, policy.eligible_sectors, policy.eligible_clusters, policy.allow_list)
    )
    if tier == Tier.OPEN and (restricts or policy.deny_list):
        reasons.append(
            Reason(
                "open_with_eligibility", "An open policy admits every active member: no eligibility lists."
            )
        )
    overlap = sorted(set(policy.allow_list) & set(policy.deny_list))
    if overlap:
        reasons.append(Reason("allow_deny_overlap", f"Members on both the allow and deny lists: {overlap}."))
    if getattr(dataset, "owner_id", None) in set(policy.allow_list):
        reasons.append(Reason("owner_on_allow_list", "The owner needs no grant to its own dataset."))
    return reasons


def evaluate(
    *,
    member: Any,
    dataset: Any,
    policy: Any | None,
    purpose: str,
    duration_days: int,
    now: datetime,
    for_download: bool = False,
) -> Decision:
    """Decide whether `member` may use `dataset` under `policy` for `purpose` during `duration_days`.

    With `for_download`, also whether the tier allows a raw download (the re-check at download time).
    `now` is when the decision applies; today no constraint depends on it beyond what the caller checks
    on the grant window, but every caller passes it so time constraints can join without a new signature.
    Never raises for bad input: unknown values are reasons.
    """
    del now  # see the docstring: reserved for time-bound constraints
    facts = member_facts(member)
    reasons: list[Reason] = []
    if dataset.status != DatasetStatus.LISTED:
        return Decision([Reason("dataset_withdrawn", "The dataset has been withdrawn.")])
    absence = policy_absence(grade=dataset.grade, policy=policy)
    if absence is not None:
        return Decision([absence])
    assert policy is not None  # policy_absence said so
    if facts.pk == dataset.owner_id:
        reasons.append(Reason("own_dataset", "A member needs no access request for its own dataset."))
    if facts.status != MemberStatus.ACTIVE:
        detail = not_active_detail(
            facts.status, "it may not request or use data", whose="The requesting member"
        )
        reasons.append(Reason("member_not_active", detail))
    if not for_download:  # grants given before the owner's suspension stay usable
        reasons.extend(_owner_reasons(dataset.owner))
    if purpose not in Purpose.values:
        reasons.append(
            Reason(
                "unknown_purpose", f"'{purpose}' is not a purpose; use one of {', '.join(Purpose.values)}."
            )
        )
    elif purpose not in policy.purposes:
        allowed = ", ".join(_labels(Purpose, policy.purposes))
        reasons.append(
            Reason(
                "purpose_not_allowed",
                f"The policy does not allow {Purpose(purpose).label}; it allows {allowed}.",
            )
        )
    if (
        not isinstance(duration_days, int)
        or isinstance(duration_days, bool)
        or duration_days < MIN_DURATION_DAYS
    ):
        reasons.append(Reason("duration_invalid", "The duration must be a whole number of days, at least 1."))
    elif duration_days > policy.max_duration_days:
        reasons.append(
            Reason("duration_over_max", f"The policy allows at most {policy.max_duration_days} days.")
        )
    reasons.extend(_eligibility(facts, policy))
    if for_download and not allows_raw_download(policy.tier):
        reasons.append(
            Reason(
                "no_raw_download",
                "Confidential data is used on the platform only: a grant of it gives no raw download "
                "(its download quota is 0, its delivery on_platform).",
            )
        )
    return Decision(reasons)


def eligibility(
    *, member: Any, policy: Any, owner: Any, cluster_names: Mapping[str, str] | None = None
) -> Decision:
    """Whether `member` may ask for a dataset of `owner` under `policy` at all, whatever the purpose and
    duration: its status, the owner's, and the policy's member constraints (size class, sector, cluster,
    allow and deny lists). What the catalog tells a member before it asks; `evaluate` still decides a
    request. `cluster_names` (slug -> name) names the policy's clusters in the reasons; a slug it lacks is
    named as it is. Never raises."""
    facts = member_facts(member)
    reasons: list[Reason] = []
    if facts.status != MemberStatus.ACTIVE:
        detail = not_active_detail(facts.status, "its people may not request data", whose="Your member")
        reasons.append(Reason("member_not_active", detail))
    reasons.extend(_owner_reasons(owner))
    return Decision(reasons + _eligibility(facts, policy, cluster_names))


def _owner_reasons(owner: Any) -> list[Reason]:
    """A member that is not active (suspended, withdrawn) offers nothing new: no request of its datasets is
    taken or approved, so none is granted (an open one at once) and none earns it credit meanwhile. The
    reason does not say why: a member's status is not other members' business (the directory hides it)."""
    if owner.status == MemberStatus.ACTIVE:
        return []
    return [
        Reason(
            "requests_paused",
            "The dataset takes no new requests for the moment; grants already given stay usable.",
        )
    ]


def _labels(vocabulary: Any, codes: Iterable[str]) -> list[str]:
    """The labels of `codes` in a choices vocabulary, in the vocabulary's order (an unknown code as is)."""
    labels = dict(vocabulary.choices)
    known = [str(label) for value, label in vocabulary.choices if value in set(codes)]
    return known + sorted(code for code in set(codes) if code not in labels)


def _eligibility(
    facts: MemberFacts, policy: Any, cluster_names: Mapping[str, str] | None = None
) -> list[Reason]:
    if policy.tier == Tier.OPEN:
        return []
    if facts.pk in set(policy.deny_list):
        # One reason only: telling a denied member which other constraints it misses helps nobody.
        return [Reason("member_denied", "The owner does not share this dataset with your member.")]
    reasons: list[Reason] = []
    if policy.allow_list and facts.pk not in set(policy.allow_list):
        reasons.append(Reason("not_on_allow_list", "The dataset is shared only with named members."))
    if policy.eligible_size_classes and facts.size_class not in policy.eligible_size_classes:
        reasons.append(
            Reason(
                "size_class_ineligible",
                f"Only {', '.join(sorted(policy.eligible_size_classes))} enterprises are eligible.",
            )
        )
    if policy.eligible_sectors and facts.sector not in policy.eligible_sectors:
        reasons.append(
            Reason(
                "sector_ineligible",
                f"Only members in the sectors {'; '.join(_labels(Sector, policy.eligible_sectors))} are "
                "eligible.",
            )
        )
    if policy.eligible_clusters and not (facts.cluster_slugs & set(policy.eligible_clusters)):
        names = cluster_names or {}
        clusters = ", ".join(sorted(names.get(slug, slug) for slug in policy.eligible_clusters))
        reasons.append(
            Reason(
                "cluster_ineligible",
                f"Only members of {clusters} are eligible.",
            )
        )
    return reasons


def default_policy_values(grade: int) -> dict[str, Any]:
    """What a new policy of a dataset of `grade` starts from; {} for Level 3, which gets no policy."""
    rule = GRADE_RULES[int(grade)]
    if rule.default_tier is None:
        return {}
    return {
        "tier": rule.default_tier,
        "max_duration_days": rule.default_duration_days,
        "download_quota": rule.default_download_quota,
    }
