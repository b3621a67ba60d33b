"""The policy engine and the grade rules, as pure functions (no database)."""

from __future__ import annotations

from datetime import UTC, datetime
from types import SimpleNamespace

import pytest
from hypothesis import given
from hypothesis import strategies as st

from consortium.models import Sector, SizeClass
from exchange.models import Purpose, Tier
from exchange.policies import (
    GRADE_RULES,
    MAX_DOWNLOAD_QUOTA,
    MAX_PRICE_CREDITS,
    MemberFacts,
    check_policy_consistency,
    effective_grade,
    eligibility,
    evaluate,
    policy_hash,
)

NOW = datetime(2026, 11, 24, 6, 0, tzinfo=UTC)
OWNER = 1


def dataset(**extra):
    return SimpleNamespace(
        **{
            "pk": 10,
            "owner_id": OWNER,
            "owner": SimpleNamespace(pk=OWNER, status="active"),
            "grade": 1,
            "status": "listed",
            "personal_information": False,
            **extra,
        }
    )


def policy(**extra):
    values = {
        "tier": Tier.RESTRICTED,
        "purposes": [Purpose.RESEARCH],
        "max_duration_days": 90,
        "download_quota": 3,
        "eligible_size_classes": [],
        "eligible_sectors": [],
        "eligible_clusters": [],
        "allow_list": [],
        "deny_list": [],
        "price_credits": 0,
        "terms": "Terms.",
        "terms_version": 1,
        "revision": 1,
    }
    return SimpleNamespace(**{**values, **extra})


def member(pk=2, **extra):
    return MemberFacts(
        **{
            "pk": pk,
            "status": "active",
            "size_class": "medium",
            "sector": "C",
            "cluster_slugs": frozenset(),
            **extra,
        }
    )


def decide(m=None, d=None, p=None, purpose="research", duration=30, **kw):
    return evaluate(
        member=m or member(),
        dataset=d or dataset(),
        policy=p or policy(),
        purpose=purpose,
        duration_days=duration,
        now=NOW,
        **kw,
    )


def test_allowed_request() -> None:
    decision = decide()
    assert decision.allowed and decision.codes == []


@pytest.mark.parametrize(
    ("kwargs", "code"),
    [
        ({"purpose": "espionage"}, "unknown_purpose"),
        ({"purpose": "ai_training"}, "purpose_not_allowed"),
        ({"duration": 91}, "duration_over_max"),
        ({"duration": 0}, "duration_invalid"),
        ({"duration": True}, "duration_invalid"),
        ({"m": member(pk=OWNER)}, "own_dataset"),
        ({"m": member(status="suspended")}, "member_not_active"),
        ({"p": policy(eligible_size_classes=["large"])}, "size_class_ineligible"),
        ({"p": policy(eligible_sectors=["D"])}, "sector_ineligible"),
        ({"p": policy(eligible_clusters=["pearl-river"])}, "cluster_ineligible"),
        ({"p": policy(allow_list=[7])}, "not_on_allow_list"),
        ({"p": policy(deny_list=[2])}, "member_denied"),
        ({"d": dataset(status="withdrawn")}, "dataset_withdrawn"),
        ({"d": dataset(grade=3)}, "core_data_not_offered"),
        ({"p": policy(tier="confidential", download_quota=0), "for_download": True}, "no_raw_download"),
    ],
)
def test_each_constraint_refuses_with_its_code(kwargs, code) -> None:
    decision = decide(**kwargs)
    assert not decision.allowed
    assert code in decision.codes


def test_no_policy_and_every_reason_listed() -> None:
    assert evaluate(
        member=member(), dataset=dataset(), policy=None, purpose="research", duration_days=1, now=NOW
    ).codes == ["no_policy"]
    decision = decide(purpose="espionage", duration=1000, p=policy(eligible_sectors=["D"]))
    assert decision.codes == ["unknown_purpose", "duration_over_max", "sector_ineligible"]


def test_cluster_membership_and_open_tier() -> None:
    assert decide(m=member(cluster_slugs=frozenset({"a", "b"})), p=policy(eligible_clusters=["b"])).allowed
    # Open admits every active member; eligibility lists do not apply.
    assert decide(p=policy(tier="open", eligible_sectors=["D"])).allowed


