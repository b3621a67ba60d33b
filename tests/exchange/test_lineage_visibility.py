"""A dataset's lineage names only the sources the reader may see: a source another member withdrew is as
unknown on a derived dataset's page (portal) and in its `sources` (API) as on its own page, where it is a
404. Its owner's people and consortium staff, who may open it, still see it there."""

from __future__ import annotations

import pytest

from exchange import services
from exchange.models import Dataset
from tests.exchange.support import as_user, register
from tests.factories import MemberFactory, UserFactory

pytestmark = pytest.mark.django_db

HIDDEN_TITLE = "Furnace recipes withdrawn"
LISTED_TITLE = "Furnace temperatures listed"


@pytest.fixture
def lineage(data_steward, other_steward) -> tuple[Dataset, Dataset, Dataset]:
    """A dataset of the own member derived from two of the other member's; the other member then
    withdraws one of them. Returns (derived, listed source, withdrawn source)."""
    listed = register(other_steward, title=LISTED_TITLE)
    hidden = register(other_steward, title=HIDDEN_TITLE)
    derived = register(data_steward, title="Derived furnace model", source_ids=[listed.pk, hidden.pk])
    services.dataset_withdraw(actor=other_steward, dataset=hidden, reason="Recalled.")
    return derived, listed, hidden


def _third_analyst():
    return UserFactory(member=MemberFactory(), member_role="analyst", username="third-analyst")


@pytest.mark.parametrize("reader", ["third_analyst", "data_steward", "analyst"])
def test_a_withdrawn_source_is_not_named_to_who_may_not_see_it(request, client_for, lineage, reader) -> None:
    derived, listed, hidden = lineage
    user = _third_analyst() if reader == "third_analyst" else request.getfixturevalue(reader)
    api = client_for(user)
    assert api.get(f"/api/v1/datasets/{hidden.pk}/").status_code == 404
    assert api.get(f"/api/v1/datasets/{derived.pk}/").json()["sources"] == [listed.pk]
    listing = api.get("/api/v1/datasets/", {"search": "Derived furnace"}).json()["results"]
    assert [row["sources"] for row in listing] == [[listed.pk]]

    portal = as_user(user)
    assert portal.get(f"/catalog/{hidden.pk}/").status_code == 404
    page = portal.get(f"/catalog/{derived.pk}/").content.decode()
    assert LISTED_TITLE in page
    assert HIDDEN_TITLE not in page and f"/catalog/{hidden.pk}/" not in page


@pytest.mark.parametrize("reader", ["other_steward", "officer", "auditor"])
def test_who_may_open_the_withdrawn_source_still_sees_it_in_the_lineage(
    request, client_for, lineage, reader
) -> None:
    derived, listed, hidden = lineage
    user = request.getfixturevalue(reader)
    body = client_for(user).get(f"/api/v1/datasets/{derived.pk}/").json()
    assert sorted(body["sources"]) == sorted([listed.pk, hidden.pk])
    page = as_user(user).get(f"/catalog/{derived.pk}/").content.decode()
    assert LISTED_TITLE in page and HIDDEN_TITLE in page
