"""The exchange's journeys as the people who use the portal walk them: what each page tells them before
they act, where a refusal is shown, and which page leads to the related ones."""

from __future__ import annotations

import html
import re
from typing import Any

import pytest
from django.urls import reverse

from consortium.errors import ServiceError
from exchange import services
from tests.exchange.support import as_user, published, request_access

pytestmark = pytest.mark.django_db


def page_text(response: Any) -> str:
    """The page's visible text, spaces collapsed: inline tags dropped, others read as a space."""
    assert response.status_code in (200, 400), response.status_code
    body = response.content.decode().split("<main", 1)[1]
    body = re.sub(r"</?(?:a|abbr|bdi|code|data|em|span|strong)\b[^>]*>", "", body)
    return re.sub(r"\s+", " ", html.unescape(re.sub(r"<[^>]+>", " ", body)))


def dataset_page(user: Any, dataset: Any) -> tuple[str, str]:
    """The dataset's page for `user`: its markup and its text."""
    response = as_user(user).get(reverse("portal:dataset-detail", args=[dataset.pk]))
    return response.content.decode(), page_text(response)


def refusal_code(user: Any, dataset: Any) -> str | None:
    """The code the service refuses `user`'s request for `dataset` with; None if it would accept one."""
    from django.db import transaction

    try:
        with transaction.atomic():
            request_access(user, dataset)
            transaction.set_rollback(True)
    except ServiceError as error:
        return error.code
    return None


# --- The dataset's page says where the member stands before the request form --------------------------


def test_a_member_holding_a_grant_is_led_to_it_instead_of_a_request_the_service_refuses(
    data_steward, other_analyst
) -> None:
    dataset = published(data_steward, tier="restricted")
    approved, _ = services.access_request_approve(
        actor=data_steward, request=request_access(other_analyst, dataset)
    )
    grant = approved.grant
    markup, text = dataset_page(other_analyst, dataset)
    assert reverse("portal:grant-detail", args=[grant.pk]) in markup
    assert f"Your member holds Grant #{grant.pk} on this dataset" in text
    assert f"with {grant.downloads_remaining} of {grant.download_quota} downloads left" in text
    assert "Submit the request" not in text
    assert refusal_code(other_analyst, dataset) == "already_granted"  # what the page spares them

    services.grant_revoke(actor=data_steward, grant=grant, reason="Ended early.")
    markup, text = dataset_page(other_analyst, dataset)
    assert "Your member holds" not in text and "Submit the request" in text
    assert refusal_code(other_analyst, dataset) is None


def test_a_member_with_an_undecided_request_is_led_to_it(data_steward, other_analyst) -> None:
    dataset = published(data_steward, tier="restricted")
    waiting = request_access(other_analyst, dataset)
    markup, text = dataset_page(other_analyst, dataset)
    assert reverse("portal:request-detail", args=[waiting.pk]) in markup
    assert f"Your member's Request #{waiting.pk} for this dataset is waiting for a decision" in text
    assert "Pending (owner's steward decides)" in text
    assert "Submit the request" not in text
    assert refusal_code(other_analyst, dataset) == "duplicate_request"


def test_a_member_the_policy_leaves_out_is_told_why_before_it_writes_a_request(
    data_steward, other_analyst
) -> None:
    dataset = published(data_steward, tier="restricted", eligible_size_classes=["micro"])
    _, text = dataset_page(other_analyst, dataset)
    assert "Your member may not request this dataset under its policy" in text
    assert "enterprises are eligible" in text
    assert "Submit the request" not in text
    assert refusal_code(other_analyst, dataset) == "size_class_ineligible"


def test_an_eligible_member_with_nothing_pending_gets_the_form_and_the_owner_no_standing(
    data_steward, other_analyst
) -> None:
    dataset = published(data_steward, tier="restricted")
    _, text = dataset_page(other_analyst, dataset)
    assert "Submit the request" in text and "Your member's access" not in text
    _, text = dataset_page(data_steward, dataset)
    assert "Your member's access" not in text and "Submit the request" not in text


# --- What a grant costs, where a requester decides to ask for it --------------------------------------------


def test_the_request_form_states_the_fee_the_approval_then_charges_and_the_price_is_not_it(
    member, other_member, data_steward, other_analyst
) -> None:
    from ledger.credit import engine
    from tests.ledger.credit.support import activate, admit, balance, pending

    activate()
    admit(member, other_member)
    dataset = published(data_steward, tier="restricted", max_duration_days=90, price_credits=7)
    _, text = dataset_page(other_analyst, dataset)
    assert "Fee: 20.000 CR per started 30 days of the duration (60.000 CR for 90 days)" in text
    assert "7 credits The owner's asking price, accepted with the terms. It is not what a grant costs" in text

    allowance = engine.member_allowance(other_member.pk)
    before = balance(allowance)
    approved = request_access(other_analyst, dataset, duration_days=90)
    services.access_request_approve(actor=data_steward, request=approved)
    charged = before - balance(allowance) + pending(allowance)[0]
    assert charged == 60_000  # mCR: what the form said, not the policy's 7 credits


