"""Free text over several lines (a dataset's description, a policy's terms, a request's justification, the
reason for any decision) refuses the characters that cannot be stored or that hide text: NUL (PostgreSQL's
text cannot hold it), the other controls but tab and line breaks, lone surrogates and the bidi overrides,
embeddings and isolates (consortium.text, multi-line mode). The services refuse them, so every path answers
400 `hidden_character` naming the field and the character, and nothing is written."""

from __future__ import annotations

import html
import json
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

import pytest
from django.urls import reverse

from consortium.models import Member, MemberStatusChange
from consortium.text import BIDI_CONTROLS, BIDI_MARKS, hidden_characters
from exchange.models import AccessPolicy, AccessRequest, Dataset, DatasetVersion, Grant
from ledger.credit.models import CreditAdjustment
from ledger.models import LedgerEntry
from tests.api.test_problems import assert_problem
from tests.exchange.support import DATASET_RECORD, REGISTRATION_FORM, as_user, published, request_access
from tests.ledger.credit.statement_support import settled_with_held_mint
from tests.ledger.credit.support import activate, admit

pytestmark = pytest.mark.django_db

NUL, ESC, RLO, LONE_SURROGATE = "\x00", "\x1b", "\u202e", "\ud800"
REFUSED = {NUL: "U+0000", ESC: "U+001B", RLO: "U+202E RIGHT-TO-LEFT OVERRIDE"}


@pytest.mark.parametrize(
    "character", [NUL, ESC, "\x7f", "\x85", LONE_SURROGATE, *sorted(BIDI_CONTROLS - BIDI_MARKS)]
)
def test_free_text_may_not_hold_other_controls_lone_surrogates_or_scoped_bidi_controls(character) -> None:
    assert hidden_characters(f"One{character}\ntwo{character}", multiline=True) == [character]


def test_free_text_may_hold_tabs_line_breaks_and_the_bidi_marks() -> None:
    assert hidden_characters("a\tb\r\nc\u200e\u200f\u061c", multiline=True) == []
    assert hidden_characters("a\tb\r\nc\u200e\u200f\u061c") == [
        "\t",
        "\r",
        "\n",
        "\u200e",
        "\u200f",
        "\u061c",
    ]


@dataclass
class Scene:
    """One API write taking free text: who sends it, where, the body around the field, the field."""

    client: Any
    url: str
    body: dict[str, Any]
    field: str
    method: str = "post"

    def send(self, text: str) -> Any:
        return getattr(self.client, self.method)(self.url, {**self.body, self.field: text}, format="json")

    def send_raw(self, encoded: str) -> Any:
        """The body with the field's value written as `encoded`, a JSON string literal as given."""
        body = json.dumps({**self.body, self.field: "@@"}).replace('"@@"', encoded)
        return getattr(self.client, self.method)(self.url, body, content_type="application/json")


def _stored() -> tuple:
    """Everything the writes under test could change."""
    return (
        LedgerEntry.objects.count(),
        list(Dataset.objects.values_list("pk", "status", "description", "withdrawn_reason")),
        list(AccessPolicy.objects.values_list("pk", "terms", "revision")),
        list(AccessRequest.objects.values_list("pk", "state", "justification", "decision_reason")),
        list(Grant.objects.values_list("pk", "revoked_at", "revoked_reason")),
        list(DatasetVersion.objects.values_list("pk", "withdrawn_at", "withdrawn_reason")),
        list(Member.objects.values_list("pk", "status")),
        MemberStatusChange.objects.count(),
        CreditAdjustment.objects.count(),
    )


def _dataset_description(f: Any) -> Scene:
    return Scene(f.client_for(f.data_steward), "/api/v1/datasets/", dict(DATASET_RECORD), "description")


def _policy_terms(f: Any) -> Scene:
    dataset = published(f.data_steward, tier="restricted")
    body = {"tier": "restricted", "purposes": ["research"]}
    return Scene(f.client_for(f.data_steward), f"/api/v1/datasets/{dataset.pk}/policy/", body, "terms", "put")


def _request_justification(f: Any) -> Scene:
    dataset = published(f.data_steward, tier="restricted")
    body = {"dataset": dataset.pk, "purpose": "research", "duration_days": 30, "accepted_terms_version": 1}
    return Scene(f.client_for(f.other_analyst), "/api/v1/access-requests/", body, "justification")


def _request_decision(action: str, decider: str) -> Callable[[Any], Scene]:
    def scene(f: Any) -> Scene:
        request = request_access(f.other_analyst, published(f.data_steward, tier="restricted"))
        url = f"/api/v1/access-requests/{request.pk}/{action}/"
        return Scene(f.client_for(getattr(f, decider)), url, {}, "reason")

    return scene


def _grant_revoke(f: Any) -> Scene:
    grant = Grant.objects.get(request=request_access(f.other_analyst, published(f.data_steward, tier="open")))
    return Scene(f.client_for(f.data_steward), f"/api/v1/grants/{grant.pk}/revoke/", {}, "reason")


def _dataset_withdraw(f: Any) -> Scene:
    dataset = published(f.data_steward, tier="open")
    return Scene(f.client_for(f.data_steward), f"/api/v1/datasets/{dataset.pk}/withdraw/", {}, "reason")


