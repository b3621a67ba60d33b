"""Refusals that docs/api-errors.md gives a code of their own reach the client with that code, not as the
generic validation_error: the serializer reads the value and the service judges it (an unknown role, held
mint decision or leaderboard grouping, an adjustment's amount out of range, a policy's duration or quota
beyond what a field once capped), with `errors` (or a policy's `reasons`) naming the field. The API keys'
codes are in test_api_keys.py, the policy price's in test_exchange_flow.py."""

from __future__ import annotations

import pytest

from consortium.models import User
from exchange.models import AccessPolicy, AccessRequest
from ledger.canonical import MAX_SAFE_INTEGER
from ledger.credit.models import CreditAdjustment
from ledger.models import LedgerEntry
from tests.api.test_problems import assert_problem
from tests.exchange.support import post_request, published, register
from tests.ledger.credit.statement_support import settled_epoch, settled_with_held_mint

pytestmark = pytest.mark.django_db

CREDIT = "/api/v1/credit"


def _refused(response, code: str, field: str) -> None:
    body = assert_problem(response, 400, code)
    assert set(body["errors"]) == {field}


# A blank role is no role given: `required` (test_required_fields.py).
@pytest.mark.parametrize("role", ["king", "ANALYST", " analyst"])
def test_an_unknown_role_is_unknown_role(client_for, member_admin, analyst, role) -> None:
    admin = client_for(member_admin)
    people = User.objects.count()
    new = {"username": "newcomer", "email": "newcomer@own.example", "role": role}
    _refused(admin.post("/api/v1/users/", new, format="json"), "unknown_role", "role")
    assert User.objects.count() == people
    _refused(
        admin.patch(f"/api/v1/users/{analyst.pk}/", {"role": role}, format="json"), "unknown_role", "role"
    )
    analyst.refresh_from_db()
    assert analyst.member_role == "analyst"


def test_a_role_that_is_not_a_string_is_still_a_validation_error(client_for, member_admin, analyst) -> None:
    response = client_for(member_admin).patch(
        f"/api/v1/users/{analyst.pk}/", {"role": ["analyst"]}, format="json"
    )
    _refused(response, "validation_error", "role")


@pytest.mark.parametrize("decision", ["keep", "", "Release"])
def test_an_unknown_held_mint_decision_is_bad_decision(client_for, auditor, decision) -> None:
    epoch, provider = settled_with_held_mint()
    entries = LedgerEntry.objects.count()
    response = client_for(auditor).post(
        f"{CREDIT}/held-mints/{epoch}:{provider.pk}/resolve/",
        {"decision": decision, "reason": "Checked."},
        format="json",
    )
    _refused(response, "bad_decision", "decision")
    assert LedgerEntry.objects.count() == entries
    assert len(client_for(auditor).get(f"{CREDIT}/held-mints/").json()["results"]) == 1


@pytest.mark.parametrize("by", ["height", "Sector", " member"])
def test_an_unknown_leaderboard_grouping_is_bad_grouping(
    client_for, auditor, data_steward, other_analyst, member, other_member, by
) -> None:
    epoch = settled_epoch(provider=data_steward, consumer=other_analyst, members=[member, other_member])
    _refused(client_for(auditor).get(f"{CREDIT}/leaderboard/{epoch}/", {"by": by}), "bad_grouping", "by")


@pytest.mark.parametrize("amount", [0, MAX_SAFE_INTEGER + 1, -MAX_SAFE_INTEGER - 1, 2**62])
def test_an_adjustment_amount_out_of_range_is_bad_amount(client_for, auditor, member, amount) -> None:
    response = client_for(auditor).post(
        f"{CREDIT}/adjustments/", {"member": member.pk, "amount_mcr": amount, "reason": "x"}, format="json"
    )
    _refused(response, "bad_amount", "amount_mcr")
    assert not CreditAdjustment.objects.exists()


def test_the_ends_of_the_adjustment_range_are_proposed(
    client_for, auditor, data_steward, other_analyst, member, other_member
) -> None:
    settled_epoch(provider=data_steward, consumer=other_analyst, members=[member, other_member])
    for amount in (MAX_SAFE_INTEGER, -MAX_SAFE_INTEGER):
        response = client_for(auditor).post(
            f"{CREDIT}/adjustments/",
            {"member": member.pk, "amount_mcr": amount, "reason": "x"},
            format="json",
        )
        assert response.status_code == 201, response.content


