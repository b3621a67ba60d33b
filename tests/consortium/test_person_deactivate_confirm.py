"""Deactivating a person in the portal takes two steps: the person's page leads to a page that says what
deactivation does and asks to confirm; only the form on that page deactivates (services.user_deactivate,
as before). Nobody who may not deactivate the person gets the page."""

from __future__ import annotations

import pytest
from django.urls import reverse

from ledger.models import LedgerEntry
from tests.exchange.support import as_user

pytestmark = pytest.mark.django_db


def _text(response) -> str:
    return " ".join(response.content.decode().split())


def test_the_person_page_asks_to_confirm_before_deactivating(member_admin, analyst) -> None:
    client = as_user(member_admin)
    detail = reverse("portal:person-detail", args=[analyst.pk])
    deactivate = reverse("portal:person-deactivate", args=[analyst.pk])
    page = _text(client.get(detail))
    # The person's page only leads to the confirmation: its control is a GET form, not the deactivation.
    assert f'<form method="get" action="{deactivate}">' in page
    assert f'<form method="post" action="{deactivate}">' not in page

    confirm = client.get(deactivate)
    assert confirm.status_code == 200
    text = _text(confirm)
    assert "<h1>Deactivate <bdi>own-analyst</bdi>?</h1>" in text
    assert "will no longer be able to log in" in text
    assert f'<form method="post" action="{deactivate}">' in text
    assert f'<a href="{detail}">Cancel</a>' in text
    analyst.refresh_from_db()
    assert analyst.is_active  # asking changed nothing
    assert not LedgerEntry.objects.filter(kind="member.user_deactivated").exists()

    response = client.post(deactivate, follow=True)
    assert response.redirect_chain == [(detail, 302)]
    assert "<bdi>own-analyst</bdi> is deactivated." in _text(response)
    analyst.refresh_from_db()
    assert not analyst.is_active
    # Once deactivated, the confirmation leads back to the person.
    assert client.get(deactivate)["Location"] == detail


def test_nobody_else_is_asked(member_admin, analyst, other_admin, auditor, officer) -> None:
    deactivate = reverse("portal:person-deactivate", args=[analyst.pk])
    assert as_user(other_admin).get(deactivate).status_code == 404  # another member's person
    assert as_user(auditor).get(deactivate).status_code == 404  # staff who manage no people
    assert (
        as_user(analyst).get(reverse("portal:person-deactivate", args=[member_admin.pk])).status_code == 404
    )
    assert as_user(officer).get(deactivate).status_code == 200
    analyst.refresh_from_db()
    assert analyst.is_active
