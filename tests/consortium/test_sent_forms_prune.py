"""A form's one-time token is kept a day, in the database: the commit that took one prunes those taken
earlier than that, and a refused form keeps none, so its corrected sending acts."""

from __future__ import annotations

from datetime import timedelta
from typing import Any

import pytest
from django.test import RequestFactory
from django.utils import timezone

from consortium import sent_forms
from consortium.models import SentForm

pytestmark = pytest.mark.django_db


def _sending(user: Any, token: str) -> Any:
    request = RequestFactory().post("/", {sent_forms.FIELD: token})
    request.user = user
    return request


def test_taking_a_token_prunes_those_taken_more_than_a_day_ago(
    member_admin: Any, django_capture_on_commit_callbacks: Any
) -> None:
    old = SentForm.objects.create(
        user=member_admin,
        form="api-key-create",
        token="o" * 24,
        created_at=timezone.now() - timedelta(days=2),
    )
    recent = SentForm.objects.create(
        user=member_admin,
        form="api-key-create",
        token="r" * 24,
        created_at=timezone.now() - timedelta(hours=1),
    )
    with django_capture_on_commit_callbacks(execute=True):
        assert sent_forms.take(_sending(member_admin, "n" * 24), "api-key-create") is None
    assert not SentForm.objects.filter(pk=old.pk).exists()
    assert SentForm.objects.filter(pk=recent.pk).exists()
    assert SentForm.objects.filter(token="n" * 24).exists()


def test_a_token_is_answered_with_what_its_first_sending_made(member_admin: Any) -> None:
    first, again = _sending(member_admin, "t" * 24), _sending(member_admin, "t" * 24)
    assert sent_forms.take(first, "dataset-register") is None
    assert sent_forms.take(again, "dataset-register") == sent_forms.IN_FLIGHT
    sent_forms.remember_made(first, "dataset-register", "42")
    assert sent_forms.take(again, "dataset-register") == "42"
    assert sent_forms.take(again, "api-key-create") is None  # another form: its own token