# A policy's numbers the serializer capped (36500 days, 2**31 - 1 downloads, none below 0) although the
# policy rules refuse them with codes of their own; the tier decides which code a negative quota gets.
@pytest.mark.parametrize(
    ("tier", "field", "value", "code"),
    [
        ("restricted", "max_duration_days", 36_501, "duration_over_grade_limit"),
        ("restricted", "max_duration_days", 2**62, "duration_over_grade_limit"),
        ("restricted", "download_quota", 2**31, "quota_too_large"),
        ("restricted", "download_quota", 10**18, "quota_too_large"),
        ("restricted", "download_quota", -1, "quota_required"),
        ("confidential", "download_quota", -1, "confidential_no_download"),
    ],
)
def test_a_policy_number_past_the_old_field_caps_is_the_rules_refusal(
    client_for, data_steward, tier, field, value, code
) -> None:
    dataset = register(data_steward, grade=2 if tier == "confidential" else 1)
    entries = LedgerEntry.objects.count()
    body = {"tier": tier, "purposes": ["research"], "terms": "T", field: value}
    response = client_for(data_steward).put(f"/api/v1/datasets/{dataset.pk}/policy/", body, format="json")
    assert [reason["code"] for reason in assert_problem(response, 400, code)["reasons"]] == [code]
    assert not AccessPolicy.objects.exists()
    assert LedgerEntry.objects.count() == entries


@pytest.mark.parametrize(
    ("price", "code"), [(-1, "negative_price"), (-(2**62), "negative_price"), (10**18, "price_out_of_range")]
)
def test_a_price_out_of_range_is_one_reason(client_for, data_steward, price, code) -> None:
    """A negative price was price_out_of_range first and negative_price second: one fault, two reasons, and
    the specific code never the problem's."""
    dataset = register(data_steward, grade=1)
    body = {"tier": "restricted", "purposes": ["research"], "terms": "T", "price_credits": price}
    response = client_for(data_steward).put(f"/api/v1/datasets/{dataset.pk}/policy/", body, format="json")
    assert [reason["code"] for reason in assert_problem(response, 400, code)["reasons"]] == [code]
    assert not AccessPolicy.objects.exists()


@pytest.mark.parametrize(
    ("field", "value"),
    [
        ("max_duration_days", 1.5),
        ("max_duration_days", "long"),
        ("download_quota", 2**63),
        ("download_quota", True),
    ],
)
def test_a_policy_number_of_the_wrong_type_is_still_a_validation_error(
    client_for, data_steward, field, value
) -> None:
    dataset = register(data_steward, grade=1)
    body = {"tier": "restricted", "purposes": ["research"], "terms": "T", field: value}
    response = client_for(data_steward).put(f"/api/v1/datasets/{dataset.pk}/policy/", body, format="json")
    _refused(response, "validation_error", field)
    assert not AccessPolicy.objects.exists()


@pytest.mark.parametrize("days", [36_501, 2**62])
def test_a_request_longer_than_the_old_field_cap_is_duration_over_max(
    client_for, data_steward, other_analyst, days
) -> None:
    dataset = published(data_steward, tier="open")
    entries = LedgerEntry.objects.count()
    response = post_request(client_for(other_analyst), dataset, duration_days=days)
    assert [reason["code"] for reason in assert_problem(response, 400, "duration_over_max")["reasons"]] == [
        "duration_over_max"
    ]
    assert not AccessRequest.objects.exists()
    assert LedgerEntry.objects.count() == entries


# A reason the credit services require (reason_required, `errors` naming it), as the exchange's and the
# members' decisions answer: the serializers refused a blank or missing one first, as validation_error.
NO_REASON = [{"reason": ""}, {"reason": "   "}, {}]


@pytest.mark.parametrize("body", NO_REASON)
def test_a_held_mint_resolved_without_a_reason_is_reason_required(client_for, auditor, body) -> None:
    epoch, provider = settled_with_held_mint()
    entries = LedgerEntry.objects.count()
    response = client_for(auditor).post(
        f"{CREDIT}/held-mints/{epoch}:{provider.pk}/resolve/", {"decision": "release", **body}, format="json"
    )
    _refused(response, "reason_required", "reason")
    assert LedgerEntry.objects.count() == entries
    assert len(client_for(auditor).get(f"{CREDIT}/held-mints/").json()["results"]) == 1


@pytest.mark.parametrize("body", NO_REASON)
def test_an_adjustment_proposed_without_a_reason_is_reason_required(
    client_for, auditor, member, body
) -> None:
    response = client_for(auditor).post(
        f"{CREDIT}/adjustments/", {"member": member.pk, "amount_mcr": 5_000, **body}, format="json"
    )
    _refused(response, "reason_required", "reason")
    assert not CreditAdjustment.objects.exists()


@pytest.mark.parametrize("reason", [None, "x" * 2001, ["why"]])
def test_a_reason_that_is_no_text_or_too_long_is_still_a_validation_error(
    client_for, auditor, member, reason
) -> None:
    epoch, provider = settled_with_held_mint()
    entries = LedgerEntry.objects.count()
    resolve = {"decision": "release", "reason": reason}
    response = client_for(auditor).post(
        f"{CREDIT}/held-mints/{epoch}:{provider.pk}/resolve/", resolve, format="json"
    )
    _refused(response, "validation_error", "reason")
    propose = {"member": member.pk, "amount_mcr": 5_000, "reason": reason}
    _refused(
        client_for(auditor).post(f"{CREDIT}/adjustments/", propose, format="json"),
        "validation_error",
        "reason",
    )
    assert LedgerEntry.objects.count() == entries
    assert not CreditAdjustment.objects.exists()
