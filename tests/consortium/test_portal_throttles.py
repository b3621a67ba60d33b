"""The portal's two public forms that are throttled per client, the membership application and "Forgot your
password?", answer a client over its budget alike: 429, the form again with one message that says how long
to wait, and no Retry-After header (the API's throttles send one; these pages never have)."""

from __future__ import annotations

import html
import re
from typing import Any

import pytest
from django.test import Client
from django.urls import reverse

from consortium.models import Member
from consortium.views import ApplicationThrottle, PasswordResetThrottle
from tests.consortium.test_portal import application

pytestmark = pytest.mark.django_db

NOW = 1_800_000_000.0


def non_field_errors(response: Any) -> list[str]:
    page = html.unescape(response.content.decode())
    found = re.search(r'<ul class="errorlist nonfield">(.*?)</ul>', page, re.S)
    return re.findall(r"<li>(.*?)</li>", found.group(1), re.S) if found else []


@pytest.fixture
def one_an_hour(monkeypatch: pytest.MonkeyPatch) -> None:
    """Each form allows one request an hour, at a clock that stands still: the wait is exactly an hour."""
    for throttle in (ApplicationThrottle, PasswordResetThrottle):
        monkeypatch.setattr(throttle, "rate", "1/hour", raising=False)
        monkeypatch.setattr(throttle, "timer", staticmethod(lambda: NOW))


def test_an_application_over_the_budget_is_refused_with_the_wait(one_an_hour: None) -> None:
    client = Client()
    apply = reverse("portal:apply")
    assert client.post(apply, application(clusters=[])).status_code == 302

    refused = client.post(apply, application(legal_name="Second Try Co., Ltd.", clusters=[]))

    assert refused.status_code == 429 and "Retry-After" not in refused
    assert refused.templates[0].name == "consortium/apply.html"
    assert non_field_errors(refused) == ["Too many applications from here. Please try again in 3600 seconds."]
    assert 'value="Second Try Co., Ltd."' in refused.content.decode()  # the form, as typed
    assert Member.objects.count() == 1


@pytest.mark.parametrize("email", ["someone@firm.example", "not-an-address"])
def test_a_password_request_over_the_budget_is_refused_with_the_wait(one_an_hour: None, email: str) -> None:
    client = Client()
    forgot = reverse("portal:password-reset")
    assert client.post(forgot, {"email": "first@firm.example"}).status_code == 302

    refused = client.post(forgot, {"email": email})

    assert refused.status_code == 429 and "Retry-After" not in refused
    assert refused.templates[0].name == "consortium/password_reset_form.html"
    # Only the wait: whatever was typed, a refused request's answer says nothing about it.
    assert non_field_errors(refused) == ["Too many requests from here. Please try again in 3600 seconds."]
    assert "Enter a valid email address" not in refused.content.decode()