@pytest.mark.parametrize(
    ("grade", "extra", "codes"),
    [
        (3, {}, {"core_data_not_offered"}),
        (2, {"tier": "open"}, {"tier_not_allowed_for_grade"}),
        (2, {"max_duration_days": 366}, {"duration_over_grade_limit"}),
        (1, {"tier": "confidential", "download_quota": 2}, {"confidential_no_download"}),
        (1, {"download_quota": 0}, {"quota_required"}),
        (1, {"tier": "open", "download_quota": 0}, {"quota_required"}),
        (1, {"purposes": []}, {"no_purpose"}),
        (1, {"purposes": ["espionage"]}, {"unknown_purpose"}),
        (1, {"tier": "open", "eligible_sectors": ["C"]}, {"open_with_eligibility"}),
        (1, {"tier": "open", "eligible_clusters": ["pearl-river"]}, {"open_with_eligibility"}),
        (1, {"tier": "open", "deny_list": [2]}, {"open_with_eligibility"}),
        (1, {"allow_list": [2], "deny_list": [2]}, {"allow_deny_overlap"}),
        (1, {"allow_list": [OWNER]}, {"owner_on_allow_list"}),
        (
            1,
            {"eligible_size_classes": ["huge"], "eligible_sectors": ["Z"]},
            {"unknown_size_class", "unknown_sector"},
        ),
        (1, {"tier": "secret"}, {"unknown_tier"}),
        (1, {"price_credits": -1}, {"negative_price"}),
    ],
)
def test_inconsistent_policies(grade, extra, codes) -> None:
    assert {r.code for r in check_policy_consistency(dataset(grade=grade), policy(**extra))} == codes


def test_membership_in_any_one_eligible_cluster_suffices() -> None:
    one_of_two = policy(eligible_clusters=["a", "b"])
    assert decide(m=member(cluster_slugs=frozenset({"a"})), p=one_of_two).allowed
    assert decide(m=member(cluster_slugs=frozenset({"c"})), p=one_of_two).codes == ["cluster_ineligible"]


def test_every_member_on_the_allow_list_is_eligible_not_only_the_first() -> None:
    listed = policy(allow_list=[7, 2, 9])
    assert decide(m=member(pk=2), p=listed).allowed
    assert decide(m=member(pk=9), p=listed).allowed
    assert decide(m=member(pk=3), p=listed).codes == ["not_on_allow_list"]


def test_catalog_eligibility_refuses_a_member_that_is_not_active() -> None:
    owner = dataset().owner
    assert eligibility(member=member(), policy=policy(), owner=owner).allowed
    decision = eligibility(member=member(status="suspended"), policy=policy(), owner=owner)
    assert decision.codes == ["member_not_active"]


@pytest.mark.parametrize("status", ["suspended", "withdrawn"])
def test_an_owner_that_is_not_active_takes_no_new_request_but_its_grants_stay_usable(status) -> None:
    """Its datasets take no request (an open one would be granted at once and earn it credit) and no
    approval; a download under a grant given before goes on."""
    inactive = dataset(owner=SimpleNamespace(pk=OWNER, status=status))
    assert decide(d=inactive).codes == ["requests_paused"]
    assert decide(d=inactive, p=policy(tier="open")).codes == ["requests_paused"]
    assert eligibility(member=member(), policy=policy(), owner=inactive.owner).codes == ["requests_paused"]
    assert decide(d=inactive, for_download=True).allowed


@pytest.mark.parametrize(("grade", "limit"), [(1, 1825), (2, 365)])
def test_a_policy_may_last_exactly_its_grades_limit_and_not_a_day_more(grade, limit) -> None:
    assert check_policy_consistency(dataset(grade=grade), policy(max_duration_days=limit)) == []
    over = check_policy_consistency(dataset(grade=grade), policy(max_duration_days=limit + 1))
    assert [r.code for r in over] == ["duration_over_grade_limit"]


def test_quota_and_price_bounds_are_inclusive() -> None:
    at_bounds = policy(download_quota=MAX_DOWNLOAD_QUOTA, price_credits=MAX_PRICE_CREDITS)
    assert check_policy_consistency(dataset(), at_bounds) == []
    over = policy(download_quota=MAX_DOWNLOAD_QUOTA + 1, price_credits=MAX_PRICE_CREDITS + 1)
    assert {r.code for r in check_policy_consistency(dataset(), over)} == {
        "quota_too_large",
        "price_out_of_range",
    }


