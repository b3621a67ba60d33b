"""The schema describes each body and answer for a client. drf-spectacular takes a component's description
from its serializer's docstring, inherited if it has none of its own: a serializer without one showed a base
class's, written for whoever reads the code (what OnlyTheseFields does in DRF's stead), or one that no longer
held (a created key's metadata said it never carries the key)."""

from __future__ import annotations

from typing import Any

import pytest
from drf_spectacular.generators import SchemaGenerator
from rest_framework import serializers

OUR_APPS = ("consortium.", "exchange.", "ledger.")


@pytest.fixture(scope="module")
def schemas() -> dict[str, Any]:
    return SchemaGenerator().get_schema(request=None, public=True)["components"]["schemas"]


def _subclasses(klass: type) -> set[type]:
    found = set(klass.__subclasses__())
    return found.union(*(_subclasses(sub) for sub in found))


def test_a_persons_role_change_is_described_for_a_client(schemas) -> None:
    description = schemas["PatchedUserRoleRequest"]["description"]
    assert description.startswith("A person's new role.")
    assert "DRF" not in description


def test_a_created_keys_description_names_the_key(schemas) -> None:
    description = schemas["APIKeyCreated"]["description"]
    assert "the key itself: shown in this response only" in description
    assert "Never the key itself" not in description


def test_no_serializer_of_ours_shows_another_ones_docstring(schemas) -> None:
    """drf-spectacular leaves out DRF's own docstrings, not ours: each of ours that has none must not
    inherit one from another of ours."""
    ours = [
        klass for klass in _subclasses(serializers.BaseSerializer) if klass.__module__.startswith(OUR_APPS)
    ]
    assert len(ours) > 50  # the schema's generation imported every API module
    inheriting = {
        f"{klass.__name__} <- {source.__name__}"
        for klass in ours
        if not klass.__dict__.get("__doc__")
        and (source := next(base for base in klass.__mro__[1:] if base.__dict__.get("__doc__")))
        and source.__module__.startswith(OUR_APPS)
    }
    assert not inheriting


def test_no_description_names_our_code(schemas) -> None:
    """A client reads the schema, not our code: no component or field says which of our serializers a view
    reads a body with (MemberDecisionWithReasonRequest did)."""
    ours = {
        klass.__name__
        for klass in _subclasses(serializers.BaseSerializer)
        if klass.__module__.startswith(OUR_APPS)
    }
    descriptions = {
        (name, field): text
        for name, schema in schemas.items()
        for field, text in [
            (None, schema.get("description", "")),
            *((field, spec.get("description", "")) for field, spec in schema.get("properties", {}).items()),
        ]
    }
    naming = {place: text for place, text in descriptions.items() if any(klass in text for klass in ours)}
    assert not naming
