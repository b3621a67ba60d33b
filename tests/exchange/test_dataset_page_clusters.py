"""The dataset page names a policy's eligible clusters and decides the visitor's standing with them: the
clusters are read once for both."""

from __future__ import annotations

import pytest
from django.test import Client
from django.urls import reverse

from tests.exchange.support import published
from tests.factories import ClusterFactory
from tests.query_counts import visit

pytestmark = pytest.mark.django_db


def test_the_clusters_of_the_policy_are_read_once(other_steward, analyst) -> None:
    ClusterFactory(slug="pearl-river", name="Pearl River Delta Machinery")
    dataset = published(other_steward, tier="restricted", eligible_clusters=["pearl-river"])
    client = Client()
    client.force_login(analyst)  # may request: the page says the standing, which the clusters decide

    page = visit(client, reverse("portal:dataset-detail", args=[dataset.pk]))

    assert page.status == 200
    # by slug: the policy's clusters (the visitor's member's own are read by its id)
    cluster_reads = [sql for sql in page.queries if '"consortium_cluster"."slug" IN' in sql]
    assert len(cluster_reads) == 1, cluster_reads
    body = client.get(reverse("portal:dataset-detail", args=[dataset.pk])).content.decode()
    assert "Pearl River Delta Machinery" in body
    assert "cluster" in body.lower()