def test_personal_information_is_never_open() -> None:
    reasons = check_policy_consistency(dataset(personal_information=True), policy(tier="open"))
    assert [r.code for r in reasons] == ["personal_information_not_open"]


def test_consistent_defaults_for_each_offered_grade() -> None:
    for grade, rule in GRADE_RULES.items():
        if rule.default_tier is None:
            continue
        p = policy(
            tier=rule.default_tier,
            max_duration_days=rule.default_duration_days,
            download_quota=rule.default_download_quota,
        )
        assert check_policy_consistency(dataset(grade=grade), p) == []


@given(declared=st.one_of(st.none(), st.integers(1, 3)), sources=st.lists(st.integers(1, 3), max_size=5))
def test_derived_grade_is_never_below_a_source(declared, sources) -> None:
    grade = effective_grade(declared, sources)
    assert grade >= max(sources, default=1)
    assert grade in (1, 2, 3)
    if declared is not None:
        assert grade >= declared


policies_st = st.builds(
    lambda tier, purposes, days, quota, sizes, sectors, allow, deny: policy(
        tier=tier,
        purposes=purposes,
        max_duration_days=days,
        download_quota=quota,
        eligible_size_classes=sizes,
        eligible_sectors=sectors,
        allow_list=allow,
        deny_list=deny,
    ),
    st.sampled_from(Tier.values),
    st.lists(st.sampled_from(Purpose.values), unique=True),
    st.integers(0, 4000),
    st.integers(0, 20),
    st.lists(st.sampled_from(SizeClass.values), unique=True, max_size=3),
    st.lists(st.sampled_from(Sector.values), unique=True, max_size=3),
    st.lists(st.integers(1, 6), unique=True, max_size=3),
    st.lists(st.integers(1, 6), unique=True, max_size=3),
)
members_st = st.builds(
    MemberFacts,
    pk=st.integers(1, 6),
    status=st.sampled_from(["active", "suspended"]),
    size_class=st.sampled_from(SizeClass.values),
    sector=st.sampled_from(Sector.values),
    cluster_slugs=st.frozensets(st.sampled_from(["a", "b"])),
)


@given(p=policies_st, grade=st.integers(1, 3), personal=st.booleans())
def test_consistent_policies_obey_the_grade_ladder(p, grade, personal) -> None:
    if check_policy_consistency(dataset(grade=grade, personal_information=personal), p):
        return
    assert grade != 3
    assert not (grade == 2 and p.tier == "open")
    assert not (p.tier == "confidential" and p.download_quota > 0)
    assert not (personal and p.tier == "open")
    assert 1 <= p.max_duration_days <= GRADE_RULES[grade].max_duration_days


@given(
    p=policies_st,
    m=members_st,
    grade=st.integers(1, 3),
    purpose=st.sampled_from([*Purpose.values, "x"]),
    duration=st.integers(-5, 4000),
    for_download=st.booleans(),
)
def test_an_allowed_decision_meets_every_constraint(p, m, grade, purpose, duration, for_download) -> None:
    decision = evaluate(
        member=m,
        dataset=dataset(grade=grade),
        policy=p,
        purpose=purpose,
        duration_days=duration,
        now=NOW,
        for_download=for_download,
    )
    assert decision.allowed == (not decision.reasons)
    if not decision.allowed:
        return
    assert grade != 3 and m.status == "active" and m.pk != OWNER
    assert purpose in p.purposes and 1 <= duration <= p.max_duration_days
    if p.tier != "open":
        assert m.pk not in p.deny_list
        assert not p.allow_list or m.pk in p.allow_list
        assert not p.eligible_sectors or m.sector in p.eligible_sectors
        assert not p.eligible_size_classes or m.size_class in p.eligible_size_classes
    assert not (for_download and p.tier == "confidential")


@given(p=policies_st)
def test_policy_hash_is_stable_and_order_free(p) -> None:
    reordered = policy(
        **{**vars(p), "purposes": list(reversed(p.purposes)), "deny_list": list(reversed(p.deny_list))}
    )
    assert policy_hash(p, dataset_id=10) == policy_hash(reordered, dataset_id=10)
    assert len(policy_hash(p, dataset_id=10)) == 64
    changed = policy(**{**vars(p), "price_credits": p.price_credits + 1})
    assert policy_hash(changed, dataset_id=10) != policy_hash(p, dataset_id=10)
    assert policy_hash(p, dataset_id=11) != policy_hash(p, dataset_id=10)
