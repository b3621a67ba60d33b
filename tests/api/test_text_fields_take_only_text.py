"""The API's text fields take only text: a JSON number (or true, a list, an object) where the schema says
string is 400 `validation_error` naming the field, and nothing is written. DRF's CharField took a number for
its digits as Python writes them (123 -> "123", 1.10 -> "1.1", 1e400 -> "inf"); consortium.api.fields.
TextField refuses it, and every request body's text field is one (the last test walks the schema)."""

from __future__ import annotations

import json
from collections.abc import Iterator
from typing import Any

import pytest
from drf_spectacular.generators import SchemaGenerator
from rest_framework import serializers

from consortium.api.fields import TextField
from consortium.models import Member
from exchange.models import Dataset
from ledger.models import LedgerEntry
from tests.api.test_problems import APPLICATION, assert_problem
from tests.exchange.support import DATASET_RECORD

pytestmark = pytest.mark.django_db


@pytest.mark.parametrize(
    ("field", "literal"),
    [
        ("title", "123"),
        ("description", "1.10"),
        ("licence", "1e400"),
        ("keywords", '["cnc", 7]'),
        ("sector", "0"),
    ],
)
def test_a_dataset_with_a_number_for_text_is_refused_naming_the_field(
    client_for, data_steward, field, literal
) -> None:
    entries = LedgerEntry.objects.count()
    body = json.dumps({**DATASET_RECORD, field: "@@"}).replace('"@@"', literal)
    response = client_for(data_steward).post("/api/v1/datasets/", body, content_type="application/json")
    problem = assert_problem(response, 400, "validation_error")
    assert list(problem["errors"]) == [field if field != "keywords" else "keywords.1"]
    assert not Dataset.objects.exists() and LedgerEntry.objects.count() == entries


def test_an_application_with_a_number_for_its_phone_is_refused(api_client) -> None:
    response = api_client.post(
        "/api/v1/members/", {**APPLICATION, "contact_phone": 13800138000}, format="json"
    )
    assert list(assert_problem(response, 400, "validation_error")["errors"]) == ["contact_phone"]
    assert not Member.objects.exists()


def test_a_reason_that_is_a_number_is_refused(client_for, officer, other_member) -> None:
    response = client_for(officer).post(
        f"/api/v1/members/{other_member.pk}/suspend/", {"reason": 42}, format="json"
    )
    assert list(assert_problem(response, 400, "validation_error")["errors"]) == ["reason"]
    other_member.refresh_from_db()
    assert other_member.status == "active"


def test_text_that_looks_like_a_number_is_text(client_for, data_steward) -> None:
    response = client_for(data_steward).post(
        "/api/v1/datasets/", {**DATASET_RECORD, "title": "123"}, format="json"
    )
    assert response.status_code == 201, response.content


def _subclasses(cls: type) -> Iterator[type]:
    for subclass in cls.__subclasses__():
        yield subclass
        yield from _subclasses(subclass)


def _request_serializers() -> set[type]:
    """Every serializer the schema shows as a request body, and every subclass of one (the views read some
    bodies with a variant: consortium.api.serializers.MemberApplyBodySerializer, ...)."""
    generator = SchemaGenerator()
    generator.get_schema(request=None, public=True)
    found: set[type] = set()
    for component in generator.registry._components.values():
        shown = component.object
        shown_class = shown if isinstance(shown, type) else type(shown)
        if component.name.endswith("Request") and issubclass(shown_class, serializers.BaseSerializer):
            found |= {shown_class, *_subclasses(shown_class)}
    return found


def _text_fields(serializer: serializers.Serializer) -> Iterator[tuple[str, Any]]:
    for name, field in serializer.fields.items():
        inner = field.child if isinstance(field, serializers.ListField) else field
        if not inner.read_only and isinstance(inner, serializers.CharField):
            yield name, inner


def test_every_request_bodys_text_field_takes_only_text() -> None:
    bodies = _request_serializers()
    assert len(bodies) > 20  # the walk found the bodies
    loose = sorted(
        f"{body.__module__}.{body.__qualname__}.{name}"
        for body in bodies
        for name, field in _text_fields(body())
        if not isinstance(field, TextField)
    )
    assert loose == []
