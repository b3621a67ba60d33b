"""Names and titles refuse the characters that change unseen how the text around them reads: controls (Cc)
and Unicode's bidi controls (an override, an isolate, a mark), while the joiners scripts need stay
(consortium.text.hidden_characters). The services refuse them, so the portal shows the refusal on the field
and the API answers a 400 `hidden_character` problem naming it, and nothing is written."""

from __future__ import annotations

import pytest
from django.urls import reverse

from consortium.models import Member, MemberAPIKey, User
from consortium.text import BIDI_CONTROLS, hidden_characters
from exchange.models import Dataset
from ledger.models import LedgerEntry
from tests.api.test_problems import APPLICATION, assert_problem
from tests.exchange.support import REGISTRATION_FORM, as_user

pytestmark = pytest.mark.django_db

RLO = "\u202e"  # RIGHT-TO-LEFT OVERRIDE: "evil\u202egpj.exe" reads "evilexe.jpg"
RLI = "\u2067"  # RIGHT-TO-LEFT ISOLATE
DATASET = {
    "title": "Coolant temperatures",
    "description": "Per-minute coolant temperatures.",
    "keywords": ["coolant", "temperature"],
    "sector": "C",
    "data_domain": "production",
    "licence": "CC-BY-4.0",
    "contact_name": "Zhang San",
    "contact_email": "data@own.example",
}


@pytest.mark.parametrize(
    "character", [*sorted(BIDI_CONTROLS), "\n", "\t", "\x00", "\x1b", "\x7f", "\x85", "\ud800"]
)
def test_controls_bidi_controls_and_lone_surrogates_are_hidden_characters(character) -> None:
    assert hidden_characters(f"Acme{character}Ltd{character}") == [character]


@pytest.mark.parametrize(
    "name",
    [
        "\u0645\u06cc\u200c\u062e\u0648\u0627\u0647\u0645",  # Persian with a zero-width non-joiner
        "\U0001f469\u200d\U0001f52c Lab",  # an emoji sequence joined by a zero-width joiner
        "\u1828\u180e\u1820",  # Mongolian with its vowel separator
        "\u845b\U000e0100\u57ce\u5e02",  # an ideographic variation sequence
        "שלום עולם",
        "شركة الأمل ١٢٣",
        "上海华信精密机械有限公司",
    ],
)
def test_scripts_and_the_joiners_they_need_are_not_hidden_characters(name) -> None:
    assert hidden_characters(name) == []


def _refused_on(body: dict, field: str, character: str) -> None:
    assert list(body["errors"]) == [field]
    assert (
        f"U+{ord(character):04X}" in body["errors"][field][0] and f"U+{ord(character):04X}" in body["detail"]
    )


def test_an_application_whose_name_holds_an_override_is_refused_through_the_api(api_client) -> None:
    entries = LedgerEntry.objects.count()
    response = api_client.post(
        "/api/v1/members/", {**APPLICATION, "legal_name": f"Acme{RLO} Ltd"}, format="json"
    )
    _refused_on(assert_problem(response, 400, "hidden_character"), "legal_name", RLO)
    assert "RIGHT-TO-LEFT OVERRIDE" in response.json()["detail"]
    assert not Member.objects.exists() and LedgerEntry.objects.count() == entries


def test_an_application_whose_name_holds_an_override_is_refused_on_the_portal_field(client) -> None:
    response = client.post(reverse("portal:apply"), {**APPLICATION, "contact_name": f"Wang{RLI}Fang"})
    assert response.status_code == 400
    assert "U+2067 RIGHT-TO-LEFT ISOLATE" in str(response.context["form"].errors["contact_name"])
    assert not Member.objects.exists()


def test_an_application_in_arabic_with_a_joiner_is_accepted(api_client) -> None:
    name = "\u0634\u0631\u0643\u0629\u200c \u0627\u0644\u0623\u0645\u0644"
    response = api_client.post("/api/v1/members/", {**APPLICATION, "legal_name": name}, format="json")
    assert response.status_code == 201, response.content
    assert Member.objects.get().legal_name == name


def test_a_person_whose_name_holds_a_bidi_control_is_refused_through_the_api(
    client_for, member_admin
) -> None:
    body = {"username": "li.na", "email": "li.na@own.example", "role": "analyst", "last_name": f"Li{RLO}"}
    response = client_for(member_admin).post("/api/v1/users/", body, format="json")
    _refused_on(assert_problem(response, 400, "hidden_character"), "last_name", RLO)
    assert not User.objects.filter(username="li.na").exists()


def test_a_person_whose_name_holds_a_control_is_refused_on_the_portal_field(member_admin) -> None:
    form = {"username": "li.na", "email": "li.na@own.example", "role": "analyst", "first_name": "Na\x1b[31m"}
    response = as_user(member_admin).post(reverse("portal:person-create"), form)
    assert response.status_code == 400
    assert "U+001B (a control character)" in str(response.context["form"].errors["first_name"])
    assert not User.objects.filter(username="li.na").exists()


def test_an_api_key_whose_name_holds_a_bidi_control_is_refused_on_the_portal_and_the_api(
    client_for, member_admin
) -> None:
    response = as_user(member_admin).post(
        reverse("portal:api-key-create"), {"name": f"ERP{RLO}cnys", "scopes": ["read"]}
    )
    assert response.status_code == 400
    assert "U+202E RIGHT-TO-LEFT OVERRIDE" in str(response.context["form"].errors["name"])
    response = client_for(member_admin).post(
        "/api/v1/api-keys/", {"name": f"ERP{RLI}sync", "scopes": ["read"]}, format="json"
    )
    _refused_on(assert_problem(response, 400, "hidden_character"), "name", RLI)
    assert not MemberAPIKey.objects.exists()


def test_a_dataset_whose_title_or_keyword_holds_a_bidi_control_is_refused_through_the_api(
    client_for, data_steward
) -> None:
    client = client_for(data_steward)
    response = client.post("/api/v1/datasets/", {**DATASET, "title": f"Coolant{RLO}"}, format="json")
    _refused_on(assert_problem(response, 400, "hidden_character"), "title", RLO)
    response = client.post("/api/v1/datasets/", {**DATASET, "keywords": ["ok", f"x{RLI}"]}, format="json")
    _refused_on(assert_problem(response, 400, "hidden_character"), "keywords", RLI)
    assert not Dataset.objects.exists()
    response = client.post("/api/v1/datasets/", {**DATASET, "title": "נתוני רטט"}, format="json")
    assert response.status_code == 201, response.content


def test_a_dataset_whose_title_holds_a_bidi_control_is_refused_on_the_portal_field(data_steward) -> None:
    response = as_user(data_steward).post(
        reverse("portal:my-datasets"), {**REGISTRATION_FORM, "title": f"evil{RLO}gpj.exe"}
    )
    assert response.status_code == 400
    assert "U+202E RIGHT-TO-LEFT OVERRIDE" in str(response.context["form"].errors["title"])
    assert not Dataset.objects.exists()
