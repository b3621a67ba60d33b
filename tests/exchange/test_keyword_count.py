"""A dataset has at most MAX_KEYWORDS distinct keywords (exchange.services.datasets): the API refuses more
as 400 `too_many_keywords`, the portal with the same words on its keywords field, and nothing is written.
Repeats count once, as the service keeps them once."""

from __future__ import annotations

import pytest
from django.urls import reverse

from consortium.api.problem_codes import CODES
from exchange.models import Dataset
from exchange.services.datasets import MAX_KEYWORDS
from ledger.models import LedgerEntry
from tests.api.test_problems import assert_problem
from tests.exchange.support import DATASET_RECORD, REGISTRATION_FORM, as_user

pytestmark = pytest.mark.django_db

TOO_MANY = f"At most {MAX_KEYWORDS} distinct keywords: this dataset has {MAX_KEYWORDS + 1}."


def _words(count: int) -> list[str]:
    return [f"k{number}" for number in range(count)]


def test_the_api_refuses_one_keyword_more_than_the_cap(client_for, data_steward) -> None:
    client = client_for(data_steward)
    entries = LedgerEntry.objects.count()
    body = {**DATASET_RECORD, "keywords": _words(MAX_KEYWORDS + 1)}
    problem = assert_problem(client.post("/api/v1/datasets/", body, format="json"), 400, "too_many_keywords")
    assert problem["detail"] == TOO_MANY and problem["errors"] == {"keywords": [TOO_MANY]}
    assert not Dataset.objects.exists() and LedgerEntry.objects.count() == entries


def test_the_api_refuses_a_hundred_thousand_keywords(client_for, data_steward) -> None:
    body = {**DATASET_RECORD, "keywords": _words(100_000)}
    response = client_for(data_steward).post("/api/v1/datasets/", body, format="json")
    assert assert_problem(response, 400, "too_many_keywords")["errors"]["keywords"] == [
        f"At most {MAX_KEYWORDS} distinct keywords: this dataset has 100000."
    ]
    assert not Dataset.objects.exists()


def test_the_api_takes_the_cap_counting_repeats_once(client_for, data_steward) -> None:
    keywords = [*_words(MAX_KEYWORDS), "k0", " k1 ", "k2"]
    body = {**DATASET_RECORD, "keywords": keywords}
    response = client_for(data_steward).post("/api/v1/datasets/", body, format="json")
    assert response.status_code == 201, response.content
    assert sorted(Dataset.objects.get().keywords) == sorted(_words(MAX_KEYWORDS))


def test_the_portal_refuses_one_keyword_more_than_the_cap_on_its_field(data_steward) -> None:
    form = {**REGISTRATION_FORM, "keywords": ", ".join(_words(MAX_KEYWORDS + 1))}
    assert len(form["keywords"]) <= 500  # within the field's own length
    response = as_user(data_steward).post(reverse("portal:my-datasets"), form)
    assert response.status_code == 400
    assert response.context["form"].errors["keywords"] == [TOO_MANY]
    assert not Dataset.objects.exists()


def test_the_portal_takes_the_cap(data_steward) -> None:
    form = {**REGISTRATION_FORM, "keywords": "\uff0c".join(_words(MAX_KEYWORDS))}  # full-width commas
    response = as_user(data_steward).post(reverse("portal:my-datasets"), form)
    assert response.status_code == 302, response.content
    assert len(Dataset.objects.get().keywords) == MAX_KEYWORDS


def test_the_catalogue_states_the_cap() -> None:
    assert f"({MAX_KEYWORDS};" in CODES["too_many_keywords"].means
