"""The portal's "Register a dataset" form sent twice (a double click, the back button and Register again)
registers one dataset: the second sending opens the dataset the form registered and says so."""

from __future__ import annotations

import html
import re
from typing import Any

import pytest
from django.test import Client, RequestFactory
from django.urls import reverse

from consortium import sent_forms
from exchange.models import Dataset
from tests.exchange.support import REGISTRATION_FORM, as_user

pytestmark = pytest.mark.django_db

MY_DATASETS = reverse("portal:my-datasets")


def _filled_in(portal: Client, **fields: str) -> dict[str, Any]:
    """The registration form as a browser sends it: filled in, its hidden fields as the page gave them."""
    page = portal.get(MY_DATASETS).content.decode()
    hidden = dict(re.findall(r'<input type="hidden" name="(\w+)" value="([^"]*)"', page))
    hidden.pop("csrfmiddlewaretoken", None)
    return {**hidden, **REGISTRATION_FORM, **fields}


def test_sending_the_registration_again_registers_no_second_dataset(data_steward: Any) -> None:
    portal = as_user(data_steward)
    form = _filled_in(portal)
    first = portal.post(MY_DATASETS, form)
    (dataset,) = Dataset.objects.filter(owner=data_steward.member)
    assert first["Location"] == reverse("portal:dataset-detail", args=[dataset.pk])

    again = portal.post(MY_DATASETS, form, follow=True)
    assert Dataset.objects.filter(owner=data_steward.member).count() == 1
    assert again.redirect_chain == [(reverse("portal:dataset-detail", args=[dataset.pk]), 302)]
    assert (
        "This form was sent already: it registered <bdi>Coolant temperatures</bdi>, shown here. No second "
        "dataset is registered." in html.unescape(again.content.decode())
    )


def test_each_registration_form_opened_registers_its_own_dataset(data_steward: Any) -> None:
    portal = as_user(data_steward)
    first, second = _filled_in(portal), _filled_in(portal, title="Coolant temperatures, line 2")
    assert portal.post(MY_DATASETS, first).status_code == 302
    assert portal.post(MY_DATASETS, second).status_code == 302
    assert Dataset.objects.filter(owner=data_steward.member).count() == 2


def test_a_registration_refused_then_corrected_registers_the_dataset(data_steward: Any) -> None:
    portal = as_user(data_steward)
    form = _filled_in(portal, title="")
    assert portal.post(MY_DATASETS, form).status_code == 400
    assert portal.post(MY_DATASETS, {**form, "title": "Coolant temperatures"}).status_code == 302
    assert Dataset.objects.filter(owner=data_steward.member).count() == 1


def test_a_registration_sent_while_the_first_is_at_work_registers_nothing(data_steward: Any) -> None:
    """A double click: the second request comes while the first holds the form's token."""
    portal = as_user(data_steward)
    form = _filled_in(portal)
    first = RequestFactory().post(MY_DATASETS, {"sending": form["sending"]})
    first.user = data_steward
    assert sent_forms.take(first, "dataset-register") is None  # the first sending, still registering

    second = portal.post(MY_DATASETS, form, follow=True)
    assert second.redirect_chain == [(MY_DATASETS, 302)]
    assert "This form is being sent already" in html.unescape(second.content.decode())
    assert not Dataset.objects.filter(owner=data_steward.member).exists()