def test_no_fee_is_stated_for_an_open_grant_nor_while_credit_is_inactive(
    member, other_member, data_steward, other_analyst
) -> None:
    restricted = published(data_steward, tier="restricted")
    _, text = dataset_page(other_analyst, restricted)
    assert "Fee:" not in text and "No fee" not in text  # no rules published: nothing is charged

    from tests.ledger.credit.support import activate, admit

    activate()
    admit(member, other_member)
    _, text = dataset_page(other_analyst, published(data_steward, tier="open"))
    assert "No fee: the consortium's credit rules charge nothing for this grant." in text


# --- A refusal stands beside the field it is about -------------------------------------------------------


def test_a_policy_the_grade_refuses_is_refused_field_by_field_and_the_form_says_the_grade_s_rules(
    data_steward,
) -> None:
    from tests.exchange.support import register

    dataset = register(data_steward, grade=2)
    client = as_user(data_steward)
    _, text = dataset_page(data_steward, dataset)
    assert "Level 2 data may be restricted or confidential." in text
    assert "The grade's default (Restricted)" in text
    assert "Empty: 90 days. Level 2 data: at most 365 days." in text

    response = client.post(
        reverse("portal:dataset-policy", args=[dataset.pk]),
        {
            "tier": "open",
            "purposes": ["research"],
            "max_duration_days": 400,
            "download_quota": 0,
            "price_credits": 0,
            "terms": "Research only.",
        },
    )
    assert response.status_code == 400
    errors = response.context["policy_form"].errors
    assert errors["tier"] == ["Level 2 data may not be open; allowed: confidential, restricted."]
    assert errors["max_duration_days"] == ["Level 2 data may be granted for at most 365 days."]
    assert "download" in errors["download_quota"][0]
    assert "__all__" not in errors
    assert response.context["policy_form"]["max_duration_days"].value() == "400"  # what was typed stays


def test_a_request_s_refusals_stand_beside_their_fields_and_only_allowed_purposes_are_offered(
    data_steward, other_analyst
) -> None:
    dataset = published(data_steward, tier="restricted", purposes=["research"], max_duration_days=30)
    client = as_user(other_analyst)
    page = client.get(reverse("portal:dataset-detail", args=[dataset.pk]))
    offered = [value for value, _ in page.context["request_form"].fields["purpose"].widget.choices]
    assert offered == ["", "research"]

    form = {"purpose": "ai_training", "justification": "Train.", "duration_days": 45, "terms_version": 1}
    errors = (
        client.post(reverse("portal:dataset-detail", args=[dataset.pk]), form).context["request_form"].errors
    )
    assert errors["purpose"] == ["The policy does not allow AI model training; it allows Research."]
    assert errors["duration_days"] == ["The policy allows at most 30 days."]
    assert "__all__" not in errors

    form |= {"purpose": "research", "duration_days": 30}  # terms not accepted
    errors = (
        client.post(reverse("portal:dataset-detail", args=[dataset.pk]), form).context["request_form"].errors
    )
    assert errors == {"accept_terms": ["Accept version 1 of the dataset's terms to request it."]}


# --- Refusals and policies in words, not stored codes ----------------------------------------------------


def test_a_policy_and_its_refusals_name_purposes_sectors_and_clusters_in_words(
    data_steward, other_analyst
) -> None:
    from consortium.models import Cluster

    Cluster.objects.create(slug="prd-electronics", name="Pearl River Delta electronics")
    dataset = published(
        data_steward,
        tier="restricted",
        purposes=["research"],
        eligible_sectors=["C", "I"],
        eligible_clusters=["prd-electronics"],
    )
    _, text = dataset_page(other_analyst, dataset)
    assert "Eligible clusters Pearl River Delta electronics" in text
    assert (
        "Only members of Pearl River Delta electronics are eligible." in text
        and "prd-electronics" not in text
    )

    client = as_user(other_analyst)
    form = {"purpose": "ai_training", "justification": "Train.", "duration_days": 30, "terms_version": 1}
    response = client.post(reverse("portal:dataset-detail", args=[dataset.pk]), form)
    said = page_text(response)
    assert "The policy does not allow AI model training; it allows Research." in said

    other = published(data_steward, tier="restricted", eligible_sectors=["A", "I"])
    _, text = dataset_page(other_analyst, other)  # the other member is in sector C
    assert (
        "Only members in the sectors A Agriculture, forestry, animal husbandry and fishery; I Information "
        "transmission, software and information technology services are eligible." in text
    )

    with pytest.raises(ServiceError) as refused:
        services.policy_set(
            actor=data_steward, dataset=other, tier="open", download_quota=0, terms="x", purposes=["research"]
        )
    assert "An open policy must allow at least one download." in {
        r["message"] for r in refused.value.extra["reasons"]
    }