def _version_withdraw(f: Any) -> Scene:
    dataset = published(f.data_steward, tier="open")
    url = f"/api/v1/datasets/{dataset.pk}/versions/1/withdraw/"
    return Scene(f.client_for(f.data_steward), url, {}, "reason")


def _member_suspend(f: Any) -> Scene:
    return Scene(f.client_for(f.officer), f"/api/v1/members/{f.other_member.pk}/suspend/", {}, "reason")


def _adjustment_propose(f: Any) -> Scene:
    activate()
    admit(f.member)
    body = {"member": f.member.pk, "amount_mcr": 5_000}
    return Scene(f.client_for(f.auditor), "/api/v1/credit/adjustments/", body, "reason")


def _held_mint_resolve(f: Any) -> Scene:
    epoch, provider = settled_with_held_mint()
    url = f"/api/v1/credit/held-mints/{epoch}:{provider.pk}/resolve/"
    return Scene(f.client_for(f.auditor), url, {"decision": "release"}, "reason")


SCENES = {
    "dataset description": _dataset_description,
    "policy terms": _policy_terms,
    "request justification": _request_justification,
    "approval reason": _request_decision("approve", "data_steward"),
    "rejection reason": _request_decision("reject", "data_steward"),
    "withdrawal reason": _request_decision("withdraw", "other_analyst"),
    "revocation reason": _grant_revoke,
    "dataset withdrawal reason": _dataset_withdraw,
    "version withdrawal reason": _version_withdraw,
    "member decision reason": _member_suspend,
    "credit adjustment reason": _adjustment_propose,
    "held mint resolution reason": _held_mint_resolve,
}


@pytest.fixture
def scene(request, client_for, data_steward, other_analyst, officer, auditor, member, other_member) -> Scene:
    fixtures = type("Fixtures", (), dict(locals()))
    return SCENES[request.param](fixtures)


@pytest.mark.parametrize("scene", SCENES, indirect=True)
@pytest.mark.parametrize("character", list(REFUSED), ids=["NUL", "ESC", "RLO"])
def test_free_text_holding_a_hidden_character_is_refused_naming_it(scene: Scene, character: str) -> None:
    before = _stored()
    response = scene.send(f"Line one{character}\nline two")
    body = assert_problem(response, 400, "hidden_character")
    assert list(body["errors"]) == [scene.field]
    assert REFUSED[character] in body["errors"][scene.field][0] and REFUSED[character] in body["detail"]
    assert _stored() == before


@pytest.mark.parametrize("scene", SCENES, indirect=True)
def test_free_text_holding_a_lone_surrogate_is_refused_as_malformed(scene: Scene) -> None:
    """A lone surrogate reaches the API only as a JSON escape, which the parser refuses (I-JSON) before
    any field is read; the services refuse it too (consortium.text), should another path carry one."""
    before = _stored()
    assert_problem(scene.send_raw('"Line one\\ud800"'), 400, "malformed_request")
    assert _stored() == before


@pytest.mark.parametrize("scene", SCENES, indirect=True)
def test_free_text_keeps_line_breaks_tabs_and_the_marks_right_to_left_prose_needs(scene: Scene) -> None:
    text = "שורה ראשונה\u200f.\r\n\tسطر ثان\u061c (2025\u200e-2026)\u200e."
    assert {character for character in text if character in BIDI_MARKS} == BIDI_MARKS
    response = scene.send(text)
    assert response.status_code in (200, 201), response.content


# --- The portal: the same services, the refusal on the form's field ---------------------------------------


def _page(response: Any) -> str:
    return html.unescape(response.content.decode())


def test_a_description_holding_an_escape_is_refused_on_the_portal_field(data_steward) -> None:
    form = {**REGISTRATION_FORM, "description": "Per-minute\n\x1b[8mhidden"}
    response = as_user(data_steward).post(reverse("portal:my-datasets"), form)
    assert response.status_code == 400
    assert "U+001B (a control character)" in str(response.context["form"].errors["description"])
    assert not Dataset.objects.exists()


def _request_page(fixture: Callable[[str], Any]) -> tuple[Any, str, dict[str, str]]:
    """The owner's steward on a pending request's page, rejecting it."""
    steward = fixture("data_steward")
    request = request_access(fixture("other_analyst"), published(steward, tier="restricted"))
    return as_user(steward), reverse("portal:request-detail", args=[request.pk]), {"action": "reject"}


def _member_page(fixture: Callable[[str], Any]) -> tuple[Any, str, dict[str, str]]:
    """An officer on an active member's page, suspending it."""
    url = reverse("portal:member-detail", args=[fixture("other_member").pk])
    return as_user(fixture("officer")), url, {"action": "suspend"}


@pytest.mark.parametrize(
    ("page", "character", "said"),
    [
        (_request_page, RLO, "U+202E RIGHT-TO-LEFT OVERRIDE"),
        (_member_page, ESC, "U+001B (a control character)"),
        # Django's form field refuses a NUL before the service does, in words of its own.
        (_member_page, NUL, "Null characters are not allowed."),
    ],
    ids=["rejection RLO", "member decision ESC", "member decision NUL"],
)
def test_a_reason_holding_a_hidden_character_is_refused_on_its_page(request, page, character, said) -> None:
    client, url, form = page(request.getfixturevalue)
    before = _stored()
    response = client.post(url, {**form, "reason": f"Unpaid{character} dues"})
    assert response.status_code == 400
    assert said in _page(response)
    assert _stored() == before
