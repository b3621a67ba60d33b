"""The portal's header and the home page's welcome name the signed-in person by their full name
(User.get_full_name: a Chinese name family name first), their username when they gave none, isolated
(<bdi>) from the text around it either way."""

from __future__ import annotations

import pytest
from django.urls import reverse

from tests.exchange.support import as_user

pytestmark = pytest.mark.django_db


@pytest.mark.parametrize(
    ("first", "last", "shown"),
    [
        ("小明", "王", "王小明"),
        ("Fang", "Wang", "Fang Wang"),
        ("", "", "own-analyst"),
        ("  ", "", "own-analyst"),
    ],
)
def test_the_header_and_welcome_name_the_person(analyst, first, last, shown) -> None:
    analyst.first_name, analyst.last_name = first, last
    analyst.save(update_fields=["first_name", "last_name"])
    page = " ".join(as_user(analyst).get(reverse("portal:home")).content.decode().split())
    assert f"<span><bdi>{shown}</bdi> · <bdi>Own Firm Co., Ltd.</bdi></span>" in page
    assert f"<h1>Welcome, <bdi>{shown}</bdi></h1>" in page