def test_a_repeated_request_is_refused_with_the_request_s_state_in_words(data_steward, other_analyst) -> None:
    dataset = published(data_steward, tier="restricted")
    waiting = request_access(other_analyst, dataset)
    with pytest.raises(ServiceError) as refused:
        request_access(other_analyst, dataset)
    assert refused.value.detail == (
        f"Your member already has an undecided request for this dataset: request {waiting.pk}, pending "
        "(owner's steward decides). Wait for its decision, or withdraw it to request again."
    )


# --- A request's page offers each person what they may do, in their words -------------------------------


def test_the_requester_is_offered_a_withdrawal_not_a_decision_that_needs_a_reason_to_reject(
    data_steward, other_analyst
) -> None:
    waiting = request_access(other_analyst, published(data_steward, tier="restricted"))
    url = reverse("portal:request-detail", args=[waiting.pk])
    text = page_text(as_user(other_analyst).get(url))
    assert "Withdraw the request" in text and "nothing is charged" in text
    assert "Decide" not in text and "Required to reject" not in text
    assert "Optional: recorded with the withdrawal." in text

    text = page_text(as_user(data_steward).get(url))
    assert "Decide" in text and "Required to reject." in text and "Withdraw the request" not in text


# --- A credit line leads to what it is for -----------------------------------------------------------------


def test_a_grant_fee_s_lines_on_the_statement_lead_to_the_request(
    data_steward, other_analyst, member, other_member, auditor
) -> None:
    from exchange.models import AccessRequest
    from tests.ledger.credit.statement_support import settled_epoch

    settled_epoch(provider=data_steward, consumer=other_analyst, members=[member, other_member])
    paid_for = AccessRequest.objects.get()
    link = reverse("portal:request-detail", args=[paid_for.pk])
    for reader, query in ((other_analyst, ""), (data_steward, ""), (auditor, f"?member={other_member.pk}")):
        client = as_user(reader)
        statement = client.get(reverse("portal:credit-statement") + query).content.decode()
        assert f'<a href="{link}">request:{paid_for.pk}</a>' in statement, reader
        assert client.get(link).status_code == 200  # each reader of the line may open the request


# --- A grant that offers no download says why, and what the grantee can do ------------------------------


def test_a_grant_with_no_download_left_or_ended_tells_the_grantee_why_and_what_next(
    data_steward, other_analyst
) -> None:
    dataset = published(data_steward, tier="open", download_quota=2)
    grant = request_access(other_analyst, dataset).grant
    for _ in range(2):
        services.grant_download(actor=other_analyst, grant=grant)[3].close()
    url = reverse("portal:grant-detail", args=[grant.pk])
    text = page_text(as_user(other_analyst).get(url))
    assert "Download the latest version" not in text
    assert "All 2 downloads of this grant are used." in text
    assert "a new request for the dataset is accepted only once it ends" in text
    assert refusal_code(other_analyst, dataset) == "already_granted"  # as the page says
    assert "downloads of this grant are used" not in page_text(as_user(data_steward).get(url))

    services.grant_revoke(actor=data_steward, grant=grant, reason="Ended early.")
    text = page_text(as_user(other_analyst).get(url))
    assert "This grant has ended: it was revoked." in text and "request the dataset again" in text
    assert refusal_code(other_analyst, dataset) is None  # and a new request is accepted


# --- The owner's notice of a request asks for a decision only when one is due ------------------------------


def test_the_owner_is_asked_to_decide_a_pending_request_but_only_told_of_an_open_one(
    data_steward, other_analyst, mailoutbox, django_capture_on_commit_callbacks
) -> None:
    with django_capture_on_commit_callbacks(execute=True):
        request_access(other_analyst, published(data_steward, tier="restricted"))
        granted = request_access(other_analyst, published(data_steward, tier="open"))
    asked, told = (message for message in mailoutbox if message.subject.startswith("New access request"))
    assert "Decide it at:" in asked.body
    assert "Decide it at:" not in told.body
    assert (
        "It is granted at once: the dataset's tier is open, so nothing waits for your decision." in told.body
    )
    assert "See it at:       http" in told.body and f"/requests/{granted.pk}/" in told.body
