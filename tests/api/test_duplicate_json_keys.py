"""A JSON body whose object names a key twice is refused (400 `duplicate_key`), wherever the object is: the
standard leaves its meaning open (RFC 8259 section 4), I-JSON forbids it (RFC 7493 section 2.3), and
Python's parser kept the last value without a word, so a body that a proxy, a log or the client's own
code read one way was acted on the other way (`"reason": "", "reason": "Fraud"`)."""

from __future__ import annotations

import pytest

from exchange.models import Dataset
from ledger.models import LedgerEntry
from tests.api.test_problems import assert_problem
from tests.exchange.support import DATASET_RECORD

pytestmark = pytest.mark.django_db

BODY = '{"title": "Coolant", "description": "Per minute.", "sector": "C", "data_domain": "production", '
BODY += '"licence": "CC-BY-4.0", "contact_name": "Zhang San", "contact_email": "data@own.example"'


@pytest.mark.parametrize(
    ("body", "key"),
    [
        (BODY + ', "title": "Coolant"}', "title"),  # the same value twice is refused all the same
        (BODY + ', "title": "Spindle"}', "title"),
        (BODY + ', "extra": {"a": 1, "b": {"c": 2, "c": 3}}}', "c"),
        (BODY + ', "keywords": ["x"], "sources": [], "keywords": []}', "keywords"),
    ],
    ids=["same value", "other value", "nested object", "a list"],
)
def test_a_key_named_twice_is_refused_and_nothing_is_written(client_for, data_steward, body, key) -> None:
    entries = LedgerEntry.objects.count()
    response = client_for(data_steward).post("/api/v1/datasets/", body, content_type="application/json")
    problem = assert_problem(response, 400, "duplicate_key")
    assert f'"{key}"' in problem["detail"]
    assert not Dataset.objects.exists() and LedgerEntry.objects.count() == entries


def test_the_same_key_in_sibling_objects_is_no_duplicate(client_for, data_steward) -> None:
    body = BODY + ', "extra": [{"a": 1}, {"a": 2}], "other": {"a": 3}}'
    response = client_for(data_steward).post("/api/v1/datasets/", body, content_type="application/json")
    assert response.status_code == 201, response.content


def test_a_body_without_duplicates_is_read_as_before(client_for, data_steward) -> None:
    response = client_for(data_steward).post("/api/v1/datasets/", DATASET_RECORD, format="json")
    assert response.status_code == 201, response.content
