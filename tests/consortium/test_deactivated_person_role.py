"""A deactivated person's role does not change: the admin whose page was opened before the deactivation
(another tab, another admin) is told so, on the page and in the API alike, and nothing is recorded."""

from __future__ import annotations

import html
from typing import Any

import pytest
from django.urls import reverse

from consortium import services
from consortium.models import MemberRole, User
from ledger.models import LedgerEntry
from tests.api.test_problems import assert_problem
from tests.exchange.support import as_user

pytestmark = pytest.mark.django_db

SAID = "own-analyst is deactivated; a deactivated person's role does not change."


def test_changing_a_deactivated_persons_role_is_refused_on_the_page(member_admin: Any, analyst: Any) -> None:
    page = reverse("portal:person-detail", args=[analyst.pk])
    stale_tab = as_user(member_admin)
    assert 'name="role"' in stale_tab.get(page).content.decode()
    services.user_deactivate(actor=member_admin, user=analyst)
    entries = LedgerEntry.objects.count()

    response = stale_tab.post(page, {"role": MemberRole.ADMIN})
    assert response.status_code == 400
    assert SAID in html.unescape(response.content.decode())
    assert User.objects.get(pk=analyst.pk).member_role == MemberRole.ANALYST
    assert LedgerEntry.objects.count() == entries


def test_the_api_refuses_it_as_user_inactive(client_for: Any, member_admin: Any, analyst: Any) -> None:
    services.user_deactivate(actor=member_admin, user=analyst)
    response = client_for(member_admin).patch(
        f"/api/v1/users/{analyst.pk}/", {"role": MemberRole.ADMIN}, format="json"
    )
    assert assert_problem(response, 409, "user_inactive")["detail"] == SAID
    assert User.objects.get(pk=analyst.pk).member_role == MemberRole.ANALYST
