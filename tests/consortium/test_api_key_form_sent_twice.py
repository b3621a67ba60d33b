"""The portal's "Create an API key" form sent twice (the page reloaded, the back button, a double click)
creates one key: the second sending says which key the form created (or that it is being created) instead
of creating another live key whose secret nobody keeps."""

from __future__ import annotations

import html
import re
from typing import Any

import pytest
from django.test import Client, RequestFactory
from django.urls import reverse

from consortium import sent_forms
from consortium.models import MemberAPIKey, SentForm
from tests.exchange.support import as_user

pytestmark = pytest.mark.django_db

CREATE = reverse("portal:api-key-create")


def _filled_in(portal: Client, name: str) -> dict[str, Any]:
    """The create form as a browser sends it: its fields filled in, its hidden ones as the page gave them."""
    page = portal.get(CREATE).content.decode()
    hidden = dict(re.findall(r'<input type="hidden" name="(\w+)" value="([^"]*)"', page))
    hidden.pop("csrfmiddlewaretoken", None)
    return {**hidden, "name": name, "scopes": ["read"], "expires_on": ""}


def test_sending_the_form_again_creates_no_second_key(member_admin: Any) -> None:
    portal = as_user(member_admin)
    form = _filled_in(portal, "ERP nightly sync")
    created = portal.post(CREATE, form)
    assert created.status_code == 200
    (key,) = MemberAPIKey.objects.filter(member=member_admin.member)
    secret = re.search(r'id="raw-key"[^>]*value="([^"]+)"', created.content.decode())[1]
    assert secret.startswith(f"{key.prefix}.")

    again = portal.post(CREATE, form, follow=True)
    assert MemberAPIKey.objects.filter(member=member_admin.member).count() == 1
    assert again.redirect_chain == [(reverse("portal:api-key-list"), 302)]
    page = html.unescape(again.content.decode())
    assert (
        f"This form was sent already: it created the key <bdi>ERP nightly sync</bdi> ({key.prefix}), whose "
        "secret was shown once, then. No other key is created; without its secret, revoke it and create a "
        "new one." in page
    )
    assert secret not in page and secret.split(".", 1)[1] not in page  # no secret shown again


def test_each_form_opened_creates_its_own_key(member_admin: Any) -> None:
    portal = as_user(member_admin)
    first, second = _filled_in(portal, "ERP nightly sync"), _filled_in(portal, "ERP nightly sync")
    assert portal.post(CREATE, first).status_code == 200
    assert portal.post(CREATE, second).status_code == 200
    assert MemberAPIKey.objects.filter(member=member_admin.member, name="ERP nightly sync").count() == 2


def test_a_form_refused_keeps_its_sending_so_the_corrected_one_creates_the_key(member_admin: Any) -> None:
    portal = as_user(member_admin)
    form = _filled_in(portal, "")
    refused = portal.post(CREATE, form)
    assert refused.status_code == 400
    assert not MemberAPIKey.objects.filter(member=member_admin.member).exists()
    hidden = dict(re.findall(r'<input type="hidden" name="(\w+)" value="([^"]*)"', refused.content.decode()))
    assert hidden["sending"] == form["sending"]
    assert portal.post(CREATE, {**form, "name": "ERP nightly sync"}).status_code == 200
    assert MemberAPIKey.objects.filter(member=member_admin.member).count() == 1


def test_a_sending_that_arrives_while_the_first_is_at_work_creates_nothing(member_admin: Any) -> None:
    """A double click: the second request comes while the first holds the form's token."""
    portal = as_user(member_admin)
    form = _filled_in(portal, "ERP nightly sync")
    first = RequestFactory().post(CREATE, {"sending": form["sending"]})
    first.user = member_admin
    assert sent_forms.take(first, "api-key-create") is None  # the first sending, still creating the key

    second = portal.post(CREATE, form, follow=True)
    assert second.redirect_chain == [(reverse("portal:api-key-list"), 302)]
    assert "This form is being sent already" in html.unescape(second.content.decode())
    assert not MemberAPIKey.objects.filter(member=member_admin.member).exists()


def test_a_form_the_service_refused_creates_the_key_once_corrected(member_admin: Any) -> None:
    portal = as_user(member_admin)
    form = _filled_in(portal, "ERP nightly sync")
    refused = portal.post(CREATE, {**form, "expires_on": "2020-01-01"})
    assert refused.status_code == 400 and "The expiry must be in the future" in refused.content.decode()
    assert not SentForm.objects.exists()  # rolled back with the refusal: the token is free again
    assert portal.post(CREATE, form).status_code == 200
    assert MemberAPIKey.objects.filter(member=member_admin.member).count() == 1
